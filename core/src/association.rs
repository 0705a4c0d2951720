//! One association's data phase: packet numbers, ACKs, loss recovery, keepalive and
//! orderly release. Pure state; the session arms the timers this asks for.
//!
//! Every effect of a packet is idempotent or a stable fact, and a packet's frames are
//! processed in any order, so reordering and duplication cannot confuse it.

use alloc::vec::Vec;
use bytes::Bytes;

use crate::association_id::AssociationId;
use crate::crypto::{DirectionKeys, Suite};
use crate::input::DropReason;
use crate::recovery::{AckError, Insert, LossDetector, RangeSet, SentPacket, TimeoutAction};
use crate::stats::Unobserved;
use crate::time::{Duration, Instant};
use crate::wire::{AbortReason, AuthTag, Body, CloseReason, Frame, Header, Params, Pdu};

/// Where an association stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Phase {
    /// Usable.
    Established,
    /// We sent CLOSE and wait for CLOSE_ACK (or the CLOSE to be acknowledged).
    Closing(CloseReason),
    /// Released: tags are kept only to absorb late PDUs and answer a repeated CLOSE.
    Draining,
}

/// Consecutive ACK-only packets after which, while an ack-eliciting packet of ours is in
/// flight, the next ACK-only packet carries a PING (as QUIC implementations do, e.g.
/// quiche's 19 consecutive non-retransmittable packets). ACK-only packets are never
/// acknowledged on their own, so a side that only answers the peer's PINGs would otherwise
/// learn nothing about its own outstanding packet until its probe timer fires — after an
/// inflated RTT estimate, days later — and its window stays full meanwhile.
pub(crate) const ACK_ONLY_BEFORE_PING: u32 = 16;

/// What a processed packet means for the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PacketEffect {
    /// Nothing beyond the association itself.
    None,
    /// The association is released (entered draining).
    Released(CloseReason),
    /// The peer aborted it.
    PeerAborted(AbortReason),
    /// The peer made an authentic but impossible claim: abort with this reason.
    Violation(AbortReason),
}

/// Frames waiting to go out in the next packet.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
struct Pending {
    /// An ACK is owed (some ack-eliciting packet is not acknowledged yet).
    ack: bool,
    /// Ack-eliciting packets received since our last ACK went out.
    unacked: u8,
    /// The owed ACK goes out now, alone if need be: the second ack-eliciting packet, a
    /// packet out of order, or the delay timer fired.
    ack_now: bool,
    /// Until when the owed ACK may wait for a packet to ride on: `max_ack_delay` after the
    /// first ack-eliciting packet it covers.
    ack_at: Option<Instant>,
    /// When the largest packet number we acknowledge arrived (the ACK's `ack_delay`).
    largest_at: Option<Instant>,
    ping: bool,
    close: bool,
    close_ack: bool,
    abort: Option<AbortReason>,
    retransmit: Vec<Frame>,
    summary_lost: bool,
}

impl Pending {
    /// The owed ACK is due now. The count and the deadline no longer matter, so they are
    /// cleared: states that differ only in them are one state (the model checker's count).
    fn set_ack_now(&mut self) {
        (self.ack_now, self.unacked, self.ack_at) = (true, 0, None);
    }
}

/// One association.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Association {
    pub(crate) id: AssociationId,
    pub(crate) params: Params,
    pub(crate) phase: Phase,
    keys: DirectionKeys,
    next_pn: u64,
    loss: LossDetector,
    received: RangeSet,
    pending: Pending,
    /// Packets declared lost (or probed) since the session last looked.
    lost: Unobserved<u64>,
    /// ACK-only packets sent since the last ack-eliciting one.
    ack_only_streak: u32,
    /// Loss declarations found spurious since the session last looked.
    spurious: Unobserved<u64>,
    /// How long an owed ACK may wait for the next ack-eliciting packet.
    max_ack_delay: Duration,
    /// Ack-eliciting packets after which the owed ACK goes out at once (`Config::ack_frequency`;
    /// RFC 9000 §13.2.2 recommends 2).
    ack_frequency: u8,
}

/// A new association as the handshake settled it: its identity, the peer's parameters and
/// the keys. A responder's is what a verified CONFIRM proposes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NewAssociation {
    pub(crate) id: AssociationId,
    pub(crate) params: Params,
    pub(crate) keys: DirectionKeys,
}

