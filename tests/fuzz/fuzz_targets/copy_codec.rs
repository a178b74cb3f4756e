//! Fuzz target `copy_codec`: see `oracles::copy_codec` for what it checks beyond "no panic".
#![no_main]

#[path = "../oracles.rs"]
mod oracles;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracles::copy_codec(data));
