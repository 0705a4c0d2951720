//! The glue both drivers share: a [`Session`], its [`Store`], and the application's
//! waiting replies. No protocol logic lives here — only the drain contract:
//!
//! 1. feed inputs ([`Engine::pdu`], [`Engine::tick`], [`Engine::command`]);
//! 2. [`Engine::flush`]: drain every output; collect the `Persist` records drained in one go,
//!    commit them in **one** write transaction, report `Persisted { upto }`, and drain again
//!    until nothing is left. Transmits and bearer requests come out as [`Effect`]s for the
//!    driver; events go to the application.
//!
//! Idempotent submission and the re-reporting of unacknowledged deliveries and outcomes
//! after a restart are the core's (the application's acknowledgements go in as
//! `Input::Acknowledge`); nothing here keeps its own copy of either.
//!
//! Drivers batch several inputs before one flush, so one commit (one `fsync`) covers
//! everything that arrived together: group commit.

use std::collections::HashMap;

use assoc_core::{
    Ack, BearerRequest, Event, Input, InputError, Instant, MessageId, MessageState, Output, Remote, Session,
    StoredInbound, Submission, Verdict,
};
use bytes::Bytes;

use crate::api::{Acker, BearerState, Delivery, Error, IoStats, Options, OutcomeReport, Snapshot};
use crate::clock::os_seed;
use crate::recorder::Recorder;
use crate::store::Store;
use assoc_core::impair::ImpairStats;

/// A reply to a waiting caller, whatever channel its driver uses.
pub(crate) type Reply<T> = Box<dyn FnOnce(T) + Send>;

/// What the application asks of the driver.
pub(crate) enum Command {
    /// Take custody of a message; reply once it is durably queued.
    Submit {
        submission: Submission,
        /// Choose a fresh app id (`true`), or use the given one — the session returns the
        /// earlier message's id if it holds that app id already (`false`).
        auto_app_id: bool,
        reply: Reply<Result<MessageId, Error>>,
    },
    /// Give up on a message.
    Cancel { id: MessageId, reply: Reply<Result<(), Error>> },
    /// The application is done with a delivery or an outcome.
    Ack(Ack),
    /// Keep an association up.
    Open,
    /// Release the association.
    Release,
    /// Force the bearer down (tests and operators).
    DropLink,
    /// Report a snapshot.
    Snapshot(Reply<Snapshot>),
    /// Release, wait up to the grace period, stop.
    Shutdown,
}

/// What the driver must do with the bearer.
#[derive(Debug)]
pub(crate) enum Effect {
    /// Send `pdu` to `to` (the core chose it).
    Transmit {
        to: Remote,
        pdu: Bytes,
    },
    Bearer(BearerRequest),
}

/// Where deliveries and outcomes go.
pub(crate) struct Sinks {
    pub(crate) deliver: Box<dyn FnMut(Delivery) + Send>,
    pub(crate) report: Box<dyn FnMut(OutcomeReport) + Send>,
    pub(crate) acker: Acker,
}

pub(crate) struct Engine {
    session: Session,
    store: Store,
    sinks: Sinks,
    /// Submissions waiting for their `Queued` event (a resubmission of an unresolved
    /// message waits for the same one).
    pending: HashMap<MessageId, Vec<Reply<Result<MessageId, Error>>>>,
    max_app_id: u64,
    delivered: u64,
    outcomes: u64,
    /// The flight recorder, if this endpoint records.
    recorder: Option<Recorder>,
    /// The deadline the session's last drain ended with (`Output::Wait`).
    deadline: Option<Instant>,
}

impl Engine {
    pub(crate) fn new(options: &Options, store: Store, sinks: Sinks) -> Result<Engine, Error> {
        let seed = options.seed.unwrap_or_else(os_seed);
        let session = Session::restore(options.config.clone(), store.session_store().clone(), seed)?;
        let recorder = match &options.record {
            Some(r) => Some(
                Recorder::start(r, seed, &options.config, store.session_store()).map_err(Error::Recorder)?,
            ),
            None => None,
        };
        let max_app_id = store.max_app_id();
        Ok(Engine {
            session,
            store,
            sinks,
            pending: HashMap::new(),
            max_app_id,
            delivered: 0,
            outcomes: 0,
            recorder,
            deadline: None,
        })
    }

    /// Hands the application what the restored session reports from before: the
    /// deliveries and outcomes it has not acknowledged (a restore queues only events).
    pub(crate) fn start(&mut self) -> Result<(), Error> {
        loop {
            let output = self.session.poll_output();
            if let Output::Wait { until } = output {
                self.deadline = until;
                break;
            }
            if let Some(r) = &mut self.recorder {
                r.output(&output);
            }
            match output {
                Output::Event(e) => self.on_event(e),
                other => tracing::debug!("output at start ignored: {other:?}"),
            }
        }
        if let Some(r) = &mut self.recorder {
            // The restore's own drain is part of the recording: replay compares it too.
            r.drained(self.deadline);
            r.flush();
        }
        Ok(())
    }

