//! The actor: one side of the pair, wrapping the real [`assoc_core::Session`].
//!
//! The actor is the session's *driver*, exactly as an io-adapter is: it feeds [`Input`]s,
//! drains [`Output`]s, keeps records "in fsync" until a model timer completes them, owns
//! the bearer, and re-issues the application's commands after a restart. It contains no
//! protocol logic: every decision is the shipping code's.
//!
//! * `Msg` is the core's typed [`Pdu`]: each transmitted datagram is decoded with
//!   [`Pdu::decode`] and re-encoded with [`Pdu::to_bytes`] on delivery (the codec is
//!   canonical, so this round-trips exactly).
//! * Timers are the core's [`Timer`]s, mirrored from [`Session::armed_timers`] after every
//!   step and fired with [`Session::handle_timer`] at the constant [`MODEL_NOW`], plus
//!   model-only timers for the environment ([`ModelTimer`]).
//! * `Storage` is [`Disk`]: the durable [`SessionStore`] plus a ghost history that the
//!   model (never the session) keeps across crashes.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fmt;

use assoc_core::wire::{Body, Frame, Pdu};
use assoc_core::{
    Ack, AssociationId, Config, DownReason, Event, Input, Instant, LinkState, MessageId, NonDelivery,
    Outcome, Output, Priority, Record, Remote, Role, Session, SessionState, SessionStore, StoredInbound,
    Submission, Timer,
};
use bytes::Bytes;
use stateright::actor::{model_timeout, Actor, Id, Out};

/// The one instant at which everything in the model happens. Time never advances: an armed
/// timer fires when the model lets it ([`crate::timely`]: at quiescence, or early within a
/// budget; the core's handlers trust the firing), so absolute deadlines stay a function of
/// the configuration and the state space stays finite.
pub const MODEL_NOW: Instant = Instant::from_micros(1_000_000_000);

/// Timers of one side: the core's own plus the environment's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ModelTimer {
    /// A timer armed by the session; fired with [`Session::handle_timer`].
    Core(Timer),
    /// The oldest record in fsync becomes durable.
    Fsync,
    /// The bearer comes (back) up: our dial completes, or the peer connects to us.
    LinkUp,
    /// A requested dial fails (only when the preset allows dial failures).
    DialFail,
    /// The bearer drops (bounded per side by the preset's link-drop budget).
    LinkDrop,
    /// The application releases the association (`Input::Release`; once, if the preset
    /// lets this side release).
    Release,
    /// The application cancels its first message (`Input::Cancel`; once, if the preset
    /// lets this side cancel, while the message has no outcome).
    Cancel,
    /// The application aborts the association (`Input::Abort`; once, if the preset lets
    /// this side abort, while an association is usable).
    Abort,
    /// The attacker node injects, from its own remote ([`ATTACKER`]), the last PDU it saw
    /// delivered to this side (only in presets with an attacker).
    Inject,
    /// A core timer firing *early*: while a PDU that would change the state is in flight or
    /// a record is in fsync. Never armed; the model rewrites the action of an armed
    /// [`ModelTimer::Core`] timer into this one when it is premature, and it fires that
    /// timer. A bounded environment fault (see [`crate::timely`]).
    Early(Timer),
}

/// The attacker's node: never an actor, only a remote that PDUs come from (it sees the
/// wire and replays what it saw) and that answers go to (and are lost to the pair).
pub const ATTACKER: usize = 2;

impl ModelTimer {
    /// Whether firing this timer is an environment fault rather than progress. AG EF looks
    /// for a path to the goal without further faults.
    pub fn is_fault(self) -> bool {
        matches!(
            self,
            ModelTimer::DialFail | ModelTimer::LinkDrop | ModelTimer::Inject | ModelTimer::Early(_)
        )
    }

    /// The armed timer an action fires: [`ModelTimer::Early`] fires its core timer.
    pub fn armed(self) -> ModelTimer {
        match self {
            ModelTimer::Early(t) => ModelTimer::Core(t),
            other => other,
        }
    }
}

