//! Round-trip time estimation, RFC 9002 §5, in integer microseconds.
//!
//! The RFC's fractions (7/8, 3/4, 9/8) are applied to whole microseconds with one final
//! division rounding down, computed in `u128` so no intermediate product can overflow.

use crate::time::Duration;

/// Timer granularity: the smallest loss delay and PTO variance term (RFC 9002 §6.1.2,
/// `kGranularity`, recommended 1 ms).
pub(crate) const GRANULARITY: Duration = Duration::from_millis(1);

/// Packet reordering threshold: a packet is lost once a packet this many numbers above it
/// is acknowledged (RFC 9002 §6.1.1, `kPacketThreshold`, recommended 3).
pub(crate) const PACKET_THRESHOLD: u64 = 3;

/// Time reordering threshold as a multiple of the RTT (RFC 9002 §6.1.2, `kTimeThreshold`,
/// recommended 9/8).
pub(crate) const TIME_THRESHOLD: Ratio = Ratio { num: 9, den: 8 };

/// Largest RTT sample the estimator takes; longer samples count as this long.
///
/// A datagram delayed by hours (a store-and-forward hop, a suspended laptop, a fuzzer)
/// would otherwise raise the smoothed RTT to hours, and with it the loss delay and the
/// probe timeout, so a lost packet would wait days to be declared lost or probed. TCP
/// bounds its RTO the same way (RFC 6298 §2.5 allows a maximum of at least 60 s). A path
/// whose real RTT exceeds this still works: its packets are probed, and acknowledged by
/// whichever copy arrives.
pub(crate) const MAX_RTT: Duration = Duration::from_secs(60);

/// RTT assumed before the first sample (RFC 9002 §6.2.2, `kInitialRtt`, recommended 333 ms).
#[cfg(test)]
pub(crate) const INITIAL_RTT: Duration = Duration::from_millis(333);

/// An exact fraction `num / den` applied to durations without floats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Ratio {
    /// Numerator.
    pub(crate) num: u64,
    /// Denominator; a zero denominator yields [`Duration::MAX`] rather than a panic.
    pub(crate) den: u64,
}

impl Ratio {
    /// `d * num / den`, rounded down, saturating at [`Duration::MAX`].
    pub(crate) fn apply(self, d: Duration) -> Duration {
        weighted(&[(d, self.num)], self.den)
    }
}

/// `(Σ dᵢ·wᵢ) / den` in `u128`, rounded down, saturating at [`Duration::MAX`].
fn weighted(terms: &[(Duration, u64)], den: u64) -> Duration {
    let sum: u128 = terms
        .iter()
        .map(|&(d, w)| u128::from(d.as_micros()) * u128::from(w))
        .fold(0u128, u128::saturating_add);
    let q = sum.checked_div(u128::from(den)).unwrap_or(u128::MAX);
    Duration::from_micros(u64::try_from(q).unwrap_or(u64::MAX))
}

/// RTT state for one association (RFC 9002 §5).
///
/// Before the first sample, `smoothed` and `rttvar` hold the values derived from the
/// initial RTT and `latest`/`min_rtt` are zero; [`RttEstimator::has_sample`] tells which.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct RttEstimator {
    /// The most recent raw sample (`latest_rtt`).
    latest: Duration,
    /// Exponentially weighted mean (`smoothed_rtt`).
    smoothed: Duration,
    /// Mean deviation (`rttvar`).
    rttvar: Duration,
    /// Smallest raw sample seen (`min_rtt`).
    min_rtt: Duration,
    /// Whether any sample has been taken.
    has_sample: bool,
}

impl RttEstimator {
    /// An estimator with no samples: `smoothed = initial_rtt`, `rttvar = initial_rtt / 2`
    /// (RFC 9002 §5.3), with `initial_rtt` capped at [`MAX_RTT`].
    pub(crate) fn new(initial_rtt: Duration) -> Self {
        let initial_rtt = initial_rtt.min(MAX_RTT);
        RttEstimator {
            latest: Duration::ZERO,
            smoothed: initial_rtt,
            rttvar: weighted(&[(initial_rtt, 1)], 2),
            min_rtt: Duration::ZERO,
            has_sample: false,
        }
    }

