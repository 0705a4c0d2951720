//! What comes out of a [`Session`](crate::Session).

use bytes::Bytes;
use core::fmt;

use crate::association_id::Role;
use crate::message::{MessageId, Outcome};
use crate::persist::Record;
use crate::remote::Remote;
use crate::time::Instant;
use crate::wire::{AbortReason, CloseReason};

/// One output drained with [`Session::poll_output`](crate::Session::poll_output).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[must_use]
#[non_exhaustive]
pub enum Output {
    /// Make `record` durable, in `seq` order, then report
    /// [`Input::Persisted`](crate::Input::Persisted) `{ upto: seq }` (or a later record's sequence
    /// number, covering all before it; never one not yet issued: that is refused as a driver bug).
    Persist {
        /// The record's sequence number (1, 2, 3, …).
        seq: u64,
        /// The record.
        record: Record,
    },
    /// Send this datagram to the remote it names.
    Transmit(Transmit),
    /// Something the application should know.
    Event(Event),
    /// Something the driver should do with the bearer.
    Bearer(BearerRequest),
    /// Nothing else is pending: the end of one drain. Feed [`Input::Timeout`](crate::Input::Timeout) when the
    /// clock reaches `until`, or wait for the next input of any kind when it is `None`
    /// (no timer is armed). Outputs held back by the write barrier come after the
    /// [`Input::Persisted`](crate::Input::Persisted) that releases them. Polling again without an input returns
    /// the same `Wait`.
    Wait {
        /// The earliest deadline of any armed timer, if one is armed.
        until: Option<Instant>,
    },
}

/// A datagram to send to `to`. Drivers that cannot reach `to` (no bearer, a closed
/// connection) simply drop it; the protocol recovers.
///
/// Association traffic goes to the peer's current remote
/// ([`Session::peer_remote`](crate::Session::peer_remote)); a stateless answer (a CHALLENGE
/// to an INIT, a STALE or repeated ACCEPT to a CONFIRM, a RESET to a PACKET) goes to the
/// `from` of the PDU it answers.
#[derive(Clone, PartialEq, Eq, Hash)]
#[must_use]
pub struct Transmit {
    /// Where to send it.
    pub to: Remote,
    /// The encoded, authenticated PDU.
    pub datagram: Bytes,
}

impl fmt::Debug for Transmit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match crate::wire::Pdu::decode(&self.datagram) {
            Ok(pdu) => write!(f, "{pdu:?} to {:?}", self.to),
            Err(_) => write!(f, "Transmit({} bytes to {:?})", self.datagram.len(), self.to),
        }
    }
}

/// Requests to the driver about the bearer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BearerRequest {
    /// Open a bearer to the peer; answer with [`Input::LinkUp`](crate::Input::LinkUp) or
    /// [`Input::DialFailed`](crate::Input::DialFailed).
    Dial,
    /// Hang up the bearer; no association needs it.
    HangUp,
}

/// Why an association ended. Never the session: its state survives every one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DownReason {
    /// Orderly release completed (CLOSE / CLOSE_ACK).
    Released(CloseReason),
    /// This side aborted it.
    Aborted(AbortReason),
    /// The peer aborted it.
    PeerAborted(AbortReason),
    /// A newer association (higher epoch) replaced it.
    Superseded,
    /// The bearer went down.
    LinkLost,
    /// The peer no longer has it (it restarted, or released it long ago) and said so
    /// with an authentic RESET.
    PeerReset,
}

/// Where in the handshake authentication failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AuthStage {
    /// The peer's INIT MAC did not verify (answered anyway, so the peer learns it too).
    Init,
    /// The peer's CHALLENGE proof did not verify: the peer does not hold our PSK.
    Challenge,
    /// The peer's CONFIRM proof did not verify: the peer does not hold our PSK.
    Confirm,
}

