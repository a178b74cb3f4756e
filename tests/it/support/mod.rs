//! Test support: a throwaway PostgreSQL cluster per test process, fixture databases, helpers.
//!
//! The cluster is real (initdb + pg_ctl), listens on a unix socket only, and is started lazily the
//! first time [`cluster()`] is called. A detached watchdog shell stops it and removes its directory
//! when the test process exits (statics never run `Drop`). Set `PGVEIL_TEST_KEEP_CLUSTER=1` to keep
//! the directory for post-mortem inspection (the server is stopped anyway).
//!
//! Running as root (CI), `initdb`/`pg_ctl` are run as the `postgres` OS user on a directory it owns.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Environment variables that could redirect libpq clients elsewhere: removed from every command.
pub const UNSET_ENV: &[&str] = &[
    "PGDATABASE",
    "PGHOSTADDR",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSERVICE",
    "PGSERVICEFILE",
    "PGOPTIONS",
    "PGSSLMODE",
    "PGREQUIRESSL",
    "PGCONNECT_TIMEOUT",
    "PGTARGETSESSIONATTRS",
    "PGAPPNAME",
    "PGCLIENTENCODING",
    "PGDATESTYLE",
    "PGTZ",
];

/// The key tests give pgveil (masking must be deterministic across runs).
pub const TEST_KEY: &str = "pgveil-test-key-0123456789abcdef";

/// The OS user that owns the cluster when the tests run as root.
const PG_OS_USER: &str = "postgres";

pub struct Cluster {
    bindir: PathBuf,
    base: PathBuf,
    data: PathBuf,
    socket_dir: PathBuf,
    port: u16,
    user: String,
    counter: AtomicU64,
    cache: Mutex<HashMap<String, Arc<OnceLock<String>>>>,
}

static CLUSTER: OnceLock<Result<Cluster, String>> = OnceLock::new();

/// When running as root, hand `base` to the postgres OS user (initdb refuses to run as root).
fn give_to_postgres(root: bool, base: &Path) -> Result<(), String> {
    if !root {
        return Ok(());
    }
    let st = Command::new("chown")
        .arg("-R")
        .arg(format!("{PG_OS_USER}:"))
        .arg(base)
        .status()
        .map_err(|e| format!("chown: {e}"))?;
    if !st.success() {
        return Err(format!(
            "chown -R {PG_OS_USER} {} failed (is there a `{PG_OS_USER}` OS user?)",
            base.display()
        ));
    }
    Ok(())
}

/// A TCP port free on 127.0.0.1 (one just released).
fn free_port() -> Result<u16, String> {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("picking a port: {e}"))
}

/// A server program of `bindir`, run as the postgres OS user when we are root.
fn server_command(bindir: &Path, root: bool, program: &str) -> Command {
    let path = bindir.join(program);
    if root {
        let mut c = Command::new("runuser");
        c.arg("-u").arg(PG_OS_USER).arg("--").arg(path);
        c
    } else {
        Command::new(path)
    }
}

/// The cluster of this test process, started on first use. Thread-safe.
pub fn cluster() -> &'static Cluster {
    match CLUSTER.get_or_init(Cluster::start) {
        Ok(c) => c,
        Err(e) => panic!("test PostgreSQL cluster failed to start:\n{e}"),
    }
}

/// The pgveil binary under test (`$PGVEIL_BIN` overrides the one cargo built, e.g. to test an
/// installed or release build), with the cluster's environment and a fixed `PGVEIL_KEY`.
pub fn pgveil() -> Command {
    let bin = std::env::var_os("PGVEIL_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_pgveil")));
    let mut cmd = Command::new(bin);
    cluster().apply_env(&mut cmd);
    cmd.env("PGVEIL_KEY", TEST_KEY);
    cmd.stdin(Stdio::null());
    cmd
}

pub fn manifest_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixtures_dir() -> PathBuf {
    manifest_dir().join("fixtures")
}

/// The public sample databases: `$PGVEIL_DATASETS`, else the first `shared/datasets` found in
/// `$CARGO_MANIFEST_DIR/..` or its ancestors (CI clones the repo with `shared/` beside it).
pub fn datasets_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("PGVEIL_DATASETS") {
        return PathBuf::from(d);
    }
    let manifest = manifest_dir();
    for dir in manifest.ancestors().skip(1) {
        let cand = dir.join("shared").join("datasets");
        if cand.is_dir() {
            return cand;
        }
    }
    manifest.join("..").join("shared").join("datasets")
}

