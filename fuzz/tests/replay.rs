//! Corpus replay on stable: every checked-in corpus file (`corpus/<target>/`), every
//! regression input (`regressions/<target>/`) and every local libFuzzer artifact
//! (`artifacts/<target>/`, not checked in) runs through the same target functions the
//! fuzzers call, decoded the same way; then a fixed number of seeded random inputs per
//! target. A panic in any of them fails the test that names the file.
//!
//! `replay_window` and `reassembly` reach core internals that exist only under
//! `--cfg fuzzing`; without it they are reported as skipped. To replay them too:
//! `RUSTFLAGS="--cfg fuzzing" CARGO_TARGET_DIR=target/cfg-fuzzing cargo test -p assoc-fuzz --test replay`.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use assoc_fuzz::{Target, INTERNAL_TARGETS, TARGETS};

/// Seeded random inputs per target.
const RANDOM_INPUTS: u64 = 48;
/// Largest random input in bytes.
const RANDOM_MAX_LEN: u64 = 4096;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut v: Vec<PathBuf> =
        entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
    v.sort();
    v
}

/// SplitMix64: a fixed, dependency-free generator for the random inputs.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

fn target(name: &str) -> Option<Target> {
    TARGETS.iter().copied().find(|t| t.name == name)
}

fn run_one(t: Target, what: &str, data: &[u8], failures: &mut Vec<String>) {
    if let Err(e) = catch_unwind(AssertUnwindSafe(|| (t.run)(data))) {
        let msg = e
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        failures.push(format!("{what}: {msg}"));
    }
}

fn replay(name: &str) {
    let Some(t) = target(name) else {
        assert!(INTERNAL_TARGETS.contains(&name), "unknown target {name}");
        eprintln!("{name}: skipped (needs --cfg fuzzing; see this file's docs)");
        return;
    };
    let mut failures = Vec::new();
    let mut count = 0;
    for dir in ["corpus", "regressions", "artifacts"] {
        for file in files(&fuzz_dir().join(dir).join(name)) {
            let data = std::fs::read(&file).expect("readable corpus file");
            run_one(t, &file.display().to_string(), &data, &mut failures);
            count += 1;
        }
    }
    let mut rng = SplitMix(0xA55C_F022 ^ name.len() as u64);
    for i in 0..RANDOM_INPUTS {
        let len = rng.next() % RANDOM_MAX_LEN;
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        run_one(t, &format!("{name}: random input {i} ({len} bytes)"), &data, &mut failures);
    }
    eprintln!("{name}: {count} files and {RANDOM_INPUTS} random inputs replayed");
    assert!(failures.is_empty(), "{} of them failed:\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn decode() {
    replay("decode");
}

#[test]
fn session() {
    replay("session");
}

#[test]
fn pair() {
    replay("pair");
}

#[test]
fn endpoint() {
    replay("endpoint");
}

#[test]
fn store() {
    replay("store");
}

#[test]
fn recording() {
    replay("recording");
}

#[test]
fn replay_window() {
    replay("replay_window");
}

#[test]
fn reassembly() {
    replay("reassembly");
}

/// Every corpus directory belongs to a target, and every target has a seed corpus.
#[test]
fn corpora_match_targets() {
    let known: Vec<&str> = TARGETS.iter().map(|t| t.name).chain(INTERNAL_TARGETS.iter().copied()).collect();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(fuzz_dir().join(dir)) else { continue };
        for e in entries.flatten().filter(|e| e.path().is_dir()) {
            let name = e.file_name().to_string_lossy().into_owned();
            assert!(known.contains(&name.as_str()), "{dir}/{name} is not a target");
        }
    }
    for name in known {
        assert!(!files(&fuzz_dir().join("corpus").join(name)).is_empty(), "corpus/{name} is empty");
    }
}
