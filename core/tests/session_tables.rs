//! The sender's and receiver's state machines, row by row, and what bad input does.

mod common;

use assoc_core::sim::{Impairments, Ledger, Pair};
use assoc_core::wire::{Body, DataFrame, FirstSegment, Frame, Pdu, RejectReason};
use assoc_core::{
    CancelError, Duration, Event, Input, InputError, MessageId, NonDelivery, Outcome, Output, Priority,
    SessionState, Submission, SubmitError,
};
use bytes::Bytes;
use common::Manual;

fn msg(app_id: u64, bytes: &'static [u8]) -> Submission {
    Submission { app_id, priority: Priority::Normal, deadline: None, bytes: Bytes::from_static(bytes) }
}

fn outcomes(events: &[Event]) -> Vec<(u64, Outcome)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Outcome { app_id, outcome, .. } => Some((*app_id, *outcome)),
            _ => None,
        })
        .collect()
}

fn delivered(events: &[Event]) -> Vec<(u64, u64)> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::Delivered { msn, app_id, .. } => Some((*msn, *app_id)),
            _ => None,
        })
        .collect()
}

fn established() -> (Manual, [usize; 2]) {
    let mut m = Manual::new();
    m.input(0, Input::Open).unwrap();
    let mut d = [0, 0];
    for _ in 0..4 {
        m.exchange(&mut d);
    }
    assert_eq!(m.s[0].state(), SessionState::Established);
    (m, d)
}

// ----- bad input from the application -----

#[test]
fn submissions_beyond_limits_are_refused_with_typed_errors_and_nothing_is_queued() {
    let (mut a, b) = common::configs();
    a.max_queued_messages = 2;
    a.max_message_len = 10;
    a.max_queued_bytes = 15;
    let mut m = Manual::with(a, b);
    let now = m.now;
    let s0 = &mut m.s[0];
    assert_eq!(s0.submit(now, msg(1, b"0123456789a")), Err(SubmitError::TooLarge { len: 11, max: 10 }));
    let past = Submission { deadline: Some(now), ..msg(2, b"x") };
    assert_eq!(s0.submit(now, past), Err(SubmitError::DeadlineInPast));
    assert_eq!(s0.submit(now, msg(3, b"0123456789")), Ok(MessageId(0)));
    assert_eq!(
        s0.submit(now, msg(4, b"0123456789")),
        Err(SubmitError::QueueBytesFull { queued: 10, limit: 15 })
    );
    assert_eq!(s0.submit(now, msg(5, b"01234")), Ok(MessageId(1)));
    assert_eq!(s0.submit(now, msg(6, b"")), Err(SubmitError::QueueFull { limit: 2 }));
    assert_eq!(s0.store().outbound.len(), 2);
    assert_eq!(
        s0.handle_input(now, Input::Cancel(MessageId(9))),
        Err(InputError::Cancel(CancelError::Unknown(MessageId(9))))
    );
}

/// A driver that keeps submitting without draining its outputs (a slow disk, a stalled
/// loop) cannot grow the output queue: a message keeps its place in the queue until its
/// outcome has been handed out, not merely decided (fuzz regression
/// `session/outcomes-pile-up-while-submitting`).
#[test]
fn a_message_keeps_its_queue_slot_until_its_outcome_is_acknowledged() {
    let (mut a, b) = common::configs();
    a.max_queued_messages = 2;
    let mut m = Manual::with(a, b);
    m.input(0, Input::LinkDown).unwrap(); // nothing can be sent: cancelling is immediate
    let now = m.now;
    let s0 = &mut m.s[0];
    let first = s0.submit(now, msg(1, b"a")).unwrap();
    s0.submit(now, msg(2, b"b")).unwrap();
    s0.handle_input(now, Input::Cancel(first)).unwrap();
    assert_eq!(s0.store().outbound.len(), 1, "the cancelled message left the store");
    assert_eq!(
        s0.submit(now, msg(3, b"c")),
        Err(SubmitError::QueueFull { limit: 2 }),
        "its outcome is not out yet"
    );
    m.drain(0);
    assert_eq!(outcomes(&m.events[0]), [(1, Outcome::NonDelivered(NonDelivery::Cancelled))]);
    assert_eq!(
        m.s[0].submit(now, msg(3, b"c")),
        Err(SubmitError::QueueFull { limit: 2 }),
        "polled, not acknowledged"
    );
    m.input(0, Input::Acknowledge(assoc_core::Ack::Outcome(first))).unwrap();
    assert_eq!(m.s[0].submit(now, msg(3, b"c")), Ok(MessageId(2)), "acknowledged: the slot is free");
}

