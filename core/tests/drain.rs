//! A driver that batches inputs before draining (as the adapters do: many submissions, one
//! commit) must not leave work behind: when a flush stopped early because the outbox was
//! full of undrained outputs, draining it resumes the flush, without waiting for another
//! input or a timer (which, with nothing in flight, is the 30 s keepalive).

use assoc_core::{
    Config, Input, Instant, Output, PeerName, Priority, Psk, Remote, Session, SessionState, Submission, Suite,
};
use bytes::Bytes;

fn pair() -> [Session; 2] {
    let psk = Psk::new(b"drain test psk 16").expect("16 bytes");
    let (a, b) = (PeerName::new(b"a").expect("name"), PeerName::new(b"b").expect("name"));
    let mut ca = Config::new(a, b, psk.clone());
    let mut cb = Config::new(b, a, psk);
    for c in [&mut ca, &mut cb] {
        c.suite = Suite::Symbolic;
        c.params.msg_window = 256;
    }
    [Session::new(ca, 1).expect("config"), Session::new(cb, 2).expect("config")]
}

/// Drains side `i` like a driver with immediate durability; returns the datagrams it sent.
fn drain(s: &mut Session, now: Instant) -> Vec<Bytes> {
    let mut sent = Vec::new();
    loop {
        let mut upto = None;
        loop {
            match s.poll_output() {
                Output::Wait { .. } => break,
                Output::Persist { seq, .. } => upto = Some(seq),
                Output::Transmit(t) => sent.push(t.datagram),
                _ => {}
            }
        }
        match upto {
            Some(seq) => s.handle_input(now, Input::Persisted { upto: seq }).map(drop).expect("persisted"),
            None => return sent,
        }
    }
}

#[test]
fn messages_queued_during_the_handshake_are_sent_once_the_outbox_is_drained() {
    let mut s = pair();
    let now = Instant::ZERO;
    for (i, side) in s.iter_mut().enumerate() {
        side.handle_input(now, Input::LinkUp { peer: Some(Remote::Conn(1 - i as u64)) }).expect("link up");
    }
    s[0].handle_input(now, Input::Open).expect("open");
    let mut app_id = 0;
    let mut to_b = drain(&mut s[0], now);
    for _ in 0..10 {
        let mut to_a = Vec::new();
        for d in to_b.drain(..) {
            let _ = s[1].handle_input(now, Input::Datagram { from: Remote::Conn(0), datagram: d });
        }
        to_a.extend(drain(&mut s[1], now));
        if to_a.is_empty() {
            break;
        }
        // A batch of submissions arrives with the handshake's next packet, before the driver
        // drains (the adapters read commands and datagrams, then flush once).
        for _ in 0..200 {
            app_id += 1;
            let m = Submission {
                app_id,
                priority: Priority::Normal,
                deadline: None,
                bytes: Bytes::from_static(b"x"),
            };
            s[0].handle_input(now, Input::Submit(m)).expect("room");
        }
        for d in to_a {
            let _ = s[0].handle_input(now, Input::Datagram { from: Remote::Conn(1), datagram: d });
        }
        to_b = drain(&mut s[0], now);
    }
    assert_eq!(s[0].state(), SessionState::Established);
    assert!(
        s[0].stats().data_bytes_sent > 0,
        "messages queued during the handshake wait for another input instead of being sent"
    );
}

/// Drains `s` with immediate durability; the deadline its `Output::Wait` carries.
fn wait(s: &mut Session, now: Instant) -> Option<Instant> {
    loop {
        match s.poll_output() {
            Output::Wait { until } => return until,
            Output::Persist { seq, .. } => {
                s.handle_input(now, Input::Persisted { upto: seq }).expect("persisted");
            }
            _ => {}
        }
    }
}

#[test]
fn a_drain_ends_with_the_earliest_deadline_and_a_timeout_there_moves_it_on() {
    let mut s = pair();
    assert_eq!(s[0].poll_output(), Output::Wait { until: None }, "nothing armed, nothing to do");
    let now = Instant::ZERO;
    s[0].handle_input(now, Input::LinkUp { peer: Some(Remote::Conn(1)) }).expect("link up");
    s[0].handle_input(now, Input::Open).expect("open");
    let until = wait(&mut s[0], now);
    assert!(until.is_some(), "the INIT's retransmission is armed");
    assert_eq!(until, s[0].armed_timers().map(|(_, at)| at).min(), "the earliest armed timer");
    assert_eq!(s[0].poll_output(), Output::Wait { until }, "polling again repeats the wait");
    let due = until.expect("armed");
    s[0].handle_input(due, Input::Timeout).expect("timeout");
    let retransmits = std::iter::from_fn(|| match s[0].poll_output() {
        Output::Wait { .. } => None,
        out => Some(out),
    })
    .filter(|o| matches!(o, Output::Transmit(_)))
    .count();
    assert_eq!(retransmits, 1, "the INIT went out again");
    assert!(wait(&mut s[0], due).is_some_and(|next| next > due), "the next wait is later");
}