/// Drop the `\restrict KEY` / `\unrestrict KEY` lines pg_dump emits with a random key per run.
pub fn restrict_free(dump: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(dump.len());
    for line in dump.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"\\restrict ") || line.starts_with(b"\\unrestrict ") {
            continue;
        }
        out.extend_from_slice(line);
    }
    out
}

/// Gunzip a (possibly multi-member) gzip stream; panics on corrupt input.
pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(bytes)
        .read_to_end(&mut out)
        .expect("gunzip");
    out
}

/// Gzip bytes (default level).
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// Run a command to completion, feeding `stdin`; panics (with stderr) on a non-zero exit.
pub fn run_ok(cmd: &mut Command, stdin: Option<&[u8]>, what: &str) -> Output {
    let out = run(cmd, stdin);
    if !out.status.success() {
        panic!(
            "{what} failed ({}):\n--- stderr ---\n{}\n--- stdout (tail) ---\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr),
            tail(&String::from_utf8_lossy(&out.stdout), 2000),
        );
    }
    out
}

/// Run a command to completion, feeding `stdin` (from a thread, so large in/out cannot deadlock).
pub fn run(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    let writer = stdin.map(|data| {
        let data = data.to_vec();
        let mut pipe = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            // A broken pipe here means the child exited early: its status tells the story.
            let _ = pipe.write_all(&data);
        })
    });
    let out = child.wait_with_output().expect("waiting for child");
    if let Some(w) = writer {
        let _ = w.join();
    }
    out
}

fn tail(s: &str, n: usize) -> &str {
    if s.len() <= n {
        return s;
    }
    let mut i = s.len() - n;
    while !s.is_char_boundary(i) {
        i += 1;
    }
    &s[i..]
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

/// The newest PostgreSQL server bin dir: `$PGVEIL_PG_BINDIR`, `pg_config --bindir` (if it holds
/// initdb), else the highest `/usr/lib/postgresql/<N>/bin`.
fn find_bindir() -> Result<PathBuf, String> {
    if let Some(d) = std::env::var_os("PGVEIL_PG_BINDIR") {
        return Ok(PathBuf::from(d));
    }
    let mut best: Option<(u32, PathBuf)> = None;
    if let Ok(entries) = std::fs::read_dir("/usr/lib/postgresql") {
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Ok(major) = name.parse::<u32>() else {
                continue;
            };
            let bin = e.path().join("bin");
            if bin.join("initdb").is_file() && best.as_ref().is_none_or(|(m, _)| major > *m) {
                best = Some((major, bin));
            }
        }
    }
    if let Some((_, bin)) = best {
        return Ok(bin);
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            let bin = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if bin.join("initdb").is_file() {
                return Ok(bin);
            }
        }
    }
    Err(
        "no PostgreSQL server binaries found (initdb): install postgresql or set PGVEIL_PG_BINDIR"
            .into(),
    )
}