// ----- sender table -----

#[test]
fn sender_queued_message_cancelled_or_expired_before_sending_is_non_delivered_at_once() {
    let mut m = Manual::new();
    m.input(0, Input::LinkDown).unwrap(); // no bearer: nothing can be sent
    let soon = Some(m.now + Duration::from_secs(5));
    let id = m.s[0].submit(m.now, msg(1, b"a")).unwrap();
    m.s[0].submit(m.now, Submission { deadline: soon, ..msg(2, b"b") }).unwrap();
    m.drain(0);
    m.input(0, Input::Cancel(id)).unwrap();
    assert_eq!(outcomes(&m.events[0]), [(1, Outcome::NonDelivered(NonDelivery::Cancelled))]);
    m.now += Duration::from_secs(5);
    m.input(0, Input::Timeout).unwrap();
    assert_eq!(outcomes(&m.events[0])[1], (2, Outcome::NonDelivered(NonDelivery::Expired)));
    assert!(m.s[0].store().outbound.is_empty());
}

#[test]
fn sender_in_flight_message_that_expires_is_cancelled_through_the_receiver_never_unilaterally() {
    let (mut m, mut d) = established();
    let soon = Some(m.now + Duration::from_secs(5));
    m.s[0].submit(m.now, Submission { deadline: soon, ..msg(7, b"in doubt") }).unwrap();
    m.drain(0);
    // The DATA leaves but never arrives; the deadline passes.
    d[0] = m.sent[0].len();
    m.now += Duration::from_secs(5);
    m.s[0].handle_timer(m.now, assoc_core::Timer::Expiry);
    m.drain(0);
    assert!(outcomes(&m.events[0]).is_empty(), "in doubt: no unilateral outcome");
    let cancel = m.sent[0].iter().rev().find_map(|p| match Pdu::decode(p).unwrap().body {
        Body::Packet(f) => f.into_iter().find(|f| matches!(f, Frame::Cancel { .. })),
        _ => None,
    });
    assert_eq!(cancel, Some(Frame::Cancel { msn: 0 }));
    d[0] = m.sent[0].len() - 1;
    m.exchange(&mut d);
    assert_eq!(outcomes(&m.events[0]), [(7, Outcome::NonDelivered(NonDelivery::Expired))]);
    assert!(delivered(&m.events[1]).is_empty());
}

#[test]
fn sender_cancel_that_loses_the_race_reports_delivered() {
    let (mut m, mut d) = established();
    let id = m.s[0].submit(m.now, msg(8, b"fast")).unwrap();
    m.drain(0);
    m.exchange(&mut d); // delivered before the application changes its mind
                        // (the outcome may already be known; if not, the cancel is answered with Delivered)
    let _ = m.input(0, Input::Cancel(id));
    m.exchange(&mut d);
    assert_eq!(outcomes(&m.events[0]), [(8, Outcome::Delivered)]);
    assert_eq!(delivered(&m.events[1]), [(0, 8)]);
}

// ----- receiver table -----

fn data(msn: u64, offset: u64, bytes: &'static [u8], total: Option<u64>) -> Frame {
    let first =
        total.map(|total_len| FirstSegment { total_len, priority: Priority::Normal, app_id: 40 + msn });
    let fin = total.is_some_and(|t| t == offset + bytes.len() as u64);
    Frame::Data(DataFrame { msn, offset, fin, first, bytes: Bytes::from_static(bytes) })
}

/// alpha, authentic but misbehaving, sends `frames` to beta; returns beta's stats after.
fn from_evil_alpha(m: &mut Manual, frames: Vec<Frame>) -> Result<assoc_core::Verdict, InputError> {
    let p = m.s[0].seal_raw_packet(m.now, frames).expect("an association");
    m.input(1, Input::Datagram { from: Manual::remote(0), datagram: p })
}

