//! Association establishment (PROTOCOL.md, "Handshake and association lifecycle"): the
//! initiator's attempt and the stateless responder. Every function here is a pure decision
//! over a PDU and the session's state; `session/handshake_pdus.rs` applies the decisions.
//!
//! The responder table (a CONFIRM whose cookie and proof verify, epoch `e`, persisted
//! epoch `p`):
//!
//! | condition                                                         | answer            |
//! |-------------------------------------------------------------------|-------------------|
//! | same tags and epoch as the current association                     | resend ACCEPT     |
//! | `e > p`                                                           | accept (supersede)|
//! | `e == p`, own attempt at `e` not yet established, peer wins names  | accept            |
//! | otherwise                                                         | STALE(`p`)        |
//!
//! INIT is answered statelessly (the responder's tag and nonce are derived from its secret
//! and the INIT), except that an initiator whose own attempt is pending ignores the peer's
//! INIT when it wins the name tie-break.
//!
//! Authentication (`PROTOCOL.md`, "Key schedule"): INIT and CHALLENGE carry a MAC under a
//! key derived from the PSK alone; the proofs bind both names, `sid`, both tags, both
//! nonces, the agreed epoch and parameters; CONFIRM, ACCEPT and STALE carry a MAC under
//! the association's direction keys. The cookie is MAC'd under a rotating key derived from
//! the responder's secret and the PSK, and expires after `cookie_lifetime`.

use alloc::boxed::Box;
use bytes::{Bytes, BytesMut};

use crate::association::NewAssociation;
use crate::association_id::{AssociationId, Role};
use crate::config::Config;
use crate::crypto::{DirectionKeys, Key, Side, Suite, Transcript};
use crate::input::DropReason;
#[cfg(feature = "mutations")]
use crate::mutation::Mutations;
use crate::time::{Duration, Instant};
use crate::wire::{
    Accept, AuthTag, Body, Challenge, Confirm, Cookie, Header, Init, Nonce, Params, Pdu, RawPdu, Stale,
    Summary,
};

/// An initiator's handshake in progress.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Attempt {
    /// Our tag for the association being opened.
    pub(crate) tag_i: u64,
    /// Our nonce.
    pub(crate) nonce_i: Nonce,
    /// Proposed epoch in `InitSent`; the agreed epoch in `ConfirmSent`.
    pub(crate) epoch: u64,
    /// Retransmissions of the current INIT or CONFIRM so far.
    pub(crate) retransmits: u32,
    /// Where the attempt stands.
    pub(crate) stage: Stage,
}

/// The initiator's handshake stage.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Stage {
    /// INIT sent; waiting for a CHALLENGE that echoes our nonce.
    InitSent,
    /// CONFIRM sent; waiting for ACCEPT (or any authentic packet of the association).
    ConfirmSent(Box<Confirming>),
}

/// What the initiator learnt from a valid CHALLENGE.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Confirming {
    pub(crate) tag_r: u64,
    pub(crate) params: Params,
    pub(crate) keys: DirectionKeys,
    pub(crate) confirm: Confirm,
}

/// The key of the INIT and CHALLENGE trailers: only the PSK is shared at that point.
pub(crate) fn handshake_mac_key(cfg: &Config) -> Key {
    cfg.suite.psk_keys(&cfg.psk).handshake_mac
}

/// Encodes a handshake PDU and appends its MAC trailer under `key`.
pub(crate) fn seal(suite: Suite, key: &Key, header: Header, body: Body) -> Bytes {
    let pdu = Pdu { header, body, auth: AuthTag::default() };
    let prefix: BytesMut = pdu.authenticated_prefix();
    suite.seal_handshake(key, prefix)
}

/// The time bucket of a cookie issued at `issued` microseconds: cookie keys rotate every
/// `lifetime`, and the cookie's `key_id` is the bucket's low byte.
pub(crate) fn cookie_bucket(issued: u64, lifetime: Duration) -> u64 {
    issued / lifetime.as_micros().max(1)
}

