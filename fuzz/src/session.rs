//! `session`: one session under any sequence of (time advance, [`Input`]).
//!
//! The fuzzer plays the driver and the network: raw inputs of every kind (including
//! arbitrary `Persisted` claims, submissions with any deadline, raw datagrams), named timer
//! firings, crashes that restart from what the driver reported durable, and datagrams from
//! a benign helper peer (a second session it can talk to, so authenticated handshake and
//! data-phase PDUs reach the session under test), optionally bit-flipped, plus the
//! session's own datagrams reflected back at it.
//!
//! After every step:
//! * no panic; an input that returns `Err` left the session exactly as it was;
//! * outputs drained: `poll_output` stays `Wait` once it returned `Wait`, at most
//!   `max_packets_in_flight + 16` outputs wait behind the write barrier, and none once
//!   every record is durable;
//! * record sequence numbers are 1, 2, 3, … per incarnation;
//! * right after `Timeout` at `now`, no deadline is `<= now`; the `Wait` that ends a drain
//!   carries the earliest armed timer;
//! * the volatile store equals the durable store plus the records not yet durable, its
//!   counters never go backwards, and it stays within the config's memory bounds;
//! * events: queued ids unique, one outcome per queued message, deliveries in msn order.

use arbitrary::Arbitrary;
use assoc_core::{
    Duration, Input, InputError, Instant, MessageId, Output, Priority, Record, Session, SessionStore,
    Submission, Timer,
};
use bytes::Bytes;

/// The session under test as its peer sees it.
const UNDER_TEST: assoc_core::Remote = assoc_core::Remote::Conn(0);
/// The peer as the session under test sees it.
const PEER: assoc_core::Remote = assoc_core::Remote::Conn(1);
/// Whoever reflects the session's own datagrams back at it.
const REFLECTOR: assoc_core::Remote = assoc_core::Remote::Conn(2);

use crate::common::{
    check_drained, check_session, content, debug_diff, fold, next_deadline, Advance, Knobs, LocalLedger,
    Progress,
};

/// Most steps of one case that are executed (keeps executions fast).
const MAX_STEPS: usize = 300;
/// Datagrams remembered per direction for reflection and peer delivery.
const KEEP_DATAGRAMS: usize = 64;

/// One fuzz case.
#[derive(Arbitrary, Debug)]
pub struct Case {
    knobs: Knobs,
    peer_knobs: Knobs,
    seed: u64,
    steps: Vec<Step>,
}

/// One step of the driver.
#[derive(Arbitrary, Debug)]
pub enum Step {
    /// A benign driver step: everything durable, then the clock jumps to the next deadline
    /// and `Timeout` fires there; the helper peer's datagrams are delivered.
    Tick,
    /// Any input, after moving the clock.
    Input {
        /// Clock movement first.
        advance: Advance,
        /// The input.
        input: Input,
    },
    /// A well-formed submission with a deadline relative to now.
    Submit {
        /// Clock movement first.
        advance: Advance,
        /// Content length.
        len: u16,
        /// Priority.
        priority: Priority,
        /// Deadline in seconds from now; `None` for the config's expiry.
        deadline_secs: Option<u32>,
    },
    /// Cancel the k-th message ever queued (or an unknown id).
    Cancel {
        /// Which one.
        k: u8,
    },
    /// Jump to the next deadline (plus `late`) and fire `Timeout` there.
    Timeout {
        /// How late the driver is.
        late: Advance,
    },
    /// `handle_timer` with a named timer (trusting the firing, as the model does).
    Timer {
        /// Index into `Timer::ALL`.
        timer: u8,
    },
    /// The driver reports records durable: the first `n` outstanding ones (0: all).
    Persist {
        /// How many.
        n: u8,
    },
    /// The process crashes and restarts from what the driver reported durable.
    Crash {
        /// The restart's seed.
        seed: u64,
    },
    /// The session receives one of its own datagrams.
    Reflect {
        /// Which (counting back from the newest).
        k: u8,
        /// XOR `byte` into position `pos` (modulo the length) first.
        flip: Option<(u16, u8)>,
    },
    /// The session receives a datagram of the helper peer.
    FromPeer {
        /// Which (counting back from the newest).
        k: u8,
        /// XOR `byte` into position `pos` (modulo the length) first.
        flip: Option<(u16, u8)>,
    },
    /// The helper peer receives one of the session's datagrams.
    ToPeer {
        /// Which (counting back from the newest).
        k: u8,
    },
    /// The helper peer opens an association (it dials as initiator).
    PeerOpen,
    /// The helper peer submits a message of `len` bytes.
    PeerSubmit {
        /// Content length.
        len: u16,
    },
}

/// The helper peer: a real session, driven benignly (records durable at once).
struct Peer {
    s: Session,
    sent: Vec<Bytes>,
    next_app_id: u64,
}

