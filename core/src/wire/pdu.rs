//! Typed PDUs: what the state machine reads and writes. Bytes live in `codec`.
//!
//! Every PDU is `Header` + `Body` + a 16-byte authenticator (`AuthTag`). A PDU's meaning is
//! a function of the identifiers it carries (`sid`, `dst_tag`, `epoch`, `pn`, `msn`), never
//! of when it arrives. See `core/PROTOCOL.md` for the byte layout.

use alloc::vec::Vec;
use bytes::Bytes;
use core::fmt;

/// Wire format version carried in every PDU.
pub const VERSION: u8 = 1;
/// Length of every authenticator (MAC or AEAD tag) in bytes.
pub const AUTH_LEN: usize = 16;
/// Length of handshake nonces in bytes.
pub const NONCE_LEN: usize = 16;
/// Longest canonical peer name in bytes.
pub const MAX_NAME_LEN: usize = 64;
/// Most pn ranges one ACK frame may carry; bounds decode work and memory.
pub const MAX_ACK_RANGES: usize = 64;
/// Most entries one `Summary` list may carry.
pub const MAX_SUMMARY_ENTRIES: usize = 1024;

/// A 16-byte authenticator: a MAC over the PDU, or an AEAD tag.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct AuthTag(pub [u8; AUTH_LEN]);

impl fmt::Debug for AuthTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A 16-byte handshake nonce.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Nonce(pub [u8; NONCE_LEN]);

impl fmt::Debug for Nonce {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "n")?;
        for b in &self.0[..4] {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

/// A canonical peer (MTA) name: 1..=64 bytes of lowercase ASCII letters, digits, `.`, `-`, `_`.
///
/// Construction folds ASCII case; anything else is rejected, so two names that compare
/// equal are the same peer and the collision tie-break (`Ord`) is well defined.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerName {
    len: u8,
    bytes: [u8; MAX_NAME_LEN],
}

/// Why a peer name is not acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NameError {
    /// The name is empty.
    #[error("peer name is empty")]
    Empty,
    /// The name is longer than [`MAX_NAME_LEN`] bytes.
    #[error("peer name is {len} bytes, at most 64 are allowed")]
    TooLong {
        /// Its length in bytes.
        len: usize,
    },
    /// The name holds a byte outside `[a-z0-9._-]` after case folding.
    #[error(
        "peer name has byte 0x{byte:02x} at {at}; only ASCII letters, digits, '.', '-', '_' are allowed"
    )]
    BadByte {
        /// The offending byte.
        byte: u8,
        /// Its position.
        at: usize,
    },
}

impl PeerName {
    /// Canonicalises `raw` (ASCII case folding) and validates it.
    pub fn new(raw: &[u8]) -> Result<Self, NameError> {
        if raw.is_empty() {
            return Err(NameError::Empty);
        }
        if raw.len() > MAX_NAME_LEN {
            return Err(NameError::TooLong { len: raw.len() });
        }
        let mut bytes = [0u8; MAX_NAME_LEN];
        for (at, &b) in raw.iter().enumerate() {
            let c = b.to_ascii_lowercase();
            if !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'.' || c == b'-' || c == b'_') {
                return Err(NameError::BadByte { byte: b, at });
            }
            bytes[at] = c;
        }
        Ok(PeerName { len: raw.len() as u8, bytes })
    }

    /// The canonical bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len as usize]
    }

    /// The canonical name as text (always ASCII).
    pub fn as_str(&self) -> &str {
        // Invariant: `new` admits only ASCII bytes.
        core::str::from_utf8(self.as_bytes()).unwrap_or("?")
    }
}

/// Lexicographic order of the canonical bytes: the collision tie-break ("alpha" < "beta").
impl Ord for PeerName {
    fn cmp(&self, other: &Self) -> core::cmp::Ordering {
        self.as_bytes().cmp(other.as_bytes())
    }
}

impl PartialOrd for PeerName {
    fn partial_cmp(&self, other: &Self) -> Option<core::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Debug for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.as_str())
    }
}

