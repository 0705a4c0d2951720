//! The data phase, state by state: exact inputs and the exact outcome of each.

mod common;
use assoc_core::Verdict;

use assoc_core::wire::{AbortReason, Body, CloseReason, Frame, Pdu};
use assoc_core::{DownReason, DropReason, Event, Input, SessionState, Timer};
use common::Manual;

/// Both sides established (alpha opened and holds it); everything delivered.
fn established() -> (Manual, [usize; 2]) {
    established_with_ack_frequency(1)
}

fn established_with_ack_frequency(ack_frequency: u8) -> (Manual, [usize; 2]) {
    let (mut a, mut b) = common::configs();
    (a.ack_frequency, b.ack_frequency) = (ack_frequency, ack_frequency);
    let mut m = Manual::with(a, b);
    m.input(0, Input::Open).unwrap();
    let mut d = [0, 0];
    for _ in 0..4 {
        m.exchange(&mut d);
    }
    assert_eq!(m.s[0].state(), SessionState::Established);
    assert_eq!(m.s[1].state(), SessionState::Established);
    (m, d)
}

fn frames_of(datagram: &bytes::Bytes) -> Vec<Frame> {
    match Pdu::decode(datagram).unwrap().body {
        Body::Packet(frames) => frames,
        other => panic!("not a packet: {other:?}"),
    }
}

fn last_frames(m: &Manual, side: usize) -> Vec<Frame> {
    frames_of(m.sent[side].last().unwrap())
}

#[test]
fn close_is_answered_with_close_ack_then_both_drain_then_forget() {
    let (mut m, mut d) = established();
    m.input(0, Input::Release).unwrap();
    assert_eq!(m.s[0].state(), SessionState::Closing);
    assert!(last_frames(&m, 0).contains(&Frame::Close { reason: CloseReason::Requested }));
    m.exchange(&mut d);
    assert!(m.events[1].contains(&Event::AssociationDown {
        epoch: 1,
        reason: DownReason::Released(CloseReason::Requested)
    }));
    assert!(m.events[0].contains(&Event::AssociationDown {
        epoch: 1,
        reason: DownReason::Released(CloseReason::Requested)
    }));
    assert_eq!(m.s[0].state(), SessionState::Draining);
    assert_eq!(m.s[1].state(), SessionState::Draining);
    // Draining: a repeated CLOSE is answered again, anything else is absorbed.
    let close = m.sent[0][d[0] - 1].clone();
    let answered = m.sent[1].len();
    assert_eq!(
        m.input(1, Input::Datagram { from: Manual::remote(0), datagram: close }),
        Ok(Verdict::Accepted)
    );
    assert_eq!(m.sent[1].len(), answered + 1);
    assert!(last_frames(&m, 1).contains(&Frame::CloseAck));
    // After the drain period both forget the association.
    for _ in 0..3 {
        m.tick();
    }
    assert_eq!(m.s[0].state(), SessionState::Idle);
    assert_eq!(m.s[1].state(), SessionState::Idle);
}

#[test]
fn peer_abort_ends_the_association_without_an_echo() {
    let (mut m, mut d) = established();
    m.input(1, Input::Abort).unwrap();
    assert!(last_frames(&m, 1).contains(&Frame::Abort { reason: AbortReason::Requested }));
    let sent_by_alpha = m.sent[0].len();
    m.exchange(&mut d);
    assert!(m.events[1]
        .contains(&Event::AssociationDown { epoch: 1, reason: DownReason::Aborted(AbortReason::Requested) }));
    assert!(m.events[0].contains(&Event::AssociationDown {
        epoch: 1,
        reason: DownReason::PeerAborted(AbortReason::Requested)
    }));
    // alpha never echoes an ABORT; it holds the association open, so it starts a new attempt.
    for datagram in &m.sent[0][sent_by_alpha..] {
        if let Body::Packet(frames) = Pdu::decode(datagram).unwrap().body {
            assert!(!frames.iter().any(|f| matches!(f, Frame::Abort { .. })));
        }
    }
    assert_eq!(
        Pdu::decode(&m.sent[0][sent_by_alpha]).unwrap().body.pdu_type(),
        assoc_core::wire::PduType::Init
    );
}

#[test]
fn keepalive_pings_and_the_ping_is_acknowledged() {
    let (mut m, mut d) = established();
    assert_eq!(m.s[1].config().ack_frequency, 1, "the default acknowledges every packet at once");
    let answered = m.sent[1].len();
    let keepalive = m.s[0].armed_timers().find(|(t, _)| *t == Timer::Keepalive).unwrap().1;
    m.now = keepalive;
    m.input(0, Input::Timeout).unwrap();
    assert_eq!(last_frames(&m, 0), [Frame::Ping]);
    m.exchange(&mut d);
    assert_eq!(m.sent[1].len(), answered + 1);
    assert!(matches!(last_frames(&m, 1)[..], [Frame::Ack { .. }]));
    assert!(m.s[0].armed_timers().all(|(t, _)| t != Timer::Loss));
}

