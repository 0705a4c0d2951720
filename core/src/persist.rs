//! Persistence: records and the one fold that applies them.
//!
//! The core never writes storage. It emits [`Output::Persist`](crate::Output::Persist)
//! records numbered 1, 2, 3, …; the driver makes them durable in order and reports
//! [`Input::Persisted`](crate::Input::Persisted) `{ upto }`. The write barrier that holds
//! outputs back until their records are durable is `outbox.rs`.

use alloc::collections::BTreeMap;
use bytes::Bytes;

use crate::input::Ack;
use crate::message::{MessageId, MessageState, NonDelivery, Outcome};
use crate::time::Instant;
use crate::wire::{FirstSegment, Priority, Resolution};

/// One durable fact. Applying a record twice, or an older record after a newer one, never
/// moves state backwards: [`SessionStore::apply`] is idempotent and monotone.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Record {
    /// The session's epoch is at least this value.
    Epoch(u64),
    /// The session took custody of an outbound message.
    Submitted {
        /// Its id.
        id: MessageId,
        /// What it is.
        message: StoredMessage,
    },
    /// An outbound message got its msn (at first transmission).
    Assigned {
        /// The message.
        id: MessageId,
        /// Its msn; the session's next msn is above it.
        msn: u64,
    },
    /// An outbound message that may have been sent is being cancelled (in doubt).
    CancelRequested {
        /// The message.
        id: MessageId,
        /// What the outcome will say if the receiver confirms the cancellation.
        reason: NonDelivery,
    },
    /// An outbound message has its outcome; the session forgets it.
    Finished {
        /// The message.
        id: MessageId,
        /// Its outcome.
        outcome: Outcome,
    },
    /// Inbound: the prefix `0..offset + bytes.len()` of `msn` is stored (a checkpoint).
    Chunk {
        /// The message.
        msn: u64,
        /// Where `bytes` start; equals the durable prefix before this record.
        offset: u64,
        /// Metadata from the first segment (with the chunk at offset 0).
        first: Option<FirstSegment>,
        /// The bytes.
        #[cfg_attr(feature = "arbitrary", arbitrary(with = crate::arbitrary_support::bytes))]
        bytes: Bytes,
    },
    /// Inbound: `msn` is delivered — stored for the application and marked — in one step.
    /// The driver's store hands `bytes` to the application in the same transaction.
    Delivered {
        /// The message.
        msn: u64,
        /// The sender application's id for it.
        app_id: u64,
        /// Its complete content.
        #[cfg_attr(feature = "arbitrary", arbitrary(with = crate::arbitrary_support::bytes))]
        bytes: Bytes,
    },
    /// Inbound: `msn` is resolved without delivery (cancelled by the sender, or rejected).
    Resolved {
        /// The message.
        msn: u64,
        /// How (never `Delivered`).
        resolution: Resolution,
    },
    /// The application acknowledged a delivery or an outcome: it is not reported again
    /// after a restart.
    Acknowledged(Ack),
    /// An acknowledged outcome leaves the idempotency window: its application id may be
    /// submitted again as a new message.
    Forgotten {
        /// The message.
        id: MessageId,
    },
}

/// An outbound message in the sender's custody.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct StoredMessage {
    /// The application's id.
    pub app_id: u64,
    /// Priority class.
    pub priority: Priority,
    /// When it was submitted (drivers use a clock that survives restarts).
    pub submitted: Instant,
    /// Give up after this instant.
    pub deadline: Instant,
    /// The content.
    #[cfg_attr(feature = "arbitrary", arbitrary(with = crate::arbitrary_support::bytes))]
    pub bytes: Bytes,
    /// Its msn once assigned.
    pub msn: Option<u64>,
    /// Being cancelled, and the outcome to report once the receiver confirms.
    pub cancel: Option<NonDelivery>,
}

/// A finished outbound message the session still holds: its outcome until the application
/// acknowledges it, then its application id for idempotent submission while it is within
/// the idempotency window.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FinishedMessage {
    /// The application's id.
    pub app_id: u64,
    /// Its outcome.
    pub outcome: Outcome,
}

/// A delivered inbound message the application has not acknowledged yet.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct UnacknowledgedDelivery {
    /// The sending application's id.
    pub app_id: u64,
    /// Its content.
    pub bytes: Bytes,
}

/// An inbound message at or above the watermark.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StoredInbound {
    /// Partially (or completely, awaiting its turn) received: the durable prefix.
    Partial {
        /// Metadata, once the first segment is stored.
        first: Option<FirstSegment>,
        /// The durable prefix.
        bytes: Bytes,
    },
    /// Resolved without delivery, waiting for the watermark to pass it.
    Resolved(Resolution),
}

