//! Encoding and strict decoding of PDUs.
//!
//! The byte layout is specified in `core/PROTOCOL.md` ("Wire format"); this file is its
//! implementation. Every integer is big-endian and fixed-width, so every value has exactly
//! one encoding: whatever decodes re-encodes to the identical bytes.
//!
//! Decoding reads through a private checked [`Reader`]; nothing here indexes, unwraps or
//! does unchecked arithmetic on input, so no byte string can make it panic.
//!
//! Encoding is infallible and does not validate: a [`Pdu`] that breaks a rule the decoder
//! enforces (ACK ranges out of order, a DATA `first` that does not match `offset == 0`,
//! lists longer than their limits, ...) encodes to bytes that the decoder rejects. Building
//! only valid PDUs is the state machine's job; the decoder is the check on the peer's.

use super::{
    AbortReason, Accept, AuthTag, Body, Challenge, CloseReason, Confirm, Cookie, DataFrame, DecodeError,
    FirstSegment, Frame, Header, Init, Nonce, Params, PartialEntry, Pdu, PduType, PeerName, PnRange,
    Priority, RejectReason, Resolution, ResolvedEntry, Stale, Summary, AUTH_LEN, MAX_ACK_RANGES,
    MAX_NAME_LEN, MAX_SUMMARY_ENTRIES, NONCE_LEN, VERSION,
};
use alloc::vec::Vec;
use bytes::{BufMut, Bytes, BytesMut};

/// Length of the fixed header in bytes:
/// `version u8 | type u8 | flags u16 | sid u32 | dst_tag u64 | epoch u64 | pn u64 | body_len u32`.
pub const HEADER_LEN: usize = 36;

/// Most frames one PACKET may carry.
const MAX_FRAMES: usize = 1024;

/// Encoded length of [`Params`].
const PARAMS_LEN: usize = 2 + 2 + 4 + 2;
/// Encoded length of a [`Cookie`].
const COOKIE_LEN: usize = 8 + 8 + NONCE_LEN + NONCE_LEN + 8 + PARAMS_LEN + 8 + 1 + AUTH_LEN;
/// Encoded length of a [`Challenge`] body.
const CHALLENGE_BODY_LEN: usize = 8 + NONCE_LEN + NONCE_LEN + PARAMS_LEN + COOKIE_LEN + AUTH_LEN;
/// Encoded length of an [`Init`] body with one-byte names and no padding, minus the names.
const INIT_BODY_FIXED: usize = 8 + NONCE_LEN + 1 + 1 + PARAMS_LEN + 2;
/// Encoded length of an empty [`Summary`].
const SUMMARY_FIXED: usize = 8 + 2 + 2;
/// Encoded length of one [`PartialEntry`].
const PARTIAL_ENTRY_LEN: usize = 8 + 8;

// Frame type codes.
const FRAME_PING: u8 = 1;
const FRAME_ACK: u8 = 2;
const FRAME_SUMMARY: u8 = 3;
const FRAME_DATA: u8 = 4;
const FRAME_CANCEL: u8 = 5;
const FRAME_RESOLVED: u8 = 6;
const FRAME_REJECT: u8 = 7;
const FRAME_CLOSE: u8 = 8;
const FRAME_CLOSE_ACK: u8 = 9;
const FRAME_ABORT: u8 = 10;

// DATA flag bits.
const DATA_FIN: u8 = 0x01;
const DATA_FIRST: u8 = 0x02;

// Resolution codes.
const RES_DELIVERED: u8 = 1;
const RES_CANCELLED: u8 = 2;
const RES_REJECTED: u8 = 3;

/// A PDU split at the header, body and authenticator, before the body is interpreted.
///
/// This is what the receive path looks at first: the header selects the association and
/// the key, the authenticator is verified over [`RawPdu::authenticated_bytes`], and only
/// then is the body decoded with [`Body::decode`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RawPdu {
    /// The PDU type, already known to be valid.
    pub ty: PduType,
    /// The common header.
    pub header: Header,
    /// The undecoded body: a zero-copy slice of the datagram.
    pub body: Bytes,
    /// The 16-byte authenticator trailer.
    pub auth: AuthTag,
}

