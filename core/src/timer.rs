//! The core's named timers: a closed enum and a fixed table of deadlines.
//!
//! Handlers trust the firing: `Session::handle_timer` (feature `model-hooks`) runs a
//! timer's action without comparing `now` to its deadline. That is what lets the model fire
//! any armed timer at any moment, and what makes every handler safe to run early.

use crate::time::Instant;

/// Every timer the core can arm. At most one deadline per timer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Timer {
    /// Retransmit the pending INIT or CONFIRM, or fail the attempt when retransmissions run out.
    Handshake,
    /// Wait between failed open attempts is over: try again.
    OpenBackoff,
    /// RFC 9002 loss detection: time-threshold loss or probe timeout.
    Loss,
    /// Nothing received for the keepalive interval: send a PING.
    Keepalive,
    /// The association has been idle for `lifetime`: release it if nothing is in flight.
    Idle,
    /// A released association's draining period is over: forget its tags.
    Drain,
    /// No association for `disconnect_delay`: ask the driver to hang up the bearer.
    Disconnect,
    /// A message's deadline or transfer timeout: give up on it (never sent) or cancel it.
    Expiry,
    /// An owed ACK has waited `max_ack_delay`: send it now (RFC 9000 §13.2.1).
    Ack,
}

impl Timer {
    /// Every timer, in table order.
    pub const ALL: [Timer; 9] = [
        Timer::Handshake,
        Timer::OpenBackoff,
        Timer::Loss,
        Timer::Keepalive,
        Timer::Idle,
        Timer::Drain,
        Timer::Disconnect,
        Timer::Expiry,
        Timer::Ack,
    ];

    fn index(self) -> usize {
        self as usize
    }
}

/// Deadlines of all timers plus the cached earliest one, so `next()` is O(1).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct TimerTable {
    deadlines: [Option<Instant>; Timer::ALL.len()],
    earliest: Option<Instant>,
}

impl TimerTable {
    /// Arms `timer` at `at`, replacing any earlier deadline of the same timer.
    pub(crate) fn set(&mut self, timer: Timer, at: Instant) {
        self.deadlines[timer.index()] = Some(at);
        self.recompute();
    }

    /// Arms or disarms `timer`.
    pub(crate) fn set_opt(&mut self, timer: Timer, at: Option<Instant>) {
        self.deadlines[timer.index()] = at;
        self.recompute();
    }

    /// Disarms `timer`.
    pub(crate) fn stop(&mut self, timer: Timer) {
        self.set_opt(timer, None);
    }

    /// The deadline of `timer`, if armed.
    pub(crate) fn get(&self, timer: Timer) -> Option<Instant> {
        self.deadlines[timer.index()]
    }

    /// Whether `timer` is armed.
    pub(crate) fn is_armed(&self, timer: Timer) -> bool {
        self.get(timer).is_some()
    }

    /// The earliest deadline of all armed timers (cached).
    pub(crate) fn next(&self) -> Option<Instant> {
        self.earliest
    }

    /// The armed timer with the earliest deadline that is due at `now`, ties in table order.
    pub(crate) fn first_due(&self, now: Instant) -> Option<Timer> {
        Timer::ALL
            .iter()
            .copied()
            .filter_map(|t| self.get(t).filter(|&d| d <= now).map(|d| (d, t)))
            .min()
            .map(|(_, t)| t)
    }

    /// Armed timers in table order.
    pub(crate) fn armed(&self) -> impl Iterator<Item = Timer> + '_ {
        Timer::ALL.iter().copied().filter(|t| self.is_armed(*t))
    }

    fn recompute(&mut self) {
        self.earliest = self.deadlines.iter().flatten().min().copied();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_caches_the_earliest_and_orders_due_timers() {
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Idle, Instant::from_micros(50));
        t.set(Timer::Loss, Instant::from_micros(20));
        t.set(Timer::Handshake, Instant::from_micros(20));
        assert_eq!(t.next(), Some(Instant::from_micros(20)));
        assert_eq!(t.first_due(Instant::from_micros(19)), None);
        assert_eq!(t.first_due(Instant::from_micros(60)), Some(Timer::Handshake));
        t.stop(Timer::Handshake);
        t.stop(Timer::Loss);
        assert_eq!(t.next(), Some(Instant::from_micros(50)));
        assert_eq!(t.armed().collect::<alloc::vec::Vec<_>>(), [Timer::Idle]);
    }
}
