//! libFuzzer entry for `assoc_fuzz::endpoint`.
#![no_main]

libfuzzer_sys::fuzz_target!(|case: assoc_fuzz::endpoint::Case| assoc_fuzz::endpoint::run(case));
