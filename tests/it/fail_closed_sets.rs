//! Fail closed for backup sets, against a real PostgreSQL cluster, real S3-compatible servers
//! (s3s-fs per test; moto's S3 server where ListMultipartUploads is needed) and the real binary
//! (issue 11, items 3, 4, 9 and 14).
//!
//! Contract under test:
//! - two runs of the same NAME into one folder or bucket at once each get a set of their own (or, in
//!   flat mode, the second fails clearly on the folder's lock); no run reports success over a damaged
//!   set (item 3);
//! - flat mode never leaves an old manifest next to new artifacts: a failure while publishing leaves
//!   no manifest (item 4);
//! - SIGINT / SIGTERM during `dump` stop pg_dump, remove partial files and the archive spool, abort
//!   the uploads, say so on one line and exit 130 / 143; `backups list` shows what a killed run left
//!   with its real size, and `backups prune --incomplete-older-than` removes it, including abandoned
//!   multipart uploads (item 9);
//! - an S3 authentication failure is one line with the reason (item 14).

use crate::support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::s3::{pgveil_s3, S3Server};
use support::{cluster, gunzip, ok, pgveil, run};

const BUCKET: &str = "backups";

fn url() -> String {
    format!("s3://{BUCKET}/db/")
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn example_db() -> String {
    cluster().load_fixture("example")
}

/// `backups list LOCATION --json [--verify]` as JSON values.
fn list_json(cmd: &mut Command, location: &str, verify: bool) -> Vec<serde_json::Value> {
    cmd.args(["backups", "list", location, "--json"]);
    if verify {
        cmd.arg("--verify");
    }
    let out = ok(run(cmd, None), "backups list");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list --json");
    v.as_array().unwrap().clone()
}

/// Every file under `dir` (relative paths), recursively, sorted.
fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn unfinished(files: &[String]) -> Vec<String> {
    files
        .iter()
        .filter(|f| f.ends_with(".partial") || f.ends_with(".spool"))
        .cloned()
        .collect()
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Check a folder of artifacts against its manifest (sizes and SHA-256; each .gz decompresses).
fn check_against_manifest(dir: &Path, manifest: &Path) {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(manifest).unwrap()).expect("manifest is JSON");
    for a in m["artifacts"].as_array().unwrap() {
        let file = a["file"].as_str().unwrap();
        let bytes = std::fs::read(dir.join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        assert_eq!(
            bytes.len() as u64,
            a["bytes"].as_u64().unwrap(),
            "{file}: size differs from its manifest"
        );
        assert_eq!(
            sha256_hex(&bytes),
            a["sha256"].as_str().unwrap(),
            "{file}: SHA-256 differs from its manifest"
        );
        if file.ends_with(".gz") {
            gunzip(&bytes);
        }
    }
}

/// Start a command with stdout and stderr going to files (read after it exits).
struct Running {
    child: Child,
    out: PathBuf,
    err: PathBuf,
    _dir: tempfile::TempDir,
}

impl Running {
    fn start(cmd: &mut Command, stdin: Stdio) -> Running {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("stdout");
        let err = dir.path().join("stderr");
        let child = cmd
            .stdin(stdin)
            .stdout(std::fs::File::create(&out).unwrap())
            .stderr(std::fs::File::create(&err).unwrap())
            .spawn()
            .expect("spawning pgveil");
        Running {
            child,
            out,
            err,
            _dir: dir,
        }
    }

    fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    fn signal(&self, sig: i32) {
        // SAFETY: a signal to our own child process.
        assert_eq!(unsafe { libc::kill(self.pid(), sig) }, 0, "kill");
    }

    fn wait(mut self) -> Output {
        let status = self.child.wait().unwrap();
        Output {
            status,
            stdout: std::fs::read(&self.out).unwrap(),
            stderr: std::fs::read(&self.err).unwrap(),
        }
    }
}

/// Wait (up to a minute) until `cond` holds; panics with `what` otherwise.
fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The first half of a plain dump of the example database: a run fed this through a pipe (kept
/// open) is mid-pass, waiting for the rest.
fn half_dump() -> Vec<u8> {
    let dump = cluster().pg_dump(&example_db(), &[]);
    dump[..dump.len() / 2].to_vec()
}

/// Start `pgveil dump --input - …` and feed it half a dump; returns the run and its open stdin.
fn start_half_fed(cmd: &mut Command) -> (Running, ChildStdin) {
    let mut running = Running::start(cmd, Stdio::piped());
    let mut stdin = running.child.stdin.take().unwrap();
    stdin.write_all(&half_dump()).unwrap();
    stdin.flush().unwrap();
    (running, stdin)
}

/// A plain dump large enough that each artifact sends S3 parts of 5 MiB (a table of 300,000 rows
/// of unrelated hex text: about 21 MB of COPY data, 10 MB gzipped), once per test process.
fn big_dump() -> &'static [u8] {
    static DUMP: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    DUMP.get_or_init(|| cluster().pg_dump(big_db(), &[]))
}

/// The database of `big_dump()`, once per test process (read-only for the tests).
fn big_db() -> &'static str {
    static DB: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DB.get_or_init(|| {
        let c = cluster();
        let db = c.create_db("big");
        c.psql(
            &db,
            "CREATE TABLE big (id int PRIMARY KEY, t text);\n\
             INSERT INTO big SELECT i, md5(i::text) || md5((-i)::text) \
             FROM generate_series(1, 300000) i;",
        );
        db
    })
}

/// Start `pgveil dump --input - …` and feed it `big_dump()` up to the end of the big table's data,
/// from a thread; the pass then waits for the rest, which never comes. Join the thread for the
/// open stdin.
fn start_big_fed(cmd: &mut Command) -> (Running, std::thread::JoinHandle<ChildStdin>) {
    let mut running = Running::start(cmd, Stdio::piped());
    let mut stdin = running.child.stdin.take().unwrap();
    let feeder = std::thread::spawn(move || {
        let dump = big_dump();
        let copy = find(dump, b"COPY public.big ").expect("the big table's data");
        let end = copy + find(&dump[copy..], b"\n\\.\n").expect("its end") + 4;
        // A killed run stops reading: a broken pipe here is expected.
        let _ = stdin.write_all(&dump[..end]);
        let _ = stdin.flush();
        stdin
    });
    (running, feeder)
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

// ---------------------------------------------------------------------------------------------
// Item 3: concurrent runs
// ---------------------------------------------------------------------------------------------

#[test]
fn concurrent_set_runs_each_get_a_complete_set_of_their_own() {
    let db = example_db();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    let start = || {
        Running::start(
            pgveil().args([
                "dump",
                "--dbname",
                &db,
                "--name",
                "shop",
                "--out-dir",
                out_dir,
                "--set",
            ]),
            Stdio::null(),
        )
    };
    let (a, b) = (start(), start());
    let (a, b) = (a.wait(), b.wait());
    let (a, b) = (ok(a, "first dump --set"), ok(b, "second dump --set"));
    let (id_a, id_b) = (stdout(&a).trim().to_string(), stdout(&b).trim().to_string());
    assert_ne!(id_a, id_b, "two runs reported the same set");
    let sets = list_json(&mut pgveil(), out_dir, true);
    let mut listed: Vec<(String, String)> = sets
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    listed.sort();
    let mut expected = vec![
        (id_a.clone(), "complete".to_string()),
        (id_b.clone(), "complete".to_string()),
    ];
    expected.sort();
    assert_eq!(listed, expected);
    for id in [&id_a, &id_b] {
        let set = dir.path().join(id);
        check_against_manifest(&set, &set.join("shop.manifest.json"));
    }
    assert!(unfinished(&files_under(dir.path())).is_empty());
}

#[test]
fn concurrent_flat_runs_lock_the_folder_and_never_damage_it() {
    // Runs long enough (seconds) to overlap.
    let db = big_db();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    let start = || {
        Running::start(
            pgveil().args([
                "dump",
                "--dbname",
                db,
                "--name",
                "shop",
                "--out-dir",
                out_dir,
            ]),
            Stdio::null(),
        )
    };
    let (a, b) = (start(), start());
    let outs = [a.wait(), b.wait()];
    let mut succeeded = 0;
    for out in &outs {
        if out.status.success() {
            succeeded += 1;
        } else {
            // The only acceptable failure: the folder's lock, said on one line.
            let err = stderr(out);
            assert!(
                err.contains("another pgveil run is writing shop into")
                    && err.trim().lines().count() == 1,
                "a concurrent flat run failed otherwise: {err}"
            );
        }
    }
    assert!(succeeded >= 1, "neither run succeeded");
    check_against_manifest(dir.path(), &dir.path().join("shop.manifest.json"));
    assert!(unfinished(&files_under(dir.path())).is_empty());
}

#[test]
fn concurrent_uploads_each_get_a_complete_set_of_their_own() {
    let server = S3Server::start(BUCKET);
    let db = example_db();
    let start = || {
        Running::start(
            pgveil_s3(&server).args([
                "dump",
                "--dbname",
                &db,
                "--name",
                "shop",
                "--upload",
                &url(),
            ]),
            Stdio::null(),
        )
    };
    let (a, b) = (start(), start());
    let (a, b) = (a.wait(), b.wait());
    let (a, b) = (ok(a, "first upload"), ok(b, "second upload"));
    let (id_a, id_b) = (stdout(&a).trim().to_string(), stdout(&b).trim().to_string());
    assert_ne!(id_a, id_b, "two uploads reported the same set");
    let sets = list_json(&mut pgveil_s3(&server), &url(), true);
    let states: Vec<(&str, &str)> = sets
        .iter()
        .map(|s| (s["id"].as_str().unwrap(), s["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states.len(), 2, "{states:?}");
    for id in [&id_a, &id_b] {
        assert!(
            states.contains(&(id.as_str(), "complete")),
            "{id} is not a complete set: {states:?}"
        );
        ok(
            run(
                pgveil_s3(&server).args(["verify", &url(), "--backup", id]),
                None,
            ),
            "verify",
        );
    }
    // No claim objects, open uploads or stray keys are left.
    assert!(server.pending_uploads().is_empty(), "uploads left open");
    let objects = server.objects(BUCKET);
    assert_eq!(objects.len(), 8, "{objects:?}");
}

// ---------------------------------------------------------------------------------------------
// Item 4: flat publication order
// ---------------------------------------------------------------------------------------------

#[test]
fn flat_publication_failure_leaves_no_manifest_over_new_artifacts() {
    let db = example_db();
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    // A complete flat set of two artifacts, compressed differently from the next run's.
    ok(
        run(
            pgveil().args([
                "dump",
                "--dbname",
                &db,
                "--name",
                "shop",
                "--out-dir",
                out_dir,
                "--outputs",
                "plain,anon",
                "--compress-level",
                "1",
            ]),
            None,
        ),
        "first flat dump",
    );
    let manifest = dir.path().join("shop.manifest.json");
    check_against_manifest(dir.path(), &manifest);
    // Something in the way of the third artifact's name: its rename fails after the first two.
    std::fs::create_dir(dir.path().join("shop.dump")).unwrap();
    std::fs::write(dir.path().join("shop.dump").join("in-the-way"), b"x").unwrap();
    let out = run(
        pgveil().args([
            "dump",
            "--dbname",
            &db,
            "--name",
            "shop",
            "--out-dir",
            out_dir,
        ]),
        None,
    );
    assert!(
        !out.status.success(),
        "the run should fail publishing shop.dump"
    );
    assert!(stderr(&out).contains("shop.dump"), "{}", stderr(&out));
    // Either the old complete set, or no manifest at all: never a manifest over other files.
    if manifest.exists() {
        check_against_manifest(dir.path(), &manifest);
    }
    assert!(
        !manifest.exists(),
        "the old manifest should be gone before artifacts were replaced"
    );
    assert!(unfinished(&files_under(dir.path())).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Item 9: signals
// ---------------------------------------------------------------------------------------------

fn interrupted_run_cleans_up_a_local_set(sig: i32, code: i32, name: &str) {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    let (running, stdin) = start_half_fed(pgveil().args([
        "dump",
        "--input",
        "-",
        "--name",
        "shop",
        "--out-dir",
        out_dir,
        "--set",
    ]));
    // Mid-pass: the partial artifacts and the archive spool exist.
    wait_for("partial files and the spool", || {
        let files = files_under(dir.path());
        files.iter().filter(|f| f.ends_with(".partial")).count() == 3
            && files.iter().any(|f| f.ends_with(".spool"))
    });
    running.signal(sig);
    let out = running.wait();
    drop(stdin);
    assert_eq!(
        out.status.code(),
        Some(code),
        "exit status; stderr: {}",
        stderr(&out)
    );
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains(&format!("interrupted by {name}")) && err.contains("partial files removed"),
        "{err}"
    );
    assert_eq!(files_under(dir.path()), Vec::<String>::new(), "left behind");
    assert!(
        list_json(&mut pgveil(), out_dir, false).is_empty(),
        "an interrupted run leaves no set"
    );
}

#[test]
fn sigint_during_dump_removes_partials_and_spool_and_exits_130() {
    interrupted_run_cleans_up_a_local_set(libc::SIGINT, 130, "SIGINT");
}

#[test]
fn sigterm_during_dump_removes_partials_and_spool_and_exits_143() {
    interrupted_run_cleans_up_a_local_set(libc::SIGTERM, 143, "SIGTERM");
}

#[test]
fn sigterm_during_upload_aborts_every_upload() {
    let server = S3Server::start(BUCKET);
    let spool = tempfile::tempdir().unwrap();
    big_dump();
    let (running, feeder) = start_big_fed(
        pgveil_s3(&server)
            .env("PGVEIL_SPOOL_DIR", spool.path())
            .env("PGVEIL_S3_PART_SIZE", "5242880")
            .args(["dump", "--input", "-", "--name", "shop", "--upload", &url()]),
    );
    // Mid-pass, with parts in the bucket (s3s-fs keeps them as `.upload_id-ID.part-N`).
    wait_for("uploaded parts", || {
        server
            .pending_uploads()
            .iter()
            .any(|n| n.contains(".part-"))
    });
    wait_for("the spool", || !files_under(spool.path()).is_empty());
    running.signal(libc::SIGTERM);
    let out = running.wait();
    drop(feeder.join());
    assert_eq!(out.status.code(), Some(143), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(
        err.contains("interrupted by SIGTERM") && err.contains("3 uploads aborted"),
        "{err}"
    );
    assert!(
        server.pending_uploads().is_empty(),
        "open uploads left: {:?}",
        server.pending_uploads()
    );
    assert_eq!(server.objects(BUCKET), Vec::<String>::new());
    assert!(list_json(&mut pgveil_s3(&server), &url(), false).is_empty());
    assert_eq!(files_under(spool.path()), Vec::<String>::new());
}

/// Child processes of `pid` running `comm` (from /proc).
fn children_named(pid: i32, comm: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(p) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let ppid = stat[close + 1..]
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse::<i32>().ok());
        if ppid == Some(pid) && &stat[open + 1..close] == comm {
            out.push(p);
        }
    }
    out
}

/// Whether a process is alive (exists and is not a zombie).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => {
            let state = stat[stat.rfind(')').unwrap() + 1..]
                .split_whitespace()
                .next();
            state != Some("Z") && state != Some("X")
        }
        Err(_) => false,
    }
}

#[test]
fn sigterm_stops_the_pg_dump_children() {
    let c = cluster();
    let db = c.create_db("sigterm_children");
    c.psql_file(&db, &support::fixtures_dir().join("example.sql"));
    // pg_dump waits for this lock: the run is mid-pass for as long as the test wants.
    let mut locker = c
        .command("psql")
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut lock_in = locker.stdin.take().unwrap();
    lock_in
        .write_all(b"BEGIN;\nLOCK TABLE public.orders IN ACCESS EXCLUSIVE MODE;\n")
        .unwrap();
    lock_in.flush().unwrap();
    let lock_held = || {
        c.psql(
            &db,
            "SELECT count(*) FROM pg_locks l JOIN pg_class r ON r.oid = l.relation \
             WHERE r.relname = 'orders' AND l.mode = 'AccessExclusiveLock' AND l.granted",
        )
        .trim()
            == "1"
    };
    wait_for("the lock", lock_held);
    let dir = tempfile::tempdir().unwrap();
    let running = Running::start(
        pgveil().args([
            "dump",
            "--dbname",
            &db,
            "--name",
            "shop",
            "--out-dir",
            dir.path().to_str().unwrap(),
            "--set",
        ]),
        Stdio::null(),
    );
    let pid = running.pid();
    // pg_dump waits for the lock (the data dump, and the schema-only one for the facts).
    wait_for("a pg_dump waiting for the lock", || {
        c.psql(
            &db,
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'pg_dump' \
             AND wait_event_type = 'Lock'",
        )
        .trim()
            != "0"
    });
    let children = children_named(pid, "pg_dump");
    assert!(!children.is_empty(), "no pg_dump child found");
    running.signal(libc::SIGTERM);
    let out = running.wait();
    assert_eq!(out.status.code(), Some(143), "stderr: {}", stderr(&out));
    assert!(
        stderr(&out).contains("interrupted by SIGTERM"),
        "{}",
        stderr(&out)
    );
    for child in children {
        assert!(
            !alive(child),
            "pg_dump {child} still runs after pgveil exited"
        );
    }
    assert_eq!(files_under(dir.path()), Vec::<String>::new());
    drop(lock_in);
    let _ = locker.wait();
    c.drop_db(&db);
}

// ---------------------------------------------------------------------------------------------
// Item 9: what SIGKILL leaves, and `backups prune --incomplete-older-than`
// ---------------------------------------------------------------------------------------------

#[test]
fn killed_local_run_is_listed_with_its_size_and_pruned_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let out_dir = dir.path().to_str().unwrap();
    // A complete set of another name: prune leaves it alone.
    let db = example_db();
    let done = ok(
        run(
            pgveil().args([
                "dump",
                "--dbname",
                &db,
                "--name",
                "kept",
                "--out-dir",
                out_dir,
                "--set",
            ]),
            None,
        ),
        "dump --set",
    );
    let kept = stdout(&done).trim().to_string();
    let kept_files: Vec<String> = files_under(dir.path())
        .into_iter()
        .filter(|f| f.starts_with("kept/"))
        .collect();
    big_dump();
    let (running, feeder) = start_big_fed(pgveil().args([
        "dump",
        "--input",
        "-",
        "--name",
        "shop",
        "--out-dir",
        out_dir,
        "--set",
    ]));
    wait_for("partial data written", || {
        let files = files_under(dir.path());
        files.iter().filter(|f| f.ends_with(".partial")).count() == 3
            && files.iter().any(|f| f.ends_with(".spool"))
            && files.iter().filter(|f| f.ends_with(".partial")).any(|f| {
                std::fs::metadata(dir.path().join(f))
                    .map(|m| m.len())
                    .unwrap_or(0)
                    > 0
            })
    });
    running.signal(libc::SIGKILL);
    let _ = running.wait();
    drop(feeder.join());
    let left = files_under(dir.path());
    assert!(
        !unfinished(&left).is_empty(),
        "SIGKILL leaves its files: {left:?}"
    );
    let partial_bytes: u64 = left
        .iter()
        .filter(|f| f.ends_with(".partial"))
        .map(|f| std::fs::metadata(dir.path().join(f)).unwrap().len())
        .sum();

    let sets = list_json(&mut pgveil(), out_dir, false);
    assert_eq!(sets.len(), 2, "{sets:?}");
    let incomplete: Vec<&serde_json::Value> =
        sets.iter().filter(|s| s["state"] == "incomplete").collect();
    assert_eq!(incomplete.len(), 1, "{sets:?}");
    assert_eq!(
        incomplete[0]["bytes"].as_u64().unwrap(),
        partial_bytes,
        "an incomplete set's size is what it holds"
    );

    // Within the grace period nothing goes.
    let out = ok(
        run(
            pgveil().args([
                "backups",
                "prune",
                "--out-dir",
                out_dir,
                "--incomplete-older-than",
                "1h",
            ]),
            None,
        ),
        "prune (grace)",
    );
    assert_eq!(files_under(dir.path()), left, "{}", stderr(&out));
    // Past it, the incomplete set and the spool go; complete sets are untouched.
    let out = ok(
        run(
            pgveil().args([
                "backups",
                "prune",
                "--out-dir",
                out_dir,
                "--incomplete-older-than",
                "0s",
            ]),
            None,
        ),
        "prune",
    );
    assert!(stderr(&out).contains("incomplete"), "{}", stderr(&out));
    assert_eq!(
        files_under(dir.path()),
        kept_files,
        "only the complete set is left"
    );
    let sets = list_json(&mut pgveil(), out_dir, true);
    assert_eq!(sets.len(), 1, "{sets:?}");
    assert_eq!(sets[0]["id"], kept.as_str());
    assert_eq!(sets[0]["state"], "complete");
}

/// moto's S3 server (it implements ListMultipartUploads, which s3s-fs does not): `$PGVEIL_MOTO`,
/// else `moto_server` on PATH. `.ci/run` installs it; a missing server fails the test.
struct Moto {
    child: Child,
    port: u16,
}

impl Moto {
    fn start() -> Moto {
        let bin = std::env::var_os("PGVEIL_MOTO")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::split_paths(&std::env::var_os("PATH")?)
                    .map(|d| d.join("moto_server"))
                    .find(|p| p.is_file())
            })
            .expect(
                "moto_server not found: set PGVEIL_MOTO or install it (pip install 'moto[server]')",
            );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let moto = Moto { child, port };
        wait_for("moto_server to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        moto.sdk(|c| async move { c.create_bucket().bucket(BUCKET).send().await.map(|_| ()) })
            .expect("creating the bucket");
        moto
    }

    fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn apply_env(&self, cmd: &mut Command) {
        for var in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_PROFILE"] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent/pgveil-test")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/pgveil-test");
    }

    /// Run one request with an SDK client for this server.
    fn sdk<T, F, Fut>(&self, f: F) -> T
    where
        F: FnOnce(aws_sdk_s3::Client) -> Fut,
        Fut: std::future::Future<Output = T>,
    {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
                aws_smithy_http_client::tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https();
        let conf = aws_sdk_s3::config::Builder::new()
            .http_client(http)
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "testing", "testing", None, None, "test",
            ))
            .build();
        rt.block_on(f(aws_sdk_s3::Client::from_conf(conf)))
    }

    fn open_uploads(&self) -> Vec<String> {
        self.sdk(|c| async move {
            let resp = c
                .list_multipart_uploads()
                .bucket(BUCKET)
                .send()
                .await
                .expect("ListMultipartUploads");
            resp.uploads()
                .iter()
                .map(|u| u.key().unwrap_or_default().to_string())
                .collect()
        })
    }

    /// The bytes of all parts of all open uploads. (moto answers ListParts with a root element
    /// the SDK rejects, `ListPartsResponse`: its XML is read here directly; moto needs no
    /// signature.)
    fn parts_bytes(&self) -> u64 {
        let uploads: Vec<(String, String)> = self.sdk(|c| async move {
            let resp = c
                .list_multipart_uploads()
                .bucket(BUCKET)
                .send()
                .await
                .expect("ListMultipartUploads");
            resp.uploads()
                .iter()
                .map(|u| {
                    (
                        u.key().unwrap().to_string(),
                        u.upload_id().unwrap().to_string(),
                    )
                })
                .collect()
        });
        let mut total = 0;
        for (key, id) in uploads {
            use std::io::Read;
            let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.port)).unwrap();
            write!(
                conn,
                "GET /{BUCKET}/{key}?uploadId={id} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n"
            )
            .unwrap();
            let mut xml = String::new();
            conn.read_to_string(&mut xml).unwrap();
            for size in xml.split("<Size>").skip(1) {
                total += size.split('<').next().unwrap().parse::<u64>().unwrap();
            }
        }
        total
    }

    fn objects(&self) -> Vec<String> {
        self.sdk(|c| async move {
            let resp = c
                .list_objects_v2()
                .bucket(BUCKET)
                .send()
                .await
                .expect("ListObjectsV2");
            resp.contents()
                .iter()
                .map(|o| o.key().unwrap_or_default().to_string())
                .collect()
        })
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn killed_upload_is_listed_and_its_uploads_pruned_after_the_grace_period() {
    let moto = Moto::start();
    let spool = tempfile::tempdir().unwrap();
    let pgveil_moto = || {
        let mut cmd = pgveil();
        moto.apply_env(&mut cmd);
        cmd.env("PGVEIL_SPOOL_DIR", spool.path())
            // The smallest parts, so that the killed run has sent some.
            .env("PGVEIL_S3_PART_SIZE", "5242880");
        cmd
    };
    big_dump();
    let (running, feeder) = start_big_fed(pgveil_moto().args([
        "dump",
        "--input",
        "-",
        "--name",
        "shop",
        "--upload",
        &url(),
    ]));
    // Killed with parts uploaded: they stay in the bucket, invisible as objects.
    wait_for("uploaded parts", || moto.parts_bytes() > 0);
    running.signal(libc::SIGKILL);
    let _ = running.wait();
    drop(feeder.join());
    let uploads = moto.open_uploads();
    assert_eq!(
        uploads.len(),
        3,
        "SIGKILL leaves its uploads open: {uploads:?}"
    );

    let sets = list_json(&mut pgveil_moto(), &url(), false);
    let incomplete: Vec<&serde_json::Value> =
        sets.iter().filter(|s| s["state"] == "incomplete").collect();
    assert_eq!(incomplete.len(), 1, "{sets:?}");

    // Within the grace period nothing goes.
    ok(
        run(
            pgveil_moto().args([
                "backups",
                "prune",
                "--upload",
                &url(),
                "--incomplete-older-than",
                "1h",
            ]),
            None,
        ),
        "prune (grace)",
    );
    assert_eq!(moto.open_uploads().len(), 3);
    let out = ok(
        run(
            pgveil_moto().args([
                "backups",
                "prune",
                "--upload",
                &url(),
                "--incomplete-older-than",
                "0s",
            ]),
            None,
        ),
        "prune",
    );
    assert!(moto.open_uploads().is_empty(), "{}", stderr(&out));
    // The claim on the set goes too: nothing is left.
    assert_eq!(moto.objects(), Vec::<String>::new());
    assert!(list_json(&mut pgveil_moto(), &url(), false).is_empty());
}

// ---------------------------------------------------------------------------------------------
// Item 14: S3 errors on one line
// ---------------------------------------------------------------------------------------------

#[test]
fn wrong_s3_credentials_fail_on_one_line_with_the_reason() {
    let server = S3Server::start(BUCKET);
    for (key, secret) in [
        ("no-such-key", support::s3::SECRET_KEY),
        (support::s3::ACCESS_KEY, "wrong-secret"),
    ] {
        let mut cmd = pgveil_s3(&server);
        cmd.env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret);
        let out = run(cmd.args(["backups", "list", &url()]), None);
        assert!(!out.status.success());
        let err = stderr(&out);
        assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
        assert!(err.contains("S3: access denied ("), "{err}");
        for debug in ["SdkError", "ServiceError {", "raw: Response", "source:"] {
            assert!(!err.contains(debug), "debug dump in: {err}");
        }
    }
    // An upload fails the same way, before any pg_dump runs.
    let db = example_db();
    let mut cmd = pgveil_s3(&server);
    cmd.env("AWS_SECRET_ACCESS_KEY", "wrong-secret");
    let out = run(
        cmd.args([
            "dump",
            "--dbname",
            &db,
            "--name",
            "shop",
            "--upload",
            &url(),
        ]),
        None,
    );
    assert!(!out.status.success());
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "one line: {err}");
    assert!(err.contains("S3: access denied ("), "{err}");
}
