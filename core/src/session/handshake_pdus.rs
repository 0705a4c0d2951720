//! The session's handling of received handshake PDUs: INIT, CHALLENGE, CONFIRM, ACCEPT,
//! STALE. The pure decisions are in `crate::handshake`; this file applies them.
//!
//! Handshake bodies are cleartext: a CONFIRM's body is read before its trailer is checked
//! (the cookie in it determines the keys), and an unauthentic CHALLENGE is read only to
//! decide whether to report a PSK mismatch. Nothing that fails authentication changes
//! state; the budget for unauthenticated handshake PDUs (`Config::init_budget`) bounds the
//! answers and reports they cause.

use alloc::boxed::Box;
use bytes::Bytes;

use super::Session;
use crate::association::NewAssociation;
use crate::association_id::{AssociationId, Role};
use crate::handshake::{self, Attempt, ConfirmContext, ConfirmDecision, InitContext, Refusal, Stage};
use crate::input::{DropReason, InputError, Verdict};
use crate::output::{AuthStage, Event};
use crate::persist::Record;
use crate::receiver::Receiver;
use crate::remote::Remote;
use crate::time::Instant;
use crate::timer::Timer;
use crate::wire::{Body, Header, RawPdu, Summary};

impl Session {
    /// Drops a refused handshake PDU. A failed proof is counted as `BadAuth` and, while the
    /// budget for unauthenticated PDUs lasts, reported to the application as an event (the
    /// only state it changes is the output queue); beyond the budget it is dropped like any
    /// forgery. Either way the verdict is [`Verdict::Dropped`]: it proved nothing.
    pub(super) fn refuse(
        &mut self,
        now: Instant,
        refusal: Refusal,
        stage: AuthStage,
    ) -> Result<Verdict, InputError> {
        match refusal {
            Refusal::Drop(r) => self.drop_pdu(r),
            Refusal::AuthFailed => {
                if !self.auth_budget.0.try_acquire(now) {
                    return self.drop_pdu(DropReason::BadAuth);
                }
                self.event(Event::AuthenticationFailed { stage });
                if stage == AuthStage::Challenge {
                    self.auth_failed(now);
                }
                self.drop_pdu(DropReason::BadAuth)
            }
        }
    }

    /// An INIT: answered statelessly with a CHALLENGE to its source, which it never makes
    /// the peer (anyone can replay one). An INIT whose MAC fails is charged to its source
    /// first ([`Config::source_limits`](crate::Config::source_limits)), then to the
    /// session's budget.
    pub(super) fn on_init(
        &mut self,
        now: Instant,
        from: Remote,
        raw: &RawPdu,
        datagram: &Bytes,
    ) -> Result<Verdict, InputError> {
        if raw.header.dst_tag != 0 {
            return self.drop_pdu(DropReason::NotApplicable);
        }
        let wins = self.cfg.local_name < self.cfg.peer_name || mutated!(self.cfg, InvertedTieBreak);
        if self.attempt.is_some() && wins {
            return self.drop_pdu(DropReason::Collision);
        }
        // While the driver lags, answers would only pile up: the initiator retransmits.
        if self.outbox.waiting() >= self.max_waiting_outputs() {
            return self.drop_pdu(DropReason::Backpressure);
        }
        let authentic =
            self.cfg.suite.verify_handshake(&handshake::handshake_mac_key(&self.cfg), datagram, raw);
        // An INIT that fails its MAC is answered only while its source's budget and the
        // session's last: beyond them, a flood costs one MAC per datagram and produces
        // nothing, and a flood from a few sources leaves the session's budget to the rest.
        if !authentic && !self.auth_budget.0.would_allow(now) {
            return self.drop_pdu(DropReason::BadAuth);
        }
        if !authentic && !self.source_limiter.0.allow(now, from) {
            return self.drop_pdu(DropReason::SourceLimited);
        }
        let Body::Init(init) = self.decode_body(raw.ty, &raw.body)? else {
            return self.drop_pdu(DropReason::NotApplicable);
        };
        let ctx = InitContext {
            cfg: &self.cfg,
            secret: &self.cookie_secret,
            persisted_epoch: self.store.epoch,
            now,
            authentic,
        };
        match handshake::answer_init(&ctx, &raw.header, &init, datagram.len()) {
            Ok(challenge) => {
                self.answer(from, challenge);
                if !authentic {
                    // Answered anyway (with a proof that never verifies), so the initiator
                    // learns of the PSK mismatch too.
                    self.auth_budget.0.try_acquire(now);
                    self.stats.0.init_auth_failures += 1;
                    self.event(Event::AuthenticationFailed { stage: AuthStage::Init });
                }
                Ok(Verdict::Answered)
            }
            Err(r) => self.refuse(now, r, AuthStage::Init),
        }
    }

