//! The data phase at its edges: what a closing or draining association still takes, and
//! when keepalive fires.

mod common;

use assoc_core::wire::{Body, DataFrame, FirstSegment, Frame, Pdu, Priority};
use assoc_core::{Duration, Event, Input, SessionState};
use bytes::Bytes;
use common::Manual;

fn established() -> (Manual, [usize; 2]) {
    let mut m = Manual::new();
    m.input(0, Input::Open).unwrap();
    let mut d = [0, 0];
    m.exchange(&mut d);
    assert_eq!((m.s[0].state(), m.s[1].state()), (SessionState::Established, SessionState::Established));
    (m, d)
}

fn whole_message(msn: u64, bytes: &'static [u8]) -> Frame {
    let first = FirstSegment { total_len: bytes.len() as u64, priority: Priority::Normal, app_id: 70 + msn };
    Frame::Data(DataFrame { msn, offset: 0, fin: true, first: Some(first), bytes: Bytes::from_static(bytes) })
}

fn delivered(events: &[Event]) -> Vec<u64> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Delivered { msn, .. } => Some(*msn),
            _ => None,
        })
        .collect()
}

fn pings(sent: &[Bytes]) -> usize {
    sent.iter()
        .filter_map(|d| Pdu::decode(d).ok())
        .filter(|p| matches!(&p.body, Body::Packet(frames) if frames.contains(&Frame::Ping)))
        .count()
}

/// Alpha has sent CLOSE; a packet beta sent before it saw the CLOSE still counts: its
/// message is delivered (session frames of a closing association have stable effects).
#[test]
fn a_closing_association_still_takes_the_peers_data() {
    let (mut m, _) = established();
    let late = m.s[1].seal_raw_packet(m.now, vec![whole_message(0, b"sent before the close")]).unwrap();
    m.input(0, Input::Release).unwrap();
    assert!(m.s[0].association().is_some(), "alpha waits for CLOSE_ACK");
    m.input(0, Input::Datagram { from: Manual::remote(1), datagram: late }).unwrap();
    assert_eq!(delivered(&m.events[0]), [0]);
}

/// Once draining, only a repeated CLOSE is answered; anything riding with it is absorbed.
#[test]
fn a_draining_association_absorbs_everything_but_the_close() {
    let (mut m, _) = established();
    m.input(0, Input::Release).unwrap();
    let close_packet = m.sent[0].last().unwrap().clone();
    m.input(1, Input::Datagram { from: Manual::remote(0), datagram: close_packet }).unwrap(); // beta drains
    let reason = assoc_core::wire::CloseReason::Requested;
    let repeat =
        m.s[0].seal_raw_packet(m.now, vec![Frame::Close { reason }, whole_message(0, b"too late")]).unwrap();
    let sent_before = m.sent[1].len();
    m.input(1, Input::Datagram { from: Manual::remote(0), datagram: repeat }).unwrap();
    assert!(delivered(&m.events[1]).is_empty(), "nothing is taken while draining");
    let answers: Vec<Body> =
        m.sent[1][sent_before..].iter().filter_map(|d| Pdu::decode(d).ok()).map(|p| p.body).collect();
    assert!(
        answers.iter().any(|b| matches!(b, Body::Packet(f) if f.contains(&Frame::CloseAck))),
        "the repeated CLOSE is answered: {answers:?}"
    );
}

/// Keepalive runs from the last authentic packet received, not from when the association
/// came up: a packet 20 s in postpones beta's PING to 20 s + keepalive.
#[test]
fn keepalive_counts_from_the_last_packet_received() {
    let (mut m, _) = established();
    let keepalive = m.s[1].config().keepalive.expect("on by default");
    let up = m.now;
    m.now = up + Duration::from_secs(20);
    let ping = m.s[0].seal_raw_packet(m.now, vec![Frame::Ping]).unwrap();
    m.input(1, Input::Datagram { from: Manual::remote(0), datagram: ping }).unwrap();
    let sent = m.sent[1].len();
    m.now = up + keepalive + Duration::from_secs(1);
    m.input(1, Input::Timeout).unwrap();
    assert_eq!(pings(&m.sent[1][sent..]), 0, "no keepalive 1 s after the first deadline");
    m.now = up + Duration::from_secs(20) + keepalive;
    m.input(1, Input::Timeout).unwrap();
    assert_eq!(pings(&m.sent[1][sent..]), 1, "keepalive after {keepalive:?} of silence");
}

