//! What goes into a [`Session`](crate::Session) and what comes out of it.

use bytes::Bytes;
use core::fmt;

use crate::message::{AckError, CancelError, MessageId, Outcome, Submission, SubmitError};
use crate::persist::Record;
use crate::remote::Remote;
use crate::wire::{AbortReason, CloseReason, DecodeError};

/// One input to [`Session::handle_input`](crate::Session::handle_input).
#[derive(Clone, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[non_exhaustive]
pub enum Input {
    /// A datagram (or one TCP frame) received from the bearer.
    Datagram {
        /// Where it came from: a stateless answer goes back there, and it becomes the
        /// peer's remote only if the PDU proves the key.
        from: Remote,
        /// The bytes received.
        #[cfg_attr(feature = "arbitrary", arbitrary(with = crate::arbitrary_support::bytes))]
        datagram: Bytes,
    },
    /// The driver's clock reached [`Session::poll_timeout`](crate::Session::poll_timeout):
    /// every timer due at `now` fires.
    Timeout,
    /// Records up to and including sequence number `upto` are durable.
    Persisted {
        /// Highest durable record sequence number.
        upto: u64,
    },
    /// The bearer is up (a dial succeeded, or the driver accepted a connection / bound a socket).
    LinkUp {
        /// Where the peer is, if the driver knows: the configured address of a UDP socket
        /// bound with a peer, the dialled TCP connection. It becomes the peer's remote at
        /// once (the driver's own word, not a peer's). `None` for a listening socket or an
        /// accepted connection: the peer's remote is then learned from its first
        /// authenticated PDU. A `Dial` answered with `None` while no peer remote is known
        /// counts as a failed dial.
        peer: Option<Remote>,
    },
    /// The bearer went down; the association on it ends.
    LinkDown,
    /// A requested dial failed.
    DialFailed,
    /// Keep an association up (dial if needed) until [`Input::Release`].
    Open,
    /// Release the association in order and stop holding one open.
    Release,
    /// Abort the association now. The session and its state survive.
    Abort,
    /// Take custody of a message for transfer (persisted before anything else happens).
    Submit(Submission),
    /// Give up on a message: never sent → non-delivered at once; sent → cancelled through
    /// the receiver (it may already have it).
    Cancel(MessageId),
    /// The application has processed (committed) a delivery or an outcome: persisted as
    /// [`Record::Acknowledged`], after which it is no longer reported again on restore.
    Acknowledge(Ack),
}

/// A delivery or an outcome the application has processed. Until it is acknowledged, a
/// restored session reports it again ([`Event::Delivered`] / [`Event::Outcome`], same ids).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Ack {
    /// The delivered message with this msn.
    Delivery(u64),
    /// The outcome of this message.
    Outcome(MessageId),
}

impl fmt::Debug for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Input::Datagram { from, datagram } => {
                write!(f, "Datagram({} bytes from {from:?})", datagram.len())
            }
            Input::Timeout => write!(f, "Timeout"),
            Input::Persisted { upto } => write!(f, "Persisted({upto})"),
            Input::LinkUp { peer: None } => write!(f, "LinkUp"),
            Input::LinkUp { peer: Some(p) } => write!(f, "LinkUp({p:?})"),
            Input::LinkDown => write!(f, "LinkDown"),
            Input::DialFailed => write!(f, "DialFailed"),
            Input::Open => write!(f, "Open"),
            Input::Release => write!(f, "Release"),
            Input::Abort => write!(f, "Abort"),
            Input::Submit(s) => write!(f, "{s:?}"),
            Input::Cancel(id) => write!(f, "Cancel({id:?})"),
            Input::Acknowledge(a) => write!(f, "Acknowledge({a:?})"),
        }
    }
}

/// One output drained with [`Session::poll_output`](crate::Session::poll_output).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
#[must_use]
#[non_exhaustive]
pub enum Output {
    /// Make `record` durable, in `seq` order, then report
    /// [`Input::Persisted`] `{ upto: seq }` (or a later record's sequence number, covering
    /// all before it; never one not yet issued: that is refused as a driver bug).
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

/// What [`Session::handle_input`](crate::Session::handle_input) made of an input it could
/// use. Nothing here is inferred: a driver that needs to know whether a PDU was authentic
/// (to pick a connection, to drop a garbage client) reads it here.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Verdict {
    /// A datagram that proved the key and was acted on (a PDU of the association, an
    /// authentic CHALLENGE, CONFIRM, ACCEPT, STALE or RESET), or a local input (a command,
    /// `Timeout`, `Persisted`, a link change) that was applied.
    Accepted,
    /// A datagram answered statelessly (a CHALLENGE to an INIT, a STALE or a repeated
    /// ACCEPT to a CONFIRM, a RESET to a PACKET): the answer goes back to its source and
    /// nothing else changed. It proves nothing about its sender.
    Answered,
    /// A well-formed PDU counted and dropped for this reason, authentication failures
    /// included ([`DropReason::BadAuth`]; a failed handshake proof may also be reported
    /// as [`Event::AuthenticationFailed`]).
    Dropped(DropReason),
}

