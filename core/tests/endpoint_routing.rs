//! The endpoint's routing on its own (issue #17; `PROTOCOL.md`, "Endpoint"): every
//! datagram goes to the session its header names, or is answered statelessly, or is
//! refused with a reason — never routed by its source, never growing memory beyond the
//! configured bound.

use assoc_core::endpoint::{Endpoint, EndpointConfig, EndpointError, EndpointOutput, Routed};
use assoc_core::sim::{star_configs, Star, HUB};
use assoc_core::wire::{PduType, RawPdu};
use assoc_core::{
    Config, DropReason, Duration, Input, Instant, Output, PeerName, Priority, Psk, Remote, Session,
    Submission, Suite, Verdict,
};
use bytes::Bytes;

mod common;
use common::{endpoint_deadline as deadline, endpoint_delivered as delivered, endpoint_outputs as outputs};

fn submission(app_id: u64) -> Submission {
    Submission { app_id, priority: Priority::Normal, deadline: None, bytes: Bytes::from(vec![7u8; 100]) }
}

/// The first INIT a fresh session with `cfg` sends.
fn first_init(cfg: Config) -> Bytes {
    let mut s = Session::new(cfg, 5).expect("valid config");
    s.handle_input(Instant::ZERO, Input::LinkUp { peer: Some(HUB) }).unwrap();
    s.handle_input(Instant::ZERO, Input::Open).unwrap();
    loop {
        match s.poll_output() {
            Output::Persist { seq, .. } => {
                s.handle_input(Instant::ZERO, Input::Persisted { upto: seq }).unwrap();
            }
            Output::Transmit(t) => return t.datagram,
            Output::Wait { .. } => panic!("no INIT"),
            _ => {}
        }
    }
}

/// An address no peer has.
const STRANGER: Remote = Remote::Conn(666);

fn ty(d: &Bytes) -> PduType {
    RawPdu::parse(d).expect("a PDU").ty
}

/// `d` with its header's session id replaced (the trailer no longer verifies).
fn with_sid(d: &Bytes, sid: u32) -> Bytes {
    let mut v = d.to_vec();
    v[4..8].copy_from_slice(&sid.to_be_bytes());
    Bytes::from(v)
}

fn star(n: u32) -> Star {
    Star::new(EndpointConfig::default(), star_configs(n, Suite::Symbolic), 1)
}

#[test]
fn a_session_id_no_peer_has_is_refused_as_unknown() {
    let mut st = star(2);
    let mut cfg = star_configs(3, Suite::Symbolic).pop().unwrap().1;
    cfg.sid = 99;
    let got = st.endpoint.handle_datagram(Instant::ZERO, STRANGER, first_init(cfg));
    assert_eq!(got, Err(EndpointError::UnknownSession { sid: 99 }));
    assert_eq!((st.endpoint.stats().unknown_session, st.endpoint.live_sessions()), (1, 0));
    assert!(outputs(&mut st.endpoint).next().is_none(), "nothing answered");
}

#[test]
fn undecodable_bytes_are_counted_and_go_nowhere() {
    let mut st = star(1);
    for junk in [&b""[..], b"\x01", &[0xff; 60]] {
        let got = st.endpoint.handle_datagram(Instant::ZERO, STRANGER, Bytes::copy_from_slice(junk));
        assert!(matches!(got, Err(EndpointError::Decode(_))), "{got:?}");
    }
    assert_eq!(st.endpoint.stats().undecodable, 3);
    assert!(outputs(&mut st.endpoint).next().is_none());
}

