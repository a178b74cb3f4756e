//! The direct read (`--read direct`, `--jobs N`): table data over pgveil's own connections sharing
//! one snapshot. Contract under test: every artifact equals what the pg_dump read gives from the
//! same database (NAME.gz byte for byte, NAME.anon.gz with the same key, NAME.dump as pg_restore
//! prints it), with one connection and with several, with large tables read as block ranges; a
//! dump taken while another session moves amounts between two tables restores to one moment's
//! totals; a connection that fails says why and leaves nothing behind; what the direct read cannot
//! honour is read through pg_dump (and said so).

use crate::support;

use std::path::Path;
use std::process::Stdio;

use support::{
    assert_same_text, cluster, gunzip, pg_restore_script, pgveil, read_file, restrict_free, run,
    run_ok,
};

/// `pgveil dump` of `db` into `dir` as `name`, read as `read` says; returns stderr.
fn dump(db: &str, dir: &Path, name: &str, read: &[&str], extra: &[&str]) -> String {
    let out = run_ok(
        pgveil()
            .args(["dump", "--dbname", db, "--out-dir"])
            .arg(dir)
            .args(["--name", name, "--verbose"])
            .args(read)
            .args(extra),
        None,
        &format!("pgveil dump {db} {read:?}"),
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// The source named in the manifest (the direct read says how many COPY statements it ran).
fn manifest_source(dir: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(dir.join(format!("{name}.manifest.json"))).unwrap();
    let v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["source"].as_str().unwrap_or_default().to_string()
}

/// Every artifact of a direct read of `db` equals the pg_dump read's, for each `--jobs`.
/// Returns the manifest sources of the direct reads.
fn assert_direct_equals_pg_dump(db: &str, jobs: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    assert_direct_equals_pg_dump_with(db, jobs, env, &[])
}

/// The same with extra pg_dump arguments (after `--`).
fn assert_direct_equals_pg_dump_with(
    db: &str,
    jobs: &[&str],
    env: &[(&str, &str)],
    pg_dump_args: &[&str],
) -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let extra: Vec<&str> = if pg_dump_args.is_empty() {
        Vec::new()
    } else {
        std::iter::once("--")
            .chain(pg_dump_args.iter().copied())
            .collect()
    };
    dump(db, dir.path(), "ref", &["--read", "pg-dump"], &extra);
    let mut sources = Vec::new();
    for j in jobs {
        let name = format!("direct{j}");
        let mut cmd = pgveil();
        cmd.args(["dump", "--dbname", db, "--out-dir"])
            .arg(dir.path())
            .args(["--name", &name, "--read", "direct", "--jobs", j])
            .args(&extra);
        for (k, v) in env {
            cmd.env(k, v);
        }
        let out = run_ok(&mut cmd, None, &format!("direct dump of {db}, --jobs {j}"));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            !stderr.contains("read through pg_dump"),
            "{db}: the direct read fell back: {stderr}"
        );
        let p = |n: &str, ext: &str| dir.path().join(format!("{n}{ext}"));
        assert_same_text(
            &restrict_free(&gunzip(&read_file(&p("ref", ".gz")))),
            &restrict_free(&gunzip(&read_file(&p(&name, ".gz")))),
            &format!("{db} NAME.gz, --jobs {j}"),
        );
        assert_same_text(
            &restrict_free(&gunzip(&read_file(&p("ref", ".anon.gz")))),
            &restrict_free(&gunzip(&read_file(&p(&name, ".anon.gz")))),
            &format!("{db} NAME.anon.gz, --jobs {j}"),
        );
        assert_same_text(
            &pg_restore_script(cluster(), &p("ref", ".dump")),
            &pg_restore_script(cluster(), &p(&name, ".dump")),
            &format!("{db} NAME.dump (pg_restore -f -), --jobs {j}"),
        );
        let source = manifest_source(dir.path(), &name);
        assert!(source.starts_with("direct read"), "{source}");
        sources.push(source);
    }
    sources
}

#[test]
fn fixtures_read_directly_give_the_pg_dump_reads_artifacts() {
    let c = cluster();
    for fixture in ["kitchen_sink", "edge_cases", "example"] {
        let db = c.load_fixture(fixture);
        assert_direct_equals_pg_dump(&db, &["1", "4"], &[]);
    }
}

