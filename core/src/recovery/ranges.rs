//! The receiver's record of received packet numbers: ACK ranges and replay window in one.
//!
//! Memory is bounded whatever a peer sends: at most `max_ranges` ranges are kept, and when
//! a new range would exceed that, the lowest range is forgotten by raising a `floor` below
//! which every packet number counts as already seen. A packet number, once inserted, is
//! therefore reported as seen forever (replay protection), at the price of refusing some
//! old, never-seen packet numbers as [`Insert::TooOld`].

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::wire::{PnRange, MAX_ACK_RANGES};

/// What [`RangeSet::insert`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Insert {
    /// First time this packet number is seen; process the packet.
    New,
    /// Already recorded; drop the packet (duplicate or replay).
    Duplicate,
    /// Below the floor: seen before or too old to tell; drop the packet.
    TooOld,
}

/// Received packet numbers as at most `max_ranges` disjoint ranges above a floor.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RangeSet {
    /// `start → end` (inclusive) of each received range.
    ranges: BTreeMap<u64, u64>,
    /// Every pn below this counts as seen.
    floor: u64,
    /// Most ranges kept; `1..=MAX_ACK_RANGES`.
    max_ranges: usize,
}

// Invariant (checked by `check_invariant`, kept by every `&mut self` method):
// - every range has `start <= end`;
// - ranges are disjoint and non-adjacent: for consecutive ranges a < b, `a.end + 1 < b.start`;
// - every start is `>= floor`;
// - the number of ranges is at most `max_ranges`, and `1 <= max_ranges <= MAX_ACK_RANGES`.
// Seen set = `{pn < floor}` ∪ ranges; it only ever grows.
impl RangeSet {
    /// An empty record keeping at most `max_ranges` ranges, clamped into
    /// `1..=MAX_ACK_RANGES`.
    pub(crate) fn new(max_ranges: usize) -> Self {
        RangeSet { ranges: BTreeMap::new(), floor: 0, max_ranges: max_ranges.clamp(1, MAX_ACK_RANGES) }
    }

    /// Records `pn` and says whether it is new.
    ///
    /// Merges with adjacent ranges; if that leaves more than `max_ranges` ranges, the lowest
    /// one is dropped and the floor raised past it.
    pub(crate) fn insert(&mut self, pn: u64) -> Insert {
        if pn < self.floor {
            return Insert::TooOld;
        }
        let below = self.ranges.range(..=pn).next_back().map(|(&s, &e)| (s, e));
        if let Some((_, end)) = below {
            if end >= pn {
                return Insert::Duplicate;
            }
        }
        let start = match below {
            Some((s, e)) if e.checked_add(1) == Some(pn) => s,
            _ => pn,
        };
        let end = match pn.checked_add(1).and_then(|next| self.ranges.remove(&next)) {
            Some(next_end) => next_end,
            None => pn,
        };
        // If `start` is an existing range's start, this overwrites it with the extended end.
        self.ranges.insert(start, end);
        if self.ranges.len() > self.max_ranges {
            if let Some((_, lowest_end)) = self.ranges.pop_first() {
                self.floor = lowest_end.saturating_add(1);
            }
        }
        Insert::New
    }

    /// Whether `pn` counts as seen (below the floor or inside a range).
    #[cfg(any(test, fuzzing))]
    pub(crate) fn contains(&self, pn: u64) -> bool {
        pn < self.floor || self.ranges.range(..=pn).next_back().is_some_and(|(_, &e)| e >= pn)
    }

    /// The largest packet number recorded, if any is held in a range.
    pub(crate) fn largest(&self) -> Option<u64> {
        self.ranges.last_key_value().map(|(_, &e)| e)
    }

