//! Which sessions in memory need the endpoint's attention: an index of their deadlines
//! (the earliest in O(log n), due ones without looking at the rest) and the set of
//! sessions that may have outputs to drain.
//!
//! Invariant: `deadlines` holds `(at, sid)` exactly when `armed[sid] == at`, i.e. one entry
//! per session with a deadline, and it is that session's next deadline as of the last
//! [`Schedule::set`].

use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

use crate::time::Instant;

/// Deadlines and ready sessions, keyed by session id.
#[derive(Clone, Debug, Default)]
pub(crate) struct Schedule {
    deadlines: BTreeSet<(Instant, u32)>,
    armed: BTreeMap<u32, Instant>,
    ready: BTreeSet<u32>,
}

impl Schedule {
    /// Records `sid`'s deadline (`None`: no timer armed).
    pub(crate) fn set(&mut self, sid: u32, at: Option<Instant>) {
        if let Some(old) = self.armed.remove(&sid) {
            self.deadlines.remove(&(old, sid));
        }
        if let Some(at) = at {
            self.armed.insert(sid, at);
            self.deadlines.insert((at, sid));
        }
    }

    /// Forgets `sid` entirely (it left memory).
    pub(crate) fn remove(&mut self, sid: u32) {
        self.set(sid, None);
        self.ready.remove(&sid);
    }

    /// The earliest deadline of any session.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.deadlines.first().map(|(at, _)| *at)
    }

    /// Sessions whose deadline is at or before `now`, earliest first.
    pub(crate) fn due(&self, now: Instant) -> Vec<u32> {
        self.deadlines.range(..=(now, u32::MAX)).map(|(_, sid)| *sid).collect()
    }

    /// Sessions with a deadline, earliest first.
    pub(crate) fn by_deadline(&self) -> impl Iterator<Item = u32> + '_ {
        self.deadlines.iter().map(|(_, sid)| *sid)
    }

    /// `sid` may have outputs.
    pub(crate) fn mark_ready(&mut self, sid: u32) {
        self.ready.insert(sid);
    }

    /// `sid` has none left.
    pub(crate) fn clear_ready(&mut self, sid: u32) {
        self.ready.remove(&sid);
    }

    /// Some session that may have outputs.
    pub(crate) fn first_ready(&self) -> Option<u32> {
        self.ready.first().copied()
    }

    /// Whether `sid` may have outputs.
    pub(crate) fn is_ready(&self, sid: u32) -> bool {
        self.ready.contains(&sid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(us: u64) -> Instant {
        Instant::from_micros(us)
    }

    #[test]
    fn one_entry_per_session_and_due_in_deadline_order() {
        let mut s = Schedule::default();
        s.set(1, Some(t(50)));
        s.set(2, Some(t(20)));
        s.set(3, Some(t(20)));
        s.set(1, Some(t(10))); // moved earlier: the old entry goes
        assert_eq!(s.next(), Some(t(10)));
        assert_eq!(s.due(t(20)), [1, 2, 3]);
        assert_eq!(s.due(t(19)), [1]);
        s.set(1, None);
        s.remove(2);
        assert_eq!(s.due(t(100)), [3]);
        assert_eq!(s.by_deadline().collect::<Vec<_>>(), [3]);
    }
}
