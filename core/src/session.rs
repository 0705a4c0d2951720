//! The session: one long-lived relationship with one named peer, and the single entry
//! point of the core. It owns the persistent state (epoch), the handshake attempt, the
//! current association, the timers and the output queue.

use alloc::boxed::Box;
use alloc::sync::Arc;
use bytes::Bytes;

use crate::association::{Association, AssociationIds, PacketEffect, Phase};
use crate::config::{Config, ConfigError, DialPolicy};
use crate::crypto::Key;
use crate::handshake::{self, Attempt, ConfirmContext, ConfirmDecision, Refusal, Stage};
use crate::io::{
    AuthStage, BearerRequest, DownReason, DropReason, Event, Input, InputError, Output, Role, Transmit,
};
use crate::mutation::Mutation;
use crate::persist::{Outbox, Record, SessionStore};
use crate::rng::Rng;
use crate::stats::{Stats, Unobserved};
use crate::time::{Duration, Instant};
use crate::timer::{Timer, TimerTable};
use crate::wire::{AbortReason, Body, CloseReason, Frame, Header, Nonce, RawPdu, Summary};

/// The bearer as the core believes it to be.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LinkState {
    /// No bearer.
    Down,
    /// A dial was requested and not yet answered.
    Dialing,
    /// A bearer is up.
    Up,
}

/// A summary of where the session stands, for applications, tests and the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SessionState {
    /// No association and no handshake in progress.
    Idle,
    /// Handshake in progress as initiator (INIT or CONFIRM sent).
    Opening,
    /// An association is usable.
    Established,
    /// An orderly release is in progress.
    Closing,
    /// The last association is draining.
    Draining,
}

/// Identity of the current association.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AssociationInfo {
    /// Its epoch.
    pub epoch: u64,
    /// Which side opened it.
    pub role: Role,
    /// Our tag (the peer puts it in `dst_tag`).
    pub local_tag: u64,
    /// The peer's tag.
    pub peer_tag: u64,
    /// Whether it is established (not closing or draining).
    pub usable: bool,
}

/// The sans-IO session state machine. See the crate docs for the drain contract.
///
/// All state is plain data: `Clone + Debug + Eq + Hash`, bounded by [`Config`]. Statistics
/// are excluded from `Eq`/`Hash`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Session {
    cfg: Arc<Config>,
    store: SessionStore,
    rng: Rng,
    cookie_secret: Key,
    link: LinkState,
    hold_open: bool,
    open_failures: u32,
    attempt: Option<Attempt>,
    assoc: Option<Association>,
    timers: TimerTable,
    outbox: Outbox,
    stats: Unobserved<Stats>,
}

/// Most timers one `handle_input(Timeout)` fires; a guard against a deadline bug looping.
const MAX_TIMERS_PER_TIMEOUT: usize = 64;

impl Session {
    /// A new session with empty persistent state.
    pub fn new(config: Config, seed: u64) -> Result<Session, ConfigError> {
        Session::restore(config, SessionStore::default(), seed)
    }

    /// A session resumed from durable state after a restart or crash.
    ///
    /// `seed` must be fresh per process start (and secret with a real crypto suite); it is
    /// mixed with the persisted epoch so that even a reused seed never repeats tags.
    pub fn restore(config: Config, store: SessionStore, seed: u64) -> Result<Session, ConfigError> {
        config.validate()?;
        let mut rng = Rng::new(seed ^ store.epoch.wrapping_mul(0xA076_1D64_78BD_642F));
        let mut secret = [0u8; 32];
        rng.fill(&mut secret);
        Ok(Session {
            cfg: Arc::new(config),
            store,
            rng,
            cookie_secret: Key(secret),
            link: LinkState::Down,
            hold_open: false,
            open_failures: 0,
            attempt: None,
            assoc: None,
            timers: TimerTable::default(),
            outbox: Outbox::default(),
            stats: Unobserved::default(),
        })
    }