    /// Takes one RTT sample (RFC 9002 §5.2–5.3), capped at [`MAX_RTT`].
    ///
    /// `ack_delay` is the peer's reported delay, clamped to `max_ack_delay`; it is
    /// subtracted only if the result stays at or above `min_rtt`. The first sample sets
    /// `smoothed = sample` and `rttvar = sample / 2` and ignores `ack_delay`.
    pub(crate) fn update(&mut self, sample: Duration, ack_delay: Duration, max_ack_delay: Duration) {
        let sample = sample.min(MAX_RTT);
        self.latest = sample;
        if !self.has_sample {
            self.has_sample = true;
            self.min_rtt = sample;
            self.smoothed = sample;
            self.rttvar = weighted(&[(sample, 1)], 2);
            return;
        }
        self.min_rtt = self.min_rtt.min(sample);
        let ack_delay = ack_delay.min(max_ack_delay);
        let adjusted = if sample >= self.min_rtt.saturating_add(ack_delay) {
            sample.saturating_sub(ack_delay)
        } else {
            sample
        };
        let deviation = if self.smoothed > adjusted {
            self.smoothed.saturating_sub(adjusted)
        } else {
            adjusted.saturating_sub(self.smoothed)
        };
        // rttvar uses the previous smoothed value, as in RFC 9002 §5.3.
        self.rttvar = weighted(&[(self.rttvar, 3), (deviation, 1)], 4);
        self.smoothed = weighted(&[(self.smoothed, 7), (adjusted, 1)], 8);
    }

    /// The PTO period before backoff: `smoothed + max(4·rttvar, GRANULARITY) +
    /// max_ack_delay` (RFC 9002 §6.2.1).
    pub(crate) fn pto_base(&self, max_ack_delay: Duration) -> Duration {
        self.smoothed
            .saturating_add(self.rttvar.saturating_mul(4).max(GRANULARITY))
            .saturating_add(max_ack_delay)
    }

    /// How long after a later packet was acknowledged an earlier one counts as lost:
    /// `max(threshold · max(smoothed, latest), GRANULARITY)` (RFC 9002 §6.1.2; the
    /// threshold is [`TIME_THRESHOLD`] unless spurious losses raised it).
    pub(crate) fn loss_delay(&self, threshold: Ratio) -> Duration {
        threshold.apply(self.smoothed.max(self.latest)).max(GRANULARITY)
    }

    /// The time threshold, in eighths of the RTT, whose loss delay covers `delay` (at
    /// least `delay` when applied as in [`loss_delay`](Self::loss_delay)), saturating.
    pub(crate) fn eighths_covering(&self, delay: Duration) -> u64 {
        let rtt = self.smoothed.max(self.latest).max(GRANULARITY).as_micros();
        delay.as_micros().saturating_mul(8).div_ceil(rtt)
    }

    /// The most recent raw sample (zero before the first).
    #[cfg(test)]
    pub(crate) fn latest(&self) -> Duration {
        self.latest
    }

    /// The smoothed RTT.
    #[cfg(test)]
    pub(crate) fn smoothed(&self) -> Duration {
        self.smoothed
    }

    /// The RTT variation.
    #[cfg(test)]
    pub(crate) fn rttvar(&self) -> Duration {
        self.rttvar
    }

    /// The smallest raw sample (zero before the first).
    #[cfg(test)]
    pub(crate) fn min_rtt(&self) -> Duration {
        self.min_rtt
    }