/// Encoded size of a CHALLENGE (fixed: it has no variable-length fields).
fn challenge_len() -> usize {
    let zero = Nonce::default();
    let params = Params { max_datagram: 0, msg_window: 0, checkpoint_size: 0, checkpoint_window: 0 };
    let cookie = Cookie {
        tag_i: 0,
        tag_r: 0,
        nonce_i: zero,
        nonce_r: zero,
        epoch: 0,
        params,
        issued: 0,
        key_id: 0,
        mac: AuthTag::default(),
    };
    let body = Body::Challenge(Challenge {
        tag_r: 1,
        nonce_r: zero,
        nonce_i: zero,
        params,
        cookie,
        proof_r: AuthTag::default(),
    });
    Pdu { header: Header { sid: 0, dst_tag: 0, epoch: 0, pn: 0 }, body, auth: AuthTag::default() }
        .encoded_len()
}

/// The INIT of `attempt`, padded so that its CHALLENGE is never larger (no amplification).
pub(crate) fn build_init(cfg: &Config, attempt: &Attempt) -> Bytes {
    let mut init = Init {
        tag_i: attempt.tag_i,
        nonce_i: attempt.nonce_i,
        initiator: cfg.local_name,
        responder: cfg.peer_name,
        params: cfg.params,
        padding: 0,
    };
    let header = Header { sid: cfg.sid, dst_tag: 0, epoch: attempt.epoch, pn: 0 };
    let unpadded = Pdu { header, body: Body::Init(init.clone()), auth: AuthTag::default() }.encoded_len();
    init.padding = challenge_len().saturating_sub(unpadded) as u16;
    seal(cfg.suite, &handshake_mac_key(cfg), header, Body::Init(init))
}

/// The CONFIRM of an attempt in `ConfirmSent`.
pub(crate) fn build_confirm(cfg: &Config, attempt: &Attempt, c: &Confirming) -> Bytes {
    let header = Header { sid: cfg.sid, dst_tag: c.tag_r, epoch: attempt.epoch, pn: 0 };
    seal(cfg.suite, &c.keys.send.handshake, header, Body::Confirm(c.confirm.clone()))
}

/// Why a handshake PDU was not taken.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// Drop and count.
    Drop(DropReason),
    /// The peer's proof did not verify: drop, count, and tell the application.
    AuthFailed,
}

impl From<DropReason> for Refusal {
    fn from(r: DropReason) -> Self {
        Refusal::Drop(r)
    }
}

/// What the responder knows when answering an INIT.
pub(crate) struct InitContext<'a> {
    pub(crate) cfg: &'a Config,
    pub(crate) secret: &'a Key,
    pub(crate) persisted_epoch: u64,
    pub(crate) now: Instant,
    pub(crate) authentic: bool,
}

/// The responder's answer to an INIT: the CHALLENGE datagram. Stateless: it depends on the
/// INIT, the config, the cookie secret, the persisted epoch and the clock, and changes
/// nothing.
///
/// An INIT whose MAC failed (`authentic == false`) is answered too, so that an initiator
/// holding another PSK learns of the mismatch, but with an all-zero `proof_R` that never
/// verifies: a CHALLENGE to an INIT that was forged or altered in transit can never
/// complete a handshake (and offers no proof over a transcript the attacker chose).
pub(crate) fn answer_init(
    ctx: &InitContext<'_>,
    header: &Header,
    init: &Init,
    init_len: usize,
) -> Result<Bytes, Refusal> {
    let cfg = ctx.cfg;
    if init.initiator != cfg.peer_name || init.responder != cfg.local_name {
        return Err(DropReason::WrongPeer.into());
    }
    let epoch = header.epoch.max(ctx.persisted_epoch.saturating_add(1));
    let params = cfg.params.agree(&init.params);
    let (tag_r, nonce_r) = cfg.suite.responder_values(ctx.secret, &cfg.psk, init.tag_i, &init.nonce_i, epoch);
    let issued = ctx.now.as_micros();
    let bucket = cookie_bucket(issued, cfg.cookie_lifetime);
    let mut cookie = Cookie {
        tag_i: init.tag_i,
        tag_r,
        nonce_i: init.nonce_i,
        nonce_r,
        epoch,
        params,
        issued,
        key_id: bucket as u8,
        mac: AuthTag::default(),
    };
    cookie.mac = cfg.suite.cookie_mac(ctx.secret, &cfg.psk, bucket, &cookie);
    let t = Transcript {
        initiator: init.initiator,
        responder: init.responder,
        sid: cfg.sid,
        tag_i: init.tag_i,
        tag_r,
        nonce_i: init.nonce_i,
        nonce_r,
        epoch,
        params,
    };
    let keys = cfg.suite.psk_keys(&cfg.psk);
    let proof_r =
        if ctx.authentic { cfg.suite.proof(&keys, Side::Responder, &t) } else { AuthTag::default() };
    let body = Body::Challenge(Challenge { tag_r, nonce_r, nonce_i: init.nonce_i, params, cookie, proof_r });
    let out_header = Header { sid: cfg.sid, dst_tag: init.tag_i, epoch, pn: 0 };
    let datagram = seal(cfg.suite, &keys.handshake_mac, out_header, body);
    if datagram.len() > init_len {
        return Err(DropReason::Amplification.into());
    }
    Ok(datagram)
}

