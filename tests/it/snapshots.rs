//! Snapshot tests (insta) of the text people read: `rules check`, `inspect`, the per-table summary of
//! `dump -v`, and the error lines of bad inputs. No database is needed: every input is a fixture.
//!
//! The snapshots live in tests/snapshots/. A mismatch fails the test (under `CI=true` insta never
//! writes a new snapshot). After an intended change of the text, review with `cargo insta review`
//! (cargo-insta) or rewrite them all with `INSTA_UPDATE=always cargo test --test snapshots`, and
//! check the diff of tests/snapshots/ in.
//!
//! What varies from run to run is redacted before the comparison: temp paths, times, rates and the
//! server version of the machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn pgveil() -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pgveil"));
    cmd.env("PGVEIL_KEY", "pgveil-test-key-0123456789abcdef")
        .env_remove("PGVEIL_SPOOL_DIR")
        .stdin(Stdio::null());
    cmd
}

fn example() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/example.dump.sql")
}

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("run pgveil")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `text` with `dir` (a temp folder) written as `[DIR]`.
fn without_dir(text: &str, dir: &Path) -> String {
    text.replace(&dir.display().to_string(), "[DIR]")
}

/// Runs `cmd`, expects exit 1; its stderr with `dir` redacted. (Not asserted to be one line: the
/// snapshot shows it as it is. A TOML syntax error of a rule file spans two lines today.)
fn error_line(cmd: &mut Command, dir: &Path) -> String {
    let out = run(cmd);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    without_dir(stderr.trim_end(), dir)
}

#[test]
fn rules_check_of_the_example() {
    let out = run(pgveil().args(["rules", "check", "--input"]).arg(example()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    insta::assert_snapshot!(
        "rules_check_example",
        format!(
            "--- stdout\n{}--- stderr\n{}",
            text(&out.stdout),
            text(&out.stderr)
        )
    );
}

#[test]
fn inspect_and_summary_of_a_dump_of_the_example() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(pgveil()
        .args(["dump", "-v", "--input"])
        .arg(example())
        .arg("--out-dir")
        .arg(dir.path()));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));

    // The per-table summary: seconds and MB/s vary; tables finish in any order.
    let number = regex::Regex::new(r"\d+\.\d+").unwrap();
    let mut table = Vec::new();
    let mut rest = Vec::new();
    for line in text(&out.stderr).lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols.len() >= 5 && (cols[0].starts_with("public.") || cols[0] == "total") {
            // table rows MB seconds MB/s [masked]: keep the name, rows, MB and masked.
            let masked = cols.get(5).copied().unwrap_or("");
            table.push(format!(
                "{} {} {} [s] [MB/s] {}",
                cols[0], cols[1], cols[2], masked
            ));
        } else {
            rest.push(
                number
                    .replace_all(&without_dir(line, dir.path()), "[N]")
                    .into_owned(),
            );
        }
    }
    let (mut rows, total): (Vec<String>, Vec<String>) =
        table.into_iter().partition(|l| !l.starts_with("total"));
    rows.sort();
    rows.extend(total);
    let table = rows;
    insta::assert_snapshot!(
        "dump_verbose_summary",
        format!("{}\n--- other lines\n{}", table.join("\n"), rest.join("\n"))
    );

    let out = run(pgveil()
        .arg("inspect")
        .arg(dir.path().join("example.dump.dump")));
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let created = regex::Regex::new(r"(?m)^; Archive created at .*$").unwrap();
    let version =
        regex::Regex::new(r"(?m)^(;\s+Dumped (from database|by pg_dump) version:).*$").unwrap();
    let shown = text(&out.stdout);
    let shown = created.replace_all(&shown, "; Archive created at [TIME]");
    let shown = version.replace_all(&shown, "$1 [VERSION]");
    insta::assert_snapshot!("inspect_example_archive", shown);
}

#[test]
fn error_lines_of_bad_inputs() {
    let dir = tempfile::tempdir().unwrap();
    let example_text = std::fs::read_to_string(example()).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let anonymize = |input: &Path| {
        let mut c = pgveil();
        c.arg("anonymize").arg(input).args(["-o", "/dev/null"]);
        c
    };
    let mut lines = Vec::new();

    // Truncated: the input ends inside the data of a table.
    let cut = example_text.find("COPY public.orders").unwrap() + 400;
    let truncated = write("truncated.sql", &example_text.as_bytes()[..cut]);
    lines.push((
        "truncated dump",
        error_line(&mut anonymize(&truncated), dir.path()),
    ));

    // A row with one field too many.
    let at = example_text.find("COPY public.products").unwrap();
    let row = at + example_text[at..].find('\n').unwrap() + 1;
    let row_end = row + example_text[row..].find('\n').unwrap();
    let wide = format!(
        "{}\textra{}",
        &example_text[..row_end],
        &example_text[row_end..]
    );
    let wide = write("wide.sql", wide.as_bytes());
    lines.push((
        "wrong column count",
        error_line(&mut anonymize(&wide), dir.path()),
    ));

    // A gzip stream cut short.
    let gz = {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(example_text.as_bytes()).unwrap();
        enc.finish().unwrap()
    };
    let broken_gz = write("broken.sql.gz", &gz[..gz.len() / 2]);
    lines.push((
        "broken gzip",
        error_line(&mut anonymize(&broken_gz), dir.path()),
    ));

    // A rule file that does not parse, and one naming a masker that does not exist.
    let bad_toml = write("bad.toml", b"[[rule]\ncolumn = \"*\"\n");
    lines.push((
        "rules that do not parse",
        error_line(
            anonymize(&example()).arg("--rules").arg(&bad_toml),
            dir.path(),
        ),
    ));
    let bad_masker = write(
        "bad_masker.toml",
        b"[[rule]]\ncolumn = \"email\"\nmasker = \"no_such_masker\"\n",
    );
    lines.push((
        "rules with an unknown masker",
        error_line(
            anonymize(&example()).arg("--rules").arg(&bad_masker),
            dir.path(),
        ),
    ));

    let shown: Vec<String> = lines
        .into_iter()
        .map(|(what, line)| format!("{what}:\n  {line}"))
        .collect();
    insta::assert_snapshot!("error_lines_of_bad_inputs", shown.join("\n"));
}
