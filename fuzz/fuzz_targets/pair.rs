//! libFuzzer entry for `assoc_fuzz::pair`.
#![no_main]

libfuzzer_sys::fuzz_target!(|case: assoc_fuzz::pair::Case| assoc_fuzz::pair::run(case));