impl fmt::Display for PeerName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Association parameters proposed in INIT and agreed (element-wise minimum) in CHALLENGE.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Params {
    /// Largest datagram either side will send, in bytes (whole PDU).
    pub max_datagram: u16,
    /// Message window W: msn more than W above the receiver's watermark is dropped.
    pub msg_window: u16,
    /// Checkpoint size in bytes: the receiver makes partial messages durable this often.
    pub checkpoint_size: u32,
    /// Unacknowledged checkpoints a sender may have in flight per message.
    pub checkpoint_window: u16,
}

impl Params {
    /// The parameters both sides can honour: the element-wise minimum.
    pub fn agree(&self, other: &Params) -> Params {
        Params {
            max_datagram: self.max_datagram.min(other.max_datagram),
            msg_window: self.msg_window.min(other.msg_window),
            checkpoint_size: self.checkpoint_size.min(other.checkpoint_size),
            checkpoint_window: self.checkpoint_window.min(other.checkpoint_window),
        }
    }
}

/// Fields common to every PDU. Version and lengths are encoding details and live in `codec`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Header {
    /// Session id: which session of the receiving endpoint this PDU is for.
    pub sid: u32,
    /// The receiver's tag for this association (0 only in INIT, where it is not yet known).
    pub dst_tag: u64,
    /// Association epoch (INIT: proposed; CHALLENGE and later: agreed).
    pub epoch: u64,
    /// Packet number, per association and direction; 0 in handshake PDUs.
    pub pn: u64,
}

impl fmt::Debug for Header {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sid={} tag={:x} e={} pn={}", self.sid, self.dst_tag, self.epoch, self.pn)
    }
}

/// One PDU: header, typed body, authenticator.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Pdu {
    /// The common header.
    pub header: Header,
    /// The typed body.
    pub body: Body,
    /// MAC or AEAD tag over header and body (see PROTOCOL.md per type).
    pub auth: AuthTag,
}

impl fmt::Debug for Pdu {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} [{:?}]", self.body, self.header)
    }
}

/// The PDU type code on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u8)]
pub enum PduType {
    /// Initiator opens a handshake.
    Init = 1,
    /// Responder's stateless answer with a cookie.
    Challenge = 2,
    /// Initiator echoes the cookie and proves the key.
    Confirm = 3,
    /// Responder accepts: the association is established.
    Accept = 4,
    /// "My epoch is at least e": answer to an authentic CONFIRM with an old epoch.
    Stale = 5,
    /// Data phase: a numbered packet of frames.
    Packet = 6,
    /// "I hold no association with this tag at this epoch": the authenticated stateless
    /// answer to a PACKET for an association its receiver lost (restart, release).
    Reset = 7,
}

/// The typed body of a PDU.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Body {
    /// See [`Init`].
    Init(Init),
    /// See [`Challenge`].
    Challenge(Challenge),
    /// See [`Confirm`].
    Confirm(Confirm),
    /// See [`Accept`].
    Accept(Accept),
    /// See [`Stale`].
    Stale(Stale),
    /// Data-phase frames, processed in any order (their effects are order-independent).
    Packet(Vec<Frame>),
    /// RESET: empty; everything it says is in its header and its trailer (the reset token).
    Reset,
}

impl Body {
    /// The wire type code of this body.
    pub fn pdu_type(&self) -> PduType {
        match self {
            Body::Init(_) => PduType::Init,
            Body::Challenge(_) => PduType::Challenge,
            Body::Confirm(_) => PduType::Confirm,
            Body::Accept(_) => PduType::Accept,
            Body::Stale(_) => PduType::Stale,
            Body::Packet(_) => PduType::Packet,
            Body::Reset => PduType::Reset,
        }
    }
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Init(x) => x.fmt(f),
            Body::Challenge(x) => x.fmt(f),
            Body::Confirm(x) => x.fmt(f),
            Body::Accept(x) => x.fmt(f),
            Body::Stale(x) => x.fmt(f),
            Body::Packet(frames) => f.debug_tuple("Packet").field(frames).finish(),
            Body::Reset => write!(f, "Reset"),
        }
    }
}