#[test]
fn receiver_drops_and_counts_data_outside_the_window_beyond_the_length_or_conflicting() {
    let (mut m, _) = established();
    let w = u64::from(m.s[1].config().params.msg_window);
    from_evil_alpha(&mut m, vec![data(w, 0, b"x", Some(1))]).unwrap();
    assert_eq!(m.s[1].stats().data_outside_window, 1);
    from_evil_alpha(&mut m, vec![data(0, 0, b"abc", Some(5))]).unwrap();
    from_evil_alpha(&mut m, vec![data(0, 4, b"xyz", None)]).unwrap();
    assert_eq!(m.s[1].stats().data_out_of_bounds, 1, "bytes 4..7 of a 5-byte message");
    from_evil_alpha(&mut m, vec![data(0, 1, b"ZZ", None)]).unwrap();
    assert_eq!(m.s[1].stats().data_conflicting, 1, "other bytes at offsets 1..3");
    from_evil_alpha(&mut m, vec![data(0, 3, b"de", None)]).unwrap();
    assert_eq!(delivered(&m.events[1]), [(0, 40)], "the honest bytes still complete the message");
    assert_eq!(m.s[1].state(), SessionState::Established, "none of it ends the association");
}

#[test]
fn an_authentic_but_impossible_summary_aborts_the_association_never_the_session() {
    use assoc_core::wire::{PartialEntry, Resolution, ResolvedEntry, Summary};
    // Alpha never sent anything (its next msn is 0), yet beta claims, in turn, that msns
    // below 6 are resolved, that msn 0 is resolved, that msn 0 is partly received.
    let lies = [
        Summary { resolved_below: 6, resolved: vec![], partial: vec![] },
        Summary {
            resolved_below: 0,
            resolved: vec![ResolvedEntry { msn: 0, resolution: Resolution::Cancelled }],
            partial: vec![],
        },
        Summary { resolved_below: 0, resolved: vec![], partial: vec![PartialEntry { msn: 0, durable: 0 }] },
    ];
    for lie in lies {
        let (mut m, _) = established();
        let p = m.s[1].seal_raw_packet(m.now, vec![Frame::Summary(lie.clone())]).unwrap();
        m.input(0, Input::Datagram { from: Manual::remote(1), datagram: p }).unwrap();
        assert!(
            m.events[0].iter().any(|e| matches!(
                e,
                Event::AssociationDown {
                    reason: assoc_core::DownReason::Aborted(assoc_core::wire::AbortReason::ProtocolViolation),
                    ..
                }
            )),
            "{lie:?}"
        );
        // The session survives: alpha holds the association open, so a new one is on its way.
        assert_eq!(m.s[0].state(), SessionState::Opening);
    }
}

#[test]
fn receiver_refuses_oversized_messages_with_reject_and_the_sender_reports_it() {
    let (a, mut b) = common::configs();
    b.max_message_len = 4;
    let mut m = Manual::with(a, b);
    m.input(0, Input::Open).unwrap();
    let mut d = [0, 0];
    m.exchange(&mut d);
    m.input(0, Input::Submit(msg(2, b"four"))).unwrap(); // exactly the limit: fine
    m.input(0, Input::Submit(msg(3, b"too long"))).unwrap();
    m.exchange(&mut d);
    assert_eq!(
        outcomes(&m.events[0]),
        [(2, Outcome::Delivered), (3, Outcome::NonDelivered(NonDelivery::Rejected(RejectReason::TooLarge)))]
    );
    assert_eq!(delivered(&m.events[1]), [(0, 2)]);
}

#[test]
fn receiver_counts_data_of_an_already_delivered_message_as_a_duplicate() {
    let (mut m, _) = established();
    from_evil_alpha(&mut m, vec![data(0, 0, b"abc", Some(3))]).unwrap();
    assert_eq!(delivered(&m.events[1]), [(0, 40)]);
    let before = m.s[1].stats().data_duplicate;
    // The same DATA in a new packet (a retransmission that crossed the ACK): below the
    // watermark now.
    from_evil_alpha(&mut m, vec![data(0, 0, b"abc", Some(3))]).unwrap();
    assert_eq!(m.s[1].stats().data_duplicate, before + 1);
    assert_eq!(delivered(&m.events[1]), [(0, 40)], "delivered once");
    assert_eq!(m.s[1].stats().delivered, 1);
}

