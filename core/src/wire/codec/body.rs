//! PDU bodies: the dispatch on the PDU type for length, encoding, decoding and checking.

use crate::wire::{Accept, Body, DecodeError, Frame, PduType, Stale};
use bytes::{BufMut, Bytes, BytesMut};

use super::frame::{get_frames, get_summary, put_frame, put_summary, MAX_FRAMES};
use super::handshake::{
    check_cookie, confirm_len, get_challenge, get_confirm, get_init, init_len, put_challenge, put_confirm,
    put_init, CHALLENGE_BODY_LEN,
};
use super::header::nonzero_tag;
use super::reader::{out_of_range, Reader};

impl Body {
    /// The exact number of bytes [`Body::encode`] appends.
    pub fn encoded_len(&self) -> usize {
        match self {
            Body::Init(init) => init_len(init),
            Body::Challenge(_) => CHALLENGE_BODY_LEN,
            Body::Confirm(c) => confirm_len(c),
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
            Body::Init(init) => put_init(out, init),
            Body::Challenge(ch) => put_challenge(out, ch),
            Body::Confirm(c) => put_confirm(out, c),
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
