//! Remotes (issue 14): where the core sends, and when the peer's remote moves. A stateless
//! answer goes back to the PDU it answers; association traffic goes to the peer's remote,
//! which moves only on a PDU that proved the key — never on an INIT, a replay, or a CONFIRM
//! whose proof fails. Table-style: each row delivers one PDU from one remote and states
//! the verdict, where the answers went, and the peer's remote after.
#![cfg(feature = "rustcrypto")]

mod common;

use assoc_core::wire::{AuthTag, Body, Confirm, Header, Init, Nonce, Pdu, PduType, RawPdu, Summary};
use assoc_core::{Config, DropReason, Input, Priority, Remote, Submission, Suite, Verdict};
use bytes::Bytes;
use common::{configs_with, Manual};

const ALPHA: Remote = Remote::Conn(0);
const ATTACKER: Remote = Remote::Conn(66);
const MOVED: Remote = Remote::Conn(7);

fn ty(d: &Bytes) -> PduType {
    RawPdu::parse(d).expect("a pdu").ty
}

/// alpha (peer beta configured) and beta listening with no peer remote (the CLI's
/// `serve`), the real crypto suite; alpha opens and both sides establish.
fn established() -> Manual {
    let (a, b) = configs_with(Suite::ChaCha20Poly1305);
    let mut m = Manual::with(a, b);
    // Manual::with brought beta up with a peer; a listener has none.
    let (_, b) = configs_with(Suite::ChaCha20Poly1305);
    m.s[1] = assoc_core::Session::new(b, 22).unwrap();
    m.sent[1].clear();
    m.sent_to[1].clear();
    assert_eq!(m.input(1, Input::LinkUp { peer: None }), Ok(Verdict::Accepted));
    assert_eq!(m.s[1].peer_remote(), None);
    m.input(0, Input::Open).unwrap();
    let mut d = [0, 0];
    m.exchange(&mut d);
    assert!(m.s.iter().all(|s| s.association().is_some_and(|a| a.usable)), "established");
    assert_eq!(m.s[1].peer_remote(), Some(ALPHA), "the authentic CONFIRM's source");
    m
}

/// An INIT made by someone without the PSK (its MAC fails).
fn forged_init(cfg: &Config) -> Bytes {
    let init = Init {
        tag_i: 0x5151,
        nonce_i: Nonce([9; 16]),
        initiator: cfg.peer_name,
        responder: cfg.local_name,
        params: cfg.params,
        padding: Init::min_padding(&cfg.peer_name, &cfg.local_name),
    };
    let header = Header { sid: cfg.sid, dst_tag: 0, epoch: 1, pn: 0 };
    Pdu { header, body: Body::Init(init), auth: AuthTag([1; 16]) }.to_bytes()
}

/// The first datagram of type `t` side `i` sent.
fn first(m: &Manual, i: usize, t: PduType) -> Bytes {
    m.sent[i].iter().find(|d| ty(d) == t).cloned().expect("sent")
}

/// alpha queues a message; returns its first new PACKET (not yet delivered).
fn alpha_packet(m: &mut Manual) -> Bytes {
    let before = m.sent[0].len();
    let s = Submission {
        app_id: 1,
        priority: Priority::Normal,
        deadline: None,
        bytes: Bytes::from_static(b"hi"),
    };
    m.input(0, Input::Submit(s)).unwrap();
    m.sent[0][before..].iter().find(|d| ty(d) == PduType::Packet).cloned().expect("a packet")
}

struct Row {
    what: &'static str,
    to: usize,
    from: Remote,
    datagram: Bytes,
    verdict: Verdict,
    /// Where every datagram the receiver sent in answer went.
    answers_to: Option<Remote>,
    peer_after: Remote,
}

fn run(m: &mut Manual, rows: Vec<Row>) {
    for r in rows {
        let before = m.sent[r.to].len();
        let got = m.input(r.to, Input::Datagram { from: r.from, datagram: r.datagram });
        assert_eq!(got, Ok(r.verdict), "{}", r.what);
        let answered: Vec<Remote> = m.sent_to[r.to][before..].to_vec();
        match r.answers_to {
            Some(to) => {
                assert!(answered.iter().all(|t| *t == to) && !answered.is_empty(), "{}: {answered:?}", r.what)
            }
            None => assert!(answered.iter().all(|t| *t == r.peer_after), "{}: {answered:?}", r.what),
        }
        assert_eq!(m.s[r.to].peer_remote(), Some(r.peer_after), "{}", r.what);
    }
}