impl Association {
    /// A freshly established association.
    pub(crate) fn new(
        new: NewAssociation,
        initial_rtt: Duration,
        max_ack_delay: Duration,
        ack_frequency: u8,
        ack_ranges: u16,
    ) -> Self {
        Association {
            id: new.id,
            params: new.params,
            phase: Phase::Established,
            keys: new.keys,
            next_pn: 1,
            loss: LossDetector::new(initial_rtt, max_ack_delay),
            received: RangeSet::new(ack_ranges as usize),
            pending: Pending::default(),
            lost: Unobserved::default(),
            ack_only_streak: 0,
            spurious: Unobserved::default(),
            max_ack_delay,
            ack_frequency,
        }
    }

    /// Whether a PDU header addresses this association.
    pub(crate) fn matches(&self, header: &Header) -> bool {
        header.dst_tag == self.id.local_tag && header.epoch == self.id.epoch
    }

    /// Authenticates (and decrypts) a PACKET under the peer's direction key: its cleartext
    /// body, or `None` if it is not authentic.
    pub(crate) fn open(&self, suite: Suite, datagram: &Bytes, raw: &crate::wire::RawPdu) -> Option<Bytes> {
        suite.open_packet(&self.keys.recv, datagram, raw)
    }

    /// Processes an authentic packet. `Err` means it was dropped (a replay, or late while
    /// draining) and changed nothing.
    pub(crate) fn on_packet(
        &mut self,
        now: Instant,
        pn: u64,
        frames: &[Frame],
    ) -> Result<PacketEffect, DropReason> {
        if self.phase == Phase::Draining {
            // Only a repeated CLOSE deserves an answer (the peer missed our CLOSE_ACK);
            // answering is idempotent, so draining needs no replay window.
            if frames.iter().any(|f| matches!(f, Frame::Close { .. })) {
                self.pending.close_ack = true;
                return Ok(PacketEffect::None);
            }
            return Err(DropReason::Draining);
        }
        let largest = self.received.largest();
        match self.received.insert(pn) {
            Insert::New => {}
            Insert::Duplicate | Insert::TooOld => return Err(DropReason::Replay),
        }
        if largest.is_none_or(|l| pn > l) {
            self.pending.largest_at = Some(now);
        }
        if frames.iter().any(Frame::is_ack_eliciting) {
            self.owe_ack(now, largest.is_none_or(|l| pn == l.saturating_add(1)));
        }
        let mut effect = PacketEffect::None;
        for frame in frames {
            match frame {
                Frame::Ack { ranges, ack_delay_us } => {
                    match self.loss.on_ack_received(ranges, Duration::from_micros(*ack_delay_us), now) {
                        Ok(result) => {
                            self.spurious.0 += u64::from(result.spurious);
                            if let Phase::Closing(reason) = self.phase {
                                if result.acked.iter().any(|p| p.frames.contains(&Frame::Close { reason })) {
                                    self.phase = Phase::Draining;
                                    effect = PacketEffect::Released(reason);
                                }
                            }
                            for packet in result.lost {
                                self.requeue(packet.frames);
                            }
                        }
                        Err(AckError::UnsentPacket { .. }) => {
                            return Ok(PacketEffect::Violation(AbortReason::ProtocolViolation));
                        }
                    }
                }
                Frame::Close { reason } => {
                    self.pending.close_ack = true;
                    self.phase = Phase::Draining;
                    effect = PacketEffect::Released(*reason);
                }
                Frame::CloseAck => {
                    if let Phase::Closing(reason) = self.phase {
                        self.phase = Phase::Draining;
                        effect = PacketEffect::Released(reason);
                    }
                }
                Frame::Abort { reason } => return Ok(PacketEffect::PeerAborted(*reason)),
                // Session frames are handled by the session layer; PING only elicits an ACK.
                Frame::Ping
                | Frame::Summary(_)
                | Frame::Data(_)
                | Frame::Cancel { .. }
                | Frame::Resolved { .. }
                | Frame::Reject { .. } => {}
            }
        }
        Ok(effect)
    }