    // ----- getters -----

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.cfg
    }
    /// The persistent state including records not yet reported durable.
    pub fn store(&self) -> &SessionStore {
        &self.store
    }
    /// Counters.
    pub fn stats(&self) -> &Stats {
        &self.stats.0
    }
    /// The bearer as the core believes it to be.
    pub fn link(&self) -> LinkState {
        self.link
    }
    /// Where the session stands.
    pub fn state(&self) -> SessionState {
        match (&self.assoc, &self.attempt) {
            (Some(a), _) if a.phase == Phase::Established => SessionState::Established,
            (Some(a), _) if matches!(a.phase, Phase::Closing(_)) => SessionState::Closing,
            (_, Some(_)) => SessionState::Opening,
            (Some(_), None) => SessionState::Draining,
            (None, None) => SessionState::Idle,
        }
    }
    /// The current (or draining) association.
    pub fn association(&self) -> Option<AssociationInfo> {
        self.assoc.as_ref().map(|a| AssociationInfo {
            epoch: a.epoch,
            role: a.role,
            local_tag: a.local_tag,
            peer_tag: a.peer_tag,
            usable: a.phase == Phase::Established,
        })
    }
    /// Timers currently armed with their deadlines, in table order.
    pub fn armed_timers(&self) -> impl Iterator<Item = (Timer, Instant)> + '_ {
        self.timers.armed().filter_map(|t| self.timers.get(t).map(|d| (t, d)))
    }
    /// Outputs queued and not yet drained (including ones held by the write barrier).
    pub fn pending_outputs(&self) -> usize {
        self.outbox.len()
    }

    // ----- outputs -----

    /// The next output, if any. Call until `None` after every input.
    ///
    /// `Persist` records come first and never wait; other outputs wait until every record
    /// issued before them is durable ([`Input::Persisted`]).
    #[must_use]
    pub fn poll_output(&mut self) -> Option<Output> {
        if self.cfg.mutations.is_active(Mutation::AckBeforeFsync) {
            self.outbox.assume_durable();
        }
        self.outbox.pop()
    }

    /// The earliest deadline of any armed timer: call `handle_input(now, Input::Timeout)`
    /// when the clock reaches it. O(1). Right after `Timeout` at `now` it is never `<= now`.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ----- inputs -----

    /// Feeds one input. `Err` reports a dropped or undecodable datagram; the session is
    /// unchanged by it (apart from counters) and keeps working.
    pub fn handle_input(&mut self, now: Instant, input: Input) -> Result<(), InputError> {
        let result = match input {
            Input::Datagram(d) => self.on_datagram(now, d),
            Input::Timeout => {
                for _ in 0..MAX_TIMERS_PER_TIMEOUT {
                    match self.timers.first_due(now) {
                        Some(t) => self.fire(now, t),
                        None => break,
                    }
                }
                Ok(())
            }
            Input::Persisted { upto } => {
                self.outbox.persisted(upto);
                Ok(())
            }
            Input::LinkUp => {
                self.link = LinkState::Up;
                self.maybe_open(now);
                self.arm_disconnect_if_unused(now);
                Ok(())
            }
            Input::LinkDown => {
                self.on_link_down(now);
                Ok(())
            }
            Input::DialFailed => {
                if self.link == LinkState::Dialing {
                    self.link = LinkState::Down;
                    self.attempt_failed(now);
                }
                Ok(())
            }
            Input::Open => {
                self.hold_open = true;
                self.maybe_open(now);
                Ok(())
            }
            Input::Release => {
                self.hold_open = false;
                if self.attempt.take().is_some() {
                    self.timers.stop(Timer::Handshake);
                }
                if let Some(a) = self.assoc.as_mut() {
                    a.close(CloseReason::Requested);
                }
                self.arm_disconnect_if_unused(now);
                Ok(())
            }
            Input::Abort => {
                self.abort_association(now, AbortReason::Requested);
                Ok(())
            }
        };
        self.flush(now);
        result
    }

    /// Fires one named timer now, trusting the firing: the handler does not compare `now`
    /// with the deadline. Firing a timer that is not armed does nothing.
    pub fn handle_timer(&mut self, now: Instant, timer: Timer) {
        if self.timers.is_armed(timer) {
            self.fire(now, timer);
        }
        self.flush(now);
    }

    /// Convenience for `handle_input(now, Input::Timeout)`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let _ = self.handle_input(now, Input::Timeout);
    }

    // ----- timers -----

    fn fire(&mut self, now: Instant, timer: Timer) {
        self.timers.stop(timer);
        match timer {
            Timer::Handshake => self.on_handshake_timer(now),
            Timer::OpenBackoff => self.maybe_open(now),
            Timer::Loss => {
                let max = self.cfg.max_probes;
                if let Some(a) = self.assoc.as_mut() {
                    self.stats.0.probes += 1;
                    if let Err(reason) = a.on_loss_timer(max) {
                        self.abort_association(now, reason);
                    }
                }
            }
            Timer::Keepalive => {
                if let Some(a) = self.assoc.as_mut().filter(|a| a.phase == Phase::Established) {
                    // With something in flight, loss recovery is already probing the peer;
                    // a PING now would restart the probe timer and hide a dead peer forever.
                    if !a.has_in_flight() {
                        a.ping();
                    }
                    if let Some(k) = self.cfg.keepalive {
                        self.timers.set(Timer::Keepalive, now + k);
                    }
                }
            }
            Timer::Idle => {
                if let Some(a) = self.assoc.as_mut().filter(|a| a.phase == Phase::Established) {
                    if self.hold_open || a.has_in_flight() {
                        self.timers.set(Timer::Idle, now + self.cfg.lifetime);
                    } else {
                        a.close(CloseReason::Idle);
                    }
                }
            }
            Timer::Drain => {
                if self.assoc.as_ref().is_some_and(|a| a.phase == Phase::Draining) {
                    self.assoc = None;
                }
                self.arm_disconnect_if_unused(now);
            }
            Timer::Disconnect => {
                if !self.has_usable_association() && self.attempt.is_none() && self.link != LinkState::Down {
                    self.outbox.push(Output::Bearer(BearerRequest::HangUp));
                    self.link = LinkState::Down;
                }
            }
        }
    }

    fn on_handshake_timer(&mut self, now: Instant) {
        let Some(attempt) = self.attempt.as_mut() else {
            return;
        };
        if attempt.retransmits >= self.cfg.handshake_retransmits {
            self.attempt_failed(now);
            return;
        }
        attempt.retransmits += 1;
        self.stats.0.handshake_retransmits += 1;
        let rto = self.cfg.handshake_rto.saturating_shl(attempt.retransmits);
        let datagram = match &attempt.stage {
            Stage::InitSent => handshake::build_init(&self.cfg, attempt),
            Stage::ConfirmSent(c) => handshake::build_confirm(&self.cfg, attempt, c),
        };
        self.transmit(datagram);
        self.timers.set(Timer::Handshake, now + rto);
    }

    // ----- opening -----

    fn wants_association(&self) -> bool {
        self.hold_open
    }

    fn has_usable_association(&self) -> bool {
        self.assoc.as_ref().is_some_and(|a| a.phase != Phase::Draining)
    }

    fn maybe_open(&mut self, now: Instant) {
        if !self.wants_association()
            || self.cfg.dial == DialPolicy::RemoteOnly
            || self.has_usable_association()
            || self.attempt.is_some()
            || self.timers.is_armed(Timer::OpenBackoff)
        {
            return;
        }
        match self.link {
            LinkState::Down => {
                self.link = LinkState::Dialing;
                self.outbox.push(Output::Bearer(BearerRequest::Dial));
            }
            LinkState::Dialing => {}
            LinkState::Up => self.start_attempt(now),
        }
    }

    fn start_attempt(&mut self, now: Instant) {
        let epoch = self.store.epoch.saturating_add(1);
        self.persist(Record::Epoch(epoch));
        let mut nonce = Nonce::default();
        self.rng.fill(&mut nonce.0);
        let attempt = Attempt {
            tag_i: self.rng.next_nonzero_u64(),
            nonce_i: nonce,
            epoch,
            retransmits: 0,
            stage: Stage::InitSent,
        };
        self.transmit(handshake::build_init(&self.cfg, &attempt));
        self.attempt = Some(attempt);
        self.timers.stop(Timer::Disconnect);
        self.timers.set(Timer::Handshake, now + self.cfg.handshake_rto);
    }

    fn attempt_failed(&mut self, now: Instant) {
        self.attempt = None;
        self.timers.stop(Timer::Handshake);
        self.open_failures = self.open_failures.saturating_add(1);
        self.stats.0.open_failures += 1;
        if self.open_failures > self.cfg.max_open_retries {
            self.event(Event::OpenFailed { attempts: self.open_failures });
            self.open_failures = 0;
            self.hold_open = false;
            self.arm_disconnect_if_unused(now);
            return;
        }
        let backoff =
            self.cfg.open_backoff_start.saturating_shl(self.open_failures - 1).min(self.cfg.open_interval);
        self.timers.set(Timer::OpenBackoff, now + backoff);
    }

    fn on_link_down(&mut self, now: Instant) {
        self.link = LinkState::Down;
        if self.has_usable_association() {
            self.end_association(now, DownReason::LinkLost);
        } else {
            self.assoc = None;
            self.stop_association_timers();
        }
        if self.attempt.is_some() {
            self.attempt_failed(now);
        } else {
            self.maybe_open(now);
        }
    }

    // ----- receive path -----

    fn drop_pdu(&mut self, reason: DropReason) -> Result<(), InputError> {
        self.stats.0.count_drop(reason);
        Err(reason.into())
    }

    fn on_datagram(&mut self, now: Instant, datagram: Bytes) -> Result<(), InputError> {
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
            Body::Accept(_) => self.on_accept(now, &header, &datagram, &raw),
            Body::Stale(s) => self.on_stale(now, &header, s.current_epoch, &datagram, &raw),
            Body::Packet(frames) => self.on_packet(now, &header, &frames, &datagram, &raw),
        }
    }

    /// Drops a refused handshake PDU. A failed proof is reported to the application as an
    /// event and counted; it returns `Ok` because the event is the report (and the only
    /// state it changes is the output queue).
    fn refuse(&mut self, refusal: Refusal, stage: AuthStage) -> Result<(), InputError> {
        match refusal {
            Refusal::Drop(r) => self.drop_pdu(r),
            Refusal::AuthFailed => {
                self.stats.0.count_drop(DropReason::BadAuth);
                self.event(Event::AuthenticationFailed { stage });
                Ok(())
            }
        }
    }

    fn on_init(
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

    fn on_challenge(
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
        let confirming = match handshake::check_challenge(&self.cfg, attempt, header, ch, Summary::default())
        {
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

    fn on_confirm(
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
                self.transmit(handshake::build_accept(&self.cfg, &proposal, Summary::default()));
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
                let accept = handshake::build_accept(&self.cfg, &proposal, Summary::default());
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
                Ok(())
            }
        }
    }

    /// The pending attempt's confirming state if `header` addresses it.
    fn confirming_for(&self, header: &Header) -> Option<(&Attempt, &handshake::Confirming)> {
        let attempt = self.attempt.as_ref()?;
        match &attempt.stage {
            Stage::ConfirmSent(c) if header.dst_tag == attempt.tag_i && header.epoch == attempt.epoch => {
                Some((attempt, c))
            }
            _ => None,
        }
    }

    fn on_accept(
        &mut self,
        now: Instant,
        header: &Header,
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
        Ok(())
    }

    fn on_stale(
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

    fn on_packet(
        &mut self,
        now: Instant,
        header: &Header,
        frames: &[Frame],
        datagram: &Bytes,
        raw: &RawPdu,
    ) -> Result<(), InputError> {
        let for_current = self.assoc.as_ref().is_some_and(|a| a.matches(header));
        if !for_current {
            // Any authentic packet of the association we are confirming implies ACCEPT.
            let implied = self
                .confirming_for(header)
                .filter(|(_, c)| self.cfg.suite.open(&c.keys.recv, datagram, raw))
                .map(|(attempt, c)| initiator_ids(attempt, c));
            match implied {
                Some(ids) => self.establish(now, ids),
                None => return self.drop_pdu(DropReason::Stale),
            }
        }
        let suite = self.cfg.suite;
        let Some(a) = self.assoc.as_mut() else {
            return self.drop_pdu(DropReason::Stale);
        };
        if !a.authentic(suite, datagram, raw) {
            return self.drop_pdu(DropReason::BadAuth);
        }
        let effect = match a.on_packet(now, header.pn, frames) {
            Ok(effect) => effect,
            Err(reason) => return self.drop_pdu(reason),
        };
        if a.phase == Phase::Established {
            if let Some(k) = self.cfg.keepalive {
                self.timers.set(Timer::Keepalive, now + k);
            }
        }
        match effect {
            PacketEffect::None => {}
            PacketEffect::Released(reason) => self.enter_draining(now, reason),
            PacketEffect::PeerAborted(reason) => self.end_association(now, DownReason::PeerAborted(reason)),
            PacketEffect::Violation(reason) => self.abort_association(now, reason),
        }
        Ok(())
    }

    // ----- association lifecycle -----

    fn establish(&mut self, now: Instant, ids: AssociationIds) {
        if self.has_usable_association() {
            self.end_association(now, DownReason::Superseded);
        }
        self.attempt = None;
        self.open_failures = 0;
        self.stats.0.associations += 1;
        let (epoch, role) = (ids.epoch, ids.role);
        let c = &self.cfg;
        self.assoc = Some(Association::new(ids, c.initial_rtt, c.max_ack_delay, c.ack_ranges));
        for t in [Timer::Handshake, Timer::OpenBackoff, Timer::Disconnect, Timer::Drain] {
            self.timers.stop(t);
        }
        self.timers.set(Timer::Idle, now + self.cfg.lifetime);
        if let Some(k) = self.cfg.keepalive {
            self.timers.set(Timer::Keepalive, now + k);
        }
        self.event(Event::AssociationUp { epoch, role });
    }

    fn stop_association_timers(&mut self) {
        for t in [Timer::Loss, Timer::Keepalive, Timer::Idle, Timer::Drain] {
            self.timers.stop(t);
        }
    }

    fn enter_draining(&mut self, now: Instant, reason: CloseReason) {
        let Some(a) = self.assoc.as_ref() else { return };
        let (epoch, period) = (a.epoch, a.drain_period(self.cfg.max_ack_delay, self.cfg.drain_ptos));
        self.stop_association_timers();
        self.timers.set(Timer::Drain, now + period);
        self.event(Event::AssociationDown { epoch, reason: DownReason::Released(reason) });
        self.maybe_open(now);
    }

    fn end_association(&mut self, now: Instant, reason: DownReason) {
        let Some(a) = self.assoc.take() else { return };
        self.stop_association_timers();
        if a.phase != Phase::Draining {
            self.event(Event::AssociationDown { epoch: a.epoch, reason });
        }
        self.maybe_open(now);
        self.arm_disconnect_if_unused(now);
    }

    fn abort_association(&mut self, now: Instant, reason: AbortReason) {
        let suite = self.cfg.suite;
        let sid = self.cfg.sid;
        let Some(a) = self.assoc.as_mut().filter(|a| a.phase != Phase::Draining) else {
            return;
        };
        a.abort(reason);
        if let Some(d) = a.poll_packet(now, suite, sid) {
            self.transmit(d);
        }
        self.end_association(now, DownReason::Aborted(reason));
    }

    fn arm_disconnect_if_unused(&mut self, now: Instant) {
        if self.assoc.is_none()
            && self.attempt.is_none()
            && self.link == LinkState::Up
            && !self.timers.is_armed(Timer::Disconnect)
        {
            self.timers.set(Timer::Disconnect, now + self.cfg.disconnect_delay);
        }
    }

    // ----- output helpers -----

    fn persist(&mut self, record: Record) {
        self.store.apply(&record);
        self.outbox.persist(record);
    }

    fn transmit(&mut self, datagram: Bytes) {
        self.stats.0.datagrams_out += 1;
        self.outbox.push(Output::Transmit(Transmit { datagram }));
    }

    fn event(&mut self, event: Event) {
        self.outbox.push(Output::Event(event));
    }

    /// Moves pending frames into packets and re-syncs the loss timer.
    fn flush(&mut self, now: Instant) {
        let (suite, sid) = (self.cfg.suite, self.cfg.sid);
        let mut out = alloc::vec::Vec::new();
        if let Some(a) = self.assoc.as_mut() {
            while let Some(d) = a.poll_packet(now, suite, sid) {
                out.push(d);
            }
        }
        for d in out {
            self.transmit(d);
        }
        let deadline = self.assoc.as_ref().and_then(Association::loss_deadline);
        self.timers.set_opt(Timer::Loss, deadline);
    }
}

fn initiator_ids(attempt: &Attempt, c: &handshake::Confirming) -> AssociationIds {
    AssociationIds {
        role: Role::Initiator,
        epoch: attempt.epoch,
        local_tag: attempt.tag_i,
        peer_tag: c.tag_r,
        params: c.params,
        keys: c.keys,
    }
}

/// Keeps `Duration` in the public signature set used by docs.
#[allow(dead_code)]
fn _uses(_: Duration) {}
