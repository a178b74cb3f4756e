//! End-to-end tests of the `pgveil` CLI against a real PostgreSQL cluster.
//!
//! Contract under test:
//! - `pgveil dump --dbname DB --out-dir DIR --name NAME [--rules FILE]... [--outputs plain,anon]`
//!   runs pg_dump itself and writes `DIR/NAME.gz`, `DIR/NAME.anon.gz`, `DIR/NAME.manifest.json`;
//! - `pgveil dump --input FILE|- --out-dir DIR --name NAME` does the same from a plain dump (gzip'ed
//!   or not);
//! - `pgveil anonymize [--rules FILE]... [INPUT|-] [-o OUTPUT|-]` masks a plain dump stream;
//! - by default every e-mail address in the data becomes `nobody@example.com` (or
//!   `nobody+<hash>@example.com` in unique / foreign-key columns);
//! - failures are closed: non-zero exit, a useful stderr, no artifact under a final name and no
//!   `*.partial` left behind.

use crate::support;

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::sync::{Arc, Mutex, OnceLock};

use sha2::{Digest, Sha256};
use support::{
    assert_no_original_emails, cluster, emails_in, gunzip, gzip, is_masked_email, pgveil,
    restrict_free, run,
};

const PORTABLE: &[&str] = &["--no-owner", "--no-acl"];

// ------------------------------------------------------------------------------------------------
// Helpers
// ------------------------------------------------------------------------------------------------

fn describe(out: &Output) -> String {
    format!(
        "status: {}\n--- stderr ---\n{}\n--- stdout (first 2000 bytes) ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(2000)])
    )
}

fn assert_success(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed\n{}", describe(out));
}

fn dir_listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| {
        let dir = path.parent().unwrap_or(Path::new("."));
        panic!(
            "reading {}: {e}; the directory holds {:?}",
            path.display(),
            dir_listing(dir)
        )
    })
}

/// Restore a plain SQL dump into a fresh database (psql, ON_ERROR_STOP); returns its name.
fn restore(dump: &[u8], prefix: &str) -> String {
    let c = cluster();
    let db = c.create_db(prefix);
    c.psql_bytes(&db, dump);
    db
}

fn first_difference(a: &[u8], b: &[u8]) -> String {
    let (sa, sb) = (String::from_utf8_lossy(a), String::from_utf8_lossy(b));
    let (la, lb): (Vec<&str>, Vec<&str>) = (sa.lines().collect(), sb.lines().collect());
    for i in 0..la.len().max(lb.len()) {
        let (x, y) = (la.get(i), lb.get(i));
        if x != y {
            let cut = |s: Option<&&str>| s.map(|s| s.chars().take(300).collect::<String>());
            return format!(
                "line {}: expected {:?}\n          got {:?}",
                i + 1,
                cut(x),
                cut(y)
            );
        }
    }
    format!("same lines, lengths {} vs {}", a.len(), b.len())
}

fn assert_same_dump(expected: &[u8], actual: &[u8], what: &str) {
    if expected != actual {
        panic!(
            "{what}: dumps differ: {}",
            first_difference(expected, actual)
        );
    }
}

/// Join counts of every foreign key of the database, by constraint (and table) name.
fn fk_join_counts(db: &str) -> Vec<(String, i64)> {
    let c = cluster();
    let queries = c.psql(
        db,
        r#"
        SELECT format('%s|SELECT count(*) FROM %s AS c JOIN %s AS p ON %s;',
                      k.conrelid::regclass || '.' || k.conname, k.conrelid::regclass, k.confrelid::regclass,
                      string_agg(format('c.%I = p.%I', a.attname, b.attname), ' AND ' ORDER BY u.ord))
        FROM pg_constraint k
        CROSS JOIN LATERAL unnest(k.conkey, k.confkey) WITH ORDINALITY AS u(ck, fk, ord)
        JOIN pg_attribute a ON a.attrelid = k.conrelid AND a.attnum = u.ck
        JOIN pg_attribute b ON b.attrelid = k.confrelid AND b.attnum = u.fk
        WHERE k.contype = 'f'
        GROUP BY k.oid, k.conrelid, k.confrelid, k.conname
        ORDER BY 1;
        "#,
    );
    queries
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let (name, sql) = l.split_once('|').unwrap();
            let n = c.psql(db, sql).trim().parse().expect("count");
            (name.to_string(), n)
        })
        .collect()
}

