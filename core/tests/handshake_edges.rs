//! Handshake decisions at their edges: which drop reason a PDU gets while an attempt is
//! pending, the collision tie-break at equal epochs, and authentic answers after forged
//! ones used up the report budget.

mod common;
use assoc_core::Verdict;

use assoc_core::wire::{AuthTag, Body, Frame, Header, Pdu, PduType, RawPdu};
use assoc_core::{DropReason, Event, Input, SessionState};
use bytes::Bytes;
use common::Manual;

fn ty(d: &Bytes) -> PduType {
    RawPdu::parse(d).expect("a PDU").ty
}

fn ups(events: &[Event]) -> usize {
    events.iter().filter(|e| matches!(e, Event::AssociationUp { .. })).count()
}

/// Exchanges everything, firing timers in between, until `done` (at most 50 rounds).
fn exchange_until(m: &mut Manual, d: &mut [usize; 2], done: impl Fn(&Manual) -> bool) {
    for _ in 0..50 {
        m.exchange(d);
        if done(m) {
            return;
        }
        m.tick();
    }
}

/// An established pair with datagrams of `max_datagram` bytes where alpha refuses every
/// message longer than 4 bytes (so each refusal is remembered in its summary).
fn refusing_alpha(max_datagram: u16) -> (Manual, [usize; 2]) {
    let (mut a, mut b) = common::configs();
    for c in [&mut a, &mut b] {
        c.params.max_datagram = max_datagram;
    }
    a.max_message_len = 4;
    let mut m = Manual::with(a, b);
    m.input(0, Input::Open).unwrap();
    let mut d = [0, 0];
    m.exchange(&mut d);
    (m, d)
}

/// A 5-byte message.
fn five_bytes(app_id: u64) -> assoc_core::Submission {
    assoc_core::Submission {
        app_id,
        priority: assoc_core::Priority::Normal,
        deadline: None,
        bytes: Bytes::from_static(b"12345"),
    }
}

/// Every datagram a side is handed or hands out is counted.
#[test]
fn datagrams_in_and_out_are_counted() {
    let mut m = Manual::new();
    m.input(0, Input::Open).unwrap();
    for (from, k) in [(0, 0), (1, 0), (0, 1), (1, 1)] {
        m.deliver(from, k).unwrap();
    }
    for side in 0..2 {
        let st = m.s[side].stats();
        assert_eq!(st.datagrams_in, 2, "side {side}: {st:?}");
        assert_eq!(st.datagrams_out, m.sent[side].len() as u64, "side {side}");
    }
}

/// A lost INIT is sent again when the handshake timer fires, and counted.
#[test]
fn handshake_retransmissions_are_counted() {
    let mut m = Manual::new();
    m.input(0, Input::Open).unwrap();
    assert_eq!(m.s[0].stats().handshake_retransmits, 0);
    for n in 1..=2u64 {
        m.now = m.deadline(0).expect("the handshake timer");
        m.input(0, Input::Timeout).unwrap();
        assert_eq!(m.s[0].stats().handshake_retransmits, n);
        assert_eq!(ty(m.sent[0].last().unwrap()), PduType::Init);
    }
}

/// While alpha waits for its ACCEPT, a datagram for another tag or epoch is stale; it is
/// not tried against the pending attempt's keys (that would count it as forged).
#[test]
fn a_packet_for_another_association_is_stale_while_confirming() {
    let mut m = Manual::new();
    m.input(0, Input::Open).unwrap();
    m.deliver(0, 0).unwrap(); // INIT → CHALLENGE
    m.deliver(1, 0).unwrap(); // CHALLENGE → CONFIRM: alpha is confirming
    assert_eq!(ty(m.sent[0].last().unwrap()), PduType::Confirm);
    let confirm = RawPdu::parse(m.sent[0].last().unwrap()).unwrap().header;
    // The CONFIRM's header names beta's tag; alpha's own tag is what beta would address.
    let attempt_epoch = confirm.epoch;
    for (dst_tag, epoch) in [(0x5eed, attempt_epoch), (0x5eed, attempt_epoch + 1)] {
        let accept = Body::Accept(assoc_core::wire::Accept { summary: Default::default() });
        for (body, pn) in [(Body::Packet(vec![Frame::Ping]), 1), (accept, 0)] {
            let header = Header { sid: confirm.sid, dst_tag, epoch, pn };
            let forged = Pdu { header, body, auth: AuthTag([7; 16]) }.to_bytes();
            let r = m.input(0, Input::Datagram { from: Manual::remote(1), datagram: forged });
            assert_eq!(r, Ok(Verdict::Dropped(DropReason::Stale)), "tag {dst_tag:#x} epoch {epoch}");
        }
    }
    assert_eq!(m.s[0].stats().dropped(DropReason::BadAuth), 0);
    // The genuine ACCEPT still completes the attempt.
    m.deliver(0, 1).unwrap();
    m.deliver(1, 1).unwrap();
    assert_eq!(m.s[0].state(), SessionState::Established);
}

