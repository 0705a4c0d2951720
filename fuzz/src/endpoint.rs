//! `endpoint`: one hub [`Endpoint`] serving up to 8 remote peers through
//! [`Star`], under any sequence of submissions, releases, clock
//! moves, hub restarts (a new endpoint on the same stores: every session's epoch unknown
//! again), and datagrams the fuzzer makes: replays of any earlier datagram, the same with
//! another session's id in the header, bit flips, and arbitrary bytes.
//!
//! After every step:
//! * address validation: no association traffic (PACKET) goes to the injector's address
//!   for a session unless the injector handed that session an authentic PDU it accepted (a
//!   replayed CONFIRM that never arrived from the peer, say: indistinguishable from a peer
//!   that moved);
//! * memory: no more sessions in memory than `max_live_sessions`, and the count the
//!   endpoint reports is the number it holds;
//! * time: right after `handle_timeout(now)` no deadline is at or before `now`;
//! * delivery: per session, the hub delivers each remote message at most once and in
//!   submission order (eviction and restore included);
//! * a datagram handed in is either routed or refused with a typed error; a refused one
//!   leaves every session in memory as it was;
//! * stateless answers are bounded: a datagram answered with a RESET for a session not in
//!   memory is larger than the RESET, at most one RESET per datagram, and no more RESETs
//!   than the endpoint's reset budget allows over the run (burst plus refill).
//!
//! With `settle`, the run ends on a healed network and every remote message must be
//! delivered: every peer gets its turn, whatever `max_live_sessions` is.

use std::collections::BTreeSet;

use arbitrary::Arbitrary;
use assoc_core::endpoint::{Endpoint, EndpointConfig, Routed};
use assoc_core::sim::{star_configs, Star};
use assoc_core::wire::{PduType, RawPdu};
use assoc_core::{
    Config, Duration, Event, Input, Instant, Priority, Remote, Submission, Suite, Verdict, RESET_LEN,
};
use bytes::Bytes;

/// Most operations of one case that are executed.
const MAX_OPS: usize = 300;

/// One fuzz case.
#[derive(Arbitrary, Debug)]
pub struct Case {
    /// Peers, 1..=8.
    peers: u8,
    /// `max_live_sessions`, 1..=4.
    max_live: u8,
    seed: u64,
    /// Heal the network at the end and require every message delivered.
    settle: bool,
    ops: Vec<Op>,
}

/// One thing that happens.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// Deliver everything, then fire the next deadline.
    Step,
    /// Remote `peer` submits a message.
    Submit {
        /// Which peer (modulo the number of peers).
        peer: u8,
    },
    /// The hub submits to `peer` (refused if its session is not in memory).
    HubSubmit {
        /// Which peer.
        peer: u8,
    },
    /// Remote `peer` releases its association.
    Release {
        /// Which peer.
        peer: u8,
    },
    /// The k-th datagram a remote sent arrives again, its session id optionally replaced
    /// by another peer's, from its sender's address or the injector's.
    Replay {
        /// Which one (modulo the number sent).
        k: u16,
        /// Another peer's session id in the header instead.
        as_peer: Option<u8>,
        /// From the injector's address rather than the sender's.
        injected: bool,
    },
    /// The k-th datagram a remote sent arrives with one bit flipped, from the injector.
    Flip {
        /// Which one.
        k: u16,
        /// Which bit (modulo its length in bits).
        bit: u16,
    },
    /// Arbitrary bytes arrive from the injector.
    Raw(Vec<u8>),
    /// The clock moves by `secs` seconds and every due deadline fires.
    Advance {
        /// How far.
        secs: u16,
    },
    /// The hub restarts: a new endpoint with the same peers, on the same stores; what was
    /// in memory and undrained is lost.
    Restart {
        /// Its seed.
        seed: u64,
    },
}

