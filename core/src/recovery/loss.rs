//! Loss detection and probe timeouts for one direction of one association (RFC 9002 §6).
//!
//! The detector never reads a clock: ACKs carry `now`, and [`LossDetector::on_timeout`]
//! trusts the firing of the deadline from [`LossDetector::deadline`], whenever it happens.

use alloc::collections::{BTreeMap, VecDeque};
use alloc::vec::Vec;

use super::rtt::{Ratio, RttEstimator, PACKET_THRESHOLD, TIME_THRESHOLD};
use crate::time::{Duration, Instant};
use crate::wire::{Frame, PnRange};

/// Largest PTO backoff exponent: the PTO period grows as `pto_base · 2^min(pto_count, 30)`.
pub(crate) const MAX_PTO_SHIFT: u32 = 30;

/// Longest probe timeout period, backoff included: the probe timer never waits longer
/// than this after the last ack-eliciting packet (RFC 6298 §2.5 bounds TCP's RTO the same
/// way; twice [`MAX_RTT`](super::rtt::MAX_RTT), so a probe never fires sooner than the
/// longest round trip the estimator believes in). Without it, `max_probes` doublings of a
/// large RTT would keep a dead peer's association open for hours.
pub(crate) const MAX_PTO_PERIOD: Duration = Duration::from_secs(120);

/// Declared-lost packets remembered so that a later ACK for one of them is recognised as
/// a spurious loss declaration (the packet was only reordered).
pub(crate) const REMEMBERED_LOSSES: usize = 32;

/// Largest packet reordering threshold that spurious losses can raise it to.
pub(crate) const MAX_PACKET_THRESHOLD: u64 = 64;

/// Largest time threshold spurious losses can raise it to, in eighths of the RTT (8×: with
/// jitter several times the base RTT, reordered packets arrive up to ~5 smoothed RTTs
/// after they were sent).
const MAX_TIME_THRESHOLD_EIGHTHS: u64 = 64;

/// A packet handed to the network and tracked until acknowledged or declared lost.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct SentPacket {
    /// Its packet number.
    pub(crate) pn: u64,
    /// When it was sent.
    pub(crate) time_sent: Instant,
    /// Whether it elicits an ACK (RFC 9002 §2); only these arm the PTO.
    pub(crate) ack_eliciting: bool,
    /// The frames to retransmit in a new packet if this one is lost.
    pub(crate) frames: Vec<Frame>,
}

/// What one ACK frame changed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct AckResult {
    /// Packets newly acknowledged by this ACK, by ascending pn.
    pub(crate) acked: Vec<SentPacket>,
    /// Packets declared lost as a consequence, by ascending pn.
    pub(crate) lost: Vec<SentPacket>,
    /// Packets this ACK acknowledged that had been declared lost earlier (they were
    /// reordered, not lost): each raised the reordering thresholds.
    pub(crate) spurious: u32,
}

/// Why an ACK frame was refused. The detector's state is unchanged when this is returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub(crate) enum AckError {
    /// The peer acknowledged a packet number never sent: an authentic but impossible claim,
    /// on which the caller aborts the association.
    #[error("peer acknowledged pn {pn}, which was never sent")]
    UnsentPacket {
        /// The largest pn of the offending range.
        pn: u64,
    },
}

/// What the caller must do after the loss-detection timer fired.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum TimeoutAction {
    /// The time threshold passed: these packets are lost; retransmit their frames.
    Lost(Vec<SentPacket>),
    /// Probe timeout (RFC 9002 §6.2.4): send an ack-eliciting probe packet carrying
    /// `retransmit` (the oldest in-flight ack-eliciting packet's frames, which stay tracked).
    Probe {
        /// Frames to resend in the probe; empty means a bare PING will do.
        retransmit: Vec<Frame>,
    },
    /// No timer was armed ([`LossDetector::deadline`] was `None`); nothing to do.
    Idle,
}

