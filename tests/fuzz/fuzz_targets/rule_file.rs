//! Fuzz target `rule_file`: see `oracles::rule_file` for what it checks beyond "no panic".
#![no_main]

#[path = "../oracles.rs"]
mod oracles;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracles::rule_file(data));
