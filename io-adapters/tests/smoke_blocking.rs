//! A quick std-driver exchange without impairment, over UDP and TCP.
#![cfg(feature = "std")]
mod common;

use assoc_core::Priority;
use assoc_io::blocking::Endpoint;
use assoc_io::{Bearer, Options, Store};
use common::*;
use std::time::Duration;

fn exchange(tcp: bool) {
    let dir = TempDir::new("smoke");
    let (ca, cb) = configs();
    let any = "127.0.0.1:0".parse().unwrap();
    let bearer_b = if tcp {
        Bearer::Tcp { listen: Some(any), peer: None }
    } else {
        Bearer::Udp { bind: any, peer: None }
    };
    let (b, b_in, b_out) =
        Endpoint::start(Options::new(cb, bearer_b), Store::open(dir.join("b.redb")).unwrap()).unwrap();
    let addr = b.local_addr().unwrap();
    let bearer_a = if tcp {
        Bearer::Tcp { listen: None, peer: Some(addr) }
    } else {
        Bearer::Udp { bind: any, peer: Some(addr) }
    };
    let (a, a_in, a_out) =
        Endpoint::start(Options::new(ca, bearer_a), Store::open(dir.join("a.redb")).unwrap()).unwrap();
    let n = 200;
    let mut sent = [Sent::default(), Sent::default()];
    for (side, ep) in [(0, &a), (1, &b)] {
        let subs: Vec<_> = (0..n)
            .map(|i| assoc_core::Submission {
                app_id: i + 1,
                priority: Priority::Normal,
                deadline: None,
                bytes: message(side, i),
            })
            .collect();
        for (s, id) in subs.iter().zip(ep.submit_many(subs.clone()).unwrap()) {
            sent[side].ids.insert(id.unwrap(), s.app_id);
            sent[side].bytes_by_app_id.insert(s.app_id, s.bytes.clone());
        }
    }
    let mut received = [Received::default(), Received::default()];
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let inboxes = [&a_in, &b_in];
    let outs = [&a_out, &b_out];
    while std::time::Instant::now() < deadline
        && (received.iter().any(|r| r.by_app_id.len() < n as usize)
            || sent.iter().any(|s| s.outcomes.len() < n as usize))
    {
        for side in 0..2 {
            if let Ok(d) = inboxes[side].recv_timeout(Duration::from_millis(5)) {
                received[side].take(d.msn, d.app_id, d.bytes.clone());
                d.ack();
            }
            for o in outs[side].try_iter() {
                sent[side].outcome(o.id, o.outcome);
                o.ack();
            }
        }
    }
    check_exchange(&sent[0], &received[1]);
    check_exchange(&sent[1], &received[0]);
    let sa = a.shutdown().unwrap();
    let sb = b.shutdown().unwrap();
    println!("a: {sa:?}\nb: {sb:?}");
    let store = Store::open(dir.join("a.redb")).unwrap();
    assert!(store.verify().unwrap());
    assert!(store.inbox().unwrap().is_empty());
}

#[test]
fn udp_exchange() {
    exchange(false);
}

#[test]
fn tcp_exchange() {
    exchange(true);
}

/// Unacknowledged deliveries and outcomes survive a restart and are handed over again;
/// submitting an app id again returns the earlier message instead of a second copy.
#[test]
fn restart_hands_over_unacknowledged_entries_and_submission_is_idempotent() {
    let dir = TempDir::new("restart");
    let (ca, cb) = configs();
    let any = "127.0.0.1:0".parse().unwrap();
    let (b, b_in, _) = Endpoint::start(
        Options::new(cb.clone(), Bearer::Udp { bind: any, peer: None }),
        Store::open(dir.join("b.redb")).unwrap(),
    )
    .unwrap();
    let addr = b.local_addr().unwrap();
    let oa = Options::new(ca.clone(), Bearer::Udp { bind: any, peer: Some(addr) });
    let (a, _, a_out) = Endpoint::start(oa.clone(), Store::open(dir.join("a.redb")).unwrap()).unwrap();
    let sub = |app_id, text: &'static str| assoc_core::Submission {
        app_id,
        priority: Priority::Urgent,
        deadline: None,
        bytes: bytes::Bytes::from_static(text.as_bytes()),
    };
    let first = a.submit_with(sub(10, "ten")).unwrap();
    assert_eq!(a.submit_with(sub(10, "ten again")).unwrap(), first, "same app id, same message");
    let auto = a.submit(&b"auto"[..], Priority::Normal).unwrap();
    assert_ne!(auto, first);
    // Receive both; acknowledge neither delivery nor outcome.
    let d1 = b_in.recv_timeout(Duration::from_secs(10)).unwrap();
    let d2 = b_in.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!((d1.app_id, &d1.bytes[..]), (10, &b"ten"[..]));
    assert_eq!(&d2.bytes[..], b"auto");
    assert!(d2.app_id > 10, "fresh app ids are above every earlier one");
    let o1 = a_out.recv_timeout(Duration::from_secs(10)).unwrap();
    let _o2 = a_out.recv_timeout(Duration::from_secs(10)).unwrap();
    o1.ack();
    b.shutdown().unwrap();
    a.shutdown().unwrap();
    // Restart both on the same stores.
    let (b, b_in, _) = Endpoint::start(
        Options::new(cb, Bearer::Udp { bind: any, peer: None }),
        Store::open(dir.join("b.redb")).unwrap(),
    )
    .unwrap();
    let again: Vec<_> = b_in.try_iter().map(|d| (d.msn, d.app_id)).collect();
    assert_eq!(again, vec![(d1.msn, d1.app_id), (d2.msn, d2.app_id)], "unacknowledged deliveries again");
    let (a, _, a_out) = Endpoint::start(oa, Store::open(dir.join("a.redb")).unwrap()).unwrap();
    let outcomes: Vec<_> = a_out.try_iter().map(|o| o.id).collect();
    assert_eq!(outcomes, vec![auto], "only the unacknowledged outcome again");
    assert_eq!(a.submit_with(sub(10, "ten, after the restart")).unwrap(), first, "still idempotent");
    a.shutdown().unwrap();
    b.shutdown().unwrap();
}
