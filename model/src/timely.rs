//! Timely timers: when the model lets a protocol timer fire.
//!
//! Time never advances in the model ([`crate::actor::MODEL_NOW`]), so with *free timers*
//! every armed timer may fire at any moment: a retransmission or probe may fire while its
//! answer is still in flight, again and again, each time with a new packet number, and
//! every failed attempt takes a new epoch. Such states leave the search bound, and AG EF
//! ("no stuck state") could then be decided only optimistically.
//!
//! With *timely timers* (a preset's `early_timers: Some(budget)`), a core timer other than
//! [`Timer::Expiry`] fires freely only when the pair is **quiescent**: no record is in fsync
//! on either side, and no delivery of a PDU in the network would change the state (within
//! the boundary). Otherwise it may still fire, but as an *early* firing
//! ([`ModelTimer::Early`]): an environment fault, like a loss or a crash, bounded by the
//! preset's budget (counted in the state, [`Env::early_timers`], over both sides) and never
//! used by an AG EF path.
//!
//! **Soundness: what real schedules this covers.** Every schedule in which each PDU that
//! still changes its receiver's state is delivered (or lost) and each fsync completes
//! before any protocol timer expires — the network's delay and the disk's latency below the
//! shortest timer (handshake retransmission, probe timeout, keepalive, idle, drain and
//! disconnect delays are all at least a round trip) — plus, anywhere in the run, up to
//! `budget` timers that expire while such a PDU is still in flight (a spurious
//! retransmission, a probe overtaking a delayed ACK, a handshake retransmitted before its
//! CHALLENGE arrives). Losses, duplicates, replays of old PDUs, reordering, crashes, link
//! drops and the application's commands are as free as before: a PDU that is lost makes the
//! pair quiescent (nothing left to deliver), so a retransmission after a loss is timely.
//! A duplicate whose delivery changes nothing (dropped as stale) does not hold timers back.
//! [`Timer::Expiry`] stays free: a message's deadline is the application's and may fall at
//! any moment of the exchange.
//!
//! **What it gives up.** Schedules with more than `budget` early firings in one run: a
//! network that keeps delaying PDUs beyond the timers, over and over (each such firing only
//! adds a duplicate PDU or a new attempt that a timely schedule also produces after the
//! delayed PDU arrives). `check --free-timers` restores the old semantics (any armed timer
//! fires at any moment) for cross-checking: its state space contains this one's.

use assoc_core::Timer;
use serde::Serialize;

use crate::actor::ModelTimer;

/// Model-level bookkeeping of the environment kept in every state (stateright's actor-model
/// *history*; the compact model keeps the same fields in its packed state).
///
/// [`Env::events`] is not part of the state: equality, ordering and hashing ignore it (see
/// [`crate::properties::take_edge_events`]).
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Env {
    /// Early timer firings so far (both sides), against the preset's `early_timers` budget.
    pub early_timers: u8,
    /// PDUs lost so far, against the preset's `max_losses` budget (counted only when the
    /// preset bounds losses).
    pub losses: u8,
    /// What the transition into this state did that only `sometimes` properties ask about
    /// ([`crate::properties::RESUMED_EVENT`] and [`crate::properties::REESTABLISHED_EVENT`]
    /// bits). A mark on the edge, not on the state.
    pub events: u8,
}

impl Env {
    /// The fields that make up the state (all but `events`).
    fn key(&self) -> (u8, u8) {
        (self.early_timers, self.losses)
    }
}

impl PartialEq for Env {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Env {}

impl PartialOrd for Env {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Env {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl std::hash::Hash for Env {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        self.key().hash(h);
    }
}

/// Whether one more loss is within `budget` (`None`: unbounded) after `used`.
pub fn may_lose(budget: Option<u8>, used: u8) -> bool {
    budget.is_none_or(|b| used < b)
}

/// Whether core timer `t` waits for quiescence (all but [`Timer::Expiry`]).
pub fn waits_for_quiescence(t: Timer) -> bool {
    t != Timer::Expiry
}

/// Whether environment timer `t` is faster than every protocol timer, so that the pair is
/// not quiescent while it is armed: a record in fsync completing, a bearer coming up (our
/// dial completing, or the peer's connection being accepted).
pub fn settles(t: ModelTimer) -> bool {
    matches!(t, ModelTimer::Fsync | ModelTimer::LinkUp)
}

/// How the armed timers that wait for quiescence may fire in one state.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Firing {
    /// As they are (free timers, or the pair is quiescent).
    Timely,
    /// Only as early firings ([`ModelTimer::Early`]), each using one unit of the budget.
    Early,
    /// Not at all: the pair is not quiescent and the budget is spent.
    Never,
}

/// The firing rule of a state: `budget` is the preset's (`None`: free timers), `used` the
/// early firings so far, `quiescent` decides quiescence (only called when it matters).
pub fn firing(budget: Option<u8>, used: u8, quiescent: impl FnOnce() -> bool) -> Firing {
    match budget {
        None => Firing::Timely,
        Some(_) if quiescent() => Firing::Timely,
        Some(b) if used < b => Firing::Early,
        Some(_) => Firing::Never,
    }
}

/// Applies `rule` to one armed timer of an action list: `Some(timer)` to keep (possibly
/// rewritten into an early firing), `None` to drop the action.
pub fn apply(rule: Firing, timer: ModelTimer) -> Option<ModelTimer> {
    match (timer, rule) {
        (ModelTimer::Core(t), Firing::Early) if waits_for_quiescence(t) => Some(ModelTimer::Early(t)),
        (ModelTimer::Core(t), Firing::Never) if waits_for_quiescence(t) => None,
        (other, _) => Some(other),
    }
}

/// Whether an action list holds a timer that the rule may affect (else quiescence need not
/// be decided).
pub fn any_waiting<'a>(mut timers: impl Iterator<Item = &'a ModelTimer>) -> bool {
    timers.any(|t| matches!(t, ModelTimer::Core(c) if waits_for_quiescence(*c)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_decides_premature_firings_only() {
        let never = || panic!("quiescence is not needed with free timers");
        assert_eq!(firing(None, 9, never), Firing::Timely);
        assert_eq!(firing(Some(0), 0, || true), Firing::Timely);
        assert_eq!(firing(Some(1), 0, || false), Firing::Early);
        assert_eq!(firing(Some(1), 1, || false), Firing::Never);
        let probe = ModelTimer::Core(Timer::Loss);
        assert_eq!(apply(Firing::Early, probe), Some(ModelTimer::Early(Timer::Loss)));
        assert_eq!(apply(Firing::Never, probe), None);
        assert_eq!(apply(Firing::Timely, probe), Some(probe));
        let expiry = ModelTimer::Core(Timer::Expiry);
        assert_eq!(apply(Firing::Never, expiry), Some(expiry), "deadlines are the application's");
        assert_eq!(apply(Firing::Never, ModelTimer::Fsync), Some(ModelTimer::Fsync));
        assert!(!any_waiting([ModelTimer::Fsync, expiry].iter()));
        assert!(any_waiting([ModelTimer::Fsync, probe].iter()));
    }
}
