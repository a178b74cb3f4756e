//! Extension configuration tables (`pg_extension_config_dump(table, filter)`) in the direct read.
//! pg_dump dumps such a table's rows although the table belongs to an extension, and only those
//! its filter keeps (`COPY (SELECT … FROM table WHERE …)`); a configuration sequence gets its
//! SEQUENCE SET; a member table that is not configuration gets nothing. Contract under test, on the
//! test extension `pgveil_test_config` (fixtures/extension/, installed by .ci/test): a direct read
//! (`--jobs 2`, whole tables and tables split into block ranges; also with `-n`, `-t`,
//! `--exclude-table-data` and an inheritance child) gives the pg_dump read's three artifacts and
//! masked stream, and what it dumps is exactly those rows: the plain dump's COPY rows are the
//! source's filtered rows in the server's scan order, and both NAME.gz (psql) and NAME.dump
//! (pg_restore) restore to the source's filtered contents. The installed extension must equal
//! fixtures/extension/ (else the tests fail and say to run .ci/test): the tests cannot write
//! PostgreSQL's share dir themselves.

use crate::support;

use std::path::Path;

use support::{
    assert_same_text, cluster, fixtures_dir, gunzip, pg_restore_script, pgveil, read_file,
    restrict_free, run_ok, Cluster,
};

const EXTENSION: &str = "pgveil_test_config";
const FILES: [&str; 2] = ["pgveil_test_config.control", "pgveil_test_config--1.0.sql"];

/// Panics unless the cluster's server has the test extension installed as fixtures/extension/ has
/// it (PostgreSQL 15 finds extensions only in its own share dir, which the tests cannot write).
fn require_test_extension(c: &Cluster) {
    let sharedir = c.psql(
        "postgres",
        "SELECT setting FROM pg_catalog.pg_config WHERE name = 'SHAREDIR'",
    );
    let dir = Path::new(sharedir.trim()).join("extension");
    for file in FILES {
        let want = std::fs::read(fixtures_dir().join("extension").join(file)).unwrap();
        match std::fs::read(dir.join(file)) {
            Ok(have) if have == want => {}
            Ok(_) => panic!(
                "{} differs from fixtures/extension/{file}: run .ci/test to install the test \
                 extension",
                dir.join(file).display()
            ),
            Err(e) => panic!(
                "the test extension {EXTENSION} is not installed ({}: {e}): run .ci/test to \
                 install the test extension",
                dir.join(file).display()
            ),
        }
    }
}

/// A database with the extension, its configuration tables holding rows the filter keeps and rows
/// it drops (with holes and moved rows, so that scan order is not key order), a used
/// configuration sequence, rows in the non-configuration member table, and an ordinary table.
fn source_db(c: &Cluster) -> String {
    require_test_extension(c);
    let db = c.create_db("direct_extension");
    c.psql(
        &db,
        &format!(
            "CREATE EXTENSION {EXTENSION};
             INSERT INTO pgveil_ext.\"Settings\" (name, email, standard)
               SELECT 'setting ' || i,
                      CASE WHEN i % 5 <> 0 THEN 'user' || i || '@settings.test' END,
                      i % 3 = 0
                 FROM generate_series(1, 3000) i;
             DELETE FROM pgveil_ext.\"Settings\" WHERE id % 17 = 0;
             UPDATE pgveil_ext.\"Settings\" SET name = name || ' (changed)' WHERE id % 13 = 0;
             INSERT INTO pgveil_ext.entries
               SELECT i, repeat('n', i % 40), 'entry' || i || '@entries.test'
                 FROM generate_series(1, 4000) i;
             UPDATE pgveil_ext.entries SET note = 'moved' WHERE id % 11 = 0;
             SELECT count(nextval('pgveil_ext.ticket_seq')) FROM generate_series(1, 42);
             INSERT INTO pgveil_ext.internal_cache SELECT i, 'cached' FROM generate_series(1, 10) i;
             CREATE TABLE public.customers (id int PRIMARY KEY, email text);
             INSERT INTO public.customers
               SELECT i, 'customer' || i || '@shop.test' FROM generate_series(1, 3000) i;
             VACUUM ANALYZE;"
        ),
    );
    db
}

