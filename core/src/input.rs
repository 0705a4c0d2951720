//! What goes into a [`Session`](crate::Session), and what it made of it.

use bytes::Bytes;
use core::fmt;

use crate::message::{AckError, CancelError, MessageId, Submission, SubmitError};
use crate::remote::Remote;
use crate::wire::DecodeError;

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
    /// The driver's clock reached the deadline of the last [`Output::Wait`](crate::Output::Wait): every timer
    /// due at `now` fires. The only way time moves the session; feeding it early (or
    /// twice) fires nothing that is not due.
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
    /// [`Record::Acknowledged`](crate::Record::Acknowledged), after which it is no longer reported
    /// again on restore.
    Acknowledge(Ack),
}

/// A delivery or an outcome the application has processed. Until it is acknowledged, a restored
/// session reports it again ([`Event::Delivered`](crate::Event::Delivered) /
/// [`Event::Outcome`](crate::Event::Outcome), same ids).
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
    /// as [`Event::AuthenticationFailed`](crate::Event::AuthenticationFailed)).
    Dropped(DropReason),
}

impl Verdict {
    /// Whether the input proved the key or was local: the only verdict under which a
    /// datagram's source may be trusted as the peer.
    pub fn is_accepted(self) -> bool {
        self == Verdict::Accepted
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
