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

/// The example dump with the rows of `order_items` repeated `times` times (a few MB of output).
fn large_dump(times: usize) -> tempfile::NamedTempFile {
    let text = std::fs::read_to_string(example()).expect("fixture");
    let start = text
        .find("COPY public.order_items")
        .expect("COPY of order_items");
    let rows_start = start + text[start..].find('\n').expect("header line") + 1;
    let rows_end = rows_start + text[rows_start..].find("\\.\n").expect("end of data");
    let rows = &text[rows_start..rows_end];
    let mut big = String::with_capacity(text.len() + rows.len() * times);
    big.push_str(&text[..rows_start]);
    for _ in 0..times {
        big.push_str(rows);
    }
    big.push_str(&text[rows_end..]);
    let file = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(file.path(), big).expect("write the large dump");
    file
}

/// A reader of stdout that goes away (`| head -c1`) ends pgveil quietly with status 0: the broken
/// pipe reaches the command layer as a typed io::Error (no text matching).
#[test]
fn a_reader_that_goes_away_ends_the_run_quietly() {
    use std::io::Read;
    let dump = large_dump(200);
    let mut child = pgveil()
        .arg("anonymize")
        .arg(dump.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run pgveil");
    let mut stdout = child.stdout.take().expect("piped");
    let mut first = [0u8; 1];
    stdout.read_exact(&mut first).expect("a first byte");
    drop(stdout);
    let out = child.wait_with_output().expect("wait");
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "nothing on stderr"
    );
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn a_missing_archive_to_inspect_is_reported_once() {
    let missing = std::env::temp_dir().join("pgveil-no-such-archive.dump");
    let stderr = failure(pgveil().arg("inspect").arg(&missing));
    assert_once(&stderr, "No such file or directory");
    assert_once(&stderr, &missing.display().to_string());
}

#[test]
fn scan_names_the_artifact_once() {
    let missing = std::env::temp_dir().join("pgveil-no-such-artifact.gz");
    let stderr = failure(pgveil().arg("scan").arg(&missing));
    assert_once(&stderr, "No such file or directory");
    assert_once(&stderr, &missing.display().to_string());
    // A dump error names the line; the artifact is named once beside it.
    let dir = tempfile::tempdir().unwrap();
    let truncated = dir.path().join("truncated.sql");
    let text = std::fs::read(example()).unwrap();
    let cut = text
        .windows(4)
        .position(|w| w == b"\\.\n\n")
        .expect("a COPY end");
    std::fs::write(&truncated, &text[..cut]).unwrap();
    let stderr = failure(pgveil().arg("scan").arg(&truncated));
    assert_once(&stderr, &truncated.display().to_string());
    assert!(stderr.contains("is not terminated by"), "{stderr}");
}

#[test]
fn a_missing_rule_file_is_reported_once() {
    let missing = std::env::temp_dir().join("pgveil-no-such-rules.toml");
    let stderr = failure(
        pgveil()
            .arg("anonymize")
            .arg(example())
            .arg("--rules")
            .arg(&missing),
    );
    assert_once(&stderr, "No such file or directory");
    assert_once(&stderr, &missing.display().to_string());
}

#[test]
fn a_row_with_too_few_fields_is_reported_once() {
    let text = std::fs::read_to_string(example()).expect("fixture");
    let row = text.find("COPY public.products").expect("products");
    let row = row + text[row..].find('\n').unwrap() + 1;
    let end = row + text[row..].find('\t').unwrap();
    // The first row loses every field after its first.
    let line_end = row + text[row..].find('\n').unwrap();
    let broken = format!("{}{}", &text[..end], &text[line_end..]);
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), broken).unwrap();
    let stderr = failure(
        pgveil()
            .arg("anonymize")
            .arg(file.path())
            .args(["-o", "/dev/null"]),
    );
    assert_once(&stderr, "public.products");
    assert_once(&stderr, "fields but the COPY statement lists");
}

/// pg_dump arguments pgveil refuses are refused before anything runs, each named once, spelled as
/// given and as pg_dump reads it.
#[test]
fn refused_pg_dump_arguments_are_reported_once() {
    let out_dir = tempfile::tempdir().expect("tempdir");
    for (args, shown) in [
        (&["-aFc"][..], "-F (--format)"),
        (&["--inser"], "--inser (--inserts)"),
        (&["-fout.sql"], "-f (--file)"),
        (&["--dbn=postgresql://u:s3cr3t@h/db"], "--dbn among"),
    ] {
        let stderr = failure(
            pgveil()
                .args([
                    "dump",
                    "--dbname",
                    "pgveil_no_such_db",
                    "--name",
                    "x",
                    "--out-dir",
                ])
                .arg(out_dir.path())
                .arg("--")
                .args(args),
        );
        assert_once(&stderr, shown);
        assert_once(&stderr, "among the pg_dump arguments");
        assert!(!stderr.contains("s3cr3t"), "{stderr}");
    }
    assert_eq!(
        std::fs::read_dir(out_dir.path()).unwrap().count(),
        0,
        "nothing written"
    );
}

/// `restore --to-stdout | head -c 10` ends quietly with status 0 for every artifact kind: the plain
/// ones stream through pgveil (a typed broken pipe), the custom archive through pg_restore (killed
/// by SIGPIPE, reported as the broken pipe it is). pg_restore writes SQL here: no database needed.
#[test]
fn restore_to_a_reader_that_goes_away_ends_quietly() {
    use std::io::Read;
    let dump = large_dump(200);
    let dir = tempfile::tempdir().expect("tempdir");
    let out = pgveil()
        .args(["dump", "--name", "big", "--set", "--input"])
        .arg(dump.path())
        .arg("--out-dir")
        .arg(dir.path())
        .output()
        .expect("run pgveil dump");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for kind in ["--plain", "--anon", "--custom"] {
        let mut child = pgveil()
            .arg("restore")
            .arg(dir.path())
            .args([kind, "--to-stdout"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run pgveil restore");
        let mut stdout = child.stdout.take().expect("piped");
        let mut first = [0u8; 10];
        stdout.read_exact(&mut first).expect("the first bytes");
        drop(stdout);
        let out = child.wait_with_output().expect("wait");
        assert_eq!(
            String::from_utf8_lossy(&out.stderr),
            "",
            "{kind}: nothing on stderr"
        );
        assert_eq!(out.status.code(), Some(0), "{kind}");
    }
}