    /// Hands the session one input — the only way in, so the recorder sees them all.
    fn feed(&mut self, now: Instant, input: Input) -> Result<Verdict, InputError> {
        let Some(recorder) = &mut self.recorder else { return self.session.handle_input(now, input) };
        let copy = input.clone(); // cheap: contents are reference-counted `Bytes`
        let result = self.session.handle_input(now, input);
        recorder.input(now, &copy, &result);
        result
    }

    /// Feeds a core input (link up/down, dial failed, …).
    pub(crate) fn input(&mut self, now: Instant, input: Input) {
        if let Err(e) = self.feed(now, input) {
            tracing::debug!("input refused: {e}");
        }
    }

    /// Feeds one PDU received from `from`; returns the core's verdict (`None`: the bytes
    /// were not a PDU at all).
    pub(crate) fn pdu(&mut self, now: Instant, from: Remote, datagram: Bytes) -> Option<Verdict> {
        match self.feed(now, Input::Datagram { from, datagram }) {
            Ok(verdict) => {
                if let Verdict::Dropped(reason) = verdict {
                    tracing::trace!(?from, "pdu dropped: {reason}");
                }
                Some(verdict)
            }
            Err(e) => {
                tracing::trace!(?from, "not a pdu: {e}");
                None
            }
        }
    }

    /// Where the core sends association traffic now.
    pub(crate) fn peer_remote(&self) -> Option<Remote> {
        self.session.peer_remote()
    }

    /// The session's next deadline, as its last drain ended ([`Output::Wait`]).
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Fires the session's timers if the clock reached the deadline of the last drain. Inputs
    /// since that drain may have moved it: a `Timeout` that finds nothing due fires nothing,
    /// and a deadline moved earlier is seen by the next drain.
    pub(crate) fn tick(&mut self, now: Instant) {
        if self.deadline.is_some_and(|t| t <= now) {
            self.input(now, Input::Timeout);
        }
    }

    /// Handles an application command; returns the ones that concern the driver itself.
    pub(crate) fn command(&mut self, now: Instant, cmd: Command) -> Result<Option<Command>, Error> {
        match cmd {
            Command::Submit { submission, auto_app_id, reply } => {
                self.submit(now, submission, auto_app_id, reply)?
            }
            Command::Cancel { id, reply } => match self.feed(now, Input::Cancel(id)) {
                Ok(_) => reply(Ok(())),
                Err(_) => reply(Err(Error::UnknownMessage(id))),
            },
            Command::Ack(a) => self.acknowledge(now, a),
            Command::Open => self.input(now, Input::Open),
            Command::Release => self.input(now, Input::Release),
            other => return Ok(Some(other)),
        }
        Ok(None)
    }

    fn submit(
        &mut self,
        now: Instant,
        mut submission: Submission,
        auto_app_id: bool,
        reply: Reply<Result<MessageId, Error>>,
    ) -> Result<(), Error> {
        if auto_app_id {
            submission.app_id = self.max_app_id + 1;
        }
        let app_id = submission.app_id;
        let copy = self.recorder.is_some().then(|| Input::Submit(submission.clone()));
        let submitted = self.session.submit(now, submission);
        if let (Some(r), Some(input)) = (&mut self.recorder, copy) {
            // `submit` is `handle_input(Submit)` returning the id; replay feeds the input.
            let answer = submitted.as_ref().map(|_| Verdict::Accepted).map_err(|e| InputError::Submit(*e));
            r.input(now, &input, &answer);
        }
        match submitted {
            Ok(id) => {
                self.max_app_id = self.max_app_id.max(app_id);
                match self.session.submitted(app_id) {
                    // A resubmission of a finished message: no `Queued` comes.
                    Some((_, MessageState::Finished { .. })) => reply(Ok(id)),
                    _ => self.pending.entry(id).or_default().push(reply),
                }
            }
            Err(e) => reply(Err(Error::Submit(e))),
        }
        Ok(())
    }

    /// The application is done with a delivery or an outcome: the session persists it.
    fn acknowledge(&mut self, now: Instant, ack: Ack) {
        // Refused only for something acknowledged already (an event reported again after a
        // restart and acknowledged twice): nothing to do.
        if let Err(e) = self.feed(now, Input::Acknowledge(ack)) {
            tracing::debug!("acknowledgement ignored: {e}");
        }
    }

