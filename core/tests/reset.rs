//! The stateless reset (`PROTOCOL.md`, "Stateless reset"): a restarted peer's RESET ends
//! the association at once and the sender re-opens; forged, reflected, replayed and old
//! RESETs change nothing; a RESET is never solicited before an association exists, never
//! answered, never larger than what it answers, and budgeted. And the wrong-key outcome:
//! opening stops with `Event::WrongKey` and the messages stay queued.

mod common;
use assoc_core::Verdict;

use assoc_core::wire::{AuthTag, Body, Frame, Header, Pdu, PduType, RawPdu};
use assoc_core::{
    DownReason, DropReason, Event, Input, InputError, LinkState, Priority, Psk, Session, SessionState,
    Submission, RESET_LEN,
};
use bytes::Bytes;
use common::Manual;

fn ty(d: &Bytes) -> PduType {
    RawPdu::parse(d).expect("a PDU").ty
}

fn message(app_id: u64) -> Submission {
    Submission { app_id, priority: Priority::Normal, deadline: None, bytes: Bytes::from_static(b"hello") }
}

/// Alpha and beta share an established association; every datagram so far delivered.
fn established() -> (Manual, [usize; 2]) {
    let mut m = Manual::new();
    m.input(0, Input::Open).unwrap();
    let mut d = [0, 0];
    m.exchange(&mut d);
    assert_eq!(m.s[0].state(), SessionState::Established);
    assert_eq!(m.s[1].state(), SessionState::Established);
    (m, d)
}

/// Side `i` crashes and restarts from its store (everything was durable), link up.
fn restart(m: &mut Manual, i: usize, seed: u64) {
    let cfg = m.s[i].config().clone();
    m.s[i] = Session::restore(cfg, m.s[i].store().clone(), seed).unwrap();
    m.input(i, Input::LinkUp { peer: Some(Manual::remote(1 - i)) }).unwrap();
}

/// Alpha submits a message; returns the index of the PACKET that carries it.
fn alpha_sends(m: &mut Manual, app_id: u64) -> usize {
    let before = m.sent[0].len();
    m.input(0, Input::Submit(message(app_id))).unwrap();
    (before..m.sent[0].len()).find(|k| ty(&m.sent[0][*k]) == PduType::Packet).expect("a PACKET")
}

/// Delivers alpha's `k`-th datagram to beta and returns what beta answered.
fn beta_answers(m: &mut Manual, k: usize) -> (Result<Verdict, InputError>, Vec<Bytes>) {
    let before = m.sent[1].len();
    let r = m.deliver(0, k);
    (r, m.sent[1][before..].to_vec())
}

fn delivered(events: &[Event]) -> usize {
    events.iter().filter(|e| matches!(e, Event::Delivered { .. })).count()
}

/// A RESET exactly as the restarted beta would send it, but for any header values.
fn packet_like(sid: u32, dst_tag: u64, epoch: u64) -> Bytes {
    let header = Header { sid, dst_tag, epoch, pn: 1 };
    Pdu { header, body: Body::Packet(vec![Frame::Ping]), auth: AuthTag([7; 16]) }.to_bytes()
}

