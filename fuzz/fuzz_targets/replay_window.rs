//! libFuzzer entry for `assoc_fuzz::replay_window`, which reaches core internals that exist only
//! under `--cfg fuzzing` (set by `cargo fuzz`). Without it the binary does nothing.
#![no_main]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|case: assoc_fuzz::replay_window::Case| assoc_fuzz::replay_window::run(case));

#[cfg(not(fuzzing))]
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
