//! Fuzz target bodies for assoc (issue 8).
//!
//! Every target is a module with an `arbitrary`-decodable `Case` (or raw bytes) and a
//! `run` function that panics on a violated property. Two callers share them:
//!
//! * the libFuzzer binaries in `fuzz_targets/` (`cargo +nightly fuzz run TARGET`, see
//!   `run.sh`), which decode each input with `Unstructured::arbitrary_take_rest`;
//! * the stable test `tests/replay.rs`, which replays the checked-in corpora, regression
//!   inputs and a fixed number of seeded random inputs through [`run_bytes`] — the same
//!   decoding, byte for byte.
//!
//! | target | what it checks |
//! |---|---|
//! | [`decode`] | any bytes: decode never panics, decode∘encode is the identity, `encoded_len` and `Pdu::check` agree |
//! | [`session`] | one session under any (time, `Input`) sequence: the driver contract and memory bounds |
//! | [`pair`] | two sessions over a fuzzer-driven network with crashes and a misbehaving peer: safety after every step |
//! | [`endpoint`] | one endpoint, up to 8 peers, replayed, re-addressed and corrupted datagrams: memory bound, delivery at most once in order, every peer served |
//! | [`store`] | `SessionStore::apply` over any record sequence: idempotent and monotone |
//! | [`recording`] | flight recordings from any bytes: a typed error or a replay that ends in a typed error, never a panic |
//! | `replay_window` | the replay window against a set-and-floor oracle (`--cfg fuzzing` only) |
//! | `reassembly` | the receiver's reassembly against the message contents (`--cfg fuzzing` only) |
//!
//! The last two reach crate internals that `assoc-core` exposes only under `--cfg fuzzing`
//! (which `cargo fuzz` sets); a plain stable build compiles them out.

pub mod common;
pub mod decode;
pub mod endpoint;
pub mod pair;
#[cfg(fuzzing)]
pub mod reassembly;
pub mod recording;
#[cfg(fuzzing)]
pub mod replay_window;
pub mod session;
pub mod store;

use arbitrary::{Arbitrary, Unstructured};

/// One fuzz target as the replay test sees it: its name (the `fuzz_targets/` binary and
/// the `corpus/` directory) and a function from raw fuzzer input to a run.
#[derive(Clone, Copy, Debug)]
pub struct Target {
    /// The target's name.
    pub name: &'static str,
    /// Runs one raw input (decoded as libFuzzer does); panics on a violated property.
    pub run: fn(&[u8]),
}

/// Every target compiled into this build.
pub const TARGETS: &[Target] = &[
    Target { name: "decode", run: decode::run },
    Target { name: "session", run: |d| run_bytes(d, session::run) },
    Target { name: "pair", run: |d| run_bytes(d, pair::run) },
    Target { name: "store", run: |d| run_bytes(d, store::run) },
    Target { name: "endpoint", run: |d| run_bytes(d, endpoint::run) },
    Target { name: "recording", run: recording::run },
    #[cfg(fuzzing)]
    Target { name: "replay_window", run: |d| run_bytes(d, replay_window::run) },
    #[cfg(fuzzing)]
    Target { name: "reassembly", run: |d| run_bytes(d, reassembly::run) },
];

/// Targets that exist only under `--cfg fuzzing` (they reach crate internals).
pub const INTERNAL_TARGETS: &[&str] = &["replay_window", "reassembly"];

/// Decodes `data` exactly as `libfuzzer_sys::fuzz_target!` does for a typed target — skip
/// inputs shorter than the type's minimum size, then `T::arbitrary_take_rest` — and runs
/// `f` on the result. Inputs that do not decode are skipped, as libFuzzer skips them.
pub fn run_bytes<'a, T: Arbitrary<'a>>(data: &'a [u8], f: fn(T)) {
    if data.len() < T::size_hint(0).0 {
        return;
    }
    if let Ok(case) = T::arbitrary_take_rest(Unstructured::new(data)) {
        f(case);
    }
}
