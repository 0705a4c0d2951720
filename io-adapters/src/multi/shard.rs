//! How a [`Server`](super::Server) splits its peers over driver threads: which shard owns a
//! session id, what share of the endpoint's bounds each shard's endpoint gets, and how the
//! shards' counters add up. Pure functions; the threads live in `mod.rs` and `driver.rs`.

use assoc_core::endpoint::EndpointStats;
use assoc_core::{EndpointConfig, InitBudget};

use super::ServerStats;

/// The shard (0..`shards`) that owns session `sid`. Fibonacci hashing of the id, so that
/// session ids in any arithmetic pattern (consecutive, all even, steps of `shards`) spread
/// evenly. Every datagram, submission and acknowledgement of a session goes to this shard.
pub(crate) fn shard_of(sid: u32, shards: usize) -> usize {
    let mixed = u64::from(sid.wrapping_mul(0x9E37_79B9));
    // Multiply-shift instead of `%`: the high bits of the mix are the well-mixed ones.
    ((mixed * shards as u64) >> 32) as usize
}

/// The bounds of shard `here`'s endpoint, out of `shards`, when it holds `peers_here` of
/// `peers_total` configured peers. The shards' bounds together stay within the configured
/// ones (up to rounding up, at most one per shard), so memory and the unauthentic INITs
/// answered stay bounded as configured whatever the number of threads:
/// * `max_live_sessions` in proportion to the peers each shard holds (at least one);
/// * queued answers, the INIT budgets and the stateless-RESET budget split evenly (at least
///   one each);
/// * the per-source table size is kept (a source may send to sessions of every shard).
pub(crate) fn share(
    cfg: EndpointConfig,
    shards: usize,
    peers_here: usize,
    peers_total: usize,
) -> EndpointConfig {
    let even = |v: u32| v.div_ceil(shards.max(1) as u32).max(1);
    let budget = |b: InitBudget| InitBudget { burst: even(b.burst), per_second: even(b.per_second) };
    let live = (cfg.max_live_sessions as u128 * peers_here as u128).div_ceil(peers_total.max(1) as u128);
    let mut out = cfg;
    out.max_live_sessions = usize::try_from(live).unwrap_or(usize::MAX).clamp(1, cfg.max_live_sessions);
    out.max_queued_answers = cfg.max_queued_answers.div_ceil(shards.max(1)).max(1);
    out.unauthentic_init_budget = budget(cfg.unauthentic_init_budget);
    out.source_limits.budget = budget(cfg.source_limits.budget);
    out.reset_budget = budget(cfg.reset_budget);
    out
}

/// Adds one shard's counters to the server's.
pub(crate) fn add(total: &mut ServerStats, shard: &ServerStats) {
    let ServerStats { endpoint, live_sessions, commits, records, datagrams_out, send_failures, delivered } =
        shard;
    add_endpoint(&mut total.endpoint, endpoint);
    total.live_sessions += live_sessions;
    total.commits += commits;
    total.records += records;
    total.datagrams_out += datagrams_out;
    total.send_failures += send_failures;
    total.delivered += delivered;
}

fn add_endpoint(total: &mut EndpointStats, shard: &EndpointStats) {
    // Destructured so that a new counter does not go unsummed silently.
    let EndpointStats {
        datagrams_in,
        undecodable,
        unknown_session,
        no_session,
        inits_answered,
        inits_unauthentic,
        stateless_dropped,
        auth_failures,
        sessions_needed,
        restores,
        evictions,
        full,
        released_for_room,
        resets_sent,
    } = shard;
    total.datagrams_in += datagrams_in;
    total.undecodable += undecodable;
    total.unknown_session += unknown_session;
    total.no_session += no_session;
    total.inits_answered += inits_answered;
    total.inits_unauthentic += inits_unauthentic;
    total.stateless_dropped += stateless_dropped;
    total.auth_failures += auth_failures;
    total.sessions_needed += sessions_needed;
    total.restores += restores;
    total.evictions += evictions;
    total.full += full;
    total.released_for_room += released_for_room;
    total.resets_sent += resets_sent;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_session_has_one_owner_and_patterns_of_ids_spread_evenly() {
        assert!((0..10_000).all(|sid| shard_of(sid, 1) == 0));
        for shards in [2, 3, 4, 8] {
            for (pattern, ids) in [
                ("consecutive", (1..=4000).collect::<Vec<u32>>()),
                ("even", (1..=4000).map(|i| i * 2).collect()),
                ("steps of the shard count", (1..=4000).map(|i| i * shards as u32).collect()),
            ] {
                let mut load = vec![0usize; shards];
                for sid in &ids {
                    let s = shard_of(*sid, shards);
                    assert!(s < shards);
                    assert_eq!(s, shard_of(*sid, shards), "deterministic");
                    load[s] += 1;
                }
                let fair = ids.len() / shards;
                assert!(
                    load.iter().all(|l| l.abs_diff(fair) * 10 <= fair),
                    "{pattern} ids over {shards} shards: {load:?} (more than 10% off even)"
                );
            }
        }
        assert!(shard_of(u32::MAX, 7) < 7);
    }

    #[test]
    fn the_shares_stay_within_the_configured_bounds() {
        let cfg = EndpointConfig::DEFAULT;
        assert_eq!(share(cfg, 1, 10, 10), cfg, "one shard keeps everything");
        let (a, b) = (share(cfg, 2, 300, 1000), share(cfg, 2, 700, 1000));
        assert_eq!((a.max_live_sessions, b.max_live_sessions), (308, 717));
        assert!(a.max_live_sessions + b.max_live_sessions <= cfg.max_live_sessions + 2);
        assert_eq!(a.max_queued_answers + b.max_queued_answers, cfg.max_queued_answers);
        let budget = cfg.unauthentic_init_budget;
        assert_eq!(a.unauthentic_init_budget.burst * 2, budget.burst);
        assert_eq!(a.reset_budget.burst * 2, cfg.reset_budget.burst);
        assert_eq!(a.source_limits.budget.per_second, cfg.source_limits.budget.per_second / 2);
        assert_eq!(a.source_limits.max_sources, cfg.source_limits.max_sources);
        let tiny = EndpointConfig { max_live_sessions: 1, max_queued_answers: 1, ..cfg };
        let s = share(tiny, 8, 0, 1000);
        assert_eq!((s.max_live_sessions, s.max_queued_answers), (1, 1), "never below one");
        assert!(s.validate().is_ok());
        assert!(share(cfg, 3, 0, 0).validate().is_ok(), "no peers at all");
    }

    #[test]
    fn counters_of_the_shards_add_up() {
        let mut one = ServerStats { commits: 2, delivered: 5, live_sessions: 1, ..ServerStats::default() };
        one.endpoint.datagrams_in = 7;
        one.endpoint.released_for_room = 1;
        let mut total = ServerStats::default();
        add(&mut total, &one);
        add(&mut total, &one);
        assert_eq!((total.commits, total.delivered, total.live_sessions), (4, 10, 2));
        assert_eq!((total.endpoint.datagrams_in, total.endpoint.released_for_room), (14, 2));
    }
}
