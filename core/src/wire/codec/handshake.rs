//! The handshake bodies' parts: INIT, CHALLENGE (with its cookie) and CONFIRM, and the
//! names, nonces and parameters they carry.

use crate::wire::{
    AuthTag, Challenge, Confirm, Cookie, DecodeError, Init, Nonce, Params, PeerName, AUTH_LEN, MAX_NAME_LEN,
    NONCE_LEN,
};
use bytes::{BufMut, BytesMut};

use super::frame::{get_summary, put_summary};
use super::header::nonzero_tag;
use super::reader::{out_of_range, Reader};

/// Encoded length of [`Params`].
const PARAMS_LEN: usize = 2 + 2 + 4 + 2;
/// Encoded length of a [`Cookie`].
const COOKIE_LEN: usize = 8 + 8 + NONCE_LEN + NONCE_LEN + 8 + PARAMS_LEN + 8 + 1 + AUTH_LEN;
/// Encoded length of a [`Challenge`] body.
pub(super) const CHALLENGE_BODY_LEN: usize = 8 + NONCE_LEN + NONCE_LEN + PARAMS_LEN + COOKIE_LEN + AUTH_LEN;
/// Encoded length of an [`Init`] body with one-byte names and no padding, minus the names.
const INIT_BODY_FIXED: usize = 8 + NONCE_LEN + 1 + 1 + PARAMS_LEN + 2;

impl Init {
    /// The least `padding` that makes an INIT with these names at least as long as any
    /// CHALLENGE, so answering an INIT never amplifies (see `PROTOCOL.md`).
    pub fn min_padding(initiator: &PeerName, responder: &PeerName) -> u16 {
        let unpadded = INIT_BODY_FIXED + initiator.as_bytes().len() + responder.as_bytes().len();
        // At most CHALLENGE_BODY_LEN (157), so it always fits.
        CHALLENGE_BODY_LEN.saturating_sub(unpadded) as u16
    }
}

pub(super) fn check_cookie(c: &Cookie) -> Result<(), DecodeError> {
    nonzero_tag(c.tag_i, "cookie.tag_i")?;
    nonzero_tag(c.tag_r, "cookie.tag_r")
}

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

pub(super) fn get_init(r: &mut Reader<'_>) -> Result<Init, DecodeError> {
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

pub(super) fn get_challenge(r: &mut Reader<'_>) -> Result<Challenge, DecodeError> {
    Ok(Challenge {
        tag_r: r.u64("challenge.tag_r")?,
        nonce_r: get_nonce(r, "challenge.nonce_r")?,
        nonce_i: get_nonce(r, "challenge.nonce_i")?,
        params: get_params(r)?,
        cookie: get_cookie(r)?,
        proof_r: get_auth(r, "challenge.proof_r")?,
    })
}

pub(super) fn get_confirm(r: &mut Reader<'_>) -> Result<Confirm, DecodeError> {
    Ok(Confirm {
        cookie: get_cookie(r)?,
        initiator: get_name(r, "confirm.initiator")?,
        proof_i: get_auth(r, "confirm.proof_i")?,
        summary: get_summary(r)?,
    })
}

/// Encoded length of an INIT body.
pub(super) fn init_len(init: &Init) -> usize {
    INIT_BODY_FIXED
        + init.initiator.as_bytes().len()
        + init.responder.as_bytes().len()
        + usize::from(init.padding)
}

/// Encoded length of a CONFIRM body.
pub(super) fn confirm_len(c: &Confirm) -> usize {
    COOKIE_LEN + name_len(&c.initiator) + AUTH_LEN + c.summary.encoded_len()
}

/// Appends an INIT body.
pub(super) fn put_init(out: &mut BytesMut, init: &Init) {
    out.put_u64(init.tag_i);
    put_nonce(out, &init.nonce_i);
    put_name(out, &init.initiator);
    put_name(out, &init.responder);
    put_params(out, &init.params);
    out.put_u16(init.padding);
    out.put_bytes(0, usize::from(init.padding));
}

/// Appends a CHALLENGE body.
pub(super) fn put_challenge(out: &mut BytesMut, ch: &Challenge) {
    out.put_u64(ch.tag_r);
    put_nonce(out, &ch.nonce_r);
    put_nonce(out, &ch.nonce_i);
    put_params(out, &ch.params);
    put_cookie(out, &ch.cookie);
    out.put_slice(&ch.proof_r.0);
}

/// Appends a CONFIRM body.
pub(super) fn put_confirm(out: &mut BytesMut, c: &Confirm) {
    put_cookie(out, &c.cookie);
    put_name(out, &c.initiator);
    out.put_slice(&c.proof_i.0);
    put_summary(out, &c.summary);
}

fn name_len(name: &PeerName) -> usize {
    1 + name.as_bytes().len()
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