    /// A CHALLENGE to our INIT: the CONFIRM goes to the peer's remote (where the INIT went),
    /// not to the CHALLENGE's source — a CHALLENGE can be replayed by anyone who saw it.
    pub(super) fn on_challenge(
        &mut self,
        now: Instant,
        raw: &RawPdu,
        datagram: &Bytes,
    ) -> Result<Verdict, InputError> {
        let header = raw.header;
        let Some(attempt) = self.attempt.as_ref() else {
            return self.drop_pdu(DropReason::Stale);
        };
        if let Err(r) = handshake::challenge_addresses(attempt, &header) {
            return self.refuse(now, r, AuthStage::Challenge);
        }
        let authentic =
            self.cfg.suite.verify_handshake(&handshake::handshake_mac_key(&self.cfg), datagram, raw);
        if !authentic && !self.auth_budget.0.would_allow(now) {
            return self.drop_pdu(DropReason::BadAuth);
        }
        let Body::Challenge(ch) = self.decode_body(raw.ty, &raw.body)? else {
            return self.drop_pdu(DropReason::NotApplicable);
        };
        let Some(attempt) = self.attempt.as_ref() else {
            return self.drop_pdu(DropReason::Stale);
        };
        // A failing proof means the peer holds another PSK (tell the application); a
        // failing trailer with a good proof is mere corruption.
        let summary = Receiver::summary(&self.store, self.handshake_summary_budget());
        let confirming =
            match handshake::check_challenge(&self.cfg, attempt, &header, &ch, summary, authentic) {
                Ok(c) => c,
                Err(r) => return self.refuse(now, r, AuthStage::Challenge),
            };
        if header.epoch > self.store.epoch {
            self.persist(Record::Epoch(header.epoch));
        }
        let Some(attempt) = self.attempt.as_mut() else {
            return Ok(Verdict::Accepted);
        };
        attempt.epoch = header.epoch;
        attempt.retransmits = 0;
        let confirm = handshake::build_confirm(&self.cfg, attempt, &confirming);
        attempt.stage = Stage::ConfirmSent(Box::new(confirming));
        self.transmit(confirm);
        self.timers.set(Timer::Handshake, now + self.cfg.handshake_rto);
        Ok(Verdict::Accepted)
    }

    /// A CONFIRM: its proof is checked against the cookie it returns. One that opens a new
    /// association moves the peer's remote to its source; a repeated (or replayed) one is
    /// answered there — another ACCEPT, or a STALE — and moves nothing.
    pub(super) fn on_confirm(
        &mut self,
        now: Instant,
        from: Remote,
        raw: &RawPdu,
        datagram: &Bytes,
    ) -> Result<Verdict, InputError> {
        // While the driver lags, answers would only pile up (every replayed CONFIRM of the
        // current association is answered with another ACCEPT): the initiator retransmits.
        if self.outbox.waiting() >= self.max_waiting_outputs() {
            return self.drop_pdu(DropReason::Backpressure);
        }
        let Body::Confirm(c) = self.decode_body(raw.ty, &raw.body)? else {
            return self.drop_pdu(DropReason::NotApplicable);
        };
        let proposal = match handshake::check_confirm(
            &self.cfg,
            &self.cookie_secret,
            now,
            &raw.header,
            &c,
            datagram,
            raw,
        ) {
            Ok(p) => p,
            Err(r) => return self.refuse(now, r, AuthStage::Confirm),
        };
        let ctx = ConfirmContext {
            current: self.assoc.as_ref().map(|a| a.id),
            persisted_epoch: self.store.epoch,
            own_attempt_epoch: self.attempt.as_ref().map(|a| a.epoch),
            peer_wins: self.cfg.peer_name < self.cfg.local_name && !mutated!(self.cfg, InvertedTieBreak),
            #[cfg(feature = "mutations")]
            mutations: self.cfg.mutations,
        };
        match handshake::decide_confirm(&proposal, &ctx) {
            ConfirmDecision::Reaccept => {
                let summary = Receiver::summary(&self.store, self.handshake_summary_budget());
                self.answer(from, handshake::build_accept(&self.cfg, &proposal, summary));
                Ok(Verdict::Answered)
            }
            ConfirmDecision::Stale => {
                self.answer(from, handshake::build_stale(&self.cfg, &proposal, self.store.epoch));
                Ok(Verdict::Answered)
            }
            ConfirmDecision::Accept => {
                if proposal.id.epoch > self.store.epoch && !mutated!(self.cfg, ResponderEpochNotRecorded) {
                    self.persist(Record::Epoch(proposal.id.epoch));
                }
                let summary = Receiver::summary(&self.store, self.handshake_summary_budget());
                let accept = handshake::build_accept(&self.cfg, &proposal, summary);
                self.peer_proved_at(from);
                self.establish(now, proposal);
                self.transmit(accept);
                self.start_transfer(now, &c.summary);
                Ok(Verdict::Accepted)
            }
        }
    }