/// A broken promise about epochs, recorded by the ghost when it happens.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Violation {
    /// An association was established at an epoch not above the previous one's, within
    /// one incarnation of the session.
    EstablishedBackwards {
        /// The previous association.
        before: AssociationId,
        /// The new one.
        now: AssociationId,
    },
    /// An association was reported up to the application at an epoch not above one
    /// reported before (across crashes): a reused or regressed epoch.
    ReportedBackwards {
        /// The previous association reported up.
        before: Reported,
        /// The new one.
        now: Reported,
    },
}

/// An association as reported to the application by `Event::AssociationUp`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reported {
    /// Its epoch.
    pub epoch: u64,
    /// Which side opened it.
    pub role: Role,
}

/// A broken message guarantee, noticed by the driver when the application is told
/// something (the `Event` is transient, so the ghost keeps the fact). Sticky.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MsgFault {
    /// A delivery was reported to the application a second time by the same incarnation
    /// (a restart reports unacknowledged deliveries again; nothing else may).
    DuplicateDelivery {
        /// The sender's application id.
        app_id: u64,
    },
    /// One application id was delivered under two msns: the sender queued it twice.
    AppIdDeliveredTwice {
        /// The sender's application id.
        app_id: u64,
    },
    /// Delivered bytes differ from what the peer's application submitted (or the peer
    /// never submitted that id).
    WrongContent {
        /// The sender's application id.
        app_id: u64,
    },
    /// A delivery's msn is not above the previous delivery's.
    OutOfOrder {
        /// The msn delivered.
        msn: u64,
        /// The msn delivered before it.
        after: u64,
    },
    /// A second, different outcome for one message, the same one reported twice by one
    /// incarnation, or an outcome for one never queued.
    ExtraOutcome {
        /// The application id.
        app_id: u64,
    },
    /// A non-delivery outcome without its cause: `Cancelled` has one only for a message
    /// the application cancelled (releasing the association is not one), and `Expired`
    /// has none unless the preset lets time reach the expiry.
    UncausedNdr {
        /// The application id.
        app_id: u64,
    },
    /// A non-delivery outcome without its cause, after the application aborted an
    /// association: the abort changed the message's fate.
    AbortChangedFate {
        /// The application id.
        app_id: u64,
    },
}

/// What the model remembers about a side across crashes. Never shown to the session.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Ghost {
    /// The last association reported up to the application (`Event::AssociationUp`).
    pub last_up: Option<Reported>,
    /// Link drops used from the preset's budget.
    pub link_drops: u8,
    /// Restarts after a crash so far (bounded by the preset).
    pub restarts: u8,
    /// A link drop or crash happened after an association had been reported up.
    pub disrupted: bool,
    /// An association was reported up after such a disruption.
    pub reestablished: bool,
    /// The first epoch violation seen, if any (sticky).
    pub violation: Option<Violation>,
    /// Application ids of this side's workload whose custody was confirmed (`Queued`).
    pub queued: BTreeSet<u64>,
    /// Outcomes reported for this side's messages, by application id, with the
    /// incarnation (`restarts`) that last reported each.
    pub outcomes: BTreeMap<u64, (Outcome, u8)>,
    /// Messages from the peer handed to the application, in order: (msn, app id).
    pub delivered: Vec<(u64, u64)>,
    /// The incarnation (`restarts`) that last reported each delivered msn.
    pub delivered_by: BTreeMap<u64, u8>,
    /// The epoch of the association that last sent each msn's first segment (offset 0).
    pub first_sent: BTreeMap<u64, u64>,
    /// The msn each of this side's messages was first sent with, by application id (from
    /// the DATA that left, not from the session).
    pub sent_msn: BTreeMap<u64, u64>,
    /// Some message was continued from a nonzero offset on a later association than the
    /// one that (re)started it: a resume from the receiver's checkpoint.
    pub resumed: bool,
    /// The application released the association (it no longer asks for one).
    pub released: bool,
    /// The application cancelled its first message (application id 0).
    pub cancelled: bool,
    /// The application aborted an association.
    pub aborted: bool,
    /// Broken message guarantees (sticky).
    pub faults: BTreeSet<MsgFault>,
    /// The last association this side ended on the peer's RESET.
    pub reset_victim: Option<AssociationId>,
}