/// Whether a CHALLENGE's header addresses the attempt, before anything else is looked at.
pub(crate) fn challenge_addresses(attempt: &Attempt, header: &Header) -> Result<(), Refusal> {
    if !matches!(attempt.stage, Stage::InitSent) {
        return Err(DropReason::Duplicate.into());
    }
    if header.dst_tag != attempt.tag_i {
        return Err(DropReason::Stale.into());
    }
    Ok(())
}

/// The initiator checks a CHALLENGE against its attempt; on success returns what to
/// confirm. `authentic` says whether the trailer verified: a wrong proof is reported as an
/// authentication failure (the peer holds another PSK, or the CHALLENGE answers an INIT
/// that did not verify); a good proof under a bad trailer is corruption, dropped.
pub(crate) fn check_challenge(
    cfg: &Config,
    attempt: &Attempt,
    header: &Header,
    ch: &Challenge,
    summary: Summary,
    authentic: bool,
) -> Result<Confirming, Refusal> {
    challenge_addresses(attempt, header)?;
    if ch.nonce_i != attempt.nonce_i || ch.cookie.tag_i != attempt.tag_i {
        return Err(DropReason::Stale.into());
    }
    let consistent = ch.cookie.tag_r == ch.tag_r
        && ch.cookie.nonce_r == ch.nonce_r
        && ch.cookie.nonce_i == ch.nonce_i
        && ch.cookie.epoch == header.epoch
        && ch.cookie.params == ch.params
        && header.epoch >= attempt.epoch
        && ch.params == cfg.params.agree(&ch.params);
    if !consistent {
        return Err(DropReason::BadAuth.into());
    }
    let t = Transcript {
        initiator: cfg.local_name,
        responder: cfg.peer_name,
        sid: cfg.sid,
        tag_i: attempt.tag_i,
        tag_r: ch.tag_r,
        nonce_i: attempt.nonce_i,
        nonce_r: ch.nonce_r,
        epoch: header.epoch,
        params: ch.params,
    };
    let keys = cfg.suite.psk_keys(&cfg.psk);
    if !crate::crypto::constant_time_eq(&cfg.suite.proof(&keys, Side::Responder, &t).0, &ch.proof_r.0) {
        return Err(Refusal::AuthFailed);
    }
    if !authentic {
        return Err(DropReason::BadAuth.into());
    }
    let proof_i = cfg.suite.proof(&keys, Side::Initiator, &t);
    Ok(Confirming {
        tag_r: ch.tag_r,
        params: ch.params,
        keys: cfg.suite.direction_keys(&cfg.psk, &t, Side::Initiator),
        confirm: Confirm { cookie: ch.cookie.clone(), initiator: cfg.local_name, proof_i, summary },
    })
}

/// Whether a cookie is one this responder made, under its current or previous cookie key,
/// less than `cookie_lifetime` ago (by the responder's own clock).
fn cookie_valid(cfg: &Config, secret: &Key, now: Instant, k: &Cookie) -> bool {
    let now_us = now.as_micros();
    let bucket = cookie_bucket(k.issued, cfg.cookie_lifetime);
    let fresh = k.issued <= now_us && now_us - k.issued <= cfg.cookie_lifetime.as_micros();
    // `fresh` implies the bucket is the current or the previous one.
    fresh
        && k.key_id == bucket as u8
        && crate::crypto::constant_time_eq(&cfg.suite.cookie_mac(secret, &cfg.psk, bucket, k).0, &k.mac.0)
}

