//! Shared helpers for the core's integration tests.
#![allow(dead_code, unreachable_pub)]

use assoc_core::sim::{Impairments, Pair};
use assoc_core::{Config, PeerName, Psk};

/// A canonical peer name from a literal.
pub fn name(s: &str) -> PeerName {
    PeerName::new(s.as_bytes()).expect("valid test name")
}

/// Configs for "alpha" (index 0) and "beta" (index 1) sharing a PSK.
pub fn configs() -> (Config, Config) {
    let psk = Psk::new(b"0123456789abcdef").expect("16 bytes");
    let mut a = Config::new(name("alpha"), name("beta"), psk.clone());
    let mut b = Config::new(name("beta"), name("alpha"), psk);
    for c in [&mut a, &mut b] {
        // Open retries must not run out during long hostile runs.
        c.max_open_retries = 10_000;
        c.open_interval = assoc_core::Duration::from_secs(5);
    }
    (a, b)
}

/// A simulated pair of the two test configs.
pub fn pair(imp: Impairments, seed: u64) -> Pair {
    let (a, b) = configs();
    Pair::new(a, b, imp, seed)
}
