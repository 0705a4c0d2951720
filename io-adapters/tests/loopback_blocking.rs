//! The std driver: two endpoints on loopback exchange messages both ways through the
//! impairment shim (25 % reordering, 5 % loss, 2 % duplication, 50 ms jitter) while the
//! link is dropped whenever an association has been up for 300 ms. Every message must be delivered exactly once, in order,
//! with identical bytes, and every outcome reported.
//!
//! `ASSOC_MESSAGES` per direction (default 10,000, the size; CI runs it):
//! `ASSOC_MESSAGES=10000 cargo test --release -p assoc-io --test loopback_blocking -- --nocapture`
#![cfg(feature = "std")]
mod common;

use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use assoc_core::SessionState;
use assoc_io::blocking::Endpoint;
use assoc_io::{Bearer, Impairment, Options, Store};
use common::*;

/// How long an association lives before the adversary drops its link.
const DROP_AFTER: Duration = Duration::from_millis(300);

fn run(tcp: bool, n: u64, seed: u64) {
    trace();
    let dir = TempDir::new("loop-std");
    let (ca, cb) = configs();
    let any = "127.0.0.1:0".parse().unwrap();
    let open = |name: &str| {
        let mut s = Store::open(dir.join(name)).unwrap();
        s.set_sync(sync_mode());
        s
    };
    let mut ob = Options::new(
        cb,
        if tcp {
            Bearer::Tcp { listen: Some(any), peer: None }
        } else {
            Bearer::Udp { bind: any, peer: None }
        },
    );
    ob.impairment = Some(Impairment::lossy());
    ob.impairment_seed = seed;
    ob.seed = Some(seed ^ 0xB);
    let (b, b_in, b_out) = Endpoint::start(ob, open("b.redb")).unwrap();
    let addr = b.local_addr().unwrap();
    let mut oa = Options::new(
        ca,
        if tcp {
            Bearer::Tcp { listen: None, peer: Some(addr) }
        } else {
            Bearer::Udp { bind: any, peer: Some(addr) }
        },
    );
    oa.impairment = Some(Impairment::lossy());
    oa.impairment_seed = seed + 1;
    oa.seed = Some(seed ^ 0xA);
    let (a, a_in, a_out) = Endpoint::start(oa, open("a.redb")).unwrap();

    // Both MTAs hold an association open. Over TCP only A can dial (B listens), so A must,
    // or B's messages would wait for A's next message. Over UDP a forced link drop is seen by
    // one side only; the other keeps sending on the dead association until its probe
    // timeouts run out (tens of seconds), unless the dropping side opens a new one at once.
    a.open().unwrap();
    if !tcp {
        b.open().unwrap();
    }
    let started = Instant::now();
    let (done_tx, done_rx) = mpsc::channel();
    let mut sent = [Sent::default(), Sent::default()];
    for (side, ep) in [(0, &a), (1, &b)] {
        let subs = submissions(side, n);
        for chunk in subs.chunks(1000) {
            for (s, id) in chunk.iter().zip(ep.submit_many(chunk.to_vec()).unwrap()) {
                sent[side].ids.insert(id.unwrap(), s.app_id);
                sent[side].bytes_by_app_id.insert(s.app_id, s.bytes.clone());
            }
        }
    }
    // Receivers and outcome readers run on their own threads, as an application would.
    let mut inbox_readers = Vec::new();
    let mut outcome_readers = Vec::new();
    for (side, (inbox, outs)) in [(a_in, a_out), (b_in, b_out)].into_iter().enumerate() {
        let done = done_tx.clone();
        inbox_readers.push(thread::spawn(move || {
            let mut received = Received::default();
            while received.by_app_id.len() < n as usize {
                let d = inbox.recv().expect("endpoint stopped early");
                received.take(d.msn, d.app_id, d.bytes.clone());
                d.ack();
            }
            let _ = done.send(side);
            received
        }));
        let done = done_tx.clone();
        outcome_readers.push(thread::spawn(move || {
            let mut outcomes = Vec::new();
            while outcomes.len() < n as usize {
                let o = outs.recv().expect("endpoint stopped early");
                o.ack();
                outcomes.push((o.id, o.outcome));
            }
            let _ = done.send(side);
            outcomes
        }));
    }
    drop(done_tx);
    // The adversary: whenever both sides have held an established association for
    // DROP_AFTER, drop the link (alternating sides), until all four readers are done.
    let limit = Duration::from_secs(
        std::env::var("ASSOC_LIMIT_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(60 + n / 20),
    );
    let mut finished = 0;
    let mut drops = 0u64;
    let mut up_since: Option<Instant> = None;
    while finished < 4 {
        match done_rx.recv_timeout(Duration::from_millis(50)) {
            Ok(_) => finished += 1,
            Err(_) => {
                let (sa, sb) = (a.snapshot().unwrap(), b.snapshot().unwrap());
                assert!(started.elapsed() < limit, "not done after {limit:?}:\na: {sa:?}\nb: {sb:?}");
                if sa.state == SessionState::Established && sb.state == SessionState::Established {
                    let since = *up_since.get_or_insert_with(Instant::now);
                    if since.elapsed() >= DROP_AFTER {
                        [&a, &b][(drops % 2) as usize].drop_link().unwrap();
                        drops += 1;
                        up_since = None;
                    }
                } else {
                    up_since = None;
                }
            }
        }
    }
    let elapsed = started.elapsed();
    for (side, r) in outcome_readers.into_iter().enumerate() {
        for (id, outcome) in r.join().unwrap() {
            sent[side].outcome(id, outcome);
        }
    }
    for (side, r) in inbox_readers.into_iter().enumerate() {
        check_exchange(&sent[1 - side], &r.join().unwrap());
    }
    let snaps = [a.snapshot().unwrap(), b.snapshot().unwrap()];
    report(if tcp { "std/tcp" } else { "std/udp" }, n, elapsed, &snaps);
    println!("link drops forced: {drops}");
    a.shutdown().unwrap();
    b.shutdown().unwrap();
    for name in ["a.redb", "b.redb"] {
        let store = Store::open(dir.join(name)).unwrap();
        assert!(store.verify().unwrap(), "{name}: tables equal the fold of the records");
        assert!(store.inbox().unwrap().is_empty() && store.outcomes().unwrap().is_empty());
        assert!(store.session_store().outbound.is_empty());
    }
}

#[test]
fn udp_both_ways_through_the_shim_with_link_drops() {
    run(false, message_count(10_000), 1);
}

#[test]
fn tcp_both_ways_through_the_shim_with_link_drops() {
    run(true, message_count(10_000), 2);
}
