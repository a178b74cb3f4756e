//! Fail closed with secrets and restores (issue 11, items 5–8), with the real pgveil binary, the
//! test cluster and a real S3-compatible server:
//! - a password given in any form libpq accepts never reaches the manifest, stdout or stderr (5);
//! - no child process pgveil spawns has the password on its command line, and libpq's echo of a
//!   malformed URI is not printed (6);
//! - a tampered artifact of the same size is refused before any of it runs: no table committed,
//!   no shell command run, from a folder and from a bucket, plain and custom (7);
//! - `restore --custom` is one transaction (a conflict leaves nothing behind), and `--jobs` into an
//!   existing database is refused unless the risk is accepted (8).

use crate::support;

use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use support::s3::{pgveil_s3, upload_shop, S3Server};
use support::{cluster, ok, pgveil, run};

const BUCKET: &str = "backups";

fn url() -> String {
    format!("s3://{BUCKET}/db/")
}

fn fails(out: &Output, what: &str) -> String {
    assert!(
        !out.status.success(),
        "{what} should have failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn example_db() -> String {
    cluster().load_fixture("example")
}

fn cluster_user() -> String {
    cluster()
        .env()
        .into_iter()
        .find(|(k, _)| k == "PGUSER")
        .map(|(_, v)| v)
        .unwrap()
}

/// Percent-encode everything but unreserved characters and `/` (for a socket path in a URI).
fn pct(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `postgresql://USER:PASSWORD@/DB?host=SOCKET&port=PORT` for the test cluster.
fn uri_with_password(db: &str, password: &str) -> String {
    let c = cluster();
    format!(
        "postgresql://{}:{password}@/{db}?host={}&port={}",
        cluster_user(),
        pct(&c.socket_dir().to_string_lossy()),
        c.port()
    )
}

/// Whether `db` exists in the test cluster.
fn database_exists(db: &str) -> bool {
    cluster()
        .psql(
            "postgres",
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{db}';"),
        )
        .trim()
        == "1"
}

/// Every file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

fn contains(hay: &[u8], needle: &str) -> bool {
    memchr::memmem::find(hay, needle.as_bytes()).is_some()
}

// ---------------------------------------------------------------------------------------------
// Item 5: the password in any form stays out of the manifest and of pgveil's output.

#[test]
fn a_password_in_any_form_stays_out_of_the_manifest_and_output() {
    let db = example_db();
    let c = cluster();
    let sock = c.socket_dir().to_string_lossy().into_owned();
    let port = c.port();
    let user = cluster_user();
    let enc = pct(&sock);
    // (connection string, the secret as libpq reads it, the secret as written)
    let forms: Vec<(String, &str, &str)> = vec![
        (
            format!("host='{sock}' port={port} user={user} dbname={db} password = Pw5spaces"),
            "Pw5spaces",
            "Pw5spaces",
        ),
        (
            format!("host='{sock}' port={port} dbname={db} password='Pw5 quo\\'ted' user={user}"),
            "Pw5 quo'ted",
            "Pw5 quo\\'ted",
        ),
        (
            format!("password=Pw5\\ escaped host='{sock}' port={port} dbname={db}"),
            "Pw5 escaped",
            "Pw5\\ escaped",
        ),
        (
            format!("postgresql://{user}:Pw5userinfo@/{db}?host={enc}&port={port}"),
            "Pw5userinfo",
            "Pw5userinfo",
        ),
        (
            format!("postgres://{user}@/{db}?host={enc}&port={port}&password=Pw5query"),
            "Pw5query",
            "Pw5query",
        ),
        (
            format!("postgresql://{user}:Pw5%70ct%3Aenc@/{db}?host={enc}&port={port}"),
            "Pw5pct:enc",
            "Pw5%70ct%3Aenc",
        ),
        (
            format!("postgresql:///{db}?host={enc}&port={port}&pass%77ord=Pw5%6Bey"),
            "Pw5key",
            "Pw5%6Bey",
        ),
        // (Without SSL the server never asks for it; the string is accepted all the same.)
        (
            format!("host='{sock}' port={port} dbname={db} sslpassword='Pw5 ssl'"),
            "Pw5 ssl",
            "Pw5 ssl",
        ),
        (
            format!("postgresql://{user}@/{db}?host={enc}&port={port}&sslpassword=Pw5sslq"),
            "Pw5sslq",
            "Pw5sslq",
        ),
    ];
    for (conn, secret, written) in &forms {
        let out_dir = tempfile::tempdir().unwrap();
        let out = ok(
            run(
                pgveil()
                    .args([
                        "dump",
                        "--dbname",
                        conn,
                        "--name",
                        "shop",
                        "-v",
                        "--out-dir",
                    ])
                    .arg(out_dir.path()),
                None,
            ),
            &format!("dump --dbname {conn}"),
        );
        let manifest = std::fs::read_to_string(out_dir.path().join("shop.manifest.json")).unwrap();
        let v: serde_json::Value = serde_json::from_str(&manifest).unwrap();
        let source = v["source"].as_str().unwrap();
        assert!(source.contains("****"), "{conn}: source {source:?}");
        assert!(
            source.contains(&db),
            "{conn}: the source keeps the database: {source:?}"
        );
        for needle in [*secret, *written] {
            for (what, bytes) in [
                ("stdout", &out.stdout),
                ("stderr", &out.stderr),
                ("manifest", &manifest.as_bytes().to_vec()),
            ] {
                assert!(
                    !contains(bytes, needle),
                    "{conn}: {what} holds the password {needle:?}:\n{}",
                    text(bytes)
                );
            }
            for f in files_under(out_dir.path()) {
                let bytes = std::fs::read(&f).unwrap();
                assert!(
                    !contains(&bytes, needle),
                    "{conn}: {} holds it",
                    f.display()
                );
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Item 6: no child has the password on its command line; libpq's echo is redacted.

/// A folder of wrappers for the PostgreSQL clients pgveil spawns: each logs its arguments (and
/// whether PGPASSWORD reached it) to `log`, then runs the real program.
pub(crate) fn client_wrappers(dir: &Path, log: &Path) {
    use std::os::unix::fs::PermissionsExt;
    for program in ["pg_dump", "psql", "pg_restore", "createdb", "dropdb"] {
        let real = std::env::var_os("PATH")
            .and_then(|p| {
                std::env::split_paths(&p)
                    .map(|d| d.join(program))
                    .find(|c| c.is_file())
            })
            .unwrap_or_else(|| cluster().bindir().join(program));
        let script = format!(
            "#!/bin/sh\n{{ printf 'ARGV %s' '{program}'; for a in \"$@\"; do printf ' [%s]' \"$a\"; done; \
             printf '\\nENV %s %s\\n' '{program}' \"${{PGPASSWORD-}}\"; }} >> '{}'\nexec '{}' \"$@\"\n",
            log.display(),
            real.display()
        );
        let path = dir.join(program);
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// Polls `/proc/*/cmdline` of every process but pgveil itself (its own arguments are what the
/// user typed) until stopped; collects every command line that holds `secret`.
pub(crate) struct CmdlineWatch {
    stop: Arc<AtomicBool>,
    hits: Arc<Mutex<Vec<String>>>,
    seen: Arc<Mutex<usize>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl CmdlineWatch {
    pub(crate) fn start(secret: &str) -> CmdlineWatch {
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::new(Mutex::new(0));
        let secret = secret.to_string();
        let pgveil_exe = std::fs::canonicalize(
            std::env::var_os("PGVEIL_BIN")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_pgveil"))),
        )
        .unwrap();
        let me = std::process::id();
        let thread = {
            let (stop, hits, seen) = (stop.clone(), hits.clone(), seen.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let Ok(procs) = std::fs::read_dir("/proc") else {
                        return;
                    };
                    for e in procs.flatten() {
                        let name = e.file_name();
                        let Some(pid) = name.to_str().and_then(|s| s.parse::<u32>().ok()) else {
                            continue;
                        };
                        if pid == me {
                            continue;
                        }
                        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
                            continue;
                        };
                        if !contains(&cmdline, &secret) {
                            continue;
                        }
                        // pgveil itself, or a fork of it not yet exec'ed into a child program
                        // (caught inside execve, its `exe` may already be unreadable while its
                        // command line is still pgveil's: argv[0] tells).
                        let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
                        if std::fs::read_link(e.path().join("exe")).ok().as_deref()
                            == Some(pgveil_exe.as_path())
                            || std::fs::canonicalize(std::ffi::OsStr::from_bytes(argv0)).ok()
                                == Some(pgveil_exe.clone())
                        {
                            *seen.lock().unwrap() += 1;
                            continue;
                        }
                        hits.lock().unwrap().push(text(&cmdline).replace('\0', " "));
                    }
                }
            })
        };
        CmdlineWatch {
            stop,
            hits,
            seen,
            thread: Some(thread),
        }
    }

    /// Stop polling; the command lines that held the secret, and whether pgveil itself was seen
    /// (the poller did look while it ran).
    pub(crate) fn finish(mut self) -> (Vec<String>, bool) {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.take().unwrap().join().unwrap();
        let hits = self.hits.lock().unwrap().clone();
        let seen = *self.seen.lock().unwrap() > 0;
        (hits, seen)
    }
}

#[test]
fn no_child_has_the_password_on_its_command_line() {
    const SECRET: &str = "Pw6CmdlineSecret";
    let db = example_db();
    let conn = uri_with_password(&db, SECRET);
    let wrappers = tempfile::tempdir().unwrap();
    let log = wrappers.path().join("calls.log");
    client_wrappers(wrappers.path(), &log);
    let path = format!(
        "{}:{}",
        wrappers.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let with_path = |mut cmd: Command| {
        cmd.env("PATH", &path);
        cmd
    };
    let out_dir = tempfile::tempdir().unwrap();
    let restored = cluster().unique_name("restored_pw");
    let restored_conn = uri_with_password(&restored, SECRET);

    let watch = CmdlineWatch::start(SECRET);
    let runs: Vec<(&str, Command)> = vec![
        ("dump", {
            let mut c = with_path(pgveil());
            c.args(["dump", "--dbname", &conn, "--name", "shop", "--set"])
                .arg("--out-dir")
                .arg(out_dir.path());
            c
        }),
        ("rules init", {
            let mut c = with_path(pgveil());
            c.args(["rules", "init", "--dbname", &conn]);
            c
        }),
        ("rules init (sslpassword)", {
            let mut c = with_path(pgveil());
            c.args([
                "rules",
                "init",
                "--dbname",
                &format!("{conn}&sslpassword={SECRET}"),
            ]);
            c
        }),
        ("rules import-labels", {
            let mut c = with_path(pgveil());
            c.args(["rules", "import-labels", "--dbname", &conn]);
            c
        }),
    ];
    let mut outputs = Vec::new();
    for (what, mut cmd) in runs {
        outputs.push((what, run(&mut cmd, None)));
    }
    let loc = out_dir.path().to_str().unwrap().to_string();
    let restore = run(
        with_path(pgveil()).args([
            "restore",
            &loc,
            "--custom",
            "--create",
            "--dbname",
            &restored_conn,
        ]),
        None,
    );
    outputs.push(("restore --custom --create", restore));
    let (hits, seen) = watch.finish();
    assert!(seen, "the poller never saw pgveil run");
    assert!(
        hits.is_empty(),
        "command lines with the password: {hits:#?}"
    );
    for (what, out) in &outputs {
        assert!(
            !contains(&out.stderr, SECRET),
            "{what}: {}",
            text(&out.stderr)
        );
        assert!(!contains(&out.stdout, SECRET), "{what}");
    }
    for (what, out) in &outputs {
        // import-labels fails (the fixture has no labels) after pg_dump ran: fine here.
        if *what != "rules import-labels" {
            ok(
                Output {
                    status: out.status,
                    stdout: out.stdout.clone(),
                    stderr: out.stderr.clone(),
                },
                what,
            );
        }
    }

    // Every child's arguments, as the wrappers logged them: none has the password, and it
    // reached them through PGPASSWORD.
    let calls = std::fs::read_to_string(&log).unwrap();
    let argv: Vec<&str> = calls.lines().filter(|l| l.starts_with("ARGV ")).collect();
    for program in ["pg_dump", "psql", "pg_restore", "createdb"] {
        assert!(
            argv.iter()
                .any(|l| l.starts_with(&format!("ARGV {program} "))),
            "{program} never ran: {calls}"
        );
        assert!(
            calls.contains(&format!("ENV {program} {SECRET}\n")),
            "{program} did not get PGPASSWORD: {calls}"
        );
    }
    for l in &argv {
        assert!(!l.contains(SECRET), "password on a command line: {l}");
    }
    assert!(
        argv.iter().any(|l| l.contains("service='pgveil'")),
        "the sslpassword went through the service file: {calls}"
    );
    assert!(
        cluster().table_counts(&restored).len() == 4,
        "the restore through the URI worked"
    );
    cluster().drop_db(&restored);
}

#[test]
fn a_malformed_uri_with_the_password_gets_a_redacted_error() {
    const SECRET: &str = "Pw6MalformedSecret";
    let out_dir = tempfile::tempdir().unwrap();
    for conn in [
        // libpq: `end of string reached when looking for matching "]" … in URI: "<the URI>"`
        format!("postgresql://u:{SECRET}@[::1/db"),
        format!("postgresql://u:{SECRET}@[::1]x/db"),
        // libpq: `invalid percent-encoded token: "<the password>"`
        format!("postgresql://u:{SECRET}%zz@/db"),
        format!("postgresql://u@/db?password={SECRET}%00"),
        format!("host=/tmp password='{SECRET}"),
    ] {
        let out = run(
            pgveil()
                .args(["dump", "--dbname", &conn, "--name", "shop", "--out-dir"])
                .arg(out_dir.path()),
            None,
        );
        let err = fails(&out, &conn);
        assert!(!err.contains(SECRET), "{conn}: {err}");
        assert!(err.contains("malformed"), "{conn}: {err}");
        let out = run(
            pgveil().args([
                "restore",
                out_dir.path().to_str().unwrap(),
                "--dbname",
                &conn,
            ]),
            None,
        );
        let err = fails(&out, &conn);
        assert!(!err.contains(SECRET), "{conn}: {err}");
    }
}

// ---------------------------------------------------------------------------------------------
// Item 7: a tampered artifact is refused before any of it runs.

/// A valid gzip file of exactly `size` bytes whose text is `sql` (one line), then an SQL comment of
/// several MB (so that psql must have read, and run, the first line before a writer can hand it
/// the whole text: far more than a pipe holds), then a comment padding the file to `size`. Two gzip
/// members: the SQL and the long comment compressed, then a stored (level 0) one whose size is
/// exact.
fn same_size_gzip(sql: &str, size: usize) -> Vec<u8> {
    let gz = |text: &str, level: flate2::Compression| {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), level);
        enc.write_all(text.as_bytes()).unwrap();
        enc.finish().unwrap()
    };
    let head = gz(
        &format!("{sql}\n-- {}\n", "x".repeat(4 << 20)),
        flate2::Compression::best(),
    );
    let mut pad = 0usize;
    for _ in 0..50 {
        let tail = gz(
            &format!("-- {}\n", "y".repeat(pad)),
            flate2::Compression::none(),
        );
        let len = head.len() + tail.len();
        if len == size {
            return [head, tail].concat();
        }
        if len < size {
            pad += size - len;
        } else {
            pad = pad.checked_sub(len - size).expect("artifact too small");
        }
    }
    panic!("no padding gives {size} bytes");
}

/// Replace `path` with the attack: same size, valid gzip, SQL that commits and runs a shell.
fn tamper_plain(path: &Path, touched: &Path) {
    let size = std::fs::metadata(path).unwrap().len() as usize;
    let sql = format!(
        "CREATE TABLE a(); COMMIT; CREATE TABLE b(); BEGIN; \\! touch {}",
        touched.display()
    );
    let bytes = same_size_gzip(&sql, size);
    std::fs::write(path, bytes).unwrap();
    assert_eq!(std::fs::metadata(path).unwrap().len() as usize, size);
}

/// Replace the table comment's statement in a custom archive's TOC with one of the same length
/// that commits a table of its own (pg_restore runs a TOC entry's SQL as it stands).
fn tamper_custom(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let start = memchr::memmem::find(&bytes, b"COMMENT ON TABLE public.t IS").expect("comment");
    let end = start + memchr::memmem::find(&bytes[start..], b"';").unwrap() + 2;
    // (pg_restore runs with an empty search_path, as pg_dump's SQL expects.)
    let head = "CREATE TABLE public.a(); COMMIT; CREATE TABLE public.b(); BEGIN; SELECT '";
    let body = format!("{head}{}';", "y".repeat(end - start - head.len() - 2));
    assert_eq!(body.len(), end - start);
    bytes[start..end].copy_from_slice(body.as_bytes());
    std::fs::write(path, bytes).unwrap();
}

/// A database whose custom archive is larger than 64 KiB, with a table comment early in its TOC.
fn commented_db() -> String {
    let db = cluster().create_db("tamper_src");
    cluster().psql(
        &db,
        &format!(
            "CREATE TABLE public.t (id int PRIMARY KEY, v text);\n\
             COMMENT ON TABLE public.t IS '{}';\n\
             INSERT INTO public.t SELECT g, md5(g::text) || md5((g * 7)::text) FROM generate_series(1, 20000) g;",
            "x".repeat(300)
        ),
    );
    db
}

fn assert_nothing_ran(target: &str, touched: &Path, what: &str) {
    assert!(
        cluster().table_counts(target).is_empty(),
        "{what}: tables committed: {:?}",
        cluster().table_counts(target)
    );
    assert!(!touched.exists(), "{what}: the shell command ran");
}

#[test]
fn a_tampered_plain_artifact_never_reaches_psql() {
    let db = example_db();
    let dir = tempfile::tempdir().unwrap();
    let touched = dir.path().join("touched");
    let sets = dir.path().join("sets");
    let out = ok(
        run(
            pgveil()
                .args([
                    "dump",
                    "--dbname",
                    &db,
                    "--name",
                    "shop",
                    "--set",
                    "--out-dir",
                ])
                .arg(&sets),
            None,
        ),
        "dump --set",
    );
    let id = text(&out.stdout).trim().to_string();
    tamper_plain(&sets.join(&id).join("shop.anon.gz"), &touched);
    let loc = sets.to_str().unwrap();

    let target = cluster().create_db("tampered_local");
    let out = run(
        pgveil().args(["restore", loc, "--anon", "--dbname", &target]),
        None,
    );
    let err = fails(&out, "restore of a tampered artifact");
    assert!(
        err.contains("shop.anon.gz") && err.contains("corrupt"),
        "{err}"
    );
    assert_nothing_ran(&target, &touched, "restore from a folder");

    // --create: the database is not even created.
    let fresh = cluster().unique_name("tampered_create");
    let out = run(
        pgveil().args(["restore", loc, "--anon", "--create", "--dbname", &fresh]),
        None,
    );
    fails(&out, "restore --create of a tampered artifact");
    assert!(!database_exists(&fresh));
    assert!(!touched.exists());

    let out = run(
        pgveil().args(["restore", loc, "--anon", "--to-stdout"]),
        None,
    );
    fails(&out, "restore --to-stdout of a tampered artifact");
    assert!(out.stdout.is_empty(), "SQL printed: {}", text(&out.stdout));

    // The same from a bucket.
    let server = S3Server::start(BUCKET);
    let out = upload_shop(&server, &db, &url());
    let id = text(&out.stdout).trim().to_string();
    let object = server
        .root()
        .join(BUCKET)
        .join("db")
        .join(&id)
        .join("shop.anon.gz");
    tamper_plain(&object, &touched);
    let target = cluster().create_db("tampered_bucket");
    let work = tempfile::tempdir().unwrap();
    let out = run(
        pgveil_s3(&server)
            .args([
                "restore",
                &url(),
                "--anon",
                "--dbname",
                &target,
                "--work-dir",
            ])
            .arg(work.path()),
        None,
    );
    let err = fails(&out, "restore of a tampered object");
    assert!(
        err.contains("shop.anon.gz") && err.contains("corrupt"),
        "{err}"
    );
    assert_nothing_ran(&target, &touched, "restore from a bucket");
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "the download was left in the work folder"
    );
    let out = run(
        pgveil_s3(&server).args(["restore", &url(), "--anon", "--to-stdout"]),
        None,
    );
    fails(&out, "restore --to-stdout of a tampered object");
    assert!(out.stdout.is_empty(), "SQL printed: {}", text(&out.stdout));
    assert!(!touched.exists());
}

#[test]
fn a_tampered_custom_archive_never_reaches_pg_restore() {
    let db = commented_db();
    let server = S3Server::start(BUCKET);
    let sets = tempfile::tempdir().unwrap();
    let out = ok(
        run(
            pgveil_s3(&server)
                .args([
                    "dump",
                    "--dbname",
                    &db,
                    "--name",
                    "shop",
                    "--upload",
                    &url(),
                ])
                .arg("--out-dir")
                .arg(sets.path()),
            None,
        ),
        "dump --upload --out-dir",
    );
    let id = text(&out.stdout).trim().to_string();
    let object = server
        .root()
        .join(BUCKET)
        .join("db")
        .join(&id)
        .join("shop.dump");
    assert!(
        std::fs::metadata(&object).unwrap().len() > 128 * 1024,
        "the archive must be larger than what streaming used to hold back"
    );
    tamper_custom(&object);
    tamper_custom(&sets.path().join(&id).join("shop.dump"));
    let nowhere = sets.path().join("never-touched");

    // From the bucket, streamed before: the TOC's SQL ran while the end was still held back.
    let target = cluster().create_db("tampered_custom_bucket");
    let out = run(
        pgveil_s3(&server).args(["restore", &url(), "--custom", "--dbname", &target]),
        None,
    );
    let err = fails(&out, "restore --custom of a tampered object");
    assert!(
        err.contains("shop.dump") && err.contains("corrupt"),
        "{err}"
    );
    assert_nothing_ran(&target, &nowhere, "restore --custom from a bucket");

    let out = run(
        pgveil_s3(&server).args(["restore", &url(), "--custom", "--to-stdout"]),
        None,
    );
    fails(&out, "restore --custom --to-stdout of a tampered object");
    assert!(out.stdout.is_empty(), "SQL printed");

    // From the folder.
    let target = cluster().create_db("tampered_custom_local");
    let out = run(
        pgveil().args([
            "restore",
            sets.path().to_str().unwrap(),
            "--custom",
            "--dbname",
            &target,
        ]),
        None,
    );
    let err = fails(&out, "restore --custom of a tampered file");
    assert!(err.contains("corrupt"), "{err}");
    assert_nothing_ran(&target, &nowhere, "restore --custom from a folder");
}

// ---------------------------------------------------------------------------------------------
// Item 8: restore --custom is atomic; --jobs into an existing database is refused.

#[test]
fn restore_custom_is_all_or_nothing() {
    let db = example_db();
    let sets = tempfile::tempdir().unwrap();
    ok(
        run(
            pgveil()
                .args([
                    "dump",
                    "--dbname",
                    &db,
                    "--name",
                    "shop",
                    "--set",
                    "--out-dir",
                ])
                .arg(sets.path()),
            None,
        ),
        "dump --set",
    );
    let loc = sets.path().to_str().unwrap();

    // `users` is the archive's last table: the others come first.
    let target = cluster().create_db("conflict");
    cluster().psql(&target, "CREATE TABLE public.users (x int);");
    let out = run(
        pgveil().args(["restore", loc, "--custom", "--dbname", &target]),
        None,
    );
    let err = fails(&out, "restore --custom into a conflicting database");
    assert!(err.contains("users"), "{err}");
    assert_eq!(
        cluster().table_counts(&target),
        [("public.users".to_string(), 0)],
        "a failed restore left part of the archive behind"
    );

    // Parallel workers commit separately: refused into an existing database…
    let existing = cluster().create_db("jobs_existing");
    let out = run(
        pgveil().args([
            "restore", loc, "--custom", "--jobs", "2", "--dbname", &existing,
        ]),
        None,
    );
    let err = fails(&out, "restore --jobs into an existing database");
    assert!(
        err.contains("--jobs") && err.contains("--allow-partial") && err.contains("--create"),
        "{err}"
    );
    assert!(cluster().table_counts(&existing).is_empty());
    // …unless the risk is accepted, or the database is pgveil's own.
    ok(
        run(
            pgveil().args([
                "restore",
                loc,
                "--custom",
                "--jobs",
                "2",
                "--allow-partial",
                "--dbname",
                &existing,
            ]),
            None,
        ),
        "restore --jobs --allow-partial",
    );
    assert_eq!(
        cluster().table_counts(&existing),
        cluster().table_counts(&db)
    );
    let created = cluster().unique_name("jobs_created");
    ok(
        run(
            pgveil().args([
                "restore", loc, "--custom", "--jobs", "2", "--create", "--dbname", &created,
            ]),
            None,
        ),
        "restore --jobs --create",
    );
    assert_eq!(
        cluster().table_counts(&created),
        cluster().table_counts(&db)
    );
    cluster().drop_db(&created);

    // --create into a name that exists: createdb fails, and the database (not pgveil's) stays.
    let out = run(
        pgveil().args(["restore", loc, "--custom", "--create", "--dbname", &target]),
        None,
    );
    fails(&out, "restore --create into an existing name");
    assert!(
        database_exists(&target),
        "createdb failed: nothing of ours to drop"
    );
}

#[test]
fn a_failed_restore_with_create_drops_the_database_it_made() {
    // A set that fails to restore once the database exists: its custom archive names an owner the
    // server lacks (pg_restore fails on `ALTER … OWNER TO`), its plain dump (taken with pg_dump's
    // --create) starts with CREATE DATABASE, which psql cannot run in one transaction.
    let c = cluster();
    let role = c.unique_name("gone_owner");
    let src = c.create_db("owned_src");
    c.psql(
        &src,
        &format!(
            "CREATE ROLE {role}; CREATE TABLE public.t (id int); INSERT INTO public.t VALUES (1);\n\
             ALTER TABLE public.t OWNER TO {role};"
        ),
    );
    let sets = tempfile::tempdir().unwrap();
    ok(
        run(
            pgveil()
                .args([
                    "dump",
                    "--dbname",
                    &src,
                    "--name",
                    "owned",
                    "--set",
                    "--out-dir",
                ])
                .arg(sets.path())
                .args(["--", "--create"]),
            None,
        ),
        "dump --set",
    );
    c.drop_db(&src);
    c.psql("postgres", &format!("DROP ROLE {role};"));
    let loc = sets.path().to_str().unwrap();
    for args in [
        &["--plain"][..],
        &["--custom"],
        &["--custom", "--jobs", "2"],
    ] {
        let target = c.unique_name("dropped_again");
        let out = run(
            pgveil()
                .args(["restore", loc, "--create", "--dbname", &target])
                .args(args),
            None,
        );
        let err = fails(&out, &format!("restore {args:?} --create"));
        assert!(err.contains("dropped again"), "{args:?}: {err}");
        assert!(
            !database_exists(&target),
            "{args:?}: the database --create made is still there"
        );
    }
}

/// SIGTERM while a restore from a bucket is under way: the downloaded artifact (in its private work
/// folder) is removed, not left in the temp dir.
#[test]
fn an_interrupted_restore_from_a_bucket_removes_its_work_folder() {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let db = example_db();
    let server = S3Server::start(BUCKET);
    upload_shop(&server, &db, &url());
    let work = tempfile::tempdir().unwrap();
    let mut child = pgveil_s3(&server)
        .args(["restore", &url(), "--plain", "--to-stdout", "--work-dir"])
        .arg(work.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // A one-page pipe that nobody reads: the restore blocks writing the checked dump to stdout,
    // with the download still in its work folder.
    // SAFETY: fcntl on a pipe descriptor this process owns.
    unsafe { libc::fcntl(stdout.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    let mut first = [0u8; 1];
    stdout
        .read_exact(&mut first)
        .expect("the restore starts writing");
    let held = std::fs::read_dir(work.path()).unwrap().count();
    assert_eq!(
        held, 1,
        "the download's work folder exists while the restore runs"
    );
    // SAFETY: kill on the child's own pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    // The pipe stays open and unread until the child has exited: its writer stays blocked, so only
    // the signal's cleanup can remove the folder.
    let out = child.wait_with_output().unwrap();
    drop(stdout);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("work folder removed"), "{stderr}");
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        0,
        "the interrupted restore left its download behind"
    );
}