/// INIT: the initiator's opening. Unauthenticated (nothing can be, before the challenge);
/// the responder answers it statelessly. Padded so that the CHALLENGE is never larger.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Init {
    /// The initiator's tag: the responder puts it in `dst_tag` of everything it sends.
    pub tag_i: u64,
    /// The initiator's fresh nonce.
    pub nonce_i: Nonce,
    /// Who is calling.
    pub initiator: PeerName,
    /// Whom the initiator wants.
    pub responder: PeerName,
    /// Proposed parameters.
    pub params: Params,
    /// Number of zero bytes of padding that follow (anti-amplification).
    pub padding: u16,
}

/// The responder's state, carried by the initiator and MAC'd under the responder's local
/// cookie key, so the responder keeps no state before a valid CONFIRM (SCTP's state cookie).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Cookie {
    /// Initiator's tag.
    pub tag_i: u64,
    /// Responder's tag.
    pub tag_r: u64,
    /// Initiator's nonce.
    pub nonce_i: Nonce,
    /// Responder's nonce.
    pub nonce_r: Nonce,
    /// The agreed epoch.
    pub epoch: u64,
    /// The agreed parameters.
    pub params: Params,
    /// The responder's clock when it made the cookie, in microseconds
    /// ([`Instant::as_micros`](crate::Instant::as_micros)): cookies expire.
    pub issued: u64,
    /// Which of the responder's rotating cookie keys made `mac`: the low byte of the key's
    /// time bucket (`issued / cookie_lifetime`).
    pub key_id: u8,
    /// MAC of all fields above under the responder's cookie key.
    pub mac: AuthTag,
}

/// CHALLENGE: the responder's stateless reply to INIT.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Challenge {
    /// Responder's tag.
    pub tag_r: u64,
    /// Responder's nonce.
    pub nonce_r: Nonce,
    /// The initiator's nonce, echoed.
    pub nonce_i: Nonce,
    /// The agreed parameters.
    pub params: Params,
    /// The responder's state for the initiator to echo.
    pub cookie: Cookie,
    /// The responder's proof of the PSK over the transcript.
    pub proof_r: AuthTag,
}

/// CONFIRM: the initiator echoes the cookie, proves the key, and opens recovery.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Confirm {
    /// The cookie from the CHALLENGE, unchanged.
    pub cookie: Cookie,
    /// The initiator's name (the cookie does not carry it; the proof binds it).
    pub initiator: PeerName,
    /// The initiator's proof of the PSK over the transcript.
    pub proof_i: AuthTag,
    /// The initiator's receive-side session summary (durable state only).
    pub summary: Summary,
}

/// ACCEPT: the association is established; carries the responder's summary.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Accept {
    /// The responder's receive-side session summary (durable state only).
    pub summary: Summary,
}

/// STALE: "my epoch is at least `current_epoch`" — a stable fact, never an error.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Stale {
    /// The responder's persisted epoch.
    pub current_epoch: u64,
}

/// Message priority, highest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[repr(u8)]
pub enum Priority {
    /// Urgent.
    Urgent = 0,
    /// Normal.
    Normal = 1,
    /// Non-urgent.
    NonUrgent = 2,
}

/// How a receiver resolved a message for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Resolution {
    /// Stored and handed to the application.
    Delivered,
    /// The sender's CANCEL arrived before delivery; it will never be delivered.
    Cancelled,
    /// Refused permanently.
    Rejected(RejectReason),
}

/// Why a receiver refused a message permanently.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[repr(u8)]
pub enum RejectReason {
    /// Larger than the receiver accepts.
    TooLarge = 1,
    /// The receiving application refused it.
    Refused = 2,
    /// Its deadline passed before it could be delivered.
    Expired = 3,
}

/// Why an association was closed in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[repr(u8)]
pub enum CloseReason {
    /// Idle for the association lifetime.
    Idle = 1,
    /// The application asked for it.
    Requested = 2,
    /// The endpoint is shutting down.
    Shutdown = 3,
}

/// Why an association was aborted. An abort ends the association, never the session.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[repr(u8)]
pub enum AbortReason {
    /// The application asked for it.
    Requested = 1,
    /// Retransmissions or probes were exhausted.
    RetransmitsExhausted = 2,
    /// The peer made an authentic but impossible claim.
    ProtocolViolation = 3,
    /// A local resource limit was hit.
    ResourceLimit = 4,
}

/// One ACK'd range of packet numbers, `smallest..=largest`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PnRange {
    /// Smallest acknowledged pn.
    pub smallest: u64,
    /// Largest acknowledged pn.
    pub largest: u64,
}