/// With `ack_frequency` 2, a lone PING's ACK waits for the `Ack` timer.
#[test]
fn with_ack_frequency_two_a_lone_ping_is_acknowledged_after_max_ack_delay() {
    let (mut m, mut d) = established_with_ack_frequency(2);
    let keepalive = m.s[0].armed_timers().find(|(t, _)| *t == Timer::Keepalive).unwrap().1;
    m.now = keepalive;
    m.input(0, Input::Timeout).unwrap();
    assert_eq!(last_frames(&m, 0), [Frame::Ping]);
    let answered = m.sent[1].len();
    m.exchange(&mut d);
    // One ack-eliciting packet in order: its ACK waits up to max_ack_delay for company
    // (RFC 9000 §13.2), then goes alone when beta's Ack timer fires.
    assert_eq!(m.sent[1].len(), answered, "no ACK-only packet before the delay is over");
    let ack_at = m.s[1].armed_timers().find(|(t, _)| *t == Timer::Ack).unwrap().1;
    assert_eq!(ack_at, m.now + assoc_core::Duration::from_millis(25), "max_ack_delay after the PING");
    m.now = ack_at;
    m.input(1, Input::Timeout).unwrap();
    m.exchange(&mut d);
    assert!(matches!(last_frames(&m, 1)[..], [Frame::Ack { .. }]));
    // The ACK emptied alpha's flight: no loss timer left.
    assert!(m.s[0].armed_timers().all(|(t, _)| t != Timer::Loss));
}

#[test]
fn replayed_and_forged_packets_are_dropped_and_counted() {
    let (mut m, mut d) = established();
    m.now = m.deadline(0).unwrap();
    m.input(0, Input::Timeout).unwrap();
    let ping = m.sent[0].last().unwrap().clone();
    m.exchange(&mut d);
    assert_eq!(
        m.input(1, Input::Datagram { from: Manual::remote(0), datagram: ping.clone() }),
        Ok(Verdict::Dropped(DropReason::Replay))
    );
    let mut forged = ping.to_vec();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert_eq!(
        m.input(1, Input::Datagram { from: Manual::remote(0), datagram: forged.into() }),
        Ok(Verdict::Dropped(DropReason::BadAuth))
    );
    assert_eq!(m.s[1].stats().dropped(DropReason::Replay), 1);
    assert_eq!(m.s[1].stats().dropped(DropReason::BadAuth), 1);
    assert_eq!(m.s[1].state(), SessionState::Established);
}

#[test]
fn idle_lifetime_releases_only_when_not_held_open() {
    let (mut m, mut d) = established();
    // Held open: the idle timer just re-arms.
    let idle = m.s[0].armed_timers().find(|(t, _)| *t == Timer::Idle).unwrap().1;
    m.s[0].handle_timer(idle, Timer::Idle);
    m.drain(0);
    assert_eq!(m.s[0].state(), SessionState::Established);
    // beta never asked to hold it open: its idle timer closes it with reason Idle.
    let idle_b = m.s[1].armed_timers().find(|(t, _)| *t == Timer::Idle).unwrap().1;
    m.now = idle_b;
    m.s[1].handle_timer(idle_b, Timer::Idle);
    m.drain(1);
    assert!(last_frames(&m, 1).contains(&Frame::Close { reason: CloseReason::Idle }));
    m.exchange(&mut d);
    assert!(m.events[0]
        .contains(&Event::AssociationDown { epoch: 1, reason: DownReason::Released(CloseReason::Idle) }));
}

#[test]
fn a_silent_peer_exhausts_probes_then_the_holder_reopens() {
    let (mut m, _) = established();
    let max_probes = m.s[0].config().max_probes;
    // Nothing is delivered from now on. Keepalive, then probe after probe.
    let mut ticks = 0;
    while !m.events[0].iter().any(|e| matches!(e, Event::AssociationDown { .. })) {
        m.now = m.deadline(0).unwrap();
        m.input(0, Input::Timeout).unwrap();
        ticks += 1;
        assert!(ticks < 100, "never gave up");
    }
    assert_eq!(
        m.events[0].last(),
        Some(&Event::AssociationDown {
            epoch: 1,
            reason: DownReason::Aborted(AbortReason::RetransmitsExhausted)
        })
    );
    assert_eq!(m.s[0].stats().probes, u64::from(max_probes) + 1);
    assert_eq!(m.s[0].state(), SessionState::Opening, "alpha holds it open: a new attempt starts");
}