/// What a restored copy must hold, as one text: each table's rows in key order and the sequences.
const CONTENTS: &str = "
    SELECT 'settings', * FROM pgveil_ext.\"Settings\" ORDER BY id;
    SELECT 'entries', * FROM pgveil_ext.entries ORDER BY id;
    SELECT 'internal_cache', count(*) FROM pgveil_ext.internal_cache;
    SELECT 'customers', * FROM public.customers ORDER BY id;
    SELECT 'ticket_seq', last_value, is_called FROM pgveil_ext.ticket_seq;
    SELECT 'settings_seq', last_value, is_called FROM pgveil_ext.\"Settings_id_seq\";";

/// What pg_dump's semantics make of the source: the filter's rows of "Settings" and the
/// extension's own two standard rows (which CREATE EXTENSION makes again; the standard rows added
/// since are dropped by the filter), every row of `entries`, none of `internal_cache`.
const EXPECTED_FROM_SOURCE: &str = "
    SELECT 'settings', * FROM (
        SELECT * FROM pgveil_ext.\"Settings\" WHERE NOT standard
        UNION ALL VALUES (1, 'default', 'ops@extension.test', true), (2, 'timeout', NULL, true)
    ) s ORDER BY id;
    SELECT 'entries', * FROM pgveil_ext.entries ORDER BY id;
    SELECT 'internal_cache', 0;
    SELECT 'customers', * FROM public.customers ORDER BY id;
    SELECT 'ticket_seq', last_value, is_called FROM pgveil_ext.ticket_seq;
    SELECT 'settings_seq', last_value, is_called FROM pgveil_ext.\"Settings_id_seq\";";