/// The responder verifies a CONFIRM: its own cookie (MAC and age), the peer's proof, then
/// the trailer under the key the proof's transcript determines; what it yields is the
/// association the CONFIRM proposes. The body is read before the trailer is checked
/// because the cookie in it is what the keys are derived from.
pub(crate) fn check_confirm(
    cfg: &Config,
    secret: &Key,
    now: Instant,
    header: &Header,
    c: &Confirm,
    datagram: &Bytes,
    raw: &RawPdu,
) -> Result<NewAssociation, Refusal> {
    let k = &c.cookie;
    if header.dst_tag != k.tag_r || header.epoch != k.epoch {
        return Err(DropReason::Stale.into());
    }
    if !cookie_valid(cfg, secret, now, k) {
        return Err(DropReason::BadCookie.into());
    }
    if c.initiator != cfg.peer_name {
        return Err(DropReason::WrongPeer.into());
    }
    let t = Transcript {
        initiator: cfg.peer_name,
        responder: cfg.local_name,
        sid: cfg.sid,
        tag_i: k.tag_i,
        tag_r: k.tag_r,
        nonce_i: k.nonce_i,
        nonce_r: k.nonce_r,
        epoch: k.epoch,
        params: k.params,
    };
    let psk_keys = cfg.suite.psk_keys(&cfg.psk);
    if !crate::crypto::constant_time_eq(&cfg.suite.proof(&psk_keys, Side::Initiator, &t).0, &c.proof_i.0) {
        return Err(Refusal::AuthFailed);
    }
    let keys = cfg.suite.direction_keys(&cfg.psk, &t, Side::Responder);
    if !cfg.suite.verify_handshake(&keys.recv.handshake, datagram, raw) {
        return Err(DropReason::BadAuth.into());
    }
    let id = AssociationId { epoch: k.epoch, local_tag: k.tag_r, peer_tag: k.tag_i, role: Role::Responder };
    Ok(NewAssociation { id, params: k.params, keys })
}

/// The responder's decision on a verified CONFIRM (the table in the module docs).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum ConfirmDecision {
    /// Duplicate of the current association: answer ACCEPT again.
    Reaccept,
    /// A new association: persist its epoch, supersede any older one, answer ACCEPT.
    Accept,
    /// Too old: answer STALE with the persisted epoch.
    Stale,
}

/// What the responder knows when deciding on a CONFIRM.
pub(crate) struct ConfirmContext {
    /// The current association, if any.
    pub(crate) current: Option<AssociationId>,
    /// The persisted (latest) epoch.
    pub(crate) persisted_epoch: u64,
    /// Epoch of this side's own pending attempt, if any.
    pub(crate) own_attempt_epoch: Option<u64>,
    /// Whether the peer wins the name tie-break (its name orders first).
    pub(crate) peer_wins: bool,
    /// Deliberate bugs in force (model checking only).
    #[cfg(feature = "mutations")]
    pub(crate) mutations: Mutations,
}

/// Applies the responder table.
pub(crate) fn decide_confirm(p: &NewAssociation, ctx: &ConfirmContext) -> ConfirmDecision {
    let p = &p.id;
    // Same tags and epoch: what the wire addresses an association by.
    let tags = |a: &AssociationId| (a.epoch, a.local_tag, a.peer_tag);
    if ctx.current.as_ref().map(tags) == Some(tags(p)) {
        return ConfirmDecision::Reaccept;
    }
    if mutated!(ctx, ResponderKeyedByPeer) && ctx.current.is_some() {
        return ConfirmDecision::Reaccept;
    }
    if p.epoch > ctx.persisted_epoch || mutated!(ctx, NoEpochCheck) {
        return ConfirmDecision::Accept;
    }
    let current_epoch = ctx.current.map(|a| a.epoch);
    if p.epoch == ctx.persisted_epoch
        && ctx.own_attempt_epoch == Some(p.epoch)
        && current_epoch != Some(p.epoch)
        && ctx.peer_wins
    {
        return ConfirmDecision::Accept;
    }
    ConfirmDecision::Stale
}

