//! The session's receive path for handshake PDUs: INIT, CHALLENGE, CONFIRM, ACCEPT, STALE.

use alloc::boxed::Box;
use bytes::Bytes;

use super::Session;
use crate::association::AssociationIds;
use crate::handshake::{self, Attempt, ConfirmContext, ConfirmDecision, Refusal, Stage};
use crate::io::{AuthStage, DropReason, Event, InputError, Role};
use crate::persist::Record;
use crate::receiver::Receiver;
use crate::time::Instant;
use crate::timer::Timer;
use crate::wire::{Body, Header, RawPdu, Summary};

impl Session {
    // ----- receive path -----

    pub(super) fn drop_pdu(&mut self, reason: DropReason) -> Result<(), InputError> {
        self.stats.0.count_drop(reason);
        Err(reason.into())
    }

    pub(super) fn on_datagram(&mut self, now: Instant, datagram: Bytes) -> Result<(), InputError> {
        self.stats.0.datagrams_in += 1;
        let parsed =
            RawPdu::parse(&datagram).and_then(|raw| Body::decode(raw.ty, &raw.body).map(|b| (raw, b)));
        let (raw, body) = match parsed {
            Ok(x) => x,
            Err(e) => {
                self.stats.0.undecodable += 1;
                return Err(e.into());
            }
        };
        if raw.header.sid != self.cfg.sid {
            return self.drop_pdu(DropReason::WrongSession);
        }
        let header = raw.header;
        match body {
            Body::Init(init) => self.on_init(&header, &init, &datagram, &raw),
            Body::Challenge(ch) => self.on_challenge(now, &header, &ch, &datagram, &raw),
            Body::Confirm(c) => self.on_confirm(now, &header, &c, &datagram, &raw),
            Body::Accept(a) => self.on_accept(now, &header, &a.summary, &datagram, &raw),
            Body::Stale(s) => self.on_stale(now, &header, s.current_epoch, &datagram, &raw),
            Body::Packet(frames) => self.on_packet(now, &header, &frames, &datagram, &raw),
        }
    }

    /// Drops a refused handshake PDU. A failed proof is reported to the application as an
    /// event and counted; it returns `Ok` because the event is the report (and the only
    /// state it changes is the output queue).
    pub(super) fn refuse(&mut self, refusal: Refusal, stage: AuthStage) -> Result<(), InputError> {
        match refusal {
            Refusal::Drop(r) => self.drop_pdu(r),
            Refusal::AuthFailed => {
                self.stats.0.count_drop(DropReason::BadAuth);
                self.event(Event::AuthenticationFailed { stage });
                Ok(())
            }
        }
    }

    pub(super) fn on_init(
        &mut self,
        header: &Header,
        init: &crate::wire::Init,
        datagram: &Bytes,
        raw: &RawPdu,
    ) -> Result<(), InputError> {
        if header.dst_tag != 0 {
            return self.drop_pdu(DropReason::NotApplicable);
        }
        if self.attempt.is_some() && self.cfg.local_name < self.cfg.peer_name {
            return self.drop_pdu(DropReason::Collision);
        }
        let authentic =
            self.cfg.suite.open(&handshake::handshake_key(self.cfg.suite, &self.cfg.psk), datagram, raw);
        match handshake::answer_init(
            &self.cfg,
            &self.cookie_secret,
            self.store.epoch,
            header,
            init,
            datagram.len(),
        ) {
            Ok(challenge) => {
                self.transmit(challenge);
                if !authentic {
                    // Answered anyway, so the initiator learns of the PSK mismatch too.
                    self.stats.0.init_auth_failures += 1;
                    self.event(Event::AuthenticationFailed { stage: AuthStage::Init });
                }
                Ok(())
            }
            Err(r) => self.refuse(r, AuthStage::Init),
        }
    }

    pub(super) fn on_challenge(
        &mut self,
        now: Instant,
        header: &Header,
        ch: &crate::wire::Challenge,
        datagram: &Bytes,
        raw: &RawPdu,
    ) -> Result<(), InputError> {
        let Some(attempt) = self.attempt.as_ref() else {
            return self.drop_pdu(DropReason::Stale);
        };
        // The proof first: a failing proof means the peer holds another PSK (tell the
        // application); a failing trailer with a good proof is mere corruption.
        let summary = Receiver::summary(&self.store, self.handshake_summary_budget());
        let confirming = match handshake::check_challenge(&self.cfg, attempt, header, ch, summary) {
            Ok(c) => c,
            Err(r) => return self.refuse(r, AuthStage::Challenge),
        };
        if !self.cfg.suite.open(&handshake::handshake_key(self.cfg.suite, &self.cfg.psk), datagram, raw) {
            return self.drop_pdu(DropReason::BadAuth);
        }
        if header.epoch > self.store.epoch {
            self.persist(Record::Epoch(header.epoch));
        }
        let Some(attempt) = self.attempt.as_mut() else {
            return Ok(());
        };
        attempt.epoch = header.epoch;
        attempt.retransmits = 0;
        let confirm = handshake::build_confirm(&self.cfg, attempt, &confirming);
        attempt.stage = Stage::ConfirmSent(Box::new(confirming));
        self.transmit(confirm);
        self.timers.set(Timer::Handshake, now + self.cfg.handshake_rto);
        Ok(())
    }