/// Selection options are pg_dump's own (the data entries come from its TOC): the same artifacts.
#[test]
fn selection_options_select_the_same_data() {
    let db = cluster().load_fixture("kitchen_sink");
    for args in [
        &[
            "--exclude-table-data=app.accounts",
            "--exclude-table-data=other.*",
        ][..],
        &["-n", "app", "-T", "app.notes"],
        &[
            "-t",
            "app.accounts",
            "-t",
            "app.tickets",
            "--no-owner",
            "--create",
        ],
    ] {
        assert_direct_equals_pg_dump_with(&db, &["2"], &[], args);
    }
}

#[test]
fn pagila_read_directly_gives_the_pg_dump_reads_artifacts() {
    let db = cluster().load_pagila();
    assert_direct_equals_pg_dump(&db, &["3"], &[]);
}

/// A table with holes and moved rows (deleted and updated rows), so that its scan order is not
/// its key order; read as block ranges of 4 blocks.
#[test]
fn large_tables_read_as_block_ranges_keep_pg_dumps_row_order() {
    let c = cluster();
    let db = c.create_db("direct_split");
    c.psql(
        &db,
        "CREATE TABLE big (id int PRIMARY KEY, note text, email text);
         INSERT INTO big SELECT i, repeat('x', i % 50), 'user' || i || '@example.org'
           FROM generate_series(1, 20000) i;
         DELETE FROM big WHERE id % 7 = 0;
         UPDATE big SET note = 'moved' WHERE id % 11 = 0;
         CREATE TABLE small (id int);
         INSERT INTO small VALUES (1), (2);
         CREATE TABLE empty_one (id int);
         VACUUM ANALYZE big;",
    );
    let sources =
        assert_direct_equals_pg_dump(&db, &["1", "4"], &[("PGVEIL_DIRECT_SPLIT_BLOCKS", "4")]);
    let statements: Vec<usize> = sources
        .iter()
        .map(|s| {
            s.split(", ")
                .find_map(|p| p.strip_suffix(" COPY statements)"))
                .and_then(|n| n.parse().ok())
                .unwrap_or_else(|| panic!("no statement count in {s}"))
        })
        .collect();
    // Three tables: read whole by one connection, the big one in many ranges by four.
    assert_eq!(statements[0], 3, "{sources:?}");
    assert!(statements[1] > 20, "{sources:?}");
}

#[test]
fn a_direct_dump_restores_with_pg_restore() {
    let c = cluster();
    let db = c.load_fixture("kitchen_sink");
    let dir = tempfile::tempdir().unwrap();
    dump(&db, dir.path(), "ks", &["--jobs", "2"], &[]);
    let target = c.create_db("direct_restored");
    run_ok(
        c.command("pg_restore")
            .args(["--no-owner", "--no-acl", "-d", &target])
            .arg(dir.path().join("ks.dump")),
        None,
        "pg_restore of the direct dump",
    );
    let portable = ["--no-owner", "--no-acl"];
    assert_same_text(
        &restrict_free(&c.pg_dump(&db, &portable)),
        &restrict_free(&c.pg_dump(&target, &portable)),
        "the restored copy",
    );
}

/// While a direct dump runs, another session moves amounts between two tables, one transaction per
/// move: the restored copy's total is the constant total, and its row counts are whole.
#[test]
fn a_direct_dump_sees_one_moment_of_concurrent_transfers() {
    let c = cluster();
    let db = c.create_db("direct_consistency");
    c.psql(
        &db,
        "CREATE TABLE left_side (id int PRIMARY KEY, amount bigint, pad text);
         CREATE TABLE right_side (id int PRIMARY KEY, amount bigint, pad text);
         INSERT INTO left_side SELECT i, 100, repeat('p', 200) FROM generate_series(1, 20000) i;
         INSERT INTO right_side SELECT i, 100, repeat('p', 200) FROM generate_series(1, 20000) i;
         CREATE TABLE moves (n bigint); INSERT INTO moves VALUES (0);",
    );
    // The writer: a procedure-style DO loop committing each move (runs until killed).
    let mut writer = c.command("psql");
    writer
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db, "-c"])
        .arg(
            "DO $$ DECLARE k int; BEGIN LOOP k := 1 + floor(random() * 20000)::int; \
             UPDATE left_side SET amount = amount - 7 WHERE id = k; \
             UPDATE right_side SET amount = amount + 7 WHERE id = 20001 - k; \
             UPDATE moves SET n = n + 1; COMMIT; END LOOP; END $$;",
        )
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut writer = writer.spawn().unwrap();
    // Wait until moves are under way, then dump while they go on.
    loop {
        let n: i64 = c.psql(&db, "SELECT n FROM moves").trim().parse().unwrap();
        if n > 50 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = pgveil();
    cmd.env("PGVEIL_DIRECT_SPLIT_BLOCKS", "8");
    let out = run_ok(
        cmd.args(["dump", "--dbname", &db, "--out-dir"])
            .arg(dir.path())
            .args(["--name", "moving", "--jobs", "4", "--outputs", "plain"]),
        None,
        "direct dump during the transfers",
    );
    let moves_after: i64 = c.psql(&db, "SELECT n FROM moves").trim().parse().unwrap();
    let _ = writer.kill();
    let _ = writer.wait();
    assert!(out.status.success());
    let restored = c.create_db("direct_consistency_restored");
    c.psql_bytes(
        &restored,
        &gunzip(&read_file(&dir.path().join("moving.gz"))),
    );
    let total = c.psql(
        &restored,
        "SELECT (SELECT sum(amount) FROM left_side) + (SELECT sum(amount) FROM right_side), \
                (SELECT count(*) FROM left_side), (SELECT n FROM moves)",
    );
    let fields: Vec<&str> = total.trim().split('|').collect();
    assert_eq!(fields[0], "4000000", "totals of one moment: {total}");
    assert_eq!(fields[1], "20000");
    let moves_in_dump: i64 = fields[2].parse().unwrap();
    assert!(
        moves_in_dump > 50 && moves_in_dump < moves_after,
        "the dump's moment lies within the transfers ({moves_in_dump} of {moves_after})"
    );
}