#[test]
fn a_restarted_receiver_resets_and_the_sender_reopens_at_once() {
    let (mut m, _) = established();
    let old = m.s[0].association().unwrap();
    restart(&mut m, 1, 99);
    let k = alpha_sends(&mut m, 1);
    let (r, answers) = beta_answers(&mut m, k);
    assert_eq!(r, Ok(Verdict::Answered), "answered, not refused");
    assert_eq!(answers.len(), 1);
    let reset = &answers[0];
    assert_eq!(ty(reset), PduType::Reset);
    assert_eq!(reset.len(), RESET_LEN);
    assert!(reset.len() <= m.sent[0][k].len(), "never larger than what it answers");
    let h = RawPdu::parse(reset).unwrap().header;
    assert_eq!((h.dst_tag, h.epoch), (old.id.peer_tag, old.id.epoch), "names the lost association");
    assert_eq!(m.s[1].stats().resets_sent, 1);

    // Alpha ends the association at once and opens a new one: no probe has fired.
    let sent_before = m.sent[0].len();
    m.deliver(1, m.sent[1].len() - 1).unwrap();
    assert!(
        m.events[0].contains(&Event::AssociationDown { epoch: old.id.epoch, reason: DownReason::PeerReset })
    );
    assert_eq!(m.s[0].state(), SessionState::Opening);
    assert_eq!(ty(&m.sent[0][sent_before]), PduType::Init, "re-opens in the same step");
    assert_eq!(m.s[0].stats().resets_received, 1);
    assert_eq!(m.s[0].stats().probes, 0);

    let mut d = [sent_before, m.sent[1].len()];
    m.exchange(&mut d);
    let new = m.s[0].association().unwrap();
    assert!(new.usable && new.id.epoch > old.id.epoch);
    assert_eq!(delivered(&m.events[1]), 1, "the message arrives once, on the new association");
    assert!(m.events[0].iter().any(|e| matches!(e, Event::Outcome { app_id: 1, .. })));
}

#[test]
fn a_reset_that_does_not_verify_changes_nothing() {
    let (mut m, _) = established();
    let old = m.s[0].association().unwrap();
    let k = alpha_sends(&mut m, 1);
    let packet = m.sent[0][k].clone();

    // Made by an endpoint with another PSK (a restarted impostor of beta).
    let mut other = m.s[1].config().clone();
    other.psk = Psk::new(b"not-the-shared-key!").unwrap();
    let mut impostor = Session::restore(other, m.s[1].store().clone(), 5).unwrap();
    impostor.handle_input(m.now, Input::LinkUp { peer: Some(Manual::remote(0)) }).unwrap();
    impostor
        .handle_input(m.now, Input::Datagram { from: Manual::remote(0), datagram: packet.clone() })
        .unwrap();
    let forged = common::outputs(&mut impostor)
        .find_map(|o| match o {
            assoc_core::Output::Transmit(t) if ty(&t.datagram) == PduType::Reset => Some(t.datagram),
            _ => None,
        })
        .expect("the impostor resets");
    assert_eq!(
        m.input(0, Input::Datagram { from: Manual::remote(1), datagram: forged }),
        Ok(Verdict::Dropped(DropReason::BadAuth))
    );

    // Reflected: alpha's own restarted twin, fed alpha's packet, resets under alpha's name.
    let mut twin = Session::restore(m.s[0].config().clone(), m.s[0].store().clone(), 6).unwrap();
    twin.handle_input(m.now, Input::LinkUp { peer: Some(Manual::remote(0)) }).unwrap();
    let _ = twin.handle_input(m.now, Input::Datagram { from: Manual::remote(0), datagram: packet });
    let reflected = common::outputs(&mut twin)
        .find_map(|o| match o {
            assoc_core::Output::Transmit(t) if ty(&t.datagram) == PduType::Reset => Some(t.datagram),
            _ => None,
        })
        .expect("the twin resets for beta's tag");
    assert_eq!(
        m.input(0, Input::Datagram { from: Manual::remote(1), datagram: reflected }),
        Ok(Verdict::Dropped(DropReason::BadAuth))
    );

    // A trailer of noise.
    let header = Header { sid: 1, dst_tag: old.id.peer_tag, epoch: old.id.epoch, pn: 0 };
    let noise = Pdu { header, body: Body::Reset, auth: AuthTag([0x5a; 16]) }.to_bytes();
    assert_eq!(
        m.input(0, Input::Datagram { from: Manual::remote(1), datagram: noise }),
        Ok(Verdict::Dropped(DropReason::BadAuth))
    );
    assert_eq!(m.s[0].association(), Some(old));
    assert_eq!(m.s[0].stats().resets_received, 0);
}