/// RFC 9002 §6 loss detection for one association direction.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct LossDetector {
    /// Packets sent and neither acknowledged nor declared lost, by pn.
    sent: BTreeMap<u64, SentPacket>,
    /// How many of `sent` are ack-eliciting (kept so timer queries are O(1)).
    ack_eliciting_in_flight: usize,
    /// Largest pn the peer has acknowledged.
    largest_acked: Option<u64>,
    /// Largest pn ever sent; ACKs above it are impossible.
    largest_sent: Option<u64>,
    /// RTT estimate.
    rtt: RttEstimator,
    /// The peer's maximum ACK delay.
    max_ack_delay: Duration,
    /// Consecutive probe timeouts without a new acknowledgement.
    pto_count: u32,
    /// When the earliest tracked packet below `largest_acked` crosses the time threshold.
    loss_time: Option<Instant>,
    /// When the last ack-eliciting packet was sent.
    last_ack_eliciting_sent: Option<Instant>,
    /// The most recent loss declarations, oldest first: (pn, when it was sent,
    /// `largest_acked` when it was declared lost). At most [`REMEMBERED_LOSSES`].
    recently_lost: VecDeque<(u64, Instant, u64)>,
    /// Packet reordering threshold: RFC 9002's 3, raised by spurious losses to the
    /// reordering they revealed (at most [`MAX_PACKET_THRESHOLD`]).
    packet_threshold: u64,
    /// Time reordering threshold in eighths of the RTT: RFC 9002's 9/8, raised by spurious
    /// losses to cover the delay they revealed (at most 8×).
    time_threshold_eighths: u64,
}

impl LossDetector {
    /// A detector with nothing sent, starting from `initial_rtt`; `max_ack_delay` is the
    /// peer's.
    pub(crate) fn new(initial_rtt: Duration, max_ack_delay: Duration) -> Self {
        LossDetector {
            sent: BTreeMap::new(),
            ack_eliciting_in_flight: 0,
            largest_acked: None,
            largest_sent: None,
            rtt: RttEstimator::new(initial_rtt),
            max_ack_delay,
            pto_count: 0,
            loss_time: None,
            last_ack_eliciting_sent: None,
            recently_lost: VecDeque::new(),
            packet_threshold: PACKET_THRESHOLD,
            time_threshold_eighths: TIME_THRESHOLD.num * 8 / TIME_THRESHOLD.den,
        }
    }

    /// Records that `packet` was sent and, if it is ack-eliciting, starts tracking it.
    ///
    /// Packets that elicit no ACK (ACK-only ones) are not tracked (RFC 9002 §2: they are
    /// not "in flight"): nothing acknowledges them unless a later ack-eliciting packet
    /// does, and they carry nothing to retransmit, so tracking them would only grow `sent`
    /// and the window count while the peer stays silent. Their pns still count as sent, so
    /// an ACK of them is legal and advances `largest_acked`.
    ///
    /// # Panics
    ///
    /// In debug builds, if `packet.pn` is not above every pn sent before (a caller bug).
    /// Release builds track it anyway, replacing any packet with the same pn.
    pub(crate) fn on_packet_sent(&mut self, packet: SentPacket) {
        debug_assert!(self.largest_sent.is_none_or(|l| packet.pn > l), "pn {} reused", packet.pn);
        self.largest_sent = Some(self.largest_sent.map_or(packet.pn, |l| l.max(packet.pn)));
        if packet.ack_eliciting {
            self.last_ack_eliciting_sent = Some(packet.time_sent);
            self.track(packet);
        }
    }