    /// An ack-eliciting packet arrived (`in_order`: right after the largest one before it).
    /// RFC 9000 §13.2.1–2: acknowledge every second one at once, and a packet out of order
    /// at once (the peer learns of a loss or reordering a round trip sooner); otherwise
    /// within `max_ack_delay`, riding on whatever we send before then.
    fn owe_ack(&mut self, now: Instant, in_order: bool) {
        let p = &mut self.pending;
        p.ack = true;
        if p.ack_now {
            return;
        }
        p.unacked += 1;
        if p.unacked >= self.ack_frequency || !in_order {
            p.set_ack_now();
        } else if p.ack_at.is_none() {
            p.ack_at = Some(now + self.max_ack_delay);
        }
    }

    /// Whether the owed ACK may go out on its own now (otherwise it only rides along).
    pub(crate) fn ack_due(&self, now: Instant) -> bool {
        let p = &self.pending;
        self.phase == Phase::Draining || p.ack_now || p.ack_at.is_some_and(|t| t <= now)
    }

    /// When the owed ACK must go out at the latest, if one waits (the `Ack` timer).
    pub(crate) fn ack_deadline(&self) -> Option<Instant> {
        let p = &self.pending;
        if p.ack && !p.ack_now && self.phase != Phase::Draining {
            p.ack_at
        } else {
            None
        }
    }

    /// The `Ack` timer fired (trusted): the owed ACK goes out with the next flush.
    pub(crate) fn on_ack_timer(&mut self) {
        self.pending.set_ack_now();
    }

    /// An ACK taken by [`Association::control_frames`] is not sent after all (nothing else
    /// was to go and it is not due): it is owed again, as it was.
    pub(crate) fn defer_ack(&mut self) {
        self.pending.ack = true;
    }

    /// Queues the frames of a lost packet for a new packet.
    fn requeue(&mut self, frames: Vec<Frame>) {
        self.lost.0 += 1;
        for frame in frames {
            // A CLOSE is only worth repeating while we are still closing; a lost summary is
            // replaced by a fresh one rather than repeated.
            let keep = match frame {
                Frame::Close { .. } => matches!(self.phase, Phase::Closing(_)),
                Frame::Summary(_) => {
                    self.pending.summary_lost = true;
                    false
                }
                _ => true,
            };
            if keep && !self.pending.retransmit.contains(&frame) {
                self.pending.retransmit.push(frame);
            }
        }
    }

    /// Starts an orderly release.
    pub(crate) fn close(&mut self, reason: CloseReason) {
        if self.phase == Phase::Established {
            self.phase = Phase::Closing(reason);
            self.pending.close = true;
        }
    }

    /// Queues an ABORT frame for one last packet (best effort; never retransmitted).
    pub(crate) fn abort(&mut self, reason: AbortReason) {
        self.pending.abort = Some(reason);
    }

    /// Queues a PING (keepalive or probe).
    pub(crate) fn ping(&mut self) {
        self.pending.ping = true;
    }

    /// The loss-detection deadline (time-threshold loss or probe timeout).
    pub(crate) fn loss_deadline(&self) -> Option<Instant> {
        if self.phase == Phase::Draining {
            return None;
        }
        self.loss.deadline()
    }

    /// The loss timer fired (trusted). `Err` when probes are exhausted: abort.
    pub(crate) fn on_loss_timer(&mut self, max_probes: u32) -> Result<(), AbortReason> {
        match self.loss.on_timeout() {
            TimeoutAction::Lost(lost) => {
                for packet in lost {
                    self.requeue(packet.frames);
                }
            }
            TimeoutAction::Probe { retransmit } => {
                if self.loss.pto_count() > max_probes {
                    return Err(AbortReason::RetransmitsExhausted);
                }
                self.pending.ping = true;
                self.requeue(retransmit);
            }
            TimeoutAction::Idle => {}
        }
        Ok(())
    }

    /// The draining period: long enough for late PDUs to die out.
    pub(crate) fn drain_period(&self, max_ack_delay: Duration, drain_ptos: u32) -> Duration {
        self.loss.rtt().pto_base(max_ack_delay).saturating_mul(u64::from(drain_ptos))
    }

    /// Whether anything we sent that needs acknowledging is still unacknowledged.
    pub(crate) fn has_in_flight(&self) -> bool {
        self.loss.has_ack_eliciting_in_flight()
    }