    /// Whether at least one sample has been taken.
    #[cfg(test)]
    pub(crate) fn has_sample(&self) -> bool {
        self.has_sample
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn us(v: u64) -> Duration {
        Duration::from_micros(v)
    }

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    /// (smoothed, rttvar, min_rtt, latest) in microseconds.
    fn state(r: &RttEstimator) -> (u64, u64, u64, u64) {
        (r.smoothed().as_micros(), r.rttvar().as_micros(), r.min_rtt().as_micros(), r.latest().as_micros())
    }

    #[test]
    fn initial_values_follow_initial_rtt() {
        let r = RttEstimator::new(INITIAL_RTT);
        assert!(!r.has_sample());
        assert_eq!(state(&r), (333_000, 166_500, 0, 0));
        // 333_000 + 4 * 166_500 + 25_000
        assert_eq!(r.pto_base(ms(25)), us(1_024_000));
        // 9/8 * 333_000 = 374_625
        assert_eq!(r.loss_delay(TIME_THRESHOLD), us(374_625));
        // Odd initial value: rttvar rounds down.
        assert_eq!(state(&RttEstimator::new(us(3))), (3, 1, 0, 0));
    }

    #[test]
    fn first_sample_replaces_initial_and_ignores_ack_delay() {
        let mut r = RttEstimator::new(INITIAL_RTT);
        r.update(ms(100), ms(10), ms(25));
        assert!(r.has_sample());
        assert_eq!(state(&r), (100_000, 50_000, 100_000, 100_000));
    }

    #[test]
    fn sample_table() {
        // Each row: a fresh estimator after a 100 ms first sample, then one update with
        // (sample, ack_delay, max_ack_delay) → (smoothed, rttvar, min_rtt, latest).
        type Row = ((u64, u64, u64), (u64, u64, u64, u64));
        let rows: &[Row] = &[
            // ack_delay subtracted: adj = 110; var = (3*50000 + 10000)/4; s = (7*100000 + 110000)/8
            ((120_000, 10_000, 25_000), (101_250, 40_000, 100_000, 120_000)),
            // ack_delay clamped to 25 ms: adj = 125; var = (150000 + 25000)/4; s = 825000/8
            ((150_000, 100_000, 25_000), (103_125, 43_750, 100_000, 150_000)),
            // 105 - 10 < min_rtt: not subtracted; adj = 105; var = 155000/4; s = 805000/8
            ((105_000, 10_000, 25_000), (100_625, 38_750, 100_000, 105_000)),
            // new minimum: min = 80; adj = 80 (80 < 80 + 5); var = 170000/4; s = 780000/8
            ((80_000, 5_000, 25_000), (97_500, 42_500, 80_000, 80_000)),
            // equal to smoothed, no delay: var decays to 3/4, s unchanged
            ((100_000, 0, 25_000), (100_000, 37_500, 100_000, 100_000)),
            // rounding down: adj = 100_001; s = 800_001/8 = 100_000; var = 150_001/4 = 37_500
            ((100_001, 0, 0), (100_000, 37_500, 100_000, 100_001)),
        ];
        for &((sample, delay, max_delay), want) in rows {
            let mut r = RttEstimator::new(INITIAL_RTT);
            r.update(ms(100), Duration::ZERO, ms(25));
            r.update(us(sample), us(delay), us(max_delay));
            assert_eq!(state(&r), want, "sample {sample} delay {delay} max {max_delay}");
        }
    }

    #[test]
    fn pto_base_and_loss_delay() {
        let mut r = RttEstimator::new(INITIAL_RTT);
        r.update(ms(100), Duration::ZERO, ms(25));
        r.update(ms(120), ms(10), ms(25)); // smoothed 101_250, rttvar 40_000, latest 120_000
        assert_eq!(r.pto_base(ms(25)), us(101_250 + 160_000 + 25_000));
        // latest > smoothed: 9/8 * 120_000
        assert_eq!(r.loss_delay(TIME_THRESHOLD), us(135_000));

        // Tiny RTT: the variance term and the loss delay are floored at GRANULARITY.
        let mut tiny = RttEstimator::new(INITIAL_RTT);
        tiny.update(us(100), Duration::ZERO, Duration::ZERO); // smoothed 100, rttvar 50
        assert_eq!(tiny.pto_base(Duration::ZERO), us(100 + 1_000));
        assert_eq!(tiny.loss_delay(TIME_THRESHOLD), GRANULARITY);
    }

    #[test]
    fn extreme_inputs_saturate() {
        let mut r = RttEstimator::new(Duration::MAX);
        assert_eq!(state(&r), (MAX_RTT.as_micros(), MAX_RTT.as_micros() / 2, 0, 0), "initial capped");
        assert_eq!(r.pto_base(Duration::MAX), Duration::MAX);
        r.update(Duration::MAX, Duration::MAX, Duration::MAX);
        r.update(Duration::MAX, Duration::ZERO, Duration::MAX);
        assert_eq!((r.smoothed(), r.latest(), r.min_rtt()), (MAX_RTT, MAX_RTT, MAX_RTT));
        assert_eq!(r.loss_delay(Ratio { num: u64::MAX, den: 1 }), Duration::MAX);
        r.update(Duration::MAX, Duration::MAX, Duration::MAX); // ack delay beyond min_rtt: ignored
        assert_eq!(r.smoothed(), MAX_RTT);
        r.update(Duration::ZERO, Duration::MAX, Duration::MAX);
        assert_eq!(r.min_rtt(), Duration::ZERO);
        assert_eq!(r.pto_base(Duration::MAX), Duration::MAX);
        assert_eq!(TIME_THRESHOLD.apply(us(8)), us(9));
        assert_eq!(Ratio { num: 1, den: 0 }.apply(us(1)), Duration::MAX);
    }

    /// A sample of hours (a datagram held back by the network) moves the estimate no
    /// further than a sample of [`MAX_RTT`] would: the loss delay stays within 9/8 of it.
    #[test]
    fn samples_above_max_rtt_count_as_max_rtt() {
        let (mut capped, mut hours) = (RttEstimator::new(ms(100)), RttEstimator::new(ms(100)));
        capped.update(ms(100), Duration::ZERO, Duration::ZERO);
        hours.update(ms(100), Duration::ZERO, Duration::ZERO);
        for _ in 0..50 {
            capped.update(MAX_RTT, Duration::ZERO, Duration::ZERO);
            hours.update(Duration::from_secs(3 * 3600), Duration::ZERO, Duration::ZERO);
        }
        assert_eq!(state(&hours), state(&capped));
        assert!(hours.loss_delay(TIME_THRESHOLD) <= TIME_THRESHOLD.apply(MAX_RTT));
        let just_below = MAX_RTT.saturating_sub(us(1));
        hours.update(just_below, Duration::ZERO, Duration::ZERO);
        assert_eq!(hours.latest(), just_below, "samples below the cap are taken as they are");
    }
}
