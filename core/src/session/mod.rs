//! The session: one long-lived relationship with one named peer, and the single entry
//! point of the core. It owns the persistent state, the handshake attempt, the current
//! association, the sender and receiver, the timers and the output queue.
//!
//! `mod.rs` holds the API, timers, opening and the association lifecycle; `receive.rs`
//! parses and dispatches every received datagram; `handshake_pdus.rs` handles received
//! handshake PDUs; `transfer.rs` the data phase; `reset.rs` the stateless reset; `idle.rs`
//! when the session may be evicted.

mod handshake_pdus;
mod idle;
mod receive;
mod reset;
mod transfer;

pub(crate) use idle::Idleness;
pub use reset::RESET_LEN;
pub(crate) use reset::{may_reset, seal_reset, ResetGround};

use alloc::sync::Arc;
use bytes::Bytes;

use crate::association::{Association, NewAssociation, Phase};
use crate::association_id::AssociationId;
use crate::config::{Config, ConfigError, DialPolicy};
use crate::crypto::{InitRateLimiter, Key};
use crate::handshake::{self, Attempt, Stage};
use crate::input::{Ack, Input, InputError, Verdict};
use crate::message::{AckError, MessageId, MessageState, NonDelivery, Outcome, Submission, SubmitError};
use crate::outbox::Outbox;
use crate::output::{BearerRequest, DownReason, Event, Output, Transmit};
use crate::persist::{Record, SessionStore};
use crate::receiver::Receiver;
use crate::remote::Remote;
use crate::rng::Rng;
use crate::sender::{Finished, Sender};
use crate::source_limit::SourceLimiter;
use crate::stats::{Stats, Unobserved};
use crate::time::Instant;
use crate::timer::{Timer, TimerTable};
use crate::wire::{AbortReason, CloseReason, Nonce};

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

/// The current association: which one, and whether it is usable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct AssociationInfo {
    /// Which association.
    pub id: AssociationId,
    /// Whether it is established (not closing or draining).
    pub usable: bool,
}