#[test]
fn an_init_naming_a_peer_not_configured_for_that_session_is_refused() {
    let mut st = star(2);
    // Session id 1 belongs to peer0; "mallory" claims it (with peer0's key, even).
    let peer0 = st.endpoint.peer_config(1).unwrap().clone();
    let mut cfg = Config::new(PeerName::new(b"mallory").unwrap(), peer0.local_name, peer0.psk.clone());
    cfg.sid = 1;
    cfg.suite = Suite::Symbolic;
    let got = st.endpoint.handle_datagram(Instant::ZERO, STRANGER, first_init(cfg));
    assert_eq!(got, Err(EndpointError::Dropped { sid: 1, reason: DropReason::WrongPeer }));
    assert_eq!(st.endpoint.live_sessions(), 0);
    assert!(outputs(&mut st.endpoint).next().is_none(), "nothing answered");
}

#[test]
fn a_flood_of_inits_naming_many_peers_keeps_memory_at_zero_sessions() {
    const PEERS: u32 = 1000;
    let defaults = EndpointConfig::default();
    let budget = defaults.unauthentic_init_budget.burst as usize;
    let per_source = defaults.source_limits.budget.burst as usize;
    let configs = star_configs(PEERS, Suite::Symbolic);
    let mut ep = Star::new(defaults, configs.clone(), 3).endpoint;
    let wrong_key: Vec<Bytes> = configs
        .iter()
        .map(|(_, r)| {
            let mut r = r.clone();
            r.psk = Psk::new(b"not the right key at all").unwrap();
            first_init(r)
        })
        .collect();
    // Without the keys, from many sources: every peer named, each INIT's MAC fails.
    let mut answered = 0;
    for (i, init) in wrong_key.iter().enumerate() {
        match ep.handle_datagram(Instant::ZERO, Remote::Conn(10_000 + i as u64), init.clone()) {
            Ok(Routed::Answered { authentic: false, .. }) => answered += 1,
            Err(EndpointError::Dropped { reason: DropReason::BadAuth, .. }) => {}
            other => panic!("{other:?}"),
        }
        outputs(&mut ep).for_each(drop);
    }
    assert_eq!(answered, budget, "answered only within the endpoint's budget");
    assert_eq!(ep.stats().inits_unauthentic, budget as u64, "the budget was charged");
    // From one source, once the endpoint's budget has refilled: that source's limit.
    let later = Instant::ZERO + Duration::from_secs(100);
    let from_one: Vec<_> =
        wrong_key.iter().map(|init| ep.handle_datagram(later, STRANGER, init.clone())).collect();
    let limited = from_one
        .iter()
        .filter(|v| matches!(v, Err(EndpointError::Dropped { reason: DropReason::SourceLimited, .. })));
    assert_eq!(limited.count(), PEERS as usize - per_source, "the source's bucket was charged");
    outputs(&mut ep).for_each(drop);
    // With the keys, all from one source: every peer answered statelessly, never charged;
    // nothing enters memory.
    let mut answers = 0;
    for (_, remote) in configs.iter().cloned() {
        let got = ep.handle_datagram(later, STRANGER, first_init(remote));
        assert!(matches!(got, Ok(Routed::Answered { authentic: true, .. })), "{got:?}");
        for (_, out) in outputs(&mut ep) {
            assert!(matches!(&out, Output::Transmit(t) if ty(&t.datagram) == PduType::Challenge));
            answers += 1;
        }
    }
    assert_eq!((answers, ep.live_sessions()), (PEERS as usize, 0));
    // Undrained answers are bounded: beyond the bound INITs are dropped, not queued.
    let max = EndpointConfig::default().max_queued_answers;
    let verdicts: Vec<_> = configs
        .iter()
        .take(max + 10)
        .map(|(_, r)| ep.handle_datagram(later, STRANGER, first_init(r.clone())))
        .collect();
    let backpressure = verdicts
        .iter()
        .filter(|v| matches!(v, Err(EndpointError::Dropped { reason: DropReason::Backpressure, .. })))
        .count();
    assert_eq!(backpressure, 10);
    assert_eq!(outputs(&mut ep).count(), max);
}

