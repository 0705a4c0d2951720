//! What the endpoint does for a peer whose session is not in memory (issue #17;
//! `PROTOCOL.md`, "Endpoint"): a PACKET is answered as the session itself would answer it
//! (a RESET by the session's own rule, or nothing), an attacker's flood of PACKETs gets
//! bounded, never larger answers, and a restored session remembers where its peer last
//! proved its key.

use assoc_core::endpoint::{Endpoint, EndpointConfig, EndpointError, Routed};
use assoc_core::sim::{star_configs, Star};
use assoc_core::wire::{PduType, RawPdu};
use assoc_core::{
    DownReason, DropReason, Duration, Event, Input, Instant, Output, Priority, Remote, Submission, Suite,
    Verdict,
};
use bytes::Bytes;

mod common;
use common::{endpoint_deadline, endpoint_delivered as delivered, endpoint_outputs};

fn submission(app_id: u64) -> Submission {
    Submission { app_id, priority: Priority::Normal, deadline: None, bytes: Bytes::from(vec![7u8; 100]) }
}

fn ty(d: &Bytes) -> PduType {
    RawPdu::parse(d).expect("a PDU").ty
}

fn header(d: &Bytes) -> (u64, u64) {
    let h = RawPdu::parse(d).expect("a PDU").header;
    (h.epoch, h.dst_tag)
}

/// `d` with its header's `dst_tag` and `epoch` replaced (its AEAD no longer opens, which
/// nothing stateless can tell).
fn with_ids(d: &Bytes, dst_tag: u64, epoch: u64) -> Bytes {
    let mut v = d.to_vec();
    v[8..16].copy_from_slice(&dst_tag.to_be_bytes());
    v[16..24].copy_from_slice(&epoch.to_be_bytes());
    Bytes::from(v)
}

/// An address no peer has.
const STRANGER: Remote = Remote::Conn(666);

/// Peer 1 sends `app_id`; then it releases, and the hub's session drains. Returns the star
/// as soon as the hub's session holds no association (it lingers in memory).
fn one_association(st: &mut Star, app_id: u64) {
    st.remote_input(1, Input::Submit(submission(app_id)));
    assert!(st.run_until(100, |s| delivered(&s.hub_events, 1).contains(&app_id)));
    st.remote_input(1, Input::Release);
    assert!(st.run_until(100, |s| s.endpoint.session(1).is_some_and(|x| x.association().is_none())));
}

/// Two associations of peer 1, both released; the hub's session lingers after the second
/// (`lingering`), then leaves memory (`evicted`). Also returns the PACKETs peer 1 sent.
fn two_associations_then_evicted() -> (Endpoint, Endpoint, Vec<Bytes>) {
    let mut st = Star::new(EndpointConfig::default(), star_configs(2, Suite::Symbolic), 11);
    one_association(&mut st, 1);
    assert!(st.run_until(100, |s| s.endpoint.session(1).is_none()), "evicted after the first");
    one_association(&mut st, 2);
    let lingering = st.endpoint.clone();
    assert!(st.run_until(100, |s| s.endpoint.session(1).is_none()), "evicted after the second");
    let packets = st
        .sent_by_remotes
        .iter()
        .filter(|(s, d)| *s == 1 && ty(d) == PduType::Packet)
        .map(|(_, d)| d.clone());
    (lingering, st.endpoint, packets.collect())
}

/// What the endpoint did with one PACKET, reduced to what the peer sees.
#[derive(Debug, PartialEq, Eq)]
enum Answer {
    Reset(Bytes),
    Stale,
}

