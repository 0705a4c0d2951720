//! A seeded, deterministic emulator of an impaired datagram link: loss, duplication,
//! reordering, delay with jitter, and a rate limit with a bounded queue.
//!
//! One implementation serves every user: the core's `sim` harnesses decide
//! each datagram's fate with a [`Link`] drawing from their own seed, and the adapters'
//! drivers and `assoc relay` put a [`Shim`] (a [`Link`] with its own generator and a
//! [`Schedule`] of PDUs waiting) on real sockets. No clock and no I/O here: time comes in
//! as [`Instant`] arguments, so the same seed and the same sends give the same decisions.
//!
//! For tests and demos only (the `impair` feature); a production path never impairs itself.

use alloc::collections::BTreeMap;
use bytes::Bytes;

use crate::rng::Rng;
use crate::time::{Duration, Instant};

/// What a link does to the datagrams sent over it. Percentages are per datagram.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Impairment {
    /// Chance a datagram is lost.
    pub loss_pct: u8,
    /// Chance a datagram is delivered twice (the copy gets its own delay).
    pub dup_pct: u8,
    /// Chance a datagram is held back by up to `reorder_extra` more, so later ones overtake it.
    pub reorder_pct: u8,
    /// Fixed one-way delay.
    pub delay: Duration,
    /// Uniform random extra delay in `[0, jitter]` on every datagram (reorders too).
    pub jitter: Duration,
    /// Largest extra hold of a reordered datagram.
    pub reorder_extra: Duration,
    /// Link rate in bytes per second (`None`: unlimited). Datagrams queue behind each other.
    pub rate_bytes_per_sec: Option<u64>,
    /// Most time a datagram may wait for the rate-limited link before it is dropped (tail
    /// drop).
    pub max_queue_delay: Duration,
}

impl Impairment {
    /// No impairment at all: a pass-through with no delay.
    pub fn none() -> Self {
        Impairment {
            loss_pct: 0,
            dup_pct: 0,
            reorder_pct: 0,
            delay: Duration::ZERO,
            jitter: Duration::ZERO,
            reorder_extra: Duration::ZERO,
            rate_bytes_per_sec: None,
            max_queue_delay: Duration::from_secs(1),
        }
    }

    /// The adapters' test network: 25 % reordering, 5 % loss, 2 % duplication, 50 ms jitter.
    pub fn lossy() -> Self {
        Impairment {
            loss_pct: 5,
            dup_pct: 2,
            reorder_pct: 25,
            delay: Duration::from_millis(5),
            jitter: Duration::from_millis(50),
            reorder_extra: Duration::from_millis(100),
            ..Impairment::none()
        }
    }
}

/// What a link did so far.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ImpairStats {
    /// Datagrams sent into the link.
    pub pushed: u64,
    /// Datagrams dropped by `loss_pct`.
    pub lost: u64,
    /// Extra copies made by `dup_pct`.
    pub duplicated: u64,
    /// Copies held back by `reorder_pct`.
    pub reordered: u64,
    /// Copies dropped because the rate-limited queue was too long.
    pub queue_dropped: u64,
    /// Datagrams a [`Shim`] released (a [`Link`] alone releases nothing: its user delivers).
    pub released: u64,
}

/// `true` with a chance of `pct` percent; draws nothing when `pct` is 0, so a profile
/// without some impairment leaves the rest of a seed's sequence unchanged.
pub fn chance(rng: &mut Rng, pct: u8) -> bool {
    pct > 0 && rng.next_u64() % 100 < u64::from(pct)
}

/// A uniform duration in `[0, max]`; draws nothing when `max` is zero.
pub fn up_to(rng: &mut Rng, max: Duration) -> Duration {
    match max.as_micros() {
        0 => Duration::ZERO,
        m => Duration::from_micros(rng.next_u64() % (m + 1)),
    }
}

/// The arrival times of the copies of one datagram that survive the link: none (lost or
/// tail-dropped), one, or two (duplicated).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arrivals {
    at: [Option<Instant>; 2],
    next: usize,
}

impl Iterator for Arrivals {
    type Item = Instant;

    fn next(&mut self) -> Option<Instant> {
        while let Some(slot) = self.at.get(self.next) {
            self.next += 1;
            if slot.is_some() {
                return *slot;
            }
        }
        None
    }
}

