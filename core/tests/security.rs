//! Security: authenticated associations and hostile input, with the real crypto suite
//! (HMAC-SHA256, HKDF-SHA256, ChaCha20-Poly1305) unless a test says otherwise.
//!
//! The attacker here can read, replay, alter, forge and flood datagrams, and knows
//! everything but the PSK (and the responder's local secret). See the README's "Security"
//! section for the threat model and `PROTOCOL.md` for the key schedule.
#![cfg(feature = "rustcrypto")]

mod common;
use assoc_core::Verdict;

use assoc_core::crypto::{KeySchedule, Transcript};
use assoc_core::sim::{Impairments, Ledger, Pair};
use assoc_core::wire::{
    AbortReason, AuthTag, Body, Challenge, CloseReason, Confirm, Cookie, Frame, Header, Init, Nonce, Pdu,
    PduType, RawPdu, Summary,
};
use assoc_core::{
    AuthStage, Config, ConfigError, DropReason, Duration, Event, InitBudget, InitRateLimiter, Input, Instant,
    Priority, Psk, Session, SessionState, Submission, Suite,
};
use bytes::Bytes;
use common::{configs_with, name, Manual};

const REAL: Suite = Suite::ChaCha20Poly1305;

fn real_manual() -> Manual {
    let (a, b) = configs_with(REAL);
    Manual::with(a, b)
}

/// Everything a session counted as refused: drops by any reason, undecodable datagrams, and
/// INITs that failed authentication (answered statelessly).
fn refusals(s: &Session) -> u64 {
    let st = s.stats();
    st.dropped.iter().sum::<u64>() + st.undecodable + st.init_auth_failures
}

fn flip(d: &Bytes, bit: usize) -> Bytes {
    let mut v = d.to_vec();
    v[bit / 8] ^= 1 << (bit % 8);
    Bytes::from(v)
}

fn ups(events: &[Event]) -> usize {
    events.iter().filter(|e| matches!(e, Event::AssociationUp { .. })).count()
}

fn auth_failures(events: &[Event]) -> Vec<AuthStage> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::AuthenticationFailed { stage } => Some(*stage),
            _ => None,
        })
        .collect()
}

/// A full handshake opened by alpha, one datagram at a time: INIT, CHALLENGE, CONFIRM,
/// ACCEPT. Returns the manual harness with both sides established.
fn handshake(m: &mut Manual) {
    m.input(0, Input::Open).unwrap();
    m.deliver(0, 0).unwrap(); // INIT → CHALLENGE
    m.deliver(1, 0).unwrap(); // CHALLENGE → CONFIRM
    m.deliver(0, 1).unwrap(); // CONFIRM → ACCEPT (+ beta's first packets)
    m.deliver(1, 1).unwrap(); // ACCEPT
    assert_eq!(m.s[0].state(), SessionState::Established);
    assert_eq!(m.s[1].state(), SessionState::Established);
}

fn established() -> (Manual, [usize; 2]) {
    let mut m = real_manual();
    handshake(&mut m);
    let mut d = [2, 2];
    m.exchange(&mut d);
    (m, d)
}

fn submission(app_id: u64, bytes: Bytes) -> Submission {
    Submission { app_id, priority: Priority::Normal, deadline: None, bytes }
}

// ----- wrong keys -----

#[test]
fn wrong_psk_on_either_side_never_associates_and_both_sides_report_it() {
    for wrong_side in 0..2 {
        let (mut a, mut b) = configs_with(REAL);
        let other = Psk::from_hex("ffeeddccbbaa99887766554433221100").unwrap();
        if wrong_side == 0 {
            a.psk = other;
        } else {
            b.psk = other;
        }
        let mut p = Pair::new(a, b, Impairments::none(), 5).unwrap();
        p.link_up_now();
        p.input(0, Input::Open);
        p.run_for(Duration::from_secs(120));
        for side in 0..2 {
            assert_eq!(ups(&p.events[side]), 0, "wrong PSK at {wrong_side}: side {side} associated");
            assert!(p.sessions[side].association().is_none());
        }
        // The responder could not verify the INIT; the initiator could not verify proof_R.
        let responder = auth_failures(&p.events[1]);
        let initiator = auth_failures(&p.events[0]);
        assert!(!responder.is_empty() && responder.iter().all(|s| *s == AuthStage::Init), "{responder:?}");
        assert!(
            !initiator.is_empty() && initiator.iter().all(|s| *s == AuthStage::Challenge),
            "{initiator:?}"
        );
        assert_eq!(p.sessions[1].stats().init_auth_failures, responder.len() as u64);
        assert!(p.sessions[0].stats().dropped(DropReason::BadAuth) >= initiator.len() as u64);
        assert_eq!(p.corrupting_drops, 0);
    }
}

