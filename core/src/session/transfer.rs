//! The session's data phase: packets in, messages in and out, packets out.

use alloc::vec::Vec;
use bytes::Bytes;

use super::handshake_pdus::initiator_association;
use super::Session;
use crate::association::{Association, PacketEffect, Phase};
use crate::input::{DropReason, InputError, Verdict};
use crate::message::{CancelError, MessageId, NonDelivery, Outcome};
use crate::output::{DownReason, Event};
use crate::persist::Record;
use crate::receiver::{Ignored, Receiver};
use crate::remote::Remote;
use crate::sender::Finished;
use crate::time::Instant;
use crate::timer::Timer;
use crate::wire::{AbortReason, Body, Frame, Pdu, RawPdu, Resolution, Summary};

/// Most packets one flush sends; the rest waits for the next input (ACKs open the window).
const MAX_PACKETS_PER_FLUSH: usize = 256;

impl Session {
    /// A PACKET: the header selects the association, which authenticates and decrypts the
    /// body before anything in it is decoded or acted on. One that opens and is new (not a
    /// replay) moves the peer's remote to its source: an authentic peer that moved is
    /// followed from its first packet on.
    pub(super) fn on_packet(
        &mut self,
        now: Instant,
        from: Remote,
        raw: &RawPdu,
        datagram: &Bytes,
    ) -> Result<Verdict, InputError> {
        let header = raw.header;
        let suite = self.cfg.suite;
        let (clear, implied) = if self.assoc.as_ref().is_some_and(|a| a.matches(&header)) {
            match self.assoc.as_ref().and_then(|a| a.open(suite, datagram, raw)) {
                Some(clear) => (clear, None),
                None => return self.drop_pdu(DropReason::BadAuth),
            }
        } else {
            // Any authentic packet of the association we are confirming implies ACCEPT.
            let Some((attempt, c)) = self.confirming_for(&header) else {
                return self.on_unknown_packet(now, from, &header, datagram.len());
            };
            match suite.open_packet(&c.keys.recv, datagram, raw) {
                Some(clear) => (clear, Some(initiator_association(attempt, c))),
                None => return self.drop_pdu(DropReason::BadAuth),
            }
        };
        let Body::Packet(frames) = self.decode_body(raw.ty, &clear)? else {
            return self.drop_pdu(DropReason::NotApplicable);
        };
        if let Some(new) = implied {
            self.establish(now, new);
        }
        let Some(a) = self.assoc.as_mut() else { return self.drop_pdu(DropReason::Stale) };
        let was_established = a.phase == Phase::Established;
        let effect = match a.on_packet(now, header.pn, &frames) {
            Ok(effect) => effect,
            Err(reason) => return self.drop_pdu(reason),
        };
        let phase = a.phase;
        self.peer_proved_at(from);
        if phase == Phase::Established {
            if let Some(k) = self.cfg.keepalive {
                self.timers.set(Timer::Keepalive, now + k);
            }
        }
        // Session frames of a closing association still count: their effects are stable.
        let mut effect = effect;
        if was_established || matches!(effect, PacketEffect::Released(_)) || self.closing() {
            if let Err(reason) = self.on_session_frames(now, &frames) {
                effect = PacketEffect::Violation(reason);
            }
        }
        match effect {
            PacketEffect::None => {}
            PacketEffect::Released(reason) => self.enter_draining(now, reason),
            PacketEffect::PeerAborted(reason) => self.end_association(now, DownReason::PeerAborted(reason)),
            PacketEffect::Violation(reason) => self.abort_association(now, reason),
        }
        Ok(Verdict::Accepted)
    }

    fn closing(&self) -> bool {
        self.assoc.as_ref().is_some_and(|a| matches!(a.phase, Phase::Closing(_)))
    }

    /// DATA, SUMMARY, CANCEL, RESOLVED and REJECT: order-independent, idempotent effects.
    fn on_session_frames(&mut self, now: Instant, frames: &[Frame]) -> Result<(), AbortReason> {
        // The agreed parameters: what the peer's sender limits itself by.
        let params = self.assoc.as_ref().map_or(self.cfg.params, |a| a.params);
        for frame in frames {
            match frame {
                Frame::Data(d) => {
                    let fx = self.receiver.on_data(&self.cfg, &params, &self.store, d);
                    if let Some(why) = fx.ignored {
                        self.count_ignored(why);
                    }
                    self.persist_inbound(fx.records);
                }
                Frame::Cancel { msn } => {
                    if let Some(r) = self.receiver.on_cancel(&params, &self.store, *msn) {
                        self.persist_inbound(alloc::vec![r]);
                    }
                }
                Frame::Summary(s) => self.apply_peer_summary(s)?,
                Frame::Resolved { msn, resolution } => self.apply_resolution(*msn, *resolution)?,
                Frame::Reject { msn, reason } => {
                    self.apply_resolution(*msn, Resolution::Rejected(*reason))?
                }
                Frame::Ping
                | Frame::Ack { .. }
                | Frame::Close { .. }
                | Frame::CloseAck
                | Frame::Abort { .. } => {}
            }
        }
        self.timers.set(Timer::Idle, now + self.cfg.lifetime);
        Ok(())
    }

