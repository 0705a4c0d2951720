//! libFuzzer entry for `assoc_fuzz::reassembly`, which reaches core internals that exist only
//! under `--cfg fuzzing` (set by `cargo fuzz`). Without it the binary does nothing.
#![no_main]

#[cfg(fuzzing)]
libfuzzer_sys::fuzz_target!(|case: assoc_fuzz::reassembly::Case| assoc_fuzz::reassembly::run(case));

#[cfg(not(fuzzing))]
libfuzzer_sys::fuzz_target!(|_data: &[u8]| {});