#[test]
fn a_challenge_to_an_altered_init_never_completes() {
    // An active attacker rewrites the proposed parameters of an authentic INIT. The
    // responder answers (it cannot tell an altered INIT from a wrong PSK) but with a
    // proof that never verifies, so the altered handshake cannot complete.
    let mut m = real_manual();
    m.input(0, Input::Open).unwrap();
    let init = Pdu::decode(&m.sent[0][0]).unwrap();
    let Body::Init(mut body) = init.body.clone() else { panic!("not an INIT") };
    body.params.max_datagram = 512;
    let altered = Pdu { body: Body::Init(body), ..init }.to_bytes();
    let alpha = m.s[0].clone();
    assert_eq!(
        m.input(1, Input::Datagram { from: Manual::remote(0), datagram: altered }),
        Ok(Verdict::Answered)
    );
    assert_eq!(auth_failures(&m.events[1]), [AuthStage::Init]);
    let challenge = m.sent[1].last().unwrap().clone();
    let Body::Challenge(ch) = Pdu::decode(&challenge).unwrap().body else { panic!("not a CHALLENGE") };
    assert_eq!(ch.proof_r, AuthTag::default(), "no proof over a transcript the attacker chose");
    assert_eq!(
        m.input(0, Input::Datagram { from: Manual::remote(1), datagram: challenge }),
        Ok(Verdict::Dropped(DropReason::BadAuth))
    );
    assert_eq!(auth_failures(&m.events[0]), [AuthStage::Challenge]);
    assert!(m.s[0] == alpha, "the initiator is still waiting for a genuine CHALLENGE");
    // The genuine INIT still gets through.
    m.deliver(0, 0).unwrap();
    let mut d = [1, 1];
    m.exchange(&mut d);
    assert_eq!(m.s[0].state(), SessionState::Established);
}

// ----- replay -----

#[test]
fn a_recorded_handshake_replayed_later_never_completes() {
    let mut m = real_manual();
    handshake(&mut m);
    let recorded: Vec<(usize, Bytes)> = vec![
        (0, m.sent[0][0].clone()), // INIT
        (1, m.sent[1][0].clone()), // CHALLENGE
        (0, m.sent[0][1].clone()), // CONFIRM
        (1, m.sent[1][1].clone()), // ACCEPT
    ];
    let packets: Vec<(usize, Bytes)> =
        (0..2).flat_map(|s| m.sent[s][2..].iter().map(move |d| (s, d.clone()))).collect();
    let ups_before = [ups(&m.events[0]), ups(&m.events[1])];
    // The link drops: the association is gone on both sides; only the epoch survives.
    for side in 0..2 {
        m.input(side, Input::LinkDown).unwrap();
        m.input(side, Input::LinkUp { peer: Some(Manual::remote(1 - side)) }).unwrap();
    }
    let replay_all = |m: &mut Manual| {
        for (from, d) in recorded.iter().chain(&packets) {
            let to = 1 - from;
            let before = m.s[to].clone();
            let sent = m.sent[to].len();
            let _ = m.input(to, Input::Datagram { from: Manual::remote(1 - to), datagram: d.clone() });
            assert!(m.s[to] == before, "a replayed datagram changed side {to}");
            // Only stateless answers may leave: a CHALLENGE to the INIT, a STALE to the CONFIRM.
            for answer in &m.sent[to][sent..] {
                let ty = RawPdu::parse(answer).unwrap().ty;
                assert!(matches!(ty, PduType::Challenge | PduType::Stale), "answered with {ty:?}");
            }
        }
    };
    // Soon after: the cookie is still fresh, but the epoch has moved on: STALE, never ACCEPT.
    m.now += Duration::from_secs(5);
    replay_all(&mut m);
    let stale = m.sent[1].last().unwrap();
    assert_eq!(RawPdu::parse(stale).unwrap().ty, PduType::Stale);
    // Later: the cookie has expired.
    m.now += Duration::from_secs(120);
    let confirm = recorded[2].1.clone();
    assert_eq!(
        m.input(1, Input::Datagram { from: Manual::remote(0), datagram: confirm.clone() }),
        Ok(Verdict::Dropped(DropReason::BadCookie))
    );
    replay_all(&mut m);
    // After a restart the responder's cookie secret is new: the cookie is not its own.
    let (_, b) = configs_with(REAL);
    m.s[1] = Session::restore(b, m.s[1].store().clone(), 99).unwrap();
    m.now = Instant::from_micros(1_000_000);
    assert_eq!(
        m.input(1, Input::Datagram { from: Manual::remote(0), datagram: confirm }),
        Ok(Verdict::Dropped(DropReason::BadCookie))
    );
    // While the initiator runs a new attempt, none of the old PDUs advances it.
    m.input(0, Input::Open).unwrap();
    replay_all(&mut m);
    assert_eq!([ups(&m.events[0]), ups(&m.events[1])], ups_before, "no replay established anything");
}

// ----- tampering -----