    fn count_ignored(&mut self, why: Ignored) {
        let s = &mut self.stats.0;
        match why {
            Ignored::Duplicate => s.data_duplicate += 1,
            Ignored::OutsideWindow => s.data_outside_window += 1,
            Ignored::OutOfBounds => s.data_out_of_bounds += 1,
            Ignored::Conflicting => s.data_conflicting += 1,
        }
    }

    /// Persists inbound records, then delivers (in msn order) whatever became deliverable.
    fn persist_inbound(&mut self, records: Vec<Record>) {
        for r in records {
            match r {
                Record::Delivered { msn, app_id, ref bytes } => {
                    // Only the duplicate-suppression mutation produces these directly.
                    let event = Event::Delivered { msn, app_id, bytes: bytes.clone() };
                    self.persist(r);
                    self.event(event);
                }
                r => self.persist(r),
            }
        }
        self.deliver_ready();
    }

    /// Whether the inbox has no room for a delivery of `len` bytes (deliveries wait).
    fn inbox_full(&self, len: usize) -> bool {
        let inbox = &self.store;
        inbox.inbox.len() >= self.cfg.max_queued_messages as usize
            || (!inbox.inbox.is_empty()
                && inbox.inbox_bytes.saturating_add(len as u64) > self.cfg.max_queued_bytes)
    }

    /// Persists a `Delivered` record and reports the delivery.
    fn deliver(&mut self, r: Record) {
        if let Record::Delivered { msn, app_id, bytes } = &r {
            let event = Event::Delivered { msn: *msn, app_id: *app_id, bytes: bytes.clone() };
            self.persist(r);
            // The sender learns it from the next summary (a delivery that waited for the
            // application's acknowledgement has no DATA of its own to answer).
            self.receiver.summary_due = true;
            self.stats.0.delivered += 1;
            self.event(event);
        }
    }

    /// Delivers, in msn order, every complete message whose turn has come — including one
    /// completed before a crash whose `Delivered` record was lost.
    ///
    /// Deliveries wait for the application's acknowledgement in the store, so delivery
    /// pauses while `max_queued_messages` of them (or `max_queued_bytes` of content) wait;
    /// [`Ack::Delivery`](crate::Ack::Delivery) resumes it.
    pub(super) fn deliver_ready(&mut self) {
        let any_order = mutated!(self.cfg, DeliverOutOfOrder);
        while let Some(r) = if any_order {
            Receiver::deliverable_any(&self.store)
        } else {
            Receiver::deliverable(&self.store)
        } {
            if let Record::Delivered { bytes, .. } = &r {
                if self.inbox_full(bytes.len()) {
                    return;
                }
                self.deliver(r);
            }
        }
    }

    /// The peer's receive summary: settles outcomes and resume points of our messages.
    pub(super) fn apply_peer_summary(&mut self, s: &Summary) -> Result<(), AbortReason> {
        let done = self.sender.on_summary(&self.store, s)?;
        for f in done {
            self.finish(f);
        }
        Ok(())
    }

    fn apply_resolution(&mut self, msn: u64, r: Resolution) -> Result<(), AbortReason> {
        if let Some(f) = self.sender.on_resolution(&self.store, msn, r)? {
            self.finish(f);
        }
        Ok(())
    }

    /// The application cancels a message: never sent → non-delivered now; sent → in
    /// doubt, cancelled through the receiver.
    pub(super) fn cancel(&mut self, id: MessageId) -> Result<(), InputError> {
        let Some(m) = self.store.outbound.get(&id) else { return Err(CancelError::Unknown(id).into()) };
        match (m.msn, m.cancel) {
            (None, _) => {
                let outcome = Outcome::NonDelivered(NonDelivery::Cancelled);
                self.finish(Finished { id, app_id: m.app_id, outcome });
            }
            (Some(_), None) => self.persist(Record::CancelRequested { id, reason: NonDelivery::Cancelled }),
            (Some(_), Some(_)) => {}
        }
        Ok(())
    }

    /// The most outputs that may wait for the driver (the memory bound of the output queue).
    pub(super) fn max_waiting_outputs(&self) -> usize {
        self.cfg.max_packets_in_flight as usize + 16
    }

