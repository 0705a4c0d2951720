//! `pair`: two sessions over a network the fuzzer drives, step by step.
//!
//! The fuzzer chooses every event: deliver any in-flight datagram (so any order), drop,
//! duplicate, replay any earlier datagram (also from earlier associations, also to the
//! wrong side), corrupt, fsync some records, crash a side (it restarts from its disk),
//! drop or raise the link, fail a dial, submit, cancel, open, release, abort, move the
//! clock with or without firing timers — and send authentic but misbehaving packets
//! (`Session::seal_raw_packet`: frames of the fuzzer's choosing, sealed with the real keys).
//!
//! The wiring is this module's own (the simulator's [`Pair`] decides the network by seed);
//! a [`Pair`] is still the container, so the core's oracles apply unchanged. After every
//! step:
//! * [`Pair::check_safety`]: association agreement and isolation, epochs, and no rejected
//!   input that changed a session;
//! * [`Ledger::check`] while both peers are honest: no duplicate or out-of-order
//!   delivery, delivered bytes are the submitted ones, one outcome per message, sender
//!   `Delivered` ⇒ receiver delivered, non-delivered ⇒ never delivered, resume points never
//!   ahead of the peer's disk (a peer that lies with authentic packets can make its victim
//!   believe anything about delivery, so after a misbehaving packet only the per-side
//!   checks below remain);
//! * per side: the drain contract, the deadline after `Timeout`, memory bounds, the
//!   volatile store equals the disk plus the records in flight to it, counters never go
//!   backwards, one outcome per queued message, deliveries in msn order.
//!
//! When the case asks for it and both peers stayed honest, the run ends by healing the
//! network (everything delivered in order, fsyncs complete, dials succeed, timers fire)
//! and then every queued message of both sides must have its outcome.

use std::collections::VecDeque;

use arbitrary::Arbitrary;
use assoc_core::sim::{Impairments, Ledger, Pair};
use assoc_core::wire::{DataFrame, FirstSegment, Frame, PartialEntry, PnRange, ResolvedEntry};
use assoc_core::{
    BearerRequest, Config, Duration, Input, MessageId, Output, Priority, Record, Session, Submission,
};
use bytes::Bytes;

use crate::common::{
    check_drained, check_session, content, debug_diff, fold, next_deadline, Advance, Knobs, LocalLedger,
    Progress,
};

/// Most operations of one case that are executed.
const MAX_OPS: usize = 400;
/// Most datagrams in flight; beyond it the network loses the oldest.
const MAX_IN_FLIGHT: usize = 512;
/// Earlier datagrams kept for replay.
const HISTORY: usize = 256;
/// Most events the healing phase may take before every message must have its outcome.
const SETTLE_BUDGET: usize = 20_000;

/// One fuzz case.
#[derive(Arbitrary, Debug)]
pub struct Case {
    knobs: [Knobs; 2],
    seed: u64,
    /// Heal the network at the end and require every message to be resolved.
    settle: bool,
    ops: Vec<Op>,
}

/// A side: `false` is alpha (0), `true` is beta (1).
type Side = bool;

