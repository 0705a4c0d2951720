//! The driver's clock: microseconds since the UNIX epoch, monotone within the process.
//!
//! The core persists deadlines (message expiry, transfer timeouts), so its [`Instant`] must
//! mean the same thing after a restart. The wall clock gives that; within one process the
//! clock advances with [`std::time::Instant`] so a wall-clock step never freezes or rewinds
//! the timers.

use assoc_core::Instant;
use std::time::{SystemTime, UNIX_EPOCH};

/// A clock for [`assoc_core::Session`]: the wall clock read once at start, then advanced
/// by the monotonic clock.
#[derive(Clone, Copy, Debug)]
pub struct Clock {
    base_us: u64,
    start: std::time::Instant,
}

impl Clock {
    /// A clock starting at the current wall-clock time.
    pub fn new() -> Self {
        let base_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
            .unwrap_or(0);
        Clock { base_us, start: std::time::Instant::now() }
    }

    /// The current instant.
    pub fn now(&self) -> Instant {
        let elapsed = u64::try_from(self.start.elapsed().as_micros()).unwrap_or(u64::MAX);
        Instant::from_micros(self.base_us.saturating_add(elapsed))
    }

    /// The [`std::time::Instant`] at which this clock reads `at` (for sleeping until it).
    pub fn to_std(&self, at: Instant) -> std::time::Instant {
        let offset = at.as_micros().saturating_sub(self.base_us);
        // An instant too far ahead to represent is "much later": a day is plenty for a wake-up.
        self.start
            .checked_add(std::time::Duration::from_micros(offset))
            .unwrap_or_else(|| std::time::Instant::now() + std::time::Duration::from_secs(86_400))
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::new()
    }
}

/// Converts a core duration to a std one.
#[cfg(feature = "std")]
pub(crate) fn to_std(d: assoc_core::Duration) -> std::time::Duration {
    std::time::Duration::from_micros(d.as_micros())
}

/// A fresh seed from the operating system's entropy source (falls back to the clock).
pub fn os_seed() -> u64 {
    getrandom::u64().unwrap_or_else(|_| Clock::new().now().as_micros().rotate_left(17) ^ 0x5EED_5EED)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_is_monotone_and_near_the_wall_clock() {
        let c = Clock::new();
        let a = c.now();
        let b = c.now();
        assert!(b >= a);
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64;
        assert!(wall.abs_diff(a.as_micros()) < 5_000_000);
        let later = a + assoc_core::Duration::from_millis(20);
        assert!(c.to_std(later) > std::time::Instant::now());
    }
}