    /// Processes the ranges of one ACK frame received at `now` (RFC 9002 §6, `OnAckReceived`).
    ///
    /// Ranges may come in any order and overlap; a range whose bounds are swapped is read as
    /// `min..=max`. Acknowledging pns already acknowledged, already declared lost, or never
    /// tracked is harmless: acknowledging the same ranges twice changes nothing the second
    /// time. Acknowledging a packet declared lost earlier (remembered among the last
    /// [`REMEMBERED_LOSSES`]) counts as a spurious loss and raises the reordering
    /// thresholds. Otherwise, if nothing is newly acknowledged and `largest_acked` does not
    /// grow, nothing but `largest_acked` changes; if it grows (an untracked ACK-only packet was acknowledged,
    /// which RFC 9002 would have newly acknowledged), the PTO backoff resets and loss
    /// detection runs as for any new acknowledgement.
    ///
    /// # Errors
    ///
    /// [`AckError::UnsentPacket`] if a range reaches a pn never sent; nothing changes then.
    pub(crate) fn on_ack_received(
        &mut self,
        ranges: &[PnRange],
        ack_delay: Duration,
        now: Instant,
    ) -> Result<AckResult, AckError> {
        let bounds = |r: &PnRange| (r.smallest.min(r.largest), r.smallest.max(r.largest));
        let Some(ack_largest) = ranges.iter().map(|r| bounds(r).1).max() else {
            return Ok(AckResult::default());
        };
        if self.largest_sent.is_none_or(|l| ack_largest > l) {
            return Err(AckError::UnsentPacket { pn: ack_largest });
        }
        let advanced = self.largest_acked.is_none_or(|l| ack_largest > l);
        self.largest_acked = Some(self.largest_acked.map_or(ack_largest, |l| l.max(ack_largest)));

        let mut acked = Vec::new();
        let mut spurious = 0;
        for r in ranges {
            let (lo, hi) = bounds(r);
            let pns: Vec<u64> = self.sent.range(lo..=hi).map(|(&pn, _)| pn).collect();
            acked.extend(pns.into_iter().filter_map(|pn| self.untrack(pn)));
            spurious += self.on_spurious_losses(lo, hi, now);
        }
        if acked.is_empty() && !advanced {
            return Ok(AckResult { spurious, ..AckResult::default() });
        }
        acked.sort_unstable_by_key(|p| p.pn);

        // RFC 9002 §5.1: sample only if the largest acknowledged pn is newly acknowledged
        // and something newly acknowledged is ack-eliciting.
        if let Some(newest) = acked.last().filter(|p| p.pn == ack_largest) {
            if acked.iter().any(|p| p.ack_eliciting) {
                let sample = now.saturating_duration_since(newest.time_sent);
                self.rtt.update(sample, ack_delay, self.max_ack_delay);
            }
        }
        self.pto_count = 0;
        let lost = self.detect_lost(now);
        Ok(AckResult { acked, lost, spurious })
    }

    /// Forgets the remembered loss declarations of pns in `lo..=hi`, acknowledged at `now`
    /// (they were reordered, not lost), and raises the reordering thresholds so that the
    /// same reordering would not be taken for loss again (RFC 9002 §6.1.1 and §6.1.2 allow
    /// adaptive thresholds; RFC 8985 §6.2 adapts TCP RACK's window the same way): the
    /// packet threshold to the reordering seen in packets, the time threshold to the
    /// packet's delay in RTTs, both capped. Returns how many there were.
    fn on_spurious_losses(&mut self, lo: u64, hi: u64, now: Instant) -> u32 {
        let (mut found, mut packets, mut eighths) = (0, self.packet_threshold, self.time_threshold_eighths);
        let rtt = &self.rtt;
        self.recently_lost.retain(|&(pn, sent, largest_then)| {
            if !(lo..=hi).contains(&pn) {
                return true;
            }
            found += 1;
            let reordering = largest_then.saturating_sub(pn).saturating_add(1);
            packets = packets.max(reordering.min(MAX_PACKET_THRESHOLD));
            let delay = now.saturating_duration_since(sent);
            eighths = eighths.max(rtt.eighths_covering(delay).min(MAX_TIME_THRESHOLD_EIGHTHS));
            false
        });
        self.packet_threshold = packets;
        self.time_threshold_eighths = eighths;
        found
    }