impl RawPdu {
    /// Splits `datagram` into header, body and authenticator.
    ///
    /// Checks the version, type code, flags (must be 0), the header rules on `dst_tag` and
    /// `pn` (see `PROTOCOL.md`), and that the datagram is exactly
    /// `HEADER_LEN + body_len + AUTH_LEN` bytes long. The body is not interpreted.
    pub fn parse(datagram: &Bytes) -> Result<RawPdu, DecodeError> {
        let mut r = Reader::new(datagram);
        let version = r.u8("header.version")?;
        if version != VERSION {
            return Err(DecodeError::BadVersion(version));
        }
        let code = r.u8("header.type")?;
        let ty = pdu_type_from_code(code).ok_or(DecodeError::UnknownType(code))?;
        if r.u16("header.flags")? != 0 {
            return Err(out_of_range("header.flags"));
        }
        let sid = r.u32("header.sid")?;
        let dst_tag = r.u64("header.dst_tag")?;
        let epoch = r.u64("header.epoch")?;
        let pn = r.u64("header.pn")?;
        let header = Header { sid, dst_tag, epoch, pn };
        check_header(ty, &header)?;
        let body_len = r.u32("header.body_len")?;
        // Saturating on 16-bit targets only; a declared length that large cannot match.
        let body_len = usize::try_from(body_len).unwrap_or(usize::MAX);
        if r.remaining() != body_len.saturating_add(AUTH_LEN) {
            return Err(DecodeError::BadLength {
                field: "header.body_len",
                declared: body_len,
                actual: r.remaining().saturating_sub(AUTH_LEN),
            });
        }
        let body = r.bytes(body_len, "body")?;
        let auth = AuthTag(r.array("auth")?);
        r.finish("datagram")?;
        Ok(RawPdu { ty, header, body, auth })
    }

    /// The bytes the authenticator covers: everything but the trailing [`AUTH_LEN`] bytes,
    /// i.e. header and body. A zero-copy slice of `datagram`.
    ///
    /// Meant for a datagram that [`RawPdu::parse`] accepted; for anything shorter than
    /// `AUTH_LEN` it returns an empty slice rather than panicking.
    pub fn authenticated_bytes(datagram: &Bytes) -> Bytes {
        datagram.slice(..datagram.len().saturating_sub(AUTH_LEN))
    }
}

impl Body {
    /// The exact number of bytes [`Body::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        match self {
            Body::Init(init) => {
                INIT_BODY_FIXED
                    + init.initiator.as_bytes().len()
                    + init.responder.as_bytes().len()
                    + usize::from(init.padding)
            }
            Body::Challenge(_) => CHALLENGE_BODY_LEN,
            Body::Confirm(c) => COOKIE_LEN + name_len(&c.initiator) + AUTH_LEN + c.summary.encoded_len(),
            Body::Accept(a) => a.summary.encoded_len(),
            Body::Stale(_) => 8,
            Body::Reset => 0,
            Body::Packet(frames) => 2 + frames.iter().map(Frame::encoded_len).sum::<usize>(),
        }
    }

    /// Appends the body's encoding to `out`.
    ///
    /// Does not validate: a body that breaks a decoding rule encodes to bytes that
    /// [`Body::decode`] rejects (counts are written as their low 16 bits).
    pub fn encode(&self, out: &mut BytesMut) {
        out.reserve(self.encoded_len());
        match self {
            Body::Init(init) => {
                out.put_u64(init.tag_i);
                put_nonce(out, &init.nonce_i);
                put_name(out, &init.initiator);
                put_name(out, &init.responder);
                put_params(out, &init.params);
                out.put_u16(init.padding);
                out.put_bytes(0, usize::from(init.padding));
            }
            Body::Challenge(ch) => {
                out.put_u64(ch.tag_r);
                put_nonce(out, &ch.nonce_r);
                put_nonce(out, &ch.nonce_i);
                put_params(out, &ch.params);
                put_cookie(out, &ch.cookie);
                out.put_slice(&ch.proof_r.0);
            }
            Body::Confirm(c) => {
                put_cookie(out, &c.cookie);
                put_name(out, &c.initiator);
                out.put_slice(&c.proof_i.0);
                put_summary(out, &c.summary);
            }
            Body::Accept(a) => put_summary(out, &a.summary),
            Body::Stale(s) => out.put_u64(s.current_epoch),
            Body::Reset => {}
            Body::Packet(frames) => {
                out.put_u16(frames.len() as u16);
                for frame in frames {
                    put_frame(out, frame);
                }
            }
        }
    }

    /// Strictly decodes a body of type `ty`: the body must be consumed exactly and the
    /// result must pass [`Body::check`].
    ///
    /// DATA frame bytes are zero-copy slices of `body`.
    pub fn decode(ty: PduType, body: &Bytes) -> Result<Body, DecodeError> {
        let mut r = Reader::new(body);
        let decoded = match ty {
            PduType::Init => Body::Init(get_init(&mut r)?),
            PduType::Challenge => Body::Challenge(get_challenge(&mut r)?),
            PduType::Confirm => Body::Confirm(get_confirm(&mut r)?),
            PduType::Accept => Body::Accept(Accept { summary: get_summary(&mut r)? }),
            PduType::Stale => Body::Stale(Stale { current_epoch: r.u64("stale.current_epoch")? }),
            PduType::Packet => Body::Packet(get_frames(&mut r)?),
            PduType::Reset => Body::Reset,
        };
        r.finish("body")?;
        decoded.check()?;
        Ok(decoded)
    }

    /// Checks the rules of `PROTOCOL.md` that a typed body can break (non-zero tags, list
    /// bounds and order, DATA segment rules). [`Body::decode`] accepts exactly the encodings
    /// of bodies that pass; senders may use it to assert they build only valid bodies.
    pub fn check(&self) -> Result<(), DecodeError> {
        match self {
            Body::Init(init) => nonzero_tag(init.tag_i, "init.tag_i"),
            Body::Challenge(ch) => {
                nonzero_tag(ch.tag_r, "challenge.tag_r")?;
                check_cookie(&ch.cookie)
            }
            Body::Confirm(c) => {
                check_cookie(&c.cookie)?;
                c.summary.check()
            }
            Body::Accept(a) => a.summary.check(),
            Body::Stale(_) | Body::Reset => Ok(()),
            Body::Packet(frames) => {
                if frames.is_empty() || frames.len() > MAX_FRAMES {
                    return Err(out_of_range("packet.frame_count"));
                }
                frames.iter().try_for_each(Frame::check)
            }
        }
    }
}