/// `pgveil dump` of `db` into `dir` as `name`; returns the manifest's source.
fn dump(db: &str, dir: &Path, name: &str, read: &[&str], env: &[(&str, &str)]) -> String {
    let mut cmd = pgveil();
    cmd.args(["dump", "--dbname", db, "--out-dir"])
        .arg(dir)
        .args(["--name", name, "--verbose"])
        .args(read);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = run_ok(
        &mut cmd,
        None,
        &format!("pgveil dump {db} {read:?} {env:?}"),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("read through pg_dump"),
        "{name}: the direct read fell back: {stderr}"
    );
    let text = std::fs::read_to_string(dir.join(format!("{name}.manifest.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["source"].as_str().unwrap_or_default().to_string()
}

/// The rows of the COPY block whose statement starts with `copy_prefix` in a plain dump.
fn copy_rows<'a>(plain: &'a str, copy_prefix: &str) -> Vec<&'a str> {
    let mut lines = plain.lines();
    assert!(
        lines.by_ref().any(|l| l.starts_with(copy_prefix)),
        "no `{copy_prefix}` in the plain dump"
    );
    lines.take_while(|l| *l != "\\.").collect()
}

#[test]
fn extension_configuration_tables_are_read_directly_as_pg_dump_reads_them() {
    let c = cluster();
    let db = source_db(c);
    let dir = tempfile::tempdir().unwrap();
    let p = |n: &str, ext: &str| dir.path().join(format!("{n}{ext}"));

    let reference = dump(&db, dir.path(), "ref", &["--read", "pg-dump"], &[]);
    assert!(!reference.starts_with("direct read"), "{reference}");
    let whole = dump(
        &db,
        dir.path(),
        "direct",
        &["--read", "direct", "--jobs", "2"],
        &[],
    );
    let split = dump(
        &db,
        dir.path(),
        "split",
        &["--read", "direct", "--jobs", "2"],
        &[("PGVEIL_DIRECT_SPLIT_BLOCKS", "2")],
    );
    // Three tables' data: three statements whole; split, "Settings" stays one filtered statement
    // and the other two become block ranges.
    assert!(
        whole.starts_with("direct read") && whole.contains(", 3 COPY statements)"),
        "{whole}"
    );
    let statements: usize = split
        .split(", ")
        .find_map(|s| s.strip_suffix(" COPY statements)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no statement count in {split}"));
    assert!(statements > 6, "{split}");

    for name in ["direct", "split"] {
        assert_same_text(
            &restrict_free(&gunzip(&read_file(&p("ref", ".gz")))),
            &restrict_free(&gunzip(&read_file(&p(name, ".gz")))),
            &format!("NAME.gz, {name} read"),
        );
        assert_same_text(
            &restrict_free(&gunzip(&read_file(&p("ref", ".anon.gz")))),
            &restrict_free(&gunzip(&read_file(&p(name, ".anon.gz")))),
            &format!("NAME.anon.gz, {name} read"),
        );
        assert_same_text(
            &pg_restore_script(c, &p("ref", ".dump")),
            &pg_restore_script(c, &p(name, ".dump")),
            &format!("NAME.dump (pg_restore -f -), {name} read"),
        );
    }

    // What the plain dump holds: the filtered table's COPY rows are the source's filtered rows in
    // the server's scan order; the unfiltered one's are all its rows.
    let plain = String::from_utf8(gunzip(&read_file(&p("split", ".gz")))).unwrap();
    let filtered = c.psql(
        &db,
        "COPY (SELECT * FROM pgveil_ext.\"Settings\" WHERE NOT standard) TO STDOUT",
    );
    let settings = copy_rows(&plain, "COPY pgveil_ext.\"Settings\" ");
    assert_eq!(settings, filtered.lines().collect::<Vec<_>>());
    assert!(
        settings.len() > 1500 && settings.iter().all(|r| r.ends_with("\tf")),
        "{} rows of \"Settings\"",
        settings.len()
    );
    let all_entries = c.psql(&db, "COPY pgveil_ext.entries TO STDOUT");
    assert_eq!(
        copy_rows(&plain, "COPY pgveil_ext.entries "),
        all_entries.lines().collect::<Vec<_>>()
    );
    assert!(
        !plain.contains("internal_cache (") && plain.contains("'pgveil_ext.ticket_seq', 42, true"),
        "the member table's data is not dumped, the configuration sequence's value is"
    );

    // Both artifacts restore to the source's filtered contents (the plain dump creates the
    // extension, whose script makes its standard rows again).
    let expected = c.psql(&db, EXPECTED_FROM_SOURCE);
    let from_plain = c.create_db("direct_extension_plain");
    c.psql_bytes(&from_plain, &gunzip(&read_file(&p("split", ".gz"))));
    assert_same_text(
        expected.as_bytes(),
        c.psql(&from_plain, CONTENTS).as_bytes(),
        "NAME.gz restored with psql",
    );
    let from_archive = c.create_db("direct_extension_archive");
    run_ok(
        c.command("pg_restore")
            .args(["--no-owner", "--no-acl", "-d", &from_archive])
            .arg(p("split", ".dump")),
        None,
        "pg_restore of the direct read's NAME.dump",
    );
    assert_same_text(
        expected.as_bytes(),
        c.psql(&from_archive, CONTENTS).as_bytes(),
        "NAME.dump restored with pg_restore",
    );
}

/// Dump `db` with the pg_dump read and with the direct read (`--jobs 2`, block ranges of 2 blocks),
/// with pg_dump arguments `selection`; asserts the three artifacts equal and returns the plain dump.
fn assert_reads_equal(c: &Cluster, db: &str, dir: &Path, tag: &str, selection: &[&str]) -> String {
    let p = |n: &str, ext: &str| dir.join(format!("{n}{ext}"));
    let with = |read: &[&'static str]| -> Vec<String> {
        let extra = if selection.is_empty() {
            &[][..]
        } else {
            &["--"][..]
        };
        read.iter()
            .chain(extra)
            .chain(selection)
            .map(|s| s.to_string())
            .collect()
    };
    let (reference, direct) = (format!("ref_{tag}"), format!("direct_{tag}"));
    let args = with(&["--read", "pg-dump"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    dump(db, dir, &reference, &args, &[]);
    let args = with(&["--read", "direct", "--jobs", "2"]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let source = dump(
        db,
        dir,
        &direct,
        &args,
        &[("PGVEIL_DIRECT_SPLIT_BLOCKS", "2")],
    );
    assert!(source.starts_with("direct read"), "{source}");
    let plain = restrict_free(&gunzip(&read_file(&p(&reference, ".gz"))));
    assert_same_text(
        &plain,
        &restrict_free(&gunzip(&read_file(&p(&direct, ".gz")))),
        &format!("NAME.gz, {selection:?}"),
    );
    assert_same_text(
        &restrict_free(&gunzip(&read_file(&p(&reference, ".anon.gz")))),
        &restrict_free(&gunzip(&read_file(&p(&direct, ".anon.gz")))),
        &format!("NAME.anon.gz, {selection:?}"),
    );
    assert_same_text(
        &pg_restore_script(c, &p(&reference, ".dump")),
        &pg_restore_script(c, &p(&direct, ".dump")),
        &format!("NAME.dump (pg_restore -f -), {selection:?}"),
    );
    String::from_utf8(plain).unwrap()
}

/// Selections that reach the configuration tables otherwise than through their extension: the
/// schema named (`-n`: the extension is not dumped, its configuration data is, filtered), a table
/// named (`-t`), and `--exclude-table-data`: the direct read gives the pg_dump read's artifacts.
#[test]
fn selected_extension_configuration_tables_are_read_directly_as_pg_dump_reads_them() {
    let c = cluster();
    let db = source_db(c);
    let dir = tempfile::tempdir().unwrap();
    let filtered: usize = c
        .psql(
            &db,
            "SELECT count(*) FROM pgveil_ext.\"Settings\" WHERE NOT standard",
        )
        .trim()
        .parse()
        .unwrap();
    let selections: [&[&str]; 3] = [
        &["-n", "pgveil_ext"],
        &["-t", "pgveil_ext.\"Settings\"", "-t", "public.customers"],
        &["--exclude-table-data=pgveil_ext.entries"],
    ];
    for (i, selection) in selections.into_iter().enumerate() {
        let plain = assert_reads_equal(c, &db, dir.path(), &i.to_string(), selection);
        assert_eq!(
            copy_rows(&plain, "COPY pgveil_ext.\"Settings\" ").len(),
            filtered,
            "{selection:?}: the filtered rows"
        );
    }
}

/// pg_dump reads a filtered configuration table with `SELECT … FROM table WHERE …`, without ONLY:
/// the rows of an inheritance child come with the parent's (and again in the child's own COPY,
/// which has no filter and is split into block ranges here). The direct read gives the same.
#[test]
fn inheritance_children_of_a_filtered_configuration_table_are_read_as_pg_dump_reads_them() {
    let c = cluster();
    let db = source_db(c);
    c.psql(
        &db,
        "CREATE TABLE public.more_settings (note text) INHERITS (pgveil_ext.\"Settings\");
         INSERT INTO public.more_settings (name, email, standard, note)
           SELECT 'child ' || i, 'child' || i || '@settings.test', i % 4 = 0, repeat('c', 30)
             FROM generate_series(1, 2000) i;",
    );
    let dir = tempfile::tempdir().unwrap();
    let plain = assert_reads_equal(c, &db, dir.path(), "inherited", &[]);
    let child_rows = |copy: &str| {
        copy_rows(&plain, copy)
            .iter()
            .filter(|r| r.contains("@settings.test") && r.contains("\tchild "))
            .count()
    };
    assert_eq!(child_rows("COPY pgveil_ext.\"Settings\" "), 1500);
    assert_eq!(child_rows("COPY public.more_settings "), 2000);
}

/// `pgveil anonymize --dbname … --read direct` gives the masked stream of `--read pg-dump`.
#[test]
fn anonymize_reads_extension_configuration_tables_directly() {
    let c = cluster();
    let db = source_db(c);
    let anonymize = |read: &[&str], env: &[(&str, &str)]| {
        let mut cmd = pgveil();
        cmd.args(["anonymize", "--dbname", &db]).args(read);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = run_ok(
            &mut cmd,
            None,
            &format!("pgveil anonymize {read:?} {env:?}"),
        );
        restrict_free(&out.stdout)
    };
    let reference = anonymize(&["--read", "pg-dump"], &[]);
    assert!(
        String::from_utf8_lossy(&reference).contains("COPY pgveil_ext.\"Settings\" "),
        "the masked stream has the configuration table's data"
    );
    assert_same_text(
        &reference,
        &anonymize(&["--read", "direct", "--jobs", "2"], &[]),
        "the masked plain stream, direct read",
    );
    assert_same_text(
        &reference,
        &anonymize(
            &["--read", "direct", "--jobs", "2"],
            &[("PGVEIL_DIRECT_SPLIT_BLOCKS", "2")],
        ),
        "the masked plain stream, direct read in block ranges",
    );
}