/// Delivers every single-bit variant of `d` to side `to` of a copy of `m`, and checks that
/// each is refused and counted and leaves the session exactly as it was. An INIT (answered
/// statelessly) may draw a CHALLENGE, which must in turn leave the initiator unchanged;
/// failed proofs may be reported as `AuthenticationFailed`.
fn every_flip_is_refused(m: &Manual, to: usize, d: &Bytes, what: &str) -> u64 {
    let mut refused = 0;
    for bit in 0..d.len() * 8 {
        let mut m = m.clone();
        let before = m.s[to].clone();
        let counted = refusals(&m.s[to]);
        let (sent, events) = (m.sent[to].len(), m.events[to].len());
        let r = m.input(to, Input::Datagram { from: Manual::remote(1 - to), datagram: flip(d, bit) });
        let at = format!("{what} bit {bit}: {r:?}");
        assert!(m.s[to] == before, "{at}: state changed");
        assert!(refusals(&m.s[to]) > counted, "{at}: not counted");
        assert!(
            m.events[to][events..].iter().all(|e| matches!(e, Event::AuthenticationFailed { .. })),
            "{at}: events {:?}",
            &m.events[to][events..]
        );
        let answers: Vec<Bytes> = m.sent[to][sent..].to_vec();
        let ty = RawPdu::parse(d).unwrap().ty;
        if ty == PduType::Init {
            assert!(answers.len() <= 1, "{at}");
            for challenge in answers {
                let initiator = m.s[1 - to].clone();
                let _ = m.input(
                    1 - to,
                    Input::Datagram { from: Manual::remote(1 - (1 - to)), datagram: challenge },
                );
                assert!(m.s[1 - to] == initiator, "{at}: its CHALLENGE advanced the initiator");
            }
        } else {
            assert!(answers.is_empty(), "{at}: answered");
        }
        refused += 1;
    }
    refused
}

#[test]
fn any_single_bit_flip_in_any_handshake_pdu_is_dropped_and_counted() {
    let mut m = real_manual();
    m.input(0, Input::Open).unwrap();
    let mut flips = 0;
    flips += every_flip_is_refused(&m, 1, &m.sent[0][0].clone(), "INIT");
    m.deliver(0, 0).unwrap();
    flips += every_flip_is_refused(&m, 0, &m.sent[1][0].clone(), "CHALLENGE");
    m.deliver(1, 0).unwrap();
    flips += every_flip_is_refused(&m, 1, &m.sent[0][1].clone(), "CONFIRM");
    m.deliver(0, 1).unwrap();
    flips += every_flip_is_refused(&m, 0, &m.sent[1][1].clone(), "ACCEPT");
    m.deliver(1, 1).unwrap();
    assert_eq!(m.s[0].state(), SessionState::Established, "the genuine PDUs still work");

    // STALE: beta opens, alpha answers, then alpha opens itself at the same epoch and, as
    // the tie-break loser's CONFIRM arrives, answers STALE.
    let mut m = real_manual();
    m.input(1, Input::Open).unwrap();
    m.deliver(1, 0).unwrap(); // beta's INIT → alpha's CHALLENGE
    m.input(0, Input::Open).unwrap(); // alpha's own attempt at epoch 1
    m.deliver(0, 0).unwrap(); // CHALLENGE → beta's CONFIRM
    m.deliver(1, 1).unwrap(); // CONFIRM → alpha's STALE
    let stale = m.sent[0].last().unwrap().clone();
    assert_eq!(RawPdu::parse(&stale).unwrap().ty, PduType::Stale);
    flips += every_flip_is_refused(&m, 1, &stale, "STALE");
    println!("{flips} flipped handshake PDUs refused");
}

#[test]
fn any_single_bit_flip_in_any_packet_is_dropped_and_counted() {
    // Each packet is flipped before its genuine copy arrives, so every variant meets the
    // very state the genuine packet would.
    let (mut m, d) = established();
    m.s[0].submit(m.now, submission(1, Bytes::from(vec![0x5a; 3000]))).unwrap();
    m.drain(0);
    let data = m.sent[0][d[0]..].to_vec();
    assert!(data.len() >= 3);
    let mut flips = 0;
    for (k, p) in data.iter().enumerate() {
        flips += every_flip_is_refused(&m, 1, p, "DATA packet");
        m.deliver(0, d[0] + k).unwrap();
    }
    let ack = m.sent[1].last().unwrap().clone();
    assert!(Pdu::decode(&ack).is_err(), "packet bodies are encrypted");
    flips += every_flip_is_refused(&m, 0, &ack, "ACK packet");
    m.input(0, Input::Release).unwrap();
    let close = m.sent[0].last().unwrap().clone();
    flips += every_flip_is_refused(&m, 1, &close, "CLOSE packet");
    m.input(1, Input::Abort).unwrap();
    let abort = m.sent[1].last().unwrap().clone();
    flips += every_flip_is_refused(&m, 0, &abort, "ABORT packet");
    // The genuine ABORT still works.
    m.input(0, Input::Datagram { from: Manual::remote(1), datagram: abort }).unwrap();
    assert_eq!(m.s[0].association(), None);
    println!("{flips} flipped packets refused");
}

// ----- forgery -----

/// A PACKET that looks like alpha's next one (same tags, epoch, a fresh pn) carrying
/// `frames`, authenticated under a key the attacker made up.
fn forged_packet(template: &Bytes, pn: u64, frames: Vec<Frame>, key_guess: u8) -> Bytes {
    let raw = RawPdu::parse(template).unwrap();
    let header = Header { pn, ..raw.header };
    Pdu { header, body: Body::Packet(frames), auth: AuthTag([key_guess; 16]) }.to_bytes()
}

