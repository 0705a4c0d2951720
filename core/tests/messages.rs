//! Exactly-once, in-order message transfer across associations, link drops and crashes.

mod common;

use assoc_core::impair::Impairment;
use assoc_core::sim::{Impairments, Ledger, Pair};
use assoc_core::{Config, Duration, Event, Input, Instant, Outcome, Priority, Submission, Suite};
use bytes::Bytes;

/// Test configs with small datagrams and checkpoints so messages span many segments.
fn small_configs() -> (Config, Config) {
    small_configs_with(Suite::Symbolic)
}

fn small_configs_with(suite: Suite) -> (Config, Config) {
    let (mut a, mut b) = common::configs_with(suite);
    for c in [&mut a, &mut b] {
        c.params.max_datagram = 512;
        c.params.checkpoint_size = 1024;
        c.params.checkpoint_window = 2;
        c.params.msg_window = 4;
        c.keepalive = Some(Duration::from_secs(2));
    }
    (a, b)
}

fn content(side: usize, app_id: u64, len: usize) -> Bytes {
    (0..len).map(|i| (i as u64 * 31 + app_id * 7 + side as u64) as u8).collect::<Vec<u8>>().into()
}

fn submit(
    p: &mut Pair,
    ledger: &mut Ledger,
    side: usize,
    app_id: u64,
    len: usize,
    deadline: Option<Instant>,
) {
    let bytes = content(side, app_id, len);
    ledger.submitted(side, app_id, bytes.clone());
    let priority = [Priority::Urgent, Priority::Normal, Priority::NonUrgent][(app_id % 3) as usize];
    p.input(side, Input::Submit(Submission { app_id, priority, deadline, bytes }));
}

#[test]
fn clean_network_delivers_in_order_with_one_outcome_each() {
    let (a, b) = small_configs();
    let mut p = Pair::new(a, b, Impairments::none(), 1).unwrap();
    let mut ledger = Ledger::default();
    p.link_up_now();
    for (i, len) in [0usize, 10, 3000, 700].iter().enumerate() {
        submit(&mut p, &mut ledger, 0, i as u64, *len, None);
        submit(&mut p, &mut ledger, 1, 100 + i as u64, *len, None);
    }
    let done = p.run_until(Duration::from_secs(120), |p| {
        let mut l = ledger.clone();
        l.check(p).unwrap();
        l.all_resolved() && l.totals() == (8, 8)
    });
    ledger.check(&p).unwrap();
    assert!(done, "events {:?}", p.events);
    let delivered: Vec<u64> = p.events[1]
        .iter()
        .filter_map(|e| match e {
            Event::Delivered { app_id, .. } => Some(*app_id),
            _ => None,
        })
        .collect();
    assert_eq!(delivered.len(), 4);
    assert!(ledger.outcomes(0).all(|(_, o)| *o == Outcome::Delivered));
}

