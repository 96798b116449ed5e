//! Fuzz target: see `harness::load_yaml`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::load_yaml(data));
