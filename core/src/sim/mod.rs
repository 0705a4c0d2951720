//! A deterministic two-party harness on virtual time, over a seeded network emulator.
//!
//! [`Pair`] wires two [`Session`]s together the way a driver would, but every source of
//! nondeterminism — loss, duplication, reordering, delay, replay of any earlier datagram,
//! link drops, dial failures, fsync latency, crashes — is drawn from one seed. The same
//! seed always produces the same run, so a failing seed is a reproducible bug report.
//!
//! Crashes lose everything that was not yet durable: a crashed side restarts with
//! [`Session::restore`] from the records its simulated disk had completed.
//!
//! The network is the shared impairment emulator ([`crate::impair`]), one [`Link`] per
//! direction drawing from the pair's seed; replays, link drops, dial failures, fsync
//! latency and crashes are the harness's own.
//!
//! Used by the core's own tests, the fuzzers and the proofs; usable in your tests too, with
//! the `sim` feature (never in production).

mod ledger;
mod star;

pub use ledger::Ledger;
pub use star::{star_config, star_configs, Star, HUB};

use alloc::collections::VecDeque;
use alloc::vec::Vec;
use bytes::Bytes;

use crate::config::{Config, ConfigError};
use crate::impair::{chance, up_to, ImpairStats, Impairment, Link, Schedule};
use crate::input::Input;
use crate::output::{BearerRequest, Event, Output};
use crate::persist::{Record, SessionStore};
use crate::remote::Remote;
use crate::rng::Rng;
use crate::session::Session;
use crate::time::{Duration, Instant};

/// Impairments of the emulated network and environment. Percentages are per datagram.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Impairments {
    /// Loss, duplication, reordering, delay and rate of each direction of the network: the
    /// shared emulator ([`crate::impair`]), drawing from the pair's seed.
    pub link: Impairment,
    /// Chance, per datagram sent, that some earlier datagram is replayed as well (after
    /// `link.delay` plus up to `link.reorder_extra`).
    pub replay_pct: u8,
    /// Chance a dial fails.
    pub dial_fail_pct: u8,
    /// Time from a dial request to the link coming up.
    pub dial_delay: Duration,
    /// Time for a record to become durable.
    pub fsync_delay: Duration,
    /// Chance, per record about to become durable, that its side crashes instead: crashes
    /// placed in the fsync windows (a record issued, not yet durable, and whatever left
    /// before it already gone), where durability bugs show. Percent.
    pub fsync_crash_pct: u8,
}

impl Impairments {
    /// A perfect network: no loss, no reordering, 10 ms delay.
    pub fn none() -> Self {
        Impairments {
            link: Impairment { delay: Duration::from_millis(10), ..Impairment::none() },
            replay_pct: 0,
            dial_fail_pct: 0,
            dial_delay: Duration::from_millis(50),
            fsync_delay: Duration::from_millis(1),
            fsync_crash_pct: 0,
        }
    }

    /// A hostile network: heavy reordering, duplication, loss and replay of old datagrams.
    pub fn hostile() -> Self {
        Impairments {
            link: Impairment {
                loss_pct: 10,
                dup_pct: 10,
                reorder_pct: 40,
                delay: Duration::from_millis(20),
                jitter: Duration::from_millis(30),
                reorder_extra: Duration::from_millis(2_000),
                ..Impairment::none()
            },
            replay_pct: 10,
            dial_fail_pct: 20,
            dial_delay: Duration::from_millis(200),
            fsync_delay: Duration::from_millis(5),
            fsync_crash_pct: 0,
        }
    }
}

/// Something scheduled to happen in the emulated world.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Happening {
    Deliver { to: usize, datagram: Bytes },
    LinkUp,
    DialFailed { side: usize },
    Durable { side: usize, seq: u64 },
}

/// Most earlier datagrams kept for replay.
const REPLAY_HISTORY: usize = 256;

/// Two sessions, a network between them, and a clock.
#[derive(Clone, Debug)]
pub struct Pair {
    /// The two sessions; index 0 and 1.
    pub sessions: [Session; 2],
    configs: [Config; 2],
    /// Each side's disk: only records that completed their fsync.
    pub durable: [SessionStore; 2],
    /// Each side's records issued but not yet durable.
    in_fsync: [Vec<(u64, Record)>; 2],
    /// The current virtual time.
    pub now: Instant,
    /// Impairments in force.
    pub impairments: Impairments,
    /// Events each side reported, in order.
    pub events: [Vec<Event>; 2],
    /// Every event of both sides in the order they happened, with the side.
    pub log: Vec<(usize, Event)>,
    /// Whether the link between the two is up.
    pub link_up: bool,
    dialing: bool,
    schedule: Schedule<Happening>,
    /// The network towards each side (index: the receiving side).
    links: [Link; 2],
    history: VecDeque<(usize, Bytes)>,
    rng: Rng,
    restarts: u64,
    /// Datagrams delivered so far.
    pub delivered: u64,
    /// Rejected inputs that nevertheless changed a session (must stay 0).
    pub corrupting_drops: u64,
}