/// CHALLENGEs with a wrong proof (what a peer holding another PSK sends) are reported
/// until the report budget is spent, then dropped quietly; the authentic CHALLENGE is
/// still taken after that. (With `max_auth_failures` on, the reports would stop opening
/// first: `tests/reset.rs`.)
#[test]
fn an_authentic_challenge_is_taken_after_forged_ones_spent_the_report_budget() {
    let (mut a, b) = common::configs();
    a.max_auth_failures = 0;
    let mut m = Manual::with(a, b);
    m.input(0, Input::Open).unwrap();
    m.deliver(0, 0).unwrap();
    let challenge = m.sent[1][0].clone();
    let pdu = Pdu::decode(&challenge).unwrap();
    let Body::Challenge(ch) = pdu.body.clone() else { panic!("not a CHALLENGE") };
    let wrong_proof = Body::Challenge(assoc_core::wire::Challenge { proof_r: AuthTag([9; 16]), ..ch });
    let forged = Pdu { body: wrong_proof, ..pdu }.to_bytes();
    let mut quiet = 0;
    for _ in 0..1_000 {
        if m.input(0, Input::Datagram { from: Manual::remote(1), datagram: forged.clone() })
            == Ok(Verdict::Dropped(DropReason::BadAuth))
        {
            quiet += 1;
        }
    }
    let reported = m.events[0].iter().filter(|e| matches!(e, Event::AuthenticationFailed { .. })).count();
    assert!(reported >= 1 && quiet > 900, "{reported} reported, {quiet} dropped quietly");
    m.input(0, Input::Datagram { from: Manual::remote(1), datagram: challenge }).unwrap();
    assert_eq!(ty(m.sent[0].last().unwrap()), PduType::Confirm);
    m.deliver(0, 1).unwrap();
    m.deliver(1, 1).unwrap();
    assert_eq!((m.s[0].state(), m.s[1].state()), (SessionState::Established, SessionState::Established));
}

/// Beta answers alpha's INIT (a cookie for epoch 1), then opens itself (its own attempt
/// takes epoch 1 too). Alpha wins the tie-break ("alpha" < "beta"), so its CONFIRM at the
/// epoch of beta's own attempt is accepted — no STALE round trip.
#[test]
fn a_confirm_at_the_epoch_of_the_losers_own_attempt_is_accepted() {
    let mut m = Manual::new();
    m.input(0, Input::Open).unwrap();
    m.deliver(0, 0).unwrap(); // INIT → CHALLENGE (epoch 1)
    m.input(1, Input::Open).unwrap(); // beta's own INIT, epoch 1
    assert_eq!(RawPdu::parse(m.sent[1].last().unwrap()).unwrap().header.epoch, 1);
    m.deliver(1, 0).unwrap(); // CHALLENGE → CONFIRM (epoch 1)
    m.deliver(0, 1).unwrap(); // CONFIRM → ACCEPT
    assert_eq!(ty(m.sent[1].last().unwrap()), PduType::Accept);
    m.deliver(1, 2).unwrap();
    let (a, b) = (m.s[0].association().unwrap(), m.s[1].association().unwrap());
    assert_eq!((a.id.epoch, b.id.epoch), (1, 1));
    assert_eq!((ups(&m.events[0]), ups(&m.events[1])), (1, 1));
}

