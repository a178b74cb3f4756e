//! The custom archive without a local spool: when every entry is known before the pass (a
//! `--dbname` dump: pg_dump -Fc's TOC of the same snapshot; `--input FILE`: a pre-scan), NAME.dump's
//! TOC is written first without data offsets and each data block is streamed to the output (a
//! bucket keeps the offsets "not set"; a local file gets them patched in, as pg_dump does).
//!
//! - the archives equal the spooled ones (`PGVEIL_ARCHIVE_SPOOL=1`, or a dump on stdin): the same
//!   `pg_restore -l`, the same bytes on a local file (apart from the header's creation time);
//! - every pg_restore mode (`-l`, `-d`, `-t`, `-j 4`, `--data-only`, stdin) restores the archive
//!   from the bucket and from a local folder, with empty tables, large objects, sequences, a
//!   materialized view and an extension's configuration data;
//! - an upload-only dump writes nothing to local disk (a 1 MiB tmpfs as the temp folder);
//! - an input that changes between the pre-scan and the pass fails the run, nothing published;
//! - memory stays far below the size of the data block being uploaded.
//!
//! (Over 700 lines: one scenario per test, sharing the database builders, the restore-mode checks
//! and the archive comparisons above them; split, they would be copied.)

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use crate::support::s3::{pgveil_s3, S3Server};
use crate::support::{cluster, ok, pgveil, run, run_ok};
use pgveil::archive::{read_archive, POS_SET};

const BUCKET: &str = "streamed";

fn url() -> String {
    format!("s3://{BUCKET}/db/")
}

/// A database with what the data section can hold: rows, an empty table, a quoted name, a
/// sequence, large objects, a populated materialized view, an extension's configuration data.
fn varied_db() -> String {
    let c = cluster();
    let db = c.create_db("stream_varied");
    c.psql(
        &db,
        "CREATE EXTENSION citext;
         CREATE TABLE public.citext_settings (name text PRIMARY KEY, value text);
         INSERT INTO public.citext_settings VALUES ('mode', 'strict'), ('level', '2');
         ALTER EXTENSION citext ADD TABLE public.citext_settings;
         UPDATE pg_catalog.pg_extension
            SET extconfig = ARRAY['public.citext_settings'::regclass::oid], extcondition = ARRAY['']
          WHERE extname = 'citext';
         CREATE TABLE customers (id serial PRIMARY KEY, email citext UNIQUE, note text);
         INSERT INTO customers (email, note)
              SELECT 'user' || g || '@example.test', repeat('x', g % 50) FROM generate_series(1, 3000) g;
         CREATE TABLE orders (id bigint PRIMARY KEY, customer_id int REFERENCES customers(id), total numeric);
         INSERT INTO orders SELECT g, 1 + g % 3000, g * 1.5 FROM generate_series(1, 5000) g;
         CREATE TABLE empty_one (id int PRIMARY KEY);
         CREATE TABLE \"Odd Name\" (v text);
         INSERT INTO \"Odd Name\" VALUES ('a\ttab'), (NULL);
         CREATE SEQUENCE counter START 7;
         SELECT setval('counter', 42);
         CREATE MATERIALIZED VIEW order_totals AS SELECT customer_id, sum(total) AS t FROM orders GROUP BY 1;
         SELECT lo_from_bytea(424242, 'hello large object'::bytea);
         SELECT lo_from_bytea(424243, ''::bytea);
         COMMENT ON LARGE OBJECT 424242 IS 'a greeting';",
    );
    db
}

/// `pgveil dump --dbname DB --name shop --outputs custom` plus `extra`, with `envs`.
fn dump_db(db: &str, extra: &[&str], envs: &[(&str, &str)], server: Option<&S3Server>) -> Output {
    let mut cmd = match server {
        Some(s) => pgveil_s3(s),
        None => pgveil(),
    };
    cmd.args([
        "dump",
        "--dbname",
        db,
        "--name",
        "shop",
        "--outputs",
        "custom",
    ])
    .args(extra);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    run(&mut cmd, None)
}