/// One thing that happens.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// A benign step: fsyncs complete, else the oldest datagram arrives, else a pending
    /// dial succeeds, else the clock jumps to the next deadline.
    Step,
    /// The k-th datagram in flight arrives.
    Deliver {
        /// Which one (modulo the number in flight).
        k: u8,
    },
    /// The k-th datagram in flight is lost.
    Drop {
        /// Which one.
        k: u8,
    },
    /// The k-th datagram in flight arrives and stays in flight too.
    Duplicate {
        /// Which one.
        k: u8,
    },
    /// An earlier datagram (counting back from the newest) arrives again.
    Replay {
        /// Which one.
        k: u8,
        /// Send it to the side that sent it instead.
        reflect: bool,
    },
    /// The k-th datagram in flight arrives with one byte changed.
    Corrupt {
        /// Which one.
        k: u8,
        /// Position (modulo the length).
        pos: u16,
        /// XOR mask (0 is turned into 1).
        xor: u8,
    },
    /// A side's disk completes `n` pending writes (0: all).
    Fsync {
        /// Which side.
        side: Side,
        /// How many.
        n: u8,
    },
    /// A side crashes and restarts from its disk.
    Crash {
        /// Which side.
        side: Side,
    },
    /// The link drops (both sides are told).
    LinkDown,
    /// The link comes up (both sides are told).
    LinkUp,
    /// A pending dial fails.
    DialFailed {
        /// Which side is told.
        side: Side,
    },
    /// The application submits a message.
    Submit {
        /// Which side.
        side: Side,
        /// Content length.
        len: u16,
        /// Priority.
        priority: Priority,
        /// Deadline in seconds from now; `None` for the config's expiry.
        deadline_secs: Option<u16>,
    },
    /// The application cancels the k-th message it ever queued (or an unknown id).
    Cancel {
        /// Which side.
        side: Side,
        /// Which message.
        k: u8,
    },
    /// The application wants an association.
    Open {
        /// Which side.
        side: Side,
    },
    /// The application releases it.
    Release {
        /// Which side.
        side: Side,
    },
    /// The application aborts it.
    Abort {
        /// Which side.
        side: Side,
    },
    /// The clock moves and every timer due fires.
    Advance {
        /// By how much.
        by: Advance,
    },
    /// The clock moves and no timer fires (a late driver).
    Stall {
        /// By how much.
        by: Advance,
    },
    /// A side sends an authentic packet of arbitrary frames.
    Misbehave {
        /// Which side lies.
        side: Side,
        /// Map numbers into small ranges and repair DATA/ACK so the frames mostly decode.
        tame: bool,
        /// The frames (at most 8 are used).
        frames: Vec<Frame>,
    },
}

struct World {
    p: Pair,
    configs: [Config; 2],
    ledger: Ledger,
    local: [LocalLedger; 2],
    /// No side has sent a misbehaving packet.
    honest: bool,
    in_flight: VecDeque<(usize, Bytes)>,
    history: VecDeque<(usize, Bytes)>,
    in_fsync: [Vec<(u64, Record)>; 2],
    last_seq: [u64; 2],
    progress: [Progress; 2],
    dialing: bool,
    next_app: [u64; 2],
    restarts: u64,
    seed: u64,
    /// The first violation seen inside a nested call; reported after the step.
    error: Option<String>,
}

/// Whether `ASSOC_FUZZ_TRACE` is set: then every delivered datagram and every event is
/// printed (to follow a failing input with `cargo test --test replay`).
fn tracing() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("ASSOC_FUZZ_TRACE").is_some())
}

fn side(s: Side) -> usize {
    usize::from(s)
}

impl World {
    fn fail(&mut self, e: String) {
        self.error.get_or_insert(e);
    }

    /// Feeds `input` to side `i` at the current time and drains it.
    fn input(&mut self, i: usize, input: Input) {
        let timeout = matches!(input, Input::Timeout);
        let before = self.p.sessions[i].clone();
        let result = self.p.sessions[i].handle_input(self.p.now, input);
        let silent_drop = matches!(result, Ok(assoc_core::Verdict::Dropped(_)))
            && self.p.sessions[i].pending_outputs() == before.pending_outputs();
        if silent_drop && self.p.sessions[i] != before {
            self.p.corrupting_drops += 1;
            let diff = debug_diff(&before, &self.p.sessions[i]);
            self.fail(format!("side {i}: a dropped pdu changed the session:\n{diff}"));
        }
        if let Err(e) = result {
            if self.p.sessions[i] != before {
                self.p.corrupting_drops += 1;
                let diff = debug_diff(&before, &self.p.sessions[i]);
                self.fail(format!("side {i}: rejected input ({e}) changed the session:\n{diff}"));
            }
        }
        if timeout {
            if let Some(t) = next_deadline(&self.p.sessions[i]).filter(|t| *t <= self.p.now) {
                let now = self.p.now;
                self.fail(format!("side {i}: deadline {t:?} <= now {now:?} right after Timeout"));
            }
        }
        self.drain(i);
    }

