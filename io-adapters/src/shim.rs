//! An in-process, seeded impairment shim: loss, duplication, reordering, delay with
//! jitter, and a rate limit with a bounded queue.
//!
//! It sits on the transmit path in front of either bearer: drivers [`push`](Shim::push)
//! every outgoing PDU, sleep until [`next_release`](Shim::next_release) along with the
//! session's own deadline, and send what [`pop_due`](Shim::pop_due) returns. The same seed
//! and the same pushes give the same decisions. The `assoc relay` command puts two of them
//! between two real sockets.

use std::collections::BTreeMap;

use assoc_core::rng::Rng;
use assoc_core::{Duration, Instant};
use bytes::Bytes;

/// What the shim does to the PDUs pushed through it. Percentages are per PDU.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Impairment {
    /// Chance a PDU is lost.
    pub loss_pct: u8,
    /// Chance a PDU is sent twice (the copy gets its own delay).
    pub dup_pct: u8,
    /// Chance a PDU is held back by up to `reorder_extra` more, so later ones overtake it.
    pub reorder_pct: u8,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Uniform random extra delay in `[0, jitter]` on every PDU (reorders too).
    pub jitter: Duration,
    /// Largest extra hold of a reordered PDU.
    pub reorder_extra: Duration,
    /// Link rate in bytes per second (`None`: unlimited). PDUs queue behind each other.
    pub rate_bytes_per_sec: Option<u64>,
    /// Most time a PDU may wait for the rate-limited link before it is dropped (tail drop).
    pub max_queue_delay: Duration,
    /// Seed of the decisions.
    pub seed: u64,
}

impl Impairment {
    /// No impairment at all (a pass-through), with the given seed.
    pub fn none(seed: u64) -> Self {
        Impairment {
            loss_pct: 0,
            dup_pct: 0,
            reorder_pct: 0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder_extra: Duration::ZERO,
            rate_bytes_per_sec: None,
            max_queue_delay: Duration::from_secs(1),
            seed,
        }
    }

    /// The test network: 25 % reordering, 5 % loss, 2 % duplication, 50 ms jitter.
    pub fn lossy(seed: u64) -> Self {
        Impairment {
            loss_pct: 5,
            dup_pct: 2,
            reorder_pct: 25,
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(50),
            reorder_extra: Duration::from_millis(100),
            ..Impairment::none(seed)
        }
    }
}

/// What the shim did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ShimStats {
    /// PDUs pushed in.
    pub pushed: u64,
    /// PDUs dropped by `loss_pct`.
    pub lost: u64,
    /// Extra copies made by `dup_pct`.
    pub duplicated: u64,
    /// PDUs held back by `reorder_pct`.
    pub reordered: u64,
    /// PDUs dropped because the rate-limited queue was too long.
    pub queue_dropped: u64,
    /// PDUs released.
    pub released: u64,
}

/// The shim: a seeded schedule of PDUs to release, each with its destination `D` (what
/// the driver needs to send it on: the core's `Remote`; `()` for a point-to-point relay).
#[derive(Clone, Debug)]
pub struct Shim<D = ()> {
    cfg: Impairment,
    rng: Rng,
    queue: BTreeMap<(Instant, u64), (D, Bytes)>,
    seq: u64,
    /// When the rate-limited link is free again.
    link_free: Instant,
    stats: ShimStats,
}

impl Shim<()> {
    /// Takes a PDU sent at `now`.
    pub fn push(&mut self, now: Instant, pdu: Bytes) {
        self.push_to(now, (), pdu);
    }

    /// The next PDU due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<Bytes> {
        self.pop_due_to(now).map(|((), pdu)| pdu)
    }
}

impl<D: Clone> Shim<D> {
    /// A shim with the given impairments.
    pub fn new(cfg: Impairment) -> Self {
        let rng = Rng::new(cfg.seed);
        Shim {
            cfg,
            rng,
            queue: BTreeMap::new(),
            seq: 0,
            link_free: Instant::ZERO,
            stats: ShimStats::default(),
        }
    }

    /// The impairments in force.
    pub fn impairment(&self) -> &Impairment {
        &self.cfg
    }

    /// Counters so far.
    pub fn stats(&self) -> ShimStats {
        self.stats
    }

    fn chance(&mut self, pct: u8) -> bool {
        pct > 0 && self.rng.next_u64() % 100 < u64::from(pct)
    }