impl Pair {
    /// Two fresh sessions; the link starts down. Fails if either config is invalid.
    pub fn new(a: Config, b: Config, impairments: Impairments, seed: u64) -> Result<Self, ConfigError> {
        let mut rng = Rng::new(seed);
        let sa = Session::new(a.clone(), rng.next_u64())?;
        let sb = Session::new(b.clone(), rng.next_u64())?;
        Ok(Pair {
            sessions: [sa, sb],
            configs: [a, b],
            durable: [SessionStore::default(), SessionStore::default()],
            in_fsync: [Vec::new(), Vec::new()],
            now: Instant::ZERO,
            impairments,
            events: [Vec::new(), Vec::new()],
            log: Vec::new(),
            link_up: false,
            dialing: false,
            schedule: Schedule::default(),
            links: [Link::default(), Link::default()],
            history: VecDeque::new(),
            rng,
            restarts: 0,
            delivered: 0,
            corrupting_drops: 0,
        })
    }

    fn at(&mut self, when: Instant, h: Happening) {
        self.schedule.insert(when, h);
    }

    fn chance(&mut self, pct: u8) -> bool {
        chance(&mut self.rng, pct)
    }

    /// What the network towards side `to` did so far (replays not counted).
    pub fn link_stats(&self, to: usize) -> ImpairStats {
        self.links.get(to).map(Link::stats).unwrap_or_default()
    }

    /// Feeds `input` to side `i` at the current time and drains its outputs.
    ///
    /// An input the session rejects must leave it exactly as it was; a violation is recorded
    /// in [`Pair::corrupting_drops`].
    pub fn input(&mut self, i: usize, input: Input) {
        let before = self.sessions[i].clone();
        let result = self.sessions[i].handle_input(self.now, input);
        // A drop that queued nothing (a reported authentication failure queues an event).
        let silent_drop = matches!(result, Ok(crate::input::Verdict::Dropped(_)))
            && self.sessions[i].pending_outputs() == before.pending_outputs();
        if (result.is_err() || silent_drop) && self.sessions[i] != before {
            self.corrupting_drops += 1;
        }
        self.drain(i);
    }

    /// Drains side `i`'s outputs into the emulated world.
    fn drain(&mut self, i: usize) {
        loop {
            match self.sessions[i].poll_output() {
                Output::Wait { .. } => break,
                Output::Persist { seq, record } => {
                    self.in_fsync[i].push((seq, record));
                    let d = self.impairments.fsync_delay;
                    self.at(self.now + d, Happening::Durable { side: i, seq });
                }
                Output::Transmit(t) => self.send(1 - i, t.datagram),
                Output::Event(e) => {
                    // The application commits what it is told at once and acknowledges it;
                    // a crash before the acknowledgement is durable reports it again.
                    let ack = match &e {
                        Event::Delivered { msn, .. } => Some(crate::input::Ack::Delivery(*msn)),
                        Event::Outcome { id, .. } => Some(crate::input::Ack::Outcome(*id)),
                        _ => None,
                    };
                    self.log.push((i, e.clone()));
                    self.events[i].push(e);
                    if let Some(a) = ack {
                        // Refused only for an event reported again and acknowledged already.
                        let _ = self.sessions[i].handle_input(self.now, Input::Acknowledge(a));
                    }
                }
                Output::Bearer(BearerRequest::Dial) => self.dial(i),
                Output::Bearer(BearerRequest::HangUp) => self.drop_link(),
            }
        }
    }

    fn send(&mut self, to: usize, datagram: Bytes) {
        if !self.link_up {
            return;
        }
        if self.history.len() == REPLAY_HISTORY {
            self.history.pop_front();
        }
        self.history.push_back((to, datagram.clone()));
        if self.chance(self.impairments.replay_pct) {
            let k = (self.rng.next_u64() % self.history.len() as u64) as usize;
            if let Some((old_to, old)) = self.history.get(k).cloned() {
                let link = &self.impairments.link;
                let delay = link.delay + up_to(&mut self.rng, link.reorder_extra);
                self.at(self.now + delay, Happening::Deliver { to: old_to, datagram: old });
            }
        }
        let Some(link) = self.links.get_mut(to) else { return };
        for when in link.transmit(&self.impairments.link, &mut self.rng, self.now, datagram.len()) {
            self.at(when, Happening::Deliver { to, datagram: datagram.clone() });
        }
    }

    fn dial(&mut self, side: usize) {
        if self.dialing {
            return;
        }
        self.dialing = true;
        let when = self.now + self.impairments.dial_delay;
        if self.chance(self.impairments.dial_fail_pct) {
            self.at(when, Happening::DialFailed { side });
        } else {
            self.at(when, Happening::LinkUp);
        }
    }

    /// Brings the link up on both sides at once (a listening UDP socket, say).
    pub fn link_up_now(&mut self) {
        self.link_up = true;
        self.dialing = false;
        self.input(0, Input::LinkUp { peer: Some(Remote::Conn(1)) });
        self.input(1, Input::LinkUp { peer: Some(Remote::Conn(0)) });
    }