#[test]
fn receiver_delivers_in_msn_order_even_when_later_messages_complete_first() {
    let (mut m, mut d) = established();
    for (id, body) in [(1u64, &b"first"[..]), (2, b"second"), (3, b"third")] {
        m.s[0]
            .submit(
                m.now,
                Submission {
                    app_id: id,
                    priority: Priority::Normal,
                    deadline: None,
                    bytes: Bytes::from_static(body),
                },
            )
            .unwrap();
    }
    m.drain(0);
    // Deliver alpha's packets newest first.
    let start = d[0];
    let pending: Vec<Bytes> = m.sent[0][start..].to_vec();
    d[0] = m.sent[0].len();
    for p in pending.iter().rev() {
        let _ = m.input(1, Input::Datagram { from: Manual::remote(0), datagram: p.clone() });
    }
    m.exchange(&mut d);
    assert_eq!(delivered(&m.events[1]), [(0, 1), (1, 2), (2, 3)]);
}

#[test]
fn orderly_release_never_turns_a_message_into_a_non_delivery() {
    let (a, b) = common::configs();
    let mut p = Pair::new(a, b, Impairments::hostile(), 5).unwrap();
    let mut ledger = Ledger::default();
    p.link_up_now();
    for app_id in 0..5 {
        let bytes = Bytes::from(vec![app_id as u8; 3000]);
        ledger.submitted(0, app_id, bytes.clone());
        p.input(0, Input::Submit(Submission { app_id, priority: Priority::Normal, deadline: None, bytes }));
        // Release right after each submission, while the message is in flight.
        p.input(0, Input::Release);
    }
    assert!(p.run_until(Duration::from_secs(600), |p| {
        let mut l = ledger.clone();
        l.check(p).unwrap();
        l.all_resolved() && l.totals() == (5, 5)
    }));
    ledger.check(&p).unwrap();
    assert!(ledger.outcomes(0).all(|(_, o)| *o == Outcome::Delivered));
}

#[test]
fn a_flood_from_the_peer_never_grows_the_output_queue_beyond_its_bound() {
    let (mut m, _) = established();
    let bound = m.s[1].config().max_packets_in_flight as usize + 16;
    // beta's driver stops draining; alpha floods authentic PINGs, each eliciting an ACK.
    for _ in 0..2000 {
        let p = m.s[0].seal_raw_packet(m.now, vec![Frame::Ping]).unwrap();
        let _ = m.s[1].handle_input(m.now, Input::Datagram { from: Manual::remote(0), datagram: p });
    }
    assert!(m.s[1].pending_outputs() <= bound, "{} outputs queued", m.s[1].pending_outputs());
    // Draining resumes: the ACK state was kept and goes out coalesced.
    m.drain(1);
    let _ = m.s[1].handle_input(m.now, Input::Timeout);
    m.drain(1);
    let acks = m.sent[1].iter().filter(|p| matches!(Pdu::decode(p).unwrap().body, Body::Packet(ref f) if f.iter().any(|f| matches!(f, Frame::Ack { .. })))).count();
    assert!(acks > 0);
}

fn frames_of(datagram: &Bytes) -> Vec<Frame> {
    match Pdu::decode(datagram).map(|p| p.body) {
        Ok(Body::Packet(frames)) => frames,
        _ => Vec::new(),
    }
}

/// RFC 9002 §2: ACK-only packets are not in flight. With a window of one packet, a side that
/// only answers the peer's PINGs (with ACK-only packets nobody acknowledges) can still send
/// DATA; and when its own PING was lost, it adds a PING to an ACK after a streak of them,
/// so the loss is found without waiting for its probe timer.
#[test]
fn ack_only_packets_neither_fill_the_window_nor_hide_a_lost_ping() {
    let (mut a, b) = common::configs();
    a.max_packets_in_flight = 1;
    let mut m = Manual::with(a, b);
    m.input(0, Input::Open).unwrap();
    let mut d = [0, 0];
    for _ in 0..4 {
        m.exchange(&mut d);
    }
    assert_eq!(m.s[0].state(), SessionState::Established);
    // alpha's PING is lost.
    m.s[0].seal_raw_packet(m.now, vec![Frame::Ping]).unwrap();
    // beta pings alpha over and over; alpha answers each with an ACK.
    let mut with_ping = None;
    for k in 0..40 {
        let p = m.s[1].seal_raw_packet(m.now, vec![Frame::Ping]).unwrap();
        let before = m.sent[0].len();
        m.input(0, Input::Datagram { from: Manual::remote(1), datagram: p }).unwrap();
        let answers = &m.sent[0][before..];
        assert_eq!(answers.len(), 1, "one answer per PING");
        let frames = frames_of(&answers[0]);
        assert!(frames.iter().any(|f| matches!(f, Frame::Ack { .. })));
        if frames.contains(&Frame::Ping) {
            with_ping = Some(k);
            break;
        }
    }
    // After 16 ACK-only answers, the 17th carries a PING.
    assert_eq!(with_ping, Some(16));
    d[0] = m.sent[0].len() - 1;
    d[1] = m.sent[1].len();
    let lost_before = m.s[0].stats().packets_lost;
    m.exchange(&mut d);
    // beta's ACK of that PING reveals the lost one.
    assert_eq!(m.s[0].stats().packets_lost, lost_before + 1);
    // Nothing of alpha's is in flight any more: DATA goes out at once, window of one.
    let before = m.sent[0].len();
    m.input(0, Input::Submit(msg(7, b"hello"))).unwrap();
    assert!(m.sent[0][before..].iter().any(|p| frames_of(p).iter().any(|f| matches!(f, Frame::Data(_)))));
    m.exchange(&mut d);
    assert_eq!(delivered(&m.events[1]), [(0, 7)]);
}