/// The values of a text column (NULLs skipped).
fn column_values(db: &str, table: &str, column: &str) -> Vec<String> {
    cluster()
        .psql(
            db,
            &format!("SELECT {column}::text FROM {table} WHERE {column} IS NOT NULL ORDER BY 1;"),
        )
        .lines()
        .map(str::to_string)
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// A database under test: how to load it and which columns hold e-mail addresses.
struct Subject {
    key: &'static str,
    load: fn() -> String,
    /// (table as SQL, column as SQL) whose every non-NULL value must come out masked.
    email_columns: &'static [(&'static str, &'static str)],
    /// SQL counting `users ⋈ orders` on e-mail, where the database has such a pair.
    email_join: Option<&'static str>,
}

const EDGE: Subject = Subject {
    key: "edge",
    load: || cluster().load_fixture("edge_cases"),
    email_columns: &[
        ("public.users", "email"),
        ("public.orders", "user_email"),
        (r#""CRM"."Customer Contacts""#, r#""E-Mail Address""#),
        (r#""CRM"."Customer Contacts""#, r#""eMail""#),
        ("public.events", "actor_email"),
    ],
    email_join: Some(
        "SELECT count(*) FROM public.users u JOIN public.orders o ON o.user_email = u.email;",
    ),
};

const EXAMPLE: Subject = Subject {
    key: "example",
    load: || cluster().load_fixture("example"),
    email_columns: &[("public.users", "email"), ("public.orders", "user_email")],
    email_join: Some(
        "SELECT count(*) FROM public.users u JOIN public.orders o ON o.user_email = u.email;",
    ),
};

const PAGILA: Subject = Subject {
    key: "pagila",
    load: || cluster().load_pagila(),
    email_columns: &[("public.customer", "email"), ("public.staff", "email")],
    email_join: None,
};

const CHINOOK: Subject = Subject {
    key: "chinook",
    load: || cluster().load_chinook(),
    email_columns: &[("public.customer", "email"), ("public.employee", "email")],
    email_join: None,
};

const KITCHEN_SINK: Subject = Subject {
    key: "kitchen_sink",
    load: || cluster().load_fixture("kitchen_sink"),
    email_columns: &[("app.accounts", "email"), ("app.vehicles", "owner_email")],
    email_join: None,
};

/// One `pgveil dump --dbname` run over a subject, shared by the tests of that subject.
struct DumpRun {
    db: String,
    dir: tempfile::TempDir,
    name: String,
    output: Output,
}

impl DumpRun {
    fn path(&self, suffix: &str) -> PathBuf {
        self.dir.path().join(format!("{}{suffix}", self.name))
    }
    fn ok(&self) -> &Self {
        assert_success(&self.output, &format!("pgveil dump --dbname {}", self.db));
        self
    }
}

/// One lazily made run per subject key.
type Runs = Mutex<HashMap<&'static str, Arc<OnceLock<Arc<DumpRun>>>>>;

fn dumped(subject: &Subject) -> Arc<DumpRun> {
    static RUNS: OnceLock<Runs> = OnceLock::new();
    let cell = RUNS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .entry(subject.key)
        .or_default()
        .clone();
    cell.get_or_init(|| {
        let db = (subject.load)();
        let dir = tempfile::tempdir().unwrap();
        let name = format!("{}-backup", subject.key);
        let output = run(
            pgveil()
                .arg("dump")
                .arg("--dbname")
                .arg(&db)
                .arg("--out-dir")
                .arg(dir.path())
                .arg("--name")
                .arg(&name),
            None,
        );
        Arc::new(DumpRun {
            db,
            dir,
            name,
            output,
        })
    })
    .clone()
}

/// NAME.gz is pg_dump's portable output byte for byte and restores to an identical database.
fn check_plain(subject: &Subject) {
    let c = cluster();
    let r = dumped(subject);
    r.ok();
    let plain = gunzip(&read(&r.path(".gz")));
    let reference = c.pg_dump(&r.db, PORTABLE);
    assert_same_dump(
        &restrict_free(&reference),
        &restrict_free(&plain),
        "gunzip(NAME.gz) vs pg_dump --no-owner --no-acl",
    );
    let restored = restore(&plain, &format!("{}_plain", subject.key));
    assert_same_dump(
        &restrict_free(&reference),
        &restrict_free(&c.pg_dump(&restored, PORTABLE)),
        "pg_dump of the restored NAME.gz vs pg_dump of the source",
    );
}

/// NAME.anon.gz restores, keeps row counts and joins, and holds no original e-mail address.
fn check_anon(subject: &Subject) {
    let c = cluster();
    let r = dumped(subject);
    r.ok();
    let anon = gunzip(&read(&r.path(".anon.gz")));
    let source_dump = c.pg_dump(&r.db, PORTABLE);
    let originals = emails_in(&source_dump);
    assert!(
        !originals.is_empty(),
        "the source of {} has no e-mail addresses?",
        subject.key
    );
    assert_no_original_emails(&anon, &originals, "NAME.anon.gz");

    let restored = restore(&anon, &format!("{}_anon", subject.key));
    assert_eq!(
        c.table_counts(&r.db),
        c.table_counts(&restored),
        "row counts per table"
    );
    assert_eq!(
        fk_join_counts(&r.db),
        fk_join_counts(&restored),
        "foreign-key join counts"
    );
    if let Some(sql) = subject.email_join {
        let (a, b) = (c.psql(&r.db, sql), c.psql(&restored, sql));
        assert_eq!(a, b, "users ⋈ orders on e-mail");
        assert_ne!(a.trim(), "0");
    }
    // The schema is untouched.
    assert_same_dump(
        &restrict_free(&c.pg_dump(&r.db, &["--schema-only", "--no-owner", "--no-acl"])),
        &restrict_free(&c.pg_dump(&restored, &["--schema-only", "--no-owner", "--no-acl"])),
        "schema of the restored NAME.anon.gz vs the source",
    );
    for (table, column) in subject.email_columns {
        let before = column_values(&r.db, table, column);
        let after = column_values(&restored, table, column);
        assert_eq!(
            before.len(),
            after.len(),
            "{table}.{column}: non-NULL count"
        );
        let bad: Vec<&String> = after
            .iter()
            .filter(|v| !is_masked_email(v))
            .take(10)
            .collect();
        assert!(bad.is_empty(), "{table}.{column}: unmasked values {bad:?}");
    }
    // And nothing in the restored database either (e.g. generated columns, views).
    let restored_dump = c.pg_dump(&restored, PORTABLE);
    assert_no_original_emails(&restored_dump, &originals, "restored NAME.anon.gz");
}

/// The manifest lists both artifacts with correct sizes and SHA-256, and every table's row count.
fn check_manifest(subject: &Subject) {
    let c = cluster();
    let r = dumped(subject);
    r.ok();
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&r.path(".manifest.json"))).expect("manifest is JSON");
    let artifacts = manifest["artifacts"]
        .as_array()
        .unwrap_or_else(|| panic!("no `artifacts` list in {manifest:#}"));
    let mut files = BTreeSet::new();
    for a in artifacts {
        let file = a["file"].as_str().expect("artifact file");
        let bytes = read(&r.dir.path().join(file));
        assert_eq!(
            a["bytes"].as_u64(),
            Some(bytes.len() as u64),
            "{file}: bytes"
        );
        assert_eq!(
            a["sha256"].as_str(),
            Some(sha256_hex(&bytes).as_str()),
            "{file}: sha256"
        );
        files.insert(file.to_string());
    }
    for expected in [format!("{}.gz", r.name), format!("{}.anon.gz", r.name)] {
        assert!(files.contains(&expected), "{expected} not in {files:?}");
    }
    let tables = manifest["tables"]
        .as_array()
        .unwrap_or_else(|| panic!("no `tables` list in {manifest:#}"));
    assert!(!tables.is_empty());
    for t in tables {
        let schema = t["schema"].as_str().expect("schema");
        let table = t["table"].as_str().expect("table");
        assert!(t["bytes"].as_u64().is_some(), "{schema}.{table}: bytes");
        let rows = t["rows"].as_u64().expect("rows");
        let sql = format!(
            "SELECT count(*) FROM ONLY {}.{};",
            quote_ident(schema),
            quote_ident(table)
        );
        let n: u64 = c.psql(&r.db, &sql).trim().parse().unwrap();
        assert_eq!(rows, n, "{schema}.{table}: rows in the manifest");
        // Throughput is reported per table, consistent with its bytes and time.
        let seconds = t["seconds"].as_f64().expect("seconds");
        let rate = t["mb_per_s"].as_f64().expect("mb_per_s");
        assert!(seconds >= 0.0 && rate >= 0.0, "{schema}.{table}: {t}");
        if seconds >= 0.01 {
            let bytes = t["bytes"].as_u64().unwrap() as f64;
            let expected = bytes / 1e6 / seconds;
            assert!(
                (rate - expected).abs() <= 0.1 + expected * 0.01,
                "{schema}.{table}: {rate} MB/s for {bytes} bytes in {seconds} s"
            );
        }
    }
    // Every table with rows is listed.
    let listed: BTreeSet<(String, String)> = tables
        .iter()
        .map(|t| {
            (
                t["schema"].as_str().unwrap().to_string(),
                t["table"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let nonempty = c.psql(
        &r.db,
        // Names with newlines come back with `\n`, one table a line.
        "SELECT replace(n.nspname || '|' || c.relname, E'\\n', '\\n') FROM pg_class c \
         JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE c.relkind = 'r' AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
         AND n.nspname NOT LIKE 'pg_toast%' AND c.reltuples <> 0 ORDER BY 1;",
    );
    for l in nonempty.lines().filter(|l| !l.is_empty()) {
        let l = l.replace("\\n", "\n");
        let (s, t) = l.split_once('|').unwrap();
        let n: u64 = c
            .psql(
                &r.db,
                &format!(
                    "SELECT count(*) FROM ONLY {}.{};",
                    quote_ident(s),
                    quote_ident(t)
                ),
            )
            .trim()
            .parse()
            .unwrap();
        if n > 0 {
            assert!(
                listed.contains(&(s.to_string(), t.to_string())),
                "{s}.{t} ({n} rows) not in the manifest's tables"
            );
        }
    }
    // Nothing else in the directory.
    let mut expected: Vec<String> = files.into_iter().collect();
    expected.push(format!("{}.manifest.json", r.name));
    expected.sort();
    assert_eq!(dir_listing(r.dir.path()), expected, "files in the out dir");
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

macro_rules! subject_tests {
    ($subject:ident, $plain:ident, $anon:ident, $manifest:ident) => {
        #[test]
        fn $plain() {
            check_plain(&$subject);
        }
        #[test]
        fn $anon() {
            check_anon(&$subject);
        }
        #[test]
        fn $manifest() {
            check_manifest(&$subject);
        }
    };
}

subject_tests!(EDGE, edge_cases_plain, edge_cases_anon, edge_cases_manifest);
subject_tests!(EXAMPLE, example_plain, example_anon, example_manifest);
subject_tests!(PAGILA, pagila_plain, pagila_anon, pagila_manifest);
subject_tests!(CHINOOK, chinook_plain, chinook_anon, chinook_manifest);
subject_tests!(
    KITCHEN_SINK,
    kitchen_sink_plain,
    kitchen_sink_anon,
    kitchen_sink_manifest
);

// ------------------------------------------------------------------------------------------------
// --input and --outputs
// ------------------------------------------------------------------------------------------------

fn portable_dump(subject: &Subject) -> Vec<u8> {
    let db = (subject.load)();
    cluster().pg_dump(&db, PORTABLE)
}

fn dump_input(input: &Path, stdin: Option<&[u8]>, dir: &Path, name: &str) -> Output {
    run(
        pgveil()
            .arg("dump")
            .arg("--input")
            .arg(input)
            .arg("--out-dir")
            .arg(dir)
            .arg("--name")
            .arg(name),
        stdin,
    )
}

#[test]
fn input_file_plain_artifact_equals_input_exactly() {
    let dump = portable_dump(&EDGE);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.sql");
    std::fs::write(&input, &dump).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = dump_input(&input, None, out_dir.path(), "edge");
    assert_success(&out, "pgveil dump --input FILE");
    let plain = gunzip(&read(&out_dir.path().join("edge.gz")));
    assert_same_dump(&dump, &plain, "gunzip(NAME.gz) vs the --input file");
    let anon = gunzip(&read(&out_dir.path().join("edge.anon.gz")));
    assert_no_original_emails(&anon, &emails_in(&dump), "NAME.anon.gz");
    restore(&anon, "edge_input_anon");
}

#[test]
fn input_gzip_file_is_accepted() {
    let dump = portable_dump(&EXAMPLE);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.sql.gz");
    std::fs::write(&input, gzip(&dump)).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = dump_input(&input, None, out_dir.path(), "ex");
    assert_success(&out, "pgveil dump --input FILE.gz");
    let plain = gunzip(&read(&out_dir.path().join("ex.gz")));
    assert_same_dump(
        &dump,
        &plain,
        "gunzip(NAME.gz) vs the gunzipped --input file",
    );
    let anon = gunzip(&read(&out_dir.path().join("ex.anon.gz")));
    assert_no_original_emails(&anon, &emails_in(&dump), "NAME.anon.gz");
}

#[test]
fn input_from_stdin() {
    let dump = portable_dump(&EXAMPLE);
    let out_dir = tempfile::tempdir().unwrap();
    let out = dump_input(Path::new("-"), Some(&dump), out_dir.path(), "piped");
    assert_success(&out, "pgveil dump --input -");
    let plain = gunzip(&read(&out_dir.path().join("piped.gz")));
    assert_same_dump(&dump, &plain, "gunzip(NAME.gz) vs stdin");
    assert!(out_dir.path().join("piped.anon.gz").is_file());
    assert!(out_dir.path().join("piped.manifest.json").is_file());
}

#[test]
fn outputs_anon_only() {
    let db = (EXAMPLE.load)();
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(
        pgveil()
            .args(["dump", "--outputs", "anon", "--dbname", &db, "--out-dir"])
            .arg(out_dir.path())
            .args(["--name", "only-anon"]),
        None,
    );
    assert_success(&out, "pgveil dump --outputs anon");
    let files = dir_listing(out_dir.path());
    assert!(
        files.contains(&"only-anon.anon.gz".to_string()),
        "{files:?}"
    );
    assert!(!files.contains(&"only-anon.gz".to_string()), "{files:?}");
    assert!(!files.iter().any(|f| f.ends_with(".partial")), "{files:?}");
}

// ------------------------------------------------------------------------------------------------
// anonymize
// ------------------------------------------------------------------------------------------------

#[test]
fn pg_dump_pipe_anonymize_pipe_psql() {
    let c = cluster();
    let src = (EXAMPLE.load)();
    let dst = c.create_db("example_piped");
    let mut pg_dump = c
        .command("pg_dump")
        .args(PORTABLE)
        .arg("-d")
        .arg(&src)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut anonymize = pgveil()
        .arg("anonymize")
        .stdin(Stdio::from(pg_dump.stdout.take().unwrap()))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let psql = c
        .command("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &dst])
        .stdin(Stdio::from(anonymize.stdout.take().unwrap()))
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let anon_out = anonymize.wait_with_output().unwrap();
    let dump_out = pg_dump.wait_with_output().unwrap();
    assert_success(&dump_out, "pg_dump");
    assert_success(&anon_out, "pgveil anonymize (in a pipe)");
    assert_success(&psql, "psql < pgveil anonymize");
    assert_eq!(c.table_counts(&src), c.table_counts(&dst));
    for (table, column) in EXAMPLE.email_columns {
        let vals = column_values(&dst, table, column);
        assert!(!vals.is_empty());
        assert!(
            vals.iter().all(|v| is_masked_email(v)),
            "{table}.{column}: {:?}",
            &vals[..vals.len().min(5)]
        );
    }
    let sql = EXAMPLE.email_join.unwrap();
    assert_eq!(c.psql(&src, sql), c.psql(&dst, sql));
}

#[test]
fn anonymize_file_to_file_is_deterministic() {
    let dump = portable_dump(&EDGE);
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("in.sql");
    std::fs::write(&input, &dump).unwrap();
    let mut outputs = Vec::new();
    for i in 0..2 {
        let output = dir.path().join(format!("out{i}.sql"));
        let out = run(
            pgveil().arg("anonymize").arg(&input).arg("-o").arg(&output),
            None,
        );
        assert_success(&out, "pgveil anonymize INPUT -o OUTPUT");
        outputs.push(read(&output));
    }
    assert_same_dump(
        &outputs[0],
        &outputs[1],
        "two runs with the same PGVEIL_KEY",
    );
    assert_no_original_emails(&outputs[0], &emails_in(&dump), "anonymize output");
    // Same as the anonymized artifact of `dump --input`.
    let out_dir = tempfile::tempdir().unwrap();
    assert_success(
        &dump_input(&input, None, out_dir.path(), "edge"),
        "pgveil dump --input",
    );
    let anon = gunzip(&read(&out_dir.path().join("edge.anon.gz")));
    assert_same_dump(&anon, &outputs[0], "NAME.anon.gz vs anonymize output");
    restore(&outputs[0], "edge_anonymized");
}

// ------------------------------------------------------------------------------------------------
// Failing closed
// ------------------------------------------------------------------------------------------------

/// Run `dump --input` on bad input: must fail, leave the out dir empty; returns stderr.
fn dump_input_must_fail(input: &[u8], file_name: &str, what: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(file_name);
    std::fs::write(&path, input).unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = dump_input(&path, None, out_dir.path(), "bad");
    assert!(
        !out.status.success(),
        "{what}: pgveil dump --input succeeded\n{}",
        describe(&out)
    );
    assert_eq!(
        dir_listing(out_dir.path()),
        Vec::<String>::new(),
        "{what}: files left in the out dir"
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.trim().is_empty(), "{what}: empty stderr");

    // `anonymize -o FILE` must not leave FILE (or FILE.partial) either.
    let target = out_dir.path().join("anon.sql");
    let out = run(
        pgveil().arg("anonymize").arg(&path).arg("-o").arg(&target),
        None,
    );
    assert!(
        !out.status.success(),
        "{what}: pgveil anonymize succeeded\n{}",
        describe(&out)
    );
    assert_eq!(
        dir_listing(out_dir.path()),
        Vec::<String>::new(),
        "{what}: anonymize left files"
    );
    stderr
}

/// Byte offset of the start of the 1-based line `n`.
fn line_start(text: &[u8], n: usize) -> usize {
    if n <= 1 {
        return 0;
    }
    text.iter()
        .enumerate()
        .filter(|(_, &b)| b == b'\n')
        .nth(n - 2)
        .map(|(i, _)| i + 1)
        .unwrap()
}

/// 1-based line number of the first line starting with `prefix`.
fn line_of(text: &[u8], prefix: &str) -> usize {
    text.split(|&b| b == b'\n')
        .position(|l| l.starts_with(prefix.as_bytes()))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?}"))
        + 1
}

fn assert_mentions_line(stderr: &str, what: &str) {
    assert!(
        stderr.to_ascii_lowercase().contains("line"),
        "{what}: stderr does not name a line:\n{stderr}"
    );
}

#[test]
fn fails_closed_on_dump_cut_inside_copy_block() {
    let dump = portable_dump(&EDGE);
    let copy = line_of(&dump, "COPY public.users ");
    // Cut after a few complete rows of the block.
    let cut = line_start(&dump, copy + 4);
    let stderr = dump_input_must_fail(&dump[..cut], "cut.sql", "cut after complete rows");
    assert!(stderr.contains("users"), "stderr names no table:\n{stderr}");
    // Cut in the middle of a row.
    let stderr = dump_input_must_fail(&dump[..cut + 3], "cut-row.sql", "cut inside a row");
    assert!(stderr.contains("users"), "stderr names no table:\n{stderr}");
    assert_mentions_line(&stderr, "cut inside a row");
}

#[test]
fn fails_closed_on_dump_cut_before_trailer() {
    let dump = portable_dump(&EDGE);
    let trailer = line_of(&dump, "-- PostgreSQL database dump complete");
    // Keep everything up to the `--` line before the trailer comment.
    let cut = line_start(&dump, trailer - 1);
    dump_input_must_fail(&dump[..cut], "no-trailer.sql", "dump without its trailer");
}

#[test]
fn fails_closed_on_wrong_field_count() {
    let dump = portable_dump(&EDGE);
    let copy = line_of(&dump, "COPY public.orders ");
    let bad_line = copy + 3;
    let start = line_start(&dump, bad_line);
    let end = line_start(&dump, bad_line + 1) - 1; // the '\n'
    let row = &dump[start..end];
    let last_tab = row
        .iter()
        .rposition(|&b| b == b'\t')
        .expect("a tab in the row");
    let mut bad = dump[..start + last_tab].to_vec(); // drop the last field
    bad.extend_from_slice(&dump[end..]);
    let stderr = dump_input_must_fail(&bad, "fields.sql", "row with a missing field");
    assert!(
        stderr.contains(&bad_line.to_string()),
        "stderr does not name line {bad_line}:\n{stderr}"
    );
    assert_mentions_line(&stderr, "row with a missing field");
    assert!(
        stderr.contains("orders"),
        "stderr names no table:\n{stderr}"
    );

    // An extra field.
    let mut extra = dump[..end].to_vec();
    extra.extend_from_slice(b"\textra");
    extra.extend_from_slice(&dump[end..]);
    let stderr = dump_input_must_fail(&extra, "fields2.sql", "row with an extra field");
    assert!(
        stderr.contains(&bad_line.to_string()),
        "stderr does not name line {bad_line}:\n{stderr}"
    );
}

#[test]
fn fails_closed_on_corrupt_gzip() {
    let dump = portable_dump(&EXAMPLE);
    let gz = gzip(&dump);
    let mut corrupt = gz.clone();
    let mid = corrupt.len() / 2;
    for b in &mut corrupt[mid..mid + 16] {
        *b ^= 0x5a;
    }
    dump_input_must_fail(&corrupt, "corrupt.sql.gz", "corrupted gzip");
    // A gzip stream cut short.
    dump_input_must_fail(&gz[..gz.len() - 100], "short.sql.gz", "truncated gzip");
}

#[test]
fn fails_closed_on_unknown_masker() {
    let db = (EXAMPLE.load)();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("bad-rules.toml");
    std::fs::write(
        &rules,
        "# a rule with a masker that does not exist\n\
         [[rule]]\n\
         schema = \"public\"\n\
         table = \"users\"\n\
         column = \"full_name\"\n\
         masker = \"no_such_masker_xyz\"\n",
    )
    .unwrap();
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(
        pgveil()
            .args(["dump", "--dbname", &db, "--out-dir"])
            .arg(out_dir.path())
            .args(["--name", "bad"])
            .arg("--rules")
            .arg(&rules),
        None,
    );
    assert!(!out.status.success(), "succeeded\n{}", describe(&out));
    assert_eq!(dir_listing(out_dir.path()), Vec::<String>::new());
    let stderr = String::from_utf8_lossy(&out.stderr);
    // The message names the file and the line of the masker (`FILE:LINE: …`, as compilers do) and the masker.
    assert!(
        stderr.contains("bad-rules.toml:6:") && stderr.contains("no_such_masker_xyz"),
        "stderr does not name the file, line 6 and the masker:\n{stderr}"
    );
}

#[test]
fn fails_closed_on_missing_database() {
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(
        pgveil()
            .args(["dump", "--dbname", "no_such_database_pgveil", "--out-dir"])
            .arg(out_dir.path())
            .args(["--name", "missing"]),
        None,
    );
    assert!(!out.status.success(), "succeeded\n{}", describe(&out));
    assert_eq!(dir_listing(out_dir.path()), Vec::<String>::new());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no_such_database_pgveil"),
        "{}",
        describe(&out)
    );
}

// ------------------------------------------------------------------------------------------------
// The custom archive through the CLI
// ------------------------------------------------------------------------------------------------

/// `pg_dump db | pgveil dump --input - --custom-data anon`: the archive restores with `pg_restore -j`,
/// keeps every row and join, and carries no original address; `pgveil inspect` lists its TOC.
#[test]
fn piped_input_custom_archive_with_masked_data_restores_in_parallel() {
    let c = cluster();
    let db = (EXAMPLE.load)();
    let full = c.pg_dump(&db, &[]);
    let originals = emails_in(&full);
    assert!(!originals.is_empty(), "the example has addresses to mask");
    let out_dir = tempfile::tempdir().unwrap();
    let out = run(
        pgveil()
            .args([
                "dump",
                "--input",
                "-",
                "--name",
                "shop",
                "--custom-data",
                "anon",
                "--out-dir",
            ])
            .arg(out_dir.path()),
        Some(&full),
    );
    assert_success(&out, "pgveil dump --input - --custom-data anon");
    let archive = out_dir.path().join("shop.dump");
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&out_dir.path().join("shop.manifest.json"))).unwrap();
    assert_eq!(manifest["custom_data"], "anon");

    let script = support::run_ok(
        c.command("pg_restore").args(["-f", "-"]).arg(&archive),
        None,
        "pg_restore -f -",
    );
    assert_no_original_emails(
        &script.stdout,
        &originals,
        "pg_restore -f - of the anon archive",
    );

    let target = c.create_db("custom_anon");
    support::run_ok(
        c.command("pg_restore")
            .args(["-j", "2", "--exit-on-error", "-d", &target])
            .arg(&archive),
        None,
        "pg_restore -j 2",
    );
    assert_eq!(
        c.table_counts(&target),
        c.table_counts(&db),
        "row counts per table"
    );
    assert_eq!(
        fk_join_counts(&target),
        fk_join_counts(&db),
        "foreign-key join counts"
    );
    for email in column_values(&target, "public.users", "email") {
        assert!(
            is_masked_email(&email),
            "users.email {email:?} is not masked"
        );
    }

    let listing = support::run_ok(
        pgveil().arg("inspect").arg(&archive),
        None,
        "pgveil inspect",
    );
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(listing.contains("TABLE DATA public users"), "{listing}");
}

/// `-v` prints the per-table summary: one line per table with its rows, and the total.
#[test]
fn verbose_prints_a_per_table_summary() {
    let dir = tempfile::tempdir().unwrap();
    let input = support::fixtures_dir().join("example.dump.sql");
    let out = run(
        pgveil()
            .arg("dump")
            .arg("-v")
            .arg("--input")
            .arg(&input)
            .arg("--out-dir")
            .arg(dir.path())
            .arg("--name")
            .arg("ex"),
        None,
    );
    assert_success(&out, "pgveil dump -v");
    let stderr = String::from_utf8_lossy(&out.stderr);
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&dir.path().join("ex.manifest.json"))).unwrap();
    let tables = manifest["tables"].as_array().unwrap();
    assert!(!tables.is_empty());
    let rows_of = |label: &str| -> Option<u64> {
        stderr.lines().find_map(|l| {
            let mut f = l.split_whitespace();
            (f.next() == Some(label)).then(|| f.next().and_then(|r| r.parse().ok()))?
        })
    };
    let mut total = 0;
    for t in tables {
        let label = format!(
            "{}.{}",
            t["schema"].as_str().unwrap(),
            t["table"].as_str().unwrap()
        );
        let rows = t["rows"].as_u64().unwrap();
        assert_eq!(rows_of(&label), Some(rows), "{label} in\n{stderr}");
        total += rows;
    }
    assert_eq!(rows_of("total"), Some(total), "total in\n{stderr}");
}

/// Large objects: full in NAME.gz and NAME.dump, emptied in NAME.anon.gz (they still exist, so
/// references to them hold), kept with `--keep-large-objects`.
#[test]
fn large_objects_are_emptied_in_masked_artifacts() {
    let c = cluster();
    let db = c.create_db("lo_src");
    c.psql(
        &db,
        "CREATE TABLE doc (id int PRIMARY KEY, body oid);
         INSERT INTO doc SELECT 1, lo_from_bytea(0, convert_to('contract for jane.roe@private.example.net', 'UTF8'));",
    );
    let lo_contents = |db: &str| c.psql(db, "SELECT convert_from(lo_get(body), 'UTF8') FROM doc;");
    assert!(lo_contents(&db).contains("jane.roe@private.example.net"));

    let dump = |extra: &[&str]| {
        let dir = tempfile::tempdir().unwrap();
        let out = run(
            pgveil()
                .args(["dump", "--dbname", &db, "--name", "lo", "--out-dir"])
                .arg(dir.path())
                .args(extra),
            None,
        );
        assert_success(&out, "pgveil dump");
        dir
    };
    let dir = dump(&[]);
    let plain = gunzip(&read(&dir.path().join("lo.gz")));
    let anon = gunzip(&read(&dir.path().join("lo.anon.gz")));
    assert!(String::from_utf8_lossy(&plain).contains("lowrite"));
    assert!(!String::from_utf8_lossy(&anon).contains("lowrite"));
    let manifest: serde_json::Value =
        serde_json::from_slice(&read(&dir.path().join("lo.manifest.json"))).unwrap();
    assert_eq!(manifest["large_objects"], 1);
    assert_eq!(manifest["large_objects_in_anon"], "emptied");

    let restored = restore(&anon, "lo_anon");
    assert_eq!(
        lo_contents(&restored).trim(),
        "",
        "the object exists, empty"
    );
    let restored_full = restore(&plain, "lo_full");
    assert_eq!(lo_contents(&restored_full), lo_contents(&db));

    let kept = dump(&["--keep-large-objects"]);
    let anon = gunzip(&read(&kept.path().join("lo.anon.gz")));
    let restored_kept = restore(&anon, "lo_kept");
    assert_eq!(lo_contents(&restored_kept), lo_contents(&db));
}

/// An output that is a pipe or a device (`-o /dev/null`, a FIFO) is written in place: renaming a
/// finished file over it would replace the pipe or device node.
#[test]
fn output_to_a_fifo_is_written_in_place() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("out.fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(&fifo).unwrap())
    };
    let input = support::fixtures_dir().join("example.dump.sql");
    let out = run(
        pgveil().arg("anonymize").arg(&input).arg("-o").arg(&fifo),
        None,
    );
    assert_success(&out, "pgveil anonymize -o FIFO");
    let received = reader.join().unwrap();
    assert!(
        String::from_utf8_lossy(&received).contains("COPY public.users"),
        "the reader got the dump"
    );
    let originals = emails_in(&std::fs::read(&input).unwrap());
    assert!(!originals.is_empty());
    assert_no_original_emails(&received, &originals, "anonymize -o FIFO");
    use std::os::unix::fs::FileTypeExt;
    let meta = std::fs::symlink_metadata(&fifo).unwrap();
    assert!(
        meta.file_type().is_fifo(),
        "the FIFO was replaced: {meta:?}"
    );
    assert_eq!(dir_listing(dir.path()), vec!["out.fifo".to_string()]);
}