/// New DATA goes out only while fewer than `max_packets_in_flight` packets are
/// unacknowledged: with a limit of 2 and a silent peer, exactly two DATA packets leave.
#[test]
fn new_data_stops_at_max_packets_in_flight() {
    let (mut a, b) = common::configs();
    a.max_packets_in_flight = 2;
    let mut m = Manual::with(a, b);
    m.input(0, Input::Open).unwrap();
    let mut d = [0, 0];
    m.exchange(&mut d);
    let bytes = Bytes::from(vec![7u8; 20_000]);
    let s =
        assoc_core::Submission { app_id: 1, priority: assoc_core::Priority::Normal, deadline: None, bytes };
    m.s[0].submit(m.now, s).unwrap();
    m.drain(0);
    let with_data = m.sent[0][d[0]..]
        .iter()
        .filter_map(|p| Pdu::decode(p).ok())
        .filter(|p| matches!(&p.body, Body::Packet(f) if f.iter().any(|f| matches!(f, Frame::Data(_)))))
        .count();
    assert_eq!(with_data, 2);
}

/// A restored session mixes its seed with the persisted epoch: the same seed after a
/// later epoch never repeats the tags of an earlier start (whatever bits the seed has set).
#[test]
fn a_reused_seed_never_repeats_tags_across_epochs() {
    let (a, _) = common::configs();
    let init_tag = |seed: u64, epoch: u64| {
        let store = assoc_core::SessionStore { epoch, ..Default::default() };
        let mut s = assoc_core::Session::restore(a.clone(), store, seed).unwrap();
        s.handle_input(assoc_core::Instant::ZERO, Input::LinkUp { peer: Some(assoc_core::Remote::Conn(1)) })
            .unwrap();
        s.handle_input(assoc_core::Instant::ZERO, Input::Open).unwrap();
        let mut tag = None;
        loop {
            match s.poll_output() {
                assoc_core::Output::Wait { .. } => break,
                assoc_core::Output::Persist { seq, .. } => {
                    let _ = s.handle_input(assoc_core::Instant::ZERO, Input::Persisted { upto: seq });
                }
                assoc_core::Output::Transmit(t) => {
                    if let Ok(Pdu { body: Body::Init(init), .. }) = Pdu::decode(&t.datagram) {
                        tag = Some(init.tag_i);
                    }
                }
                _ => {}
            }
        }
        tag.expect("an INIT")
    };
    for seed in [0, u64::MAX, 0x1234_5678_9abc_def0] {
        assert_eq!(init_tag(seed, 1), init_tag(seed, 1), "deterministic");
        assert_ne!(init_tag(seed, 1), init_tag(seed, 2), "seed {seed:#x}");
    }
}

/// Fires side `i`'s timers (only its own) until `until`.
fn run_side_until(m: &mut Manual, i: usize, until: assoc_core::Instant) {
    while let Some(t) = m.deadline(i).filter(|&t| t <= until) {
        m.now = m.now.max(t);
        m.input(i, Input::Timeout).unwrap();
    }
}

/// The idle timer closes an association only when nothing is going on: an unanswered
/// keepalive PING in flight keeps beta's (not held open: alpha opened it) open past
/// `lifetime`.
#[test]
fn an_association_with_a_packet_in_flight_is_not_idle() {
    let (a, mut b) = common::configs();
    b.lifetime = Duration::from_secs(31); // just after the 30 s keepalive
    let mut m = Manual::with(a, b);
    m.input(0, Input::Open).unwrap();
    let mut d = [0, 0];
    m.exchange(&mut d);
    let up = m.now;
    let sent = m.sent[1].len();
    run_side_until(&mut m, 1, up + Duration::from_secs(32));
    assert!(pings(&m.sent[1][sent..]) >= 1, "the keepalive went out");
    let closes = m.sent[1][sent..]
        .iter()
        .filter_map(|p| Pdu::decode(p).ok())
        .filter(|p| matches!(&p.body, Body::Packet(f) if f.iter().any(|f| matches!(f, Frame::Close { .. }))))
        .count();
    assert_eq!(closes, 0, "no idle CLOSE while the PING is unanswered");
}

