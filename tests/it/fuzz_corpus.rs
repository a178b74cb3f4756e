//! Replays the checked-in fuzz corpus (`tests/fuzz/corpus/TARGET/*`) through the fuzz targets'
//! oracles on stable, so every input that once crashed or leaked stays a regression test. To fuzz
//! longer, see README "Fuzzing".

#[path = "../fuzz/oracles.rs"]
mod oracles;

use std::path::{Path, PathBuf};

fn corpus(target: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz/corpus")
        .join(target);
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("corpus entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    assert!(!files.is_empty(), "{} holds no corpus", dir.display());
    files
}

/// Runs every input of the corpus, then fails naming each one whose oracle failed.
fn replay(target: &str, oracle: fn(&[u8])) {
    let mut failures = Vec::new();
    for path in corpus(target) {
        let data = std::fs::read(&path).expect("corpus file");
        let outcome = std::panic::catch_unwind(|| oracle(&data));
        if let Err(panic) = outcome {
            let reason = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            failures.push(format!("{}: {reason}", path.display()));
        }
    }
    assert!(failures.is_empty(), "{target}:\n{}", failures.join("\n"));
}

#[test]
fn copy_codec_corpus() {
    replay("copy_codec", oracles::copy_codec);
}

#[test]
fn dump_reader_corpus() {
    replay("dump_reader", oracles::dump_reader);
}

#[test]
fn archive_reader_corpus() {
    replay("archive_reader", oracles::archive_reader);
}

#[test]
fn rule_file_corpus() {
    replay("rule_file", oracles::rule_file);
}
