//! libFuzzer entry for `assoc_fuzz::recording` (raw bytes).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| assoc_fuzz::recording::run(data));