/// The responder's ACCEPT for an accepted proposal.
pub(crate) fn build_accept(cfg: &Config, p: &NewAssociation, summary: Summary) -> Bytes {
    let header = Header { sid: cfg.sid, dst_tag: p.id.peer_tag, epoch: p.id.epoch, pn: 0 };
    seal(cfg.suite, &p.keys.send.handshake, header, Body::Accept(Accept { summary }))
}

/// The responder's STALE for a verified CONFIRM with an old epoch.
pub(crate) fn build_stale(cfg: &Config, p: &NewAssociation, persisted_epoch: u64) -> Bytes {
    let header = Header { sid: cfg.sid, dst_tag: p.id.peer_tag, epoch: p.id.epoch, pn: 0 };
    seal(cfg.suite, &p.keys.send.handshake, header, Body::Stale(Stale { current_epoch: persisted_epoch }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proposal(epoch: u64) -> NewAssociation {
        let params =
            Params { max_datagram: 1400, msg_window: 8, checkpoint_size: 4096, checkpoint_window: 2 };
        let id = AssociationId { epoch, local_tag: 2, peer_tag: 1, role: Role::Responder };
        NewAssociation { id, params, keys: DirectionKeys::unused() }
    }

    /// The current association: (epoch, local tag, peer tag), as a responder.
    fn current(epoch: u64, local_tag: u64, peer_tag: u64) -> Option<AssociationId> {
        Some(AssociationId { epoch, local_tag, peer_tag, role: Role::Responder })
    }

    /// The responder table, row by row.
    #[test]
    fn confirm_decision_table() {
        use ConfirmDecision::*;
        let ctx = |current, persisted_epoch, own_attempt_epoch, peer_wins| ConfirmContext {
            current,
            persisted_epoch,
            own_attempt_epoch,
            peer_wins,
            #[cfg(feature = "mutations")]
            mutations: Mutations::NONE,
        };
        let rows: [(NewAssociation, ConfirmContext, ConfirmDecision); 8] = [
            (proposal(5), ctx(current(5, 2, 1), 5, None, false), Reaccept),
            (proposal(5), ctx(current(5, 9, 1), 5, None, false), Stale),
            (proposal(6), ctx(current(5, 2, 1), 5, None, false), Accept),
            (proposal(6), ctx(None, 5, None, false), Accept),
            (proposal(4), ctx(None, 5, None, true), Stale),
            (proposal(5), ctx(None, 5, Some(5), true), Accept),
            (proposal(5), ctx(None, 5, Some(5), false), Stale),
            (proposal(5), ctx(current(5, 7, 8), 5, Some(5), true), Stale),
        ];
        for (i, (p, c, want)) in rows.iter().enumerate() {
            assert_eq!(decide_confirm(p, c), *want, "row {i}");
        }
    }

    #[test]
    fn cookie_keys_rotate_once_per_lifetime() {
        let lifetime = Duration::from_secs(60);
        assert_eq!(cookie_bucket(0, lifetime), 0);
        assert_eq!(cookie_bucket(59_999_999, lifetime), 0);
        assert_eq!(cookie_bucket(60_000_000, lifetime), 1);
        assert_eq!(cookie_bucket(150_000_000, lifetime), 2);
        assert_eq!(cookie_bucket(7, Duration::ZERO), 7, "a zero lifetime never divides by zero");
    }

    /// An INIT is answered only when it names this pair in this direction.
    #[test]
    fn init_for_another_pair_is_not_answered() {
        let name = |s: &[u8]| crate::wire::PeerName::new(s).unwrap();
        let psk = crate::crypto::Psk::new(&[7u8; 16]).unwrap();
        let mut cfg = Config::new(name(b"beta"), name(b"alpha"), psk);
        cfg.suite = Suite::Symbolic;
        let secret = Key([3; 32]);
        let ctx = InitContext {
            cfg: &cfg,
            secret: &secret,
            persisted_epoch: 0,
            now: Instant::ZERO,
            authentic: true,
        };
        let header = Header { sid: cfg.sid, dst_tag: 0, epoch: 1, pn: 0 };
        let init = |initiator, responder| Init {
            tag_i: 5,
            nonce_i: Nonce([1; 16]),
            initiator: name(initiator),
            responder: name(responder),
            params: cfg.params,
            padding: 0,
        };
        assert!(answer_init(&ctx, &header, &init(b"alpha", b"beta"), 10_000).is_ok());
        let pairs: [(&[u8], &[u8]); 3] = [(b"alpha", b"gamma"), (b"gamma", b"beta"), (b"beta", b"alpha")];
        for (i, r) in pairs {
            assert_eq!(
                answer_init(&ctx, &header, &init(i, r), 10_000),
                Err(Refusal::Drop(DropReason::WrongPeer)),
                "{:?} -> {:?}",
                core::str::from_utf8(i),
                core::str::from_utf8(r)
            );
        }
    }

    /// alpha (initiator) and beta (responder) on the symbolic suite, alpha's attempt, and
    /// beta's answer to its INIT: the CHALLENGE's header and body.
    fn challenged() -> (Config, Config, Key, Attempt, Header, Challenge) {
        let name = |s: &[u8]| crate::wire::PeerName::new(s).unwrap();
        let psk = crate::crypto::Psk::new(&[7u8; 16]).unwrap();
        let mut alpha = Config::new(name(b"alpha"), name(b"beta"), psk.clone());
        let mut beta = Config::new(name(b"beta"), name(b"alpha"), psk);
        alpha.suite = Suite::Symbolic;
        beta.suite = Suite::Symbolic;
        let secret = Key([3; 32]);
        let attempt =
            Attempt { tag_i: 5, nonce_i: Nonce([1; 16]), epoch: 1, retransmits: 0, stage: Stage::InitSent };
        let init = build_init(&alpha, &attempt);
        let Ok(Pdu { header, body: Body::Init(body), .. }) = Pdu::decode(&init) else { panic!("an INIT") };
        let ctx = InitContext {
            cfg: &beta,
            secret: &secret,
            persisted_epoch: 0,
            now: Instant::from_micros(1_000_000),
            authentic: true,
        };
        let challenge = answer_init(&ctx, &header, &body, init.len()).unwrap();
        let Ok(Pdu { header, body: Body::Challenge(ch), .. }) = Pdu::decode(&challenge) else {
            panic!("a CHALLENGE")
        };
        (alpha, beta, secret, attempt, header, ch)
    }

    /// The initiator's checks on a CHALLENGE, one broken field at a time.
    #[test]
    fn check_challenge_refuses_each_inconsistency_with_its_reason() {
        use DropReason::{BadAuth, Duplicate, Stale};
        let (alpha, _, _, attempt, header, ch) = challenged();
        let check = |attempt: &Attempt, h: &Header, ch: &Challenge, authentic| {
            check_challenge(&alpha, attempt, h, ch, Summary::default(), authentic).map(|_| ())
        };
        assert_eq!(check(&attempt, &header, &ch, true), Ok(()));
        let confirming = check_challenge(&alpha, &attempt, &header, &ch, Summary::default(), true).unwrap();
        let confirm_sent = Attempt { stage: Stage::ConfirmSent(Box::new(confirming)), ..attempt.clone() };
        assert_eq!(check(&confirm_sent, &header, &ch, true), Err(Refusal::Drop(Duplicate)));
        assert_eq!(check(&attempt, &Header { dst_tag: 6, ..header }, &ch, true), Err(Refusal::Drop(Stale)));
        let later = Attempt { epoch: header.epoch + 1, ..attempt.clone() };
        assert_eq!(
            check(&later, &header, &ch, true),
            Err(Refusal::Drop(BadAuth)),
            "epoch below the attempt's"
        );
        assert_eq!(check(&attempt, &header, &ch, false), Err(Refusal::Drop(BadAuth)), "trailer failed");

        type Edit = fn(&mut Challenge);
        let cases: [(&str, Edit, Refusal); 10] = [
            ("nonce_i", |c| c.nonce_i = Nonce([9; 16]), Refusal::Drop(Stale)),
            ("cookie.tag_i", |c| c.cookie.tag_i ^= 1, Refusal::Drop(Stale)),
            ("cookie.tag_r", |c| c.cookie.tag_r ^= 1, Refusal::Drop(BadAuth)),
            ("cookie.nonce_r", |c| c.cookie.nonce_r = Nonce([9; 16]), Refusal::Drop(BadAuth)),
            ("cookie.nonce_i", |c| c.cookie.nonce_i = Nonce([9; 16]), Refusal::Drop(BadAuth)),
            ("cookie.epoch", |c| c.cookie.epoch += 1, Refusal::Drop(BadAuth)),
            ("cookie.params", |c| c.cookie.params.msg_window -= 1, Refusal::Drop(BadAuth)),
            (
                "params above ours",
                |c| {
                    c.params.max_datagram += 1;
                    c.cookie.params = c.params;
                },
                Refusal::Drop(BadAuth),
            ),
            ("proof_r", |c| c.proof_r.0[0] ^= 1, Refusal::AuthFailed),
            ("tag_r (under the proof)", |c| c.tag_r ^= 1, Refusal::Drop(BadAuth)),
        ];
        for (what, edit, want) in cases {
            let mut bad = ch.clone();
            edit(&mut bad);
            assert_eq!(check(&attempt, &header, &bad, true), Err(want), "{what}");
        }
    }

    /// The responder's checks on a CONFIRM, one broken field at a time, and the cookie's
    /// lifetime to the microsecond.
    #[test]
    fn check_confirm_refuses_each_defect_with_its_reason() {
        use DropReason::{BadAuth, BadCookie, Stale, WrongPeer};
        let (alpha, beta, secret, attempt, header, ch) = challenged();
        let confirming = check_challenge(&alpha, &attempt, &header, &ch, Summary::default(), true).unwrap();
        let attempt = Attempt { epoch: header.epoch, ..attempt };
        let datagram = build_confirm(&alpha, &attempt, &confirming);
        let issued = Instant::from_micros(ch.cookie.issued);
        let check = |now: Instant, datagram: &Bytes| {
            let raw = RawPdu::parse(datagram).unwrap();
            let Ok(Pdu { header, body: Body::Confirm(c), .. }) = Pdu::decode(datagram) else { panic!() };
            check_confirm(&beta, &secret, now, &header, &c, datagram, &raw)
                .map(|p| (p.id.peer_tag, p.id.local_tag, p.id.epoch))
        };
        let ok = Ok((attempt.tag_i, ch.tag_r, header.epoch));
        assert_eq!(check(issued, &datagram), ok);
        assert_eq!(check(issued + beta.cookie_lifetime, &datagram), ok, "the last valid microsecond");
        let late = issued + beta.cookie_lifetime + Duration::from_micros(1);
        assert_eq!(check(late, &datagram), Err(Refusal::Drop(BadCookie)), "expired");
        let early = Instant::from_micros(ch.cookie.issued - 1);
        assert_eq!(check(early, &datagram), Err(Refusal::Drop(BadCookie)), "issued in the future");

        // Re-encode a CONFIRM with one thing changed, sealed under the right key.
        let reseal = |edit: &dyn Fn(&mut Header, &mut Confirm)| {
            let Ok(Pdu { mut header, body: Body::Confirm(mut c), .. }) = Pdu::decode(&datagram) else {
                panic!()
            };
            edit(&mut header, &mut c);
            seal(alpha.suite, &confirming.keys.send.handshake, header, Body::Confirm(c))
        };
        type Edit<'a> = &'a dyn Fn(&mut Header, &mut Confirm);
        let cases: [(&str, Edit<'_>, Refusal); 6] = [
            ("dst_tag", &|h, _| h.dst_tag ^= 1, Refusal::Drop(Stale)),
            ("epoch", &|h, _| h.epoch += 1, Refusal::Drop(Stale)),
            ("cookie mac", &|_, c| c.cookie.mac.0[0] ^= 1, Refusal::Drop(BadCookie)),
            ("cookie key id", &|_, c| c.cookie.key_id ^= 1, Refusal::Drop(BadCookie)),
            (
                "initiator",
                &|_, c| c.initiator = crate::wire::PeerName::new(b"gamma").unwrap(),
                Refusal::Drop(WrongPeer),
            ),
            ("proof_i", &|_, c| c.proof_i.0[0] ^= 1, Refusal::AuthFailed),
        ];
        for (what, edit, want) in cases {
            assert_eq!(check(issued, &reseal(edit)), Err(want), "{what}");
        }
        let mut trailer = datagram.to_vec();
        *trailer.last_mut().unwrap() ^= 1;
        assert_eq!(check(issued, &Bytes::from(trailer)), Err(Refusal::Drop(BadAuth)), "trailer");
    }
}
