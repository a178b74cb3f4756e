//! Fuzz target `dump_reader`: see `oracles::dump_reader` for what it checks beyond "no panic".
#![no_main]

#[path = "../oracles.rs"]
mod oracles;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracles::dump_reader(data));
