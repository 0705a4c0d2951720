//! libFuzzer entry for `assoc_fuzz::decode` (raw bytes).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| assoc_fuzz::decode::run(data));