    /// Moves pending frames and messages into packets and re-syncs the timers.
    pub(super) fn flush(&mut self, now: Instant) {
        self.deliver_ready();
        let (suite, sid) = (self.cfg.suite, self.cfg.sid);
        let max_budget = usize::from(self.cfg.params.max_datagram).saturating_sub(Pdu::PACKET_OVERHEAD);
        // Bounded whatever the peer sends: while the driver has not drained or persisted,
        // new packets wait as state (ACK ranges, flags, queued frames), not as datagrams.
        let max_waiting = self.max_waiting_outputs();
        self.deferred_flush = None;
        for _ in 0..MAX_PACKETS_PER_FLUSH {
            if self.outbox.waiting() >= max_waiting {
                self.deferred_flush = Some(now); // resumed by poll_output once drained
                break;
            }
            let Some(a) = self.assoc.as_mut() else { break };
            self.stats.0.packets_lost += a.take_lost();
            self.stats.0.spurious_losses += a.take_spurious();
            if a.take_summary_lost() {
                self.receiver.summary_due = true;
            }
            let mut budget =
                usize::from(a.params.max_datagram).saturating_sub(Pdu::PACKET_OVERHEAD).min(max_budget);
            let mut frames = a.control_frames(now, &mut budget);
            let taken = frames.len();
            frames.retain(|f| self.sender.still_needed(&self.store, f));
            // Retransmissions no longer needed were just discarded: look again rather than
            // stop, or they would linger and be discarded by some later, unrelated input.
            let discarded = frames.len() < taken;
            let mut records = Vec::new();
            // Mutations only: this packet leaves ahead of the records it depends on.
            let mut overtakes = false;
            if a.phase == Phase::Established {
                for f in self.receiver.take_answers() {
                    overtakes |=
                        matches!(f, Frame::Resolved { .. }) && mutated!(self.cfg, CancelAnswerBeforeRecord);
                    budget = budget.saturating_sub(f.encoded_len());
                    frames.push(f);
                }
                if self.receiver.summary_due && budget > 64 {
                    let mut summary = Receiver::summary(&self.store, budget - 1);
                    if mutated!(self.cfg, WatermarkOffByOne) {
                        summary.resolved_below = summary.resolved_below.saturating_add(1);
                    }
                    overtakes |= mutated!(self.cfg, AckBeforeCheckpointDurable);
                    let f = Frame::Summary(summary);
                    budget = budget.saturating_sub(f.encoded_len());
                    frames.push(f);
                    self.receiver.summary_due = false;
                }
                if a.packets_in_flight() < self.cfg.max_packets_in_flight as usize {
                    let params = a.params;
                    records =
                        self.sender.fill(&self.cfg, &self.store, &params, now, &mut budget, &mut frames);
                }
            }
            let ping = a.take_ping();
            // An ACK that is not due waits (with a summary that would ride on it) for the
            // next packet or the `Ack` timer: ACK frequency, RFC 9000 §13.2.
            let only_ack = frames.iter().any(|f| matches!(f, Frame::Ack { .. }))
                && frames.iter().all(|f| matches!(f, Frame::Ack { .. } | Frame::Summary(_)));
            if only_ack && !ping && !a.ack_due(now) {
                a.defer_ack();
                if frames.iter().any(|f| matches!(f, Frame::Summary(_))) {
                    self.receiver.summary_due = true;
                }
                break;
            }
            if frames.is_empty() && !ping {
                if discarded {
                    continue;
                }
                break;
            }
            if (ping || a.ping_with_ack()) && !frames.iter().any(Frame::is_ack_eliciting) {
                frames.push(Frame::Ping);
            }
            for f in &frames {
                if let Frame::Data(d) = f {
                    self.stats.0.data_bytes_sent += d.bytes.len() as u64;
                }
            }
            let datagram = a.seal_packet(now, suite, sid, frames);
            if overtakes {
                match self.peer_remote {
                    Some(to) => {
                        self.stats.0.datagrams_out += 1;
                        let t = crate::output::Transmit { to, datagram };
                        self.outbox.push_ahead(crate::output::Output::Transmit(t));
                    }
                    None => self.stats.0.unrouted += 1,
                }
                for r in records {
                    self.persist(r);
                }
                continue;
            }
            if mutated!(self.cfg, MsnNotDurableBeforeData) {
                self.transmit(datagram);
                for r in records {
                    self.persist(r);
                }
                continue;
            }
            for r in records {
                self.persist(r);
            }
            self.transmit(datagram);
        }
        let deadline = self.assoc.as_ref().and_then(Association::loss_deadline);
        self.timers.set_opt(Timer::Loss, deadline);
        let ack = self.assoc.as_ref().and_then(Association::ack_deadline);
        self.timers.set_opt(Timer::Ack, ack);
        let expiry = self.sender.next_deadline();
        self.timers.set_opt(Timer::Expiry, expiry);
        self.maybe_open(now);
    }
}