impl Peer {
    fn input(&mut self, now: Instant, input: Input) {
        let _ = self.s.handle_input(now, input);
        loop {
            match self.s.poll_output() {
                Output::Wait { .. } => break,
                Output::Persist { seq, .. } => {
                    let _ = self.s.handle_input(now, Input::Persisted { upto: seq });
                }
                Output::Transmit(t) => push_bounded(&mut self.sent, t.datagram),
                _ => {}
            }
        }
    }

    fn tick(&mut self, now: Instant) {
        if next_deadline(&self.s).is_some_and(|t| t <= now) {
            self.input(now, Input::Timeout);
        }
    }
}

/// The session under test and what the driver knows about it.
struct Harness {
    s: Session,
    now: Instant,
    /// What the driver has made durable (and reported).
    disk: SessionStore,
    /// Records handed out but not reported durable, in order.
    pending: Vec<(u64, Record)>,
    /// Sequence number of the last record handed out in this incarnation.
    last_seq: u64,
    /// Counters of the durable store at the last check.
    progress: Progress,
    sent: Vec<Bytes>,
    ledger: LocalLedger,
    peer: Peer,
}

fn push_bounded(v: &mut Vec<Bytes>, d: Bytes) {
    if v.len() == KEEP_DATAGRAMS {
        v.remove(0);
    }
    v.push(d);
}

fn pick(v: &[Bytes], k: u8, flip: Option<(u16, u8)>) -> Option<Bytes> {
    let d = v.get(v.len().checked_sub(1 + usize::from(k) % v.len().max(1))?)?;
    Some(match flip {
        Some((pos, x)) if !d.is_empty() => {
            let mut m = d.to_vec();
            m[usize::from(pos) % d.len()] ^= x;
            Bytes::from(m)
        }
        _ => d.clone(),
    })
}

impl Harness {
    /// Feeds one input at the current time, checks a rejected input changed nothing, and
    /// drains. Returns whether it was a `Timeout`.
    fn input(&mut self, input: Input) -> Result<(), String> {
        let timeout = matches!(input, Input::Timeout);
        if let Input::Persisted { upto } = &input {
            self.make_durable(*upto);
        }
        let before = self.s.clone();
        let result = self.s.handle_input(self.now, input);
        // A dropped PDU must leave the session as it was, unless it queued a report.
        let silent_drop = matches!(result, Ok(assoc_core::Verdict::Dropped(_)))
            && self.s.pending_outputs() == before.pending_outputs();
        if silent_drop && self.s != before {
            return Err(format!("a dropped pdu changed the session:\n{}", debug_diff(&before, &self.s)));
        }
        if let Err(e) = result {
            if self.s != before {
                return Err(format!(
                    "rejected input ({e}) changed the session:\n{}",
                    debug_diff(&before, &self.s)
                ));
            }
            // A claim beyond what was issued is refused as a driver bug; the driver then
            // reports what its disk really holds.
            if let InputError::PersistedBeyondIssued { issued, .. } = e {
                if issued != self.last_seq {
                    return Err(format!("issued {issued} but the driver saw record {}", self.last_seq));
                }
                let _ = self.s.handle_input(self.now, Input::Persisted { upto: issued });
            }
        }
        if timeout && next_deadline(&self.s).is_some_and(|t| t <= self.now) {
            let armed: Vec<(Timer, Instant)> = self.s.armed_timers().collect();
            return Err(format!(
                "deadline {:?} <= now {:?} right after Timeout; armed: {armed:?}; state {:?}",
                next_deadline(&self.s),
                self.now,
                self.s.state()
            ));
        }
        self.drain()
    }

    /// Records up to `upto` become durable on the driver's disk.
    fn make_durable(&mut self, upto: u64) {
        let n = self.pending.iter().take_while(|(seq, _)| *seq <= upto).count();
        for (_, r) in self.pending.drain(..n) {
            self.disk.apply(&r);
        }
    }

    fn drain(&mut self) -> Result<(), String> {
        loop {
            match self.s.poll_output() {
                Output::Wait { .. } => break,
                Output::Persist { seq, record } => {
                    if seq != self.last_seq + 1 {
                        return Err(format!("record seq {seq} after {}", self.last_seq));
                    }
                    self.last_seq = seq;
                    self.pending.push((seq, record));
                }
                Output::Transmit(t) => push_bounded(&mut self.sent, t.datagram),
                Output::Event(e) => self.ledger.observe(&e)?,
                Output::Bearer(_) => {}
                _ => {}
            }
        }
        check_drained(&mut self.s)?;
        if self.pending.is_empty() && self.s.pending_outputs() != 0 {
            return Err(format!("{} outputs held back with every record durable", self.s.pending_outputs()));
        }
        Ok(())
    }

    fn persist_all(&mut self) -> Result<(), String> {
        match self.pending.last() {
            Some(&(seq, _)) => self.input(Input::Persisted { upto: seq }),
            None => Ok(()),
        }
    }