#[test]
fn a_forged_confirm_with_a_harvested_cookie_never_diverts_traffic() {
    let mut m = established();
    let beta = m.s[1].config().clone();
    let init = forged_init(&beta);
    // The attacker's INIT is answered (its CHALLENGE carries a genuine cookie) — there.
    run(
        &mut m,
        vec![Row {
            what: "forged INIT",
            to: 1,
            from: ATTACKER,
            datagram: init,
            verdict: Verdict::Answered,
            answers_to: Some(ATTACKER),
            peer_after: ALPHA,
        }],
    );
    let challenge = Pdu::decode(m.sent[1].last().unwrap()).unwrap();
    let Body::Challenge(ch) = challenge.body else { panic!("not a CHALLENGE") };
    let header = Header { sid: beta.sid, dst_tag: ch.tag_r, epoch: ch.cookie.epoch, pn: 0 };
    let confirm = Confirm {
        cookie: ch.cookie.clone(),
        initiator: beta.peer_name,
        proof_i: AuthTag([7; 16]),
        summary: Summary::default(),
    };
    let forged = Pdu { header, body: Body::Confirm(confirm), auth: AuthTag([3; 16]) }.to_bytes();
    run(
        &mut m,
        vec![Row {
            what: "CONFIRM with the real cookie and a wrong proof",
            to: 1,
            from: ATTACKER,
            datagram: forged,
            verdict: Verdict::Dropped(DropReason::BadAuth),
            answers_to: None,
            peer_after: ALPHA,
        }],
    );
    // Everything beta sends from now on goes to alpha.
    let before = m.sent[1].len();
    let packet = alpha_packet(&mut m);
    m.input(1, Input::Datagram { from: ALPHA, datagram: packet }).unwrap();
    m.tick();
    assert!(m.sent_to[1][before..].iter().all(|t| *t == ALPHA), "{:?}", &m.sent_to[1][before..]);
    assert!(m.sent[1].len() > before, "beta answered the packet");
}

#[test]
fn replays_from_another_remote_are_answered_there_and_move_nothing() {
    let mut m = established();
    let init = first(&m, 0, PduType::Init);
    let confirm = first(&m, 0, PduType::Confirm);
    let accept = first(&m, 1, PduType::Accept);
    let packet = alpha_packet(&mut m);
    run(
        &mut m,
        vec![
            Row {
                what: "the packet, from alpha",
                to: 1,
                from: ALPHA,
                datagram: packet.clone(),
                verdict: Verdict::Accepted,
                answers_to: None,
                peer_after: ALPHA,
            },
            Row {
                what: "a replayed INIT",
                to: 1,
                from: ATTACKER,
                datagram: init,
                verdict: Verdict::Answered,
                answers_to: Some(ATTACKER),
                peer_after: ALPHA,
            },
            Row {
                what: "a replayed authentic CONFIRM (answered with another ACCEPT, there)",
                to: 1,
                from: ATTACKER,
                datagram: confirm,
                verdict: Verdict::Answered,
                answers_to: Some(ATTACKER),
                peer_after: ALPHA,
            },
            Row {
                what: "a replayed authentic packet",
                to: 1,
                from: ATTACKER,
                datagram: packet,
                verdict: Verdict::Dropped(DropReason::Replay),
                answers_to: None,
                peer_after: ALPHA,
            },
            Row {
                what: "a replayed authentic ACCEPT at the initiator",
                to: 0,
                from: ATTACKER,
                datagram: accept,
                verdict: Verdict::Dropped(DropReason::Duplicate),
                answers_to: None,
                peer_after: Remote::Conn(1),
            },
        ],
    );
}

#[test]
fn an_authentic_peer_that_moves_is_followed_from_its_first_new_packet() {
    let mut m = established();
    let packet = alpha_packet(&mut m);
    run(
        &mut m,
        vec![Row {
            what: "alpha's packet from a new port",
            to: 1,
            from: MOVED,
            datagram: packet,
            verdict: Verdict::Accepted,
            answers_to: None,
            peer_after: MOVED,
        }],
    );
    let before = m.sent[1].len();
    m.tick();
    assert!(m.sent[1].len() > before, "beta acknowledges");
    assert!(m.sent_to[1][before..].iter().all(|t| *t == MOVED));
}

#[test]
fn an_initiator_without_a_peer_remote_cannot_open_and_says_so() {
    let (a, _) = configs_with(Suite::Symbolic);
    let mut s = assoc_core::Session::new(a, 1).unwrap();
    let now = assoc_core::Instant::ZERO;
    s.handle_input(now, Input::Open).unwrap();
    // It asks for a bearer; a listening socket answers without a peer: a failed dial.
    assert!(common::outputs(&mut s)
        .any(|o| matches!(o, assoc_core::Output::Bearer(assoc_core::BearerRequest::Dial))));
    assert_eq!(s.handle_input(now, Input::LinkUp { peer: None }), Ok(Verdict::Accepted));
    assert_eq!(s.link(), assoc_core::LinkState::Down);
    assert_eq!(s.stats().open_failures, 1);
    assert!(common::outputs(&mut s).all(|o| !matches!(o, assoc_core::Output::Transmit(_))));
}
