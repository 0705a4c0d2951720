//! libFuzzer entry for `assoc_fuzz::store`.
#![no_main]

libfuzzer_sys::fuzz_target!(|case: assoc_fuzz::store::Case| assoc_fuzz::store::run(case));