    /// When [`on_timeout`](Self::on_timeout) should fire (RFC 9002 §6.2.1): the loss time if
    /// set; else, with an ack-eliciting packet in flight, the PTO
    /// `last_ack_eliciting_sent + min(pto_base · 2^min(pto_count, 30), MAX_PTO_PERIOD)`;
    /// else `None`.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        if self.loss_time.is_some() {
            return self.loss_time;
        }
        if self.ack_eliciting_in_flight == 0 {
            return None;
        }
        let period = self
            .rtt
            .pto_base(self.max_ack_delay)
            .saturating_shl(self.pto_count.min(MAX_PTO_SHIFT))
            .min(MAX_PTO_PERIOD);
        self.last_ack_eliciting_sent.map(|t| t + period)
    }

    /// Fires the loss-detection timer without looking at any clock (RFC 9002 §6.2,
    /// `OnLossDetectionTimeout`).
    ///
    /// With a loss time set, declares lost exactly the packets time-threshold detection
    /// finds at that instant. Otherwise, with an ack-eliciting packet in flight, counts a
    /// PTO and asks for a probe. Otherwise returns [`TimeoutAction::Idle`].
    #[must_use]
    pub(crate) fn on_timeout(&mut self) -> TimeoutAction {
        if let Some(at) = self.loss_time {
            return TimeoutAction::Lost(self.detect_lost(at));
        }
        let Some(oldest) = self.sent.values().find(|p| p.ack_eliciting) else {
            return TimeoutAction::Idle;
        };
        let retransmit = oldest.frames.clone();
        self.pto_count = self.pto_count.saturating_add(1);
        TimeoutAction::Probe { retransmit }
    }

    /// Consecutive PTOs since the last new acknowledgement.
    pub(crate) fn pto_count(&self) -> u32 {
        self.pto_count
    }

    /// How many ack-eliciting packets are in flight (sent, neither acknowledged nor
    /// declared lost); ACK-only packets are never counted (RFC 9002 §2).
    pub(crate) fn in_flight(&self) -> usize {
        self.sent.len()
    }

    /// Whether any tracked packet is ack-eliciting (the PTO is armed).
    pub(crate) fn has_ack_eliciting_in_flight(&self) -> bool {
        self.ack_eliciting_in_flight > 0
    }

    /// The RTT estimate.
    pub(crate) fn rtt(&self) -> &RttEstimator {
        &self.rtt
    }

    /// Stops tracking everything and hands it back by ascending pn (association ending).
    #[must_use]
    #[cfg(test)]
    pub(crate) fn drain_all(&mut self) -> Vec<SentPacket> {
        self.ack_eliciting_in_flight = 0;
        self.loss_time = None;
        core::mem::take(&mut self.sent).into_values().collect()
    }

    /// Declares lost the tracked packets below `largest_acked` that are past the packet or
    /// time threshold at `now`, and sets `loss_time` for the earliest remaining one
    /// (RFC 9002 §6.1, `DetectAndRemoveLostPackets`).
    fn detect_lost(&mut self, now: Instant) -> Vec<SentPacket> {
        self.loss_time = None;
        let Some(largest) = self.largest_acked else {
            return Vec::new();
        };
        let delay = self.rtt.loss_delay(Ratio { num: self.time_threshold_eighths, den: 8 });
        let mut lost_pns = Vec::new();
        for (&pn, p) in self.sent.range(..=largest) {
            let by_count = largest.saturating_sub(pn) >= self.packet_threshold;
            let lost_at = p.time_sent + delay;
            if by_count || now >= lost_at {
                lost_pns.push(pn);
            } else {
                self.loss_time = Some(self.loss_time.map_or(lost_at, |t| t.min(lost_at)));
            }
        }
        let lost: Vec<SentPacket> = lost_pns.into_iter().filter_map(|pn| self.untrack(pn)).collect();
        for p in &lost {
            if self.recently_lost.len() == REMEMBERED_LOSSES {
                self.recently_lost.pop_front();
            }
            self.recently_lost.push_back((p.pn, p.time_sent, largest));
        }
        lost
    }

    /// Adds `packet` to `sent`, keeping the ack-eliciting count.
    fn track(&mut self, packet: SentPacket) {
        if packet.ack_eliciting {
            self.ack_eliciting_in_flight = self.ack_eliciting_in_flight.saturating_add(1);
        }
        if let Some(old) = self.sent.insert(packet.pn, packet) {
            if old.ack_eliciting {
                self.ack_eliciting_in_flight = self.ack_eliciting_in_flight.saturating_sub(1);
            }
        }
    }

    /// Removes `pn` from `sent`, keeping the ack-eliciting count.
    fn untrack(&mut self, pn: u64) -> Option<SentPacket> {
        let packet = self.sent.remove(&pn)?;
        if packet.ack_eliciting {
            self.ack_eliciting_in_flight = self.ack_eliciting_in_flight.saturating_sub(1);
        }
        Some(packet)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RTT0: Duration = Duration::from_millis(100);
    const MAD: Duration = Duration::from_millis(25);

    fn at(ms: u64) -> Instant {
        Instant::from_micros(ms * 1_000)
    }

    fn packet(pn: u64, ms: u64, ack_eliciting: bool) -> SentPacket {
        let frames = if ack_eliciting { alloc::vec![Frame::Cancel { msn: pn }] } else { Vec::new() };
        SentPacket { pn, time_sent: at(ms), ack_eliciting, frames }
    }

    fn ranges(rs: &[(u64, u64)]) -> Vec<PnRange> {
        rs.iter().map(|&(smallest, largest)| PnRange { smallest, largest }).collect()
    }

    fn pns(ps: &[SentPacket]) -> Vec<u64> {
        ps.iter().map(|p| p.pn).collect()
    }

    /// What a timer firing should produce.
    enum Fired {
        /// `Lost` with these pns.
        Lost(&'static [u64]),
        /// `Probe` retransmitting the frames of this pn.
        Probe(u64),
        /// `Idle`.
        Idle,
    }

    /// One step of a scenario; times in ms, RTT values and deadlines in µs.
    enum Step {
        /// Send (pn, time, ack-eliciting).
        Send(u64, u64, bool),
        /// ACK (ranges, ack_delay, now) → (acked, lost).
        Ack(&'static [(u64, u64)], u64, u64, &'static [u64], &'static [u64]),
        /// Fire the timer.
        Timeout(Fired),
        /// Expect (smoothed, rttvar, deadline, pto_count).
        Check(u64, u64, Option<u64>, u32),
    }
    use Step::*;

    fn run(name: &str, steps: &[Step]) {
        let mut d = LossDetector::new(RTT0, MAD);
        for (i, step) in steps.iter().enumerate() {
            let ctx = alloc::format!("{name}, step {i}");
            match *step {
                Send(pn, ms, e) => d.on_packet_sent(packet(pn, ms, e)),
                Ack(rs, delay, now, acked, lost) => {
                    let res = d.on_ack_received(&ranges(rs), Duration::from_millis(delay), at(now));
                    let res = res.unwrap_or_else(|e| panic!("{ctx}: {e}"));
                    assert_eq!((pns(&res.acked), pns(&res.lost)), (acked.to_vec(), lost.to_vec()), "{ctx}");
                }
                Timeout(ref want) => match (d.on_timeout(), want) {
                    (TimeoutAction::Lost(got), Fired::Lost(w)) => {
                        assert_eq!(pns(&got), w.to_vec(), "{ctx}")
                    }
                    (TimeoutAction::Probe { retransmit }, Fired::Probe(pn)) => {
                        assert_eq!(retransmit, alloc::vec![Frame::Cancel { msn: *pn }], "{ctx}")
                    }
                    (TimeoutAction::Idle, Fired::Idle) => {}
                    (got, _) => panic!("{ctx}: unexpected {got:?}"),
                },
                Check(smoothed, rttvar, deadline, pto) => {
                    let r = d.rtt();
                    let got = (r.smoothed().as_micros(), r.rttvar().as_micros(), d.deadline(), d.pto_count());
                    assert_eq!(got, (smoothed, rttvar, deadline.map(Instant::from_micros), pto), "{ctx}");
                }
            }
        }
    }

    #[test]
    #[rustfmt::skip] // one step per table cell
    fn scenarios() {
        // pto_base before any sample: 100_000 + 4 * 50_000 + 25_000 = 325_000.
        run("packet and time thresholds", &[
            Send(0, 0, true), Send(1, 10, true), Send(2, 20, true), Send(3, 30, true), Send(4, 40, true),
            Check(100_000, 50_000, Some(40_000 + 325_000), 0),
            // Sample 100 ms (first: ack_delay ignored), loss_delay 112.5 ms. 0, 1 by count;
            // 2 by time (20 + 112.5 <= 140); 3 remains until 30 + 112.5.
            Ack(&[(4, 4)], 10, 140, &[4], &[0, 1, 2]),
            Check(100_000, 50_000, Some(142_500), 0),
            Timeout(Fired::Lost(&[3])),
            Check(100_000, 50_000, None, 0),
            Timeout(Fired::Idle),
        ]);
        run("everything acked at once", &[
            Send(0, 0, true), Send(1, 10, true), Send(2, 20, true),
            Ack(&[(0, 2)], 5, 120, &[0, 1, 2], &[]),
            Check(100_000, 50_000, None, 0),
        ]);
        run("non-eliciting largest gives no sample", &[
            Send(0, 0, true), Send(1, 10, false),
            // pn 1 is not tracked (ACK-only), yet acknowledging it runs loss detection.
            Ack(&[(1, 1)], 0, 50, &[], &[]),
            // RTT still initial; pn 0 times out at 0 + 9/8 * 100 ms.
            Check(100_000, 50_000, Some(112_500), 0),
            Timeout(Fired::Lost(&[0])),
            Check(100_000, 50_000, None, 0),
        ]);
        run("ack-only packets are not in flight, yet acknowledging one detects loss", &[
            Send(0, 0, true), Send(1, 1, false), Send(2, 2, false), Send(3, 3, false),
            Timeout(Fired::Probe(0)),
            Check(100_000, 50_000, Some(650_000), 1),
            // Nothing tracked is newly acked, but largest_acked grows past pn 0 by 3.
            Ack(&[(3, 3)], 0, 50, &[], &[0]),
            Check(100_000, 50_000, None, 0),
            Ack(&[(3, 3)], 0, 60, &[], &[]),
        ]);
        run("old largest gives no sample; duplicate ack is a no-op", &[
            Send(0, 0, true), Send(1, 1, true), Send(2, 2, true),
            // Sample 40 ms, loss_delay 45 ms: pn 0 due at 45 ms.
            Ack(&[(2, 2)], 0, 42, &[2], &[]),
            Check(40_000, 20_000, Some(45_000), 0),
            Ack(&[(0, 2)], 0, 44, &[0, 1], &[]),
            Check(40_000, 20_000, None, 0),
            Ack(&[(0, 2)], 0, 44, &[], &[]),
            Check(40_000, 20_000, None, 0),
        ]);
        run("pto doubles and resets on new ack", &[
            Send(0, 0, true),
            Check(100_000, 50_000, Some(325_000), 0),
            Timeout(Fired::Probe(0)),
            Check(100_000, 50_000, Some(650_000), 1),
            Timeout(Fired::Probe(0)),
            Check(100_000, 50_000, Some(1_300_000), 2),
            Send(1, 1_300, true), // the probe
            Check(100_000, 50_000, Some(1_300_000 + 4 * 325_000), 2),
            // Sample 100 ms; pn 0 is past the time threshold.
            Ack(&[(1, 1)], 0, 1_400, &[1], &[0]),
            Check(100_000, 50_000, None, 0),
        ]);
        run("reordered and duplicated acks", &[
            Send(0, 0, true), Send(1, 1, true), Send(2, 2, true),
            Send(3, 3, true), Send(4, 4, true), Send(5, 5, true),
            Ack(&[(5, 5), (3, 3)], 0, 105, &[3, 5], &[0, 1, 2]),
            Check(100_000, 50_000, Some(4_000 + 112_500), 0),
            Ack(&[(3, 3)], 0, 106, &[], &[]),
            Check(100_000, 50_000, Some(116_500), 0),
            // Largest of this ACK (4) is newly acked: sample 103 ms.
            // rttvar = (3 * 50_000 + 3_000) / 4; smoothed = (7 * 100_000 + 103_000) / 8.
            Ack(&[(0, 4)], 0, 107, &[4], &[]),
            Check(100_375, 38_250, None, 0),
            Ack(&[(0, 5)], 0, 108, &[], &[]),
            Check(100_375, 38_250, None, 0),
        ]);
        run("ack_delay clamped and subtracted", &[
            Send(0, 0, true), Send(1, 200, true),
            Ack(&[(0, 0)], 0, 100, &[0], &[]),
            // Sample 130 ms, ack_delay 50 clamped to 25: adjusted 105 >= min 100.
            Ack(&[(1, 1)], 50, 330, &[1], &[]),
            Check(100_625, 38_750, None, 0),
        ]);
        run("ack_delay not subtracted below min_rtt", &[
            Send(0, 0, true), Send(1, 200, true),
            Ack(&[(0, 0)], 0, 100, &[0], &[]),
            // Sample 120 ms, ack_delay clamped to 25: 95 would be below min 100, so 120.
            Ack(&[(1, 1)], 50, 320, &[1], &[]),
            Check(102_500, 42_500, None, 0),
        ]);
    }

    /// An ACK for a packet already declared lost is a spurious loss: the thresholds rise to
    /// the reordering it revealed, so the same reordering is not taken for loss again.
    #[test]
    fn spurious_losses_raise_the_thresholds() {
        let mut d = LossDetector::new(RTT0, MAD);
        let initial = (PACKET_THRESHOLD, 9);
        assert_eq!((d.packet_threshold, d.time_threshold_eighths), initial);
        for pn in 0..5 {
            d.on_packet_sent(packet(pn, pn, true));
        }
        // Sample 96 ms, loss delay 108 ms: 0 and 1 are lost by count.
        let r = d.on_ack_received(&ranges(&[(4, 4)]), Duration::ZERO, at(100)).unwrap();
        assert_eq!((pns(&r.acked), pns(&r.lost), r.spurious), (alloc::vec![4], alloc::vec![0, 1], 0));
        // pn 0 arrives after all, 150 ms after it was sent and 5 packets out of order.
        let r = d.on_ack_received(&ranges(&[(0, 0)]), Duration::ZERO, at(150)).unwrap();
        assert_eq!((pns(&r.acked), pns(&r.lost), r.spurious), (alloc::vec![], alloc::vec![], 1));
        // 150 ms in eighths of 96 ms, rounded up: 13.
        assert_eq!((d.packet_threshold, d.time_threshold_eighths), (5, 13));
        // Counted once.
        let before = d.clone();
        assert_eq!(d.on_ack_received(&ranges(&[(0, 0)]), Duration::ZERO, at(160)), Ok(AckResult::default()));
        assert_eq!(d, before);
        // Now pn 5, 4 packets below the largest acknowledged and within 13/8 of the RTT, is
        // not lost (it would have been with the initial thresholds); 2 and 3 are.
        for pn in 5..10 {
            d.on_packet_sent(packet(pn, 200 + pn, true));
        }
        let r = d.on_ack_received(&ranges(&[(9, 9)]), Duration::ZERO, at(300)).unwrap();
        assert_eq!((pns(&r.acked), pns(&r.lost)), (alloc::vec![9], alloc::vec![2, 3]));
        // Both thresholds are capped however late a packet turns up.
        let r = d.on_ack_received(&ranges(&[(1, 1)]), Duration::ZERO, at(3_600_000)).unwrap();
        assert_eq!(r.spurious, 1);
        assert_eq!((d.packet_threshold, d.time_threshold_eighths), (5, MAX_TIME_THRESHOLD_EIGHTHS));
    }

    #[test]
    fn unsent_packet_is_refused_without_effect() {
        let mut d = LossDetector::new(RTT0, MAD);
        let err = d.on_ack_received(&ranges(&[(0, 0)]), Duration::ZERO, at(1));
        assert_eq!(err, Err(AckError::UnsentPacket { pn: 0 }));
        d.on_packet_sent(packet(0, 0, true));
        d.on_packet_sent(packet(1, 1, true));
        let before = d.clone();
        let err = d.on_ack_received(&ranges(&[(0, 0), (0, 2)]), Duration::ZERO, at(50));
        assert_eq!(err, Err(AckError::UnsentPacket { pn: 2 }));
        assert_eq!(d, before);
        let err = d.on_ack_received(&ranges(&[(u64::MAX, 0)]), Duration::ZERO, at(50));
        assert_eq!(err, Err(AckError::UnsentPacket { pn: u64::MAX }));
        assert_eq!(d, before);
        // Empty ranges and swapped bounds are accepted.
        assert_eq!(d.on_ack_received(&[], Duration::ZERO, at(50)), Ok(AckResult::default()));
        assert_eq!(d, before);
        let res = d.on_ack_received(&ranges(&[(1, 0)]), Duration::ZERO, at(50));
        assert_eq!(res.map(|r| pns(&r.acked)), Ok(alloc::vec![0, 1]));
    }

    #[test]
    fn drain_all_hands_back_everything() {
        let mut d = LossDetector::new(RTT0, MAD);
        for pn in 0..4 {
            d.on_packet_sent(packet(pn, pn, pn % 2 == 0));
        }
        // The ACK-only packets 1 and 3 are not tracked.
        assert_eq!((d.in_flight(), d.has_ack_eliciting_in_flight()), (2, true));
        assert_eq!(pns(&d.drain_all()), alloc::vec![0, 2]);
        assert_eq!((d.in_flight(), d.has_ack_eliciting_in_flight(), d.deadline()), (0, false, None));
        assert_eq!(d.on_timeout(), TimeoutAction::Idle);
    }

    #[test]
    fn pto_backoff_saturates() {
        let mut d = LossDetector::new(RTT0, MAD);
        d.on_packet_sent(packet(0, 0, true));
        for _ in 0..100 {
            assert!(matches!(d.on_timeout(), TimeoutAction::Probe { .. }));
        }
        assert_eq!(d.pto_count(), 100);
        assert_eq!(d.deadline(), Some(Instant::ZERO + MAX_PTO_PERIOD));
        let mut huge = LossDetector::new(Duration::MAX, Duration::MAX);
        huge.on_packet_sent(packet(0, 0, true));
        assert_eq!(huge.deadline(), Some(Instant::ZERO + MAX_PTO_PERIOD));
    }

    /// Pseudo-random sends, ACKs (arbitrary, overlapping, swapped) and timer firings: every
    /// sent ack-eliciting pn is handed back at most once, as acked or lost, ACK-only ones
    /// never (they are not tracked); a repeated ACK is a no-op.
    #[test]
    fn random_operations_keep_accounting_exact() {
        let mut seed = 0x1234_5678_u64;
        let mut next = |n: u64| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            (seed >> 33) % n
        };
        for _ in 0..300 {
            let mut d = LossDetector::new(RTT0, MAD);
            let (mut sent, mut now, mut done, mut ack_only) = (0u64, 0u64, Vec::new(), Vec::new());
            for _ in 0..60 {
                now += next(50) * 1_000;
                match next(4) {
                    0 | 1 => {
                        let eliciting = next(3) > 0;
                        if !eliciting {
                            ack_only.push(sent);
                        }
                        d.on_packet_sent(SentPacket {
                            time_sent: Instant::from_micros(now),
                            ..packet(sent, 0, eliciting)
                        });
                        sent += 1;
                    }
                    2 => {
                        let rs: Vec<(u64, u64)> =
                            (0..1 + next(3)).map(|_| (next(sent + 2), next(sent + 2))).collect();
                        let now = Instant::from_micros(now);
                        let delay = Duration::from_millis(next(40));
                        match d.on_ack_received(&ranges(&rs), delay, now) {
                            Ok(res) => {
                                done.extend(pns(&res.acked));
                                done.extend(pns(&res.lost));
                                let before = d.clone();
                                assert_eq!(
                                    d.on_ack_received(&ranges(&rs), delay, now),
                                    Ok(AckResult::default())
                                );
                                assert_eq!(d, before);
                            }
                            Err(AckError::UnsentPacket { pn }) => assert!(pn >= sent),
                        }
                    }
                    _ => {
                        if let TimeoutAction::Lost(lost) = d.on_timeout() {
                            assert!(!lost.is_empty());
                            done.extend(pns(&lost));
                        }
                    }
                }
                assert!(d.sent.values().all(|p| p.ack_eliciting));
                assert!(d.recently_lost.len() <= REMEMBERED_LOSSES);
                assert!((PACKET_THRESHOLD..=MAX_PACKET_THRESHOLD).contains(&d.packet_threshold));
                assert!((9..=MAX_TIME_THRESHOLD_EIGHTHS).contains(&d.time_threshold_eighths));
                assert_eq!(d.ack_eliciting_in_flight, d.sent.len());
                let mut all: Vec<u64> =
                    done.iter().chain(d.sent.keys()).chain(ack_only.iter()).copied().collect();
                all.sort_unstable();
                assert_eq!(all, (0..sent).collect::<Vec<_>>());
            }
        }
    }

    /// An ACK that acknowledges nothing new and does not raise the largest acknowledged pn
    /// (the peer repeating itself, e.g. in its ACK-only packets) must not reset the probe
    /// backoff: that would keep probing a dead peer at the base period forever.
    #[test]
    fn a_repeated_ack_does_not_reset_the_probe_backoff() {
        let mut d = LossDetector::new(RTT0, MAD);
        d.on_packet_sent(packet(0, 0, true));
        d.on_packet_sent(packet(1, 1, true));
        let first = d.on_ack_received(&ranges(&[(0, 0)]), Duration::from_millis(0), at(100)).unwrap();
        assert_eq!(pns(&first.acked), [0]);
        assert!(matches!(d.on_timeout(), TimeoutAction::Probe { .. }), "pn 1 is probed");
        assert_eq!(d.pto_count, 1);
        let before = d.clone();
        let again = d.on_ack_received(&ranges(&[(0, 0)]), Duration::from_millis(0), at(400));
        assert_eq!(again, Ok(AckResult::default()));
        assert_eq!(d, before, "the backoff and everything else stay as they were");
    }
}