    /// Drains the session: transmits and bearer requests into `out`, records committed in
    /// one transaction per barrier, events to the application.
    pub(crate) fn flush(&mut self, now: Instant, out: &mut Vec<Effect>) -> Result<(), Error> {
        loop {
            let mut records = Vec::new();
            let mut upto = 0;
            loop {
                let output = self.session.poll_output();
                if let Output::Wait { until } = output {
                    self.deadline = until;
                    break;
                }
                if let Some(r) = &mut self.recorder {
                    r.output(&output);
                }
                match output {
                    Output::Persist { seq, record } => {
                        records.push(record);
                        upto = seq;
                    }
                    Output::Transmit(t) => out.push(Effect::Transmit { to: t.to, pdu: t.datagram }),
                    Output::Bearer(b) => out.push(Effect::Bearer(b)),
                    Output::Event(e) => self.on_event(e),
                    other => tracing::debug!("unknown output ignored: {other:?}"),
                }
            }
            if let Some(r) = &mut self.recorder {
                r.drained(self.deadline);
                // Before the commit: the recording is never behind what the store holds.
                r.flush();
            }
            if records.is_empty() {
                return Ok(());
            }
            self.store.commit(&records)?;
            self.input(now, Input::Persisted { upto });
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::Queued { id, .. } => {
                for reply in self.pending.remove(&id).unwrap_or_default() {
                    reply(Ok(id));
                }
            }
            Event::Delivered { msn, app_id, bytes } => {
                self.delivered += 1;
                let acker = self.sinks.acker.clone();
                (self.sinks.deliver)(Delivery { msn, app_id, bytes, acker });
            }
            Event::Outcome { id, app_id, outcome } => {
                self.outcomes += 1;
                tracing::debug!(?id, app_id, ?outcome, "outcome");
                let acker = self.sinks.acker.clone();
                (self.sinks.report)(OutcomeReport { id, app_id, outcome, acker });
            }
            Event::AssociationUp { epoch, role } => tracing::info!(epoch, ?role, "association up"),
            Event::AssociationDown { epoch, reason } => tracing::info!(epoch, ?reason, "association down"),
            Event::OpenFailed { attempts } => tracing::warn!(attempts, "opening an association failed"),
            Event::WrongKey { failures } => {
                tracing::error!(failures, "the peer holds another pre-shared key: opening stopped")
            }
            Event::AuthenticationFailed { stage } => {
                tracing::warn!(?stage, "peer failed authentication (wrong pre-shared key?)")
            }
            Event::PeerStateLost { resolved_below, expected } => tracing::error!(
                resolved_below,
                expected,
                "the peer's store went backwards (wiped or restored from a backup): our messages \
                 from msn {expected} on cannot be delivered until the stores are reconciled"
            ),
            other => tracing::debug!("event: {other:?}"),
        }
    }

    /// Whether a graceful shutdown may stop now: no association or attempt in progress
    /// (a draining one has completed its release), and nothing left to commit.
    pub(crate) fn is_quiet(&self) -> bool {
        use assoc_core::SessionState::{Draining, Idle};
        matches!(self.session.state(), Idle | Draining) && self.session.pending_outputs() == 0
    }

    pub(crate) fn snapshot(
        &self,
        now: Instant,
        io: IoStats,
        shim: Option<ImpairStats>,
        bearer: BearerState,
    ) -> Snapshot {
        let s = &self.session;
        let store = s.store();
        let acked_bytes = s.resume_points().map(|(_, at)| at).sum();
        let (mut partial, mut expected) = (0, 0);
        for entry in store.inbound.values() {
            if let StoredInbound::Partial { first, bytes } = entry {
                partial += bytes.len() as u64;
                expected += first.map_or(bytes.len() as u64, |f| f.total_len);
            }
        }
        let (commits, records) = self.store.counters();
        Snapshot {
            state: s.state(),
            link: s.link(),
            epoch: store.epoch,
            unresolved: store.outbound.len(),
            unresolved_bytes: store.outbound.values().map(|m| m.bytes.len() as u64).sum(),
            acked_bytes,
            inbound_partial_bytes: partial,
            inbound_expected_bytes: expected,
            delivered: self.delivered,
            outcomes: self.outcomes,
            commits,
            records,
            store_ops: self.store.ops(),
            core: s.stats().clone(),
            io,
            shim,
            bearer,
            timers: s.armed_timers().collect(),
            now,
        }
    }

    /// Stops: waiting callers learn the endpoint stopped.
    pub(crate) fn close(&mut self) {
        for reply in self.pending.drain().flat_map(|(_, replies)| replies) {
            reply(Err(Error::Stopped));
        }
    }
}
