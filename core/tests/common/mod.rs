//! Shared helpers for the core's integration tests.
#![allow(dead_code, unreachable_pub)]

use assoc_core::sim::{Impairments, Pair};
use assoc_core::{Config, PeerName, Psk, Suite};

/// How many seeds a seeded sweep runs: `default` unless the `ASSOC_SEEDS` environment
/// variable says otherwise (deeper runs set more; mutation testing sets fewer, see
/// `core/mutants.md`). Sweeps scale their "really exercised" floors with it.
pub fn seeds(default: u64) -> u64 {
    std::env::var("ASSOC_SEEDS").ok().and_then(|n| n.parse().ok()).unwrap_or(default)
}

/// A canonical peer name from a literal.
pub fn name(s: &str) -> PeerName {
    PeerName::new(s.as_bytes()).expect("valid test name")
}

/// Configs for "alpha" (index 0) and "beta" (index 1) sharing a PSK, with the insecure
/// symbolic suite, so tests can read every datagram with `Pdu::decode`.
pub fn configs() -> (Config, Config) {
    configs_with(Suite::Symbolic)
}

/// The real suite when it is compiled in (the default), else the symbolic one.
pub fn real_suite() -> Suite {
    Suite::recommended()
}

/// [`configs`] with the given crypto suite.
pub fn configs_with(suite: Suite) -> (Config, Config) {
    let psk = Psk::new(b"0123456789abcdef").expect("16 bytes");
    let mut a = Config::new(name("alpha"), name("beta"), psk.clone());
    let mut b = Config::new(name("beta"), name("alpha"), psk);
    for c in [&mut a, &mut b] {
        c.suite = suite;
        // Open retries must not run out during long hostile runs.
        c.max_open_retries = 10_000;
        c.open_interval = assoc_core::Duration::from_secs(5);
    }
    (a, b)
}

/// A simulated pair of the two test configs.
pub fn pair(imp: Impairments, seed: u64) -> Pair {
    let (a, b) = configs();
    Pair::new(a, b, imp, seed).expect("valid configs")
}

use assoc_core::{Event, Input, InputError, Instant, Output, Remote, Session, Verdict};
use bytes::Bytes;

/// Session `s`'s pending outputs, up to the `Output::Wait` that ends the drain.
pub fn outputs(s: &mut Session) -> impl Iterator<Item = Output> + '_ {
    std::iter::from_fn(move || match s.poll_output() {
        Output::Wait { .. } => None,
        out => Some(out),
    })
}

/// Two sessions whose datagrams are captured, so a test decides what is delivered, when,
/// in which order, and how often. Records are made durable immediately.
#[derive(Clone)]
pub struct Manual {
    /// The sessions: 0 is alpha, 1 is beta.
    pub s: [Session; 2],
    /// The virtual time.
    pub now: Instant,
    /// Every datagram each side sent, in order (index = sender).
    pub sent: [Vec<Bytes>; 2],
    /// Where each of them was addressed (same indices as `sent`).
    pub sent_to: [Vec<Remote>; 2],
    /// Events each side reported.
    pub events: [Vec<Event>; 2],
}

impl Manual {
    /// Fresh sessions with the test configs; the link is up on both sides.
    pub fn new() -> Manual {
        let (a, b) = configs();
        Manual::with(a, b)
    }

    /// Fresh sessions with the given configs; the link is up on both sides.
    pub fn with(a: assoc_core::Config, b: assoc_core::Config) -> Manual {
        let mut m = Manual {
            s: [Session::new(a, 11).unwrap(), Session::new(b, 22).unwrap()],
            now: Instant::ZERO,
            sent: [Vec::new(), Vec::new()],
            sent_to: [Vec::new(), Vec::new()],
            events: [Vec::new(), Vec::new()],
        };
        m.input(0, Input::LinkUp { peer: Some(Manual::remote(1)) }).unwrap();
        m.input(1, Input::LinkUp { peer: Some(Manual::remote(0)) }).unwrap();
        m
    }

    /// The remote side `i` sends from, as the other side sees it.
    pub fn remote(i: usize) -> Remote {
        Remote::Conn(i as u64)
    }