    fn check(&mut self) -> Result<(), String> {
        check_session(&self.s)?;
        let expected = fold(&self.disk, self.pending.iter().map(|(_, r)| r));
        if &expected != self.s.store() {
            return Err(format!(
                "the session's store is not the durable store plus its records:\n{:?}\nvs\n{expected:?}",
                self.s.store()
            ));
        }
        let p = Progress::of(self.s.store());
        self.progress.check_advanced(p)?;
        self.progress = p;
        Ok(())
    }

    fn step(&mut self, step: Step) -> Result<(), String> {
        match step {
            Step::Tick => {
                self.persist_all()?;
                if let Some(t) = next_deadline(&self.s) {
                    self.now = self.now.max(t);
                    self.input(Input::Timeout)?;
                }
                self.peer.tick(self.now);
                let from_peer = std::mem::take(&mut self.peer.sent);
                for d in from_peer {
                    self.input(Input::Datagram { from: PEER, datagram: d })?;
                }
            }
            Step::Input { advance, input } => {
                self.now += advance.duration();
                self.input(input)?;
            }
            Step::Submit { advance, len, priority, deadline_secs } => {
                self.now += advance.duration();
                let app_id = self.s.store().next_id;
                let submission = Submission {
                    app_id,
                    priority,
                    deadline: deadline_secs.map(|d| self.now + Duration::from_secs(d.into())),
                    bytes: content(app_id, usize::from(len) % 20_000),
                };
                self.input(Input::Submit(submission))?;
            }
            Step::Cancel { k } => {
                let ids: Vec<MessageId> = self.ledger.queued_ids().collect();
                let id = ids.get(usize::from(k) % (ids.len() + 1)).copied().unwrap_or(MessageId(u64::MAX));
                self.input(Input::Cancel(id))?;
            }
            Step::Timeout { late } => {
                if let Some(t) = next_deadline(&self.s) {
                    self.now = self.now.max(t);
                }
                self.now += late.duration();
                self.input(Input::Timeout)?;
            }
            Step::Timer { timer } => {
                let t = Timer::ALL[usize::from(timer) % Timer::ALL.len()];
                self.s.handle_timer(self.now, t);
                self.drain()?;
            }
            Step::Persist { n } => {
                let upto = match n {
                    0 => self.pending.last(),
                    n => self.pending.get(usize::from(n) - 1).or(self.pending.last()),
                };
                if let Some(&(seq, _)) = upto {
                    self.input(Input::Persisted { upto: seq })?;
                }
            }
            Step::Crash { seed } => {
                let cfg = self.s.config().clone();
                self.s = Session::restore(cfg, self.disk.clone(), seed).map_err(|e| e.to_string())?;
                self.pending.clear();
                self.last_seq = 0;
                // Counters fall back to the durable ones (that is what the barrier is for).
                self.progress = Progress::of(&self.disk);
                // A restart with unresolved messages arms a timer that is already due.
                self.drain()?;
            }
            Step::Reflect { k, flip } => {
                if let Some(d) = pick(&self.sent, k, flip) {
                    self.input(Input::Datagram { from: REFLECTOR, datagram: d })?;
                }
            }
            Step::FromPeer { k, flip } => {
                self.peer.tick(self.now);
                if let Some(d) = pick(&self.peer.sent, k, flip) {
                    self.input(Input::Datagram { from: PEER, datagram: d })?;
                }
            }
            Step::ToPeer { k } => {
                if let Some(d) = pick(&self.sent, k, None) {
                    self.peer.input(self.now, Input::Datagram { from: UNDER_TEST, datagram: d });
                }
            }
            Step::PeerOpen => self.peer.input(self.now, Input::Open),
            Step::PeerSubmit { len } => {
                let app_id = self.peer.next_app_id;
                self.peer.next_app_id += 1;
                let bytes = content(app_id ^ 1 << 63, usize::from(len) % 20_000);
                let submission = Submission { app_id, priority: Priority::Normal, deadline: None, bytes };
                self.peer.input(self.now, Input::Submit(submission));
            }
        }
        self.check()
    }
}

/// Runs one case; panics with a description on the first violated property.
pub fn run(case: Case) {
    let (Ok(s), Ok(peer)) =
        (Session::new(case.knobs.config(0), case.seed), Session::new(case.peer_knobs.config(1), !case.seed))
    else {
        panic!("the knobs produced an invalid config");
    };
    let mut h = Harness {
        s,
        now: Instant::ZERO,
        disk: SessionStore::default(),
        pending: Vec::new(),
        last_seq: 0,
        progress: Progress::default(),
        sent: Vec::new(),
        ledger: LocalLedger::default(),
        peer: Peer { s: peer, sent: Vec::new(), next_app_id: 0 },
    };
    h.peer.input(h.now, Input::LinkUp { peer: Some(UNDER_TEST) });
    for (i, step) in case.steps.into_iter().take(MAX_STEPS).enumerate() {
        let what = format!("{step:?}");
        if let Err(e) = h.step(step) {
            panic!("step {i} ({what}) at {:?}: {e}", h.now);
        }
    }
}
