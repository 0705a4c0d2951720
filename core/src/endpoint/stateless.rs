//! The endpoint's stateless path (`PROTOCOL.md`, "Endpoint"): answering an INIT, verifying
//! a CONFIRM and answering a PACKET with a RESET for a peer whose session is not in memory.
//! Each reuses the session's own decision (`handshake.rs`, `session/reset.rs`): the
//! handshake with the endpoint's cookie secret, which every session the endpoint restores
//! shares, so a cookie issued here verifies there; the reset with what the endpoint kept
//! when the session left memory.

use bytes::Bytes;

use super::types::EndpointError;
use crate::config::Config;
use crate::crypto::{InitRateLimiter, Key};
use crate::handshake::{self, InitContext, Refusal};
use crate::input::DropReason;
use crate::session::{may_reset, seal_reset, ResetGround, RESET_LEN};
use crate::time::Instant;
use crate::wire::{Body, RawPdu};

/// What the stateless path needs besides the PDU.
pub(crate) struct Context<'a> {
    /// The peer's config.
    pub(crate) cfg: &'a Config,
    /// The endpoint's cookie secret.
    pub(crate) secret: &'a Key,
    /// The highest epoch the endpoint knows the session persisted (0 if it never held it).
    pub(crate) persisted_epoch: u64,
    /// The current time.
    pub(crate) now: Instant,
}

fn refused(sid: u32, r: Refusal) -> EndpointError {
    match r {
        Refusal::Drop(reason) => EndpointError::Dropped { sid, reason },
        Refusal::AuthFailed => EndpointError::AuthFailed { sid },
    }
}

/// Answers an INIT (whose MAC the caller checked: `authentic`) with a CHALLENGE;
/// `Ok((challenge, authentic))`. An INIT whose MAC fails is answered (with a proof that
/// never verifies) only while `budget` lasts, and charged to it; an authentic one is never
/// charged.
pub(crate) fn answer_init(
    ctx: &Context<'_>,
    raw: &RawPdu,
    datagram: &Bytes,
    authentic: bool,
    budget: &mut InitRateLimiter,
) -> Result<(Bytes, bool), EndpointError> {
    let sid = ctx.cfg.sid;
    if raw.header.dst_tag != 0 {
        return Err(EndpointError::Dropped { sid, reason: DropReason::NotApplicable });
    }
    if !authentic && !budget.would_allow(ctx.now) {
        return Err(EndpointError::Dropped { sid, reason: DropReason::BadAuth });
    }
    let Body::Init(init) = Body::decode(raw.ty, &raw.body)? else {
        return Err(EndpointError::Dropped { sid, reason: DropReason::NotApplicable });
    };
    let init_ctx = InitContext {
        cfg: ctx.cfg,
        secret: ctx.secret,
        persisted_epoch: ctx.persisted_epoch,
        now: ctx.now,
        authentic,
    };
    let challenge =
        handshake::answer_init(&init_ctx, &raw.header, &init, datagram.len()).map_err(|r| refused(sid, r))?;
    if !authentic {
        let _ = budget.try_acquire(ctx.now);
    }
    Ok((challenge, authentic))
}

/// Verifies a CONFIRM (the endpoint's cookie, the peer's proof, the trailer): `Ok` means
/// the sender holds the peer's key and answers a CHALLENGE this endpoint issued within
/// the cookie lifetime. Nothing is decided about the association: the restored session
/// does that when the CONFIRM is handed in again.
pub(crate) fn verify_confirm(ctx: &Context<'_>, raw: &RawPdu, datagram: &Bytes) -> Result<(), EndpointError> {
    let sid = ctx.cfg.sid;
    let Body::Confirm(c) = Body::decode(raw.ty, &raw.body)? else {
        return Err(EndpointError::Dropped { sid, reason: DropReason::NotApplicable });
    };
    handshake::check_confirm(ctx.cfg, ctx.secret, ctx.now, &raw.header, &c, datagram, raw)
        .map(|_| ())
        .map_err(|r| refused(sid, r))
}

/// Answers a PACKET for a session that left memory with a RESET, if the session would:
/// it held no association or attempt when it left, `persisted_epoch` was its epoch then,
/// and `drained` its last drained association. `received_len` is the PACKET's size: the
/// RESET is never larger. Refused as [`DropReason::Stale`], as the session refuses.
pub(crate) fn answer_packet(
    cfg: &Config,
    persisted_epoch: u64,
    drained: Option<(u64, u64)>,
    raw: &RawPdu,
    received_len: usize,
) -> Result<Bytes, EndpointError> {
    let ground = ResetGround { usable_association: false, attempt_pending: false, persisted_epoch, drained };
    if !may_reset(&ground, &raw.header) || received_len < RESET_LEN {
        return Err(EndpointError::Dropped { sid: cfg.sid, reason: DropReason::Stale });
    }
    Ok(seal_reset(cfg, &raw.header))
}
