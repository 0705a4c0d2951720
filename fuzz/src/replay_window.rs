//! `replay_window`: the receiver's packet-number record (ACK ranges and replay window,
//! `recovery::RangeSet`) against the obvious oracle: the set of every pn ever inserted
//! plus a floor recomputed from scratch after each insertion.
//!
//! After every insertion: the verdict (new / duplicate / too old) and the floor equal the
//! oracle's, the ACK ranges are the oracle's maximal runs above the floor, the structure's
//! invariant holds, and no pn is ever reported new twice or forgotten.

use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use assoc_core::fuzz_internals::{ReplayWindow, Seen};
use assoc_core::wire::PnRange;

/// Most insertions of one case.
const MAX_OPS: usize = 1_000;

/// One fuzz case.
#[derive(Arbitrary, Debug)]
pub struct Case {
    max_ranges: u8,
    ops: Vec<Pn>,
}

/// Which packet number to insert next.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum Pn {
    /// A small pn.
    Small(u8),
    /// Just above the last one.
    Ahead(u8),
    /// Just below the last one.
    Behind(u8),
    /// `u64::MAX - x`.
    Top(u8),
    /// Any.
    Any(u64),
}

struct Oracle {
    seen: BTreeSet<u64>,
    floor: u64,
    max_ranges: usize,
}

impl Oracle {
    fn insert(&mut self, pn: u64) -> Seen {
        if pn < self.floor {
            return Seen::TooOld;
        }
        if !self.seen.insert(pn) {
            return Seen::Duplicate;
        }
        loop {
            let runs = self.runs();
            if runs.len() <= self.max_ranges {
                return Seen::New;
            }
            self.floor = runs[0].1.saturating_add(1);
        }
    }

    /// Maximal runs of seen pns at or above the floor, lowest first.
    fn runs(&self) -> Vec<(u64, u64)> {
        let mut runs: Vec<(u64, u64)> = Vec::new();
        for &pn in self.seen.range(self.floor..) {
            match runs.last_mut() {
                Some(last) if last.1.checked_add(1) == Some(pn) => last.1 = pn,
                _ => runs.push((pn, pn)),
            }
        }
        runs
    }

    fn contains(&self, pn: u64) -> bool {
        pn < self.floor || self.seen.contains(&pn)
    }
}

/// Runs one case; panics with a description on the first violated property.
pub fn run(case: Case) {
    let max_ranges = usize::from(case.max_ranges % 70);
    let mut w = ReplayWindow::new(max_ranges);
    let mut o = Oracle { seen: BTreeSet::new(), floor: 0, max_ranges: max_ranges.clamp(1, 64) };
    let mut accepted = BTreeSet::new();
    let mut last = 0u64;
    for (n, op) in case.ops.into_iter().take(MAX_OPS).enumerate() {
        let pn = match op {
            Pn::Small(x) => u64::from(x),
            Pn::Ahead(x) => last.saturating_add(u64::from(x)),
            Pn::Behind(x) => last.saturating_sub(u64::from(x)),
            Pn::Top(x) => u64::MAX - u64::from(x),
            Pn::Any(x) => x,
        };
        last = pn;
        let got = w.insert(pn);
        let want = o.insert(pn);
        assert_eq!(got, want, "op {n}: insert({pn})");
        if got == Seen::New {
            assert!(accepted.insert(pn), "op {n}: pn {pn} accepted twice");
        }
        assert!(w.invariant_holds(), "op {n}: invariant broken: {w:?}");
        assert_eq!(w.floor(), o.floor, "op {n}: floor");
        let runs = o.runs();
        let want: Vec<PnRange> =
            runs.iter().rev().map(|&(smallest, largest)| PnRange { smallest, largest }).collect();
        assert_eq!(w.ack_ranges(), want, "op {n}: ack ranges");
        assert_eq!(w.largest(), runs.last().map(|r| r.1), "op {n}: largest");
        for q in [pn.saturating_sub(1), pn, pn.saturating_add(1), o.floor, o.floor.saturating_sub(1)] {
            assert_eq!(w.contains(q), o.contains(q), "op {n}: contains({q})");
        }
        if n % 16 == 0 {
            for &seen in &accepted {
                assert!(w.contains(seen), "op {n}: forgot {seen}");
            }
        }
    }
    for &seen in &accepted {
        assert!(w.contains(seen), "forgot {seen}");
        assert_ne!(w.insert(seen), Seen::New, "replayed {seen} accepted");
    }
}