    /// The pending attempt's confirming state if `header` addresses it.
    pub(super) fn confirming_for(&self, header: &Header) -> Option<(&Attempt, &handshake::Confirming)> {
        let attempt = self.attempt.as_ref()?;
        match &attempt.stage {
            // The AssumeInOrder mutation takes whatever arrives next as the answer.
            Stage::ConfirmSent(c)
                if (header.dst_tag == attempt.tag_i && header.epoch == attempt.epoch)
                    || mutated!(self.cfg, AssumeInOrder) =>
            {
                Some((attempt, c))
            }
            _ => None,
        }
    }

    /// An ACCEPT of the attempt being confirmed, verified under its keys: the association
    /// is up and the peer is at its source. A duplicate moves nothing.
    pub(super) fn on_accept(
        &mut self,
        now: Instant,
        from: Remote,
        raw: &RawPdu,
        datagram: &Bytes,
    ) -> Result<Verdict, InputError> {
        let Some((attempt, c)) = self.confirming_for(&raw.header) else {
            let dup = self.assoc.as_ref().is_some_and(|a| a.matches(&raw.header));
            return self.drop_pdu(if dup { DropReason::Duplicate } else { DropReason::Stale });
        };
        if !self.cfg.suite.verify_handshake(&c.keys.recv.handshake, datagram, raw)
            && !mutated!(self.cfg, AssumeInOrder)
        {
            return self.drop_pdu(DropReason::BadAuth);
        }
        let mut new = initiator_association(attempt, c);
        if mutated!(self.cfg, SwappedInitiatorTags) {
            core::mem::swap(&mut new.id.local_tag, &mut new.id.peer_tag);
        }
        let Body::Accept(a) = self.decode_body(raw.ty, &raw.body)? else {
            return self.drop_pdu(DropReason::NotApplicable);
        };
        self.peer_proved_at(from);
        self.establish(now, new);
        self.start_transfer(now, &a.summary);
        Ok(Verdict::Accepted)
    }

    /// Room for our summary in a CONFIRM or ACCEPT: the datagram minus the fixed fields.
    fn handshake_summary_budget(&self) -> usize {
        usize::from(self.cfg.params.max_datagram).saturating_sub(200 + crate::wire::MAX_NAME_LEN)
    }

    /// The summary exchange that begins every association: settle what the peer resolved
    /// and learn where to resume. An impossible claim aborts the new association.
    fn start_transfer(&mut self, now: Instant, peer_summary: &Summary) {
        // Durable receive state is monotone, and the handshake's summary is current: a
        // watermark below what the peer already confirmed means it lost its store.
        let expected = self.sender.resolved_below(&self.store);
        if peer_summary.resolved_below < expected {
            self.stats.0.peer_state_lost += 1;
            self.event(Event::PeerStateLost { resolved_below: peer_summary.resolved_below, expected });
        }
        if let Err(reason) = self.apply_peer_summary(peer_summary) {
            self.abort_association(now, reason);
        }
    }

    /// An authentic STALE for the attempt being confirmed: retry above the peer's epoch.
    /// It answers our CONFIRM and opens nothing, so the peer's remote stays.
    pub(super) fn on_stale(
        &mut self,
        now: Instant,
        raw: &RawPdu,
        datagram: &Bytes,
    ) -> Result<Verdict, InputError> {
        let Some((_, c)) = self.confirming_for(&raw.header) else {
            return self.drop_pdu(DropReason::Stale);
        };
        if !self.cfg.suite.verify_handshake(&c.keys.recv.handshake, datagram, raw) {
            return self.drop_pdu(DropReason::BadAuth);
        }
        let Body::Stale(stale) = self.decode_body(raw.ty, &raw.body)? else {
            return self.drop_pdu(DropReason::NotApplicable);
        };
        // A stable fact: the peer's epoch is at least `current_epoch`. Retry above it now.
        if stale.current_epoch > self.store.epoch {
            self.persist(Record::Epoch(stale.current_epoch));
        }
        self.attempt = None;
        self.timers.stop(Timer::Handshake);
        self.start_attempt(now);
        Ok(Verdict::Accepted)
    }
}

/// The association an initiator establishes from its confirmed attempt.
pub(super) fn initiator_association(attempt: &Attempt, c: &handshake::Confirming) -> NewAssociation {
    let id = AssociationId {
        epoch: attempt.epoch,
        local_tag: attempt.tag_i,
        peer_tag: c.tag_r,
        role: Role::Initiator,
    };
    NewAssociation { id, params: c.params, keys: c.keys }
}