#[test]
fn forged_abort_and_close_with_a_wrong_mac_are_ignored_and_the_transfer_continues() {
    let (mut m, mut d) = established();
    let content: Bytes = (0..20_000u32).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into();
    m.s[0].submit(m.now, submission(7, content.clone())).unwrap();
    m.drain(0);
    let template = m.sent[0].last().unwrap().clone();
    // The same frames sealed by a session holding another PSK: a real AEAD tag, wrong key.
    let (mut ea, mut eb) = configs_with(REAL);
    ea.psk = Psk::new(b"the attacker's own key").unwrap();
    eb.psk = ea.psk.clone();
    let mut evil = Manual::with(ea, eb);
    handshake(&mut evil);
    let evil_abort =
        evil.s[0].seal_raw_packet(evil.now, vec![Frame::Abort { reason: AbortReason::Requested }]);
    let evil_abort = evil_abort.unwrap();
    let mut forgeries = Vec::new();
    for k in 0..32u64 {
        let pn = RawPdu::parse(&template).unwrap().header.pn + 1 + k;
        let frames = match k % 4 {
            0 => vec![Frame::Abort { reason: AbortReason::Requested }],
            1 => vec![Frame::Close { reason: CloseReason::Requested }],
            2 => vec![Frame::CloseAck, Frame::Abort { reason: AbortReason::ProtocolViolation }],
            _ => vec![Frame::Close { reason: CloseReason::Shutdown }],
        };
        forgeries.push(forged_packet(&template, pn, frames, k as u8));
        // The attacker's correctly sealed ABORT, re-addressed to the real association.
        let raw = RawPdu::parse(&template).unwrap();
        let mut v = evil_abort.to_vec();
        v[..36].copy_from_slice(&template[..36]);
        v[24..32].copy_from_slice(&(raw.header.pn + 100 + k).to_be_bytes());
        v[32..36].copy_from_slice(&((evil_abort.len() - 52) as u32).to_be_bytes());
        forgeries.push(Bytes::from(v));
    }
    for (k, f) in forgeries.into_iter().enumerate() {
        let before = m.s[1].clone();
        assert_eq!(
            m.input(1, Input::Datagram { from: Manual::remote(0), datagram: f }),
            Ok(Verdict::Dropped(DropReason::BadAuth)),
            "forgery {k}"
        );
        assert!(m.s[1] == before);
        // Interleave with the genuine transfer.
        if k % 8 == 0 {
            m.exchange(&mut d);
        }
    }
    for _ in 0..50 {
        m.exchange(&mut d);
        if m.events[1].iter().any(|e| matches!(e, Event::Delivered { .. })) {
            break;
        }
        m.tick();
    }
    assert!(m.events[1].contains(&Event::Delivered { msn: 0, app_id: 7, bytes: content }));
    for side in 0..2 {
        assert!(!m.events[side].iter().any(|e| matches!(e, Event::AssociationDown { .. })), "{side}");
        assert_eq!(m.s[side].state(), SessionState::Established);
    }
    assert_eq!(m.s[1].stats().dropped(DropReason::BadAuth), 64);
}

#[test]
fn an_off_path_sender_guessing_tags_is_dropped() {
    let (mut m, mut d) = established();
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let params = m.s[0].config().params;
    for k in 0..2000u64 {
        for to in 0..2 {
            let guess = next();
            // Half the guesses hit the receiver's real tag and epoch: they still need the key.
            let info = m.s[to].association().unwrap();
            let (dst_tag, epoch) =
                if k % 2 == 0 { (info.id.local_tag, info.id.epoch) } else { (guess | 1, guess % 5) };
            let nonce = Nonce(guess.to_be_bytes().repeat(2).try_into().unwrap());
            let cookie = Cookie {
                tag_i: guess | 1,
                tag_r: dst_tag,
                nonce_i: nonce,
                nonce_r: nonce,
                epoch,
                params,
                issued: 0,
                key_id: 0,
                mac: AuthTag(nonce.0),
            };
            let summary = Summary::default();
            let (body, pn) = match (k / 2) % 5 {
                0 => (Body::Packet(vec![Frame::Abort { reason: AbortReason::Requested }]), guess >> 1),
                1 => (Body::Accept(assoc_core::wire::Accept { summary }), 0),
                2 => (Body::Stale(assoc_core::wire::Stale { current_epoch: guess }), 0),
                3 => {
                    let proof_i = AuthTag([1; 16]);
                    (Body::Confirm(Confirm { cookie, initiator: name("alpha"), proof_i, summary }), 0)
                }
                _ => {
                    let proof_r = AuthTag([2; 16]);
                    let (tag_r, nonce_r, nonce_i) = (guess | 1, nonce, nonce);
                    (Body::Challenge(Challenge { tag_r, nonce_r, nonce_i, params, cookie, proof_r }), 0)
                }
            };
            let header = Header { sid: 1, dst_tag, epoch, pn };
            let forged = Pdu { header, body, auth: AuthTag(nonce.0) }.to_bytes();
            let before = m.s[to].clone();
            let r = m.input(to, Input::Datagram { from: Manual::remote(1 - to), datagram: forged });
            assert!(matches!(r, Ok(Verdict::Dropped(_))), "guess {k} to {to}: {r:?}");
            assert!(m.s[to] == before);
        }
    }
    m.exchange(&mut d);
    for side in 0..2 {
        assert_eq!(m.s[side].state(), SessionState::Established);
        assert!(m.events[side].iter().all(|e| !matches!(e, Event::AuthenticationFailed { .. })));
        let s = m.s[side].stats();
        assert!(s.dropped(DropReason::BadAuth) >= 200 && s.dropped(DropReason::Stale) >= 200, "{s:?}");
    }
}

// ----- floods and amplification -----

