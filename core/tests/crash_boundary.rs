//! The embedder's contract at the crash boundary (issue #13): a driver that crashes between a
//! durable record and the `Persisted` report, restores, and does what the docs say.
//!
//! The driver below writes every record durably at once (into its own `SessionStore`, folded
//! with `apply`, as a real store does) and can crash right after a chosen record is durable
//! and before it reports `Persisted`: the session and everything not yet drained are lost.

mod common;

use assoc_core::{
    Ack, AckError, Event, Input, InputError, Instant, MessageId, MessageState, Outcome, Output, Priority,
    Record, Remote, Session, SessionStore, Submission,
};
use bytes::Bytes;

/// Crash right after a record matching this is durable, before `Persisted`.
type CrashPoint = fn(&Record) -> bool;

struct Side {
    session: Session,
    durable: SessionStore,
    crash_after: Option<CrashPoint>,
    crashes: u64,
    events: Vec<Event>,
    inbox: Vec<Bytes>,
    /// The deadline its last drain ended with.
    deadline: Option<Instant>,
}

struct World {
    sides: [Side; 2],
    configs: [assoc_core::Config; 2],
    now: Instant,
}

impl World {
    fn new() -> World {
        let (a, b) = common::configs();
        let side = |cfg: &assoc_core::Config, seed| Side {
            session: Session::new(cfg.clone(), seed).unwrap(),
            durable: SessionStore::default(),
            crash_after: None,
            crashes: 0,
            events: Vec::new(),
            inbox: Vec::new(),
            deadline: None,
        };
        let mut w = World { sides: [side(&a, 1), side(&b, 2)], configs: [a, b], now: Instant::ZERO };
        for i in 0..2 {
            w.input(i, Input::LinkUp { peer: Some(Remote::Conn(1 - i as u64)) });
        }
        w.input(0, Input::Open);
        w
    }

    fn input(&mut self, i: usize, input: Input) {
        let _ = self.sides[i].session.handle_input(self.now, input);
    }

    /// The process of side `i` dies and starts again from its durable state; the driver
    /// sends `LinkUp` (and alpha `Open`) again, as the crate docs say.
    fn crash(&mut self, i: usize) {
        let side = &mut self.sides[i];
        side.crashes += 1;
        side.session =
            Session::restore(self.configs[i].clone(), side.durable.clone(), 100 * side.crashes + i as u64)
                .unwrap();
        self.input(i, Input::LinkUp { peer: Some(Remote::Conn(1 - i as u64)) });
        if i == 0 {
            self.input(0, Input::Open);
        }
    }

    /// Drains side `i`; returns its datagrams, or `None` if it crashed.
    fn drain(&mut self, i: usize) -> Option<Vec<Bytes>> {
        let mut sent = Vec::new();
        loop {
            let side = &mut self.sides[i];
            match side.session.poll_output() {
                Output::Wait { until } => {
                    side.deadline = until;
                    return Some(sent);
                }
                Output::Persist { seq, record } => {
                    side.durable.apply(&record);
                    if side.crash_after.is_some_and(|p| p(&record)) {
                        side.crash_after = None;
                        self.crash(i);
                        return None;
                    }
                    let _ = side.session.handle_input(self.now, Input::Persisted { upto: seq });
                }
                Output::Transmit(t) => sent.push(t.datagram),
                Output::Event(e) => {
                    if let Event::Delivered { bytes, .. } = &e {
                        side.inbox.push(bytes.clone());
                    }
                    side.events.push(e);
                }
                _ => {}
            }
        }
    }

    /// Runs until both sides are quiet and have nothing armed before `until`.
    fn run(&mut self, until: Instant) {
        for _ in 0..10_000 {
            let mut moved = false;
            for i in 0..2 {
                if let Some(sent) = self.drain(i) {
                    for d in sent {
                        moved = true;
                        let input = Input::Datagram { from: Remote::Conn(i as u64), datagram: d };
                        let _ = self.sides[1 - i].session.handle_input(self.now, input);
                    }
                } else {
                    moved = true;
                }
            }
            if moved {
                continue;
            }
            // Both sides just drained with nothing passed between them: their deadlines are fresh.
            match self.sides.iter().filter_map(|s| s.deadline).min() {
                Some(t) if t <= until => {
                    self.now = self.now.max(t);
                    for i in 0..2 {
                        self.input(i, Input::Timeout);
                    }
                }
                _ => return,
            }
        }
        panic!("the run did not settle");
    }

    fn deliveries_of(&self, app_id: u64) -> usize {
        let delivered = |e: &&Event| matches!(e, Event::Delivered { app_id: a, .. } if *a == app_id);
        self.sides[1].events.iter().filter(delivered).count()
    }

    fn outcomes_of(&self, app_id: u64) -> Vec<Outcome> {
        self.sides[0]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Outcome { app_id: a, outcome, .. } if *a == app_id => Some(*outcome),
                _ => None,
            })
            .collect()
    }
}