    /// Feeds an input to side `i` and drains its outputs; returns the input's result.
    /// A dropped input must leave the session exactly as it was (state is `Eq`), unless
    /// it queued a report (a failed proof within its budget).
    pub fn input(&mut self, i: usize, input: Input) -> Result<Verdict, InputError> {
        let before = self.s[i].clone();
        let r = self.s[i].handle_input(self.now, input);
        let silent_drop =
            matches!(r, Ok(Verdict::Dropped(_))) && self.s[i].pending_outputs() == before.pending_outputs();
        if r.is_err() || silent_drop {
            assert!(self.s[i] == before, "a dropped input changed side {i}: {r:?}");
        }
        self.drain(i);
        r
    }

    /// Drains side `i`: records become durable at once, datagrams are captured. Returns
    /// the deadline the drain ended with (`Output::Wait`).
    pub fn drain(&mut self, i: usize) -> Option<Instant> {
        loop {
            match self.s[i].poll_output() {
                Output::Wait { until } => return until,
                Output::Persist { seq, .. } => {
                    let _ = self.s[i].handle_input(self.now, Input::Persisted { upto: seq });
                }
                Output::Transmit(t) => {
                    self.sent[i].push(t.datagram);
                    self.sent_to[i].push(t.to);
                }
                Output::Event(e) => self.events[i].push(e),
                _ => {}
            }
        }
    }

    /// Delivers the `k`-th datagram side `from` sent to the other side.
    pub fn deliver(&mut self, from: usize, k: usize) -> Result<Verdict, InputError> {
        self.deliver_from(from, k, Manual::remote(from))
    }

    /// Delivers the `k`-th datagram side `from` sent to the other side, as if it came
    /// from `remote` (a replay, or the side having moved).
    pub fn deliver_from(&mut self, from: usize, k: usize, remote: Remote) -> Result<Verdict, InputError> {
        let d = self.sent[from][k].clone();
        self.input(1 - from, Input::Datagram { from: remote, datagram: d })
    }

    /// Delivers everything sent and not yet delivered, both ways, until quiet.
    pub fn exchange(&mut self, delivered: &mut [usize; 2]) {
        loop {
            let mut moved = false;
            for (from, next) in delivered.iter_mut().enumerate() {
                while *next < self.sent[from].len() {
                    let k = *next;
                    *next += 1;
                    let _ = self.deliver(from, k);
                    moved = true;
                }
            }
            if !moved {
                return;
            }
        }
    }

    /// Side `i`'s next deadline: drains it (capturing anything pending) and returns what
    /// its `Output::Wait` says.
    pub fn deadline(&mut self, i: usize) -> Option<Instant> {
        self.drain(i)
    }

    /// Advances the clock to the earliest deadline and fires what is due.
    pub fn tick(&mut self) {
        if let Some(t) = (0..2).filter_map(|i| self.deadline(i)).min() {
            self.now = self.now.max(t);
        }
        for i in 0..2 {
            let _ = self.input(i, Input::Timeout);
        }
    }
}

/// An endpoint's pending outputs with their session ids, up to the `Wait` that ends the
/// drain.
pub fn endpoint_outputs(ep: &mut assoc_core::Endpoint) -> impl Iterator<Item = (u32, Output)> + '_ {
    std::iter::from_fn(|| match ep.poll_output() {
        assoc_core::EndpointOutput::Session { sid, output } => Some((sid, output)),
        assoc_core::EndpointOutput::Wait { .. } => None,
    })
}

/// Drains an endpoint; the deadline its `Wait` carries.
pub fn endpoint_deadline(ep: &mut assoc_core::Endpoint) -> Option<Instant> {
    loop {
        if let assoc_core::EndpointOutput::Wait { until } = ep.poll_output() {
            return until;
        }
    }
}

/// The application ids an endpoint delivered on session `sid`, in order, from the
/// `(sid, event)` pairs a test collected.
pub fn endpoint_delivered(events: &[(u32, Event)], sid: u32) -> Vec<u64> {
    events
        .iter()
        .filter_map(|(s, e)| match e {
            Event::Delivered { app_id, .. } if *s == sid => Some(*app_id),
            _ => None,
        })
        .collect()
}