fn failing_dump(dbname: &str) -> (String, Vec<String>) {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        pgveil()
            .args(["dump", "--dbname", dbname, "--read", "direct", "--out-dir"])
            .arg(dir.path())
            .args(["--name", "x"]),
        None,
    );
    assert!(!out.status.success(), "a dump of {dbname} succeeded");
    let listing: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    (String::from_utf8_lossy(&out.stderr).into_owned(), listing)
}

#[test]
fn a_direct_read_that_cannot_connect_says_why_and_writes_nothing() {
    let (stderr, files) = failing_dump("no_such_database_here");
    assert!(
        stderr.contains("database \"no_such_database_here\" does not exist"),
        "{stderr}"
    );
    assert!(files.is_empty(), "{files:?}");
    let (stderr, files) = failing_dump("host=no-such-host.invalid dbname=x connect_timeout=5");
    assert!(
        stderr.contains("no-such-host.invalid") && stderr.contains("error connecting"),
        "{stderr}"
    );
    assert!(files.is_empty(), "{files:?}");
    // A port nobody listens on (one just released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (stderr, files) = failing_dump(&format!("host=127.0.0.1 port={port} dbname=x"));
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
    assert!(files.is_empty(), "{files:?}");
}

#[test]
fn options_the_direct_read_cannot_honour_read_through_pg_dump() {
    let c = cluster();
    let db = c.load_fixture("kitchen_sink");
    let dir = tempfile::tempdir().unwrap();
    let stderr = dump(
        &db,
        dir.path(),
        "clean",
        &["--read", "direct"],
        &["--", "--quote-all-identifiers"],
    );
    assert!(
        stderr.contains("read through pg_dump") && stderr.contains("--quote-all-identifiers"),
        "{stderr}"
    );
    let reference = restrict_free(&c.pg_dump(&db, &["--quote-all-identifiers", "-O", "-x"]));
    assert_same_text(
        &reference,
        &restrict_free(&gunzip(&read_file(&dir.path().join("clean.gz")))),
        "NAME.gz read through pg_dump",
    );
}

/// `pgveil anonymize --dbname` (direct) gives what `pgveil anonymize` of pg_dump's output file
/// gives (a file: the same complete schema facts).
#[test]
fn anonymize_reads_a_database_directly() {
    let c = cluster();
    let db = c.load_fixture("kitchen_sink");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ks.sql");
    std::fs::write(&file, c.pg_dump(&db, &[])).unwrap();
    let via_pg_dump = run_ok(
        pgveil().arg("anonymize").arg(&file),
        None,
        "pgveil anonymize FILE",
    );
    let direct = run_ok(
        pgveil().args(["anonymize", "--dbname", &db, "--jobs", "2"]),
        None,
        "pgveil anonymize --dbname",
    );
    assert_same_text(
        &restrict_free(&via_pg_dump.stdout),
        &restrict_free(&direct.stdout),
        "the masked plain stream",
    );
}