fn pay(app_id: u64) -> Submission {
    Submission { app_id, priority: Priority::Normal, deadline: None, bytes: Bytes::from_static(b"pay 100") }
}

fn later(w: &World, secs: u64) -> Instant {
    w.now + assoc_core::Duration::from_secs(secs)
}

#[test]
fn resubmitting_by_app_id_after_a_crash_before_persisted_delivers_once_with_one_outcome() {
    let mut w = World::new();
    w.run(later(&w, 1));
    w.sides[0].crash_after = Some(|r| matches!(r, Record::Submitted { .. }));
    w.input(0, Input::Submit(pay(7)));
    assert!(w.drain(0).is_none(), "alpha crashed with the Submitted record durable");
    assert!(
        !w.sides[0].events.iter().any(|e| matches!(e, Event::Queued { .. })),
        "the application never learned of custody"
    );
    // As `Event::Queued`'s doc advises: submit again, with the same app id.
    w.input(0, Input::Submit(pay(7)));
    w.run(later(&w, 3600));
    assert_eq!(w.deliveries_of(7), 1, "beta's application got app id 7 exactly once");
    assert_eq!(w.outcomes_of(7), vec![Outcome::Delivered], "alpha's application got one outcome");
    assert_eq!(w.sides[1].inbox, vec![Bytes::from_static(b"pay 100")]);
}

#[test]
fn a_delivery_whose_event_a_crash_swallowed_is_reported_after_restore() {
    let mut w = World::new();
    w.run(later(&w, 1));
    w.sides[1].crash_after = Some(|r| matches!(r, Record::Delivered { .. }));
    w.input(0, Input::Submit(pay(9)));
    w.run(later(&w, 3600));
    assert_eq!(w.sides[1].crashes, 1, "beta crashed with the Delivered record durable");
    assert_eq!(w.deliveries_of(9), 1, "the delivery is reported after the restore");
    assert_eq!(w.outcomes_of(9), vec![Outcome::Delivered]);
}

#[test]
fn an_outcome_whose_event_a_crash_swallowed_is_reported_after_restore() {
    let mut w = World::new();
    w.run(later(&w, 1));
    w.sides[0].crash_after = Some(|r| matches!(r, Record::Finished { .. }));
    w.input(0, Input::Submit(pay(5)));
    w.run(later(&w, 3600));
    assert_eq!(w.sides[0].crashes, 1, "alpha crashed with the Finished record durable");
    assert_eq!(w.deliveries_of(5), 1);
    assert_eq!(w.outcomes_of(5), vec![Outcome::Delivered], "the outcome is reported after the restore");
}

/// Acknowledges every delivery and outcome side `i` has reported so far (as an application
/// does after its own commit).
fn acknowledge_all(w: &mut World, i: usize) {
    let acks: Vec<Ack> = w.sides[i]
        .events
        .iter()
        .filter_map(|e| match e {
            Event::Delivered { msn, .. } => Some(Ack::Delivery(*msn)),
            Event::Outcome { id, .. } => Some(Ack::Outcome(*id)),
            _ => None,
        })
        .collect();
    for a in acks {
        w.input(i, Input::Acknowledge(a));
    }
}

#[test]
fn acknowledged_events_are_not_reported_again_and_unacknowledged_ones_come_with_the_same_ids() {
    let mut w = World::new();
    w.run(later(&w, 1));
    w.sides[1].crash_after = Some(|r| matches!(r, Record::Delivered { .. }));
    w.input(0, Input::Submit(pay(9)));
    w.run(later(&w, 3600));
    let first: Vec<Event> = w.sides[1].events.clone();
    // A restart without acknowledging: the same delivery again, same msn and app id.
    w.crash(1);
    w.run(later(&w, 3600));
    assert_eq!(w.deliveries_of(9), 2, "unacknowledged: reported again after the restore");
    let delivered = |evs: &[Event]| {
        evs.iter().filter(|e| matches!(e, Event::Delivered { .. })).cloned().collect::<Vec<_>>()
    };
    assert_eq!(delivered(&w.sides[1].events)[1], delivered(&first)[0], "same msn, app id and bytes");
    acknowledge_all(&mut w, 1);
    acknowledge_all(&mut w, 0);
    w.run(later(&w, 3600));
    assert!(w.sides[1].durable.inbox.is_empty() && w.sides[0].durable.outcomes.is_empty());
    for i in 0..2 {
        w.crash(i);
    }
    w.run(later(&w, 3600));
    assert_eq!(w.deliveries_of(9), 2, "acknowledged: not reported again");
    assert_eq!(w.outcomes_of(9), vec![Outcome::Delivered], "acknowledged: not reported again");
    // The app id is remembered after the acknowledgement: a resubmission finds it.
    let (id, state) = w.sides[0].session.submitted(9).expect("within the idempotency window");
    assert_eq!(state, MessageState::Finished { outcome: Outcome::Delivered, acknowledged: true });
    assert_eq!(w.sides[0].session.submit(w.now, pay(9)), Ok(id));
    w.run(later(&w, 3600));
    assert_eq!(w.deliveries_of(9), 2, "the resubmission was not sent again");
}