/// One seeded run; returns the first violated guarantee.
fn hostile_run(seed: u64, suite: Suite) -> Result<(u64, u64), String> {
    let (a, b) = small_configs_with(suite);
    let mut p = Pair::new(a, b, Impairments::hostile(), seed).unwrap();
    let mut ledger = Ledger::default();
    let mut rng = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut next = |m: u64| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % m
    };
    let per_side = 3 + next(4);
    let mut submitted = [0u64; 2];
    let chaos_end = p.now + Duration::from_secs(40);
    let mut crashes = 0;
    let mut known = None;
    while p.now < chaos_end {
        p.step_at_most(Duration::from_millis(100));
        if std::env::var("DEBUG_SEED").is_ok()
            && p.now > Instant::from_micros(40_000_000)
            && p.now < Instant::from_micros(40_100_000)
        {
            eprintln!("ALL0 {:?}", p.events[0]);
        }
        if std::env::var("DEBUG_SEED").is_ok() {
            let dbg = format!("{:?}", p.sessions[0]);
            let k = dbg.contains("summary_known: true");
            if known != Some(k) {
                eprintln!(
                    "t={:?} side0 summary_known={k} state={:?} assoc={:?} events0={:?}",
                    p.now,
                    p.sessions[0].state(),
                    p.sessions[0].association(),
                    p.events[0].iter().rev().take(3).collect::<Vec<_>>()
                );
                known = Some(k);
            }
        }
        if let Err(e) = ledger.check(&p) {
            if std::env::var("DEBUG_SEED").is_ok() {
                for (side, ev) in &p.log {
                    eprintln!("LOG {side} {ev:?}");
                }
            }
            return Err(format!("seed {seed} at {:?}: {e}", p.now));
        }
        match next(300) {
            0 => p.drop_link(),
            1 if crashes < 3 => {
                crashes += 1;
                let side = next(2) as usize;
                if std::env::var("DEBUG_SEED").is_ok() {
                    eprintln!("CRASH {side} at {:?} (log len {})", p.now, p.log.len());
                }
                p.crash(side);
                // The restarted application resubmits what never got custody.
                let again: Vec<(u64, Bytes)> = ledger.not_queued(side).map(|(a, b)| (a, b.clone())).collect();
                for (app_id, bytes) in again {
                    let priority = Priority::Normal;
                    p.input(side, Input::Submit(Submission { app_id, priority, deadline: None, bytes }));
                }
            }
            2..=20 => {
                let side = next(2) as usize;
                if submitted[side] < per_side {
                    let app_id = side as u64 * 1000 + submitted[side];
                    submitted[side] += 1;
                    let len = [0, 1, 200, 900, 2500, 4000][next(6) as usize];
                    // Some messages carry a short deadline: they expire, in flight or not.
                    let deadline = (next(4) == 0).then(|| p.now + Duration::from_secs(1 + next(20)));
                    submit(&mut p, &mut ledger, side, app_id, len, deadline);
                }
            }
            21 => {
                // The application cancels one of its messages (it may already be delivered).
                let side = next(2) as usize;
                if let Some((id, _)) = p.sessions[side].store().outbound.iter().next() {
                    let id = *id;
                    p.input(side, Input::Cancel(id));
                }
            }
            _ => {}
        }
    }
    let calm = p.run_until(Duration::from_secs(3600), |p| {
        let mut l = ledger.clone();
        l.check(p).is_ok() && l.all_resolved() && p.sessions.iter().all(|s| s.store().outbound.is_empty())
    });
    ledger.check(&p).map_err(|e| format!("seed {seed} at {:?}: {e}", p.now))?;
    if !calm || !ledger.all_resolved() {
        if std::env::var("DEBUG_SEED").is_ok() {
            for i in 0..2 {
                let s = &p.sessions[i];
                eprintln!("[{i}] {:?} assoc={:?} link={:?} timers={:?}\n    store={:?}\n    resume={:?}\n    stats={:?}",
                    s.state(), (s.association(), format!("{s:?}").split("sender:").nth(1).map(|x| x.chars().take(200).collect::<String>())), s.link(), s.armed_timers().collect::<Vec<_>>(), s.store(), s.resume_points().collect::<Vec<_>>(), s.stats());
            }
        }
        return Err(format!(
            "seed {seed}: not every message resolved; outbound {:?} / {:?}",
            p.sessions[0].store().outbound.keys().collect::<Vec<_>>(),
            p.sessions[1].store().outbound.keys().collect::<Vec<_>>()
        ));
    }
    let (delivered, outcomes) = ledger.totals();
    Ok((delivered as u64, outcomes as u64))
}