/// The sans-IO session state machine. See the crate docs for the drain contract.
///
/// All state is plain data: `Clone + Debug + Eq + Hash`, bounded by [`Config`]. Statistics,
/// the budgets for unauthenticated handshake PDUs and for stateless resets, and the count
/// of reported authentication failures are excluded from `Eq`/`Hash` (a budget only
/// decides whether such a PDU is answered, which is indistinguishable from its loss; the
/// count only decides when [`Event::WrongKey`] ends opening, a visible change).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Session {
    cfg: Arc<Config>,
    store: SessionStore,
    rng: Rng,
    cookie_secret: Key,
    link: LinkState,
    hold_open: bool,
    open_failures: u32,
    /// Our open attempts' authentication failures in a row (`Config::max_auth_failures`).
    /// Like the report budget it is outside `Eq`/`Hash`: only reported failures (driven by
    /// unauthenticated input) move it, and what it decides is visible as `wrong_key`.
    auth_failures: Unobserved<u32>,
    /// Opening stopped on a wrong key (`Event::WrongKey`) until the application asks again.
    wrong_key: bool,
    /// The last association released in order and drained, as `(epoch, local_tag)`: its
    /// late packets are absorbed as during the drain, not answered with a RESET (the peer
    /// released it too). Volatile: after a restart every unknown packet may be answered.
    drained: Option<(u64, u64)>,
    /// Where association traffic goes: set by the driver's `LinkUp { peer }`, then moved
    /// only by a PDU that proved the key (`PROTOCOL.md`, "Remotes and address validation").
    /// Volatile, like the link.
    peer_remote: Option<Remote>,
    attempt: Option<Attempt>,
    assoc: Option<Association>,
    sender: Sender,
    receiver: Receiver,
    timers: TimerTable,
    outbox: Outbox,
    /// A flush stopped early because the driver had not drained the outbox (at this time):
    /// [`Session::poll_output`] resumes it once the outbox is empty, so the work is not left
    /// waiting for the next input or timer.
    deferred_flush: Option<Instant>,
    stats: Unobserved<Stats>,
    auth_budget: Unobserved<InitRateLimiter>,
    reset_budget: Unobserved<InitRateLimiter>,
    /// Per-source buckets for unauthenticated INITs (`Config::source_limits`).
    source_limiter: Unobserved<SourceLimiter>,
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
    /// mixed with the persisted epoch so that even a reused seed never repeats tags. A store
    /// with unresolved messages arms a timer that is already due: call
    /// `handle_input(now, Input::Timeout)` (or feed any input) to start reconnecting.
    ///
    /// Nothing volatile survives: send [`Input::LinkUp`] again once the bearer is up, and
    /// [`Input::Open`] again if an association should be held open. The first outputs are
    /// every delivery ([`Event::Delivered`], in msn order) and every outcome
    /// ([`Event::Outcome`], in id order) the application has not acknowledged, with the
    /// ids they had before the crash.
    pub fn restore(config: Config, store: SessionStore, seed: u64) -> Result<Session, ConfigError> {
        config.validate()?;
        Ok(Session::restore_validated(Arc::new(config), store, seed))
    }

    /// [`Session::restore`] with a shared, already validated config (an endpoint keeps one
    /// per peer whether or not the session is in memory).
    pub(crate) fn restore_validated(config: Arc<Config>, store: SessionStore, seed: u64) -> Session {
        let mut rng = Rng::new(seed ^ store.epoch.wrapping_mul(0xA076_1D64_78BD_642F));
        let mut secret = [0u8; 32];
        rng.fill(&mut secret);
        let sender = Sender::rebuild(&store);
        let auth_budget = Unobserved(InitRateLimiter::new(config.init_budget));
        let reset_budget = Unobserved(InitRateLimiter::new(config.reset_budget));
        let source_limiter = Unobserved(SourceLimiter::new(config.source_limits));
        let mut session = Session {
            cfg: config,
            store,
            rng,
            cookie_secret: Key(secret),
            link: LinkState::Down,
            hold_open: false,
            open_failures: 0,
            auth_failures: Unobserved(0),
            wrong_key: false,
            drained: None,
            peer_remote: None,
            attempt: None,
            assoc: None,
            sender,
            receiver: Receiver::default(),
            timers: TimerTable::default(),
            outbox: Outbox::default(),
            deferred_flush: None,
            stats: Unobserved::default(),
            auth_budget,
            reset_budget,
            source_limiter,
        };
        // Unresolved messages want an association: ask to be woken at once.
        if Sender::has_work(&session.store) {
            session.timers.set(Timer::OpenBackoff, Instant::ZERO);
        }
        session.report_unacknowledged();
        session
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
    /// Where association traffic goes: the remote the driver named in `LinkUp { peer }`,
    /// or the source of the last PDU that proved the key (an authentic PACKET of the
    /// association, a CONFIRM or ACCEPT whose proof verified). Never moved by an INIT, a
    /// CHALLENGE, a STALE, a RESET, a replay or a failed proof. `None` until known.
    pub fn peer_remote(&self) -> Option<Remote> {
        self.peer_remote
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
        self.assoc.as_ref().map(|a| AssociationInfo { id: a.id, usable: a.phase == Phase::Established })
    }
    /// Timers currently armed with their deadlines, in table order: for inspection (the
    /// model checker, tests). A driver takes its deadline from [`Output::Wait`].
    pub fn armed_timers(&self) -> impl Iterator<Item = (Timer, Instant)> + '_ {
        self.timers.armed().filter_map(|t| self.timers.get(t).map(|d| (t, d)))
    }
    /// Unresolved outbound messages with the receiver's reported durable prefix of each:
    /// where the next association resumes them. Never ahead of the receiver's durable state.
    pub fn resume_points(&self) -> impl Iterator<Item = (MessageId, u64)> + '_ {
        self.sender.resume_points()
    }

    /// Seals `frames` as this side's next packet of the current association, bypassing the
    /// state machine: what an authentic but misbehaving peer could send. For adversarial
    /// tests and fuzzers only (the `sim` feature); hidden from the docs.
    #[cfg(feature = "sim")]
    #[doc(hidden)]
    pub fn seal_raw_packet(
        &mut self,
        now: Instant,
        frames: alloc::vec::Vec<crate::wire::Frame>,
    ) -> Option<Bytes> {
        let (suite, sid) = (self.cfg.suite, self.cfg.sid);
        let a = self.assoc.as_mut().filter(|_| !frames.is_empty())?;
        Some(a.seal_packet(now, suite, sid, frames))
    }

    /// Sequence number of the last record issued (0: none): the highest
    /// [`Input::Persisted`] `{ upto }` the session accepts.
    pub fn records_issued(&self) -> u64 {
        self.outbox.issued()
    }

    /// Outputs queued and not yet drained (including ones held by the write barrier).
    pub fn pending_outputs(&self) -> usize {
        self.outbox.len()
    }

    // ----- outputs -----

    /// The next output. Call it after every input until it returns [`Output::Wait`]: that
    /// ends the drain and carries the earliest timer deadline, at which the driver feeds
    /// [`Input::Timeout`] (see the crate docs for the loop).
    ///
    /// `Persist` records come first and never wait; other outputs wait until every record
    /// issued before them is durable ([`Input::Persisted`]). When an input's packets were
    /// held back because too many outputs waited undrained, draining the queue to its end
    /// produces them here (so keep calling until `Wait`). An idle call is O(1): the
    /// earliest deadline is cached.
    #[must_use = "an output is something to do; drain until `Wait`"]
    pub fn poll_output(&mut self) -> Output {
        if mutated!(self.cfg, AckBeforeFsync) {
            self.outbox.assume_durable();
        }
        if let Some(out) = self.outbox.pop() {
            return out;
        }
        if self.outbox.waiting() < self.max_waiting_outputs() {
            if let Some(now) = self.deferred_flush.take() {
                self.flush(now);
                if let Some(out) = self.outbox.pop() {
                    return out;
                }
            }
        }
        Output::Wait { until: self.next_deadline() }
    }

    /// The earliest deadline of any armed timer (cached, O(1)). Right after `Timeout` at
    /// `now` it is never `<= now`.
    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        self.timers.next()
    }

    // ----- inputs -----

    /// Feeds one input and says what became of it: [`Verdict::Accepted`] (authentic, or a
    /// local input applied), [`Verdict::Answered`] (answered statelessly, nothing else
    /// changed) or [`Verdict::Dropped`] (counted; the session is unchanged apart from
    /// counters and, for a failed handshake proof within its budget, an
    /// [`Event::AuthenticationFailed`]). `Err` reports an input that could not be used at
    /// all (undecodable bytes, a refused command); the session is unchanged by it (apart
    /// from counters) and keeps working.
    pub fn handle_input(&mut self, now: Instant, input: Input) -> Result<Verdict, InputError> {
        let queued = self.outbox.len();
        let from = match &input {
            Input::Datagram { from, .. } => Some(*from),
            _ => None,
        };
        let result = match input {
            Input::Datagram { from, datagram } => self.on_datagram(now, from, datagram),
            Input::Timeout => {
                // Fire everything due; a flush may arm a timer that is due already (a
                // message that expires now), so repeat until nothing is due.
                for _ in 0..MAX_TIMERS_PER_TIMEOUT {
                    match self.timers.first_due(now) {
                        Some(t) => self.fire(now, t),
                        None => {
                            self.flush(now);
                            if self.timers.first_due(now).is_none() {
                                break;
                            }
                        }
                    }
                }
                Ok(Verdict::Accepted)
            }
            Input::Persisted { upto } => self
                .outbox
                .persisted(upto)
                .map(|()| Verdict::Accepted)
                .map_err(|issued| InputError::PersistedBeyondIssued { upto, issued }),
            Input::LinkUp { peer } => {
                self.on_link_up(now, peer);
                Ok(Verdict::Accepted)
            }
            Input::LinkDown => {
                self.on_link_down(now);
                Ok(Verdict::Accepted)
            }
            Input::DialFailed => {
                self.on_dial_failed(now);
                Ok(Verdict::Accepted)
            }
            Input::Open => {
                self.hold_open = true;
                self.wrong_key = false;
                self.maybe_open(now);
                Ok(Verdict::Accepted)
            }
            Input::Release => {
                self.hold_open = false;
                if mutated!(self.cfg, ReleaseDropsInFlight) {
                    // The historical bug: releasing the association gives up what is in flight.
                    self.give_up_in_flight();
                }
                if self.attempt.take().is_some() {
                    self.timers.stop(Timer::Handshake);
                }
                if let Some(a) = self.assoc.as_mut() {
                    a.close(CloseReason::Requested);
                }
                self.arm_disconnect_if_unused(now);
                Ok(Verdict::Accepted)
            }
            Input::Abort => {
                self.abort_association(now, AbortReason::Requested);
                if mutated!(self.cfg, AbortDropsInFlight) {
                    // The historical bug: tearing the association down gives up what is in flight.
                    self.give_up_in_flight();
                }
                Ok(Verdict::Accepted)
            }
            Input::Submit(submission) => {
                self.on_submit(now, submission).map(|_| Verdict::Accepted).map_err(InputError::Submit)
            }
            Input::Cancel(id) => self.cancel(id).map(|()| Verdict::Accepted),
            Input::Acknowledge(ack) => self.acknowledge(ack).map(|()| Verdict::Accepted),
        };
        // A dropped or rejected input leaves the session exactly as it was: no deferred work
        // either — unless it was reported (a failed proof within its budget queues an event).
        let reported = matches!(result, Ok(Verdict::Dropped(_))) && self.outbox.len() > queued;
        if matches!(result, Ok(Verdict::Accepted | Verdict::Answered)) || reported {
            if let Some(from) = from.filter(|_| mutated!(self.cfg, RemoteFollowsAnyAccepted)) {
                // The historical bug: the driver took the source of anything the session
                // did not refuse (`Ok`) as the peer, answered INITs and reported failures too.
                self.peer_remote = Some(from);
            }
            self.flush(now);
        }
        result
    }

    /// Fires one named timer now, trusting the firing: the handler does not compare `now`
    /// with the deadline. Firing a timer that is not armed does nothing. Test tooling for
    /// the model checker (which fires any armed timer at any step) and for tests; drivers
    /// feed [`Input::Timeout`].
    #[cfg(feature = "model-hooks")]
    pub fn handle_timer(&mut self, now: Instant, timer: Timer) {
        if self.timers.is_armed(timer) {
            self.fire(now, timer);
        }
        self.flush(now);
    }

    /// `handle_input(now, Input::Submit(..))` that returns the message's id: a new one, or
    /// — when the session already holds a message with this application id (queued, in
    /// flight, or finished within the idempotency window) — that message's id, with nothing
    /// new queued. [`Session::submitted`] tells where it stands.
    pub fn submit(&mut self, now: Instant, submission: Submission) -> Result<MessageId, SubmitError> {
        let result = self.on_submit(now, submission);
        if result.is_ok() {
            self.flush(now);
        }
        result
    }

    /// The message the session holds under application id `app_id` (queued, in flight, or
    /// finished within the idempotency window) and its state.
    pub fn submitted(&self, app_id: u64) -> Option<(MessageId, MessageState)> {
        self.store.submitted(app_id)
    }

    /// Takes custody of a submission, or finds the message that already has its app id.
    fn on_submit(&mut self, now: Instant, submission: Submission) -> Result<MessageId, SubmitError> {
        if !mutated!(self.cfg, IgnoreIdempotencyKey) {
            if let Some((id, state)) = self.store.submitted(submission.app_id) {
                // Custody is (or is about to be) durable: say so again, so a driver that
                // waits for `Queued` after a crash learns it. An outcome has its own event.
                if !matches!(state, MessageState::Finished { .. }) {
                    self.event(Event::Queued { id, app_id: submission.app_id });
                }
                return Ok(id);
            }
        }
        let (id, message) = Sender::submit(&self.cfg, &self.store, now, submission)?;
        let queued = Event::Queued { id, app_id: message.app_id };
        self.persist(Record::Submitted { id, message });
        // A new message asks for an association again, even after a wrong key.
        self.wrong_key = false;
        self.event(queued);
        self.maybe_open(now);
        Ok(id)
    }

    /// The application processed a delivery or an outcome: persist it, so a restore does
    /// not report it again; a delivery that waited for room in the inbox may follow.
    fn acknowledge(&mut self, ack: Ack) -> Result<(), InputError> {
        match ack {
            Ack::Delivery(msn) if !self.store.inbox.contains_key(&msn) => {
                return Err(AckError::UnknownDelivery(msn).into())
            }
            Ack::Outcome(id) if !self.store.outcomes.contains_key(&id) => {
                return Err(AckError::UnknownOutcome(id).into())
            }
            Ack::Delivery(_) => {
                self.persist(Record::Acknowledged(ack));
                self.deliver_ready();
            }
            Ack::Outcome(_) => {
                self.persist(Record::Acknowledged(ack));
                let window = self.cfg.idempotency_window as usize;
                while self.store.remembered.len() > window {
                    let Some(&id) = self.store.remembered.keys().next() else { break };
                    self.persist(Record::Forgotten { id });
                }
            }
        }
        Ok(())
    }

    /// Queues every delivery and outcome the application has not acknowledged (at restore).
    fn report_unacknowledged(&mut self) {
        let deliveries = self.store.inbox.iter().map(|(msn, d)| Event::Delivered {
            msn: *msn,
            app_id: d.app_id,
            bytes: d.bytes.clone(),
        });
        let outcomes = self.store.outcomes.iter().map(|(id, f)| Event::Outcome {
            id: *id,
            app_id: f.app_id,
            outcome: f.outcome,
        });
        let events: alloc::vec::Vec<Event> = deliveries.chain(outcomes).collect();
        for e in events {
            self.event(e);
        }
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
            Timer::Ack => {
                if let Some(a) = self.assoc.as_mut() {
                    a.on_ack_timer();
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
            Timer::Expiry => {
                // Trust the firing: expire what was due at the armed deadline.
                if let Some(at) = self.sender.next_deadline() {
                    let (records, done) = self.sender.expire(&self.cfg, &self.store, at);
                    for r in records {
                        self.persist(r);
                    }
                    for f in done {
                        self.finish(f);
                    }
                }
            }
            Timer::Idle => {
                let busy = Sender::has_work(&self.store);
                if let Some(a) = self.assoc.as_mut().filter(|a| a.phase == Phase::Established) {
                    if self.hold_open || busy || a.has_in_flight() {
                        self.timers.set(Timer::Idle, now + self.cfg.lifetime);
                    } else {
                        a.close(CloseReason::Idle);
                    }
                }
            }
            Timer::Drain => {
                if let Some(a) = self.assoc.take_if(|a| a.phase == Phase::Draining) {
                    self.drained = Some((a.id.epoch, a.id.local_tag));
                }
                self.arm_disconnect_if_unused(now);
            }
            Timer::Disconnect => {
                // Behind a full output queue a HangUp would only wait (and the next LinkUp
                // would queue another): look again later.
                if self.outbox.waiting() >= self.max_waiting_outputs() {
                    self.timers.set(Timer::Disconnect, now + self.cfg.disconnect_delay);
                    return;
                }
                if !self.has_usable_association() && self.attempt.is_none() && self.link != LinkState::Down {
                    self.outbox.push(Output::Bearer(BearerRequest::HangUp));
                    self.link = LinkState::Down;
                }
            }
        }
    }

    fn on_handshake_timer(&mut self, now: Instant) {
        let backlogged = self.outbox.waiting() >= self.max_waiting_outputs();
        let Some(attempt) = self.attempt.as_mut() else {
            return;
        };
        if attempt.retransmits >= self.cfg.handshake_retransmits {
            self.attempt_failed(now);
            return;
        }
        // While the driver lags, the INIT or CONFIRM sent last still waits in the output
        // queue: another copy would only pile up. Look again one RTO later.
        if backlogged {
            let rto = self.cfg.handshake_rto.saturating_shl(attempt.retransmits);
            self.timers.set(Timer::Handshake, now + rto);
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
        self.hold_open || Sender::has_work(&self.store)
    }

    fn has_usable_association(&self) -> bool {
        self.assoc.as_ref().is_some_and(|a| a.phase != Phase::Draining)
    }

    /// Starts opening if an association is wanted and none is usable or being opened —
    /// but not while the output queue is at its bound (`max_waiting_outputs`): a `Dial` or
    /// an INIT would only wait behind the rest, and every new attempt would add one more.
    /// Every input ends in `flush`, which calls this again (the driver's `Persisted`, which
    /// drains the queue, included).
    fn maybe_open(&mut self, now: Instant) {
        if !self.wants_association()
            || self.wrong_key
            || self.cfg.dial == DialPolicy::RemoteOnly
            || self.has_usable_association()
            || self.attempt.is_some()
            || self.timers.is_armed(Timer::OpenBackoff)
            || self.outbox.waiting() >= self.max_waiting_outputs()
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

    /// Starts an open attempt (an `Epoch` record and an INIT) — unless the output queue is
    /// at its bound, as in `maybe_open` (a STALE answer restarts here directly); the next
    /// input tries again through `maybe_open`.
    fn start_attempt(&mut self, now: Instant) {
        if self.outbox.waiting() >= self.max_waiting_outputs() {
            return;
        }
        // Nowhere to send the INIT (a listening socket that never heard from the peer):
        // the attempt fails at once, as a failed dial would.
        if self.peer_remote.is_none() {
            self.attempt_failed(now);
            return;
        }
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
            // Never-sent messages may be given up; in-doubt ones stay until the receiver
            // resolves them, so opening goes on at the longest interval.
            for f in Sender::open_failed(&self.store) {
                self.finish(f);
            }
            if self.sender.has_in_doubt() {
                self.timers.set(Timer::OpenBackoff, now + self.cfg.open_interval);
            }
            self.arm_disconnect_if_unused(now);
            return;
        }
        let backoff =
            self.cfg.open_backoff_start.saturating_shl(self.open_failures - 1).min(self.cfg.open_interval);
        self.timers.set(Timer::OpenBackoff, now + backoff);
    }

    /// One more of our attempts met a peer holding another PSK. After
    /// `max_auth_failures` in a row, stop opening and say so: retrying cannot help, and the
    /// messages stay queued for when the keys agree.
    fn auth_failed(&mut self, now: Instant) {
        let failures = self.auth_failures.0.saturating_add(1);
        self.auth_failures.0 = failures;
        let max = self.cfg.max_auth_failures;
        if max == 0 || failures < max {
            return;
        }
        self.event(Event::WrongKey { failures });
        self.stats.0.wrong_key += 1;
        self.auth_failures.0 = 0;
        self.open_failures = 0;
        self.wrong_key = true;
        self.hold_open = false;
        self.attempt = None;
        for t in [Timer::Handshake, Timer::OpenBackoff] {
            self.timers.stop(t);
        }
        self.arm_disconnect_if_unused(now);
    }

    /// The bearer is up; `peer`, if the driver names one, is where the peer is (its own
    /// word: the configured address, the dialled connection). A dial answered without a
    /// peer while none is known cannot reach anyone: it failed.
    fn on_link_up(&mut self, now: Instant, peer: Option<Remote>) {
        if peer.is_some() {
            self.peer_remote = peer;
        } else if self.peer_remote.is_none() && self.link == LinkState::Dialing {
            self.on_dial_failed(now);
            return;
        }
        self.link = LinkState::Up;
        self.maybe_open(now);
        self.arm_disconnect_if_unused(now);
    }

    fn on_dial_failed(&mut self, now: Instant) {
        if self.link == LinkState::Dialing {
            self.link = LinkState::Down;
            self.attempt_failed(now);
        }
    }

    /// A PDU from `from` proved the key: the peer is there now (`PROTOCOL.md`, "Remotes and
    /// address validation").
    pub(super) fn peer_proved_at(&mut self, from: Remote) {
        self.peer_remote = Some(from);
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

    // ----- association lifecycle -----

    fn establish(&mut self, now: Instant, new: NewAssociation) {
        if self.has_usable_association() {
            self.end_association(now, DownReason::Superseded);
        }
        self.attempt = None;
        self.open_failures = 0;
        self.auth_failures.0 = 0;
        self.stats.0.associations += 1;
        let AssociationId { epoch, role, .. } = new.id;
        let c = &self.cfg;
        self.assoc =
            Some(Association::new(new, c.initial_rtt, c.max_ack_delay, c.ack_frequency, c.ack_ranges));
        self.sender.on_association_up(&self.cfg, &self.store);
        self.receiver.on_association_up();
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
        for t in [Timer::Loss, Timer::Ack, Timer::Keepalive, Timer::Idle, Timer::Drain] {
            self.timers.stop(t);
        }
    }

    fn enter_draining(&mut self, now: Instant, reason: CloseReason) {
        let Some(a) = self.assoc.as_ref() else { return };
        let (epoch, period) = (a.id.epoch, a.drain_period(self.cfg.max_ack_delay, self.cfg.drain_ptos));
        self.stop_association_timers();
        self.timers.set(Timer::Drain, now + period);
        self.event(Event::AssociationDown { epoch, reason: DownReason::Released(reason) });
        self.maybe_open(now);
    }

    fn end_association(&mut self, now: Instant, reason: DownReason) {
        let Some(a) = self.assoc.take() else { return };
        self.stop_association_timers();
        if a.phase != Phase::Draining {
            self.event(Event::AssociationDown { epoch: a.id.epoch, reason });
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
        let mut budget = usize::MAX;
        let frames = a.control_frames(now, &mut budget);
        let datagram = a.seal_packet(now, suite, sid, frames);
        self.transmit(datagram);
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
        self.sender.observe(&self.store, &record);
        if !(matches!(record, Record::Epoch(_)) && mutated!(self.cfg, EpochNotAdopted)) {
            self.store.apply(&record);
        }
        self.outbox.persist(record);
    }

    /// Gives up every message in flight (non-delivered). Only mutations do this: the
    /// protocol never decides a sent message's fate without the receiver's word.
    fn give_up_in_flight(&mut self) {
        let in_flight: alloc::vec::Vec<Finished> = self
            .store
            .outbound
            .iter()
            .filter(|(_, m)| m.msn.is_some())
            .map(|(id, m)| Finished {
                id: *id,
                app_id: m.app_id,
                outcome: Outcome::NonDelivered(NonDelivery::Cancelled),
            })
            .collect();
        for f in in_flight {
            self.finish(f);
        }
    }

    /// Queues association traffic for the peer's current remote. With none known (only
    /// possible before any authenticated contact) it is counted as unrouted and dropped.
    fn transmit(&mut self, datagram: Bytes) {
        match self.peer_remote {
            Some(to) => self.answer(to, datagram),
            None => self.stats.0.unrouted += 1,
        }
    }

    /// Queues a datagram for `to`: a stateless answer goes back to the PDU it answers.
    pub(super) fn answer(&mut self, to: Remote, datagram: Bytes) {
        self.stats.0.datagrams_out += 1;
        self.outbox.push(Output::Transmit(Transmit { to, datagram }));
    }

    fn event(&mut self, event: Event) {
        self.outbox.push(Output::Event(event));
    }

    /// Records an outcome and reports it: exactly once per message.
    fn finish(&mut self, Finished { id, app_id, outcome }: Finished) {
        if !self.store.outbound.contains_key(&id) {
            return;
        }
        self.persist(Record::Finished { id, outcome });
        self.event(Event::Outcome { id, app_id, outcome });
    }
}