/// Appends the 36-byte header of a PDU of type `ty` whose body is `body_len` bytes long.
///
/// `body_len` is written as a `u32`; a body that long cannot fit a datagram anyway.
pub(crate) fn encode_header(ty: PduType, header: &Header, body_len: usize, out: &mut BytesMut) {
    out.reserve(HEADER_LEN);
    out.put_u8(VERSION);
    out.put_u8(ty as u8);
    out.put_u16(0);
    out.put_u32(header.sid);
    out.put_u64(header.dst_tag);
    out.put_u64(header.epoch);
    out.put_u64(header.pn);
    out.put_u32(body_len as u32);
}

impl Pdu {
    /// Fixed bytes of a PACKET PDU around its frames: header, frame count and
    /// authenticator. A packet of frames `fs` is `PACKET_OVERHEAD + Σ fs.encoded_len()`.
    pub const PACKET_OVERHEAD: usize = HEADER_LEN + 2 + AUTH_LEN;

    /// The exact number of bytes [`Pdu::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.body.encoded_len() + AUTH_LEN
    }

    /// Appends header, body and authenticator to `out`.
    pub fn encode(&self, out: &mut BytesMut) {
        let body_len = self.body.encoded_len();
        out.reserve(HEADER_LEN + body_len + AUTH_LEN);
        encode_header(self.body.pdu_type(), &self.header, body_len, out);
        self.body.encode(out);
        out.put_slice(&self.auth.0);
    }

    /// The PDU's encoding as one datagram.
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut out);
        out.freeze()
    }

    /// Checks every rule the decoder enforces that a typed PDU can break: the header rules
    /// for its type, [`Body::check`], and that the body length fits its `u32` field.
    ///
    /// `Pdu::decode(&p.to_bytes()) == Ok(p)` exactly when `p.check()` is `Ok`, so a sender
    /// can assert this before sending and a model can assert it on every PDU it builds.
    pub fn check(&self) -> Result<(), DecodeError> {
        check_header(self.body.pdu_type(), &self.header)?;
        self.body.check()?;
        if u32::try_from(self.body.encoded_len()).is_err() {
            return Err(out_of_range("header.body_len"));
        }
        Ok(())
    }

    /// Strictly decodes one datagram: [`RawPdu::parse`] then [`Body::decode`].
    ///
    /// On success, [`Pdu::to_bytes`] of the result equals `datagram`.
    pub fn decode(datagram: &Bytes) -> Result<Pdu, DecodeError> {
        let raw = RawPdu::parse(datagram)?;
        let body = Body::decode(raw.ty, &raw.body)?;
        Ok(Pdu { header: raw.header, body, auth: raw.auth })
    }

    /// Header and body encoded without the authenticator: the bytes a MAC or AEAD covers.
    /// Append the 16-byte tag to get the datagram.
    pub fn authenticated_prefix(&self) -> BytesMut {
        let body_len = self.body.encoded_len();
        let mut out = BytesMut::with_capacity(HEADER_LEN + body_len + AUTH_LEN);
        encode_header(self.body.pdu_type(), &self.header, body_len, &mut out);
        self.body.encode(&mut out);
        out
    }
}