/// While the driver does not report records durable, open attempts (each an `Epoch` record
/// and an INIT behind it) and dials stop at the output queue's bound instead of piling up;
/// once the records are durable, the waiting outputs leave and opening resumes.
#[test]
fn open_attempts_never_pile_up_behind_records_that_are_not_durable() {
    let (mut a, _) = common::configs();
    a.max_packets_in_flight = 2;
    let bound = a.max_packets_in_flight as usize + 16;
    let mut s = assoc_core::Session::new(a, 3).unwrap();
    let mut now = assoc_core::Instant::ZERO;
    let mut held = 0;
    let mut until = None;
    for _ in 0..200 {
        for input in [
            Input::LinkUp { peer: Some(assoc_core::Remote::Conn(1)) },
            Input::Open,
            Input::Timeout,
            Input::LinkDown,
            Input::Timeout,
        ] {
            if matches!(input, Input::Timeout) {
                now = now.max(until.unwrap_or(now));
            }
            let _ = s.handle_input(now, input);
            // The driver takes the records but never reports them durable.
            until = loop {
                if let Output::Wait { until } = s.poll_output() {
                    break until;
                }
            };
            held = s.pending_outputs();
            if held > bound {
                let mut c = s.clone();
                c.handle_input(now, Input::Persisted { upto: c.records_issued() }).unwrap();
                let v: Vec<_> = common::outputs(&mut c).collect();
                panic!("{held} outputs wait, bound {bound}: {v:?}");
            }
        }
    }
    assert_eq!(held, bound, "the attempts did reach the bound");
    s.handle_input(now, Input::Persisted { upto: s.records_issued() }).unwrap();
    let mut inits = 0;
    for o in common::outputs(&mut s) {
        if let Output::Transmit(t) = o {
            inits += usize::from(matches!(Pdu::decode(&t.datagram).map(|p| p.body), Ok(Body::Init(_))));
        }
    }
    assert!(inits > 0);
    assert_eq!(s.pending_outputs(), 0);
}

/// Runs side 0 alone (its datagrams go nowhere) until `done` holds; returns whether it did.
fn run_alone(m: &mut Manual, done: impl Fn(&Manual) -> bool) -> bool {
    for _ in 0..10_000 {
        if done(m) {
            return true;
        }
        let Some(t) = m.deadline(0) else { return false };
        m.now = m.now.max(t);
        let _ = m.input(0, Input::Timeout);
    }
    false
}

fn open_failed(m: &Manual) -> bool {
    m.events[0].iter().any(|e| matches!(e, Event::OpenFailed { .. }))
}