/// The persistent state of one session: what survives crashes. Memory is bounded by the
/// config (queue limits outbound; `msg_window` × `max_message_len` inbound).
///
/// [`SessionStore::apply`] is the only way records change it — used by the core for its
/// volatile copy, by drivers' durable stores, and by the model.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct SessionStore {
    /// The highest epoch ever used or seen for this session.
    pub epoch: u64,
    /// The next outbound message id.
    pub next_id: u64,
    /// The next outbound msn.
    pub next_msn: u64,
    /// Outbound messages without an outcome, by id.
    pub outbound: BTreeMap<MessageId, StoredMessage>,
    /// Total content bytes of `outbound` (kept by `apply`).
    pub queued_bytes: u64,
    /// Inbound: every msn below this is resolved.
    pub watermark: u64,
    /// Inbound: msns at or above the watermark with durable state.
    pub inbound: BTreeMap<u64, StoredInbound>,
    /// Inbound: recent non-delivered resolutions below the watermark, kept for the sender
    /// until the window has moved past them (at most [`MAX_MSG_WINDOW`] entries).
    pub recent_non_delivered: BTreeMap<u64, Resolution>,
    /// Outbound messages with an outcome the application has not acknowledged (they count
    /// towards `max_queued_messages` together with `outbound`).
    pub outcomes: BTreeMap<MessageId, FinishedMessage>,
    /// Outbound messages with an acknowledged outcome, remembered for idempotent submission
    /// (the session keeps at most `idempotency_window` of them).
    pub remembered: BTreeMap<MessageId, FinishedMessage>,
    /// Application id → message id of every message in `outbound`, `outcomes` or
    /// `remembered`: the
    /// idempotency keys (kept by `apply`).
    pub app_ids: BTreeMap<u64, MessageId>,
    /// Inbound: delivered messages the application has not acknowledged, by msn (at most
    /// `max_queued_messages` of them, and `max_queued_bytes` of content).
    pub inbox: BTreeMap<u64, UnacknowledgedDelivery>,
    /// Total content bytes of `inbox` (kept by `apply`).
    pub inbox_bytes: u64,
}

/// The largest message window any config may use. A sender's unresolved msn is never more
/// than its window below the receiver's watermark, so non-deliveries older than this can
/// no longer be asked about and are pruned.
pub const MAX_MSG_WINDOW: u64 = 512;

impl SessionStore {
    /// Folds one record into the state. Idempotent and monotone.
    pub fn apply(&mut self, record: &Record) {
        match record {
            Record::Epoch(e) => self.epoch = self.epoch.max(*e),
            Record::Submitted { id, message } => {
                // u64::MAX is never an id the core writes; refusing it keeps `next_id` above
                // every id without overflow.
                if id.0 >= self.next_id && id.0 < u64::MAX {
                    self.next_id = id.0 + 1;
                    self.queued_bytes = self.queued_bytes.saturating_add(message.bytes.len() as u64);
                    self.outbound.insert(*id, message.clone());
                    self.app_ids.insert(message.app_id, *id);
                }
            }
            Record::Assigned { id, msn } => {
                if let Some(m) = self.outbound.get_mut(id) {
                    m.msn.get_or_insert(*msn);
                }
                self.next_msn = self.next_msn.max(msn.saturating_add(1));
            }
            Record::CancelRequested { id, reason } => {
                if let Some(m) = self.outbound.get_mut(id) {
                    m.cancel.get_or_insert(*reason);
                }
            }
            Record::Finished { id, outcome } => {
                if let Some(m) = self.outbound.remove(id) {
                    self.queued_bytes = self.queued_bytes.saturating_sub(m.bytes.len() as u64);
                    self.outcomes.insert(*id, FinishedMessage { app_id: m.app_id, outcome: *outcome });
                }
            }
            Record::Chunk { msn, offset, first, bytes } => self.apply_chunk(*msn, *offset, first, bytes),
            Record::Delivered { msn, app_id, bytes } => {
                let fresh = *msn >= self.watermark
                    && !matches!(self.inbound.get(msn), Some(StoredInbound::Resolved(_)));
                if fresh {
                    self.inbox_bytes = self.inbox_bytes.saturating_add(bytes.len() as u64);
                    self.inbox.insert(*msn, UnacknowledgedDelivery { app_id: *app_id, bytes: bytes.clone() });
                }
                self.resolve_inbound(*msn, Resolution::Delivered)
            }
            Record::Resolved { msn, resolution } => self.resolve_inbound(*msn, *resolution),
            Record::Acknowledged(Ack::Delivery(msn)) => {
                if let Some(d) = self.inbox.remove(msn) {
                    self.inbox_bytes = self.inbox_bytes.saturating_sub(d.bytes.len() as u64);
                }
            }
            Record::Acknowledged(Ack::Outcome(id)) => {
                if let Some(f) = self.outcomes.remove(id) {
                    self.remembered.insert(*id, f);
                }
            }
            Record::Forgotten { id } => {
                if let Some(f) = self.remembered.remove(id) {
                    if self.app_ids.get(&f.app_id) == Some(id) {
                        self.app_ids.remove(&f.app_id);
                    }
                }
            }
        }
    }