impl Ghost {
    /// The application is told `outcome` for `app_id`: a new one, or one reported again,
    /// unchanged, by a restarted session (allowed: the contract re-reports what the
    /// application has not acknowledged). Anything else is an `ExtraOutcome` fault.
    pub fn report_outcome(&mut self, app_id: u64, outcome: Outcome) {
        let again = self.outcomes.insert(app_id, (outcome, self.restarts));
        let extra = again.is_some_and(|(before, by)| before != outcome || by == self.restarts);
        if !self.queued.contains(&app_id) || extra {
            self.faults.insert(MsgFault::ExtraOutcome { app_id });
        }
    }

    /// The application is handed message `msn` (application id `app_id`); `content_ok` says
    /// whether its bytes are what the peer submitted. A restarted session reporting the
    /// same delivery again is allowed; a second delivery in one incarnation, an app id
    /// delivered under two msns, a delivery out of msn order or wrong content is a fault.
    pub fn report_delivery(&mut self, msn: u64, app_id: u64, content_ok: bool) {
        if let Some(by) = self.delivered_by.insert(msn, self.restarts) {
            if by == self.restarts || !self.delivered.contains(&(msn, app_id)) {
                self.faults.insert(MsgFault::DuplicateDelivery { app_id });
            }
            return;
        }
        if self.delivered.iter().any(|(_, a)| *a == app_id) {
            self.faults.insert(MsgFault::AppIdDeliveredTwice { app_id });
        }
        if let Some(&(after, _)) = self.delivered.last() {
            if msn <= after {
                self.faults.insert(MsgFault::OutOfOrder { msn, after });
            }
        }
        if !content_ok {
            self.faults.insert(MsgFault::WrongContent { app_id });
        }
        self.delivered.push((msn, app_id));
    }
}

/// The actor's `Storage`: the durable session store (only records whose fsync completed)
/// and the ghost. Survives crashes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Disk {
    /// What the session would restore from.
    pub store: SessionStore,
    /// Model-only history.
    pub ghost: Ghost,
}

/// One side's state: the real session and the driver's bookkeeping.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SideState {
    /// The shipping state machine.
    pub session: Session,
    /// Records emitted but not yet durable, oldest first.
    pub in_fsync: VecDeque<(u64, Record)>,
    /// A copy of what is on disk (the saved `Storage`).
    pub disk: Disk,
    /// The last association established in memory by this incarnation.
    pub last_seen: Option<AssociationId>,
    /// The attacker's memory: the last PDU it saw delivered to this side (attacker presets
    /// only; otherwise always `None`).
    pub overheard: Option<Pdu>,
}

impl SideState {
    /// Whether `self` and `other` differ at most in what the attacker overheard. Timely
    /// timers ([`crate::timely`]) ignore such a difference: what the attacker remembers
    /// changes nothing the pair does, and a duplicating network can always redeliver an
    /// older PDU, so counting it would hold timers back forever.
    pub fn same_but_overheard(&self, other: &SideState) -> bool {
        if self.overheard == other.overheard {
            return self == other;
        }
        let (mut a, mut b) = (self.clone(), other.clone());
        a.overheard = None;
        b.overheard = None;
        a == b
    }

    /// The current association's identity, if it is usable.
    pub fn usable(&self) -> Option<AssociationId> {
        self.session.association().filter(|a| a.usable).map(|a| a.id)
    }
}

