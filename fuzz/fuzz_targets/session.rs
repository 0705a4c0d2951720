//! libFuzzer entry for `assoc_fuzz::session`.
#![no_main]

libfuzzer_sys::fuzz_target!(|case: assoc_fuzz::session::Case| assoc_fuzz::session::run(case));