    fn drain(&mut self, i: usize) {
        loop {
            match self.p.sessions[i].poll_output() {
                Output::Wait { .. } => break,
                Output::Persist { seq, record } => {
                    if seq != self.last_seq[i] + 1 {
                        let last = self.last_seq[i];
                        self.fail(format!("side {i}: record seq {seq} after {last}"));
                    }
                    self.last_seq[i] = seq;
                    self.in_fsync[i].push((seq, record));
                }
                Output::Transmit(t) => self.send(1 - i, t.datagram),
                Output::Event(e) => {
                    if tracing() {
                        eprintln!("{:?} side {i}: {e:?}", self.p.now);
                    }
                    if let Err(msg) = self.local[i].observe(&e) {
                        self.fail(format!("side {i}: {msg}"));
                    }
                    self.p.log.push((i, e.clone()));
                    self.p.events[i].push(e);
                }
                Output::Bearer(BearerRequest::Dial) => self.dialing = true,
                Output::Bearer(BearerRequest::HangUp) => self.link_down(),
                _ => {}
            }
        }
    }

    fn send(&mut self, to: usize, d: Bytes) {
        if !self.p.link_up {
            return;
        }
        if self.in_flight.len() == MAX_IN_FLIGHT {
            self.in_flight.pop_front();
        }
        self.in_flight.push_back((to, d.clone()));
        if self.history.len() == HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((to, d));
    }

    fn deliver(&mut self, to: usize, d: Bytes) {
        if tracing() {
            let pdu = assoc_core::Transmit { to: assoc_core::Remote::Conn(to as u64), datagram: d.clone() };
            eprintln!("{:?} -> {to} ({:?}): {pdu:?}", self.p.now, self.p.sessions[to].state());
        }
        if self.p.link_up {
            self.p.delivered += 1;
            self.input(to, Input::Datagram { from: assoc_core::Remote::Conn(1 - to as u64), datagram: d });
        }
    }

    fn link_up(&mut self) {
        self.p.link_up = true;
        self.dialing = false;
        self.input(0, Input::LinkUp { peer: Some(assoc_core::Remote::Conn(1)) });
        self.input(1, Input::LinkUp { peer: Some(assoc_core::Remote::Conn(0)) });
    }

    fn link_down(&mut self) {
        if !self.p.link_up {
            return;
        }
        self.p.link_up = false;
        self.dialing = false;
        // What is in flight stays: it may arrive on the next bearer, as PDUs of an earlier
        // connection do.
        self.input(0, Input::LinkDown);
        self.input(1, Input::LinkDown);
    }

    /// Side `i`'s disk completes its first `n` pending writes (0: all).
    fn fsync(&mut self, i: usize, n: u8) {
        let n = match usize::from(n) {
            0 => self.in_fsync[i].len(),
            n => n.min(self.in_fsync[i].len()),
        };
        let Some(&(upto, _)) = self.in_fsync[i].get(n.wrapping_sub(1)) else { return };
        for (_, r) in self.in_fsync[i].drain(..n) {
            self.p.durable[i].apply(&r);
        }
        self.input(i, Input::Persisted { upto });
    }

    fn crash(&mut self, i: usize) {
        self.in_fsync[i].clear();
        self.last_seq[i] = 0;
        self.restarts += 1;
        let seed = self.seed.rotate_left(17) ^ self.restarts;
        match Session::restore(self.configs[i].clone(), self.p.durable[i].clone(), seed) {
            Ok(s) => self.p.sessions[i] = s,
            Err(e) => self.fail(format!("restore failed: {e}")),
        }
        self.progress[i] = Progress::of(&self.p.durable[i]);
        if self.p.link_up {
            self.input(i, Input::LinkUp { peer: Some(assoc_core::Remote::Conn(1 - i as u64)) });
        } else {
            // A restored session with work has a timer that is already due.
            self.drain(i);
        }
    }