#[test]
fn a_replayed_reset_changes_nothing() {
    let (mut m, _) = established();
    restart(&mut m, 1, 99);
    let k = alpha_sends(&mut m, 1);
    let (_, answers) = beta_answers(&mut m, k);
    let reset = answers[0].clone();
    m.deliver(1, m.sent[1].len() - 1).unwrap();
    let mut d = [k + 1, m.sent[1].len()];
    m.exchange(&mut d);
    let now = m.s[0].association().unwrap();
    assert!(now.usable);

    // The recorded RESET again, to both sides: it names an association neither has.
    for side in [0, 1] {
        assert_eq!(
            m.input(side, Input::Datagram { from: Manual::remote(1 - side), datagram: reset.clone() }),
            Ok(Verdict::Dropped(DropReason::Stale))
        );
    }
    assert_eq!(m.s[0].association(), Some(now));
}

#[test]
fn a_reset_for_an_old_association_changes_nothing() {
    let (mut m, _) = established();
    let old = m.s[0].association().unwrap();
    let k = alpha_sends(&mut m, 1);
    // Both links drop: the association ends on both sides, alpha's packet is still in flight.
    for side in [0, 1] {
        m.input(side, Input::LinkDown).unwrap();
    }
    let (r, answers) = beta_answers(&mut m, k);
    assert_eq!(r, Ok(Verdict::Answered));
    let old_reset = answers[0].clone();
    assert_eq!(ty(&old_reset), PduType::Reset);
    // Alpha re-opens on a new link and establishes a new association.
    for side in [0, 1] {
        m.input(side, Input::LinkUp { peer: Some(Manual::remote(1 - side)) }).unwrap();
    }
    m.tick();
    let mut d = [k + 1, m.sent[1].len()];
    for _ in 0..10 {
        m.exchange(&mut d);
        if m.s[0].state() == SessionState::Established {
            break;
        }
        m.tick();
    }
    let new = m.s[0].association().unwrap();
    assert!(new.usable && new.id.epoch > old.id.epoch);
    assert_eq!(
        m.input(0, Input::Datagram { from: Manual::remote(1), datagram: old_reset }),
        Ok(Verdict::Dropped(DropReason::Stale))
    );
    assert_eq!(m.s[0].association(), Some(new));
}

#[test]
fn no_reset_while_an_association_is_usable_or_before_one_exists() {
    // Usable: a packet for another association is stale, the peer has moved on.
    let (mut m, _) = established();
    let a = m.s[1].association().unwrap();
    let (r, answers) = beta_answers_raw(&mut m, packet_like(1, a.id.local_tag ^ 1, a.id.epoch));
    assert_eq!(r, Ok(Verdict::Dropped(DropReason::Stale)));
    assert!(answers.is_empty());

    // Before: beta's tag is on the wire in its CHALLENGE, before beta accepts at that
    // epoch. A RESET solicited then would tear down the association once it exists.
    let mut m = Manual::new();
    m.input(0, Input::Open).unwrap();
    m.deliver(0, 0).unwrap(); // INIT → beta, CHALLENGE back (not yet delivered)
    let challenge = RawPdu::parse(&m.sent[1][0]).unwrap();
    let Body::Challenge(ch) = Body::decode(PduType::Challenge, &challenge.body).unwrap() else { panic!() };
    let (r, answers) = beta_answers_raw(&mut m, packet_like(1, ch.tag_r, challenge.header.epoch));
    assert_eq!(r, Ok(Verdict::Dropped(DropReason::Stale)));
    assert!(answers.is_empty(), "no RESET for an epoch beta has not reached");
    // Nor from alpha for its own tag while its attempt at that epoch is pending.
    let init = RawPdu::parse(&m.sent[0][0]).unwrap();
    let Body::Init(init_body) = Body::decode(PduType::Init, &init.body).unwrap() else { panic!() };
    let before = m.sent[0].len();
    let r = m.input(
        0,
        Input::Datagram {
            from: Manual::remote(1),
            datagram: packet_like(1, init_body.tag_i, init.header.epoch),
        },
    );
    assert_eq!(r, Ok(Verdict::Dropped(DropReason::Stale)));
    assert_eq!(m.sent[0].len(), before);
}

fn beta_answers_raw(m: &mut Manual, d: Bytes) -> (Result<Verdict, InputError>, Vec<Bytes>) {
    let before = m.sent[1].len();
    let r = m.input(1, Input::Datagram { from: Manual::remote(0), datagram: d });
    (r, m.sent[1][before..].to_vec())
}