impl fmt::Debug for SideState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.session;
        let state = match s.state() {
            SessionState::Idle => "idle",
            SessionState::Opening => "opening",
            SessionState::Established => "established",
            SessionState::Closing => "closing",
            SessionState::Draining => "draining",
        };
        let link = match s.link() {
            LinkState::Down => "down",
            LinkState::Dialing => "dialing",
            LinkState::Up => "up",
        };
        write!(
            f,
            "{} {state} epoch={} disk={} link={link}",
            s.config().local_name.as_str(),
            s.store().epoch,
            self.disk.store.epoch,
        )?;
        if let Some(a) = s.association() {
            let AssociationId { epoch, local_tag, peer_tag, role } = a.id;
            let r = match role {
                Role::Initiator => "I",
                Role::Responder => "R",
            };
            let (l, p) = (local_tag & 0xffff, peer_tag & 0xffff);
            write!(f, " assoc=[e{epoch}/{r} {l:04x}:{p:04x}{}]", if a.usable { "" } else { " unusable" })?;
        }
        if !self.in_fsync.is_empty() {
            let recs: Vec<String> =
                self.in_fsync.iter().map(|(seq, r)| format!("#{seq} {}", record_line(r))).collect();
            write!(f, " fsync=[{}]", recs.join(", "))?;
        }
        let timers: Vec<String> = s.armed_timers().map(|(t, _)| format!("{t:?}")).collect();
        if !timers.is_empty() {
            write!(f, " timers=[{}]", timers.join(","))?;
        }
        if let Some(up) = self.disk.ghost.last_up {
            write!(f, " last_up=e{}", up.epoch)?;
        }
        if let Some(v) = self.disk.ghost.violation {
            write!(f, " VIOLATION={v:?}")?;
        }
        let g = &self.disk.ghost;
        let acked: BTreeMap<_, _> = s.resume_points().collect();
        let out: Vec<String> = s
            .store()
            .outbound
            .iter()
            .map(|(id, m)| {
                let msn = m.msn.map_or(String::new(), |n| format!("@msn{n}"));
                let acked = acked.get(id).map_or(String::new(), |a| format!(" acked={a}"));
                let cancel = if m.cancel.is_some() { " cancelling" } else { "" };
                format!("#{}{msn}{acked}{cancel}", m.app_id)
            })
            .collect();
        if !out.is_empty() {
            write!(f, " out=[{}]", out.join(","))?;
        }
        if !g.outcomes.is_empty() {
            let o: Vec<String> = g.outcomes.iter().map(|(a, (o, _))| format!("#{a}:{o:?}")).collect();
            write!(f, " outcomes=[{}]", o.join(","))?;
        }
        let st = s.store();
        if st.watermark > 0 || !st.inbound.is_empty() {
            let inb: Vec<String> = st
                .inbound
                .iter()
                .map(|(msn, i)| match i {
                    StoredInbound::Partial { bytes, .. } => format!("msn{msn}:{}B", bytes.len()),
                    StoredInbound::Resolved(r) => format!("msn{msn}:{r:?}"),
                })
                .collect();
            write!(f, " in=[wm={} {}]", st.watermark, inb.join(","))?;
        }
        if !g.delivered.is_empty() {
            let d: Vec<String> = g.delivered.iter().map(|(msn, a)| format!("msn{msn}=#{a}")).collect();
            write!(f, " delivered=[{}]", d.join(","))?;
        }
        if g.released {
            write!(f, " released")?;
        }
        if g.cancelled {
            write!(f, " cancelled#0")?;
        }
        if g.aborted {
            write!(f, " aborted")?;
        }
        if !g.faults.is_empty() {
            write!(f, " FAULTS={:?}", g.faults)?;
        }
        Ok(())
    }
}

/// One side of the pair: its configuration and what its application and environment do.
#[derive(Clone, Debug)]
pub struct Side {
    /// The peer's actor id.
    pub peer: Id,
    /// The core configuration of this side (names, bounds, mutations).
    pub cfg: Config,
    /// The application keeps an association open (`Input::Open`, re-issued after a
    /// restart and after `Event::OpenFailed`).
    pub holds_open: bool,
    /// How many times the environment may drop this side's bearer.
    pub max_link_drops: u8,
    /// Whether a requested dial may fail.
    pub dial_failures: bool,
    /// This side's workload: the length of each message its application submits at the
    /// start (application ids 0, 1, …; content from [`content`]).
    pub workload: Vec<usize>,
    /// The peer's workload (what this side's deliveries are checked against).
    pub peer_workload: Vec<usize>,
    /// Whether time may reach the messages' expiry (the core's `Expiry` timer may fire).
    pub expiry: bool,
    /// Whether the application releases the association once (`Input::Release`).
    pub release: bool,
    /// Whether the core's `Loss` timer (probe timeouts) may fire.
    pub probes: bool,
    /// Whether the application cancels its first message once (`Input::Cancel`).
    pub cancel: bool,
    /// Whether the application aborts an association once (`Input::Abort`).
    pub abort: bool,
    /// This side's index (0 or 1), for [`content`].
    pub index: usize,
    /// Whether an attacker node sees the PDUs delivered to this side and may replay the
    /// last one at it from its own remote ([`ModelTimer::Inject`]).
    pub attacker: bool,
}