/// `dump --dbname` puts the entries about the database into NAME.dump as pg_dump -Fc does (CREATE
/// DATABASE with its encoding and locale, its settings, comment and grants): `pg_restore -C -f -`
/// prints what `pg_dump -C` prints, and `pg_restore -C` recreates the database with the source's
/// locale (not the cluster's default, C.UTF-8 in the test cluster).
#[test]
fn custom_archive_recreates_the_database_with_its_locale_and_properties() {
    let c = cluster();
    let db = c.unique_name("locale_src");
    c.psql(
        "postgres",
        &format!("CREATE DATABASE {db} TEMPLATE template0 ENCODING 'UTF8' LOCALE 'C';"),
    );
    c.psql(
        &db,
        &format!(
            "COMMENT ON DATABASE {db} IS 'the source';
             ALTER DATABASE {db} SET work_mem TO '8MB';
             REVOKE CONNECT ON DATABASE {db} FROM PUBLIC;
             CREATE TABLE public.t (id int PRIMARY KEY, note text);
             INSERT INTO public.t VALUES (1, 'one'), (2, 'two');"
        ),
    );
    let locale_of = |name: &str| {
        c.psql(
            "postgres",
            &format!(
                "SELECT datcollate || '/' || datctype FROM pg_database WHERE datname = '{name}'"
            ),
        )
    };
    let source_locale = locale_of(&db);
    assert_eq!(source_locale.trim(), "C/C");
    let expected_script = restrict_free(&c.pg_dump(&db, &["-C"]));

    let out_dir = tempfile::tempdir().unwrap();
    let out = run(
        pgveil()
            .args(["dump", "--dbname", &db, "--name", "loc", "--out-dir"])
            .arg(out_dir.path()),
        None,
    );
    assert_success(&out, "pgveil dump --dbname");
    let archive = out_dir.path().join("loc.dump");

    let script = support::run_ok(
        c.command("pg_restore")
            .args(["-C", "-f", "-"])
            .arg(&archive),
        None,
        "pg_restore -C -f -",
    );
    assert_same_dump(
        &expected_script,
        &restrict_free(&script.stdout),
        "pg_restore -C -f - against pg_dump -C",
    );

    // Recreate it for real: the archive names the source database, so that one goes first.
    c.drop_db(&db);
    support::run_ok(
        c.command("pg_restore")
            .args(["-C", "--exit-on-error", "-d", "postgres"])
            .arg(&archive),
        None,
        "pg_restore -C -d postgres",
    );
    assert_eq!(locale_of(&db), source_locale);
    assert_eq!(
        restrict_free(&c.pg_dump(&db, &["-C"])),
        expected_script,
        "the recreated database dumps as the source did"
    );
    c.drop_db(&db);
}

