//! A token bucket on caller-supplied time, bounding the work an unauthenticated sender can
//! make an endpoint do.
//!
//! The session keeps one [`InitRateLimiter`] for the handshake PDUs it cannot authenticate
//! (INITs whose MAC fails are answered, and authentication failures reported, only while
//! its budget lasts). The core never sees addresses, so limiting *per source* is the
//! driver's business: a driver keeps one `InitRateLimiter` per source address (in a bounded
//! map, evicting the least recently used) and drops an INIT from a source whose bucket is
//! empty before handing it to the session. See the README's "Security" section.

use crate::time::{Duration, Instant};

/// How many tokens a [`InitRateLimiter`] holds and how fast it refills.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InitBudget {
    /// Most tokens held at once: the largest burst allowed after a quiet period (≥ 1).
    pub burst: u32,
    /// Tokens added per second of caller-supplied time (≥ 1).
    pub per_second: u32,
}

impl InitBudget {
    /// The session default: bursts of 16, then 4 per second.
    pub const DEFAULT: InitBudget = InitBudget { burst: 16, per_second: 4 };
}

impl Default for InitBudget {
    fn default() -> Self {
        InitBudget::DEFAULT
    }
}

/// Fixed-point scale: one token is this many units, so refill is exact integer arithmetic
/// (`per_second` units per microsecond).
const UNIT: u64 = 1_000_000;

/// A token bucket. Pure state: it reads no clock, only the `now` it is given. Time that
/// runs backwards refills nothing and never panics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct InitRateLimiter {
    budget: InitBudget,
    /// Tokens held at `at`, in units of `1 / UNIT` token.
    level: u64,
    /// When `level` was last brought up to date.
    at: Instant,
}

impl InitRateLimiter {
    /// A full bucket.
    pub fn new(budget: InitBudget) -> Self {
        InitRateLimiter { budget, level: Self::capacity(budget), at: Instant::ZERO }
    }

    fn capacity(budget: InitBudget) -> u64 {
        u64::from(budget.burst).saturating_mul(UNIT)
    }

    /// The budget it enforces.
    pub fn budget(&self) -> InitBudget {
        self.budget
    }

    /// The level at `now` (without changing anything).
    fn level_at(&self, now: Instant) -> u64 {
        let elapsed: Duration = now.saturating_duration_since(self.at);
        let refill = elapsed.as_micros().saturating_mul(u64::from(self.budget.per_second));
        self.level.saturating_add(refill).min(Self::capacity(self.budget))
    }

    /// Whole tokens available at `now`.
    pub fn available(&self, now: Instant) -> u32 {
        u32::try_from(self.level_at(now) / UNIT).unwrap_or(u32::MAX)
    }

    /// Whether a token is available at `now`, without taking it.
    pub fn would_allow(&self, now: Instant) -> bool {
        self.level_at(now) >= UNIT
    }

    /// Takes one token if one is available at `now`. A refusal changes nothing.
    pub fn try_acquire(&mut self, now: Instant) -> bool {
        let level = self.level_at(now);
        if level < UNIT {
            return false;
        }
        self.level = level - UNIT;
        self.at = self.at.max(now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills_at_the_configured_rate() {
        let mut r = InitRateLimiter::new(InitBudget { burst: 3, per_second: 2 });
        assert_eq!(r.budget(), InitBudget { burst: 3, per_second: 2 });
        let t0 = Instant::from_micros(10_000_000);
        assert!((0..3).all(|_| r.try_acquire(t0)));
        let full = r;
        assert!(!r.try_acquire(t0), "empty after the burst");
        assert_eq!(r, full, "a refusal changes nothing");
        // Half a token after 250 ms, one after 500 ms.
        assert!(!r.try_acquire(t0 + Duration::from_millis(250)));
        assert!(r.try_acquire(t0 + Duration::from_millis(500)));
        assert!(!r.try_acquire(t0 + Duration::from_millis(500)));
        // A long pause refills only up to the burst.
        let later = t0 + Duration::from_secs(3600);
        assert_eq!(r.available(later), 3);
    }

    #[test]
    fn time_going_backwards_refills_nothing() {
        let mut r = InitRateLimiter::new(InitBudget { burst: 1, per_second: 1 });
        let t = Instant::from_micros(5_000_000);
        assert!(r.try_acquire(t));
        assert!(!r.try_acquire(Instant::ZERO));
        assert!(!r.would_allow(t));
        assert!(r.would_allow(t + Duration::from_secs(1)));
    }

    #[test]
    fn extreme_budgets_do_not_overflow() {
        let mut r = InitRateLimiter::new(InitBudget { burst: u32::MAX, per_second: u32::MAX });
        assert!(r.try_acquire(Instant::MAX));
        assert_eq!(r.available(Instant::MAX), u32::MAX - 1);
        assert!(r.would_allow(Instant::ZERO));
    }
}