    pub(super) fn on_confirm(
        &mut self,
        now: Instant,
        header: &Header,
        c: &crate::wire::Confirm,
        datagram: &Bytes,
        raw: &RawPdu,
    ) -> Result<(), InputError> {
        let proposal =
            match handshake::check_confirm(&self.cfg, &self.cookie_secret, header, c, datagram, raw) {
                Ok(p) => p,
                Err(r) => return self.refuse(r, AuthStage::Confirm),
            };
        let ctx = ConfirmContext {
            current: self.assoc.as_ref().map(|a| (a.epoch, a.local_tag, a.peer_tag)),
            persisted_epoch: self.store.epoch,
            own_attempt_epoch: self.attempt.as_ref().map(|a| a.epoch),
            peer_wins: self.cfg.peer_name < self.cfg.local_name,
            mutations: self.cfg.mutations,
        };
        match handshake::decide_confirm(&proposal, &ctx) {
            ConfirmDecision::Reaccept => {
                let summary = Receiver::summary(&self.store, self.handshake_summary_budget());
                self.transmit(handshake::build_accept(&self.cfg, &proposal, summary));
                Ok(())
            }
            ConfirmDecision::Stale => {
                self.transmit(handshake::build_stale(&self.cfg, &proposal, self.store.epoch));
                Ok(())
            }
            ConfirmDecision::Accept => {
                if proposal.epoch > self.store.epoch {
                    self.persist(Record::Epoch(proposal.epoch));
                }
                let summary = Receiver::summary(&self.store, self.handshake_summary_budget());
                let accept = handshake::build_accept(&self.cfg, &proposal, summary);
                let ids = AssociationIds {
                    role: Role::Responder,
                    epoch: proposal.epoch,
                    local_tag: proposal.tag_r,
                    peer_tag: proposal.tag_i,
                    params: proposal.params,
                    keys: proposal.keys,
                };
                self.establish(now, ids);
                self.transmit(accept);
                self.start_transfer(now, &c.summary);
                Ok(())
            }
        }
    }

    /// The pending attempt's confirming state if `header` addresses it.
    pub(super) fn confirming_for(&self, header: &Header) -> Option<(&Attempt, &handshake::Confirming)> {
        let attempt = self.attempt.as_ref()?;
        match &attempt.stage {
            Stage::ConfirmSent(c) if header.dst_tag == attempt.tag_i && header.epoch == attempt.epoch => {
                Some((attempt, c))
            }
            _ => None,
        }
    }

    pub(super) fn on_accept(
        &mut self,
        now: Instant,
        header: &Header,
        summary: &Summary,
        datagram: &Bytes,
        raw: &RawPdu,
    ) -> Result<(), InputError> {
        let Some((attempt, c)) = self.confirming_for(header) else {
            let dup = self.assoc.as_ref().is_some_and(|a| a.matches(header));
            return self.drop_pdu(if dup { DropReason::Duplicate } else { DropReason::Stale });
        };
        if !self.cfg.suite.open(&c.keys.recv, datagram, raw) {
            return self.drop_pdu(DropReason::BadAuth);
        }
        let ids = initiator_ids(attempt, c);
        self.establish(now, ids);
        self.start_transfer(now, summary);
        Ok(())
    }

    /// Room for our summary in a CONFIRM or ACCEPT: the datagram minus the fixed fields.
    fn handshake_summary_budget(&self) -> usize {
        usize::from(self.cfg.params.max_datagram).saturating_sub(200 + crate::wire::MAX_NAME_LEN)
    }

    /// The summary exchange that begins every association: settle what the peer resolved
    /// and learn where to resume. An impossible claim aborts the new association.
    fn start_transfer(&mut self, now: Instant, peer_summary: &Summary) {
        if let Err(reason) = self.apply_peer_summary(peer_summary) {
            self.abort_association(now, reason);
        }
    }

    pub(super) fn on_stale(
        &mut self,
        now: Instant,
        header: &Header,
        current_epoch: u64,
        datagram: &Bytes,
        raw: &RawPdu,
    ) -> Result<(), InputError> {
        let Some((_, c)) = self.confirming_for(header) else {
            return self.drop_pdu(DropReason::Stale);
        };
        if !self.cfg.suite.open(&c.keys.recv, datagram, raw) {
            return self.drop_pdu(DropReason::BadAuth);
        }
        // A stable fact: the peer's epoch is at least `current_epoch`. Retry above it now.
        if current_epoch > self.store.epoch {
            self.persist(Record::Epoch(current_epoch));
        }
        self.attempt = None;
        self.timers.stop(Timer::Handshake);
        self.start_attempt(now);
        Ok(())
    }
}

/// The association an initiator establishes from its confirmed attempt.
pub(super) fn initiator_ids(attempt: &Attempt, c: &handshake::Confirming) -> AssociationIds {
    AssociationIds {
        role: Role::Initiator,
        epoch: attempt.epoch,
        local_tag: attempt.tag_i,
        peer_tag: c.tag_r,
        params: c.params,
        keys: c.keys,
    }
}