/// A new association starts from what each side holds durably: beta's ACCEPT lists the
/// message it holds in part (the durable prefix the sender resumes from), and alpha's
/// CONFIRM carries its own summary too.
#[test]
fn the_handshake_summary_lists_a_partly_received_message() {
    let (mut a, mut b) = common::configs();
    for c in [&mut a, &mut b] {
        c.params.checkpoint_size = 1024;
    }
    let mut m = Manual::with(a, b);
    m.input(0, Input::Open).unwrap();
    let mut d = [0, 0];
    m.exchange(&mut d);
    assert_eq!(m.s[0].state(), SessionState::Established);
    let bytes = Bytes::from(vec![0x5A; 6_000]);
    let submission =
        assoc_core::Submission { app_id: 1, priority: assoc_core::Priority::Normal, deadline: None, bytes };
    m.s[0].submit(m.now, submission).unwrap();
    m.drain(0);
    // Two packets' worth of DATA reach beta (a checkpoint's worth), the rest is lost.
    let fresh: Vec<Bytes> = m.sent[0][d[0]..].to_vec();
    for p in fresh.iter().take(2) {
        let _ = m.input(1, Input::Datagram { from: Manual::remote(0), datagram: p.clone() });
    }
    let held = m.s[1].store().inbound.len();
    assert_eq!(held, 1, "beta holds a durable prefix of msn 0");
    for side in 0..2 {
        m.input(side, Input::LinkDown).unwrap();
        m.input(side, Input::LinkUp { peer: Some(Manual::remote(1 - side)) }).unwrap();
    }
    let from = [m.sent[0].len(), m.sent[1].len()];
    let mut d = from;
    exchange_until(&mut m, &mut d, |m| {
        m.s[0].state() == SessionState::Established && m.s[1].state() == SessionState::Established
    });
    let summary_of = |side: usize, want: PduType| {
        m.sent[side][from[side]..]
            .iter()
            .filter_map(|p| Pdu::decode(p).ok())
            .find_map(|p| match p.body {
                Body::Accept(a) if want == PduType::Accept => Some(a.summary),
                Body::Confirm(c) if want == PduType::Confirm => Some(c.summary),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no {want:?} from side {side}"))
    };
    let accept = summary_of(1, PduType::Accept);
    assert_eq!(accept.partial.len(), 1, "{accept:?}");
    assert_eq!(accept.partial[0].msn, 0);
    assert!(accept.partial[0].durable >= 1024, "{accept:?}");
    assert_eq!(summary_of(0, PduType::Confirm).resolved_below, 0);
    assert_eq!(m.s[0].state(), SessionState::Established);
}

/// Alpha's CONFIRM arrives after beta's epoch moved on: beta answers STALE with its epoch,
/// and alpha's next attempt starts right above it (not one above its own old epoch).
#[test]
fn after_stale_the_next_attempt_starts_above_the_peers_epoch() {
    let (a, mut b) = common::configs();
    b.cookie_lifetime = assoc_core::Duration::from_secs(24 * 3600); // the CHALLENGE waits long
    let mut m = Manual::with(a, b);
    m.input(0, Input::Open).unwrap();
    m.deliver(0, 0).unwrap(); // INIT → CHALLENGE at epoch 1
    let challenge = m.sent[1][0].clone();
    // Beta's own attempts (never answered) move its epoch on; only beta's timers fire.
    m.input(1, Input::Open).unwrap();
    for _ in 0..200 {
        if m.s[1].store().epoch >= 3 {
            break;
        }
        m.now = m.deadline(1).expect("beta retries");
        let _ = m.input(1, Input::Timeout);
    }
    let beta_epoch = m.s[1].store().epoch;
    assert!(beta_epoch >= 3, "beta at epoch {beta_epoch}");
    m.input(0, Input::Datagram { from: Manual::remote(1), datagram: challenge }).unwrap(); // → CONFIRM at epoch 1
    let confirm = m.sent[0].last().unwrap().clone();
    assert_eq!(ty(&confirm), PduType::Confirm);
    m.input(1, Input::Datagram { from: Manual::remote(0), datagram: confirm }).unwrap(); // → STALE
    let stale = m.sent[1].last().unwrap().clone();
    assert_eq!(ty(&stale), PduType::Stale);
    m.input(0, Input::Datagram { from: Manual::remote(1), datagram: stale }).unwrap(); // → a new INIT
    let init = RawPdu::parse(m.sent[0].last().unwrap()).unwrap();
    assert_eq!((init.ty, init.header.epoch), (PduType::Init, beta_epoch + 1));
}

/// A summary too long for one datagram is cut to fit: with 60 remembered rejections and
/// 512-byte datagrams, alpha's CONFIRM still fits in 512 bytes.
#[test]
fn a_long_handshake_summary_is_cut_to_fit_the_datagram() {
    let (mut m, mut d) = refusing_alpha(512);
    for k in 0..60 {
        m.s[1].submit(m.now, five_bytes(k)).unwrap();
    }
    m.drain(1);
    exchange_until(&mut m, &mut d, |m| m.s[0].store().recent_non_delivered.len() == 60);
    assert_eq!(m.s[0].store().recent_non_delivered.len(), 60);
    for side in 0..2 {
        m.input(side, Input::LinkDown).unwrap();
        m.input(side, Input::LinkUp { peer: Some(Manual::remote(1 - side)) }).unwrap();
    }
    let from = m.sent[0].len();
    let _ = m.input(0, Input::Open);
    let _ = m.input(0, Input::LinkUp { peer: Some(Manual::remote(1)) });
    let mut d = [from, m.sent[1].len()];
    exchange_until(&mut m, &mut d, |m| {
        m.s[0].state() == SessionState::Established && m.s[1].state() == SessionState::Established
    });
    let confirms: Vec<usize> =
        m.sent[0][from..].iter().filter(|p| ty(p) == PduType::Confirm).map(|p| p.len()).collect();
    assert!(!confirms.is_empty(), "alpha opened the new association");
    assert!(confirms.iter().all(|&len| len <= 512), "CONFIRM sizes {confirms:?}");
    assert!(m.sent.iter().flatten().all(|p| p.len() <= 512));
}

/// Summaries riding in data packets are cut to what is left of the packet: alpha rejects
/// 60 messages in a row (each remembered, so its summary keeps growing) and no packet
/// exceeds `max_datagram`, for ten datagram sizes (so every remainder of the cut occurs).
#[test]
fn summaries_in_data_packets_never_overflow_the_datagram() {
    for max_datagram in 512..522u16 {
        let (mut m, mut d) = refusing_alpha(max_datagram);
        for k in 0..60 {
            m.s[1].submit(m.now, five_bytes(k)).unwrap();
            m.drain(1);
            m.exchange(&mut d);
        }
        assert_eq!(m.s[0].store().recent_non_delivered.len(), 60, "max_datagram {max_datagram}");
        let longest = m.sent[0].iter().map(Bytes::len).max().unwrap();
        assert!(
            longest <= usize::from(max_datagram),
            "max_datagram {max_datagram}: a {longest}-byte datagram"
        );
    }
}

/// Against a silent peer: each attempt retransmits its INIT `handshake_retransmits` times,
/// then fails; the next one starts after `open_backoff_start · 2^(failures - 1)`; after
/// `max_open_retries` retries (`max_open_retries + 1` failures) the application is told.
#[test]
fn failed_attempts_back_off_and_give_up_after_max_open_retries() {
    let (mut a, b) = common::configs();
    a.max_open_retries = 2;
    a.handshake_retransmits = 1;
    a.open_backoff_start = assoc_core::Duration::from_secs(1);
    let mut m = Manual::with(a, b);
    m.input(0, Input::Open).unwrap();
    let mut inits = vec![(m.now, RawPdu::parse(&m.sent[0][0]).unwrap().header.epoch)];
    for _ in 0..50 {
        let Some(t) = m.deadline(0) else { break };
        m.now = m.now.max(t);
        let sent = m.sent[0].len();
        m.input(0, Input::Timeout).unwrap();
        for p in &m.sent[0][sent..] {
            let raw = RawPdu::parse(p).unwrap();
            if raw.ty == PduType::Init && inits.last().is_some_and(|&(_, e)| e != raw.header.epoch) {
                inits.push((m.now, raw.header.epoch));
            }
        }
        if m.events[0].iter().any(|e| matches!(e, Event::OpenFailed { .. })) {
            break;
        }
    }
    let failed: Vec<u32> = m.events[0]
        .iter()
        .filter_map(|e| match e {
            Event::OpenFailed { attempts } => Some(*attempts),
            _ => None,
        })
        .collect();
    assert_eq!(failed, [3]);
    assert_eq!(m.s[0].stats().open_failures, 3);
    assert_eq!(inits.len(), 3, "three attempts, each with a new epoch: {inits:?}");
    // Each attempt lasts rto + 2·rto (one retransmission) = 3 s; then the backoff: 1 s, 2 s.
    let gaps: Vec<u64> = inits.windows(2).map(|w| (w[1].0 - w[0].0).as_millis()).collect();
    assert_eq!(gaps, [3_000 + 1_000, 3_000 + 2_000]);
}

/// When the link goes down, nothing of the association stays armed: an idle responder
/// with no work has no timer at all.
#[test]
fn a_lost_link_leaves_no_association_timer_behind() {
    let mut m = Manual::new();
    m.input(0, Input::Open).unwrap();
    let mut d = [0, 0];
    m.exchange(&mut d);
    assert!(m.deadline(1).is_some(), "keepalive and idle are armed");
    m.input(1, Input::LinkDown).unwrap();
    assert_eq!(m.deadline(1), None);
}