impl Cluster {
    fn start() -> Result<Cluster, String> {
        let bindir = find_bindir()?;
        let root = is_root();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        // Short path under /tmp: the socket path must stay under ~100 bytes, and the postgres OS
        // user must be able to reach it when we are root.
        let tmp_root = std::env::var_os("PGVEIL_TEST_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let base = tmp_root.join(format!("pgveil-pg-{}-{nanos:x}", std::process::id()));
        std::fs::create_dir_all(&base).map_err(|e| format!("creating {}: {e}", base.display()))?;
        let data = base.join("data");
        let socket_dir = base.join("sock");
        std::fs::create_dir_all(&socket_dir).map_err(|e| format!("creating socket dir: {e}"))?;

        // The watchdog first, so even a failed start is cleaned up.
        spawn_watchdog(&base, &data);

        give_to_postgres(root, &base)?;
        let port = free_port()?;
        let as_pg = |program: &str| server_command(&bindir, root, program);

        let mut initdb = as_pg("initdb");
        initdb
            .arg("-D")
            .arg(&data)
            .args([
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "-U",
                "postgres",
                "--no-sync",
            ])
            .env("LC_ALL", "C.UTF-8")
            .current_dir(&base);
        let out = initdb
            .output()
            .map_err(|e| format!("running initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }

        let log = base.join("postgres.log");
        let opts = format!(
            "-p {port} -k {} -c listen_addresses='' -c fsync=off -c full_page_writes=off \
             -c synchronous_commit=off -c max_connections=100 -c shared_buffers=32MB \
             -c max_wal_size=1GB -c checkpoint_timeout=30min -c autovacuum=off",
            socket_dir.display()
        );
        let mut pg_ctl = as_pg("pg_ctl");
        pg_ctl
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .arg("-o")
            .arg(&opts)
            .args(["-w", "-t", "60", "start"])
            .current_dir(&base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            // Its own process group: a terminal ^C must not race the watchdog's shutdown.
            .process_group(0);
        let out = pg_ctl
            .output()
            .map_err(|e| format!("running pg_ctl: {e}"))?;
        if !out.status.success() {
            let log_text = std::fs::read_to_string(&log).unwrap_or_default();
            return Err(format!(
                "pg_ctl start failed:\n{}\n--- server log ---\n{log_text}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }

        let cluster = Cluster {
            bindir,
            base,
            data,
            socket_dir,
            port,
            user: "postgres".into(),
            counter: AtomicU64::new(0),
            cache: Mutex::new(HashMap::new()),
        };
        // Sanity: the server answers.
        let out = run(
            cluster
                .command("psql")
                .args(["-X", "-At", "-d", "postgres", "-c", "SELECT 1"]),
            None,
        );
        if !out.status.success() || String::from_utf8_lossy(&out.stdout).trim() != "1" {
            return Err(format!(
                "server started but psql cannot connect:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(cluster)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    pub fn socket_dir(&self) -> &Path {
        &self.socket_dir
    }

    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    /// The libpq environment that reaches this cluster. Commands from [`Cluster::command`] also have
    /// every variable of [`UNSET_ENV`] removed.
    pub fn env(&self) -> Vec<(String, String)> {
        vec![
            (
                "PGHOST".into(),
                self.socket_dir.to_string_lossy().into_owned(),
            ),
            ("PGPORT".into(), self.port.to_string()),
            ("PGUSER".into(), self.user.clone()),
        ]
    }

    /// Apply [`Cluster::env`] (and remove [`UNSET_ENV`]) on any command.
    pub fn apply_env(&self, cmd: &mut Command) {
        for var in UNSET_ENV {
            cmd.env_remove(var);
        }
        for (k, v) in self.env() {
            cmd.env(k, v);
        }
    }

    /// A client program (`psql`, `pg_dump`, …) with the cluster's environment. Found on PATH, else in
    /// the server's bin dir.
    pub fn command(&self, program: &str) -> Command {
        let in_bindir = self.bindir.join(program);
        let mut cmd = if in_bindir.is_file() && !on_path(program) {
            Command::new(in_bindir)
        } else {
            Command::new(program)
        };
        self.apply_env(&mut cmd);
        cmd
    }

    /// A unique database name with `prefix` (lower-cased, non-alphanumerics replaced by `_`).
    pub fn unique_name(&self, prefix: &str) -> String {
        let clean: String = prefix
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '_'
                }
            })
            .take(40)
            .collect();
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        format!("{clean}_{n}")
    }

    /// A fresh, empty database (from template1) with a unique name; returns the name.
    pub fn create_db(&self, prefix: &str) -> String {
        let name = self.unique_name(prefix);
        run_ok(
            self.command("createdb").arg("--").arg(&name),
            None,
            &format!("createdb {name}"),
        );
        name
    }

    pub fn drop_db(&self, db: &str) {
        run_ok(
            self.command("dropdb").arg("--if-exists").arg("--").arg(db),
            None,
            &format!("dropdb {db}"),
        );
    }

    fn psql_cmd(&self, db: &str) -> Command {
        let mut cmd = self.command("psql");
        cmd.args(["-X", "-q", "-At", "-v", "ON_ERROR_STOP=1", "-d", db]);
        cmd
    }

    /// Run SQL (any number of statements and psql meta-commands) in `db`; returns stdout.
    /// Panics with stderr on failure.
    pub fn psql(&self, db: &str, sql: &str) -> String {
        let out = run_ok(
            self.psql_cmd(db).args(["-f", "-"]),
            Some(sql.as_bytes()),
            &format!("psql -d {db}"),
        );
        String::from_utf8(out.stdout).expect("psql output is UTF-8")
    }

    /// Like [`Cluster::psql`] but with the script as bytes (e.g. a whole dump); returns stdout.
    pub fn psql_bytes(&self, db: &str, sql: &[u8]) -> Vec<u8> {
        run_ok(
            self.psql_cmd(db).args(["-f", "-"]),
            Some(sql),
            &format!("psql -d {db} (script of {} bytes)", sql.len()),
        )
        .stdout
    }

    /// Run a plain SQL file in `db`. Panics with stderr on failure.
    pub fn psql_file(&self, db: &str, path: &Path) {
        run_ok(
            self.psql_cmd(db).arg("-f").arg(path),
            None,
            &format!("psql -d {db} -f {}", path.display()),
        );
    }

    /// `pg_dump -d db ARGS...` output; panics on failure.
    pub fn pg_dump(&self, db: &str, args: &[&str]) -> Vec<u8> {
        run_ok(
            self.command("pg_dump").arg("-d").arg(db).args(args),
            None,
            &format!("pg_dump -d {db} {args:?}"),
        )
        .stdout
    }

    /// Load once per process per key: the first caller runs `load`, the others wait for its result.
    fn cached(&self, key: &str, load: impl FnOnce() -> String) -> String {
        let cell = {
            let mut map = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            map.entry(key.to_string()).or_default().clone()
        };
        cell.get_or_init(load).clone()
    }

    /// `fixtures/<name>.sql` loaded into a new database (once per process); returns the db name.
    /// Treat the database as read-only: other tests share it.
    pub fn load_fixture(&self, name: &str) -> String {
        self.cached(&format!("fixture:{name}"), || {
            let path = fixtures_dir().join(format!("{name}.sql"));
            assert!(path.is_file(), "no fixture {}", path.display());
            let db = self.create_db(name);
            self.psql_file(&db, &path);
            db
        })
    }

    /// Pagila (schema + data from the datasets dir), once per process; returns the db name.
    pub fn load_pagila(&self) -> String {
        self.cached("dataset:pagila", || {
            let dir = datasets_dir();
            let schema = dir.join("pagila-schema.sql");
            let data = dir.join("pagila-data.sql");
            assert!(
                schema.is_file() && data.is_file(),
                "pagila not found in {} (set PGVEIL_DATASETS)",
                dir.display()
            );
            let db = self.create_db("pagila");
            self.psql_file(&db, &schema);
            self.psql_file(&db, &data);
            // pagila-schema.sql runs `ALTER SCHEMA public OWNER TO postgres`. A `--no-owner` dump
            // cannot carry that, so a restored copy would differ from the source in the `public`
            // schema entry: give the schema back to its initdb owner so such dumps round-trip.
            self.psql(&db, "ALTER SCHEMA public OWNER TO pg_database_owner;");
            db
        })
    }

    /// Chinook, once per process; returns the db name. The script creates and connects to a
    /// database named `chinook` itself: those statements are dropped and the rest runs in a fresh
    /// uniquely named database instead.
    pub fn load_chinook(&self) -> String {
        self.cached("dataset:chinook", || {
            let path = datasets_dir().join("Chinook_PostgreSql.sql");
            let text = std::fs::read(&path).unwrap_or_else(|e| {
                panic!("reading {} (set PGVEIL_DATASETS): {e}", path.display())
            });
            let mut script = Vec::with_capacity(text.len());
            for line in text.split_inclusive(|&b| b == b'\n') {
                let l = String::from_utf8_lossy(line);
                let t = l.trim().to_ascii_lowercase();
                if t.starts_with("drop database") || t.starts_with("create database") {
                    continue;
                }
                if t.starts_with("\\c ") || t.starts_with("\\connect ") {
                    continue;
                }
                script.extend_from_slice(line);
            }
            let db = self.create_db("chinook");
            self.psql_bytes(&db, &script);
            db
        })
    }

    /// All base/partitioned tables outside the system schemas, as `schema.table` (quoted where
    /// needed) with their row counts, sorted. Handy to compare two databases.
    pub fn table_counts(&self, db: &str) -> Vec<(String, i64)> {
        // One query; names with newlines are printed with `\n` so that each table is one line.
        let rows = self.psql(
            db,
            "SELECT replace(format('%I.%I', n.nspname, c.relname), E'\\n', '\\n') || '|' || \
                    (xpath('/row/n/text()', query_to_xml( \
                        format('SELECT count(*) AS n FROM %I.%I', n.nspname, c.relname), \
                        false, true, '')))[1]::text \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg_toast%' ORDER BY 1;",
        );
        rows.lines()
            .filter(|l| !l.is_empty())
            .map(|l| {
                let (table, n) = l.rsplit_once('|').expect("table|count");
                (table.to_string(), n.parse().expect("count"))
            })
            .collect()
    }
}

fn on_path(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}

/// A detached shell that waits for this process to exit, then stops the postmaster (immediate
/// shutdown, by PID from postmaster.pid) and removes the cluster directory.
fn spawn_watchdog(base: &Path, data: &Path) {
    let script = r#"
        parent=$1; base=$2; data=$3; keep=$4
        while kill -0 "$parent" 2>/dev/null; do sleep 0.5; done
        if [ -f "$data/postmaster.pid" ]; then
            pm=$(head -n 1 "$data/postmaster.pid")
            if [ -n "$pm" ] && kill -QUIT "$pm" 2>/dev/null; then
                i=0
                while kill -0 "$pm" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.1; i=$((i+1)); done
                kill -KILL "$pm" 2>/dev/null
            fi
        fi
        [ "$keep" = 1 ] || rm -rf "$base"
    "#;
    let keep = if std::env::var("PGVEIL_TEST_KEEP_CLUSTER").as_deref() == Ok("1") {
        "1"
    } else {
        "0"
    };
    let res = Command::new("sh")
        .arg("-c")
        .arg(script)
        .arg("pgveil-test-watchdog")
        .arg(std::process::id().to_string())
        .arg(base)
        .arg(data)
        .arg(keep)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn();
    if let Err(e) = res {
        eprintln!("warning: could not start the cluster watchdog: {e}");
    }
}

/// The e-mail-like strings of a dump (or any text), lower-cased (ASCII). Deliberately broad (Unicode
/// letters allowed, as in `stanisław.wójcik@wp.pl` of Chinook): used to collect every original
/// address of a source dump, then to prove none survives masking.
pub fn emails_in(bytes: &[u8]) -> std::collections::BTreeSet<String> {
    static RE: OnceLock<regex::bytes::Regex> = OnceLock::new();
    let re = RE.get_or_init(|| {
        regex::bytes::Regex::new(
            r"[\p{L}\p{N}._%+\-]+@[\p{L}\p{N}\-]+(?:\.[\p{L}\p{N}\-]+)*\.\p{L}{2,}",
        )
        .unwrap()
    });
    re.find_iter(bytes)
        .map(|m| String::from_utf8_lossy(m.as_bytes()).to_ascii_lowercase())
        .collect()
}

/// Whether an address is one of the masked forms: `nobody@example.com` / `nobody+<tag>@example.com`.
pub fn is_masked_email(s: &str) -> bool {
    static RE: OnceLock<regex::Regex> = OnceLock::new();
    RE.get_or_init(|| regex::Regex::new(r"^nobody(\+[A-Za-z0-9._\-]+)?@example\.com$").unwrap())
        .is_match(s)
}

/// Panics (listing a few) if any of `originals` occurs anywhere in `haystack`, case-insensitively.
pub fn assert_no_original_emails(
    haystack: &[u8],
    originals: &std::collections::BTreeSet<String>,
    what: &str,
) {
    let originals: Vec<&String> = originals.iter().filter(|e| !is_masked_email(e)).collect();
    if originals.is_empty() {
        return;
    }
    let pattern = originals
        .iter()
        .map(|e| regex::escape(e))
        .collect::<Vec<_>>()
        .join("|");
    let re = regex::bytes::RegexBuilder::new(&pattern)
        .case_insensitive(true)
        .size_limit(1 << 28)
        .dfa_size_limit(1 << 28)
        .build()
        .expect("email alternation");
    let mut found = std::collections::BTreeSet::new();
    for m in re.find_iter(haystack) {
        found.insert(String::from_utf8_lossy(m.as_bytes()).into_owned());
        if found.len() >= 20 {
            break;
        }
    }
    assert!(
        found.is_empty(),
        "{what}: original e-mail addresses survived masking: {found:?}"
    );
}
/// `out`, after asserting that its command succeeded (its stderr and stdout in the message).
pub fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    out
}

pub mod s3;
pub mod serve;
pub mod webdriver;

/// Which of pg_restore's sequential passes restores an entry (`_tocEntryRestorePass`): ACLs after
/// everything else, event triggers and materialized view data after the ACLs.
pub fn restore_pass(e: &pgveil::archive::TocEntry) -> u8 {
    match e.desc.as_str() {
        "ACL" | "ACL LANGUAGE" | "DEFAULT ACL" => 1,
        "EVENT TRIGGER" | "MATERIALIZED VIEW DATA" => 2,
        "COMMENT" if e.tag.starts_with("EVENT TRIGGER ") => 2,
        _ => 0,
    }
}

/// `pg_restore -j` restores the pre-data section first, one entry after the other in TOC order,
/// then the rest of each pass in parallel, in any order the recorded dependencies allow. So every
/// dependency that pg_dump's own archive of `db` records must hold in `ours` too: a pre-data entry
/// must come after what it depends on, and a later entry must reach it through our dependencies
/// (same pass), or run in a later pass or section. And the tables an entry locks (its direct TABLE
/// dependencies) must be the same, or pg_restore -j may run conflicting entries at once.
pub fn assert_dependencies_cover_pg_dumps(ours_path: &Path, db: &str, dir: &Path) {
    use pgveil::archive::{read_archive, Section, TocEntry};
    let theirs_path = dir.join("pg_dump-own.dump");
    std::fs::write(&theirs_path, cluster().pg_dump(db, &["-Fc"])).unwrap();
    let ours = read_archive(ours_path).unwrap();
    let theirs = read_archive(&theirs_path).unwrap();
    let key = |e: &TocEntry| (e.desc.clone(), e.namespace.clone(), e.tag.clone());
    let mut ours_by_key: HashMap<_, Vec<usize>> = HashMap::new();
    let mut ours_index: HashMap<i32, usize> = HashMap::new();
    for (i, e) in ours.entries.iter().enumerate() {
        ours_by_key.entry(key(e)).or_default().push(i);
        ours_index.insert(e.dump_id, i);
    }
    let theirs_by_id: HashMap<i32, &TocEntry> =
        theirs.entries.iter().map(|e| (e.dump_id, e)).collect();
    // Whether our entry `from` reaches `to` through dependencies.
    let reaches = |from: usize, to: usize| {
        let mut stack = vec![from];
        let mut seen = vec![false; ours.entries.len()];
        while let Some(i) = stack.pop() {
            if i == to {
                return true;
            }
            if std::mem::replace(&mut seen[i], true) {
                continue;
            }
            for d in &ours.entries[i].dependencies {
                if let Some(&j) = ours_index.get(d) {
                    stack.push(j);
                }
            }
        }
        false
    };
    let mut missing = Vec::new();
    for a in &theirs.entries {
        let Some(our_as) = ours_by_key.get(&key(a)) else {
            continue;
        };
        for d in &a.dependencies {
            let Some(b) = theirs_by_id.get(d) else {
                continue; // an object pg_dump does not dump (e.g. an extension's member)
            };
            let Some(our_bs) = ours_by_key.get(&key(b)) else {
                continue;
            };
            // pg_restore -j takes a post-data entry's direct TABLE / TABLE DATA dependencies for
            // the tables it locks (all entries but INDEX), and never runs two entries locking the
            // same table at once: those must be direct dependencies in ours too.
            let locks = a.section == Section::PostData
                && a.desc != "INDEX"
                && (b.desc == "TABLE" || b.desc == "TABLE DATA");
            if locks
                && !our_as.iter().any(|&ia| {
                    our_bs.iter().any(|&ib| {
                        ours.entries[ia]
                            .dependencies
                            .contains(&ours.entries[ib].dump_id)
                    })
                })
            {
                missing.push(format!(
                    "{} {} {:?} locks {} {} {:?}",
                    a.desc, a.tag, a.namespace, b.desc, b.tag, b.namespace
                ));
                continue;
            }
            let ordered = our_as.iter().any(|&ia| {
                our_bs.iter().any(|&ib| {
                    let (ea, eb) = (&ours.entries[ia], &ours.entries[ib]);
                    if ea.section == Section::PreData {
                        ib < ia
                    } else if eb.section == Section::PreData
                        || restore_pass(eb) < restore_pass(ea)
                        || (eb.section == Section::Data && ea.section == Section::PostData)
                    {
                        true
                    } else {
                        reaches(ia, ib)
                    }
                })
            });
            if !ordered {
                missing.push(format!(
                    "{} {} {:?} -> {} {} {:?}",
                    a.desc, a.tag, a.namespace, b.desc, b.tag, b.namespace
                ));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "dependencies of pg_dump's archive that ours does not enforce:\n{}",
        missing.join("\n")
    );
}

/// Run `cmd` under `/usr/bin/time`: its output and its peak resident set size in KiB.
pub fn peak_rss_kib(cmd: &Command) -> (Output, u64) {
    let mut timed = Command::new("/usr/bin/time");
    timed
        .arg("-f")
        .arg("PEAK_RSS_KIB=%M")
        .arg(cmd.get_program());
    timed.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => timed.env(k, v),
            None => timed.env_remove(k),
        };
    }
    let out = run(&mut timed, None);
    let err = String::from_utf8_lossy(&out.stderr);
    let kib = err
        .lines()
        .find_map(|l| l.strip_prefix("PEAK_RSS_KIB="))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no RSS from /usr/bin/time: {err}"));
    (out, kib)
}

// ---------------------------------------------------------------------------------------------
// A second throwaway cluster for the connection tests (tests/it/direct_auth.rs): TLS with a server
// certificate for `localhost` signed by a CA made at start, SCRAM passwords, and a pg_hba.conf that
// admits TCP connections (127.0.0.1 only) over TLS with a password and nothing else (but GSSAPI for
// the role `veil_gss_user`, which no test can satisfy); its unix socket trusts every user, for the
// set-up.

/// The TLS + SCRAM cluster: [`TlsCluster::cluster`] reaches it over its unix socket (as `postgres`,
/// trusted) for set-up; TCP clients use `host=localhost port=…` with a password.
pub struct TlsCluster {
    pub cluster: Cluster,
    /// The CA that signed the server's certificate (CN and SAN `localhost`, no IP address).
    pub ca: PathBuf,
    /// A CA that signed nothing the server has.
    pub other_ca: PathBuf,
    /// A role with a SCRAM password, owner of [`TlsCluster::db`].
    pub user: String,
    pub password: String,
    /// The `rules_tools` fixture, loaded as [`TlsCluster::user`].
    pub db: String,
}

static TLS_CLUSTER: OnceLock<Result<TlsCluster, String>> = OnceLock::new();

/// The TLS + SCRAM cluster of this test process, started on first use.
pub fn tls_cluster() -> &'static TlsCluster {
    match TLS_CLUSTER.get_or_init(TlsCluster::start) {
        Ok(c) => c,
        Err(e) => panic!("test TLS cluster failed to start:\n{e}"),
    }
}

impl TlsCluster {
    /// libpq conninfo for the role over TCP (`host=localhost`), then `extra` (`key=value …`).
    pub fn conninfo(&self, extra: &str) -> String {
        format!(
            "host=localhost port={} dbname={} user={} {extra}",
            self.cluster.port, self.db, self.user
        )
    }

    fn start() -> Result<TlsCluster, String> {
        let bindir = find_bindir()?;
        let root = is_root();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let tmp_root = std::env::var_os("PGVEIL_TEST_TMP")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("/tmp"));
        let base = tmp_root.join(format!("pgveil-pgtls-{}-{nanos:x}", std::process::id()));
        let data = base.join("data");
        let socket_dir = base.join("sock");
        let certs = base.join("certs");
        for d in [&socket_dir, &certs] {
            std::fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
        }
        spawn_watchdog(&base, &data);

        // The CAs and the server's certificate (openssl CLI).
        let openssl = |args: &[&str]| -> Result<(), String> {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(&certs)
                .output()
                .map_err(|e| format!("running openssl: {e}"))?;
            if out.status.success() {
                Ok(())
            } else {
                Err(format!(
                    "openssl {args:?} failed:\n{}",
                    String::from_utf8_lossy(&out.stderr)
                ))
            }
        };
        for (name, cn) in [("ca", "pgveil test CA"), ("other-ca", "pgveil other CA")] {
            openssl(&[
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
                "-nodes",
                "-days",
                "3",
                "-subj",
                &format!("/CN={cn}"),
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign,cRLSign",
                "-keyout",
                &format!("{name}.key"),
                "-out",
                &format!("{name}.crt"),
            ])?;
        }
        openssl(&[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ])?;
        std::fs::write(
            certs.join("server.ext"),
            "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n\
             extendedKeyUsage=serverAuth\nsubjectAltName=DNS:localhost\n",
        )
        .map_err(|e| format!("writing server.ext: {e}"))?;
        openssl(&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-set_serial",
            "2",
            "-days",
            "3",
            "-extfile",
            "server.ext",
            "-out",
            "server.crt",
        ])?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(
                certs.join("server.key"),
                std::fs::Permissions::from_mode(0o600),
            )
            .map_err(|e| format!("chmod server.key: {e}"))?;
        }

        give_to_postgres(root, &base)?;
        let port = free_port()?;
        let as_pg = |program: &str| server_command(&bindir, root, program);
        let out = as_pg("initdb")
            .arg("-D")
            .arg(&data)
            .args([
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "-U",
                "postgres",
                "--no-sync",
            ])
            .env("LC_ALL", "C.UTF-8")
            .current_dir(&base)
            .output()
            .map_err(|e| format!("running initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed:\n{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        // Over TCP: TLS and a SCRAM password, or no entry at all ("no encryption").
        std::fs::write(
            data.join("pg_hba.conf"),
            "local all all trust\n\
             hostssl all veil_gss_user 127.0.0.1/32 gss\n\
             hostssl all all 127.0.0.1/32 scram-sha-256\n",
        )
        .map_err(|e| format!("writing pg_hba.conf: {e}"))?;
        let mut conf = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("postgresql.conf"))
            .map_err(|e| format!("opening postgresql.conf: {e}"))?;
        writeln!(
            conf,
            "\nlisten_addresses = '127.0.0.1'\nport = {port}\nunix_socket_directories = '{}'\n\
             ssl = on\nssl_cert_file = '{}'\nssl_key_file = '{}'\n\
             password_encryption = 'scram-sha-256'\nfsync = off\nfull_page_writes = off\n\
             synchronous_commit = off\nshared_buffers = 32MB\nautovacuum = off\n",
            socket_dir.display(),
            certs.join("server.crt").display(),
            certs.join("server.key").display(),
        )
        .map_err(|e| format!("writing postgresql.conf: {e}"))?;
        drop(conf);
        let log = base.join("postgres.log");
        let out = as_pg("pg_ctl")
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(&log)
            .args(["-w", "-t", "60", "start"])
            .current_dir(&base)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .output()
            .map_err(|e| format!("running pg_ctl: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "pg_ctl start failed:\n{}\n--- server log ---\n{}",
                String::from_utf8_lossy(&out.stderr),
                std::fs::read_to_string(&log).unwrap_or_default()
            ));
        }
        let cluster = Cluster {
            bindir,
            base,
            data,
            socket_dir,
            port,
            user: "postgres".into(),
            counter: AtomicU64::new(0),
            cache: Mutex::new(HashMap::new()),
        };
        let user = "veil_tls_user".to_string();
        let password = "Pw15-Tls+Scram secret".to_string();
        let db = "veil_tls_db".to_string();
        cluster.psql(
            "postgres",
            &format!(
                "CREATE ROLE {user} LOGIN PASSWORD '{password}';\n\
                 CREATE ROLE veil_gss_user LOGIN;\n\
                 CREATE DATABASE {db} OWNER {user};"
            ),
        );
        // The fixture, loaded by its owner (over the trusted socket).
        let mut psql = cluster.command("psql");
        psql.env("PGUSER", &user)
            .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", &db, "-f"])
            .arg(fixtures_dir().join("rules_tools.sql"));
        let out = run(&mut psql, None);
        if !out.status.success() {
            return Err(format!(
                "loading rules_tools as {user}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(TlsCluster {
            ca: cluster.base.join("certs").join("ca.crt"),
            other_ca: cluster.base.join("certs").join("other-ca.crt"),
            cluster,
            user,
            password,
            db,
        })
    }
}

/// The whole file at `path` (a test's own output).
pub fn read_file(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The SQL script `pg_restore -f -` makes of `archive`, as `restrict_free` leaves it.
pub fn pg_restore_script(c: &Cluster, archive: &Path) -> Vec<u8> {
    let out = run_ok(
        c.command("pg_restore").arg("-f").arg("-").arg(archive),
        None,
        "pg_restore -f -",
    );
    restrict_free(&out.stdout)
}

/// `got == expected` (for the direct read's tests: the pg_dump read's output is the expected one),
/// else the lines from the first that differs.
pub fn assert_same_text(expected: &[u8], got: &[u8], what: &str) {
    if expected != got {
        let (a, b) = (
            String::from_utf8_lossy(expected),
            String::from_utf8_lossy(got),
        );
        let line = a
            .lines()
            .zip(b.lines())
            .position(|(x, y)| x != y)
            .unwrap_or(a.lines().count().min(b.lines().count()));
        panic!(
            "{what}: they differ from line {}:\n--- expected ---\n{}\n--- got ---\n{}",
            line + 1,
            a.lines().skip(line).take(6).collect::<Vec<_>>().join("\n"),
            b.lines().skip(line).take(6).collect::<Vec<_>>().join("\n"),
        );
    }
}
