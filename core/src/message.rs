//! Messages as the application sees them: what it submits and the outcome it gets back.

use bytes::Bytes;
use core::fmt;

use crate::time::Instant;
use crate::wire::{Priority, RejectReason};

/// The session's id for a submitted message: unique per session, never reused, durable.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct MessageId(pub u64);

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "m{}", self.0)
    }
}

/// A message handed to the session for transfer.
#[derive(Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Submission {
    /// The application's own id; delivered to the receiving application and echoed in
    /// the outcome.
    pub app_id: u64,
    /// Priority class; aging promotes waiting messages so nothing starves.
    pub priority: Priority,
    /// Give up (non-delivery, or cancel if already sent) after this instant. `None`: the
    /// per-priority expiry from the config applies.
    pub deadline: Option<Instant>,
    /// The content.
    #[cfg_attr(feature = "arbitrary", arbitrary(with = crate::arbitrary_support::bytes))]
    pub bytes: Bytes,
}

impl fmt::Debug for Submission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Submission(id={} {:?} {} bytes)", self.app_id, self.priority, self.bytes.len())
    }
}

/// The final outcome of a submitted message. Each message gets exactly one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Outcome {
    /// The receiver stored it and handed it to its application.
    Delivered,
    /// It will never be delivered.
    NonDelivered(NonDelivery),
}

/// Why a message will never be delivered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum NonDelivery {
    /// Its deadline or transfer timeout passed (before it was sent, or the receiver
    /// confirmed the cancellation of a sent copy).
    Expired,
    /// The application cancelled it (same rules as `Expired`).
    Cancelled,
    /// The receiver refused it permanently.
    Rejected(RejectReason),
    /// It was never sent and opening an association failed `max_open_retries` times.
    OpenFailed,
}

/// Where a submitted message stands, as [`Session::submitted`](crate::Session::submitted)
/// reports it for an application id the session holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MessageState {
    /// In custody, not sent yet.
    Queued,
    /// Sent (it has an msn); the receiver may have it.
    InFlight,
    /// Sent and being cancelled; the receiver's word decides the outcome.
    Cancelling,
    /// It has its outcome.
    Finished {
        /// The outcome.
        outcome: Outcome,
        /// Whether the application acknowledged it ([`Ack::Outcome`](crate::Ack::Outcome)).
        acknowledged: bool,
    },
}

/// Why a submission was refused. Nothing was queued; the application still owns it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum SubmitError {
    /// `max_queued_messages` messages are already unresolved or have an outcome not yet
    /// polled ([`Session::poll_output`](crate::Session::poll_output)).
    #[error("queue full: {limit} messages are already waiting")]
    QueueFull {
        /// The configured limit.
        limit: u32,
    },
    /// Accepting it would exceed `max_queued_bytes`.
    #[error("queue full: {queued} bytes queued, limit {limit}")]
    QueueBytesFull {
        /// Bytes already queued.
        queued: u64,
        /// The configured limit.
        limit: u64,
    },
    /// Longer than `max_message_len`.
    #[error("message is {len} bytes, at most {max} are allowed")]
    TooLarge {
        /// Its length.
        len: u64,
        /// The configured maximum.
        max: u64,
    },
    /// Its deadline is not in the future.
    #[error("deadline is not in the future")]
    DeadlineInPast,
}

/// Why an acknowledgement was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum AckError {
    /// No unacknowledged delivery has this msn.
    #[error("no unacknowledged delivery with msn {0}")]
    UnknownDelivery(u64),
    /// No unacknowledged outcome belongs to this message.
    #[error("no unacknowledged outcome for {0:?}")]
    UnknownOutcome(MessageId),
}

/// Why a cancellation was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum CancelError {
    /// No unresolved message has this id (never submitted, or already has its outcome).
    #[error("no unresolved message {0:?}")]
    Unknown(MessageId),
}
