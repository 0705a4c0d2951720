//! Encoding and strict decoding of PDUs. PLACEHOLDER: signatures only, bodies being written.
#![allow(clippy::todo, unused_variables, missing_docs)]

use super::{Body, DecodeError, Header, Pdu, PduType, AuthTag};
use bytes::{Bytes, BytesMut};

/// Length of the fixed header in bytes.
pub const HEADER_LEN: usize = 36;

/// A PDU split at the header, body and authenticator, before the body is interpreted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawPdu {
    pub ty: PduType,
    pub header: Header,
    pub body: Bytes,
    pub auth: AuthTag,
}

impl RawPdu {
    pub fn parse(datagram: &Bytes) -> Result<RawPdu, DecodeError> {
        todo!()
    }
    pub fn authenticated_bytes(datagram: &Bytes) -> Bytes {
        todo!()
    }
}

impl Body {
    pub fn encoded_len(&self) -> usize {
        todo!()
    }
    pub fn encode(&self, out: &mut BytesMut) {
        todo!()
    }
    pub fn decode(ty: PduType, body: &Bytes) -> Result<Body, DecodeError> {
        todo!()
    }
}

pub fn encode_header(ty: PduType, header: &Header, body_len: usize, out: &mut BytesMut) {
    todo!()
}

impl Pdu {
    pub fn encoded_len(&self) -> usize {
        todo!()
    }
    pub fn encode(&self, out: &mut BytesMut) {
        todo!()
    }
    pub fn to_bytes(&self) -> Bytes {
        todo!()
    }
    pub fn decode(datagram: &Bytes) -> Result<Pdu, DecodeError> {
        todo!()
    }
    pub fn authenticated_prefix(&self) -> BytesMut {
        todo!()
    }
}