/// One direction of an impaired link: when its rate limit frees it again, and its counters.
/// The caller supplies the generator, so a harness can keep one seed for everything it
/// decides.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Link {
    /// When the rate-limited link is free again.
    free_at: Instant,
    stats: ImpairStats,
}

impl Link {
    /// Counters so far.
    pub fn stats(&self) -> ImpairStats {
        self.stats
    }

    /// Decides the fate of a datagram of `len` bytes sent at `now` under `imp`, drawing from
    /// `rng`: when each surviving copy arrives.
    pub fn transmit(&mut self, imp: &Impairment, rng: &mut Rng, now: Instant, len: usize) -> Arrivals {
        let mut arrivals = Arrivals { at: [None; 2], next: 0 };
        self.stats.pushed += 1;
        if chance(rng, imp.loss_pct) {
            self.stats.lost += 1;
            return arrivals;
        }
        let copies = if chance(rng, imp.dup_pct) {
            self.stats.duplicated += 1;
            2
        } else {
            1
        };
        for slot in arrivals.at.iter_mut().take(copies) {
            // The rate limit: the copy leaves the link once the ones before it have.
            let mut depart = now;
            if let Some(rate) = imp.rate_bytes_per_sec.filter(|r| *r > 0) {
                let start = self.free_at.max(now);
                if start.saturating_duration_since(now) > imp.max_queue_delay {
                    self.stats.queue_dropped += 1;
                    continue;
                }
                depart = start + Duration::from_micros((len as u64).saturating_mul(1_000_000) / rate);
                self.free_at = depart;
            }
            let mut at = depart + imp.delay + up_to(rng, imp.jitter);
            if chance(rng, imp.reorder_pct) {
                self.stats.reordered += 1;
                at += up_to(rng, imp.reorder_extra);
            }
            *slot = Some(at);
        }
        arrivals
    }
}

/// Items due at instants, released in time order and, at equal times, in the order they
/// were scheduled.
#[derive(Clone, Debug)]
pub struct Schedule<T> {
    queue: BTreeMap<(Instant, u64), T>,
    seq: u64,
}

impl<T> Default for Schedule<T> {
    fn default() -> Self {
        Schedule { queue: BTreeMap::new(), seq: 0 }
    }
}

impl<T> Schedule<T> {
    /// Schedules `item` at `at`.
    pub fn insert(&mut self, at: Instant, item: T) {
        self.seq += 1;
        self.queue.insert((at, self.seq), item);
    }

    /// When the next item is due, if any is waiting.
    pub fn next_time(&self) -> Option<Instant> {
        self.queue.keys().next().map(|(t, _)| *t)
    }

    /// The next item due at `now`, if any.
    pub fn pop_due(&mut self, now: Instant) -> Option<T> {
        let key = *self.queue.keys().next().filter(|(t, _)| *t <= now)?;
        self.queue.remove(&key)
    }

    /// Keeps only the items `keep` accepts.
    pub fn retain(&mut self, mut keep: impl FnMut(&T) -> bool) {
        self.queue.retain(|_, item| keep(item));
    }

    /// Items waiting.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }
}

/// A seeded impairment shim for a driver's transmit path: [`push_to`](Shim::push_to) every
/// outgoing PDU, wake at [`next_release`](Shim::next_release) along with the session's own
/// deadline, and send what [`pop_due_to`](Shim::pop_due_to) returns. Each PDU carries its
/// destination `D` (what the driver needs to send it on: the core's `Remote`; `()` for a
/// point-to-point relay).
#[derive(Clone, Debug)]
pub struct Shim<D = ()> {
    imp: Impairment,
    rng: Rng,
    link: Link,
    waiting: Schedule<(D, Bytes)>,
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
    /// A shim with the given impairments whose decisions are drawn from `seed`.
    pub fn new(imp: Impairment, seed: u64) -> Self {
        Shim { imp, rng: Rng::new(seed), link: Link::default(), waiting: Schedule::default() }
    }

    /// The impairments in force.
    pub fn impairment(&self) -> &Impairment {
        &self.imp
    }

    /// Counters so far.
    pub fn stats(&self) -> ImpairStats {
        self.link.stats()
    }

    /// Takes a PDU sent at `now` to `to`.
    pub fn push_to(&mut self, now: Instant, to: D, pdu: Bytes) {
        for at in self.link.transmit(&self.imp, &mut self.rng, now, pdu.len()) {
            self.waiting.insert(at, (to.clone(), pdu.clone()));
        }
    }