#[test]
fn a_reset_is_never_answered_and_resets_are_budgeted() {
    let (mut m, _) = established();
    let old = m.s[1].association().unwrap();
    restart(&mut m, 1, 99);
    let k = alpha_sends(&mut m, 1);
    let packet = m.sent[0][k].clone();
    // A flood of copies at one instant: at most the burst is answered.
    let burst = m.s[1].config().reset_budget.burst as usize;
    let mut answered = 0;
    for _ in 0..(burst + 20) {
        let (_, answers) = beta_answers_raw(&mut m, packet.clone());
        answered += answers.len();
    }
    assert_eq!(answered, burst);
    // A RESET sent to the endpoint that has no association: never answered.
    let header = Header { sid: 1, dst_tag: old.id.peer_tag, epoch: old.id.epoch, pn: 0 };
    let reset = Pdu { header, body: Body::Reset, auth: AuthTag([1; 16]) }.to_bytes();
    m.now += assoc_core::Duration::from_secs(60);
    let (r, answers) = beta_answers_raw(&mut m, reset);
    assert_eq!(r, Ok(Verdict::Dropped(DropReason::Stale)));
    assert!(answers.is_empty());
}

#[test]
fn a_wrong_key_stops_opening_with_a_clear_event_and_keeps_the_messages() {
    let (mut a, b) = common::configs();
    a.psk = Psk::new(b"a-different-pre-shared-key").unwrap();
    a.max_auth_failures = 3;
    let mut m = Manual::with(a, b);
    m.input(0, Input::Submit(message(1))).unwrap();
    let mut d = [0, 0];
    for _ in 0..200 {
        m.exchange(&mut d);
        if m.events[0].iter().any(|e| matches!(e, Event::WrongKey { .. })) {
            break;
        }
        m.tick();
    }
    assert!(m.events[0].contains(&Event::WrongKey { failures: 3 }), "{:?}", m.events[0]);
    assert_eq!(m.s[0].stats().wrong_key, 1);
    assert_eq!(m.s[0].state(), SessionState::Idle);
    assert_eq!(m.s[0].store().outbound.len(), 1, "the message stays queued");
    assert!(!m.events[0].iter().any(|e| matches!(e, Event::Outcome { .. })));
    // Nothing more is tried, however long we wait.
    let sent = m.sent[0].len();
    for _ in 0..20 {
        m.exchange(&mut d);
        m.tick();
    }
    assert!(m.sent[0][sent..].iter().all(|p| ty(p) != PduType::Init), "no INIT after WrongKey");
    // Asked again, it tries again (dialing first if the idle bearer was hung up).
    m.input(0, Input::Open).unwrap();
    let s = &m.s[0];
    assert!(s.state() == SessionState::Opening || s.link() == LinkState::Dialing, "{:?}", s.state());
}

#[test]
fn late_packets_of_an_orderly_release_are_absorbed_not_reset() {
    let (mut m, mut d) = established();
    let k = alpha_sends(&mut m, 1);
    m.exchange(&mut d);
    m.input(0, Input::Release).unwrap();
    for _ in 0..20 {
        m.exchange(&mut d);
        if m.s.iter().all(|s| s.association().is_none()) {
            break;
        }
        m.tick();
    }
    assert!(m.s.iter().all(|s| s.association().is_none()), "released and drained");
    // Alpha's old packet arrives late: beta released that association too, so it is
    // absorbed as during the drain rather than answered.
    let (r, answers) = beta_answers(&mut m, k);
    assert_eq!(r, Ok(Verdict::Dropped(DropReason::Stale)));
    assert!(answers.is_empty());
    // After a restart beta remembers nothing and answers it.
    restart(&mut m, 1, 7);
    let (r, answers) = beta_answers(&mut m, k);
    assert_eq!(r, Ok(Verdict::Answered));
    assert_eq!(answers.iter().map(ty).collect::<Vec<_>>(), [PduType::Reset]);
}