impl Verdict {
    /// Whether the input proved the key or was local: the only verdict under which a
    /// datagram's source may be trusted as the peer.
    pub fn is_accepted(self) -> bool {
        self == Verdict::Accepted
    }
}

/// Requests to the driver about the bearer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BearerRequest {
    /// Open a bearer to the peer; answer with [`Input::LinkUp`] or [`Input::DialFailed`].
    Dial,
    /// Hang up the bearer; no association needs it.
    HangUp,
}

/// Which side opened an association.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    /// This side sent INIT.
    Initiator,
    /// The peer sent INIT.
    Responder,
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
    /// acknowledges it ([`Input::Acknowledge`] with [`Ack::Delivery`]). An application that
    /// acknowledges after its own commit, and skips msns it has committed, processes each
    /// message exactly once. At most `max_queued_messages` deliveries (and
    /// `max_queued_bytes` of content) wait unacknowledged; beyond that, delivery pauses
    /// (the peer's window fills) until the application acknowledges.
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
    /// One of our messages has its final outcome: one per queued message, reported again
    /// (same id and outcome) after every restore until the application acknowledges it
    /// ([`Input::Acknowledge`] with [`Ack::Outcome`]). The message holds its place in the
    /// queue (`max_queued_messages`) until then.
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
    /// ([`Config::max_auth_failures`](crate::Config::max_auth_failures)): the peer answers
    /// but holds another pre-shared key. The session stops opening until asked again
    /// ([`Input::Open`], a new submission, or a restart); queued messages stay queued.
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

/// Why [`Session::handle_input`](crate::Session::handle_input) could not use an input at
/// all (a well-formed PDU that is dropped is not an error but [`Verdict::Dropped`]). None
/// of these is fatal: the session is unchanged (apart from counters) and keeps working.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InputError {
    /// The bytes are not a PDU (counted as `undecodable`).
    #[error("undecodable datagram: {0}")]
    Decode(#[from] DecodeError),
    /// A submission was refused; nothing was queued.
    #[error("submission refused: {0}")]
    Submit(#[from] SubmitError),
    /// A cancellation was refused.
    #[error("cancel refused: {0}")]
    Cancel(#[from] CancelError),
    /// An acknowledgement was refused (nothing to acknowledge under that id).
    #[error("acknowledgement refused: {0}")]
    Acknowledge(#[from] AckError),
    /// A driver bug: `Persisted { upto }` claims a record the session never issued. The
    /// claim is ignored (outputs are not released early).
    #[error("persisted up to {upto}, but only {issued} records were issued")]
    PersistedBeyondIssued {
        /// The claimed sequence number.
        upto: u64,
        /// The highest sequence number issued.
        issued: u64,
    },
}

/// Why a well-formed PDU was dropped. Each is counted in [`Stats`](crate::Stats).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// Its `sid` is not this session's.
    #[error("pdu for another session")]
    WrongSession,
    /// It names peers other than this session's.
    #[error("pdu names the wrong peers")]
    WrongPeer,
    /// No current association or handshake attempt matches its tag and epoch: a late or
    /// replayed PDU from an earlier attempt or association.
    #[error("no association or attempt matches its tag and epoch")]
    Stale,
    /// Its authenticator or proof does not verify.
    #[error("authentication failed")]
    BadAuth,
    /// The cookie is not one this responder made.
    #[error("invalid cookie")]
    BadCookie,
    /// Its packet number was already received (or is below the replay window).
    #[error("replayed or duplicate packet number")]
    Replay,
    /// Both sides are opening and this side wins the tie-break; the peer's INIT is ignored.
    #[error("handshake collision, this side's attempt wins")]
    Collision,
    /// Answering would send more bytes than were received.
    #[error("answer would amplify")]
    Amplification,
    /// A duplicate of something already processed (e.g. a second ACCEPT).
    #[error("duplicate")]
    Duplicate,
    /// The association is draining; late PDUs are absorbed.
    #[error("association is draining")]
    Draining,
    /// This side never initiates (dial policy) or the input does not apply now.
    #[error("not applicable in the current state")]
    NotApplicable,
    /// The output queue is at its bound (the driver lags); the peer will retransmit.
    #[error("output queue full")]
    Backpressure,
    /// An unauthenticated INIT from a source that used up its own budget
    /// ([`Config::source_limits`](crate::Config::source_limits)).
    #[error("source over its init budget")]
    SourceLimited,
}

impl DropReason {
    /// Every reason, in counter order.
    pub const ALL: [DropReason; 13] = [
        DropReason::WrongSession,
        DropReason::WrongPeer,
        DropReason::Stale,
        DropReason::BadAuth,
        DropReason::BadCookie,
        DropReason::Replay,
        DropReason::Collision,
        DropReason::Amplification,
        DropReason::Duplicate,
        DropReason::Draining,
        DropReason::NotApplicable,
        DropReason::Backpressure,
        DropReason::SourceLimited,
    ];

    pub(crate) fn index(self) -> usize {
        DropReason::ALL.iter().position(|r| *r == self).unwrap_or(0)
    }
}
