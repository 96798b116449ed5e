//! Fuzz target: see `harness::inspect_ddl`.
#![no_main]

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::inspect_ddl(data));