    /// When the next PDU is due, if any is waiting.
    pub fn next_release(&self) -> Option<Instant> {
        self.waiting.next_time()
    }

    /// The next PDU due at `now` and its destination, if any.
    pub fn pop_due_to(&mut self, now: Instant) -> Option<(D, Bytes)> {
        let due = self.waiting.pop_due(now)?;
        self.link.stats.released += 1;
        Some(due)
    }

    /// PDUs waiting.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether nothing is waiting.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    fn run(imp: Impairment, seed: u64, n: u64) -> (Vec<u64>, ImpairStats) {
        let mut shim = Shim::new(imp, seed);
        let mut out = Vec::new();
        let mut now = Instant::from_micros(1_000_000);
        let number = |p: Bytes| u64::from_be_bytes(p[..].try_into().unwrap_or_default());
        for i in 0..n {
            shim.push(now, Bytes::copy_from_slice(&i.to_be_bytes()));
            now += Duration::from_millis(1);
            while let Some(p) = shim.pop_due(now) {
                out.push(number(p));
            }
        }
        while let Some(t) = shim.next_release() {
            while let Some(p) = shim.pop_due(t) {
                out.push(number(p));
            }
        }
        (out, shim.stats())
    }

    #[test]
    fn pass_through_keeps_order() {
        let (out, stats) = run(Impairment::none(), 1, 100);
        assert_eq!(out, (0..100).collect::<Vec<_>>());
        assert_eq!(stats.released, 100);
    }

    #[test]
    fn lossy_profile_loses_duplicates_and_reorders_deterministically() {
        let (a, sa) = run(Impairment::lossy(), 7, 10_000);
        let (b, _) = run(Impairment::lossy(), 7, 10_000);
        let (c, _) = run(Impairment::lossy(), 8, 10_000);
        assert_eq!(a, b, "same seed, same run");
        assert_ne!(a, c, "another seed, another run");
        assert!((350..=650).contains(&sa.lost), "about 5 % lost: {sa:?}");
        assert!((100..=300).contains(&sa.duplicated), "about 2 % duplicated: {sa:?}");
        assert_eq!(sa.released, sa.pushed - sa.lost + sa.duplicated);
        let inversions = a.windows(2).filter(|w| w[1] < w[0]).count();
        assert!(inversions > 1000, "reordered: {inversions}");
    }

    #[test]
    fn rate_limit_spaces_pdus_and_drops_the_tail() {
        let imp = Impairment {
            rate_bytes_per_sec: Some(8_000),
            max_queue_delay: Duration::from_millis(10),
            ..Impairment::none()
        };
        let mut shim = Shim::new(imp, 3);
        let now = Instant::from_micros(0);
        for _ in 0..20 {
            shim.push(now, Bytes::from(alloc::vec![0u8; 8])); // 1 ms each at 8 kB/s
        }
        assert_eq!(shim.len() as u64 + shim.stats().queue_dropped, 20);
        assert!(shim.stats().queue_dropped > 0);
        assert_eq!(shim.next_release(), Some(Instant::from_micros(1_000)));
    }

    /// A profile without some impairment draws nothing for it: turning loss off leaves the
    /// jitter decisions of an otherwise identical run where they were.
    #[test]
    fn an_absent_impairment_draws_nothing() {
        let jitter = Impairment { jitter: Duration::from_millis(10), ..Impairment::none() };
        let (mut rng, mut link) = (Rng::new(5), Link::default());
        let first: Vec<Instant> = link.transmit(&jitter, &mut rng, Instant::ZERO, 1).collect();
        let mut fresh = Rng::new(5);
        assert_eq!(first, [Instant::ZERO + up_to(&mut fresh, Duration::from_millis(10))]);
        assert_eq!(rng, fresh, "one draw, for the jitter only");
    }

    #[test]
    fn schedule_releases_in_time_then_insertion_order() {
        let mut s = Schedule::default();
        let t = |ms| Instant::ZERO + Duration::from_millis(ms);
        s.insert(t(5), 'b');
        s.insert(t(1), 'a');
        s.insert(t(5), 'c');
        assert_eq!(s.next_time(), Some(t(1)));
        assert_eq!(s.pop_due(t(0)), None, "nothing due yet");
        let due: Vec<char> = core::iter::from_fn(|| s.pop_due(t(5))).collect();
        assert_eq!(due, ['a', 'b', 'c']);
        assert!(s.is_empty());
    }
}