impl Init {
    /// The least `padding` that makes an INIT with these names at least as long as any
    /// CHALLENGE, so answering an INIT never amplifies (see `PROTOCOL.md`).
    pub fn min_padding(initiator: &PeerName, responder: &PeerName) -> u16 {
        let unpadded = INIT_BODY_FIXED + initiator.as_bytes().len() + responder.as_bytes().len();
        // At most CHALLENGE_BODY_LEN (157), so it always fits.
        CHALLENGE_BODY_LEN.saturating_sub(unpadded) as u16
    }
}

impl Frame {
    /// The exact number of bytes this frame occupies inside a PACKET body.
    pub fn encoded_len(&self) -> usize {
        1 + match self {
            Frame::Ping | Frame::CloseAck => 0,
            Frame::Ack { ranges, .. } => 8 + 2 + 16 * ranges.len(),
            Frame::Summary(s) => s.encoded_len(),
            Frame::Data(d) => 8 + 8 + 1 + if d.first.is_some() { 8 + 1 + 8 } else { 0 } + 4 + d.bytes.len(),
            Frame::Cancel { .. } => 8,
            Frame::Resolved { resolution, .. } => 8 + resolution_len(resolution),
            Frame::Reject { .. } => 8 + 1,
            Frame::Close { .. } | Frame::Abort { .. } => 1,
        }
    }

    /// Checks the rules of `PROTOCOL.md` that a typed frame can break (ACK range order and
    /// count, DATA segment rules, summary rules).
    pub fn check(&self) -> Result<(), DecodeError> {
        match self {
            Frame::Ack { ranges, .. } => check_ack_ranges(ranges),
            Frame::Summary(s) => s.check(),
            Frame::Data(d) => check_data(d),
            Frame::Ping
            | Frame::Cancel { .. }
            | Frame::Resolved { .. }
            | Frame::Reject { .. }
            | Frame::Close { .. }
            | Frame::CloseAck
            | Frame::Abort { .. } => Ok(()),
        }
    }
}

impl Summary {
    /// The exact number of bytes this summary occupies on the wire.
    pub fn encoded_len(&self) -> usize {
        SUMMARY_FIXED
            + self.resolved.iter().map(|e| 8 + resolution_len(&e.resolution)).sum::<usize>()
            + PARTIAL_ENTRY_LEN * self.partial.len()
    }