fn submission(app_id: u64) -> Submission {
    Submission {
        app_id,
        priority: Priority::Normal,
        deadline: None,
        bytes: Bytes::from(vec![app_id as u8; 300]),
    }
}

/// Runs one case; panics on a violated property.
pub fn run(case: Case) {
    let n = u32::from(case.peers % 8) + 1;
    let max_live = usize::from(case.max_live % 4) + 1;
    let mut configs = star_configs(n, Suite::Symbolic);
    for (h, r) in &mut configs {
        for c in [h, r] {
            // Keepalives hold an idle association up for ever: a full endpoint releases
            // one to make room, so every peer still gets its turn.
            c.lifetime = Duration::from_secs(10);
            c.disconnect_delay = Duration::from_secs(2);
            c.max_open_retries = 1_000_000;
            c.open_interval = Duration::from_secs(5);
        }
    }
    let cfg = EndpointConfig { max_live_sessions: max_live, ..EndpointConfig::default() };
    let hub_configs: Vec<Config> = configs.iter().map(|(h, _)| h.clone()).collect();
    let mut st = Star::new(cfg, configs, case.seed);
    let mut next_app_id = 1u64;
    let mut budget_start = Instant::ZERO;
    let mut submitted = 0usize;
    // Sessions the injector handed an authentic PDU they accepted.
    let mut proved = BTreeSet::new();
    for op in case.ops.into_iter().take(MAX_OPS) {
        match op {
            Op::Step => {
                st.advance(Duration::from_secs(3600));
            }
            Op::Submit { peer } => {
                st.remote_input(u32::from(peer) % n + 1, Input::Submit(submission(next_app_id)));
                next_app_id += 1;
                submitted += 1;
            }
            Op::HubSubmit { peer } => {
                let now = st.now;
                let _ = st.endpoint.submit(now, u32::from(peer) % n + 1, submission(1_000_000 + next_app_id));
                next_app_id += 1;
            }
            Op::Release { peer } => st.remote_input(u32::from(peer) % n + 1, Input::Release),
            Op::Replay { k, as_peer, injected } => {
                if let Some((sid, d)) = pick(&st, k) {
                    let d = match as_peer {
                        Some(p) => with_sid(&d, u32::from(p) % n + 1),
                        None => d,
                    };
                    let from = if injected { INJECTOR } else { Remote::Conn(u64::from(sid)) };
                    hand_in(&mut st, from, d, &mut proved);
                }
            }
            Op::Flip { k, bit } => {
                if let Some((_, d)) = pick(&st, k) {
                    let mut v = d.to_vec();
                    let bit = usize::from(bit) % (v.len() * 8);
                    v[bit / 8] ^= 1 << (bit % 8);
                    hand_in(&mut st, INJECTOR, Bytes::from(v), &mut proved);
                }
            }
            Op::Raw(bytes) => hand_in(&mut st, INJECTOR, Bytes::from(bytes), &mut proved),
            Op::Restart { seed } => {
                st.endpoint = restarted(cfg, &hub_configs, seed);
                budget_start = st.now;
            }
            Op::Advance { secs } => {
                st.settle();
                st.now += Duration::from_secs(u64::from(secs));
                let now = st.now;
                st.endpoint.handle_timeout(now);
                assert!(st.hub_deadline().is_none_or(|t| t > now), "a deadline at or before now");
                for sid in 1..=n {
                    if crate::common::next_deadline(&st.remotes[&sid]).is_some_and(|t| t <= now) {
                        st.remote_input(sid, Input::Timeout);
                    }
                }
            }
        }
        st.settle();
        check(&st, n, max_live, &proved);
        check_reset_budget(&st, cfg, budget_start);
    }
    if case.settle {
        let done = st.run_until(20_000, |s| s.remotes.values().all(|r| r.store().outbound.is_empty()));
        check(&st, n, max_live, &proved);
        assert!(done, "not every remote message was resolved after healing; {submitted} submitted");
    }
}