/// The content of message `app_id` submitted by side `side`: `len` bytes that differ by
/// position, message and side (so a misplaced segment or a swapped message shows).
pub fn content(side: usize, app_id: u64, len: usize) -> Bytes {
    let salt = (side as u8).wrapping_mul(0x40) ^ (app_id as u8).wrapping_mul(0x11);
    let bytes: Vec<u8> =
        (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add((i >> 8) as u8) ^ salt).collect();
    bytes.into()
}

/// A record in one short line (contents by length).
fn record_line(r: &Record) -> String {
    match r {
        Record::Submitted { id, message } => {
            format!("Submitted({id:?} #{} {}B)", message.app_id, message.bytes.len())
        }
        Record::Chunk { msn, offset, bytes, .. } => format!("Chunk(msn{msn} {offset}+{}B)", bytes.len()),
        Record::Delivered { msn, app_id, bytes } => format!("Delivered(msn{msn} #{app_id} {}B)", bytes.len()),
        other => format!("{other:?}"),
    }
}

/// The remote a node is to the core: its actor index.
pub fn remote(id: Id) -> Remote {
    Remote::Conn(usize::from(id) as u64)
}

/// The node a remote names (the inverse of [`remote`]).
pub fn node(r: Remote) -> Id {
    match r {
        Remote::Conn(i) => Id::from(i as usize),
        // The model names every node by `Conn`; nothing else is ever handed to a core.
        Remote::Addr(_) => Id::from(usize::MAX),
    }
}

/// What happens to a side in one step.
enum Stimulus<'a> {
    /// A PDU and the node it came from.
    Datagram(&'a Pdu, Id),
    Timer(ModelTimer),
}

impl Side {
    /// The deterministic seed of an incarnation restored at `epoch`. The session mixes the
    /// epoch in as well; a fixed seed per (side, durable epoch) keeps the state space finite.
    fn seed(&self, epoch: u64) -> u64 {
        let id = u64::from(self.cfg.local_name.as_bytes()[0]);
        0x5EED_0000_0000_0000 ^ (id << 32) ^ epoch
    }

    /// What a crashed side's state is reset to: its disk, and the session a restart from
    /// that disk begins with. Sound because nothing reads a crashed side's volatile state:
    /// deliveries to it are ignored, its timers are cancelled, a restart rebuilds it from
    /// the *saved* disk, and properties read only its disk (a live-state property was
    /// already checked on the state it crashed in). The stale state would otherwise keep
    /// crashed states distinct that differ only in what was lost.
    pub fn crashed_state(&self, st: &SideState) -> SideState {
        let session =
            Session::restore(self.cfg.clone(), st.disk.store.clone(), self.seed(st.disk.store.epoch))
                .expect("model configurations are valid");
        SideState {
            session,
            in_fsync: VecDeque::new(),
            disk: st.disk.clone(),
            last_seen: None,
            // A restart begins with a fresh attacker memory too (see `on_start`).
            overheard: None,
        }
    }

    /// The stateright timers that should be armed for `st`.
    fn wanted_timers(&self, st: &SideState) -> BTreeSet<ModelTimer> {
        let mut t: BTreeSet<ModelTimer> = st
            .session
            .armed_timers()
            .filter(|(t, _)| self.expiry || *t != Timer::Expiry)
            .filter(|(t, _)| self.probes || *t != Timer::Loss)
            .map(|(t, _)| ModelTimer::Core(t))
            .collect();
        if self.release && !st.disk.ghost.released && st.usable().is_some() {
            t.insert(ModelTimer::Release);
        }
        let g = &st.disk.ghost;
        if self.cancel && !g.cancelled && g.queued.contains(&0) && first_message(st).is_some() {
            t.insert(ModelTimer::Cancel);
        }
        if self.abort && !st.disk.ghost.aborted && st.usable().is_some() {
            t.insert(ModelTimer::Abort);
        }
        if !st.in_fsync.is_empty() {
            t.insert(ModelTimer::Fsync);
        }
        if self.attacker && st.overheard.is_some() && st.session.link() == LinkState::Up {
            t.insert(ModelTimer::Inject);
        }
        match st.session.link() {
            LinkState::Up => {
                if st.disk.ghost.link_drops < self.max_link_drops {
                    t.insert(ModelTimer::LinkDrop);
                }
            }
            LinkState::Dialing => {
                t.insert(ModelTimer::LinkUp);
                if self.dial_failures {
                    t.insert(ModelTimer::DialFail);
                }
            }
            LinkState::Down => {
                t.insert(ModelTimer::LinkUp);
            }
        }
        t
    }