fn forged_init(cfg: &Config, seed: u64) -> Bytes {
    let init = Init {
        tag_i: seed | 1,
        nonce_i: Nonce([(seed >> 8) as u8; 16]),
        initiator: cfg.peer_name,
        responder: cfg.local_name,
        params: cfg.params,
        padding: Init::min_padding(&cfg.peer_name, &cfg.local_name),
    };
    let header = Header { sid: cfg.sid, dst_tag: 0, epoch: seed % 7, pn: 0 };
    Pdu { header, body: Body::Init(init), auth: AuthTag([seed as u8; 16]) }.to_bytes()
}

#[test]
fn an_init_flood_costs_bounded_work_and_no_memory_and_the_association_still_forms() {
    let mut m = real_manual();
    let beta = m.s[1].config().clone();
    let InitBudget { burst, per_second } = beta.init_budget;
    let idle = m.s[1].clone();
    // Ten seconds of 1000 forged INITs a second at an idle responder.
    let mut answered = 0usize;
    for k in 0..10_000u64 {
        m.now = Instant::from_micros(k * 1000);
        let init = forged_init(&beta, k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let sent = m.sent[1].len();
        let _ = m.input(1, Input::Datagram { from: Manual::remote(0), datagram: init.clone() });
        for challenge in &m.sent[1][sent..] {
            assert!(challenge.len() <= init.len(), "amplification");
            answered += 1;
        }
        assert_eq!(m.s[1].pending_outputs(), 0);
    }
    assert!(m.s[1] == idle, "no state at all is held for an INIT: zero half-open associations");
    let bound = burst as usize + per_second as usize * 10;
    assert!(answered <= bound && answered >= burst as usize, "answered {answered}, bound {bound}");
    assert_eq!(auth_failures(&m.events[1]).len(), answered, "reports are bounded the same way");
    // Refused by the session's budget or, first, by the source's own (one source here).
    let stats = m.s[1].stats();
    assert_eq!(
        stats.dropped(DropReason::BadAuth) + stats.dropped(DropReason::SourceLimited),
        10_000 - answered as u64
    );
    assert!(stats.dropped(DropReason::SourceLimited) > 0, "the source's own budget is the tighter one");

    // The flood goes on while alpha opens: authentic INITs are never charged to the budget.
    m.input(0, Input::Open).unwrap();
    let mut d = [0, m.sent[1].len()];
    let start = m.now;
    let mut k = 10_000u64;
    while !(m.s[0].state() == SessionState::Established && m.s[1].state() == SessionState::Established) {
        for _ in 0..50 {
            k += 1;
            m.now += Duration::from_micros(200);
            let _ = m.input(
                1,
                Input::Datagram {
                    from: Manual::remote(0),
                    datagram: forged_init(&beta, k.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
                },
            );
        }
        m.exchange(&mut d);
        assert!(m.now < start + Duration::from_secs(5), "the association did not form under the flood");
    }
    assert_eq!(auth_failures(&m.events[0]), []);
}

#[test]
fn forged_confirms_with_a_harvested_cookie_cannot_flood_reports() {
    // An attacker without the PSK sends an INIT from its own address, receives a genuine
    // cookie, and replays CONFIRMs with made-up proofs: each fails the proof, and only the
    // budget's worth are reported.
    let mut m = real_manual();
    let beta = m.s[1].config().clone();
    m.input(1, Input::Datagram { from: Manual::remote(0), datagram: forged_init(&beta, 42) }).unwrap();
    let challenge = Pdu::decode(m.sent[1].last().unwrap()).unwrap();
    let Body::Challenge(ch) = challenge.body else { panic!("not a CHALLENGE") };
    let idle = m.s[1].clone();
    let mut reported = 0;
    for k in 0..1000u64 {
        let header = Header { sid: beta.sid, dst_tag: ch.tag_r, epoch: ch.cookie.epoch, pn: 0 };
        let confirm = Confirm {
            cookie: ch.cookie.clone(),
            initiator: beta.peer_name,
            proof_i: AuthTag([k as u8; 16]),
            summary: Summary::default(),
        };
        let forged = Pdu { header, body: Body::Confirm(confirm), auth: AuthTag([3; 16]) }.to_bytes();
        let events = m.events[1].len();
        let r = m.input(1, Input::Datagram { from: Manual::remote(0), datagram: forged });
        assert_eq!(r, Ok(Verdict::Dropped(DropReason::BadAuth)), "a failed proof is a drop, reported or not");
        if m.events[1].len() > events {
            reported += 1;
        }
        assert!(m.s[1] == idle);
    }
    // One token went to answering the forged INIT.
    assert_eq!(reported, beta.init_budget.burst as usize - 1);
    assert!(auth_failures(&m.events[1]).iter().skip(1).all(|s| *s == AuthStage::Confirm));
}

#[test]
fn replayed_authentic_inits_are_answered_one_for_one_and_never_amplified() {
    let mut m = real_manual();
    m.input(0, Input::Open).unwrap();
    let init = m.sent[0][0].clone();
    let idle = m.s[1].clone();
    for _ in 0..500 {
        let sent = m.sent[1].len();
        m.input(1, Input::Datagram { from: Manual::remote(0), datagram: init.clone() }).unwrap();
        assert_eq!(m.sent[1].len(), sent + 1);
        assert!(m.sent[1][sent].len() <= init.len());
        assert!(m.s[1] == idle);
    }
    // An INIT without its padding would be answered with more bytes than it has: refused.
    let Pdu { header, body: Body::Init(mut body), .. } = Pdu::decode(&init).unwrap() else { panic!() };
    body.padding = 0;
    let short = Pdu { header, body: Body::Init(body), auth: AuthTag::default() }.to_bytes();
    let before = m.s[1].clone();
    assert_eq!(
        m.input(1, Input::Datagram { from: Manual::remote(0), datagram: short }),
        Ok(Verdict::Dropped(DropReason::Amplification))
    );
    assert!(m.s[1] == before);
    // Every name length pads the INIT to at least the CHALLENGE's size.
    for (ni, nr) in [(1, 1), (1, 64), (64, 64), (13, 40)] {
        let (mut a, mut b) = configs_with(REAL);
        a.local_name = assoc_core::PeerName::new(&vec![b'a'; ni]).unwrap();
        a.peer_name = assoc_core::PeerName::new(&vec![b'b'; nr]).unwrap();
        b.local_name = a.peer_name;
        b.peer_name = a.local_name;
        let mut m = Manual::with(a, b);
        m.input(0, Input::Open).unwrap();
        m.deliver(0, 0).unwrap();
        assert!(m.sent[1][0].len() <= m.sent[0][0].len(), "{ni}/{nr}");
    }
}

#[test]
fn a_driver_keyed_rate_limiter_keeps_a_flooding_source_from_starving_the_peer() {
    // What a driver does with `InitRateLimiter`: one bucket per source address, consulted
    // for INITs before the session sees them.
    use std::collections::HashMap;
    let mut m = real_manual();
    let beta = m.s[1].config().clone();
    let mut limiters: HashMap<&str, InitRateLimiter> = HashMap::new();
    let budget = InitBudget { burst: 4, per_second: 1 };
    let mut admitted: HashMap<&str, usize> = HashMap::new();
    let mut admit = |src: &'static str, d: &Bytes, now: Instant| {
        let is_init = RawPdu::parse(d).is_ok_and(|r| r.ty == PduType::Init);
        let ok =
            !is_init || limiters.entry(src).or_insert_with(|| InitRateLimiter::new(budget)).try_acquire(now);
        if ok {
            *admitted.entry(src).or_default() += 1;
        }
        ok
    };
    m.input(0, Input::Open).unwrap();
    let genuine = m.sent[0][0].clone();
    for k in 0..5000u64 {
        m.now = Instant::from_micros(k * 1000);
        let forged = forged_init(&beta, k);
        if admit("203.0.113.9:4000", &forged, m.now) {
            let _ = m.input(1, Input::Datagram { from: Manual::remote(0), datagram: forged });
        }
        if k % 1000 == 999 && admit("198.51.100.7:102", &genuine, m.now) {
            m.input(1, Input::Datagram { from: Manual::remote(0), datagram: genuine.clone() }).unwrap();
        }
    }
    assert_eq!(admitted["198.51.100.7:102"], 5, "the peer's INITs all got through");
    assert!(admitted["203.0.113.9:4000"] <= 4 + 5, "the flooding source got its budget only");
}

// ----- cookies -----

#[test]
fn cookies_expire_and_keys_rotate() {
    let mut m = real_manual();
    let lifetime = m.s[1].config().cookie_lifetime;
    // Issue the cookie just before a key rotation; CONFIRM arrives just after it: accepted
    // under the previous key.
    m.now = Instant::from_micros(lifetime.as_micros() * 3 - 1000);
    m.input(0, Input::Open).unwrap();
    m.deliver(0, 0).unwrap();
    m.deliver(1, 0).unwrap();
    let fresh = m.clone();
    m.now += Duration::from_millis(500);
    m.deliver(0, 1).unwrap();
    assert_eq!(m.s[1].state(), SessionState::Established);
    // The same CONFIRM after the lifetime: refused, and the initiator recovers on its own.
    let mut m = fresh;
    m.now += lifetime + Duration::from_millis(1);
    assert_eq!(m.deliver(0, 1), Ok(Verdict::Dropped(DropReason::BadCookie)));
    let mut d = [2, 1];
    for _ in 0..40 {
        m.exchange(&mut d);
        m.tick();
        if m.s[0].state() == SessionState::Established && m.s[1].state() == SessionState::Established {
            break;
        }
    }
    assert_eq!(m.s[1].state(), SessionState::Established);
    // A cookie claiming to come from the future, or with a key id that does not match its
    // time, is refused.
    let Body::Challenge(ch) = Pdu::decode(&m.sent[1][0]).unwrap().body else { panic!() };
    for cookie in [
        Cookie { issued: u64::MAX / 2, ..ch.cookie.clone() },
        Cookie { key_id: ch.cookie.key_id ^ 1, ..ch.cookie },
    ] {
        let header = Header { sid: 1, dst_tag: cookie.tag_r, epoch: cookie.epoch, pn: 0 };
        let c = Confirm {
            cookie,
            initiator: name("alpha"),
            proof_i: AuthTag::default(),
            summary: Summary::default(),
        };
        let d = Pdu { header, body: Body::Confirm(c), auth: AuthTag::default() }.to_bytes();
        assert_eq!(
            m.input(1, Input::Datagram { from: Manual::remote(0), datagram: d }),
            Ok(Verdict::Dropped(DropReason::BadCookie))
        );
    }
}

// ----- confidentiality and the transfer -----

#[test]
fn payloads_never_cross_the_wire_in_clear_with_the_real_suite() {
    let marker = b"TOP-SECRET-PAYLOAD-";
    let content: Bytes = marker.iter().copied().cycle().take(5000).collect::<Vec<u8>>().into();
    for suite in [REAL, Suite::Symbolic] {
        let (a, b) = configs_with(suite);
        let mut m = Manual::with(a, b);
        handshake(&mut m);
        m.s[0].submit(m.now, submission(1, content.clone())).unwrap();
        m.drain(0);
        let mut d = [2, 2];
        for _ in 0..20 {
            m.exchange(&mut d);
        }
        assert!(m.events[1].iter().any(|e| matches!(e, Event::Delivered { .. })));
        let leaked = m.sent.iter().flatten().any(|dg| dg.windows(marker.len()).any(|w| w == marker));
        assert_eq!(leaked, suite == Suite::Symbolic, "{suite:?}");
    }
}

fn transfer_run(suite: Suite, seed: u64) -> Result<(), String> {
    let (a, b) = configs_with(suite);
    let mut p = Pair::new(a, b, Impairments::hostile(), seed).unwrap();
    let mut ledger = Ledger::default();
    p.link_up_now();
    for (i, len) in [0usize, 1, 1400, 70_000, 5].into_iter().enumerate() {
        for side in 0..2 {
            let app_id = side as u64 * 100 + i as u64;
            let bytes: Bytes = (0..len).map(|k| (k * 7 + i + side) as u8).collect::<Vec<u8>>().into();
            ledger.submitted(side, app_id, bytes.clone());
            p.input(side, Input::Submit(submission(app_id, bytes)));
        }
    }
    let done = p.run_until(Duration::from_secs(3600), |p| {
        let mut l = ledger.clone();
        l.check(p).is_ok() && l.all_resolved() && l.totals().0 == 10
    });
    ledger.check(&p).map_err(|e| format!("seed {seed}: {e}"))?;
    if !done || ledger.totals() != (10, 10) {
        return Err(format!("seed {seed}: not everything delivered: {:?}", ledger.totals()));
    }
    if p.corrupting_drops != 0 {
        return Err(format!("seed {seed}: a rejected input changed a session"));
    }
    Ok(())
}

#[test]
fn messages_transfer_exactly_once_over_a_hostile_network_with_the_real_suite() {
    let seeds = common::seeds(20);
    let failures: Vec<String> = (0..seeds).filter_map(|seed| transfer_run(REAL, seed).err()).collect();
    assert!(failures.is_empty(), "{} of {seeds} failed; first: {}", failures.len(), failures[0]);
}

// ----- the key schedule, re-computed independently -----

fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    let mut m = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key).unwrap();
    for p in parts {
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

/// HKDF-Expand for one 32-byte block: T(1) = HMAC(PRK, info || 0x01).
fn expand(prk: &[u8; 32], info: &[&[u8]]) -> [u8; 32] {
    let mut parts = info.to_vec();
    parts.push(&[1]);
    hmac(prk, &parts)
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn key_schedule_matches_the_vectors_in_protocol_md() {
    let t = Transcript {
        initiator: name("mta-a.example"),
        responder: name("mta-b.example"),
        sid: 1,
        tag_i: 0x0123_4567_89ab_cdef,
        tag_r: 0xfedc_ba98_7654_3210,
        nonce_i: Nonce(core::array::from_fn(|i| i as u8)),
        nonce_r: Nonce(core::array::from_fn(|i| 0x10 + i as u8)),
        epoch: 7,
        params: assoc_core::wire::Params {
            max_datagram: 1400,
            msg_window: 32,
            checkpoint_size: 30720,
            checkpoint_window: 5,
        },
    };
    let psk = Psk::new(&(0u8..32).collect::<Vec<u8>>()).unwrap();
    let k: KeySchedule = REAL.key_schedule(&psk, &t);
    assert_eq!(hex(&k.prk), "b077198e3ead4e92e1e9db6b4fea93abcb977ceea7d459d12ccda7b3c86490be");
    assert_eq!(hex(&k.handshake_mac), "42c47bf349c8fc8a87ffc6545b8aa60a654575ae6760ba5bc34c3c124c7953fa");
    assert_eq!(hex(&k.proof_key), "d6081a790d1de3fa2d6946f7c672147cb61c5b37de2d0b6f5ef6b04517bb8966");
    assert_eq!(hex(&k.proof_initiator), "c44b813fff6dbc7694fbbe548eb03681");
    assert_eq!(hex(&k.proof_responder), "e5c89fdb9c11aaf3f6aa93338d172c71");
    assert_eq!(hex(&k.i2r_packet), "122b02b15176f6049da872453cc40a77e75af2a3b5f0dcb3c6f61dc8ce4a103e");
    assert_eq!(hex(&k.i2r_handshake), "cb1be3c5fae9d767ae0edc4c8ad6340c53a791a27e85b6778fc5df037cdd390e");
    assert_eq!(hex(&k.r2i_packet), "10d25753490e715ef3cab6495db8435f40cb7cba37f41ece50452c53062a5e10");
    assert_eq!(hex(&k.r2i_handshake), "4d59f14647c9a60157c45f2eff997d2954a7e6bb02783a3c48d17e0d7537445a");
    // And by hand, from the text of PROTOCOL.md.
    let prk = hmac(b"assoc v1 psk", &[&(0u8..32).collect::<Vec<u8>>()]);
    assert_eq!(prk, k.prk);
    assert_eq!(expand(&prk, &[b"assoc v1 handshake mac"]), k.handshake_mac);
    assert_eq!(expand(&prk, &[b"assoc v1 i2r packet", &[0], &t.to_bytes()]), k.i2r_packet);
    assert_eq!(
        hmac(&k.proof_key, &[b"assoc v1 proof responder", &[0], &t.to_bytes()])[..16],
        k.proof_responder
    );
}

#[test]
fn an_independent_implementation_of_protocol_md_reads_a_real_association() {
    use chacha20poly1305::aead::AeadInPlace;
    use chacha20poly1305::{ChaCha20Poly1305, KeyInit};
    let (mut m, mut d) = established();
    let content = Bytes::from_static(b"hello from alpha, sealed for beta");
    m.s[0].submit(m.now, submission(5, content.clone())).unwrap();
    m.drain(0);
    // A passive observer with the PSK rebuilds the transcript from the cleartext handshake.
    let Body::Init(init) = Pdu::decode(&m.sent[0][0]).unwrap().body else { panic!() };
    let challenge = Pdu::decode(&m.sent[1][0]).unwrap();
    let Body::Challenge(ch) = challenge.body else { panic!() };
    let t = Transcript {
        initiator: init.initiator,
        responder: init.responder,
        sid: 1,
        tag_i: init.tag_i,
        tag_r: ch.tag_r,
        nonce_i: init.nonce_i,
        nonce_r: ch.nonce_r,
        epoch: challenge.header.epoch,
        params: ch.params,
    };
    let tb = t.to_bytes();
    let prk = hmac(b"assoc v1 psk", &[b"0123456789abcdef"]);
    let k_hs = expand(&prk, &[b"assoc v1 handshake mac"]);
    let k_proof = expand(&prk, &[b"assoc v1 proof"]);
    let i2r_packet = expand(&prk, &[b"assoc v1 i2r packet", &[0], &tb]);
    let i2r_handshake = expand(&prk, &[b"assoc v1 i2r handshake", &[0], &tb]);
    // INIT and CHALLENGE trailers, both proofs, the CONFIRM trailer.
    for dg in [&m.sent[0][0], &m.sent[1][0]] {
        let n = dg.len() - 16;
        assert_eq!(hmac(&k_hs, &[&dg[..n]])[..16], dg[n..]);
    }
    assert_eq!(hmac(&k_proof, &[b"assoc v1 proof responder", &[0], &tb])[..16], ch.proof_r.0);
    let confirm = &m.sent[0][1];
    let Body::Confirm(c) = Pdu::decode(confirm).unwrap().body else { panic!() };
    assert_eq!(hmac(&k_proof, &[b"assoc v1 proof initiator", &[0], &tb])[..16], c.proof_i.0);
    let n = confirm.len() - 16;
    assert_eq!(hmac(&i2r_handshake, &[&confirm[..n]])[..16], confirm[n..]);
    // Every packet alpha sent opens with ChaCha20-Poly1305 under the i2r key, nonce
    // 0x00000000 || pn, the header as associated data; one of them carries the message.
    let aead = ChaCha20Poly1305::new(&i2r_packet.into());
    let mut found = false;
    for dg in &m.sent[0][2..] {
        let raw = RawPdu::parse(dg).unwrap();
        assert_eq!(raw.ty, PduType::Packet);
        let mut nonce = [0u8; 12];
        nonce[4..].copy_from_slice(&raw.header.pn.to_be_bytes());
        let mut body = raw.body.to_vec();
        aead.decrypt_in_place_detached(&nonce.into(), &dg[..36], &mut body, &raw.auth.0.into()).unwrap();
        let Body::Packet(frames) = Body::decode(PduType::Packet, &Bytes::from(body)).unwrap() else {
            panic!()
        };
        found |= frames.iter().any(|f| matches!(f, Frame::Data(df) if df.bytes == content));
    }
    assert!(found, "the message was in one of alpha's packets");
    m.exchange(&mut d);
    assert!(m.events[1].iter().any(|e| matches!(e, Event::Delivered { app_id: 5, .. })));
}

// ----- configuration -----

#[test]
fn psk_and_name_errors_say_which_field_and_why() {
    assert_eq!(
        Config::from_text("mta-a", "mta-b", "not hex"),
        Err(ConfigError::Psk(assoc_core::PskError::NotHex { at: 0, found: 'n' }))
    );
    assert!(matches!(
        Config::from_text("mta a", "mta-b", "000102030405060708090a0b0c0d0e0f"),
        Err(ConfigError::Name { field: "local_name", .. })
    ));
    assert!(Config::from_text("MTA-A", "mta-b", "000102030405060708090A0B0C0D0E0F").is_ok());
    let c = Config::new(name("a"), name("b"), Psk::new(&[1; 16]).unwrap());
    assert_eq!(c.suite, REAL, "the real suite is the default");
    assert!(c.suite.is_secure() && !Suite::Symbolic.is_secure());
}