/// Open retries run out. Never-sent messages are given up at once; a message in doubt
/// stays, and the session keeps trying to open at the longest interval, since only the
/// receiver's word can resolve it. With nothing in doubt, it stops trying.
#[test]
fn open_retries_exhausted_give_up_unsent_messages_but_keep_opening_for_in_doubt_ones() {
    use assoc_core::Timer;
    let (mut a, b) = common::configs();
    a.max_open_retries = 1;
    let open_backoff = |m: &Manual| m.s[0].armed_timers().find(|(t, _)| *t == Timer::OpenBackoff);

    // Nothing in doubt: the peer never answers.
    let mut m = Manual::with(a.clone(), b.clone());
    m.s[0].submit(m.now, msg(1, b"never sent")).unwrap();
    m.drain(0);
    let _ = m.input(0, Input::Open);
    assert!(run_alone(&mut m, open_failed), "opening never gave up");
    assert_eq!(outcomes(&m.events[0]), [(1, Outcome::NonDelivered(NonDelivery::OpenFailed))]);
    assert_eq!(open_backoff(&m), None, "nothing in doubt: no more attempts");

    // A message in doubt: sent in an association that then lost its link.
    let mut m = Manual::with(a.clone(), b.clone());
    m.input(0, Input::Open).unwrap();
    let mut d = [0, 0];
    for _ in 0..4 {
        m.exchange(&mut d);
    }
    assert_eq!(m.s[0].state(), SessionState::Established);
    m.s[0].submit(m.now, msg(2, b"in doubt")).unwrap();
    m.drain(0);
    assert!(m.s[0].store().outbound.values().all(|s| s.msn.is_some()), "the message went out");
    m.input(0, Input::LinkDown).unwrap();
    m.input(0, Input::LinkUp { peer: Some(Manual::remote(1)) }).unwrap();
    let _ = m.input(0, Input::Open);
    assert!(run_alone(&mut m, open_failed), "opening never gave up");
    assert_eq!(outcomes(&m.events[0]), [], "an in-doubt message is never given up unilaterally");
    assert_eq!(open_backoff(&m), Some((Timer::OpenBackoff, m.now + a.open_interval)));
}

/// The receiver's RESOLVED and REJECT frames settle a message at once (no need to wait
/// for a summary); one about a msn never sent is an impossible claim.
#[test]
fn resolved_and_reject_frames_settle_at_once_and_a_never_sent_msn_aborts() {
    let cases = [
        (
            Frame::Resolved { msn: 0, resolution: assoc_core::wire::Resolution::Delivered },
            Some(Outcome::Delivered),
        ),
        (
            Frame::Reject { msn: 0, reason: RejectReason::TooLarge },
            Some(Outcome::NonDelivered(NonDelivery::Rejected(RejectReason::TooLarge))),
        ),
        (Frame::Resolved { msn: 1, resolution: assoc_core::wire::Resolution::Delivered }, None),
    ];
    for (frame, want) in cases {
        let (mut m, _) = established();
        m.s[0].submit(m.now, msg(7, b"x")).unwrap();
        m.drain(0); // msn 0 is sent, and never delivered
        let p = m.s[1].seal_raw_packet(m.now, vec![frame.clone()]).unwrap();
        m.input(0, Input::Datagram { from: Manual::remote(1), datagram: p }).unwrap();
        match want {
            Some(outcome) => assert_eq!(outcomes(&m.events[0]), [(7, outcome)], "{frame:?}"),
            None => {
                assert_eq!(outcomes(&m.events[0]), [], "{frame:?}");
                assert!(
                    m.events[0].iter().any(|e| matches!(
                        e,
                        Event::AssociationDown {
                            reason: assoc_core::DownReason::Aborted(
                                assoc_core::wire::AbortReason::ProtocolViolation
                            ),
                            ..
                        }
                    )),
                    "{frame:?}"
                );
            }
        }
    }
}

/// While a large message is under way, `resume_points` reports where a new association
/// would resume it: the receiver's durable prefix as last reported, which only grows.
#[test]
fn resume_points_follow_the_receivers_checkpoints() {
    let (mut m, mut d) = established();
    let cs = u64::from(m.s[0].config().params.checkpoint_size);
    let len = 4 * cs as usize;
    let id = m.s[0].submit(m.now, Submission { bytes: vec![7u8; len].into(), ..msg(1, b"") }).unwrap();
    m.drain(0);
    let mut seen = Vec::new();
    for _ in 0..10_000 {
        // One datagram at a time each way, so progress is observed between steps.
        let mut moved = false;
        for (from, next) in d.iter_mut().enumerate() {
            if *next < m.sent[from].len() {
                let _ = m.deliver(from, *next);
                *next += 1;
                moved = true;
            }
        }
        seen.extend(m.s[0].resume_points().filter(|&(i, acked)| i == id && acked > 0).map(|(_, a)| a));
        if !moved {
            break;
        }
    }
    assert_eq!(delivered(&m.events[1]), [(0, 1)], "the message arrived");
    assert!(!seen.is_empty(), "no checkpoint was ever reported");
    assert!(seen.iter().all(|&a| a >= cs && a < len as u64), "a checkpoint, short of the end: {seen:?}");
    assert!(seen.windows(2).all(|w| w[0] <= w[1]), "only grows: {seen:?}");
}