    /// Feeds one input and drains every output, like a driver.
    fn input(&self, st: &mut SideState, input: Input, o: &mut Out<Self>) {
        let before = st.session.association().map(|a| a.id);
        let _ = st.session.handle_input(MODEL_NOW, input);
        self.after_input(st, before, o);
    }

    /// Notes an in-memory establishment, then drains.
    fn after_input(&self, st: &mut SideState, before: Option<AssociationId>, o: &mut Out<Self>) {
        if let Some(a) = st.session.association() {
            if Some(a.id) != before {
                let id = a.id;
                if let Some(prev) = st.last_seen {
                    if id.epoch <= prev.epoch && st.disk.ghost.violation.is_none() {
                        st.disk.ghost.violation =
                            Some(Violation::EstablishedBackwards { before: prev, now: id });
                    }
                }
                st.last_seen = Some(id);
            }
        }
        self.drain(st, o);
    }

    fn drain(&self, st: &mut SideState, o: &mut Out<Self>) {
        loop {
            let mut reopen = false;
            // The application commits what it is told at once, then acknowledges it.
            let mut acks = Vec::new();
            loop {
                match st.session.poll_output() {
                    // Time is the model's timer firings, not a clock: the deadline is unused.
                    Output::Wait { .. } => break,
                    Output::Persist { seq, record } => st.in_fsync.push_back((seq, record)),
                    // No bearer, no datagram: drivers drop what they cannot send.
                    // An answer to the attacker's remote: the attacker has it, the pair does not.
                    Output::Transmit(t) if t.to != remote(self.peer) => {}
                    Output::Transmit(t) if st.session.link() == LinkState::Up => {
                        let pdu = Pdu::decode(&t.datagram).expect("the core only transmits canonical PDUs");
                        note_sent(&mut st.disk.ghost, &pdu);
                        o.send(node(t.to), pdu);
                    }
                    Output::Event(Event::AssociationUp { epoch, role }) => self.reported_up(st, epoch, role),
                    Output::Event(Event::OpenFailed { .. }) => reopen = self.wants_open(st),
                    Output::Event(Event::AssociationDown { reason: DownReason::PeerReset, .. }) => {
                        st.disk.ghost.reset_victim = st.last_seen;
                    }
                    Output::Event(Event::Queued { app_id, .. }) => {
                        st.disk.ghost.queued.insert(app_id);
                    }
                    Output::Event(Event::Outcome { id, app_id, outcome }) => {
                        self.outcome(&mut st.disk.ghost, app_id, outcome);
                        acks.push(Ack::Outcome(id));
                    }
                    Output::Event(Event::Delivered { msn, app_id, bytes }) => {
                        self.delivered(&mut st.disk.ghost, msn, app_id, &bytes);
                        acks.push(Ack::Delivery(msn));
                    }
                    // The session tracks the bearer itself (Dialing / Down); the model
                    // answers through the `LinkUp` / `DialFail` timers.
                    _ => {}
                }
            }
            if !reopen && acks.is_empty() {
                break;
            }
            for a in acks {
                // Refused only for an event reported again and acknowledged already.
                let _ = st.session.handle_input(MODEL_NOW, Input::Acknowledge(a));
            }
            if reopen {
                // The application still wants the association: it asks again.
                let _ = st.session.handle_input(MODEL_NOW, Input::Open);
            }
        }
    }

    /// Whether the application (still) asks for an association.
    fn wants_open(&self, st: &SideState) -> bool {
        self.holds_open && !st.disk.ghost.released
    }