    /// Takes the pending transport frames (ACK, retransmissions, CLOSE, CLOSE_ACK, ABORT,
    /// PING) that fit in `budget` encoded bytes, reducing the budget.
    /// An owed ACK is always taken (it rides on the packet, reporting its delay since the
    /// largest packet arrived at `now`); [`Association::defer_ack`] puts it back when the
    /// packet would carry nothing else and it is not due.
    pub(crate) fn control_frames(&mut self, now: Instant, budget: &mut usize) -> Vec<Frame> {
        let mut frames = Vec::new();
        let push = |frames: &mut Vec<Frame>, f: Frame, budget: &mut usize| {
            let len = f.encoded_len();
            if len <= *budget {
                *budget -= len;
                frames.push(f);
                true
            } else {
                false
            }
        };
        let p = &mut self.pending;
        if p.ack && self.received.largest().is_some() {
            let delay = p.largest_at.map_or(0, |t| now.saturating_duration_since(t).as_micros());
            let ack = Frame::Ack { ranges: self.received.to_ack_ranges(), ack_delay_us: delay };
            if push(&mut frames, ack, budget) {
                p.ack = false;
            }
        }
        if let Some(reason) = p.abort.take() {
            push(&mut frames, Frame::Abort { reason }, budget);
        }
        if core::mem::take(&mut p.close_ack) {
            push(&mut frames, Frame::CloseAck, budget);
        }
        if core::mem::take(&mut p.close) {
            if let Phase::Closing(reason) = self.phase {
                push(&mut frames, Frame::Close { reason }, budget);
            }
        }
        let mut rest = Vec::new();
        for f in core::mem::take(&mut p.retransmit) {
            if !push(&mut frames, f.clone(), budget) {
                rest.push(f);
            }
        }
        p.retransmit = rest;
        frames
    }

    /// Whether a probe or keepalive PING is due (it is added only if nothing else in the
    /// packet elicits an ACK).
    pub(crate) fn take_ping(&mut self) -> bool {
        core::mem::take(&mut self.pending.ping)
    }

    /// Whether a packet about to go out anyway without an ack-eliciting frame should carry
    /// a PING: after [`ACK_ONLY_BEFORE_PING`] ACK-only packets in a row while something of
    /// ours awaits acknowledgement (the peer acknowledges only ack-eliciting packets) —
    /// never while draining, when nothing is recovered any more.
    pub(crate) fn ping_with_ack(&self) -> bool {
        self.phase != Phase::Draining
            && self.ack_only_streak >= ACK_ONLY_BEFORE_PING
            && self.loss.has_ack_eliciting_in_flight()
    }

    /// Whether a packet carrying our summary was lost (a fresh summary should go out).
    pub(crate) fn take_summary_lost(&mut self) -> bool {
        core::mem::take(&mut self.pending.summary_lost)
    }

    /// Loss declarations found spurious (the packet was acknowledged after all) since the
    /// last call.
    pub(crate) fn take_spurious(&mut self) -> u64 {
        core::mem::take(&mut self.spurious.0)
    }

    /// Packets declared lost (or whose frames a probe repeated) since the last call.
    pub(crate) fn take_lost(&mut self) -> u64 {
        core::mem::take(&mut self.lost.0)
    }

    /// Ack-eliciting packets sent and neither acknowledged nor declared lost (ACK-only
    /// packets never count: nothing acknowledges them on their own).
    pub(crate) fn packets_in_flight(&self) -> usize {
        self.loss.in_flight()
    }

    /// Numbers, seals and records a packet of `frames` (which must not be empty).
    pub(crate) fn seal_packet(&mut self, now: Instant, suite: Suite, sid: u32, frames: Vec<Frame>) -> Bytes {
        let pn = self.next_pn;
        self.next_pn += 1;
        let header = Header { sid, dst_tag: self.id.peer_tag, epoch: self.id.epoch, pn };
        let ack_eliciting = frames.iter().any(Frame::is_ack_eliciting);
        if frames.iter().any(|f| matches!(f, Frame::Ack { .. })) {
            let p = &mut self.pending;
            (p.unacked, p.ack_now, p.ack_at) = (0, false, None);
        }
        self.ack_only_streak = if ack_eliciting { 0 } else { self.ack_only_streak.saturating_add(1) };
        let pdu = Pdu { header, body: Body::Packet(frames), auth: AuthTag::default() };
        let datagram = suite.seal_packet(&self.keys.send, pn, pdu.authenticated_prefix());
        // The encoded packet is done with the frames: keep the ones a loss re-sends, moved
        // rather than cloned.
        let Body::Packet(mut frames) = pdu.body else { unreachable!("built as a packet above") };
        frames.retain(is_retransmittable);
        self.loss.on_packet_sent(SentPacket { pn, time_sent: now, ack_eliciting, frames });
        datagram
    }
}