/// Large objects are data the direct read does not read: the dump goes through pg_dump, says so,
/// and gives the pg_dump read's artifacts.
#[test]
fn large_objects_are_read_through_pg_dump() {
    let c = cluster();
    let db = c.create_db("direct_lo");
    c.psql(
        &db,
        "CREATE TABLE docs (id int, blob oid);
         INSERT INTO docs VALUES (1, lo_from_bytea(0, 'hello'));",
    );
    let dir = tempfile::tempdir().unwrap();
    dump(&db, dir.path(), "ref", &["--read", "pg-dump"], &[]);
    let stderr = dump(&db, dir.path(), "lo", &["--jobs", "2"], &[]);
    assert!(
        stderr.contains("read through pg_dump")
            && (stderr.contains("BLOBS") || stderr.contains("LARGE OBJECTS")),
        "{stderr}"
    );
    assert_same_text(
        &restrict_free(&gunzip(&read_file(&dir.path().join("ref.gz")))),
        &restrict_free(&gunzip(&read_file(&dir.path().join("lo.gz")))),
        "NAME.gz with a large object",
    );
}

/// A reading connection the server ends in the middle of a COPY (here `pg_terminate_backend`,
/// as an administrator or a failover would) fails the run naming the COPY: the rows already read
/// are never taken for the whole table. (A backend ended while it waits to send a row cannot send
/// its FATAL message: as with libpq, the connection is then said to be closed.)
#[test]
fn a_reading_connection_ended_mid_copy_fails_the_run_naming_the_copy() {
    let c = cluster();
    let db = c.create_db("direct_terminated");
    // 60 MB of rows: far more than the direct read and the pass hold while stdout is not read.
    c.psql(
        &db,
        "CREATE TABLE big (id int, pad text);
         INSERT INTO big SELECT i, repeat('x', 500) FROM generate_series(1, 120000) i;",
    );
    let mut cmd = pgveil();
    let child = cmd
        .args(["anonymize", "--dbname", &db, "--jobs", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the COPY is under way (and held back by the unread stdout), then end it. The
    // backend is found first and ended by its pid alone: in one query the planner may run
    // pg_terminate_backend on other databases' backends before the join that gives `datname`.
    let copying = format!(
        "SELECT pid FROM pg_stat_activity WHERE datname = '{db}' AND state = 'active' \
         AND query LIKE 'COPY %'"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    let pid = loop {
        let pids = c.psql("postgres", &copying);
        if let Some(pid) = pids.lines().next() {
            break pid.trim().to_string();
        }
        assert!(std::time::Instant::now() < deadline, "no COPY started");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    std::thread::sleep(std::time::Duration::from_millis(300));
    let ended = c.psql("postgres", &format!("SELECT pg_terminate_backend({pid})"));
    assert_eq!(ended.trim(), "t", "the reading backend was ended mid-COPY");
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "the run succeeded: {stderr}");
    assert!(
        stderr.contains("COPY public.big (id, pad) TO stdout")
            && (stderr.contains("terminating connection due to administrator command")
                || stderr.contains("the server closed the connection during the COPY")),
        "{stderr}"
    );
    // What was written stops short of the table's end.
    let rows = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| l.first().is_some_and(u8::is_ascii_digit))
        .count();
    assert!(rows < 120_000, "{rows} rows written");
}

/// The schema is printed by pg_restore from the TOC pg_dump gave (a wrapper records that it ran);
/// where pg_restore cannot print it (here one that fails, as one older than pg_dump would),
/// pg_dump prints it itself: the same artifacts either way.
#[test]
fn the_schema_is_printed_by_pg_restore_or_else_by_pg_dump() {
    use std::os::unix::fs::PermissionsExt;
    let c = cluster();
    let db = c.load_fixture("kitchen_sink");
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ran");
    let wrapper = dir.path().join("pg_restore");
    let real = c.command("pg_restore").get_program().to_owned();
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\necho ran >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.to_string_lossy()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755)).unwrap();
    let wrapper = wrapper.to_string_lossy().into_owned();
    assert_direct_equals_pg_dump(&db, &["2"], &[("PGVEIL_PG_RESTORE", &wrapper)]);
    assert!(log.is_file(), "pg_restore printed the schema");
    // `anonymize` needs no pg_restore otherwise (`dump` does, for its archive's entries).
    let anonymize = |pg_restore: &str| {
        let mut cmd = pgveil();
        cmd.args(["anonymize", "--dbname", &db, "--jobs", "2"])
            .env("PGVEIL_PG_RESTORE", pg_restore);
        restrict_free(&run_ok(&mut cmd, None, "pgveil anonymize --dbname").stdout)
    };
    assert_same_text(
        &anonymize(&wrapper),
        &anonymize("false"),
        "the masked stream, the schema printed by pg_dump",
    );
}
