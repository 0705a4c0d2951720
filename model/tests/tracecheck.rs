//! Trace checking on real runs: two endpoints of the std driver exchange messages over a
//! lossy, reordering shim with their flight recorders on; the model's safety properties
//! hold on the merged recordings, and a recording doctored to break one is flagged at the
//! step where the break shows.

use std::time::{Duration, Instant};

use assoc_core::{Config, Event, Input, Output, PeerName, Priority, Psk, Submission};
use assoc_io::blocking::Endpoint;
use assoc_io::recorder::{self, Entry, RecordOptions, Recording};
use assoc_io::{Bearer, Impairment, Options, Store};
use assoc_model::preset;
use assoc_model::tracecheck::{self, TraceError};
use bytes::Bytes;

const PSK: &[u8] = b"trace-check-test-psk-of-32-bytes";

fn configs() -> [Config; 2] {
    let psk = Psk::new(PSK).unwrap();
    let (a, b) = (PeerName::new(b"mta-a").unwrap(), PeerName::new(b"mta-b").unwrap());
    let tune = |mut c: Config| {
        c.handshake_rto = assoc_core::Duration::from_millis(200);
        c.max_ack_delay = assoc_core::Duration::from_millis(10);
        c.initial_rtt = assoc_core::Duration::from_millis(100);
        c
    };
    [tune(Config::new(a, b, psk.clone())), tune(Config::new(b, a, psk))]
}

fn content(side: usize, i: u64) -> Bytes {
    Bytes::from(format!("side {side} message {i} {}", "z".repeat((i as usize * 37) % 300)))
}

/// A recorded exchange of `n` messages each way; the two recordings, decoded.
fn recorded_pair(tag: &str, n: u64) -> [Recording; 2] {
    let dir = std::env::temp_dir().join(format!("assoc-tracecheck-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let any = "127.0.0.1:0".parse().unwrap();
    let [ca, cb] = configs();
    let options = |c, bearer, i: usize| {
        let mut o = Options::new(c, bearer);
        o.impairment = Some(Impairment::lossy());
        o.impairment_seed = 90 + i as u64;
        o.seed = Some(3 + i as u64);
        o.record = Some(RecordOptions::new(dir.join(format!("{i}.rec"))));
        o
    };
    let store = |i: usize| Store::open(dir.join(format!("{i}.redb"))).unwrap();
    let (b, b_in, b_out) =
        Endpoint::start(options(cb, Bearer::Udp { bind: any, peer: None }, 1), store(1)).unwrap();
    let peer = Some(b.local_addr().unwrap());
    let (a, a_in, a_out) =
        Endpoint::start(options(ca, Bearer::Udp { bind: any, peer }, 0), store(0)).unwrap();
    a.open().unwrap();
    b.open().unwrap();
    for (side, ep) in [(0, &a), (1, &b)] {
        for i in 1..=n {
            let s =
                Submission { app_id: i, priority: Priority::Normal, deadline: None, bytes: content(side, i) };
            ep.submit_with(s).unwrap();
        }
    }
    let end = Instant::now() + Duration::from_secs(60);
    let mut left = 4 * n;
    while left > 0 {
        assert!(Instant::now() < end, "exchange not done ({left} events missing)");
        for (inbox, outcomes) in [(&a_in, &a_out), (&b_in, &b_out)] {
            for d in inbox.try_iter() {
                d.ack();
                left -= 1;
            }
            for o in outcomes.try_iter() {
                o.ack();
                left -= 1;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    a.shutdown().unwrap();
    b.shutdown().unwrap();
    let recs = [0, 1].map(|i| Recording::open(&dir.join(format!("{i}.rec"))).unwrap());
    let _ = std::fs::remove_dir_all(&dir);
    recs
}

fn psk() -> Psk {
    Psk::new(PSK).unwrap()
}

#[test]
fn a_real_impaired_run_satisfies_every_safety_property() {
    let recs = recorded_pair("ok", 20);
    let model = preset::by_name("ci").unwrap().model(assoc_core::mutation::Mutations::NONE);
    let report = tracecheck::check(&model, [&recs[0], &recs[1]], &psk()).unwrap();
    assert!(report.failure.is_none(), "{}", report.text());
    assert!(report.checked.contains(&"no duplicate delivery"));
    assert!(report.checked.contains(&"acks never ahead of durable state"));
    assert!(report.checked.contains(&"association agreement"));
    assert!(report.steps > 100, "{} steps", report.steps);
}

/// The 1-based input of `rec` after which the drain delivering `app_id` comes.
fn delivering_input(rec: &Recording, app_id: u64) -> u64 {
    let mut found = None;
    recorder::replay(rec, &psk(), None, |step| {
        if found.is_none()
            && step
                .outputs
                .iter()
                .any(|o| matches!(o, Output::Event(Event::Delivered { app_id: a, .. }) if *a == app_id))
        {
            found = Some(step.inputs);
        }
    })
    .unwrap();
    found.expect("the message was delivered")
}

#[test]
fn a_doctored_submission_is_flagged_where_the_peer_delivers_it() {
    let [mut a, b] = recorded_pair("doctored", 6);
    // Doctor side a's submission of app id 3 (one byte of content), and re-derive its
    // digests as if the run had been so: its replay is consistent, but the peer delivered
    // the bytes that really went over the wire.
    let mut doctored = false;
    for e in &mut a.incarnations[0].entries {
        if let Entry::Input { input: Input::Submit(s), .. } = e {
            if s.app_id == 3 {
                let mut v = s.bytes.to_vec();
                v[0] ^= 0x20;
                s.bytes = Bytes::from(v);
                doctored = true;
            }
        }
    }
    assert!(doctored);
    recorder::redigest(&mut a, &psk()).unwrap();
    let model = preset::by_name("ci").unwrap().model(assoc_core::mutation::Mutations::NONE);
    let report = tracecheck::check(&model, [&a, &b], &psk()).unwrap();
    let f = report.failure.expect("the doctored content is noticed");
    assert_eq!(f.property, "delivered = submitted, in msn order");
    assert_eq!((f.side, f.input), (1, delivering_input(&b, 3)), "flagged where b delivers it:\n{}", f.trace);
    assert!(f.trace.contains("WrongContent { app_id: 3 }"), "{}", f.trace);
}

#[test]
fn recordings_of_unrelated_sessions_or_with_the_wrong_psk_are_refused() {
    let [a, b] = recorded_pair("refused", 1);
    let model = preset::by_name("ci").unwrap().model(assoc_core::mutation::Mutations::NONE);
    assert!(matches!(tracecheck::check(&model, [&a, &a], &psk()), Err(TraceError::NotAPair(_))));
    let wrong = Psk::new(b"not-the-psk-used-in-this-run-...").unwrap();
    assert!(matches!(tracecheck::check(&model, [&a, &b], &wrong), Err(TraceError::Replay { side: 0, .. })));
}