/// Both peers establish and exchange a message each way.
fn two_busy_peers() -> Star {
    let mut st = star(2);
    for sid in [1, 2] {
        st.remote_input(sid, Input::Submit(submission(u64::from(sid) * 10)));
    }
    assert!(st
        .run_until(50, |s| delivered(&s.hub_events, 1).len() == 1 && delivered(&s.hub_events, 2).len() == 1));
    st
}

#[test]
fn pdus_that_cannot_start_a_session_are_dropped_while_it_is_not_in_memory() {
    let pristine = star(2).endpoint;
    let st = two_busy_peers();
    let mut seen = std::collections::BTreeSet::new();
    for (sid, d) in &st.sent_by_remotes {
        let mut ep = pristine.clone();
        let t = ty(d);
        let got = ep.handle_datagram(st.now, Remote::Conn(u64::from(*sid)), d.clone());
        match t {
            PduType::Init => assert!(matches!(got, Ok(Routed::Answered { .. })), "{got:?}"),
            // Authentic, with this endpoint's cookie: the driver is asked for the session.
            PduType::Confirm => assert_eq!(got, Ok(Routed::NeedsSession { sid: *sid })),
            // A PACKET names an association the session does not hold; the endpoint never
            // had it in memory, so only its store knows whether a RESET may answer it.
            PduType::Packet => assert_eq!(got, Ok(Routed::NeedsSession { sid: *sid })),
            _ => assert_eq!(got, Err(EndpointError::NoSession { sid: *sid, ty: t })),
        }
        assert_eq!(ep.live_sessions(), 0);
        seen.insert(t);
    }
    assert!(seen.contains(&PduType::Packet) && seen.contains(&PduType::Confirm), "{seen:?}");
}

#[test]
fn a_pdu_for_session_a_carrying_session_b_identifiers_changes_neither() {
    let mut st = two_busy_peers();
    let (a, b) = (st.endpoint.session(1).unwrap().clone(), st.endpoint.session(2).unwrap().clone());
    assert!(a.association().is_some() && b.association().is_some());
    let from_b: Vec<Bytes> =
        st.sent_by_remotes.iter().filter(|(s, _)| *s == 2).map(|(_, d)| d.clone()).collect();
    let mut refused = 0;
    for d in &from_b {
        // Session B's tags and epoch under session A's id.
        match st.endpoint.handle_datagram(st.now, Remote::Conn(2), with_sid(d, 1)) {
            Ok(Routed::Session { sid: 1, verdict: Verdict::Dropped(_) }) => refused += 1,
            // An INIT's MAC covers its sid: this one fails, and is answered (with a proof
            // that never verifies) to its source as a stranger's would be.
            Ok(Routed::Session { sid: 1, verdict: Verdict::Answered }) if ty(d) == PduType::Init => {}
            other => panic!("{:?}: {other:?}", ty(d)),
        }
    }
    assert!(refused >= from_b.len() - 1, "{refused} of {}", from_b.len());
    let (a2, b2) = (st.endpoint.session(1).unwrap(), st.endpoint.session(2).unwrap());
    assert_eq!(a2.association(), a.association(), "A's association untouched");
    assert_eq!(a2.store(), a.store(), "A's state of record untouched");
    assert_eq!(b2, &b, "B untouched");
    assert_eq!(st.settle(), st.settle(), "and the star still runs");
}

#[test]
fn two_peers_transfer_concurrently_through_one_endpoint() {
    let mut st = star(2);
    for i in 0..5 {
        st.remote_input(1, Input::Submit(submission(100 + i)));
        st.remote_input(2, Input::Submit(submission(200 + i)));
    }
    st.settle();
    // The hub sends to peer0 as well, through the same endpoint.
    st.endpoint.submit(st.now, 1, submission(900)).expect("session 1 is in memory");
    assert!(st.run_until(100, |s| {
        delivered(&s.hub_events, 1).len() == 5
            && delivered(&s.hub_events, 2).len() == 5
            && delivered(&s.remote_events, 1) == [900]
    }));
    assert_eq!(delivered(&st.hub_events, 1), [100, 101, 102, 103, 104]);
    assert_eq!(delivered(&st.hub_events, 2), [200, 201, 202, 203, 204]);
    assert_eq!(st.endpoint.live_sessions(), 2);
}

