//! The sending side of a session: per message QUEUED → IN-FLIGHT → DELIVERED or
//! NON-DELIVERED, with exactly one outcome each.
//!
//! | state | event | next | record |
//! |---|---|---|---|
//! | QUEUED (no msn) | first transmission | IN-FLIGHT | `Assigned` (before the DATA leaves) |
//! | QUEUED | expiry, cancel, open retries exhausted | NON-DELIVERED | `Finished` |
//! | IN-FLIGHT | receiver resolves it (summary, RESOLVED, REJECT) | DELIVERED / NON-DELIVERED | `Finished` |
//! | IN-FLIGHT | expiry, transfer timeout, cancel | IN-FLIGHT, cancelling | `CancelRequested` |
//! | cancelling | receiver resolves it either way | DELIVERED / NON-DELIVERED | `Finished` |
//!
//! An in-flight message is in doubt — the receiver may have taken custody — so it is never
//! given up unilaterally: only the receiver's word resolves it.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

use crate::config::Config;
use crate::message::{MessageId, NonDelivery, Outcome, Submission, SubmitError};
use crate::mutation::Mutation;
use crate::persist::{Record, SessionStore, StoredMessage};
use crate::time::{Duration, Instant};
use crate::wire::{AbortReason, DataFrame, FirstSegment, Frame, Params, Priority, Resolution, Summary};

/// Bytes a DATA frame needs besides its payload (first segment / later segment).
const DATA_OVERHEAD_FIRST: usize = 39;
const DATA_OVERHEAD: usize = 22;
/// Bytes of a CANCEL frame.
const CANCEL_LEN: usize = 9;

/// Per-association transfer progress of one message.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
struct Progress {
    /// Next byte offset to send in this association.
    next: u64,
    /// The receiver's durable prefix, as reported (only grows).
    acked: u64,
    /// A CANCEL went out in this association (it is retransmitted if lost).
    cancel_sent: bool,
    /// The one segment of an empty message went out in this association.
    empty_sent: bool,
    /// When the first byte was first sent (transfer timeout).
    first_sent: Option<Instant>,
}

/// What the sender needs to remember besides the store.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub(crate) struct Sender {
    progress: BTreeMap<MessageId, Progress>,
    /// Whether the peer's summary for this association has arrived (resume points known).
    summary_known: bool,
}

/// An outcome to record and report.
pub(crate) type Finished = (MessageId, u64, Outcome);

impl Sender {
    /// Validates a submission and returns the record that takes custody of it.
    pub(crate) fn submit(
        cfg: &Config,
        store: &SessionStore,
        now: Instant,
        s: Submission,
    ) -> Result<Record, SubmitError> {
        if store.outbound.len() >= cfg.max_queued_messages as usize {
            return Err(SubmitError::QueueFull { limit: cfg.max_queued_messages });
        }
        let len = s.bytes.len() as u64;
        if len > cfg.max_message_len {
            return Err(SubmitError::TooLarge { len, max: cfg.max_message_len });
        }
        let queued = store.queued_bytes();
        if queued.saturating_add(len) > cfg.max_queued_bytes {
            return Err(SubmitError::QueueBytesFull { queued, limit: cfg.max_queued_bytes });
        }
        let expiry = now + cfg.expiry[s.priority as usize];
        let deadline = match s.deadline {
            Some(d) if d <= now => return Err(SubmitError::DeadlineInPast),
            Some(d) => d.min(expiry),
            None => expiry,
        };
        let message = StoredMessage {
            app_id: s.app_id,
            priority: s.priority,
            submitted: now,
            deadline,
            bytes: s.bytes,
            msn: None,
            cancel: None,
        };
        Ok(Record::Submitted { id: MessageId(store.next_id), message })
    }

    /// A new association is up: every message resumes from the receiver's durable offset
    /// once the peer's summary is known; CANCELs are sent again.
    pub(crate) fn on_association_up(&mut self, cfg: &Config) {
        let keep_own_offset = cfg.mutations.is_active(Mutation::ResumeFromOwnOffset);
        for p in self.progress.values_mut() {
            if !keep_own_offset {
                p.next = p.acked;
            }
            p.cancel_sent = false;
            p.empty_sent = false;
        }
        self.summary_known = false;
    }

    /// The peer's summary arrived with the handshake (or later in a SUMMARY frame).
    pub(crate) fn summary_arrived(&mut self) {
        self.summary_known = true;
    }

    /// Whether any message is unresolved.
    pub(crate) fn has_work(store: &SessionStore) -> bool {
        !store.outbound.is_empty()
    }

    /// Whether a message was sent and is unresolved (in doubt).
    pub(crate) fn has_in_doubt(store: &SessionStore) -> bool {
        store.outbound.values().any(|m| m.msn.is_some())
    }