    /// The application is told an outcome: a new one, or one reported again by a restarted
    /// session (unchanged).
    fn outcome(&self, g: &mut Ghost, app_id: u64, outcome: Outcome) {
        g.report_outcome(app_id, outcome);
        let uncaused = match outcome {
            Outcome::NonDelivered(NonDelivery::Cancelled) => !(g.cancelled && app_id == 0),
            Outcome::NonDelivered(NonDelivery::Expired) => !self.expiry,
            _ => false,
        };
        if uncaused && g.aborted {
            g.faults.insert(MsgFault::AbortChangedFate { app_id });
        } else if uncaused {
            g.faults.insert(MsgFault::UncausedNdr { app_id });
        }
    }

    /// The application is handed a message from the peer: check it against what the
    /// peer's application submitted, and remember it. A restarted session reports the
    /// deliveries not acknowledged before the crash again (same msn): not a second one.
    fn delivered(&self, g: &mut Ghost, msn: u64, app_id: u64, bytes: &Bytes) {
        let expected =
            self.peer_workload.get(app_id as usize).map(|len| content(1 - self.index, app_id, *len));
        g.report_delivery(msn, app_id, expected.as_ref() == Some(bytes));
    }

    /// Submits every message of the workload that has no outcome yet: all of them at the
    /// first start; after a crash, each again *by application id* (the core's contract:
    /// the app id is an idempotency key, so a submission the crash did not lose is found,
    /// not queued twice).
    fn submit_workload(&self, st: &mut SideState, o: &mut Out<Self>) {
        for (app_id, len) in self.workload.iter().enumerate() {
            let app_id = app_id as u64;
            if st.disk.ghost.outcomes.contains_key(&app_id) {
                continue;
            }
            let bytes = content(self.index, app_id, *len);
            let sub = Submission { app_id, priority: Priority::Normal, deadline: None, bytes };
            self.input(st, Input::Submit(sub), o);
        }
    }

    /// The application learns that an association is up.
    fn reported_up(&self, st: &mut SideState, epoch: u64, role: Role) {
        let id = Reported { epoch, role };
        let g = &mut st.disk.ghost;
        if let Some(prev) = g.last_up {
            if id.epoch <= prev.epoch && g.violation.is_none() {
                g.violation = Some(Violation::ReportedBackwards { before: prev, now: id });
            }
        }
        g.reestablished |= g.disrupted;
        g.last_up = Some(id);
    }

    /// Runs one stimulus on a clone of the state; writes back only if something changed,
    /// and mirrors the timers.
    fn step(&self, state: &mut Cow<'_, SideState>, stimulus: Stimulus<'_>, o: &mut Out<Self>) {
        let old: &SideState = state;
        let mut st = old.clone();
        match stimulus {
            Stimulus::Datagram(pdu, src) => {
                if st.session.link() != LinkState::Up {
                    return; // no bearer: nothing arrives
                }
                if self.attacker {
                    st.overheard = Some(pdu.clone());
                }
                self.input(&mut st, Input::Datagram { from: remote(src), datagram: pdu.to_bytes() }, o);
            }
            Stimulus::Timer(ModelTimer::Core(t) | ModelTimer::Early(t)) => {
                let before = st.session.association().map(|a| a.id);
                st.session.handle_timer(MODEL_NOW, t);
                self.after_input(&mut st, before, o);
            }
            Stimulus::Timer(ModelTimer::Fsync) => {
                if let Some((seq, record)) = st.in_fsync.pop_front() {
                    st.disk.store.apply(&record);
                    self.input(&mut st, Input::Persisted { upto: seq }, o);
                }
            }
            Stimulus::Timer(ModelTimer::LinkUp) => {
                self.input(&mut st, Input::LinkUp { peer: Some(remote(self.peer)) }, o)
            }
            Stimulus::Timer(ModelTimer::DialFail) => self.input(&mut st, Input::DialFailed, o),
            Stimulus::Timer(ModelTimer::Inject) => {
                if let Some(pdu) = st.overheard.clone().filter(|_| st.session.link() == LinkState::Up) {
                    let from = remote(Id::from(ATTACKER));
                    self.input(&mut st, Input::Datagram { from, datagram: pdu.to_bytes() }, o);
                }
            }
            Stimulus::Timer(ModelTimer::Release) => {
                st.disk.ghost.released = true;
                self.input(&mut st, Input::Release, o);
            }
            Stimulus::Timer(ModelTimer::Cancel) => {
                if let Some(id) = first_message(&st) {
                    st.disk.ghost.cancelled = true;
                    self.input(&mut st, Input::Cancel(id), o);
                }
            }
            Stimulus::Timer(ModelTimer::Abort) => {
                st.disk.ghost.aborted = true;
                self.input(&mut st, Input::Abort, o);
            }
            Stimulus::Timer(ModelTimer::LinkDrop) => {
                let g = &mut st.disk.ghost;
                g.link_drops += 1;
                g.disrupted |= g.last_up.is_some();
                self.input(&mut st, Input::LinkDown, o);
            }
        }
        let (was, now) = (self.wanted_timers(old), self.wanted_timers(&st));
        for t in now.difference(&was) {
            o.set_timer(*t, model_timeout());
        }
        for t in was.difference(&now) {
            o.cancel_timer(*t);
        }
        if let Stimulus::Timer(fired) = stimulus {
            // stateright disarmed the fired timer; re-arm it if it is still wanted.
            if now.contains(&fired) && was.contains(&fired) {
                o.set_timer(fired, model_timeout());
            }
        }
        if st.disk != old.disk {
            o.save(st.disk.clone());
        }
        if st != *old {
            *state = Cow::Owned(st);
        }
    }
}

