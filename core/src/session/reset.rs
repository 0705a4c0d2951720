//! The stateless reset (`PROTOCOL.md`, "Stateless reset"): answering a PACKET for an
//! association this side does not have, and acting on the peer's answer of that kind.
//!
//! A RESET is an empty PDU whose header repeats the `dst_tag` and `epoch` of the PACKET it
//! answers and whose trailer is a MAC under a key derived from the PSK and the sender's
//! and receiver's names only, so an endpoint that lost every association (a restart) can
//! still produce it, and the peer can check it without trusting anything unauthenticated.

use bytes::Bytes;

use super::Session;
use crate::association::Phase;
use crate::config::Config;
use crate::handshake;
use crate::input::{DropReason, InputError, Verdict};
use crate::output::DownReason;
use crate::remote::Remote;
use crate::time::Instant;
use crate::wire::{Body, Header, RawPdu, AUTH_LEN, HEADER_LEN};

/// Size of a RESET on the wire: the header and the trailer, no body. Smaller than any
/// PACKET (`Pdu::PACKET_OVERHEAD` plus at least one frame), so answering one never
/// amplifies.
pub const RESET_LEN: usize = HEADER_LEN + AUTH_LEN;

impl Session {
    /// A PACKET that matches neither the association nor the attempt being confirmed:
    /// answered with a RESET when this side may vouch that it holds no such association,
    /// and within the reset budget; otherwise dropped as stale. Either way nothing but the
    /// counters, the budget and the output queue changes.
    pub(super) fn on_unknown_packet(
        &mut self,
        now: Instant,
        from: Remote,
        header: &Header,
        received_len: usize,
    ) -> Result<Verdict, InputError> {
        if !self.may_reset(header)
            || received_len < RESET_LEN
            || self.outbox.waiting() >= self.max_waiting_outputs()
            || !self.reset_budget.0.try_acquire(now)
        {
            return self.drop_pdu(DropReason::Stale);
        }
        let reset = seal_reset(&self.cfg, header);
        self.stats.0.count_drop(DropReason::Stale);
        self.stats.0.resets_sent += 1;
        self.answer(from, reset);
        Ok(Verdict::Answered)
    }

    /// Whether this side may answer an unknown PACKET with a RESET ([`may_reset`]).
    fn may_reset(&self, header: &Header) -> bool {
        let ground = ResetGround {
            usable_association: self.has_usable_association(),
            attempt_pending: self.attempt.is_some(),
            persisted_epoch: self.store.epoch,
            drained: self.drained,
        };
        may_reset(&ground, header)
    }

    /// A RESET: if it names our current, undrained association (its epoch, and the peer's
    /// tag as the one the peer says it lost) and its trailer verifies under the peer's reset key, the
    /// peer no longer has that association: end it now, and open again if there is
    /// traffic. Anything else is dropped and changes nothing.
    pub(super) fn on_reset(
        &mut self,
        now: Instant,
        raw: &RawPdu,
        datagram: &Bytes,
    ) -> Result<Verdict, InputError> {
        if mutated!(self.cfg, IgnoreReset) {
            return self.drop_pdu(DropReason::NotApplicable);
        }
        let unverified = mutated!(self.cfg, AcceptUnverifiedReset);
        // A draining association is over already: nothing to end early.
        let names_ours = self.assoc.as_ref().is_some_and(|a| {
            a.phase != Phase::Draining
                && a.id.epoch == raw.header.epoch
                && a.id.peer_tag == raw.header.dst_tag
        });
        // The AcceptUnverifiedReset mutation takes a RESET for any association as ours.
        let taken = names_ours || (unverified && self.assoc.is_some());
        if !taken {
            return self.drop_pdu(DropReason::Stale);
        }
        let key = self.cfg.suite.reset_key(&self.cfg.psk, &self.cfg.peer_name, &self.cfg.local_name);
        if !self.cfg.suite.verify_handshake(&key, datagram, raw) && !unverified {
            return self.drop_pdu(DropReason::BadAuth);
        }
        let Body::Reset = self.decode_body(raw.ty, &raw.body)? else {
            return self.drop_pdu(DropReason::NotApplicable);
        };
        self.stats.0.resets_received += 1;
        self.end_association(now, DownReason::PeerReset);
        Ok(Verdict::Accepted)
    }
}

/// What a side knows about itself when a PACKET names an association it does not hold:
/// all [`may_reset`] looks at. A session fills it from its state; an endpoint fills it for
/// a session not in memory from what it kept when the session left (no association, no
/// attempt), so both answer by the same rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ResetGround {
    /// It holds an association that is not draining.
    pub(crate) usable_association: bool,
    /// An open attempt of its own is pending.
    pub(crate) attempt_pending: bool,
    /// Its persisted epoch, or a lower bound of it.
    pub(crate) persisted_epoch: u64,
    /// The association it released in order and drained last, as `(epoch, local_tag)`.
    pub(crate) drained: Option<(u64, u64)>,
}

/// Whether a side can say "I have no association `(header.epoch, header.dst_tag)`" and
/// stay right forever after (`PROTOCOL.md`, "Stateless reset"):
///
/// * it holds no usable association (one it holds would have matched the header, so
///   with one the packet is a late copy from before it, and the peer has moved on);
/// * the packet is not a late one of the association it released in order last (the
///   peer released it too: absorbed, as during the drain);
/// * no attempt of its own is pending (its CONFIRM will supersede whatever the peer
///   holds, and an association it is opening must not be named in advance: its tag
///   is on the wire in the INIT); and
/// * the packet's epoch is not above the persisted epoch: every association this side may
///   still establish has a higher epoch (with no attempt of ours pending, a CONFIRM
///   is accepted only above the persisted epoch), so a RESET cannot be solicited for
///   an association before it exists — the responder's tag is on the wire in its
///   CHALLENGE before the CONFIRM arrives. A lower bound of the persisted epoch keeps
///   this true (it only refuses more).
pub(crate) fn may_reset(ground: &ResetGround, header: &Header) -> bool {
    !ground.usable_association
        && !ground.attempt_pending
        && header.epoch <= ground.persisted_epoch
        && ground.drained != Some((header.epoch, header.dst_tag))
}

/// The RESET answering a PACKET with this `header`, sealed under `cfg`'s reset key (its
/// PSK and names only: no association state is needed).
pub(crate) fn seal_reset(cfg: &Config, header: &Header) -> Bytes {
    let reply = Header { sid: cfg.sid, dst_tag: header.dst_tag, epoch: header.epoch, pn: 0 };
    let key = cfg.suite.reset_key(&cfg.psk, &cfg.local_name, &cfg.peer_name);
    handshake::seal(cfg.suite, &key, reply, Body::Reset)
}