    /// Applies the receiver's summary. Returns the outcomes it settles, or the reason to
    /// abort if it claims something impossible (a msn never sent, an offset past the end).
    pub(crate) fn on_summary(
        &mut self,
        store: &SessionStore,
        s: &Summary,
    ) -> Result<Vec<Finished>, AbortReason> {
        if s.resolved_below > store.next_msn
            || s.resolved.iter().any(|e| e.msn >= store.next_msn)
            || s.partial.iter().any(|e| e.msn >= store.next_msn)
        {
            return Err(AbortReason::ProtocolViolation);
        }
        let mut done = Vec::new();
        for (id, m) in &store.outbound {
            let Some(msn) = m.msn else { continue };
            let listed = s.resolved.iter().find(|e| e.msn == msn).map(|e| e.resolution);
            let resolution = match listed {
                Some(r) => Some(r),
                None if msn < s.resolved_below => Some(Resolution::Delivered),
                None => None,
            };
            if let Some(r) = resolution {
                done.push((*id, m.app_id, outcome_of(r, m.cancel)));
            } else if let Some(p) = s.partial.iter().find(|e| e.msn == msn) {
                if p.durable > m.bytes.len() as u64 {
                    return Err(AbortReason::ProtocolViolation);
                }
                let progress = self.progress.entry(*id).or_default();
                progress.acked = progress.acked.max(p.durable);
                progress.next = progress.next.max(progress.acked);
            }
        }
        Ok(done)
    }

    /// A RESOLVED or REJECT frame: the receiver's final word on one msn.
    pub(crate) fn on_resolution(
        store: &SessionStore,
        msn: u64,
        r: Resolution,
    ) -> Result<Option<Finished>, AbortReason> {
        if msn >= store.next_msn {
            return Err(AbortReason::ProtocolViolation);
        }
        Ok(store
            .outbound
            .iter()
            .find(|(_, m)| m.msn == Some(msn))
            .map(|(id, m)| (*id, m.app_id, outcome_of(r, m.cancel))))
    }