impl Actor for Side {
    type Msg = Pdu;
    type Timer = ModelTimer;
    type State = SideState;
    type Storage = Disk;
    type Random = ();

    fn name(&self) -> String {
        self.cfg.local_name.as_str().to_string()
    }

    fn on_start(&self, _id: Id, storage: &Option<Disk>, o: &mut Out<Self>) -> SideState {
        let mut disk = storage.clone().unwrap_or_default();
        if storage.is_some() {
            // A restart: the process crashed and comes back from its disk.
            disk.ghost.disrupted |= disk.ghost.last_up.is_some();
            disk.ghost.restarts = disk.ghost.restarts.saturating_add(1);
        }
        let session = Session::restore(self.cfg.clone(), disk.store.clone(), self.seed(disk.store.epoch))
            .expect("model configurations are valid");
        let mut st = SideState { session, in_fsync: VecDeque::new(), disk, last_seen: None, overheard: None };
        // The bearer (a bound socket) is up; the application re-issues its commands.
        self.input(&mut st, Input::LinkUp { peer: Some(remote(self.peer)) }, o);
        if self.wants_open(&st) {
            self.input(&mut st, Input::Open, o);
        }
        self.submit_workload(&mut st, o);
        for t in self.wanted_timers(&st) {
            o.set_timer(t, model_timeout());
        }
        // Always saved, so that a restart can be told from the first start.
        o.save(st.disk.clone());
        st
    }

    fn on_msg(&self, _id: Id, state: &mut Cow<'_, SideState>, src: Id, msg: Pdu, o: &mut Out<Self>) {
        self.step(state, Stimulus::Datagram(&msg, src), o);
    }

    fn on_timeout(&self, _id: Id, state: &mut Cow<'_, SideState>, timer: &ModelTimer, o: &mut Out<Self>) {
        self.step(state, Stimulus::Timer(timer.armed()), o);
    }
}

/// The session's id of the application's first message (application id 0), while the
/// session holds it without an outcome.
fn first_message(st: &SideState) -> Option<MessageId> {
    st.session.store().outbound.iter().find(|(_, m)| m.app_id == 0).map(|(id, _)| *id)
}

/// Notes the first segments and resumptions of the DATA a side transmits.
fn note_sent(g: &mut Ghost, pdu: &Pdu) {
    let Body::Packet(frames) = &pdu.body else { return };
    for f in frames {
        if let Frame::Data(d) = f {
            if let Some(first) = d.first {
                g.sent_msn.entry(first.app_id).or_insert(d.msn);
            }
            if d.offset == 0 {
                // (Re)started from the beginning on this association.
                g.first_sent.insert(d.msn, pdu.header.epoch);
            } else if g.first_sent.get(&d.msn).is_some_and(|e| *e != pdu.header.epoch) {
                g.resumed = true;
            }
        }
    }
}