    fn upto(&mut self, d: Duration) -> Duration {
        match d.as_micros() {
            0 => Duration::ZERO,
            max => Duration::from_micros(self.rng.next_u64() % (max + 1)),
        }
    }

    /// Takes a PDU sent at `now` to `to`.
    pub fn push_to(&mut self, now: Instant, to: D, pdu: Bytes) {
        self.stats.pushed += 1;
        if self.chance(self.cfg.loss_pct) {
            self.stats.lost += 1;
            return;
        }
        let copies = if self.chance(self.cfg.dup_pct) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for _ in 0..copies {
            // The rate limit: the PDU leaves the link once the ones before it have.
            let mut depart = now;
            if let Some(rate) = self.cfg.rate_bytes_per_sec.filter(|r| *r > 0) {
                let start = self.link_free.max(now);
                if start.saturating_duration_since(now) > self.cfg.max_queue_delay {
                    self.stats.queue_dropped += 1;
                    continue;
                }
                let serialise = Duration::from_micros((pdu.len() as u64).saturating_mul(1_000_000) / rate);
                depart = start + serialise;
                self.link_free = depart;
            }
            let mut at = depart + self.cfg.delay;
            let jitter = self.cfg.jitter;
            at += self.upto(jitter);
            if self.chance(self.cfg.reorder_pct) {
                self.stats.reordered += 1;
                let extra = self.cfg.reorder_extra;
                at += self.upto(extra);
            }
            self.seq += 1;
            self.queue.insert((at, self.seq), (to.clone(), pdu.clone()));
        }
    }

    /// When the next PDU is due, if any is waiting.
    pub fn next_release(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(t, _)| *t)
    }

    /// The next PDU due at `now` and its destination, if any.
    pub fn pop_due_to(&mut self, now: Instant) -> Option<(D, Bytes)> {
        let key = *self.queue.keys().next().filter(|(t, _)| *t <= now)?;
        self.stats.released += 1;
        self.queue.remove(&key)
    }

    /// PDUs waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(cfg: Impairment, n: u64) -> (Vec<u64>, ShimStats) {
        let mut shim = Shim::new(cfg);
        let mut out = Vec::new();
        let mut now = Instant::from_micros(1_000_000);
        for i in 0..n {
            shim.push(now, Bytes::copy_from_slice(&i.to_be_bytes()));
            now += Duration::from_millis(1);
            while let Some(p) = shim.pop_due(now) {
                out.push(u64::from_be_bytes(p[..].try_into().unwrap()));
            }
        }
        while let Some(t) = shim.next_release() {
            while let Some(p) = shim.pop_due(t) {
                out.push(u64::from_be_bytes(p[..].try_into().unwrap()));
            }
        }
        (out, shim.stats())
    }

    #[test]
    fn pass_through_keeps_order() {
        let (out, stats) = run(Impairment::none(1), 100);
        assert_eq!(out, (0..100).collect::<Vec<_>>());
        assert_eq!(stats.released, 100);
    }

    #[test]
    fn lossy_profile_loses_duplicates_and_reorders_deterministically() {
        let (a, sa) = run(Impairment::lossy(7), 10_000);
        let (b, _) = run(Impairment::lossy(7), 10_000);
        assert_eq!(a, b, "same seed, same run");
        assert!((350..=650).contains(&sa.lost), "about 5 % lost: {sa:?}");
        assert!((100..=300).contains(&sa.duplicated), "about 2 % duplicated: {sa:?}");
        let inversions = a.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(inversions > 1000, "reordered: {inversions}");
    }

    #[test]
    fn rate_limit_spaces_pdus_and_drops_the_tail() {
        let cfg = Impairment {
            rate_bytes_per_sec: Some(8_000),
            max_queue_delay: Duration::from_millis(10),
            ..Impairment::none(3)
        };
        let mut shim = Shim::new(cfg);
        let now = Instant::from_micros(0);
        for _ in 0..20 {
            shim.push(now, Bytes::from(vec![0u8; 8])); // 1 ms each at 8 kB/s
        }
        assert_eq!(shim.len() as u64 + shim.stats().queue_dropped, 20);
        assert!(shim.stats().queue_dropped > 0);
        assert_eq!(shim.next_release(), Some(Instant::from_micros(1_000)));
    }
}
