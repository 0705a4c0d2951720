//! README's "The API in a minute", as a program CI builds and runs
//! (`cargo run -p assoc-core --example api_in_a_minute`): submit, a crash before `Queued`,
//! restore and resubmit by app id, an outcome reported again after a restart, and its
//! acknowledgement. `core/tests/readme.rs` checks the README shows exactly this code.

use assoc_core::{
    Ack, Config, Event, Input, Instant, MessageState, Output, PeerName, Priority, Psk, Session, SessionStore,
    Submission,
};

/// Drains a session like a driver: records go to `disk` (yours would fsync them, encoded
/// with `assoc_core::record_codec`) and are reported durable unless the process "crashes".
fn drain(s: &mut Session, disk: &mut SessionStore, now: Instant, crash: bool) -> Vec<Event> {
    let mut events = Vec::new();
    loop {
        match s.poll_output() {
            // Drained. Sleep until `until` or the next datagram; at `until` feed
            // `handle_input(until, Input::Timeout)`: the one way time comes in.
            Output::Wait { until: _ } => return events,
            Output::Persist { seq, record } => {
                disk.apply(&record);
                if crash {
                    return events; // died after the write, before `Persisted`
                }
                s.handle_input(now, Input::Persisted { upto: seq }).unwrap();
            }
            Output::Event(e) => events.push(e), // Queued, Delivered, Outcome, Up/Down
            Output::Transmit(_t) => { /* send _t.datagram; drop it while the link is down */ }
            _ => { /* Output::Bearer: dial or hang up */ }
        }
    }
}

/// Runs the walk-through; panics if the contract does not hold.
pub fn main() {
    let psk = Psk::from_hex("000102030405060708090a0b0c0d0e0f").unwrap();
    let (me, peer) = (PeerName::new(b"mta-a").unwrap(), PeerName::new(b"mta-b").unwrap());
    let config = Config::new(me, peer, psk);
    let now = Instant::from_micros(0); // your clock, in microseconds
    let mut disk = SessionStore::default(); // what survives a crash
    let pay =
        || Submission { app_id: 7, priority: Priority::Normal, deadline: None, bytes: "pay 100".into() };

    // Submit; the process dies after the record is durable but before `Event::Queued`.
    let mut session = Session::restore(config.clone(), disk.clone(), /* fresh seed per start */ 1).unwrap();
    let id = session.submit(now, pay()).unwrap();
    drain(&mut session, &mut disk, now, true);

    // Restart from the disk; after a restore send `LinkUp` (when the bearer is up) and `Open`
    // again. Not sure the submission happened? Submit again with the same app id: the session
    // finds it instead of queuing it twice.
    let mut session = Session::restore(config.clone(), disk.clone(), 2).unwrap();
    assert_eq!(session.submit(now, pay()), Ok(id));
    assert_eq!(session.submitted(7), Some((id, MessageState::Queued)));
    assert!(drain(&mut session, &mut disk, now, false).contains(&Event::Queued { id, app_id: 7 }));

    // It gets its outcome (here: cancelled before it was sent); the process dies again before
    // the application acknowledged it.
    session.handle_input(now, Input::Cancel(id)).unwrap();
    let outcome = drain(&mut session, &mut disk, now, false).pop().unwrap();
    assert!(matches!(outcome, Event::Outcome { id: o, app_id: 7, .. } if o == id));

    // Restored, the session reports the unacknowledged outcome again, with the same id;
    // deliveries (`Event::Delivered`, acknowledged with `Ack::Delivery(msn)`) work the same.
    // Commit it, then acknowledge: it is not reported again.
    let mut session = Session::restore(config.clone(), disk.clone(), 3).unwrap();
    assert_eq!(drain(&mut session, &mut disk, now, false), vec![outcome]);
    session.handle_input(now, Input::Acknowledge(Ack::Outcome(id))).unwrap();
    drain(&mut session, &mut disk, now, false);
    let mut session = Session::restore(config, disk.clone(), 4).unwrap();
    assert!(drain(&mut session, &mut disk, now, false).is_empty());
}