/// Metadata on the first segment (offset 0) of a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct FirstSegment {
    /// Total message length in bytes.
    pub total_len: u64,
    /// The message's priority.
    pub priority: Priority,
    /// The application's id for the message, handed to the receiving application.
    pub app_id: u64,
}

/// A message segment: bytes `offset..offset+bytes.len()` of message `msn`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct DataFrame {
    /// Message sequence number (session-wide, per direction).
    pub msn: u64,
    /// Byte offset of `bytes` within the message.
    pub offset: u64,
    /// This segment ends the message.
    pub fin: bool,
    /// Present exactly when `offset == 0`.
    pub first: Option<FirstSegment>,
    /// The segment's bytes.
    #[cfg_attr(feature = "arbitrary", arbitrary(with = crate::arbitrary_support::bytes))]
    pub bytes: Bytes,
}

impl fmt::Debug for DataFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DATA(msn={} off={} len={}", self.msn, self.offset, self.bytes.len())?;
        if self.fin {
            write!(f, " fin")?;
        }
        if let Some(first) = &self.first {
            write!(f, " total={} {:?} id={}", first.total_len, first.priority, first.app_id)?;
        }
        write!(f, ")")
    }
}

/// A durable partial message: bytes `0..durable` of `msn` are stored at the receiver.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct PartialEntry {
    /// The message.
    pub msn: u64,
    /// Durable prefix length.
    pub durable: u64,
}

/// A resolution above the cumulative watermark.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct ResolvedEntry {
    /// The message.
    pub msn: u64,
    /// How it was resolved.
    pub resolution: Resolution,
}

/// A receiver's durable view of one direction of the session: only stable facts, so a
/// late or duplicated summary can never move anything backwards.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub struct Summary {
    /// Every msn `< resolved_below` is resolved (outcomes of non-delivered ones are
    /// reported in `resolved` until the sender has acknowledged them).
    pub resolved_below: u64,
    /// Resolutions at or above `resolved_below` (and non-delivered ones kept for the sender).
    pub resolved: Vec<ResolvedEntry>,
    /// Durable prefixes of partially received messages.
    pub partial: Vec<PartialEntry>,
}

/// A data-phase frame. Frames of one packet may be processed in any order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
pub enum Frame {
    /// Elicits an ACK; used for keepalive and probes.
    Ping,
    /// Packet numbers received, descending, non-overlapping, non-adjacent.
    Ack {
        /// Received ranges, highest first; at most [`MAX_ACK_RANGES`].
        ranges: Vec<PnRange>,
        /// Time between receiving the largest pn and sending this ACK, in microseconds.
        ack_delay_us: u64,
    },
    /// The sender's receive-side session summary (durable state only).
    Summary(Summary),
    /// A message segment.
    Data(DataFrame),
    /// The sender gives up on `msn`; the receiver must resolve it (RESOLVED) either way.
    Cancel {
        /// The message.
        msn: u64,
    },
    /// The receiver's final word on `msn`.
    Resolved {
        /// The message.
        msn: u64,
        /// Its resolution.
        resolution: Resolution,
    },
    /// The receiver refuses `msn` permanently.
    Reject {
        /// The message.
        msn: u64,
        /// Why.
        reason: RejectReason,
    },
    /// Orderly release of the association.
    Close {
        /// Why.
        reason: CloseReason,
    },
    /// Acknowledges a CLOSE; the association is released.
    CloseAck,
    /// Ends the association now (never the session).
    Abort {
        /// Why.
        reason: AbortReason,
    },
}

impl Frame {
    /// Whether receiving this frame obliges the receiver to acknowledge the packet.
    pub fn is_ack_eliciting(&self) -> bool {
        !matches!(self, Frame::Ack { .. } | Frame::CloseAck | Frame::Abort { .. })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_names_order_lexicographically_not_by_length() {
        let n = |s: &[u8]| PeerName::new(s).unwrap();
        assert!(n(b"alpha") < n(b"beta"));
        assert!(n(b"ab") < n(b"b"));
        assert!(n(b"a") < n(b"ab"));
        assert_eq!(n(b"MTA-One"), n(b"mta-one"));
    }
}