    /// Checks the summary rules of `PROTOCOL.md`:
    ///
    /// - each list has at most [`MAX_SUMMARY_ENTRIES`] entries, strictly ascending by msn;
    /// - a `resolved` entry below `resolved_below` is not `Delivered` (those are implied by
    ///   the watermark; only non-delivered outcomes are repeated below it);
    /// - every `partial` entry is at or above `resolved_below` and not also in `resolved`.
    pub fn check(&self) -> Result<(), DecodeError> {
        if self.resolved.len() > MAX_SUMMARY_ENTRIES {
            return Err(out_of_range("summary.n_resolved"));
        }
        if self.partial.len() > MAX_SUMMARY_ENTRIES {
            return Err(out_of_range("summary.n_partial"));
        }
        let mut prev: Option<u64> = None;
        for e in &self.resolved {
            if prev.is_some_and(|p| e.msn <= p) {
                return Err(out_of_range("summary.resolved.msn"));
            }
            if e.msn < self.resolved_below && e.resolution == Resolution::Delivered {
                return Err(out_of_range("summary.resolved.resolution"));
            }
            prev = Some(e.msn);
        }
        let mut prev: Option<u64> = None;
        let mut resolved = self.resolved.iter().map(|e| e.msn).peekable();
        for e in &self.partial {
            if e.msn < self.resolved_below || prev.is_some_and(|p| e.msn <= p) {
                return Err(out_of_range("summary.partial.msn"));
            }
            // Both lists ascend: skip resolved msns below this one, then compare.
            while resolved.next_if(|&m| m < e.msn).is_some() {}
            if resolved.peek() == Some(&e.msn) {
                return Err(out_of_range("summary.partial.msn"));
            }
            prev = Some(e.msn);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Checked reading.

/// A cursor over a [`Bytes`] whose every read is checked: running out of input yields
/// [`DecodeError::Truncated`], never a panic.
struct Reader<'a> {
    buf: &'a Bytes,
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a Bytes) -> Self {
        Reader { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }

    /// The next `n` bytes as a borrowed slice.
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let out = rest
            .get(..n)
            .ok_or_else(|| DecodeError::Truncated { field, needed: n.saturating_sub(rest.len()) })?;
        // Cannot overflow: `pos + n <= buf.len()` since the slice above exists.
        self.pos += n;
        Ok(out)
    }

    /// The next `n` bytes as a zero-copy slice of the underlying buffer.
    fn bytes(&mut self, n: usize, field: &'static str) -> Result<Bytes, DecodeError> {
        let start = self.pos;
        self.take(n, field)?;
        Ok(self.buf.slice(start..self.pos))
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], DecodeError> {
        let s = self.take(N, field)?;
        <[u8; N]>::try_from(s).map_err(|_| DecodeError::Truncated { field, needed: N })
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(u8::from_be_bytes(self.array(field)?))
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        Ok(u16::from_be_bytes(self.array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        Ok(u32::from_be_bytes(self.array(field)?))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, DecodeError> {
        Ok(u64::from_be_bytes(self.array(field)?))
    }

    /// Fails with [`DecodeError::BadLength`] unless every byte has been consumed.
    fn finish(self, field: &'static str) -> Result<(), DecodeError> {
        if self.remaining() == 0 {
            Ok(())
        } else {
            Err(DecodeError::BadLength { field, declared: self.pos, actual: self.buf.len() })
        }
    }
}

fn out_of_range(field: &'static str) -> DecodeError {
    DecodeError::OutOfRange { field }
}

fn pdu_type_from_code(code: u8) -> Option<PduType> {
    Some(match code {
        1 => PduType::Init,
        2 => PduType::Challenge,
        3 => PduType::Confirm,
        4 => PduType::Accept,
        5 => PduType::Stale,
        6 => PduType::Packet,
        7 => PduType::Reset,
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------
// Rules on typed values, shared by the decoder and the public `check` methods.

fn check_header(ty: PduType, h: &Header) -> Result<(), DecodeError> {
    // The receiver's tag is unknown only when opening: INIT carries 0, all else non-zero.
    if (ty == PduType::Init) != (h.dst_tag == 0) {
        return Err(out_of_range("header.dst_tag"));
    }
    if ty != PduType::Packet && h.pn != 0 {
        return Err(out_of_range("header.pn"));
    }
    Ok(())
}

fn nonzero_tag(tag: u64, field: &'static str) -> Result<(), DecodeError> {
    if tag == 0 {
        Err(out_of_range(field))
    } else {
        Ok(())
    }
}

fn check_cookie(c: &Cookie) -> Result<(), DecodeError> {
    nonzero_tag(c.tag_i, "cookie.tag_i")?;
    nonzero_tag(c.tag_r, "cookie.tag_r")
}

fn check_ack_ranges(ranges: &[PnRange]) -> Result<(), DecodeError> {
    if ranges.is_empty() || ranges.len() > MAX_ACK_RANGES {
        return Err(out_of_range("ack.n_ranges"));
    }
    let mut prev: Option<&PnRange> = None;
    for range in ranges {
        if range.smallest > range.largest {
            return Err(out_of_range("ack.smallest"));
        }
        if let Some(prev) = prev {
            // Descending with a gap of at least one pn: largest + 1 < prev.smallest.
            match range.largest.checked_add(1) {
                Some(next) if next < prev.smallest => {}
                _ => return Err(out_of_range("ack.largest")),
            }
        }
        prev = Some(range);
    }
    Ok(())
}

fn check_data(d: &DataFrame) -> Result<(), DecodeError> {
    if d.first.is_some() != (d.offset == 0) {
        return Err(out_of_range("data.first"));
    }
    let len = u32::try_from(d.bytes.len()).map_err(|_| out_of_range("data.len"))?;
    let len = u64::from(len);
    if d.offset.checked_add(len).is_none() {
        return Err(out_of_range("data.len"));
    }
    if let Some(first) = &d.first {
        // offset == 0 here, so the segment is bytes 0..len; it ends the message iff fin.
        if len > first.total_len || d.fin != (len == first.total_len) {
            return Err(out_of_range("data.len"));
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Structural decoding. Semantic rules are applied afterwards by `Body::check`; here only
// what the encoding itself forbids (bad codes, reserved bits, non-zero padding,
// non-canonical names) and counts, which are bounded before anything is allocated.

fn get_nonce(r: &mut Reader<'_>, field: &'static str) -> Result<Nonce, DecodeError> {
    Ok(Nonce(r.array(field)?))
}

fn get_auth(r: &mut Reader<'_>, field: &'static str) -> Result<AuthTag, DecodeError> {
    Ok(AuthTag(r.array(field)?))
}

fn get_name(r: &mut Reader<'_>, field: &'static str) -> Result<PeerName, DecodeError> {
    let len = usize::from(r.u8(field)?);
    if len == 0 || len > MAX_NAME_LEN {
        return Err(out_of_range(field));
    }
    let raw = r.take(len, field)?;
    match PeerName::new(raw) {
        Ok(name) if name.as_bytes() == raw => Ok(name),
        _ => Err(out_of_range(field)),
    }
}

fn get_params(r: &mut Reader<'_>) -> Result<Params, DecodeError> {
    Ok(Params {
        max_datagram: r.u16("params.max_datagram")?,
        msg_window: r.u16("params.msg_window")?,
        checkpoint_size: r.u32("params.checkpoint_size")?,
        checkpoint_window: r.u16("params.checkpoint_window")?,
    })
}

fn get_init(r: &mut Reader<'_>) -> Result<Init, DecodeError> {
    let tag_i = r.u64("init.tag_i")?;
    let nonce_i = get_nonce(r, "init.nonce_i")?;
    let initiator = get_name(r, "init.initiator")?;
    let responder = get_name(r, "init.responder")?;
    let params = get_params(r)?;
    let padding = r.u16("init.padding")?;
    if r.take(usize::from(padding), "init.padding")?.iter().any(|&b| b != 0) {
        return Err(out_of_range("init.padding"));
    }
    Ok(Init { tag_i, nonce_i, initiator, responder, params, padding })
}

fn get_cookie(r: &mut Reader<'_>) -> Result<Cookie, DecodeError> {
    Ok(Cookie {
        tag_i: r.u64("cookie.tag_i")?,
        tag_r: r.u64("cookie.tag_r")?,
        nonce_i: get_nonce(r, "cookie.nonce_i")?,
        nonce_r: get_nonce(r, "cookie.nonce_r")?,
        epoch: r.u64("cookie.epoch")?,
        params: get_params(r)?,
        issued: r.u64("cookie.issued")?,
        key_id: r.u8("cookie.key_id")?,
        mac: get_auth(r, "cookie.mac")?,
    })
}

fn get_challenge(r: &mut Reader<'_>) -> Result<Challenge, DecodeError> {
    Ok(Challenge {
        tag_r: r.u64("challenge.tag_r")?,
        nonce_r: get_nonce(r, "challenge.nonce_r")?,
        nonce_i: get_nonce(r, "challenge.nonce_i")?,
        params: get_params(r)?,
        cookie: get_cookie(r)?,
        proof_r: get_auth(r, "challenge.proof_r")?,
    })
}

fn get_confirm(r: &mut Reader<'_>) -> Result<Confirm, DecodeError> {
    Ok(Confirm {
        cookie: get_cookie(r)?,
        initiator: get_name(r, "confirm.initiator")?,
        proof_i: get_auth(r, "confirm.proof_i")?,
        summary: get_summary(r)?,
    })
}

fn get_reject_reason(r: &mut Reader<'_>, field: &'static str) -> Result<RejectReason, DecodeError> {
    match r.u8(field)? {
        1 => Ok(RejectReason::TooLarge),
        2 => Ok(RejectReason::Refused),
        3 => Ok(RejectReason::Expired),
        _ => Err(out_of_range(field)),
    }
}

fn get_resolution(r: &mut Reader<'_>, field: &'static str) -> Result<Resolution, DecodeError> {
    match r.u8(field)? {
        RES_DELIVERED => Ok(Resolution::Delivered),
        RES_CANCELLED => Ok(Resolution::Cancelled),
        RES_REJECTED => Ok(Resolution::Rejected(get_reject_reason(r, field)?)),
        _ => Err(out_of_range(field)),
    }
}

fn get_priority(r: &mut Reader<'_>) -> Result<Priority, DecodeError> {
    match r.u8("data.priority")? {
        0 => Ok(Priority::Urgent),
        1 => Ok(Priority::Normal),
        2 => Ok(Priority::NonUrgent),
        _ => Err(out_of_range("data.priority")),
    }
}

fn get_close_reason(r: &mut Reader<'_>) -> Result<CloseReason, DecodeError> {
    match r.u8("close.reason")? {
        1 => Ok(CloseReason::Idle),
        2 => Ok(CloseReason::Requested),
        3 => Ok(CloseReason::Shutdown),
        _ => Err(out_of_range("close.reason")),
    }
}

fn get_abort_reason(r: &mut Reader<'_>) -> Result<AbortReason, DecodeError> {
    match r.u8("abort.reason")? {
        1 => Ok(AbortReason::Requested),
        2 => Ok(AbortReason::RetransmitsExhausted),
        3 => Ok(AbortReason::ProtocolViolation),
        4 => Ok(AbortReason::ResourceLimit),
        _ => Err(out_of_range("abort.reason")),
    }
}

/// Reads a list count and checks it against `max`.
fn get_count(r: &mut Reader<'_>, field: &'static str, min: usize, max: usize) -> Result<usize, DecodeError> {
    let n = usize::from(r.u16(field)?);
    if n < min || n > max {
        return Err(out_of_range(field));
    }
    Ok(n)
}

/// Capacity for a list of `n` entries of at least `min_entry_len` bytes each, bounded by
/// what the input can possibly hold so a lying count cannot make us allocate.
fn capacity(r: &Reader<'_>, n: usize, min_entry_len: usize) -> usize {
    n.min(r.remaining() / min_entry_len.max(1))
}

fn get_summary(r: &mut Reader<'_>) -> Result<Summary, DecodeError> {
    let resolved_below = r.u64("summary.resolved_below")?;
    let n = get_count(r, "summary.n_resolved", 0, MAX_SUMMARY_ENTRIES)?;
    let mut resolved = Vec::with_capacity(capacity(r, n, 9));
    for _ in 0..n {
        let msn = r.u64("summary.resolved.msn")?;
        let resolution = get_resolution(r, "summary.resolved.resolution")?;
        resolved.push(ResolvedEntry { msn, resolution });
    }
    let n = get_count(r, "summary.n_partial", 0, MAX_SUMMARY_ENTRIES)?;
    let mut partial = Vec::with_capacity(capacity(r, n, PARTIAL_ENTRY_LEN));
    for _ in 0..n {
        let msn = r.u64("summary.partial.msn")?;
        let durable = r.u64("summary.partial.durable")?;
        partial.push(PartialEntry { msn, durable });
    }
    Ok(Summary { resolved_below, resolved, partial })
}

fn get_frames(r: &mut Reader<'_>) -> Result<Vec<Frame>, DecodeError> {
    let n = get_count(r, "packet.frame_count", 1, MAX_FRAMES)?;
    let mut frames = Vec::with_capacity(capacity(r, n, 1));
    for _ in 0..n {
        frames.push(get_frame(r)?);
    }
    Ok(frames)
}

fn get_frame(r: &mut Reader<'_>) -> Result<Frame, DecodeError> {
    let code = r.u8("frame.type")?;
    Ok(match code {
        FRAME_PING => Frame::Ping,
        FRAME_ACK => get_ack(r)?,
        FRAME_SUMMARY => Frame::Summary(get_summary(r)?),
        FRAME_DATA => Frame::Data(get_data(r)?),
        FRAME_CANCEL => Frame::Cancel { msn: r.u64("cancel.msn")? },
        FRAME_RESOLVED => Frame::Resolved {
            msn: r.u64("resolved.msn")?,
            resolution: get_resolution(r, "resolved.resolution")?,
        },
        FRAME_REJECT => {
            Frame::Reject { msn: r.u64("reject.msn")?, reason: get_reject_reason(r, "reject.reason")? }
        }
        FRAME_CLOSE => Frame::Close { reason: get_close_reason(r)? },
        FRAME_CLOSE_ACK => Frame::CloseAck,
        FRAME_ABORT => Frame::Abort { reason: get_abort_reason(r)? },
        _ => return Err(DecodeError::UnknownFrame(code)),
    })
}

fn get_ack(r: &mut Reader<'_>) -> Result<Frame, DecodeError> {
    let ack_delay_us = r.u64("ack.ack_delay_us")?;
    let n = get_count(r, "ack.n_ranges", 1, MAX_ACK_RANGES)?;
    let mut ranges = Vec::with_capacity(capacity(r, n, 16));
    for _ in 0..n {
        let largest = r.u64("ack.largest")?;
        let smallest = r.u64("ack.smallest")?;
        ranges.push(PnRange { smallest, largest });
    }
    Ok(Frame::Ack { ranges, ack_delay_us })
}

fn get_data(r: &mut Reader<'_>) -> Result<DataFrame, DecodeError> {
    let msn = r.u64("data.msn")?;
    let offset = r.u64("data.offset")?;
    let flags = r.u8("data.flags")?;
    if flags & !(DATA_FIN | DATA_FIRST) != 0 {
        return Err(out_of_range("data.flags"));
    }
    let first = if flags & DATA_FIRST != 0 {
        Some(FirstSegment {
            total_len: r.u64("data.total_len")?,
            priority: get_priority(r)?,
            app_id: r.u64("data.app_id")?,
        })
    } else {
        None
    };
    let len = r.u32("data.len")?;
    let len = usize::try_from(len).map_err(|_| out_of_range("data.len"))?;
    let bytes = r.bytes(len, "data.bytes")?;
    Ok(DataFrame { msn, offset, fin: flags & DATA_FIN != 0, first, bytes })
}

// ---------------------------------------------------------------------------------------
// Writing.

fn name_len(name: &PeerName) -> usize {
    1 + name.as_bytes().len()
}

fn resolution_len(resolution: &Resolution) -> usize {
    match resolution {
        Resolution::Delivered | Resolution::Cancelled => 1,
        Resolution::Rejected(_) => 2,
    }
}

fn put_nonce(out: &mut BytesMut, nonce: &Nonce) {
    out.put_slice(&nonce.0);
}

fn put_name(out: &mut BytesMut, name: &PeerName) {
    let bytes = name.as_bytes();
    // A PeerName is at most MAX_NAME_LEN (64) bytes.
    out.put_u8(bytes.len() as u8);
    out.put_slice(bytes);
}

fn put_params(out: &mut BytesMut, p: &Params) {
    out.put_u16(p.max_datagram);
    out.put_u16(p.msg_window);
    out.put_u32(p.checkpoint_size);
    out.put_u16(p.checkpoint_window);
}

fn put_cookie(out: &mut BytesMut, c: &Cookie) {
    out.put_u64(c.tag_i);
    out.put_u64(c.tag_r);
    put_nonce(out, &c.nonce_i);
    put_nonce(out, &c.nonce_r);
    out.put_u64(c.epoch);
    put_params(out, &c.params);
    out.put_u64(c.issued);
    out.put_u8(c.key_id);
    out.put_slice(&c.mac.0);
}

fn put_resolution(out: &mut BytesMut, resolution: &Resolution) {
    match resolution {
        Resolution::Delivered => out.put_u8(RES_DELIVERED),
        Resolution::Cancelled => out.put_u8(RES_CANCELLED),
        Resolution::Rejected(reason) => {
            out.put_u8(RES_REJECTED);
            out.put_u8(*reason as u8);
        }
    }
}

fn put_summary(out: &mut BytesMut, s: &Summary) {
    out.put_u64(s.resolved_below);
    out.put_u16(s.resolved.len() as u16);
    for e in &s.resolved {
        out.put_u64(e.msn);
        put_resolution(out, &e.resolution);
    }
    out.put_u16(s.partial.len() as u16);
    for e in &s.partial {
        out.put_u64(e.msn);
        out.put_u64(e.durable);
    }
}

fn put_frame(out: &mut BytesMut, frame: &Frame) {
    match frame {
        Frame::Ping => out.put_u8(FRAME_PING),
        Frame::Ack { ranges, ack_delay_us } => {
            out.put_u8(FRAME_ACK);
            out.put_u64(*ack_delay_us);
            out.put_u16(ranges.len() as u16);
            for range in ranges {
                out.put_u64(range.largest);
                out.put_u64(range.smallest);
            }
        }
        Frame::Summary(s) => {
            out.put_u8(FRAME_SUMMARY);
            put_summary(out, s);
        }
        Frame::Data(d) => {
            out.put_u8(FRAME_DATA);
            out.put_u64(d.msn);
            out.put_u64(d.offset);
            let mut flags = 0;
            if d.fin {
                flags |= DATA_FIN;
            }
            if d.first.is_some() {
                flags |= DATA_FIRST;
            }
            out.put_u8(flags);
            if let Some(first) = &d.first {
                out.put_u64(first.total_len);
                out.put_u8(first.priority as u8);
                out.put_u64(first.app_id);
            }
            out.put_u32(d.bytes.len() as u32);
            out.put_slice(&d.bytes);
        }
        Frame::Cancel { msn } => {
            out.put_u8(FRAME_CANCEL);
            out.put_u64(*msn);
        }
        Frame::Resolved { msn, resolution } => {
            out.put_u8(FRAME_RESOLVED);
            out.put_u64(*msn);
            put_resolution(out, resolution);
        }
        Frame::Reject { msn, reason } => {
            out.put_u8(FRAME_REJECT);
            out.put_u64(*msn);
            out.put_u8(*reason as u8);
        }
        Frame::Close { reason } => {
            out.put_u8(FRAME_CLOSE);
            out.put_u8(*reason as u8);
        }
        Frame::CloseAck => out.put_u8(FRAME_CLOSE_ACK),
        Frame::Abort { reason } => {
            out.put_u8(FRAME_ABORT);
            out.put_u8(*reason as u8);
        }
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