/// NAME.gz is `pg_dump --no-owner --no-acl` with the same options, whatever options change the
/// shape of the dump: partition data loaded via the root, every identifier quoted, owners as
/// `SET SESSION AUTHORIZATION` lines (which --no-owner leaves out), data only (the schema-only dump
/// for the key facts then runs without that option), with triggers disabled around each table, one
/// schema, one table, a table's data left out, the database's own statements (`--create`, whose
/// owner statement --no-owner leaves out), compressed by pg_dump (`-Z`), read under
/// `--serializable-deferrable` (which takes its own snapshot: no shared one can be imported).
#[test]
fn portable_output_of_pg_dump_shape_options() {
    let c = cluster();
    let db = (KITCHEN_SINK.load)();
    let dir = tempfile::tempdir().unwrap();
    let cases: [&[&str]; 11] = [
        &["-Z", "6"],
        &["--serializable-deferrable"],
        &["--create"],
        &["--load-via-partition-root"],
        &["--quote-all-identifiers"],
        &["--use-set-session-authorization"],
        &["--data-only", "--disable-triggers"],
        &["--section=data"],
        &["-n", "app"],
        &["-t", "app.accounts"],
        &["--exclude-table-data=app.accounts"],
    ];
    for (i, options) in cases.into_iter().enumerate() {
        let name = format!("shape{i}");
        let out = run(
            pgveil()
                .args(["dump", "--dbname", &db, "--name", &name, "--out-dir"])
                .arg(dir.path())
                .arg("--")
                .args(options),
            None,
        );
        assert_success(&out, &format!("pgveil dump --dbname -- {options:?}"));
        let plain = gunzip(&read(&dir.path().join(format!("{name}.gz"))));
        let mut args = PORTABLE.to_vec();
        args.extend_from_slice(options);
        let mut reference = c.pg_dump(&db, &args);
        if options.contains(&"-Z") {
            reference = gunzip(&reference);
        }
        assert_same_dump(
            &restrict_free(&reference),
            &restrict_free(&plain),
            &format!("NAME.gz vs pg_dump --no-owner --no-acl {options:?}"),
        );
    }
}