    /// The message submitted with application id `app_id`, if the session still holds it
    /// (queued, in flight, or finished within the idempotency window), and its state.
    pub fn submitted(&self, app_id: u64) -> Option<(MessageId, MessageState)> {
        let id = *self.app_ids.get(&app_id)?;
        if let Some(m) = self.outbound.get(&id) {
            let state = match (m.msn, m.cancel) {
                (None, _) => MessageState::Queued,
                (Some(_), None) => MessageState::InFlight,
                (Some(_), Some(_)) => MessageState::Cancelling,
            };
            return Some((id, state));
        }
        let (f, acknowledged) = match self.outcomes.get(&id) {
            Some(f) => (f, false),
            None => (self.remembered.get(&id)?, true),
        };
        Some((id, MessageState::Finished { outcome: f.outcome, acknowledged }))
    }

    fn apply_chunk(&mut self, msn: u64, offset: u64, first: &Option<FirstSegment>, bytes: &Bytes) {
        if msn < self.watermark {
            return;
        }
        let entry =
            self.inbound.entry(msn).or_insert(StoredInbound::Partial { first: None, bytes: Bytes::new() });
        if let StoredInbound::Partial { first: f, bytes: prefix } = entry {
            if f.is_none() {
                *f = *first;
            }
            // Only a chunk that extends the durable prefix exactly applies (idempotence).
            if offset == prefix.len() as u64 && !bytes.is_empty() {
                // Grow the prefix in place when nobody else holds it (amortised doubling),
                // instead of re-copying the whole prefix for every chunk.
                let mut joined = match core::mem::take(prefix).try_into_mut() {
                    Ok(unique) => unique,
                    Err(shared) => {
                        let mut m = bytes::BytesMut::with_capacity(shared.len() + bytes.len());
                        m.extend_from_slice(&shared);
                        m
                    }
                };
                joined.extend_from_slice(bytes);
                *prefix = joined.freeze();
            }
        }
    }

    fn resolve_inbound(&mut self, msn: u64, resolution: Resolution) {
        // The first resolution is final (a stable fact): a later one never replaces it.
        if msn < self.watermark || matches!(self.inbound.get(&msn), Some(StoredInbound::Resolved(_))) {
            return;
        }
        self.inbound.insert(msn, StoredInbound::Resolved(resolution));
        // Advance the watermark over every resolved msn; remember non-deliveries.
        while let Some(StoredInbound::Resolved(r)) = self.inbound.get(&self.watermark) {
            if *r != Resolution::Delivered {
                self.recent_non_delivered.insert(self.watermark, *r);
            }
            self.inbound.remove(&self.watermark);
            if self.watermark == u64::MAX {
                break;
            }
            self.watermark += 1;
        }
        let keep_from = self.watermark.saturating_sub(MAX_MSG_WINDOW);
        self.recent_non_delivered.retain(|m, _| *m >= keep_from);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_apply_is_idempotent_and_monotone() {
        let mut s = SessionStore::default();
        s.apply(&Record::Epoch(5));
        s.apply(&Record::Epoch(3));
        s.apply(&Record::Epoch(5));
        assert_eq!(s.epoch, 5);
    }

    #[test]
    fn inbound_watermark_advances_over_resolved_and_keeps_recent_non_deliveries() {
        let mut s = SessionStore::default();
        let cancelled = Resolution::Cancelled;
        s.apply(&Record::Resolved { msn: 1, resolution: cancelled });
        assert_eq!(s.watermark, 0, "msn 0 is still open");
        s.apply(&Record::Delivered { msn: 0, app_id: 7, bytes: Bytes::from_static(b"x") });
        assert_eq!(s.watermark, 2);
        assert_eq!(s.recent_non_delivered.get(&1), Some(&cancelled));
        for msn in 2..MAX_MSG_WINDOW + 1 {
            s.apply(&Record::Delivered { msn, app_id: 0, bytes: Bytes::new() });
        }
        assert_eq!(s.recent_non_delivered.len(), 1, "kept while a sender may still ask");
        s.apply(&Record::Delivered { msn: MAX_MSG_WINDOW + 1, app_id: 0, bytes: Bytes::new() });
        assert_eq!(s.watermark, MAX_MSG_WINDOW + 2);
        assert!(s.recent_non_delivered.is_empty(), "pruned once the window moved past");
        // Replays change nothing.
        let before = s.clone();
        s.apply(&Record::Delivered { msn: 0, app_id: 7, bytes: Bytes::from_static(b"x") });
        s.apply(&Record::Resolved { msn: 1, resolution: cancelled });
        assert_eq!(s, before);
    }

    #[test]
    fn chunks_only_extend_the_prefix() {
        let mut s = SessionStore::default();
        let chunk = |offset, b: &'static [u8]| Record::Chunk {
            msn: 0,
            offset,
            first: None,
            bytes: Bytes::from_static(b),
        };
        s.apply(&chunk(0, b"ab"));
        s.apply(&chunk(0, b"ab"));
        s.apply(&chunk(5, b"zz"));
        s.apply(&chunk(2, b"cd"));
        assert_eq!(
            s.inbound.get(&0),
            Some(&StoredInbound::Partial { first: None, bytes: Bytes::from_static(b"abcd") })
        );
    }