#[test]
fn an_idle_session_is_evicted_after_release_and_restored_for_the_next_transfer() {
    let mut st = two_busy_peers();
    assert_eq!(st.endpoint.live_sessions(), 2);
    // The peers release (keepalives would hold an association up forever otherwise); the
    // associations drain, and the sessions leave memory once their disconnect delay has
    // passed.
    st.remote_input(1, Input::Release);
    st.remote_input(2, Input::Release);
    assert!(st.run_until(100, |s| s.endpoint.live_sessions() == 0), "evicted");
    assert_eq!(st.endpoint.stats().evictions, 2);
    assert!(deadline(&mut st.endpoint).is_none(), "no deadline left for evicted sessions");
    let msn_before = st.stores[&1].watermark;
    // peer0 sends again: INIT answered statelessly, CONFIRM restores the session.
    st.remote_input(1, Input::Submit(submission(11)));
    assert!(st.run_until(50, |s| delivered(&s.hub_events, 1) == [10, 11]));
    assert_eq!(st.endpoint.stats().restores, 3, "two at first, one for the new transfer");
    assert!(st.endpoint.session(2).is_none(), "peer1 stays out of memory");
    assert!(st.stores[&1].watermark > msn_before, "the restored session continued its msns");
    assert_eq!(delivered(&st.hub_events, 2), [20], "nothing delivered twice");
}

#[test]
fn memory_holds_at_most_max_live_sessions_and_everyone_gets_a_turn() {
    let cfg = EndpointConfig { max_live_sessions: 1, ..EndpointConfig::default() };
    let mut configs = star_configs(2, Suite::Symbolic);
    for (h, r) in &mut configs {
        // Short idle periods (keepalives would hold them up) so the first session leaves
        // memory while the second retries.
        for c in [h, r] {
            c.lifetime = Duration::from_secs(5);
            c.keepalive = None;
            c.disconnect_delay = Duration::from_secs(1);
            c.max_open_retries = 1000;
        }
    }
    let mut st = Star::new(cfg, configs, 9);
    st.remote_input(1, Input::Submit(submission(1)));
    st.remote_input(2, Input::Submit(submission(2)));
    assert!(st.run_until(500, |s| {
        assert!(s.endpoint.live_sessions() <= 1);
        delivered(&s.hub_events, 1) == [1] && delivered(&s.hub_events, 2) == [2]
    }));
    assert!(st.endpoint.stats().full > 0, "a restore was refused while the other was busy");
    assert!(st.hub_errors.iter().any(|e| matches!(e, EndpointError::Full { live: 1 })));
}

#[test]
fn a_second_peer_with_the_same_session_id_is_refused() {
    let configs = star_configs(1, Suite::Symbolic);
    let mut ep = Endpoint::new(EndpointConfig::default(), 1).unwrap();
    ep.add_peer(configs[0].0.clone(), None).unwrap();
    assert_eq!(ep.add_peer(configs[0].0.clone(), None), Err(EndpointError::DuplicateSession { sid: 1 }));
    assert!(matches!(
        Endpoint::new(EndpointConfig { max_live_sessions: 0, ..EndpointConfig::default() }, 1),
        Err(EndpointError::Config(_))
    ));
}

#[test]
fn association_traffic_never_follows_an_injector() {
    let mut st = two_busy_peers();
    // A stranger replays everything both peers ever sent, from its own address, then the
    // peers keep transferring.
    let replays: Vec<Bytes> = st.sent_by_remotes.iter().map(|(_, d)| d.clone()).collect();
    for d in &replays {
        let _ = st.deliver_to_hub(STRANGER, d.clone());
    }
    st.settle();
    for sid in [1, 2] {
        st.remote_input(sid, Input::Submit(submission(u64::from(sid) * 10 + 1)));
    }
    assert!(st
        .run_until(50, |s| delivered(&s.hub_events, 1).len() == 2 && delivered(&s.hub_events, 2).len() == 2));
    assert!(!st.misdirected.is_empty(), "the stranger was answered statelessly");
    for (sid, to, d) in &st.misdirected {
        assert_eq!(*to, STRANGER);
        assert!(ty(d) != PduType::Packet, "session {sid} sent association traffic to the stranger");
    }
}