/// A new hub endpoint with the same peers (its stores are the star's, kept).
fn restarted(cfg: EndpointConfig, peers: &[Config], seed: u64) -> Endpoint {
    let mut hub = Endpoint::new(cfg, seed).expect("the same valid config");
    for h in peers {
        hub.add_peer(h.clone(), None).expect("the same valid, distinct peers");
    }
    hub
}

/// The endpoint's RESETs since it started stay within its reset budget.
fn check_reset_budget(st: &Star, cfg: EndpointConfig, since: Instant) {
    let secs = st.now.saturating_duration_since(since).as_micros() / 1_000_000 + 1;
    let allowed = u64::from(cfg.reset_budget.burst) + u64::from(cfg.reset_budget.per_second) * secs;
    let sent = st.endpoint.stats().resets_sent;
    assert!(sent <= allowed, "{sent} RESETs in {secs} s, the budget allows {allowed}");
}

/// The address of a party without any key that injects datagrams.
const INJECTOR: Remote = Remote::Conn(1_000_000);

fn pick(st: &Star, k: u16) -> Option<(u32, Bytes)> {
    let sent = &st.sent_by_remotes;
    (!sent.is_empty()).then(|| sent[usize::from(k) % sent.len()].clone())
}

fn with_sid(d: &Bytes, sid: u32) -> Bytes {
    let mut v = d.to_vec();
    if v.len() >= 8 {
        v[4..8].copy_from_slice(&sid.to_be_bytes());
    }
    Bytes::from(v)
}

/// Hands `d` from `from` to the hub; a refused datagram must leave every session in memory
/// as it was.
fn hand_in(st: &mut Star, from: Remote, d: Bytes, proved: &mut BTreeSet<u32>) {
    let before: Vec<_> = (0..=8).map(|sid| st.endpoint.session(sid).cloned()).collect();
    let live = st.endpoint.live_sessions();
    let resets = st.endpoint.stats().resets_sent;
    let len = d.len();
    let verdict = st.deliver_to_hub(from, d);
    let new_resets = st.endpoint.stats().resets_sent - resets;
    assert!(new_resets <= 1, "{new_resets} RESETs for one datagram");
    if matches!(verdict, Ok(Routed::Reset { .. })) {
        assert_eq!(new_resets, 1, "a RESET answer is counted");
        assert!(len > RESET_LEN, "a {len}-byte datagram answered with a {RESET_LEN}-byte RESET");
    }
    if let Ok(Routed::Session { sid, verdict: Verdict::Accepted }) = verdict {
        if from == INJECTOR {
            proved.insert(sid);
        }
    }
    if verdict.is_err() && st.endpoint.live_sessions() == live {
        for (sid, b) in before.iter().enumerate() {
            assert_eq!(
                st.endpoint.session(sid as u32),
                b.as_ref(),
                "a refused datagram changed session {sid}"
            );
        }
    }
}

fn check(st: &Star, n: u32, max_live: usize, proved: &BTreeSet<u32>) {
    let held = (1..=n).filter(|sid| st.endpoint.session(*sid).is_some()).count();
    assert_eq!(held, st.endpoint.live_sessions(), "live count");
    assert!(held <= max_live, "{held} sessions in memory, at most {max_live}");
    for (sid, to, d) in &st.misdirected {
        let ty = RawPdu::parse(d).map(|r| r.ty);
        assert!(
            ty != Ok(PduType::Packet) || proved.contains(sid),
            "session {sid} sent association traffic to {to:?}, which never proved the key"
        );
    }
    for sid in 1..=n {
        let ids: Vec<u64> = st
            .hub_events
            .iter()
            .filter_map(|(s, e)| match e {
                Event::Delivered { app_id, .. } if *s == sid => Some(*app_id),
                _ => None,
            })
            .collect();
        assert!(ids.windows(2).all(|w| w[0] < w[1]), "session {sid} delivered {ids:?}");
    }
}