    /// The clock moves to `to` (never back) and, if `fire`, every due timer fires.
    fn advance_to(&mut self, to: assoc_core::Instant, fire: bool) {
        self.p.now = self.p.now.max(to);
        if fire {
            for i in 0..2 {
                if next_deadline(&self.p.sessions[i]).is_some_and(|t| t <= self.p.now) {
                    self.input(i, Input::Timeout);
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<assoc_core::Instant> {
        self.p.sessions.iter().filter_map(next_deadline).min()
    }

    fn submit(&mut self, i: usize, len: u16, priority: Priority, deadline: Option<Duration>) {
        let app_id = self.next_app[i];
        self.next_app[i] += 1;
        let max = self.configs[i].max_message_len as usize;
        let bytes = content(app_id << 1 | i as u64, usize::from(len) % (max + 2));
        self.ledger.submitted(i, app_id, bytes.clone());
        let deadline = deadline.map(|d| self.p.now + d);
        self.input(i, Input::Submit(Submission { app_id, priority, deadline, bytes }));
    }

    /// One benign step; `false` when nothing at all is left to happen.
    fn benign_step(&mut self) -> bool {
        for i in 0..2 {
            if !self.in_fsync[i].is_empty() {
                self.fsync(i, 0);
                return true;
            }
        }
        if let Some((to, d)) = self.in_flight.pop_front() {
            self.deliver(to, d);
            return true;
        }
        if self.dialing && !self.p.link_up {
            self.link_up();
            return true;
        }
        match self.next_deadline() {
            Some(t) => {
                self.advance_to(t, true);
                true
            }
            None => false,
        }
    }

    fn op(&mut self, op: Op) {
        let pick = |len: usize, k: u8| (len > 0).then(|| usize::from(k) % len);
        match op {
            Op::Step => {
                self.benign_step();
            }
            Op::Deliver { k } => {
                if let Some((to, d)) = pick(self.in_flight.len(), k).and_then(|k| self.in_flight.remove(k)) {
                    self.deliver(to, d);
                }
            }
            Op::Drop { k } => {
                if let Some(k) = pick(self.in_flight.len(), k) {
                    self.in_flight.remove(k);
                }
            }
            Op::Duplicate { k } => {
                if let Some((to, d)) =
                    pick(self.in_flight.len(), k).and_then(|k| self.in_flight.get(k).cloned())
                {
                    self.deliver(to, d);
                }
            }
            Op::Replay { k, reflect } => {
                let n = self.history.len();
                if let Some((to, d)) = pick(n, k).and_then(|k| self.history.get(n - 1 - k).cloned()) {
                    self.deliver(if reflect { 1 - to } else { to }, d);
                }
            }
            Op::Corrupt { k, pos, xor } => {
                if let Some((to, d)) = pick(self.in_flight.len(), k).and_then(|k| self.in_flight.remove(k)) {
                    let mut m = d.to_vec();
                    if !m.is_empty() {
                        let at = usize::from(pos) % m.len();
                        m[at] ^= xor.max(1);
                    }
                    self.deliver(to, Bytes::from(m));
                }
            }
            Op::Fsync { side: s, n } => self.fsync(side(s), n),
            Op::Crash { side: s } => self.crash(side(s)),
            Op::LinkDown => self.link_down(),
            Op::LinkUp => self.link_up(),
            Op::DialFailed { side: s } => {
                if self.dialing {
                    self.dialing = false;
                    self.input(side(s), Input::DialFailed);
                }
            }
            Op::Submit { side: s, len, priority, deadline_secs } => {
                self.submit(side(s), len, priority, deadline_secs.map(|d| Duration::from_secs(d.into())))
            }
            Op::Cancel { side: s, k } => {
                let i = side(s);
                let ids: Vec<MessageId> = self.local[i].queued_ids().collect();
                let id = ids.get(usize::from(k) % (ids.len() + 1)).copied().unwrap_or(MessageId(u64::MAX));
                self.input(i, Input::Cancel(id));
            }
            Op::Open { side: s } => self.input(side(s), Input::Open),
            Op::Release { side: s } => self.input(side(s), Input::Release),
            Op::Abort { side: s } => self.input(side(s), Input::Abort),
            Op::Advance { by } => {
                let to = self.p.now + by.duration();
                self.advance_to(to, true);
            }
            Op::Stall { by } => {
                let to = self.p.now + by.duration();
                self.advance_to(to, false);
            }
            Op::Misbehave { side: s, tame, frames } => {
                let i = side(s);
                let mut frames: Vec<Frame> = frames.into_iter().take(8).collect();
                if tame {
                    frames.iter_mut().for_each(tame_frame);
                }
                if let Some(d) = self.p.sessions[i].seal_raw_packet(self.p.now, frames) {
                    self.honest = false;
                    self.send(1 - i, d);
                }
            }
        }
    }

    /// Every property that must hold between steps.
    fn check(&mut self) -> Result<(), String> {
        if let Some(e) = self.error.take() {
            return Err(e);
        }
        self.p.check_safety().map_err(str::to_string)?;
        if self.honest {
            self.ledger.check(&self.p)?;
        }
        for i in 0..2 {
            let s = &mut self.p.sessions[i];
            check_drained(s).map_err(|e| format!("side {i}: {e}"))?;
            if self.in_fsync[i].is_empty() && s.pending_outputs() != 0 {
                return Err(format!(
                    "side {i}: {} outputs held with every record durable",
                    s.pending_outputs()
                ));
            }
            check_session(s).map_err(|e| format!("side {i}: {e}"))?;
            let expected = fold(&self.p.durable[i], self.in_fsync[i].iter().map(|(_, r)| r));
            if &expected != s.store() {
                return Err(format!(
                    "side {i}: the store is not the disk plus the pending records:\n{:?}\nvs\n{expected:?}",
                    s.store()
                ));
            }
            let p = Progress::of(s.store());
            self.progress[i].check_advanced(p).map_err(|e| format!("side {i}: {e}"))?;
            self.progress[i] = p;
        }
        Ok(())
    }

    /// Heals the network and runs until every queued message has its outcome.
    fn settle(&mut self) -> Result<(), String> {
        self.input(0, Input::Open);
        self.input(1, Input::Open);
        self.check()?;
        for _ in 0..SETTLE_BUDGET {
            if self.ledger.all_resolved() && self.local.iter().all(|l| l.unresolved().next().is_none()) {
                return Ok(());
            }
            if !self.p.link_up {
                self.link_up();
            } else if !self.benign_step() {
                break;
            }
            self.check()?;
        }
        let open: Vec<Vec<MessageId>> = self.local.iter().map(|l| l.unresolved().collect()).collect();
        let sides: Vec<String> = self
            .p
            .sessions
            .iter()
            .map(|s| {
                format!(
                    "{:?} {:?} link={:?} timers={:?} outbound={:?} resume={:?}",
                    s.state(),
                    s.association(),
                    s.link(),
                    s.armed_timers().collect::<Vec<_>>(),
                    s.store()
                        .outbound
                        .iter()
                        .map(|(id, m)| (*id, m.msn, m.cancel, m.bytes.len()))
                        .collect::<Vec<_>>(),
                    s.resume_points().collect::<Vec<_>>()
                )
            })
            .collect();
        Err(format!(
            "healed network, {SETTLE_BUDGET} events later still unresolved: alpha {:?}, beta {:?} (now {:?})\n  alpha: {}\n  beta: {}",
            open[0], open[1], self.p.now, sides[0], sides[1]
        ))
    }
}

/// Maps a frame's numbers into small ranges and repairs the rules the decoder enforces, so
/// that most tamed frames reach the session logic instead of failing to decode.
fn tame_frame(f: &mut Frame) {
    match f {
        Frame::Ack { ranges, ack_delay_us } => {
            let mut pns: Vec<u64> = ranges.iter().flat_map(|r| [r.smallest % 64, r.largest % 64]).collect();
            pns.sort_unstable_by(|a, b| b.cmp(a));
            pns.dedup();
            let mut out: Vec<PnRange> = Vec::new();
            for pair in pns.chunks(2) {
                let (hi, lo) = (pair[0], *pair.get(1).unwrap_or(&pair[0]));
                if out.last().is_none_or(|prev| hi + 1 < prev.smallest) {
                    out.push(PnRange { smallest: lo, largest: hi });
                }
            }
            if out.is_empty() {
                out.push(PnRange { smallest: 0, largest: 0 });
            }
            *ranges = out;
            *ack_delay_us %= 100_000;
        }
        Frame::Summary(s) => {
            s.resolved_below %= 16;
            let below = s.resolved_below;
            for e in &mut s.resolved {
                e.msn %= 32;
            }
            s.resolved.sort_by_key(|e| e.msn);
            s.resolved.dedup_by_key(|e| e.msn);
            s.resolved.retain(|e: &ResolvedEntry| {
                e.msn >= below || e.resolution != assoc_core::wire::Resolution::Delivered
            });
            for e in &mut s.partial {
                e.msn = below + e.msn % 16;
                e.durable %= 16_384;
            }
            s.partial.sort_by_key(|e| e.msn);
            s.partial.dedup_by_key(|e| e.msn);
            let resolved: Vec<u64> = s.resolved.iter().map(|e| e.msn).collect();
            s.partial.retain(|e: &PartialEntry| !resolved.contains(&e.msn));
        }
        Frame::Data(d) => tame_data(d),
        Frame::Cancel { msn } | Frame::Resolved { msn, .. } | Frame::Reject { msn, .. } => *msn %= 16,
        _ => {}
    }
}

fn tame_data(d: &mut DataFrame) {
    d.msn %= 16;
    let len = d.bytes.len() as u64;
    if d.offset % 2 == 0 {
        d.offset = 0;
        let total = len + d.first.map_or(0, |f| f.total_len % 4096);
        let (priority, app_id) = d.first.map_or((Priority::Normal, 0), |f| (f.priority, f.app_id % 16));
        d.first = Some(FirstSegment { total_len: total, priority, app_id });
        d.fin = total == len;
    } else {
        d.offset %= 16_384;
        d.first = None;
    }
}

/// Runs one case; panics with a description on the first violated property.
pub fn run(case: Case) {
    let configs = [case.knobs[0].config(0), case.knobs[1].config(1)];
    let p = match Pair::new(configs[0].clone(), configs[1].clone(), Impairments::none(), case.seed) {
        Ok(p) => p,
        Err(e) => panic!("the knobs produced an invalid config: {e}"),
    };
    let mut w = World {
        p,
        configs,
        ledger: Ledger::default(),
        local: Default::default(),
        honest: true,
        in_flight: VecDeque::new(),
        history: VecDeque::new(),
        in_fsync: Default::default(),
        last_seq: [0; 2],
        progress: Default::default(),
        dialing: false,
        next_app: [0; 2],
        restarts: 0,
        seed: case.seed,
        error: None,
    };
    for (n, op) in case.ops.into_iter().take(MAX_OPS).enumerate() {
        let what = format!("{op:?}");
        w.op(op);
        if let Err(e) = w.check() {
            panic!("op {n} ({what}) at {:?}: {e}", w.p.now);
        }
    }
    if case.settle && w.honest {
        if let Err(e) = w.settle() {
            panic!("settling: {e}");
        }
    }
}
