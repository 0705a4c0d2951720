//! The core's own clock types: integer microseconds, no wall clock.
//!
//! The core never reads a clock. Every entry point takes `now: Instant`, supplied by the
//! driver (a real clock in the adapters, a virtual one in tests and the model). Only
//! differences between instants matter, so drivers may start the clock anywhere.

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A span of time in whole microseconds.
///
/// Arithmetic saturates instead of overflowing: no time computation in the core can panic.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Duration(u64);

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);
    /// The longest representable span; used as "never".
    pub const MAX: Duration = Duration(u64::MAX);

    /// A span of `us` microseconds.
    pub const fn from_micros(us: u64) -> Self {
        Duration(us)
    }
    /// A span of `ms` milliseconds (saturating).
    pub const fn from_millis(ms: u64) -> Self {
        Duration(ms.saturating_mul(1_000))
    }
    /// A span of `s` seconds (saturating).
    pub const fn from_secs(s: u64) -> Self {
        Duration(s.saturating_mul(1_000_000))
    }
    /// The span in microseconds.
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    /// The span in whole milliseconds (rounded down).
    pub const fn as_millis(self) -> u64 {
        self.0 / 1_000
    }
    /// The span in whole seconds (rounded down).
    pub const fn as_secs(self) -> u64 {
        self.0 / 1_000_000
    }
    /// `self * k`, saturating.
    pub const fn saturating_mul(self, k: u64) -> Self {
        Duration(self.0.saturating_mul(k))
    }
    /// `self + other`, saturating.
    pub const fn saturating_add(self, other: Duration) -> Self {
        Duration(self.0.saturating_add(other.0))
    }
    /// `self - other`, or zero if `other` is longer.
    pub const fn saturating_sub(self, other: Duration) -> Self {
        Duration(self.0.saturating_sub(other.0))
    }
    /// `self * 2^shift`, saturating; used for exponential backoff.
    pub const fn saturating_shl(self, shift: u32) -> Self {
        if shift >= 64 || self.0.leading_zeros() < shift {
            if self.0 == 0 {
                Duration(0)
            } else {
                Duration(u64::MAX)
            }
        } else {
            Duration(self.0 << shift)
        }
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        self.saturating_add(rhs)
    }
}

impl Sub for Duration {
    type Output = Duration;
    fn sub(self, rhs: Duration) -> Duration {
        self.saturating_sub(rhs)
    }
}

impl fmt::Debug for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0 % 1_000_000 == 0 {
            write!(f, "{}s", self.0 / 1_000_000)
        } else if self.0 % 1_000 == 0 {
            write!(f, "{}ms", self.0 / 1_000)
        } else {
            write!(f, "{}us", self.0)
        }
    }
}

/// A point in time, in microseconds since an origin chosen by the driver.
///
/// `Instant` is plain data: comparing and subtracting never panics (subtraction saturates).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Instant(u64);

impl Instant {
    /// The driver's origin.
    pub const ZERO: Instant = Instant(0);
    /// The latest representable instant; a deadline that never comes.
    pub const MAX: Instant = Instant(u64::MAX);

    /// The instant `us` microseconds after the origin.
    pub const fn from_micros(us: u64) -> Self {
        Instant(us)
    }
    /// Microseconds since the origin.
    pub const fn as_micros(self) -> u64 {
        self.0
    }
    /// Time from `earlier` to `self`, or zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        *self = *self + rhs;
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl fmt::Debug for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "t+{:?}", Duration(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::format;

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        assert_eq!(Instant::MAX + Duration::from_secs(1), Instant::MAX);
        assert_eq!(Instant::ZERO - Instant::from_micros(5), Duration::ZERO);
        assert_eq!(Duration::from_micros(3).saturating_shl(2), Duration::from_micros(12));
        assert_eq!(Duration::from_micros(3).saturating_shl(63), Duration::MAX);
        assert_eq!(Duration::ZERO.saturating_shl(80), Duration::ZERO);
        assert_eq!(Duration::from_secs(u64::MAX), Duration::MAX);
    }

    #[test]
    fn conversions_round_down_and_differences_saturate() {
        let d = Duration::from_micros(3_456_789);
        assert_eq!((d.as_micros(), d.as_millis(), d.as_secs()), (3_456_789, 3_456, 3));
        assert_eq!((Duration::from_micros(999).as_millis(), Duration::from_millis(999).as_secs()), (0, 0));
        assert_eq!(Duration::from_secs(5) - Duration::from_secs(2), Duration::from_secs(3));
        assert_eq!(Duration::from_secs(2) - Duration::from_secs(5), Duration::ZERO);
        let (a, b) = (Instant::from_micros(10_000), Instant::from_micros(2_500));
        assert_eq!((a - b, b - a), (Duration::from_micros(7_500), Duration::ZERO));
    }

    /// A shift that exactly fills the 64 bits is exact; one more bit saturates.
    #[test]
    fn shifting_to_the_top_bit_is_exact() {
        assert_eq!(Duration::from_micros(3).saturating_shl(62), Duration::from_micros(3 << 62));
        assert_eq!(Duration::from_micros(3).saturating_shl(63), Duration::MAX);
        assert_eq!(Duration::from_micros(1 << 63).saturating_shl(0), Duration::from_micros(1 << 63));
    }

    #[test]
    fn debug_is_human_readable() {
        assert_eq!(format!("{:?}", Duration::from_secs(2)), "2s");
        assert_eq!(format!("{:?}", Duration::from_millis(1500)), "1500ms");
        assert_eq!(format!("{:?}", Instant::from_micros(7)), "t+7us");
    }
}