fn pg_restore(args: &[&str], file: &Path) -> Output {
    run_ok(
        cluster().command("pg_restore").args(args).arg(file),
        None,
        &format!("pg_restore {args:?} {}", file.display()),
    )
}

/// `pg_restore -l` without its header lines (creation time, and the like).
fn listing(file: &Path) -> String {
    let out = String::from_utf8(pg_restore(&["-l"], file).stdout).unwrap();
    out.lines()
        .filter(|l| !l.starts_with(';'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The archive's bytes with the header's creation time (bytes 16..51: seven Ints) zeroed.
fn without_time(path: &Path) -> Vec<u8> {
    let mut b = std::fs::read(path).unwrap();
    b[16..51].fill(0);
    b
}

fn offsets_set(path: &Path) -> (usize, usize) {
    let a = read_archive(path).unwrap();
    let data: Vec<_> = a.entries.iter().filter(|e| e.had_dumper).collect();
    let set = data.iter().filter(|e| e.offset.0 == POS_SET).count();
    (set, data.len())
}

/// The one file named `name` below `dir` (a set folder).
fn find(dir: &Path, name: &str) -> PathBuf {
    for entry in walk(dir) {
        if entry.file_name().is_some_and(|n| n == name) {
            return entry;
        }
    }
    panic!("{name} not found under {}", dir.display())
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// What a restored copy holds beyond row counts: the large objects, the sequence, the view.
fn contents(db: &str) -> String {
    cluster().psql(
        db,
        "SELECT (SELECT string_agg(oid::text || '=' || encode(lo_get(oid), 'escape'), ',' ORDER BY oid)
                   FROM pg_largeobject_metadata),
                (SELECT obj_description(424242, 'pg_largeobject')),
                (SELECT last_value FROM counter),
                (SELECT count(*) FROM order_totals),
                (SELECT string_agg(name || ':' || value, ',' ORDER BY name) FROM citext_settings);",
    )
}

/// A database to restore into. The configuration table is made first: a real extension would
/// create it, the `citext` standing in for one here does not.
fn target_db(prefix: &str) -> String {
    let db = cluster().create_db(prefix);
    cluster().psql(
        &db,
        "CREATE TABLE public.citext_settings (name text PRIMARY KEY, value text);",
    );
    db
}

/// Restore `archive` in every mode and compare with the source database.
fn assert_restores_in_every_mode(archive: &Path, source: &str) {
    let c = cluster();
    let counts = c.table_counts(source);
    let want = contents(source);
    assert!(want.contains("424242=hello large object"), "{want}");

    let l = listing(archive);
    for needle in [
        "TABLE DATA public customers",
        "TABLE DATA public empty_one",
        "SEQUENCE SET public counter",
        "BLOBS - BLOBS",
        "MATERIALIZED VIEW DATA public order_totals",
        "TABLE DATA public citext_settings",
    ] {
        assert!(
            l.contains(needle),
            "{needle} missing from pg_restore -l:\n{l}"
        );
    }

    // Serial, and parallel.
    for args in [&["--exit-on-error"][..], &["--exit-on-error", "-j", "4"]] {
        let target = target_db("stream_restored");
        let mut all = args.to_vec();
        all.extend(["-d", &target]);
        pg_restore(&all, archive);
        assert_eq!(c.table_counts(&target), counts, "pg_restore {args:?}");
        assert_eq!(contents(&target), want, "pg_restore {args:?}");
        c.drop_db(&target);
    }

    // From stdin (no seeking at all: the blocks must be in TOC order).
    let target = target_db("stream_stdin");
    let bytes = std::fs::read(archive).unwrap();
    run_ok(
        c.command("pg_restore")
            .args(["--exit-on-error", "-d", &target]),
        Some(&bytes),
        "pg_restore from stdin",
    );
    assert_eq!(c.table_counts(&target), counts);
    c.drop_db(&target);

    // -t: one table, its data only in it.
    let target = target_db("stream_one_table");
    pg_restore(&["--exit-on-error", "-d", &target, "-t", "orders"], archive);
    assert_eq!(
        c.psql(&target, "SELECT count(*) FROM orders;").trim(),
        "5000"
    );
    c.drop_db(&target);

    // --schema-only, then --data-only.
    let target = target_db("stream_data_only");
    pg_restore(
        &["--exit-on-error", "-d", &target, "--schema-only"],
        archive,
    );
    assert_eq!(c.psql(&target, "SELECT count(*) FROM orders;").trim(), "0");
    pg_restore(
        &[
            "--exit-on-error",
            "-d",
            &target,
            "--data-only",
            "--disable-triggers",
        ],
        archive,
    );
    let data_counts: Vec<_> = c.table_counts(&target);
    assert_eq!(data_counts, counts);
    c.drop_db(&target);
}

#[test]
fn uploaded_archive_restores_in_every_pg_restore_mode() {
    let db = varied_db();
    let server = S3Server::start(BUCKET);
    // Upload only: the archive goes straight into the multipart upload.
    let out = ok(
        dump_db(&db, &["--upload", &url()], &[], Some(&server)),
        "dump --upload",
    );
    assert!(server.pending_uploads().is_empty());
    let local = tempfile::tempdir().unwrap();
    ok(
        run(
            pgveil_s3(&server)
                .args(["pull", &url(), "--only", "custom", "--out-dir"])
                .arg(local.path()),
            None,
        ),
        "pull",
    );
    let archive = find(local.path(), "shop.dump");
    // As pg_dump writes to a pipe: no data offsets.
    let (set, data) = offsets_set(&archive);
    assert!(data >= 6, "{data} data entries");
    assert_eq!(set, 0, "a streamed upload has no data offsets");
    assert_restores_in_every_mode(&archive, &db);
    drop(out);
}

#[test]
fn local_archive_is_streamed_with_offsets_patched_in_and_equals_the_spooled_one() {
    let db = varied_db();
    let streamed = tempfile::tempdir().unwrap();
    let spooled = tempfile::tempdir().unwrap();
    ok(
        dump_db(
            &db,
            &["--out-dir", streamed.path().to_str().unwrap()],
            &[],
            None,
        ),
        "dump (streamed)",
    );
    ok(
        dump_db(
            &db,
            &["--out-dir", spooled.path().to_str().unwrap()],
            &[("PGVEIL_ARCHIVE_SPOOL", "1")],
            None,
        ),
        "dump (spooled)",
    );
    let a = streamed.path().join("shop.dump");
    let b = spooled.path().join("shop.dump");
    let (set, data) = offsets_set(&a);
    assert_eq!(set, data, "offsets patched in on a local file");
    assert_eq!(listing(&a), listing(&b));
    assert!(
        without_time(&a) == without_time(&b),
        "the streamed archive differs from the spooled one"
    );
    // The manifest's checksum is the patched file's.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(streamed.path().join("shop.manifest.json")).unwrap())
            .unwrap();
    let sha = manifest["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["file"] == "shop.dump")
        .unwrap()["sha256"]
        .as_str()
        .unwrap()
        .to_string();
    use sha2::Digest;
    assert_eq!(
        sha,
        hex::encode(sha2::Sha256::digest(std::fs::read(&a).unwrap()))
    );
    assert_restores_in_every_mode(&a, &db);

    // The masked archive too (its entries and data as the masked view gives them).
    let masked = tempfile::tempdir().unwrap();
    let masked_spooled = tempfile::tempdir().unwrap();
    for (dir, envs) in [
        (&masked, &[][..]),
        (&masked_spooled, &[("PGVEIL_ARCHIVE_SPOOL", "1")][..]),
    ] {
        ok(
            dump_db(
                &db,
                &[
                    "--custom-data",
                    "anon",
                    "--out-dir",
                    dir.path().to_str().unwrap(),
                ],
                envs,
                None,
            ),
            "dump --custom-data anon",
        );
    }
    assert_eq!(
        listing(&masked.path().join("shop.dump")),
        listing(&masked_spooled.path().join("shop.dump"))
    );
}

/// A plain dump file and the archives pgveil makes of it: as a file (pre-scanned, streamed), as a
/// gz file, and on stdin (spooled).
#[test]
fn input_file_archives_are_byte_identical_to_the_spooled_ones() {
    let c = cluster();
    for db in [c.load_fixture("kitchen_sink"), varied_db()] {
        let dir = tempfile::tempdir().unwrap();
        let plain = c.pg_dump(&db, &[]);
        let file = dir.path().join("in.sql");
        std::fs::write(&file, &plain).unwrap();
        let gz = dir.path().join("in.sql.gz");
        std::fs::write(&gz, crate::support::gzip(&plain)).unwrap();
        let mut archives = Vec::new();
        for (what, input, stdin) in [
            ("file", file.to_str().unwrap(), None),
            ("gz", gz.to_str().unwrap(), None),
            ("stdin", "-", Some(&plain[..])),
        ] {
            let out_dir = dir.path().join(what);
            ok(
                run(
                    pgveil()
                        .args([
                            "dump",
                            "--input",
                            input,
                            "--name",
                            "x",
                            "--outputs",
                            "custom",
                        ])
                        .arg("--out-dir")
                        .arg(&out_dir),
                    stdin,
                ),
                &format!("dump --input ({what})"),
            );
            archives.push(out_dir.join("x.dump"));
        }
        let spooled = &archives[2];
        for a in &archives[..2] {
            assert_eq!(listing(a), listing(spooled), "{}", a.display());
            assert!(
                without_time(a) == without_time(spooled),
                "{} differs from the spooled archive",
                a.display()
            );
        }
    }
}

fn mount_tmpfs(dir: &Path) -> bool {
    Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success())
}

fn big_db() -> String {
    let c = cluster();
    let db = c.create_db("stream_big");
    // ~12 MiB of COPY text that compresses to several MiB: far more than the 1 MiB temp folder.
    c.psql(
        &db,
        "CREATE TABLE big (id int PRIMARY KEY, payload text NOT NULL);
         INSERT INTO big SELECT g, md5(g::text) || md5((g * 7)::text) || md5((g * 13)::text)
           FROM generate_series(1, 120000) g;",
    );
    db
}

/// Files in `dir` larger than a few KiB (a spool would be megabytes).
fn large_files(dir: &Path) -> Vec<(PathBuf, u64)> {
    walk(dir)
        .into_iter()
        .filter_map(|p| {
            let len = std::fs::metadata(&p).ok()?.len();
            (len > 8 << 10).then_some((p, len))
        })
        .collect()
}

#[test]
fn upload_only_dump_writes_nothing_to_local_disk() {
    let db = big_db();
    let server = S3Server::start(BUCKET);
    let tmp = tempfile::tempdir().unwrap();
    let mounted = mount_tmpfs(tmp.path());
    eprintln!("1 MiB tmpfs as the temp folder: {mounted}");
    let envs = [("TMPDIR", tmp.path().to_str().unwrap())];

    // From the database, and from a file: nothing but the upload.
    let plain_file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(plain_file.path(), cluster().pg_dump(&db, &[])).unwrap();
    for source in [
        vec!["--dbname", db.as_str()],
        vec!["--input", plain_file.path().to_str().unwrap()],
    ] {
        let mut cmd = pgveil_s3(&server);
        cmd.args(["dump", "--name", "big", "--upload", &url()])
            .args(&source)
            .env_remove("PGVEIL_SPOOL_DIR");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let mut child = cmd
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // While it runs: no spool appears.
        let mut seen = Vec::new();
        while child.try_wait().unwrap().is_none() {
            seen.extend(large_files(tmp.path()));
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        ok(out, &format!("dump --upload {source:?}"));
        assert!(
            seen.is_empty(),
            "{source:?} wrote to the temp folder: {seen:?}"
        );
        assert!(large_files(tmp.path()).is_empty());
    }
    let objects = server.objects(BUCKET);
    assert_eq!(
        objects.iter().filter(|o| o.ends_with("/big.dump")).count(),
        2,
        "{objects:?}"
    );

    // The control: a dump on stdin still needs the spool, which cannot fit a 1 MiB tmpfs.
    if mounted {
        let mut cmd = pgveil_s3(&server);
        cmd.args(["dump", "--input", "-", "--name", "big", "--upload", &url()])
            .env_remove("PGVEIL_SPOOL_DIR");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let plain = std::fs::read(plain_file.path()).unwrap();
        let out = run(&mut cmd, Some(&plain));
        assert!(
            !out.status.success(),
            "the spool of a stdin dump fit in a 1 MiB tmpfs?"
        );
        let err = String::from_utf8_lossy(&out.stderr);
        eprintln!("stdin dump with a 1 MiB temp folder: {err}");
        assert!(err.contains("spool") || err.contains("space"), "{err}");
        assert!(server.pending_uploads().is_empty());
        let _ = Command::new("umount").arg(tmp.path()).status();
    }
}

/// Whether process `pid` has `path` open.
fn has_open(pid: u32, path: &Path) -> bool {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .any(|fd| std::fs::read_link(fd.path()).is_ok_and(|t| t == path))
        })
        .unwrap_or(false)
}

/// Open the FIFO for writing once a reader is there; `None` if `pid` ended first.
fn open_for_writer(fifo: &Path, pid: u32) -> Option<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    loop {
        // Non-blocking: fails (ENXIO) while no reader has the FIFO open.
        let probe = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(fifo);
        if probe.is_ok() {
            // A reader is there: a blocking open returns at once.
            return std::fs::OpenOptions::new().write(true).open(fifo).ok();
        }
        if !Path::new(&format!("/proc/{pid}")).exists() {
            return None;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// An input whose contents change between the pre-scan and the pass: a FIFO that gives the
/// pre-scan (pgveil's first open) one dump and the pass (its second) another.
/// With `server`, the archive is uploaded too.
fn dump_changed_between_reads(
    first: Vec<u8>,
    second: Vec<u8>,
    server: Option<&S3Server>,
) -> (Output, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("in.sql");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let out_dir = dir.path().join("out");
    let mut cmd = match server {
        Some(s) => pgveil_s3(s),
        None => pgveil(),
    };
    cmd.args(["dump", "--input"])
        .arg(&fifo)
        .args(["--name", "x", "--outputs", "custom", "--out-dir"])
        .arg(&out_dir);
    if server.is_some() {
        cmd.args(["--upload", &url()]);
    }
    let child = cmd
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let writer = std::thread::spawn(move || {
        for (i, bytes) in [first, second].into_iter().enumerate() {
            if i == 1 {
                // The second version only once the pre-scan has closed the FIFO: the next
                // reader is the pass.
                while has_open(pid, &fifo) {
                    std::thread::sleep(std::time::Duration::from_millis(5));
                }
            }
            let Some(mut f) = open_for_writer(&fifo, pid) else {
                return;
            };
            // A reader that stops early (the failing pass) is fine.
            let _ = std::io::Write::write_all(&mut f, &bytes);
        }
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    (out, dir)
}

#[test]
fn an_input_that_changes_between_pre_scan_and_pass_fails() {
    let db = varied_db();
    let plain = String::from_utf8(cluster().pg_dump(&db, &[])).unwrap();

    // The data of a table left out.
    let start = plain
        .find("--\n-- Data for Name: orders; Type: TABLE DATA")
        .unwrap();
    let end = start + plain[start..].find("\\.\n\n\n").unwrap() + 5;
    let without_orders = format!("{}{}", &plain[..start], &plain[end..]);
    // A table renamed.
    let renamed = plain.replace("empty_one", "empty_two");
    // Cut after a table's data (everything after it missing).
    let cut = plain[..end].to_string();
    // Everything after the data left out, the trailer kept.
    let name = plain.find("\n-- Name: customers customers_pkey;").unwrap();
    // The header's opening "--", and the state lines before it.
    let mut before = &plain[..name - 2];
    for state in [
        "SET default_tablespace = '';\n\n",
        "SET default_table_access_method = heap;\n\n",
    ] {
        before = before.strip_suffix(state).unwrap_or(before);
    }
    let post = before.len();
    let trailer = plain
        .find("--\n-- PostgreSQL database dump complete")
        .unwrap();
    let no_post_data = format!("{}{}", &plain[..post], &plain[trailer..]);

    let server = S3Server::start(BUCKET);
    for (what, second, expect) in [
        ("data left out", without_orders, "was announced"),
        ("renamed", renamed, "was announced"),
        ("truncated", cut, ""),
        (
            "post-data left out",
            no_post_data,
            "the dump ended before CONSTRAINT",
        ),
    ] {
        let (out, dir) = dump_changed_between_reads(
            plain.clone().into_bytes(),
            second.into_bytes(),
            Some(&server),
        );
        assert!(!out.status.success(), "{what}: the run succeeded");
        let err = String::from_utf8_lossy(&out.stderr);
        eprintln!("{what}: {err}");
        assert!(err.contains(expect), "{what}: {err}");
        let out_dir = dir.path().join("out");
        let left: Vec<_> = if out_dir.exists() {
            walk(&out_dir)
        } else {
            Vec::new()
        };
        assert!(
            left.iter().all(|p| !p.to_string_lossy().contains("x.dump")),
            "{what}: {left:?}"
        );
        // The upload was aborted.
        assert!(server.objects(BUCKET).is_empty(), "{what}");
        assert!(server.pending_uploads().is_empty(), "{what}");
    }
    // The same file read twice unchanged is fine.
    let (out, _dir) =
        dump_changed_between_reads(plain.clone().into_bytes(), plain.into_bytes(), None);
    ok(out, "unchanged FIFO input");
}

/// Two archives alike but for their data offsets (set in one, not in the other) and creation
/// time: the same header, TOC entries, and data blocks byte for byte.
fn assert_same_but_offsets(a: &Path, b: &Path, what: &str) {
    let (x, y) = (read_archive(a).unwrap(), read_archive(b).unwrap());
    let entries = |e: &[pgveil::archive::TocEntry]| {
        e.iter()
            .map(|e| pgveil::archive::TocEntry {
                offset: (0, 0),
                ..e.clone()
            })
            .collect::<Vec<_>>()
    };
    assert!(
        entries(&x.entries) == entries(&y.entries),
        "{what}: TOC entries differ"
    );
    assert_eq!(x.toc_end, y.toc_end, "{what}");
    let (bx, by) = (std::fs::read(a).unwrap(), std::fs::read(b).unwrap());
    assert!(
        bx[x.toc_end as usize..] == by[y.toc_end as usize..],
        "{what}: data blocks differ"
    );
}

/// pg_dump's options change the entries (and how they are printed): the announcement, read from
/// pg_dump -Fc's TOC and printed by pg_restore with the same options, still matches the dump
/// entry for entry, and the archive equals the spooled one.
#[test]
fn dbname_archives_equal_the_spooled_ones_whatever_the_pg_dump_options() {
    let db = cluster().load_fixture("kitchen_sink");
    let option_sets: [&[&str]; 15] = [
        &[],
        &["--data-only"],
        &["--data-only", "--disable-triggers"],
        &["--schema-only"],
        &["-n", "app"],
        &["-t", "app.accounts", "-t", "app.tickets"],
        &["--exclude-table-data=app.events*"],
        &["--load-via-partition-root"],
        &["--no-owner", "--no-privileges", "--no-comments"],
        &["-v"],
        &["--create"],
        &["--exclude-table=app.notes", "--no-tablespaces"],
        &["--use-set-session-authorization"],
        &["--enable-row-security"],
        &["--quote-all-identifiers"],
    ];
    let server = S3Server::start(BUCKET);
    for options in option_sets {
        let mut archives = Vec::new();
        let mut keep = Vec::new();
        for envs in [&[("PGVEIL_ARCHIVE_SPOOL", "1")][..], &[][..]] {
            let dir = tempfile::tempdir().unwrap();
            let mut extra = vec!["--out-dir", dir.path().to_str().unwrap(), "--"];
            extra.extend_from_slice(options);
            ok(
                dump_db(&db, &extra, envs, None),
                &format!("dump {options:?} {envs:?}"),
            );
            archives.push(dir.path().join("shop.dump"));
            keep.push(dir);
        }
        assert_eq!(listing(&archives[0]), listing(&archives[1]), "{options:?}");
        assert!(
            without_time(&archives[0]) == without_time(&archives[1]),
            "{options:?}: the spooled archive differs from the streamed one"
        );
        let (set, data) = offsets_set(&archives[1]);
        assert_eq!(set, data, "{options:?}");
        if options == ["-v"] || options == ["--quote-all-identifiers"] {
            // Not announced (see archive::skeleton): spooled.
            continue;
        }
        // Uploaded with no usable spool folder: streamed, or the run fails.
        let url = url();
        let mut extra = vec!["--upload", &url, "--"];
        extra.extend_from_slice(options);
        let out = ok(
            dump_db(
                &db,
                &extra,
                &[("PGVEIL_SPOOL_DIR", "/nonexistent/pgveil-spool")],
                Some(&server),
            ),
            &format!("dump --upload {options:?}"),
        );
        let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let local = tempfile::tempdir().unwrap();
        ok(
            run(
                pgveil_s3(&server)
                    .args([
                        "pull",
                        &url,
                        "--backup",
                        &id,
                        "--only",
                        "custom",
                        "--out-dir",
                    ])
                    .arg(local.path()),
                None,
            ),
            "pull",
        );
        let uploaded = find(local.path(), "shop.dump");
        assert_eq!(offsets_set(&uploaded).0, 0, "{options:?}");
        assert_same_but_offsets(&uploaded, &archives[1], &format!("{options:?}"));
    }
}

/// A streamed archive never holds a data block in memory: uploading a ~320 MiB uncompressed
/// archive (one table) in 5 MiB parts, with no usable spool folder, peaks well under its size.
#[test]
fn streamed_upload_memory_stays_bounded() {
    let c = cluster();
    let db = c.create_db("stream_mem");
    c.psql(
        &db,
        "CREATE TABLE big (id int PRIMARY KEY, payload text NOT NULL);
         INSERT INTO big SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, 1700000) g;",
    );
    let server = S3Server::start(BUCKET);
    let mut cmd = pgveil_s3(&server);
    cmd.env("PGVEIL_S3_PART_SIZE", (5 << 20).to_string())
        .env("PGVEIL_SPOOL_DIR", "/nonexistent/pgveil-spool")
        .args(["dump", "--dbname", &db, "--name", "big", "--upload", &url()])
        .args(["--outputs", "custom", "--custom-compression", "0"]);
    let (out, kib) = crate::support::peak_rss_kib(&cmd);
    let out = ok(out, "streamed dump of a large table");
    eprintln!("peak RSS {kib} KiB");
    let id = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let object = server
        .root()
        .join(BUCKET)
        .join("db")
        .join(&id)
        .join("big.dump");
    let size = std::fs::metadata(&object).unwrap().len();
    assert!(size > 300 << 20, "archive only {size} bytes");
    assert!(
        kib * 1024 < size / 2,
        "peak RSS {kib} KiB for a {size}-byte archive in 5 MiB parts"
    );
    c.drop_db(&db);
}
