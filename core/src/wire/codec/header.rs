//! The fixed header and the PDU as a whole: [`RawPdu::parse`] splits a datagram at header,
//! body and authenticator; [`Pdu`] encodes, checks and decodes all three.

use crate::wire::{AuthTag, Body, DecodeError, Header, Pdu, PduType, AUTH_LEN, VERSION};
use bytes::{BufMut, Bytes, BytesMut};

use super::reader::{out_of_range, Reader};

/// Length of the fixed header in bytes:
/// `version u8 | type u8 | flags u16 | sid u32 | dst_tag u64 | epoch u64 | pn u64 | body_len u32`.
pub const HEADER_LEN: usize = 36;

/// A PDU split at the header, body and authenticator, before the body is interpreted.
///
/// This is what the receive path looks at first: the header selects the association and
/// the key, the authenticator is verified over [`RawPdu::authenticated_bytes`], and only
/// then is the body decoded with [`Body::decode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawPdu {
    /// The PDU type, already known to be valid.
    pub ty: PduType,
    /// The common header.
    pub header: Header,
    /// The undecoded body: a zero-copy slice of the datagram.
    pub body: Bytes,
    /// The 16-byte authenticator trailer.
    pub auth: AuthTag,
}

impl RawPdu {
    /// Splits `datagram` into header, body and authenticator.
    ///
    /// Checks the version, type code, flags (must be 0), the header rules on `dst_tag` and
    /// `pn` (see `PROTOCOL.md`), and that the datagram is exactly
    /// `HEADER_LEN + body_len + AUTH_LEN` bytes long. The body is not interpreted.
    pub fn parse(datagram: &Bytes) -> Result<RawPdu, DecodeError> {
        let mut r = Reader::new(datagram);
        let version = r.u8("header.version")?;
        if version != VERSION {
            return Err(DecodeError::BadVersion(version));
        }
        let code = r.u8("header.type")?;
        let ty = pdu_type_from_code(code).ok_or(DecodeError::UnknownType(code))?;
        if r.u16("header.flags")? != 0 {
            return Err(out_of_range("header.flags"));
        }
        let sid = r.u32("header.sid")?;
        let dst_tag = r.u64("header.dst_tag")?;
        let epoch = r.u64("header.epoch")?;
        let pn = r.u64("header.pn")?;
        let header = Header { sid, dst_tag, epoch, pn };
        check_header(ty, &header)?;
        let body_len = r.u32("header.body_len")?;
        // Saturating on 16-bit targets only; a declared length that large cannot match.
        let body_len = usize::try_from(body_len).unwrap_or(usize::MAX);
        if r.remaining() != body_len.saturating_add(AUTH_LEN) {
            return Err(DecodeError::BadLength {
                field: "header.body_len",
                declared: body_len,
                actual: r.remaining().saturating_sub(AUTH_LEN),
            });
        }
        let body = r.bytes(body_len, "body")?;
        let auth = AuthTag(r.array("auth")?);
        r.finish("datagram")?;
        Ok(RawPdu { ty, header, body, auth })
    }

    /// The bytes the authenticator covers: everything but the trailing [`AUTH_LEN`] bytes,
    /// i.e. header and body. A zero-copy slice of `datagram`.
    ///
    /// Meant for a datagram that [`RawPdu::parse`] accepted; for anything shorter than
    /// `AUTH_LEN` it returns an empty slice rather than panicking.
    pub fn authenticated_bytes(datagram: &Bytes) -> Bytes {
        datagram.slice(..datagram.len().saturating_sub(AUTH_LEN))
    }
}

/// Appends the 36-byte header of a PDU of type `ty` whose body is `body_len` bytes long.
///
/// `body_len` is written as a `u32`; a body that long cannot fit a datagram anyway.
pub(crate) fn encode_header(ty: PduType, header: &Header, body_len: usize, out: &mut BytesMut) {
    out.reserve(HEADER_LEN);
    out.put_u8(VERSION);
    out.put_u8(ty as u8);
    out.put_u16(0);
    out.put_u32(header.sid);
    out.put_u64(header.dst_tag);
    out.put_u64(header.epoch);
    out.put_u64(header.pn);
    out.put_u32(body_len as u32);
}

impl Pdu {
    /// Fixed bytes of a PACKET PDU around its frames: header, frame count and
    /// authenticator. A packet of frames `fs` is `PACKET_OVERHEAD + Σ fs.encoded_len()`.
    pub const PACKET_OVERHEAD: usize = HEADER_LEN + 2 + AUTH_LEN;

    /// The exact number of bytes [`Pdu::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.body.encoded_len() + AUTH_LEN
    }

    /// Appends header, body and authenticator to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        let body_len = self.body.encoded_len();
        out.reserve(HEADER_LEN + body_len + AUTH_LEN);
        encode_header(self.body.pdu_type(), &self.header, body_len, out);
        self.body.encode(out);
        out.put_slice(&self.auth.0);
    }

    /// The PDU's encoding as one datagram.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out.freeze()
    }

    /// Checks every rule the decoder enforces that a typed PDU can break: the header rules
    /// for its type, [`Body::check`], and that the body length fits its `u32` field.
    ///
    /// `Pdu::decode(&p.to_bytes()) == Ok(p)` exactly when `p.check()` is `Ok`, so a sender
    /// can assert this before sending and a model can assert it on every PDU it builds.
    pub fn check(&self) -> Result<(), DecodeError> {
        check_header(self.body.pdu_type(), &self.header)?;
        self.body.check()?;
        if u32::try_from(self.body.encoded_len()).is_err() {
            return Err(out_of_range("header.body_len"));
        }
        Ok(())
    }

    /// Strictly decodes one datagram: [`RawPdu::parse`] then [`Body::decode`].
    ///
    /// On success, [`Pdu::to_bytes`] of the result equals `datagram`.
    pub fn decode(datagram: &Bytes) -> Result<Pdu, DecodeError> {
        let raw = RawPdu::parse(datagram)?;
        let body = Body::decode(raw.ty, &raw.body)?;
        Ok(Pdu { header: raw.header, body, auth: raw.auth })
    }

    /// Header and body encoded without the authenticator: the bytes a MAC or AEAD covers.
    /// Append the 16-byte tag to get the datagram.
    pub fn authenticated_prefix(&self) -> BytesMut {
        let body_len = self.body.encoded_len();
        let mut out = BytesMut::with_capacity(HEADER_LEN + body_len + AUTH_LEN);
        encode_header(self.body.pdu_type(), &self.header, body_len, &mut out);
        self.body.encode(&mut out);
        out
    }
}

fn pdu_type_from_code(code: u8) -> Option<PduType> {
    Some(match code {
        1 => PduType::Init,
        2 => PduType::Challenge,
        3 => PduType::Confirm,
        4 => PduType::Accept,
        5 => PduType::Stale,
        6 => PduType::Packet,
        7 => PduType::Reset,
        _ => return None,
    })
}

fn check_header(ty: PduType, h: &Header) -> Result<(), DecodeError> {
    // The receiver's tag is unknown only when opening: INIT carries 0, all else non-zero.
    if (ty == PduType::Init) != (h.dst_tag == 0) {
        return Err(out_of_range("header.dst_tag"));
    }
    if ty != PduType::Packet && h.pn != 0 {
        return Err(out_of_range("header.pn"));
    }
    Ok(())
}

pub(super) fn nonzero_tag(tag: u64, field: &'static str) -> Result<(), DecodeError> {
    if tag == 0 {
        Err(out_of_range(field))
    } else {
        Ok(())
    }
}
