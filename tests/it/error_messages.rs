//! Error messages read once: each cause appears a single time in the one-line reason, however many
//! layers (sink, engine, command) carried it up. No database is needed.

use std::path::PathBuf;
use std::process::{Command, Stdio};

fn pgveil() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgveil"));
    cmd.env("PGVEIL_KEY", "pgveil-test-key-0123456789abcdef")
        .stdin(Stdio::null());
    cmd
}

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/example.dump.sql")
}

/// Runs `cmd`, expects exit 1, and returns its stderr.
fn failure(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run pgveil");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line expected: {stderr}");
    stderr
}

fn assert_once(stderr: &str, cause: &str) {
    assert_eq!(
        stderr.matches(cause).count(),
        1,
        "{cause:?} should appear exactly once in: {stderr}"
    );
}

#[test]
fn a_full_disk_is_reported_once() {
    // /dev/full is written in place (a device is never replaced by a rename) and fails with ENOSPC.
    let stderr = failure(
        pgveil()
            .arg("anonymize")
            .arg(example())
            .args(["-o", "/dev/full"]),
    );
    assert_once(&stderr, "No space left on device");
    assert_once(&stderr, "/dev/full");
}

#[test]
fn a_full_stdout_is_reported_once() {
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("/dev/full");
    let stderr = failure(pgveil().arg("anonymize").arg(example()).stdout(full));
    assert_once(&stderr, "No space left on device");
}

#[test]
fn a_missing_input_is_reported_once() {
    let missing = std::env::temp_dir().join("pgveil-no-such-input.sql");
    let out_dir = tempfile::tempdir().expect("tempdir");
    let stderr = failure(
        pgveil()
            .args(["dump", "--input"])
            .arg(&missing)
            .arg("--out-dir")
            .arg(out_dir.path()),
    );
    assert_once(&stderr, "No such file or directory");
    assert_once(&stderr, &missing.display().to_string());
}

#[test]
fn a_missing_artifact_to_scan_is_reported_once() {
    let missing = std::env::temp_dir().join("pgveil-no-such-artifact.gz");
    let stderr = failure(pgveil().arg("scan").arg(&missing));
    assert_once(&stderr, "No such file or directory");
}