#[test]
fn thousand_hostile_runs_with_crashes_deliver_exactly_once_in_order() {
    let mut failures = Vec::new();
    let (mut delivered, mut outcomes) = (0, 0);
    let seeds: Vec<u64> = match std::env::var("DEBUG_SEED") {
        Ok(s) => vec![s.parse().unwrap()],
        // A deeper run: ASSOC_SEEDS=100000 cargo test --release -p assoc-core --test messages
        Err(_) => (0..common::seeds(1000)).collect(),
    };
    let floor = 3 * seeds.len() as u64;
    for seed in seeds {
        match hostile_run(seed, Suite::Symbolic) {
            Ok((d, o)) => {
                delivered += d;
                outcomes += o;
            }
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{} runs failed; first: {}", failures.len(), failures[0]);
    println!("delivered {delivered} messages, {outcomes} outcomes");
    assert!(delivered > floor, "the runs really transferred messages: {delivered}");
}

/// The same runs with the real suite.
#[test]
fn real_suite_hostile_runs_with_crashes_deliver_exactly_once_in_order() {
    let suite = common::real_suite();
    let mut failures = Vec::new();
    let mut delivered = 0;
    let n = common::seeds(1000);
    for seed in 0..n {
        match hostile_run(seed, suite) {
            Ok((d, _)) => delivered += d,
            Err(e) => failures.push(e),
        }
    }
    assert!(failures.is_empty(), "{} runs failed; first: {}", failures.len(), failures[0]);
    assert!(delivered > 3 * n, "the runs really transferred messages: {delivered}");
}

#[test]
fn one_mib_message_survives_twenty_link_drops_resuming_from_checkpoints() {
    let (a, b) = common::configs();
    let (cs, cw) = (u64::from(a.params.checkpoint_size), u64::from(a.params.checkpoint_window));
    let mut imp = Impairments::none();
    imp.link.delay = Duration::from_millis(5);
    let mut p = Pair::new(a, b, imp, 3).unwrap();
    let mut ledger = Ledger::default();
    p.link_up_now();
    let len = 1 << 20;
    let bytes = content(0, 1, len);
    ledger.submitted(0, 1, bytes.clone());
    p.input(0, Input::Submit(Submission { app_id: 1, priority: Priority::Normal, deadline: None, bytes }));
    let durable = |p: &Pair| match p.durable[1].inbound.get(&0) {
        Some(assoc_core::StoredInbound::Partial { bytes, .. }) => bytes.len() as u64,
        _ => 0,
    };
    let mut drops = 0;
    let mut last_drop_at = 0;
    let give_up = p.now + Duration::from_secs(600);
    while drops < 20 {
        assert!(p.step() && p.now < give_up, "stalled at durable {} after {drops} drops", durable(&p));
        ledger.check(&p).unwrap();
        // Drop the link each time another checkpoint became durable at the receiver.
        if durable(&p) >= last_drop_at + cs {
            last_drop_at = durable(&p);
            p.drop_link();
            drops += 1;
        }
    }
    assert!(p.run_until(Duration::from_secs(600), |p| p.events[1]
        .iter()
        .any(|e| matches!(e, Event::Delivered { .. }))));
    ledger.check(&p).unwrap();
    let sent = p.sessions[0].stats().data_bytes_sent;
    let resent = sent - len as u64;
    println!("1 MiB over 20 drops: {sent} payload bytes sent, {resent} re-sent ({} per drop)", resent / 20);
    // Each drop can cost at most what was in flight beyond the receiver's durable
    // checkpoint — the checkpoint window — never the whole message.
    assert!(resent <= 20 * cw * cs, "re-sent {resent} > 20 drops x {cw} checkpoints x {cs} bytes");
    assert!(resent < len as u64, "re-sent less than one message's worth");
}

#[test]
fn urgent_goes_first_and_aging_promotes_a_waiting_non_urgent_message() {
    let (mut a, mut b) = small_configs();
    a.aging_interval = Duration::from_secs(10);
    a.params.msg_window = 1; // one message at a time: delivery order is send order
    b.params.msg_window = 1;
    let mut m = common::Manual::with(a, b);
    m.input(0, Input::LinkDown).unwrap(); // no bearer until the queue has built up
    let sub =
        |app_id, priority| Submission { app_id, priority, deadline: None, bytes: content(0, app_id, 100) };
    m.s[0].submit(m.now, sub(10, Priority::NonUrgent)).unwrap();
    m.now += Duration::from_secs(25); // two aging steps: non-urgent ranks as urgent now
    m.s[0].submit(m.now, sub(11, Priority::Normal)).unwrap();
    m.s[0].submit(m.now, sub(12, Priority::Urgent)).unwrap();
    m.drain(0);
    m.input(0, Input::LinkUp { peer: Some(common::Manual::remote(1)) }).unwrap();
    let mut d = [m.sent[0].len() - 1, 0];
    for _ in 0..20 {
        m.exchange(&mut d);
    }
    let order: Vec<u64> = m.events[1]
        .iter()
        .filter_map(|e| match e {
            Event::Delivered { app_id, .. } => Some(*app_id),
            _ => None,
        })
        .collect();
    // Without aging the order would be 12, 11, 10.
    assert_eq!(order, [10, 12, 11]);
}

/// A receiver whose store is wiped forgets which msns it delivered and waits forever for
/// them; the sender must say so (`Event::PeerStateLost`) instead of stalling silently, and
/// keep the message in custody.
#[test]
fn a_wiped_receiver_store_is_reported_not_a_silent_stall() {
    let (a, b) = small_configs();
    let mut p = Pair::new(a, b, Impairments::none(), 7).unwrap();
    let mut ledger = Ledger::default();
    p.link_up_now();
    for id in 0..2 {
        submit(&mut p, &mut ledger, 0, id, 100, None);
    }
    assert!(p.run_until(Duration::from_secs(60), |p| {
        p.events[0].iter().filter(|e| matches!(e, Event::Outcome { .. })).count() == 2
    }));
    let lost = |p: &Pair| {
        p.events[0].iter().filter(|e| matches!(e, Event::PeerStateLost { .. })).cloned().collect::<Vec<_>>()
    };
    assert!(lost(&p).is_empty(), "nothing went backwards yet");

    p.durable[1] = assoc_core::SessionStore::default();
    p.crash(1);
    submit(&mut p, &mut ledger, 0, 2, 100, None);
    p.run_for(Duration::from_secs(60));
    let reported = lost(&p);
    assert!(!reported.is_empty(), "no report; events {:?}", p.events[0]);
    assert!(reported.iter().all(|e| *e == Event::PeerStateLost { resolved_below: 0, expected: 2 }));
    assert_eq!(p.sessions[0].stats().peer_state_lost, reported.len() as u64);
    // Still in custody: no outcome for the third message, nothing delivered twice.
    assert_eq!(p.events[0].iter().filter(|e| matches!(e, Event::Outcome { .. })).count(), 2);
    let delivered = p.events[1].iter().filter(|e| matches!(e, Event::Delivered { .. })).count();
    assert_eq!(delivered, 2, "b: {:?}", p.events[1]);
}

/// The adapters' test network (25 % reordering by up to 100 ms, 50 ms jitter, 5 % loss,
/// 2 % duplication) with a short base delay: most reordering exceeds RFC 9002's fixed
/// thresholds (3 packets, 9/8 RTT). Spurious loss declarations (an ACK for a packet
/// already declared lost) raise them, so most later reordering is no longer taken for
/// loss. Prints the figures (`-- --nocapture`).
#[test]
fn reordering_raises_the_loss_thresholds() {
    let (a, b) = common::configs();
    let imp = Impairments {
        link: Impairment { delay: Duration::from_millis(1), ..Impairment::lossy() },
        replay_pct: 0,
        dial_fail_pct: 0,
        dial_delay: Duration::from_millis(1),
        fsync_delay: Duration::from_millis(1),
        fsync_crash_pct: 0,
    };
    let (mut lost, mut spurious, mut out) = (0, 0, 0);
    for seed in 1..=4 {
        let mut p = Pair::new(a.clone(), b.clone(), imp.clone(), seed).unwrap();
        let mut ledger = Ledger::default();
        p.link_up_now();
        let n = 300;
        for i in 0..n {
            submit(&mut p, &mut ledger, 0, i, 300, None);
            submit(&mut p, &mut ledger, 1, 1000 + i, 300, None);
        }
        let done = p.run_until(Duration::from_secs(600), |p| {
            let mut l = ledger.clone();
            l.check(p).unwrap();
            l.all_resolved() && l.totals() == (2 * n as usize, 2 * n as usize)
        });
        ledger.check(&p).unwrap();
        assert!(done, "seed {seed}: not all resolved: {:?}", ledger.totals());
        for s in &p.sessions {
            lost += s.stats().packets_lost;
            spurious += s.stats().spurious_losses;
            out += s.stats().datagrams_out;
        }
    }
    println!(
        "reordering network, 4 seeds x 300 messages each way: datagrams out {out}, packets declared \
         lost or probed {lost}, loss declarations found spurious {spurious}"
    );
    // With RFC 9002's fixed thresholds: 5,116 datagrams out, 2,681 lost or probed, 2,250
    // found spurious (44 % of the datagrams); adapted: 2,345, 239 and 170 (7 %).
    assert!(spurious * 10 < out, "{spurious} spurious loss declarations for {out} datagrams");
    // Reordering this heavy does fool the detector sometimes, and the counters show it.
    assert!(spurious > 0 && lost > spurious, "lost {lost}, spurious {spurious}");
}