    /// The link drops: both sides are told. Datagrams already in flight may still arrive
    /// later, as PDUs of an earlier connection do.
    pub fn drop_link(&mut self) {
        if !self.link_up {
            return;
        }
        self.link_up = false;
        self.dialing = false;
        self.input(0, Input::LinkDown);
        self.input(1, Input::LinkDown);
    }

    /// Side `i` crashes and restarts from its disk; records not yet durable are lost.
    pub fn crash(&mut self, i: usize) {
        self.in_fsync[i].clear();
        self.schedule.retain(|h| !matches!(h, Happening::Durable { side, .. } if *side == i));
        self.restarts += 1;
        let seed = self.rng.next_u64() ^ self.restarts;
        // `restore` only fails on an invalid config, and `new` validated both.
        if let Ok(restored) = Session::restore(self.configs[i].clone(), self.durable[i].clone(), seed) {
            self.sessions[i] = restored;
        }
        if self.link_up {
            self.input(i, Input::LinkUp { peer: Some(Remote::Conn(1 - i as u64)) });
        }
    }

    /// When the next thing happens: a scheduled happening or a session deadline.
    pub fn next_time(&self) -> Option<Instant> {
        let scheduled = self.schedule.next_time();
        let timers = self.sessions.iter().filter_map(Session::next_deadline).min();
        match (scheduled, timers) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Like [`Pair::step`], but never advances the clock by more than `max`: when nothing
    /// happens sooner, the clock just moves on by `max` (so callers can inject inputs).
    pub fn step_at_most(&mut self, max: Duration) {
        let limit = self.now + max;
        match self.next_time() {
            Some(t) if t <= limit => {
                self.step();
            }
            _ => self.now = limit,
        }
    }

    /// Advances to the next thing that happens and does it. `false` when nothing is left.
    pub fn step(&mut self) -> bool {
        let Some(t) = self.next_time() else {
            return false;
        };
        self.now = self.now.max(t);
        if let Some(h) = self.schedule.pop_due(self.now) {
            self.happen(h);
            return true;
        }
        for i in 0..2 {
            if self.sessions[i].next_deadline().is_some_and(|d| d <= self.now) {
                self.input(i, Input::Timeout);
            }
        }
        true
    }

    fn happen(&mut self, h: Happening) {
        match h {
            Happening::Deliver { to, datagram } => {
                if self.link_up {
                    self.delivered += 1;
                    let from = Remote::Conn(1 - to as u64);
                    self.input(to, Input::Datagram { from, datagram });
                }
            }
            Happening::LinkUp => {
                if self.dialing {
                    self.link_up_now();
                }
            }
            Happening::DialFailed { side } => {
                self.dialing = false;
                self.input(side, Input::DialFailed);
            }
            Happening::Durable { side, seq } => {
                if self.chance(self.impairments.fsync_crash_pct) {
                    self.crash(side);
                    return;
                }
                let done: Vec<(u64, Record)> =
                    self.in_fsync[side].iter().filter(|(s, _)| *s <= seq).cloned().collect();
                self.in_fsync[side].retain(|(s, _)| *s > seq);
                for (_, r) in &done {
                    self.durable[side].apply(r);
                }
                self.input(side, Input::Persisted { upto: seq });
            }
        }
    }

    /// Runs until `until` is true or `limit` of virtual time passes; returns whether `until` held.
    pub fn run_until(&mut self, limit: Duration, mut until: impl FnMut(&Pair) -> bool) -> bool {
        let end = self.now + limit;
        while !until(self) {
            match self.next_time() {
                Some(t) if t <= end => {
                    self.step();
                }
                _ => {
                    self.now = end;
                    return until(self);
                }
            }
        }
        true
    }

    /// Runs for `d` of virtual time (or until nothing is left to do).
    pub fn run_for(&mut self, d: Duration) {
        let _ = self.run_until(d, |_| false);
    }

    /// Both sides hold the same usable association (same epoch, mirrored tags).
    pub fn agreed(&self) -> bool {
        match (self.sessions[0].association(), self.sessions[1].association()) {
            (Some(a), Some(b)) => a.usable && b.usable && a.id.mirrors(&b.id),
            _ => false,
        }
    }

    /// Association isolation and agreement: if both sides hold a usable association with
    /// the same epoch, they are the same association (mirrored tags, opposite roles).
    /// Returns a description of the violation, if any.
    pub fn check_safety(&self) -> Result<(), &'static str> {
        if self.corrupting_drops > 0 {
            return Err("a rejected input changed session state");
        }
        if let (Some(a), Some(b)) = (self.sessions[0].association(), self.sessions[1].association()) {
            if a.usable && b.usable && a.id.epoch == b.id.epoch && !self.agreed() {
                return Err("both established at one epoch with different tags or roles");
            }
        }
        for i in 0..2 {
            if let Some(a) = self.sessions[i].association() {
                if a.id.epoch > self.sessions[i].store().epoch {
                    return Err("association epoch above the session's persisted epoch");
                }
            }
            if self.durable[i].epoch > self.sessions[i].store().epoch {
                return Err("durable epoch ahead of the session's view");
            }
        }
        Ok(())
    }
}
