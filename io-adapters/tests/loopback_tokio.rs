//! The tokio driver: the same exchange as `loopback_blocking` — messages both ways through
//! the impairment shim (25 % reordering, 5 % loss, 2 % duplication, 50 ms jitter) with the
//! link dropped whenever an association has been up for 300 ms — checked the same way.
//!
//! `ASSOC_MESSAGES` per direction (default 10,000):
//! `cargo test --release -p assoc-io --test loopback_tokio -- --nocapture`
#![cfg(feature = "tokio")]
mod common;

use std::time::{Duration, Instant};

use assoc_core::SessionState;
use assoc_io::tokio::{Deliveries, Endpoint, Outcomes};
use assoc_io::{Bearer, Impairment, Options, Store};
use common::*;

/// The next item of a stream (the deliveries are read through their `Stream` impl).
async fn next<S: futures_core::Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| std::pin::Pin::new(&mut *s).poll_next(cx)).await
}

async fn read_all(
    mut inbox: Deliveries,
    mut outs: Outcomes,
    n: u64,
) -> (Received, Vec<(assoc_core::MessageId, assoc_core::Outcome)>) {
    let mut received = Received::default();
    let mut outcomes = Vec::new();
    while received.by_app_id.len() < n as usize || outcomes.len() < n as usize {
        tokio::select! {
            Some(d) = next(&mut inbox), if received.by_app_id.len() < n as usize => {
                received.take(d.msn, d.app_id, d.bytes.clone());
                d.ack();
            }
            Some(o) = outs.recv(), if outcomes.len() < n as usize => {
                o.ack();
                outcomes.push((o.id, o.outcome));
            }
        }
    }
    (received, outcomes)
}

/// How long an association lives before the adversary drops its link.
const DROP_AFTER: Duration = Duration::from_millis(300);

async fn run(tcp: bool, n: u64, seed: u64) {
    trace();
    let dir = TempDir::new("loop-tokio");
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
    let (b, b_in, b_out) = Endpoint::start(ob, open("b.redb")).await.unwrap();
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
    let (a, a_in, a_out) = Endpoint::start(oa, open("a.redb")).await.unwrap();

    // Both MTAs hold an association open. Over TCP only A can dial (B listens), so A must,
    // or B's messages would wait for A's next message. Over UDP a forced link drop is seen by
    // one side only; the other keeps sending on the dead association until its probe
    // timeouts run out (tens of seconds), unless the dropping side opens a new one at once.
    a.open().unwrap();
    if !tcp {
        b.open().unwrap();
    }
    let started = Instant::now();
    let mut sent = [Sent::default(), Sent::default()];
    for (side, ep) in [(0, &a), (1, &b)] {
        let subs = submissions(side, n);
        for (s, id) in subs.iter().zip(ep.submit_many(subs.clone()).await.unwrap()) {
            sent[side].ids.insert(id.unwrap(), s.app_id);
            sent[side].bytes_by_app_id.insert(s.app_id, s.bytes.clone());
        }
    }
    let readers = [tokio::spawn(read_all(a_in, a_out, n)), tokio::spawn(read_all(b_in, b_out, n))];
    let limit = Duration::from_secs(
        std::env::var("ASSOC_LIMIT_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(60 + n / 20),
    );
    let (ea, eb) = (a.clone(), b.clone());
    // The adversary: whenever both sides have held an established association for
    // DROP_AFTER, drop the link (alternating sides).
    let dropper = tokio::spawn(async move {
        let mut up_since: Option<Instant> = None;
        for k in 0u64.. {
            loop {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let (Ok(sa), Ok(sb)) = (ea.snapshot().await, eb.snapshot().await) else { return k };
                if sa.state == SessionState::Established && sb.state == SessionState::Established {
                    if up_since.get_or_insert_with(Instant::now).elapsed() >= DROP_AFTER {
                        break;
                    }
                } else {
                    up_since = None;
                }
            }
            up_since = None;
            let ep = if k % 2 == 0 { &ea } else { &eb };
            if ep.drop_link().is_err() {
                return k;
            }
        }
        0
    });
    let [ra, rb] = readers;
    let all = async { (ra.await.unwrap(), rb.await.unwrap()) };
    let ((recv_a, outs_a), (recv_b, outs_b)) = match tokio::time::timeout(limit, all).await {
        Ok(r) => r,
        Err(_) => {
            panic!("not done after {limit:?}:\na: {:?}\nb: {:?}", a.snapshot().await, b.snapshot().await)
        }
    };
    let elapsed = started.elapsed();
    dropper.abort();
    for (id, o) in outs_a {
        sent[0].outcome(id, o);
    }
    for (id, o) in outs_b {
        sent[1].outcome(id, o);
    }
    check_exchange(&sent[0], &recv_b);
    check_exchange(&sent[1], &recv_a);
    let snaps = [a.snapshot().await.unwrap(), b.snapshot().await.unwrap()];
    report(if tcp { "tokio/tcp" } else { "tokio/udp" }, n, elapsed, &snaps);
    println!("link drops forced: {}", snaps.iter().map(|s| s.io.forced_drops).sum::<u64>());
    a.shutdown().await.unwrap();
    b.shutdown().await.unwrap();
    for name in ["a.redb", "b.redb"] {
        let store = Store::open(dir.join(name)).unwrap();
        assert!(store.verify().unwrap(), "{name}: tables equal the fold of the records");
        assert!(store.inbox().unwrap().is_empty() && store.outcomes().unwrap().is_empty());
        assert!(store.session_store().outbound.is_empty());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_both_ways_through_the_shim_with_link_drops() {
    run(false, message_count(10_000), 11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_both_ways_through_the_shim_with_link_drops() {
    run(true, message_count(10_000), 12).await;
}

#[tokio::test(flavor = "current_thread")]
async fn udp_on_a_current_thread_runtime() {
    run(false, 500, 13).await;
}
