//! Fuzz target `archive_reader`: see `oracles::archive_reader` for what it checks beyond "no panic".
#![no_main]

#[path = "../oracles.rs"]
mod oracles;

libfuzzer_sys::fuzz_target!(|data: &[u8]| oracles::archive_reader(data));