    fn message(bytes: &'static [u8]) -> StoredMessage {
        StoredMessage {
            app_id: 1,
            priority: Priority::Normal,
            submitted: Instant::ZERO,
            deadline: Instant::from_micros(1_000),
            bytes: Bytes::from_static(bytes),
            msn: None,
            cancel: None,
        }
    }

    #[test]
    fn submissions_apply_once_in_id_order_and_count_their_bytes() {
        let mut s = SessionStore::default();
        let sub =
            |id: u64, bytes: &'static [u8]| Record::Submitted { id: MessageId(id), message: message(bytes) };
        s.apply(&sub(0, b"abc"));
        s.apply(&sub(3, b"defgh"));
        assert_eq!((s.next_id, s.queued_bytes, s.outbound.len()), (4, 8, 2));
        // Replays and ids below next_id change nothing.
        let before = s.clone();
        s.apply(&sub(3, b"defgh"));
        s.apply(&sub(1, b"x"));
        assert_eq!(s, before);
        // u64::MAX is refused (next_id could not go above it) and changes nothing.
        s.apply(&sub(u64::MAX, b"y"));
        assert_eq!(s, before);
        s.apply(&sub(u64::MAX - 1, b"z"));
        assert_eq!((s.next_id, s.queued_bytes), (u64::MAX, 9));
        s.apply(&Record::Finished { id: MessageId(3), outcome: Outcome::Delivered });
        assert_eq!((s.queued_bytes, s.outbound.len()), (4, 2));
    }

    #[test]
    fn outcomes_and_deliveries_wait_for_their_acknowledgement_and_app_ids_for_forgetting() {
        let mut s = SessionStore::default();
        let id = MessageId(0);
        s.apply(&Record::Submitted { id, message: message(b"abc") });
        assert_eq!(s.submitted(1), Some((id, MessageState::Queued)));
        s.apply(&Record::Finished { id, outcome: Outcome::Delivered });
        let done = FinishedMessage { app_id: 1, outcome: Outcome::Delivered };
        assert_eq!(s.outcomes.get(&id), Some(&done));
        s.apply(&Record::Forgotten { id });
        assert!(s.outcomes.contains_key(&id), "an unacknowledged outcome is never forgotten");
        s.apply(&Record::Acknowledged(Ack::Outcome(id)));
        assert!(s.outcomes.is_empty() && s.remembered.get(&id) == Some(&done));
        let acked = MessageState::Finished { outcome: Outcome::Delivered, acknowledged: true };
        assert_eq!(s.submitted(1), Some((id, acked)));
        s.apply(&Record::Forgotten { id });
        assert!(s.remembered.is_empty() && s.app_ids.is_empty() && s.submitted(1).is_none());

        s.apply(&Record::Delivered { msn: 0, app_id: 9, bytes: Bytes::from_static(b"xy") });
        s.apply(&Record::Delivered { msn: 0, app_id: 9, bytes: Bytes::from_static(b"xy") });
        assert_eq!((s.inbox.len(), s.inbox_bytes), (1, 2), "a replayed Delivered adds nothing");
        s.apply(&Record::Acknowledged(Ack::Delivery(0)));
        s.apply(&Record::Delivered { msn: 0, app_id: 9, bytes: Bytes::from_static(b"xy") });
        assert_eq!((s.inbox.len(), s.inbox_bytes), (0, 0), "nor after the acknowledgement");
    }

    #[test]
    fn chunks_below_the_watermark_are_ignored() {
        let mut s = SessionStore::default();
        s.apply(&Record::Delivered { msn: 0, app_id: 7, bytes: Bytes::from_static(b"x") });
        let before = s.clone();
        s.apply(&Record::Chunk { msn: 0, offset: 0, first: None, bytes: Bytes::from_static(b"x") });
        assert_eq!(s, before, "msn 0 is resolved");
        s.apply(&Record::Chunk { msn: 1, offset: 0, first: None, bytes: Bytes::from_static(b"y") });
        assert_eq!(
            s.inbound.get(&1),
            Some(&StoredInbound::Partial { first: None, bytes: Bytes::from_static(b"y") }),
            "msn 1 is at the watermark"
        );
    }
}