/// Something the application should know about.
#[derive(Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Event {
    /// A message from the peer is delivered: durably stored and marked in one step (the
    /// `Record::Delivered` before this event carries the same bytes). In msn order, once per
    /// process — and again, with the same msn, after every restore until the application
    /// acknowledges it ([`Input::Acknowledge`](crate::Input::Acknowledge) with
    /// [`Ack::Delivery`](crate::Ack::Delivery)). An application that acknowledges after its own
    /// commit, and skips msns it has committed, processes each message exactly once. At most
    /// `max_queued_messages` deliveries (and `max_queued_bytes` of content) wait unacknowledged;
    /// beyond that, delivery pauses (the peer's window fills) until the application acknowledges.
    Delivered {
        /// Its msn (the peer's sequence number for it).
        msn: u64,
        /// The sending application's id for it.
        app_id: u64,
        /// Its content.
        bytes: Bytes,
    },
    /// The session has durable custody of a submitted message (its record is durable).
    /// From here on it ends in exactly one [`Event::Outcome`]. After a crash before this
    /// event, submit again *with the same application id*: the application id is an
    /// idempotency key, so a submission the crash did not lose is found, not duplicated
    /// (and this event comes again, with the same id, while the message is unresolved).
    Queued {
        /// Our id for it.
        id: MessageId,
        /// The application's id for it.
        app_id: u64,
    },
    /// One of our messages has its final outcome: one per queued message, reported again (same id
    /// and outcome) after every restore until the application acknowledges it
    /// ([`Input::Acknowledge`](crate::Input::Acknowledge) with
    /// [`Ack::Outcome`](crate::Ack::Outcome)). The message holds its place in the queue
    /// (`max_queued_messages`) until then.
    Outcome {
        /// Our id for it.
        id: MessageId,
        /// The application's id for it.
        app_id: u64,
        /// What happened.
        outcome: Outcome,
    },
    /// An association is established.
    AssociationUp {
        /// Its epoch.
        epoch: u64,
        /// Which side opened it.
        role: Role,
    },
    /// An association ended.
    AssociationDown {
        /// Its epoch.
        epoch: u64,
        /// Why.
        reason: DownReason,
    },
    /// Opening failed `attempts` times in a row; the session stops trying until asked again.
    OpenFailed {
        /// Consecutive failed attempts.
        attempts: u32,
    },
    /// Our open attempts failed authentication `failures` times in a row
    /// ([`Config::max_auth_failures`](crate::Config::max_auth_failures)): the peer answers but
    /// holds another pre-shared key. The session stops opening until asked again
    /// ([`Input::Open`](crate::Input::Open), a new submission, or a restart); queued messages stay
    /// queued.
    WrongKey {
        /// Consecutive authentication failures.
        failures: u32,
    },
    /// A handshake PDU carried a proof that does not verify under the configured PSK.
    AuthenticationFailed {
        /// Which proof failed.
        stage: AuthStage,
    },
    /// The peer's durable receive state went backwards (its store was wiped or restored
    /// from an old backup): its handshake summary says it resolved our messages only below
    /// `resolved_below`, but it had resolved every msn below `expected` before.
    ///
    /// The peer delivers in msn order and now waits for msns it has forgotten, so our
    /// messages from `expected` on cannot be delivered until an operator reconciles the
    /// two stores. They stay in custody (each still ends in one [`Event::Outcome`], e.g. by
    /// expiry or cancellation); nothing is dropped. Reported once per association.
    PeerStateLost {
        /// The peer's watermark for our messages, as it now reports it.
        resolved_below: u64,
        /// Every msn below this had been resolved by the peer's earlier word.
        expected: u64,
    },
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Event::Delivered { msn, app_id, bytes } => {
                write!(f, "Delivered(msn={msn} id={app_id} {} bytes)", bytes.len())
            }
            Event::Outcome { id, app_id, outcome } => write!(f, "Outcome({id:?} id={app_id} {outcome:?})"),
            Event::Queued { id, app_id } => write!(f, "Queued({id:?} id={app_id})"),
            Event::AssociationUp { epoch, role } => write!(f, "Up(e={epoch} {role:?})"),
            Event::AssociationDown { epoch, reason } => write!(f, "Down(e={epoch} {reason:?})"),
            Event::OpenFailed { attempts } => write!(f, "OpenFailed({attempts})"),
            Event::PeerStateLost { resolved_below, expected } => {
                write!(f, "PeerStateLost(resolved_below={resolved_below} expected={expected})")
            }
            Event::AuthenticationFailed { stage } => write!(f, "AuthFailed({stage:?})"),
            Event::WrongKey { failures } => write!(f, "WrongKey({failures})"),
        }
    }
}