fn answer_of(ep: &mut Endpoint, d: &Bytes) -> Answer {
    let got = ep.handle_datagram(Instant::ZERO + Duration::from_secs(10_000), STRANGER, d.clone());
    let mut out: Vec<Bytes> = std::iter::from_fn(|| endpoint_outputs(ep).next())
        .filter_map(|(_, o)| match o {
            Output::Transmit(t) => Some(t.datagram),
            _ => None,
        })
        .collect();
    match got {
        Ok(Routed::Reset { sid: 1 }) | Ok(Routed::Session { sid: 1, verdict: Verdict::Answered }) => {
            assert_eq!(out.len(), 1, "{got:?}");
            let reset = out.remove(0);
            assert_eq!(ty(&reset), PduType::Reset);
            assert!(reset.len() < d.len(), "a RESET never amplifies");
            Answer::Reset(reset)
        }
        Err(EndpointError::Dropped { sid: 1, reason: DropReason::Stale })
        | Ok(Routed::Session { sid: 1, verdict: Verdict::Dropped(DropReason::Stale) }) => {
            assert!(out.is_empty(), "{got:?}: {out:?}");
            Answer::Stale
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_packet_for_a_session_out_of_memory_is_answered_as_the_session_in_memory_would() {
    let (lingering, evicted, packets) = two_associations_then_evicted();
    let (first, second) = (header(&packets[0]), header(packets.last().unwrap()));
    assert!(first.0 < second.0, "two associations: {first:?} {second:?}");
    let tags = [first.1, second.1, 0x5eed];
    let epochs = [first.0, second.0, second.0 + 1, u64::MAX];
    let mut resets = 0;
    for (epoch, tag) in epochs.iter().flat_map(|e| tags.iter().map(move |t| (*e, *t))) {
        let d = with_ids(&packets[0], tag, epoch);
        // Each case on fresh copies: the budgets are not what this test is about.
        let (mut in_memory, mut out) = (lingering.clone(), evicted.clone());
        assert!(in_memory.session(1).is_some() && out.session(1).is_none());
        let (expected, got) = (answer_of(&mut in_memory, &d), answer_of(&mut out, &d));
        assert_eq!(got, expected, "epoch {epoch}, tag {tag:#x}");
        let should_reset = epoch <= second.0 && (epoch, tag) != second;
        assert_eq!(matches!(got, Answer::Reset(_)), should_reset, "epoch {epoch}, tag {tag:#x}");
        resets += usize::from(should_reset);
        assert_eq!(out.live_sessions(), 0, "nothing entered memory");
    }
    assert_eq!(resets, 5, "the first association's packets and any other tag at or below the epoch");
}

#[test]
fn a_packet_for_a_peer_whose_epoch_is_unknown_asks_for_its_session_once() {
    let configs = star_configs(1000, Suite::Symbolic);
    let mut st = Star::new(EndpointConfig::default(), configs, 3);
    // A real PACKET of peer 1, then the same header under every other session id.
    st.remote_input(1, Input::Submit(submission(1)));
    assert!(st.run_until(50, |s| delivered(&s.hub_events, 1) == [1]));
    let packet = st.sent_by_remotes.iter().find(|(_, d)| ty(d) == PduType::Packet).unwrap().1.clone();
    let mut ep = Star::new(EndpointConfig::default(), star_configs(1000, Suite::Symbolic), 4).endpoint;
    let per_source = EndpointConfig::default().source_limits.budget.burst as usize;
    let mut asked = Vec::new();
    for round in 0..2 {
        for sid in 1..=1000u32 {
            let mut v = packet.to_vec();
            v[4..8].copy_from_slice(&sid.to_be_bytes());
            let from = Remote::Conn(u64::from(sid % 7)); // a few sources, each over its limit
            match ep.handle_datagram(Instant::ZERO, from, Bytes::from(v)) {
                Ok(Routed::NeedsSession { sid }) => asked.push((round, sid)),
                Err(EndpointError::Dropped { reason: DropReason::Stale, .. }) => {}
                other => panic!("{other:?}"),
            }
        }
    }
    // The driver did not restore any: each asked at most once, within each source's bucket.
    assert_eq!(asked.len(), 7 * per_source, "{asked:?}");
    assert!(asked.iter().all(|(round, _)| *round == 0), "never asked twice: {asked:?}");
    assert_eq!(ep.stats().sessions_needed, asked.len() as u64);
    assert_eq!((ep.live_sessions(), ep.stats().resets_sent), (0, 0));
    assert!(endpoint_outputs(&mut ep).next().is_none(), "nothing answered without the session");
}

#[test]
fn an_attackers_flood_of_packets_gets_bounded_answers_never_larger() {
    let (_, evicted, packets) = two_associations_then_evicted();
    let first = header(&packets[0]);
    let defaults = EndpointConfig::default();
    let (budget, per_source) =
        (defaults.reset_budget.burst as u64, defaults.source_limits.budget.burst as u64);
    let now = Instant::ZERO + Duration::from_secs(10_000);
    // Unknown session ids: nothing to answer with (no key), counted.
    let mut ep = evicted.clone();
    for sid in 10_000..12_000u32 {
        let mut v = packets[0].to_vec();
        v[4..8].copy_from_slice(&sid.to_be_bytes());
        let got = ep.handle_datagram(now, Remote::Conn(u64::from(sid)), Bytes::from(v));
        assert_eq!(got, Err(EndpointError::UnknownSession { sid }));
    }
    assert_eq!((ep.stats().unknown_session, ep.stats().resets_sent), (2000, 0));
    assert!(endpoint_outputs(&mut ep).next().is_none());
    // Answerable PACKETs (old epoch, random tags) from many sources: the endpoint's budget.
    let flood = |ep: &mut Endpoint, from: &dyn Fn(u64) -> Remote, at: Instant| {
        let mut answered = 0u64;
        for i in 0..2000u64 {
            let d = with_ids(&packets[0], 0x1000 + i, first.0);
            match ep.handle_datagram(at, from(i), d.clone()) {
                Ok(Routed::Reset { sid: 1 }) => answered += 1,
                Err(EndpointError::Dropped { sid: 1, .. }) => {}
                other => panic!("{other:?}"),
            }
            while let Some((_, out)) = endpoint_outputs(ep).next() {
                let Output::Transmit(t) = out else { panic!("{out:?}") };
                assert!(t.datagram.len() < d.len() && ty(&t.datagram) == PduType::Reset);
                assert_eq!(t.to, from(i), "the answer goes back to its PACKET");
            }
        }
        answered
    };
    let many = |i| Remote::Conn(100_000 + i);
    assert_eq!(flood(&mut ep, &many, now), budget, "the endpoint's reset budget");
    assert_eq!(ep.stats().resets_sent, budget);
    // From one source, once the budget has refilled: that source's bucket.
    let later = now + Duration::from_secs(1000);
    assert_eq!(flood(&mut ep, &|_| STRANGER, later), per_source.min(budget), "the source's bucket");
    assert_eq!(ep.live_sessions(), 0, "nothing entered memory");
}

#[test]
fn a_peer_holding_an_association_the_restarted_hub_lost_is_reset_and_reopens() {
    let mut st = Star::new(EndpointConfig::default(), star_configs(2, Suite::Symbolic), 21);
    st.remote_input(1, Input::Submit(submission(1)));
    assert!(st.run_until(50, |s| delivered(&s.hub_events, 1) == [1]));
    assert!(st.remotes[&1].association().is_some());
    // The hub restarts: a new endpoint, the same peers, the stores as they were.
    let mut hub = Endpoint::new(EndpointConfig::default(), 99).unwrap();
    for (h, _) in star_configs(2, Suite::Symbolic) {
        hub.add_peer(h, None).unwrap();
    }
    st.endpoint = hub;
    st.remote_input(1, Input::Submit(submission(2)));
    assert!(st.run_until(50, |s| delivered(&s.hub_events, 1) == [1, 2]), "delivered after the reset");
    let reset = st
        .remote_events
        .iter()
        .any(|(s, e)| *s == 1 && matches!(e, Event::AssociationDown { reason: DownReason::PeerReset, .. }));
    assert!(reset, "the peer learned of it from a RESET, not from probe timeouts");
    // The PACKET asked for the session; it stayed in memory for the new handshake.
    assert_eq!(st.endpoint.stats().sessions_needed, 1);
}

#[test]
fn a_restored_session_sends_first_to_where_its_peer_last_proved_its_key() {
    let mut st = Star::new(EndpointConfig::default(), star_configs(2, Suite::Symbolic), 31);
    one_association(&mut st, 1);
    assert!(st.run_until(100, |s| s.endpoint.session(1).is_none()), "evicted");
    // Peer 1 is at Remote::Conn(1); the hub was never told so (no configured remote).
    let now = st.now;
    let store = st.stores[&1].clone();
    st.endpoint.restore(now, 1, store).unwrap();
    st.endpoint.submit(now, 1, submission(500)).unwrap();
    let mut first = None;
    for _ in 0..10 {
        loop {
            let Some((sid, out)) = endpoint_outputs(&mut st.endpoint).next() else { break };
            match out {
                Output::Persist { seq, .. } => {
                    st.endpoint.session_input(now, sid, Input::Persisted { upto: seq }).unwrap();
                }
                Output::Transmit(t) => {
                    first.get_or_insert((sid, t.to, ty(&t.datagram)));
                }
                _ => {}
            }
        }
        let at = endpoint_deadline(&mut st.endpoint).unwrap_or(now).max(now);
        st.endpoint.handle_timeout(at);
    }
    assert_eq!(first, Some((1, Remote::Conn(1), PduType::Init)));
    assert_eq!(st.endpoint.session(1).unwrap().peer_remote(), Some(Remote::Conn(1)));
}

#[test]
fn a_packet_never_asks_for_a_session_when_memory_is_full() {
    // One session in memory at most; peer 1 holds it with an idle association.
    let cfg = EndpointConfig { max_live_sessions: 1, ..EndpointConfig::default() };
    let mut st = Star::new(cfg, star_configs(2, Suite::Symbolic), 41);
    st.remote_input(1, Input::Submit(submission(1)));
    assert!(st.run_until(50, |s| delivered(&s.hub_events, 1) == [1]));
    let held = st.endpoint.session(1).cloned().expect("in memory");
    let packet = st.sent_by_remotes.iter().rev().find(|(_, d)| ty(d) == PduType::Packet).unwrap().1.clone();
    // A PACKET under peer 2's id (its epoch unknown): asking for its session would be
    // refused as `Full` and release peer 1's association.
    let mut v = packet.to_vec();
    v[4..8].copy_from_slice(&2u32.to_be_bytes());
    let got = st.deliver_to_hub(STRANGER, Bytes::from(v.clone()));
    assert_eq!(got, Err(EndpointError::Dropped { sid: 2, reason: DropReason::Stale }));
    assert_eq!(st.endpoint.session(1), Some(&held), "peer 1's association untouched");
    assert_eq!((st.endpoint.stats().released_for_room, st.endpoint.stats().full), (0, 0));
    // Once peer 1 is gone, the next such PACKET may ask (it did not count as asked).
    st.remote_input(1, Input::Release);
    assert!(st.run_until(100, |s| s.endpoint.session(1).is_none()));
    let got = st.endpoint.handle_datagram(st.now, STRANGER, Bytes::from(v));
    assert_eq!(got, Ok(Routed::NeedsSession { sid: 2 }));
}