    /// For each message with known progress: its id and the receiver's reported durable
    /// prefix (where a new association resumes it).
    pub(crate) fn resume_points(&self) -> impl Iterator<Item = (MessageId, u64)> + '_ {
        self.progress.iter().map(|(id, p)| (*id, p.acked))
    }

    /// Forgets per-message progress of a finished message.
    pub(crate) fn forget(&mut self, id: MessageId) {
        self.progress.remove(&id);
    }

    /// The earliest instant at which some message expires or times out, if any.
    pub(crate) fn next_deadline(&self, cfg: &Config, store: &SessionStore) -> Option<Instant> {
        store
            .outbound
            .iter()
            .filter(|(_, m)| m.cancel.is_none())
            .map(|(id, m)| self.deadline_of(cfg, *id, m))
            .min()
    }

    fn deadline_of(&self, cfg: &Config, id: MessageId, m: &StoredMessage) -> Instant {
        let transfer = self.progress.get(&id).and_then(|p| p.first_sent).map(|t| {
            let kib = (m.bytes.len() as u64).div_ceil(1024).max(1);
            t + cfg.transfer_timeout_per_kib[m.priority as usize].saturating_mul(kib)
        });
        transfer.map_or(m.deadline, |t| t.min(m.deadline))
    }

    /// The expiry timer fired for `at` (trusted: the clock is not consulted). Never-sent
    /// messages due by `at` become non-delivered; sent ones start cancelling.
    pub(crate) fn expire(
        &self,
        cfg: &Config,
        store: &SessionStore,
        at: Instant,
    ) -> (Vec<Record>, Vec<Finished>) {
        let (mut records, mut done) = (Vec::new(), Vec::new());
        for (id, m) in &store.outbound {
            if m.cancel.is_some() || self.deadline_of(cfg, *id, m) > at {
                continue;
            }
            if m.msn.is_none() || cfg.mutations.is_active(Mutation::NdrInDoubtOnTimer) {
                done.push((*id, m.app_id, Outcome::NonDelivered(NonDelivery::Expired)));
            } else {
                records.push(Record::CancelRequested { id: *id, reason: NonDelivery::Expired });
            }
        }
        (records, done)
    }

    /// Opening failed for good: messages never sent become non-delivered (in-doubt ones
    /// stay, to be reconciled with the receiver later).
    pub(crate) fn open_failed(store: &SessionStore) -> Vec<Finished> {
        store
            .outbound
            .iter()
            .filter(|(_, m)| m.msn.is_none())
            .map(|(id, m)| (*id, m.app_id, Outcome::NonDelivered(NonDelivery::OpenFailed)))
            .collect()
    }

    /// Fills a packet: CANCELs first, then DATA by effective priority, within the message
    /// window and each message's checkpoint window. Returns the records the frames depend
    /// on (msn assignments), which the caller must persist before queueing the packet.
    pub(crate) fn fill(
        &mut self,
        cfg: &Config,
        store: &SessionStore,
        params: &Params,
        now: Instant,
        budget: &mut usize,
        frames: &mut Vec<Frame>,
    ) -> Vec<Record> {
        let mut records = Vec::new();
        if !self.summary_known {
            return records;
        }
        for (id, m) in &store.outbound {
            let (Some(msn), Some(_)) = (m.msn, m.cancel) else { continue };
            let p = self.progress.entry(*id).or_default();
            if !p.cancel_sent && *budget >= CANCEL_LEN {
                frames.push(Frame::Cancel { msn });
                *budget -= CANCEL_LEN;
                p.cancel_sent = true;
            }
        }
        let lowest_unresolved = store.outbound.values().filter_map(|m| m.msn).min().unwrap_or(store.next_msn);
        let mut next_msn = store.next_msn;
        let window_end = lowest_unresolved.saturating_add(u64::from(params.msg_window));
        let in_flight_limit = u64::from(params.checkpoint_window) * u64::from(params.checkpoint_size);
        for id in self.send_order(cfg, store, now) {
            let Some(m) = store.outbound.get(&id) else { continue };
            let msn = match m.msn {
                Some(msn) => msn,
                None if next_msn < window_end => {
                    records.push(Record::Assigned { id, msn: next_msn });
                    next_msn += 1;
                    next_msn - 1
                }
                None => continue,
            };
            let p = self.progress.entry(id).or_default();
            let total = m.bytes.len() as u64;
            let limit = total.min(p.acked.saturating_add(in_flight_limit));
            // An empty message still needs its one (empty, final) segment.
            while (p.next < limit || (total == 0 && !p.empty_sent)) && *budget > DATA_OVERHEAD_FIRST {
                let overhead = if p.next == 0 { DATA_OVERHEAD_FIRST } else { DATA_OVERHEAD };
                let room = (*budget - overhead) as u64;
                let len = (limit - p.next).min(room);
                if len == 0 && total != 0 {
                    break;
                }
                let start = p.next as usize;
                let bytes = m.bytes.slice(start..start + len as usize);
                let first = (p.next == 0).then_some(FirstSegment {
                    total_len: total,
                    priority: m.priority,
                    app_id: m.app_id,
                });
                frames.push(Frame::Data(DataFrame {
                    msn,
                    offset: p.next,
                    fin: p.next + len == total,
                    first,
                    bytes,
                }));
                *budget -= overhead + len as usize;
                p.next += len;
                p.empty_sent = true;
                p.first_sent.get_or_insert(now);
            }
        }
        records
    }

    /// Unresolved, not cancelling messages by effective priority (aging promotes one class
    /// per `aging_interval` waited), then msn (assigned first), then submission order.
    fn send_order(&self, cfg: &Config, store: &SessionStore, now: Instant) -> Vec<MessageId> {
        let mut order: Vec<(u64, u64, MessageId)> = store
            .outbound
            .iter()
            .filter(|(_, m)| m.cancel.is_none())
            .map(|(id, m)| {
                let waited = now.saturating_duration_since(m.submitted).as_micros();
                let steps = waited / cfg.aging_interval.as_micros().max(1);
                let class = (m.priority as u64).saturating_sub(steps);
                (class, m.msn.unwrap_or(u64::MAX), *id)
            })
            .collect();
        order.sort_unstable();
        order.into_iter().map(|(_, _, id)| id).collect()
    }

    /// Whether a DATA or CANCEL frame queued for retransmission still matters.
    pub(crate) fn still_needed(store: &SessionStore, frame: &Frame) -> bool {
        match frame {
            Frame::Data(d) => store.outbound.values().any(|m| m.msn == Some(d.msn) && m.cancel.is_none()),
            Frame::Cancel { msn } => store.outbound.values().any(|m| m.msn == Some(*msn)),
            _ => true,
        }
    }
}

/// The outcome a receiver's resolution means for the sender.
fn outcome_of(r: Resolution, cancel: Option<NonDelivery>) -> Outcome {
    match r {
        Resolution::Delivered => Outcome::Delivered,
        Resolution::Cancelled => Outcome::NonDelivered(cancel.unwrap_or(NonDelivery::Cancelled)),
        Resolution::Rejected(reason) => Outcome::NonDelivered(NonDelivery::Rejected(reason)),
    }
}

/// Unused-import guard for `Duration` and `Priority` in docs.
#[allow(dead_code)]
fn _types(_: Duration, _: Priority) {}
