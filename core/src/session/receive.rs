//! The session's receive path: every datagram is parsed here and dispatched by PDU type
//! (handshake PDUs to `handshake_pdus.rs`, PACKETs to `transfer.rs`, RESETs to `reset.rs`).
//!
//! Every datagram is split at header, body and trailer first (`RawPdu::parse`); the header
//! selects the attempt or association and so the key; the trailer is verified (a PACKET is
//! decrypted) before the body is acted on. A datagram that is not a PDU is an
//! [`InputError`]; a PDU that matches nothing current is counted and dropped with a
//! [`DropReason`].

use bytes::Bytes;

use super::Session;
use crate::input::{DropReason, InputError, Verdict};
use crate::remote::Remote;
use crate::time::Instant;
use crate::wire::{Body, DecodeError, PduType, RawPdu};

impl Session {
    /// Counts a well-formed PDU as dropped for `reason` and says so.
    pub(super) fn drop_pdu(&mut self, reason: DropReason) -> Result<Verdict, InputError> {
        self.stats.0.count_drop(reason);
        Ok(Verdict::Dropped(reason))
    }

    fn undecodable(&mut self, e: DecodeError) -> Result<Verdict, InputError> {
        self.stats.0.undecodable += 1;
        Err(e.into())
    }

    /// Strictly decodes a (cleartext) body of type `ty`; a failure is counted.
    pub(super) fn decode_body(&mut self, ty: PduType, body: &Bytes) -> Result<Body, InputError> {
        Body::decode(ty, body).map_err(|e| {
            self.stats.0.undecodable += 1;
            e.into()
        })
    }

    /// One received datagram: parsed, checked against this session's `sid`, dispatched.
    pub(super) fn on_datagram(
        &mut self,
        now: Instant,
        from: Remote,
        datagram: Bytes,
    ) -> Result<Verdict, InputError> {
        self.stats.0.datagrams_in += 1;
        let raw = match RawPdu::parse(&datagram) {
            Ok(raw) => raw,
            Err(e) => return self.undecodable(e),
        };
        if raw.header.sid != self.cfg.sid {
            return self.drop_pdu(DropReason::WrongSession);
        }
        match raw.ty {
            PduType::Init => self.on_init(now, from, &raw, &datagram),
            PduType::Challenge => self.on_challenge(now, &raw, &datagram),
            PduType::Confirm => self.on_confirm(now, from, &raw, &datagram),
            PduType::Accept => self.on_accept(now, from, &raw, &datagram),
            PduType::Stale => self.on_stale(now, &raw, &datagram),
            PduType::Packet => self.on_packet(now, from, &raw, &datagram),
            PduType::Reset => self.on_reset(now, &raw, &datagram),
        }
    }
}