/// Alpha's link is already down when its disconnect timer fires: no second HangUp.
#[test]
fn no_hang_up_is_requested_for_a_link_already_down() {
    let (mut m, mut d) = established();
    m.input(0, Input::Release).unwrap();
    m.exchange(&mut d);
    let drained = m.now + Duration::from_secs(10);
    run_side_until(&mut m, 0, drained); // the drain ends
    assert!(m.s[0].association().is_none());
    assert!(m.deadline(0).is_some(), "the disconnect timer is armed");
    m.input(0, Input::LinkDown).unwrap();
    let mut hang_ups = 0;
    for _ in 0..10 {
        let Some(t) = m.deadline(0) else { break };
        m.now = m.now.max(t);
        let _ = m.s[0].handle_input(m.now, Input::Timeout);
        loop {
            let out = m.s[0].poll_output();
            if matches!(out, assoc_core::Output::Wait { .. }) {
                break;
            }
            if out == assoc_core::Output::Bearer(assoc_core::BearerRequest::HangUp) {
                hang_ups += 1;
            }
            if let assoc_core::Output::Persist { seq, .. } = out {
                let _ = m.s[0].handle_input(m.now, Input::Persisted { upto: seq });
            }
        }
    }
    assert_eq!(hang_ups, 0);
}

fn data_frames(sent: &[Bytes]) -> Vec<(u64, u64)> {
    sent.iter()
        .filter_map(|d| Pdu::decode(d).ok())
        .flat_map(|p| match p.body {
            Body::Packet(frames) => frames,
            _ => Vec::new(),
        })
        .filter_map(|f| if let Frame::Data(d) = f { Some((d.msn, d.offset)) } else { None })
        .collect()
}

/// Lost packets of a message cancelled meanwhile are moot: their retransmissions are
/// dropped, and the still-needed ones queued behind them go out at once, in the same
/// flush — not at the next input or timer.
#[test]
fn retransmissions_behind_moot_ones_go_out_at_once() {
    let (mut m, d) = established();
    let sub = |app_id| assoc_core::Submission {
        app_id,
        priority: assoc_core::Priority::Normal,
        deadline: None,
        bytes: Bytes::from(vec![app_id as u8; 2_600]),
    };
    let doomed = m.s[0].submit(m.now, sub(1)).unwrap();
    m.s[0].submit(m.now, sub(2)).unwrap();
    m.drain(0);
    assert_eq!(data_frames(&m.sent[0][d[0]..]).len(), 4, "two segments each");
    m.input(0, Input::Cancel(doomed)).unwrap(); // a CANCEL in a packet of its own
    let mut arriving = vec![m.sent[0].last().unwrap().clone()];
    // Three more packets, so that every DATA packet is three or more below the largest
    // acknowledged one.
    for _ in 0..3 {
        arriving.push(m.s[0].seal_raw_packet(m.now, vec![Frame::Ping]).unwrap());
    }
    // Only these arrive; beta's answers acknowledge them and resolve msn 0, so alpha
    // declares the DATA packets lost.
    for p in arriving {
        m.input(1, Input::Datagram { from: Manual::remote(0), datagram: p }).unwrap();
    }
    let answer = m.sent[1].last().unwrap().clone();
    let before = m.sent[0].len();
    m.input(0, Input::Datagram { from: Manual::remote(1), datagram: answer }).unwrap();
    let resent = data_frames(&m.sent[0][before..]);
    assert!(resent.iter().all(|&(msn, _)| msn == 1), "nothing of the cancelled message: {resent:?}");
    assert!(resent.contains(&(1, 0)), "message 1's lost first segment goes out now: {resent:?}");
}