    /// Every pn below this counts as seen.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn floor(&self) -> u64 {
        self.floor
    }

    /// The ranges as ACK ranges, highest first, at most `max_ranges`.
    pub(crate) fn to_ack_ranges(&self) -> Vec<PnRange> {
        self.ranges
            .iter()
            .rev()
            .take(self.max_ranges)
            .map(|(&smallest, &largest)| PnRange { smallest, largest })
            .collect()
    }

    /// Whether the invariant written above this impl holds.
    #[cfg(any(test, fuzzing))]
    pub(crate) fn check_invariant(&self) -> bool {
        let mut prev_end: Option<u64> = None;
        for (&s, &e) in &self.ranges {
            if s > e || s < self.floor {
                return false;
            }
            if let Some(p) = prev_end {
                if p.saturating_add(1) >= s {
                    return false;
                }
            }
            prev_end = Some(e);
        }
        (1..=MAX_ACK_RANGES).contains(&self.max_ranges) && self.ranges.len() <= self.max_ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::collections::BTreeSet;

    /// The obvious model: the set of every pn ever inserted, plus a floor recomputed from
    /// scratch after each insertion.
    struct Oracle {
        seen: BTreeSet<u64>,
        floor: u64,
        max_ranges: usize,
    }

    impl Oracle {
        fn insert(&mut self, pn: u64) -> Insert {
            if pn < self.floor {
                return Insert::TooOld;
            }
            if !self.seen.insert(pn) {
                return Insert::Duplicate;
            }
            while self.runs().len() > self.max_ranges {
                self.floor = self.runs()[0].1 + 1;
            }
            Insert::New
        }

        /// Maximal runs of seen pns at or above the floor, lowest first.
        fn runs(&self) -> Vec<(u64, u64)> {
            let mut runs: Vec<(u64, u64)> = Vec::new();
            for &pn in self.seen.range(self.floor..) {
                match runs.last_mut() {
                    Some(last) if last.1 + 1 == pn => last.1 = pn,
                    _ => runs.push((pn, pn)),
                }
            }
            runs
        }

        fn contains(&self, pn: u64) -> bool {
            pn < self.floor || self.seen.contains(&pn)
        }
    }

    /// A small LCG (Knuth's MMIX constants); the high bits are the usable ones.
    struct Lcg(u64);

    impl Lcg {
        fn below(&mut self, n: u64) -> u64 {
            self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 33) % n
        }
    }

    fn ack(ranges: &[(u64, u64)]) -> Vec<PnRange> {
        ranges.iter().map(|&(smallest, largest)| PnRange { smallest, largest }).collect()
    }

    #[test]
    fn merges_and_reports() {
        let mut r = RangeSet::new(4);
        assert_eq!(r.largest(), None);
        assert_eq!(r.insert(5), Insert::New);
        assert_eq!(r.insert(7), Insert::New);
        assert_eq!(r.to_ack_ranges(), ack(&[(7, 7), (5, 5)]));
        assert_eq!(r.insert(6), Insert::New); // bridges both neighbours
        assert_eq!(r.to_ack_ranges(), ack(&[(5, 7)]));
        assert_eq!(r.insert(6), Insert::Duplicate);
        assert_eq!(r.insert(4), Insert::New);
        assert_eq!(r.insert(8), Insert::New);
        assert_eq!(r.to_ack_ranges(), ack(&[(4, 8)]));
        assert_eq!(r.largest(), Some(8));
        assert!(r.contains(4) && r.contains(8) && !r.contains(3) && !r.contains(9));
        assert!(r.check_invariant());
    }

    #[test]
    fn overflow_drops_lowest_range_and_raises_floor() {
        let mut r = RangeSet::new(2);
        for pn in [10, 20, 30] {
            assert_eq!(r.insert(pn), Insert::New);
        }
        assert_eq!(r.floor(), 11);
        assert_eq!(r.to_ack_ranges(), ack(&[(30, 30), (20, 20)]));
        assert_eq!(r.insert(10), Insert::TooOld);
        assert_eq!(r.insert(3), Insert::TooOld); // never seen, but below the floor
        assert!(r.contains(0) && r.contains(10) && !r.contains(11));
        // A new lowest range is itself the one dropped.
        assert_eq!(r.insert(12), Insert::New);
        assert_eq!(r.floor(), 13);
        assert_eq!(r.insert(12), Insert::TooOld);
        assert!(r.check_invariant());
    }

    #[test]
    fn extremes_do_not_panic() {
        let mut r = RangeSet::new(0); // clamped to 1
        assert_eq!(r.insert(u64::MAX), Insert::New);
        assert_eq!(r.insert(u64::MAX), Insert::Duplicate);
        assert_eq!(r.insert(u64::MAX - 1), Insert::New);
        assert_eq!(r.to_ack_ranges(), ack(&[(u64::MAX - 1, u64::MAX)]));
        assert_eq!(r.insert(0), Insert::New);
        assert_eq!(r.floor(), 1);
        assert_eq!(r.insert(5), Insert::New);
        assert_eq!(r.floor(), 6);
        assert!(r.check_invariant());
        assert!(RangeSet::new(usize::MAX).check_invariant());
        let mut big = RangeSet::new(usize::MAX);
        for pn in 0..200 {
            big.insert(pn * 2);
        }
        assert_eq!(big.to_ack_ranges().len(), MAX_ACK_RANGES);
        assert!(big.check_invariant());
    }

    /// The invariant checker (the oracle of the tests and fuzzers) refuses each way a set
    /// can be broken.
    #[test]
    fn invariant_check_refuses_broken_sets() {
        let set = |ranges: &[(u64, u64)], floor, max_ranges| RangeSet {
            ranges: ranges.iter().copied().collect(),
            floor,
            max_ranges,
        };
        assert!(set(&[(2, 3), (5, 5)], 1, 2).check_invariant());
        assert!(!set(&[(3, 2)], 0, 2).check_invariant(), "start > end");
        assert!(!set(&[(2, 3)], 3, 2).check_invariant(), "start below the floor");
        assert!(!set(&[(2, 3), (4, 5)], 0, 2).check_invariant(), "adjacent ranges");
        assert!(!set(&[(2, 3), (5, 5)], 0, 1).check_invariant(), "more ranges than kept");
        assert!(!set(&[], 0, 0).check_invariant(), "max_ranges out of bounds");
    }

    #[test]
    fn matches_oracle_and_never_forgets() {
        let mut rng = Lcg(0x5eed);
        for seq in 0..4_000u64 {
            let max_ranges = 1 + (seq % 4) as usize;
            let mut r = RangeSet::new(max_ranges);
            let mut o = Oracle { seen: BTreeSet::new(), floor: 0, max_ranges };
            let mut inserted = BTreeSet::new();
            let len = 1 + rng.below(80);
            for _ in 0..len {
                let pn = rng.below(64);
                let got = r.insert(pn);
                assert_eq!(got, o.insert(pn), "seq {seq} pn {pn}");
                assert!(r.check_invariant(), "seq {seq} pn {pn}: {r:?}");
                if got == Insert::New {
                    assert!(inserted.insert(pn), "seq {seq}: pn {pn} accepted twice");
                }
                assert_eq!(r.floor(), o.floor);
                for &seen in &inserted {
                    assert!(r.contains(seen), "seq {seq}: forgot {seen}");
                    assert_ne!(r.insert(seen), Insert::New, "seq {seq}: replayed {seen}");
                }
                for q in 0..64 {
                    assert_eq!(r.contains(q), o.contains(q), "seq {seq} q {q}");
                }
                let want: Vec<_> = o.runs().into_iter().rev().collect();
                assert_eq!(r.to_ack_ranges(), ack(&want), "seq {seq}");
                assert_eq!(r.largest(), want.first().map(|x| x.1));
            }
        }
    }
}