/// Frames that must reach the peer: re-sent in a new packet when their packet is lost.
fn is_retransmittable(frame: &Frame) -> bool {
    matches!(
        frame,
        Frame::Close { .. }
            | Frame::Data(_)
            | Frame::Cancel { .. }
            | Frame::Resolved { .. }
            | Frame::Reject { .. }
            | Frame::Summary(_)
    )
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;
    use crate::association_id::Role;
    use crate::crypto::DirectionKeys;
    use crate::wire::{DataFrame, PnRange, Summary};

    const T0: Instant = Instant::ZERO;

    fn assoc() -> Association {
        let params =
            Params { max_datagram: 1200, msg_window: 64, checkpoint_size: 65_536, checkpoint_window: 8 };
        let id = AssociationId { epoch: 3, local_tag: 0xA, peer_tag: 0xB, role: Role::Initiator };
        let new = NewAssociation { id, params, keys: DirectionKeys::unused() };
        Association::new(new, Duration::from_millis(100), Duration::from_millis(25), 2, 16)
    }

    fn data(msn: u64) -> Frame {
        Frame::Data(DataFrame {
            msn,
            offset: 0,
            fin: true,
            first: None,
            bytes: Bytes::from_static(b"payload"),
        })
    }

    fn send(a: &mut Association, frames: Vec<Frame>) {
        a.seal_packet(T0, Suite::Symbolic, 1, frames);
    }

    /// The peer acknowledges `lo..=hi` at `now` in its packet `pn`.
    fn ack(a: &mut Association, pn: u64, lo: u64, hi: u64, now: Instant) {
        let frames = [Frame::Ack { ranges: vec![PnRange { smallest: lo, largest: hi }], ack_delay_us: 0 }];
        assert_eq!(a.on_packet(now, pn, &frames), Ok(PacketEffect::None));
    }

    fn retransmissions(a: &mut Association) -> Vec<Frame> {
        a.pending.ack = false;
        let mut budget = usize::MAX;
        a.control_frames(T0, &mut budget)
    }

    #[test]
    fn a_header_matches_only_with_both_its_tag_and_its_epoch() {
        let a = assoc();
        let h = |dst_tag, epoch| Header { sid: 1, dst_tag, epoch, pn: 1 };
        assert!(a.matches(&h(0xA, 3)));
        assert!(!a.matches(&h(0xA, 4)), "an old or future epoch under the same tag");
        assert!(!a.matches(&h(0xC, 3)), "another tag at the same epoch");
    }

    /// Lost packets hand back what must reach the peer, once each: DATA (lost twice, queued
    /// once), not ACK or PING; a CLOSE only while closing; a lost summary is not repeated
    /// but flagged so a fresh one goes out.
    #[test]
    fn lost_frames_are_requeued_once_and_only_when_still_worth_sending() {
        let mut a = assoc();
        let ack_frame = Frame::Ack { ranges: vec![PnRange { smallest: 1, largest: 1 }], ack_delay_us: 0 };
        send(&mut a, vec![ack_frame, Frame::Ping, data(0), Frame::Summary(Summary::default())]);
        send(&mut a, vec![data(0), Frame::Close { reason: CloseReason::Idle }]);
        for _ in 3..=5 {
            send(&mut a, vec![Frame::Ping]);
        }
        assert_eq!(a.packets_in_flight(), 5);
        ack(&mut a, 1, 3, 5, T0 + Duration::from_millis(100)); // pn 1 and 2: 3 and more below
        assert_eq!((a.packets_in_flight(), a.take_lost(), a.take_lost()), (0, 2, 0));
        assert!(a.take_summary_lost());
        assert!(!a.take_summary_lost());
        assert_eq!(retransmissions(&mut a), vec![data(0)]);
    }

    #[test]
    fn a_lost_close_is_repeated_while_closing() {
        let mut a = assoc();
        a.phase = Phase::Closing(CloseReason::Idle);
        send(&mut a, vec![Frame::Close { reason: CloseReason::Idle }]);
        for _ in 2..=4 {
            send(&mut a, vec![Frame::Ping]);
        }
        ack(&mut a, 1, 2, 4, T0 + Duration::from_millis(100));
        assert_eq!(retransmissions(&mut a), vec![Frame::Close { reason: CloseReason::Idle }]);
    }

    /// A packet declared lost and then acknowledged after all was only reordered: counted
    /// once as spurious.
    #[test]
    fn a_late_ack_of_a_lost_packet_counts_as_spurious() {
        let mut a = assoc();
        for msn in 0..4 {
            send(&mut a, vec![data(msn)]);
        }
        ack(&mut a, 1, 4, 4, T0 + Duration::from_millis(100));
        assert_eq!(a.take_lost(), 1);
        ack(&mut a, 2, 1, 1, T0 + Duration::from_millis(150));
        assert_eq!((a.take_spurious(), a.take_spurious()), (1, 0));
    }

    /// Control frames fill the budget exactly: what fits goes, in order; the rest waits.
    #[test]
    fn control_frames_spend_exactly_their_encoded_length() {
        let mut a = assoc();
        a.pending.ack = true;
        a.received.insert(1);
        a.pending.retransmit = vec![data(0), data(1)];
        let ack_len =
            Frame::Ack { ranges: vec![PnRange { smallest: 1, largest: 1 }], ack_delay_us: 0 }.encoded_len();
        let data_len = data(0).encoded_len();
        let mut budget = ack_len + data_len + data_len - 1;
        let frames = a.control_frames(T0, &mut budget);
        assert_eq!(frames.len(), 2, "the ACK and one DATA fit: {frames:?}");
        assert_eq!(budget, data_len - 1);
        assert_eq!(a.pending.retransmit, vec![data(1)]);
    }

    /// ACK frequency as a table: (packets received as (pn, ack-eliciting), then whether the
    /// owed ACK is due at once, and its deadline otherwise).
    #[test]
    fn acks_go_at_every_second_packet_at_once_on_reordering_else_after_max_ack_delay() {
        let delay = Duration::from_millis(25);
        type Case<'a> = (&'a [(u64, bool)], bool, Option<Instant>);
        let cases: [Case<'_>; 6] = [
            (&[(1, true)], false, Some(T0 + delay)),
            (&[(1, true), (2, true)], true, None),
            (&[(1, true), (3, true)], true, None), // a gap: the peer learns of it at once
            (&[(2, true), (1, true)], true, None), // reordered
            (&[(1, false), (2, false)], false, None), // ACK-only packets owe nothing
            (&[(1, false), (2, true)], false, Some(T0 + delay)),
        ];
        for (packets, due, deadline) in cases {
            let mut a = assoc();
            for &(pn, eliciting) in packets {
                let frames = if eliciting { vec![Frame::Ping] } else { vec![] };
                assert_eq!(a.on_packet(T0, pn, &frames), Ok(PacketEffect::None));
            }
            assert_eq!((a.ack_due(T0), a.ack_deadline()), (due, deadline), "{packets:?}");
            assert!(a.ack_due(T0 + delay) || !a.pending.ack, "{packets:?}: due once the delay is over");
        }
    }

    /// A packet carrying the ACK settles what is owed; a deferred ACK is owed again as it was;
    /// the timer firing makes it due.
    #[test]
    fn sending_the_ack_settles_it_and_deferring_keeps_it() {
        let mut a = assoc();
        a.on_packet(T0, 1, &[Frame::Ping]).unwrap();
        let mut budget = usize::MAX;
        let frames = a.control_frames(T0 + Duration::from_millis(3), &mut budget);
        let Frame::Ack { ack_delay_us, .. } = frames[0] else { panic!("{frames:?}") };
        assert_eq!(ack_delay_us, 3_000, "time since the largest pn arrived");
        a.defer_ack();
        assert_eq!(a.ack_deadline(), Some(T0 + Duration::from_millis(25)));
        a.on_ack_timer();
        assert!(a.ack_due(T0) && a.ack_deadline().is_none());
        let frames = a.control_frames(T0, &mut budget);
        send(&mut a, frames);
        assert!(!a.pending.ack && !a.ack_due(T0) && a.ack_deadline().is_none());
        a.on_packet(T0, 2, &[Frame::Ping]).unwrap();
        assert!(!a.ack_due(T0), "counting starts again after the ACK went out");
    }

    #[test]
    fn draining_lasts_drain_ptos_probe_periods() {
        let a = assoc();
        // pto_base = 100 ms + 4 × 50 ms + 25 ms before any sample.
        assert_eq!(a.drain_period(Duration::from_millis(25), 3), Duration::from_millis(3 * 325));
    }
}