#[test]
fn acknowledging_what_is_not_waiting_is_a_typed_error_and_changes_nothing() {
    let mut w = World::new();
    let before = w.sides[0].session.clone();
    let now = w.now;
    let s = &mut w.sides[0].session;
    assert_eq!(
        s.handle_input(now, Input::Acknowledge(Ack::Delivery(3))),
        Err(InputError::Acknowledge(AckError::UnknownDelivery(3)))
    );
    let id = MessageId(4);
    assert_eq!(
        s.handle_input(now, Input::Acknowledge(Ack::Outcome(id))),
        Err(InputError::Acknowledge(AckError::UnknownOutcome(id)))
    );
    assert!(*s == before);
}

#[test]
fn persisted_beyond_what_was_issued_is_a_typed_error_and_releases_nothing() {
    let (a, _) = common::configs();
    let mut s = Session::new(a, 1).unwrap();
    s.handle_input(Instant::ZERO, Input::LinkUp { peer: Some(Remote::Conn(1)) }).unwrap();
    s.handle_input(Instant::ZERO, Input::Open).unwrap();
    let Output::Persist { seq: 1, .. } = s.poll_output() else { panic!("the Epoch record first") };
    let held = s.poll_output();
    assert!(matches!(held, Output::Wait { .. }), "the INIT waits for record 1, got {held:?}");
    let before = s.clone();
    assert_eq!(
        s.handle_input(Instant::ZERO, Input::Persisted { upto: 2 }),
        Err(InputError::PersistedBeyondIssued { upto: 2, issued: 1 })
    );
    assert!(s == before);
    assert_eq!(s.poll_output(), held, "still held back");
}

#[test]
fn a_duplicate_submission_is_found_whatever_its_state_and_queues_nothing() {
    let mut w = World::new();
    w.run(later(&w, 1));
    let id = w.sides[0].session.submit(w.now, pay(1)).unwrap();
    assert_eq!(w.sides[0].session.submitted(1), Some((id, MessageState::InFlight)), "sent at once");
    let held = w.sides[0].session.store().outbound.len();
    assert_eq!(w.sides[0].session.submit(w.now, pay(1)), Ok(id));
    assert_eq!(w.sides[0].session.store().outbound.len(), held, "nothing new queued");
    w.run(later(&w, 3600));
    assert_eq!(
        w.sides[0].session.submitted(1),
        Some((id, MessageState::Finished { outcome: Outcome::Delivered, acknowledged: false }))
    );
    let queued = w.sides[0].events.iter().filter(|e| matches!(e, Event::Queued { .. })).count();
    assert_eq!(queued, 2, "the duplicate of an unresolved message says Queued again");
    assert_eq!(w.deliveries_of(1), 1);
}

#[test]
fn the_idempotency_window_forgets_the_oldest_acknowledged_app_ids() {
    let (mut a, b) = common::configs();
    a.idempotency_window = 2;
    let mut w = World::new();
    w.configs = [a.clone(), b];
    w.sides[0].session = Session::new(a, 5).unwrap();
    w.input(0, Input::LinkUp { peer: Some(Remote::Conn(1)) });
    w.input(0, Input::Open);
    w.run(later(&w, 1));
    for app_id in 1..=4 {
        w.input(0, Input::Submit(pay(app_id)));
    }
    w.run(later(&w, 3600));
    acknowledge_all(&mut w, 0);
    w.run(later(&w, 1));
    let known: Vec<u64> = (1..=4).filter(|a| w.sides[0].session.submitted(*a).is_some()).collect();
    assert_eq!(known, vec![3, 4], "the two newest acknowledged outcomes are remembered");
    assert_eq!(w.sides[0].durable.remembered.len(), 2, "and so is the durable state");
}

#[test]
fn deliveries_pause_while_the_application_does_not_acknowledge_and_resume_when_it_does() {
    let (a, mut b) = common::configs();
    b.max_queued_messages = 2;
    let mut w = World::new();
    w.configs = [a, b.clone()];
    w.sides[1].session = Session::new(b, 6).unwrap();
    w.input(1, Input::LinkUp { peer: Some(Remote::Conn(0)) });
    w.run(later(&w, 1));
    for app_id in 1..=4 {
        w.input(0, Input::Submit(pay(app_id)));
    }
    w.run(later(&w, 3600));
    let delivered = |w: &World| (1..=4).filter(|a| w.deliveries_of(*a) == 1).count();
    assert_eq!(delivered(&w), 2, "two wait for the application; the others wait for room");
    acknowledge_all(&mut w, 1);
    w.run(later(&w, 600));
    assert_eq!(delivered(&w), 4);
    assert_eq!(w.outcomes_of(4), vec![Outcome::Delivered]);
}
