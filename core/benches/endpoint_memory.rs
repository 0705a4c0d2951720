//! Heap bytes of an [`Endpoint`] (issue #17): per configured peer with no traffic, per idle
//! session after release and eviction, and per session in memory. Counted by a counting
//! global allocator, not timed: the figures are exact and repeatable.
//!
//!     cargo bench -p assoc-core --bench endpoint_memory
//!
//! Targets: ≤ 4 KiB per idle session; ≤ 100 MiB for 100,000 configured peers.

use std::alloc::System;

use assoc_core::endpoint::{Endpoint, EndpointConfig};
use assoc_core::sim::{star_config, star_configs, Star};
use assoc_core::{Input, Priority, Submission, Suite};
use stats_alloc::{StatsAlloc, INSTRUMENTED_SYSTEM};

#[global_allocator]
static GLOBAL: &StatsAlloc<System> = &INSTRUMENTED_SYSTEM;

/// Heap bytes held now (allocated minus freed since the process started).
fn held() -> i64 {
    let s = GLOBAL.stats();
    s.bytes_allocated as i64 - s.bytes_deallocated as i64 + s.bytes_reallocated as i64
}

/// Bytes an endpoint with `n` configured peers holds, none of them ever in memory.
fn configured(n: u32) -> i64 {
    let before = held();
    let mut ep = Endpoint::new(EndpointConfig::default(), 1).expect("valid");
    // One config at a time, so only the endpoint's copy is alive at the end.
    for i in 0..n {
        let (h, _) = star_config(i, Suite::recommended());
        ep.add_peer(h, None).expect("distinct sids");
    }
    let bytes = held() - before;
    assert_eq!(ep.peers(), n as usize);
    drop(ep);
    bytes
}

/// Bytes the endpoint holds once `n` peers each transferred one message (`release`: and
/// then released, so that every session left memory). Exact: the rest of the harness is
/// dropped before counting, so what is left is the endpoint (its configs included).
fn endpoint_after_transfers(n: u32, release: bool) -> i64 {
    let before = held();
    let mut configs = star_configs(n, Suite::recommended());
    for (h, r) in &mut configs {
        for c in [h, r] {
            c.keepalive = None; // so the associations go idle
        }
    }
    let cfg = EndpointConfig { max_live_sessions: n as usize, ..EndpointConfig::default() };
    let mut st = Star::new(cfg, configs, 7);
    for sid in 1..=n {
        let bytes = vec![1u8; 1024].into();
        st.remote_input(
            sid,
            Input::Submit(Submission { app_id: 1, priority: Priority::Normal, deadline: None, bytes }),
        );
    }
    let all_up = st
        .run_until(100, |s| s.endpoint.live_sessions() == n as usize && s.hub_events.len() >= 2 * n as usize);
    assert!(all_up, "every peer delivered");
    if release {
        for sid in 1..=n {
            st.remote_input(sid, Input::Release);
        }
        assert!(st.run_until(1000, |s| s.endpoint.live_sessions() == 0), "every session evicted");
    }
    let endpoint = st.into_endpoint();
    let bytes = held() - before;
    assert_eq!(endpoint.peers(), n as usize);
    drop(endpoint);
    bytes
}

fn main() {
    const PEERS: u32 = 100_000;
    const IDLE: u32 = 1_000;
    let peers = configured(PEERS);
    let idle_total = endpoint_after_transfers(IDLE, true);
    let live_total = endpoint_after_transfers(IDLE, false);
    let mib = |b: i64| b as f64 / (1024.0 * 1024.0);
    println!("endpoint memory (heap bytes, counting allocator; targets: idle session <= 4096 B, 100k peers <= 100 MiB)");
    println!(
        "configured_peers\t{PEERS}\t{peers}\tbytes\t{:.1} MiB\t{} B/peer",
        mib(peers),
        peers / i64::from(PEERS)
    );
    println!(
        "idle_evicted_sessions (peer entry included)\t{IDLE}\t{idle_total}\tbytes\t{} B/session",
        idle_total / i64::from(IDLE)
    );
    println!(
        "live_established_sessions (peer entry included)\t{IDLE}\t{live_total}\tbytes\t{} B/session",
        live_total / i64::from(IDLE)
    );
}