#[test]
fn the_hub_opens_to_a_configured_remote_and_not_to_an_unknown_one() {
    let configs = star_configs(2, Suite::Symbolic);
    let mut ep = Endpoint::new(EndpointConfig::default(), 4).unwrap();
    let there = Remote::Conn(41);
    ep.add_peer(configs[0].0.clone(), Some(there)).unwrap();
    ep.add_peer(configs[1].0.clone(), None).unwrap();
    let now = Instant::ZERO;
    let mut sent = Vec::new();
    for sid in [1, 2] {
        ep.restore(now, sid, Default::default()).unwrap();
        ep.submit(now, sid, submission(sid.into())).unwrap();
        // Persist every record at once; the session's timers open the association.
        for _ in 0..10 {
            let until = loop {
                let (s, out) = match ep.poll_output() {
                    EndpointOutput::Session { sid, output } => (sid, output),
                    EndpointOutput::Wait { until } => break until,
                };
                match out {
                    Output::Persist { seq, .. } => {
                        ep.session_input(now, s, Input::Persisted { upto: seq }).unwrap();
                    }
                    Output::Transmit(t) => sent.push((s, t.to, ty(&t.datagram))),
                    _ => {}
                }
            };
            let earliest = [1, 2]
                .into_iter()
                .filter_map(|sid| ep.session(sid))
                .flat_map(|s| s.armed_timers().map(|(_, at)| at))
                .min();
            assert_eq!(until, earliest, "the wait carries the earliest deadline of any session");
            ep.handle_timeout(until.unwrap_or(now));
        }
    }
    assert!(sent.contains(&(1, there, PduType::Init)), "{sent:?}");
    assert!(sent.iter().all(|(s, to, _)| *s == 1 && *to == there), "peer 2 has no address yet: {sent:?}");
}

#[test]
fn with_keepalives_a_full_endpoint_releases_an_idle_association_to_make_room() {
    // Default timers: keepalives hold an idle association up for ever.
    let cfg = EndpointConfig { max_live_sessions: 1, ..EndpointConfig::default() };
    let mut configs = star_configs(2, Suite::Symbolic);
    for (h, r) in &mut configs {
        for c in [h, r] {
            c.max_open_retries = 1000;
        }
    }
    let mut st = Star::new(cfg, configs, 5);
    st.remote_input(1, Input::Submit(submission(1)));
    assert!(st.run_until(50, |s| delivered(&s.hub_events, 1) == [1]));
    st.remote_input(2, Input::Submit(submission(2)));
    assert!(st.run_until(1000, |s| delivered(&s.hub_events, 2) == [2]), "peer1 got its turn");
    assert!(st.endpoint.stats().released_for_room >= 1);
    assert!(st.endpoint.live_sessions() <= 1);
}

#[test]
fn the_route_key_is_the_header_session_id_of_a_pdu_and_nothing_else() {
    use assoc_core::endpoint::route_key;
    let (_, cfg) = star_configs(1, Suite::Symbolic).pop().unwrap();
    let init = first_init(cfg);
    assert_eq!(route_key(&init), Some(1));
    assert_eq!(
        route_key(&with_sid(&init, 0xdead_beef)),
        Some(0xdead_beef),
        "unauthenticated: the owner checks"
    );
    assert_eq!(route_key(&init.slice(..init.len() - 1)), None, "truncated");
    assert_eq!(route_key(&Bytes::from_static(b"not a pdu")), None);
}
