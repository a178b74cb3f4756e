//! Where the plain dump comes from: a file, stdin, either possibly gzip'ed (detected by its magic
//! bytes), or a `pg_dump -Fp` child process that pgveil spawns with libpq's usual connection settings.
//!
//! The connection string's secrets reach pg_dump through its environment, never its command line,
//! and are scrubbed from its messages ([`crate::conninfo`]).
//!
//! A spawned pg_dump is checked when the stream ends: a non-zero exit fails the pass with pg_dump's own
//! message, so a dump cut short by pg_dump can never be published.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;

use flate2::read::MultiGzDecoder;

use crate::conninfo::{scrub, ConnInfo, ConnInfoError};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("opening {path}")]
    Open { path: PathBuf, source: io::Error },
    #[error("starting pg_dump: {0} (is PostgreSQL's client installed and on PATH?)")]
    Spawn(io::Error),
    #[error("pg_dump failed ({status}): {stderr}")]
    PgDump { status: String, stderr: String },
    #[error(transparent)]
    ConnInfo(#[from] ConnInfoError),
    #[error("{0} among the pg_dump arguments: give the database with pgveil's own --dbname (its password then stays off pg_dump's command line)")]
    DbnameInExtra(&'static str),
}

/// How to connect and what to pass to a spawned pg_dump.
#[derive(Debug, Clone, Default)]
pub struct PgDumpArgs {
    /// A database name or libpq connection string/URI; `None` = libpq defaults (`PGDATABASE` …).
    pub dbname: Option<String>,
    /// Extra pg_dump arguments (after `--` on the command line).
    pub extra: Vec<OsString>,
    /// `--schema-only` instead of a full dump.
    pub schema_only: bool,
}

impl PgDumpArgs {
    /// The command, and the connection it was given (to scrub secrets from pg_dump's messages).
    /// The connection string's secrets never reach the command line (see [`crate::conninfo`]).
    fn command(&self) -> Result<(Command, Option<ConnInfo>), SourceError> {
        let mut cmd =
            Command::new(std::env::var_os("PGVEIL_PG_DUMP").unwrap_or_else(|| "pg_dump".into()));
        cmd.arg("--format=plain");
        if self.schema_only {
            cmd.arg("--schema-only");
        }
        // A connection string among the pg_dump arguments would reach its command line as given.
        if let Some(a) = self.extra.iter().find(|a| {
            let a = a.to_string_lossy();
            a.starts_with("--dbname") || (a.starts_with("-d") && !a.starts_with("--"))
        }) {
            let flag = a.to_string_lossy();
            let flag = if flag.starts_with("--") {
                "--dbname"
            } else {
                "-d"
            };
            return Err(SourceError::DbnameInExtra(flag));
        }
        let conn = ConnInfo::parse_opt(self.dbname.as_deref())?;
        if let Some(conn) = &conn {
            conn.apply(&mut cmd, "--dbname");
        }
        cmd.args(&self.extra);
        Ok((cmd, conn))
    }

    /// Run pg_dump to completion and return its output (used for the small schema-only dump).
    pub fn run_to_vec(&self) -> Result<Vec<u8>, SourceError> {
        let (mut cmd, conn) = self.command()?;
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(SourceError::Spawn)?;
        if !out.status.success() {
            return Err(SourceError::PgDump {
                status: out.status.to_string(),
                stderr: scrub(conn.as_ref(), String::from_utf8_lossy(&out.stderr).trim()),
            });
        }
        Ok(out.stdout)
    }
}

/// The database name a connection string or name refers to (for naming artifacts).
pub fn dbname_of(conn: Option<&str>) -> Option<String> {
    let conn = match conn {
        Some(c) => c,
        None => {
            return std::env::var("PGDATABASE")
                .ok()
                .or_else(|| std::env::var("PGUSER").ok())
        }
    };
    crate::conninfo::database_name(conn).filter(|n| !n.is_empty())
}

/// An open source of plain-dump bytes.
pub struct Source {
    reader: Box<dyn Read + Send>,
    child: Option<(Child, JoinHandle<String>, Option<ConnInfo>)>,
    bytes_read: Arc<AtomicU64>,
    description: String,
}

/// Counts the compressed/raw bytes taken from the underlying input (for progress).
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Source {
    /// A file, or stdin when `path` is `-`.
    pub fn open_input(path: &Path) -> Result<Source, SourceError> {
        let (raw, description): (Box<dyn Read + Send>, String) = if path == Path::new("-") {
            (Box::new(io::stdin()), "stdin".into())
        } else {
            let f = File::open(path).map_err(|source| SourceError::Open {
                path: path.to_path_buf(),
                source,
            })?;
            (Box::new(f), path.display().to_string())
        };
        Ok(Source::from_reader(raw, description, None))
    }

    /// Spawn `pg_dump -Fp` and read its standard output.
    pub fn spawn_pg_dump(args: &PgDumpArgs) -> Result<Source, SourceError> {
        let (mut cmd, conn) = args.command()?;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(SourceError::Spawn)?;
        let stdout: ChildStdout = child.stdout.take().expect("piped stdout");
        enlarge_pipe(&stdout);
        let mut stderr = child.stderr.take().expect("piped stderr");
        // Collect pg_dump's messages on the side so that a full stderr pipe can never block it.
        let handle = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s);
            s
        });
        let description = format!(
            "pg_dump {}",
            args.dbname
                .as_deref()
                .map(redact_password)
                .unwrap_or_default()
        );
        Ok(Source::from_reader(
            Box::new(stdout),
            description,
            Some((child, handle, conn)),
        ))
    }

    fn from_reader(
        raw: Box<dyn Read + Send>,
        description: String,
        child: Option<(Child, JoinHandle<String>, Option<ConnInfo>)>,
    ) -> Source {
        let bytes_read = Arc::new(AtomicU64::new(0));
        let counting = Counting {
            inner: raw,
            count: bytes_read.clone(),
        };
        let mut buffered = BufReader::with_capacity(1 << 16, counting);
        let is_gzip = buffered
            .fill_buf()
            .map(|b| b.starts_with(&[0x1f, 0x8b]))
            .unwrap_or(false);
        let reader: Box<dyn Read + Send> = if is_gzip {
            Box::new(MultiGzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        Source {
            reader,
            child,
            bytes_read,
            description,
        }
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// A shared counter of input bytes consumed so far.
    pub fn bytes_read(&self) -> Arc<AtomicU64> {
        self.bytes_read.clone()
    }

    pub fn reader(&mut self) -> &mut (dyn Read + Send) {
        &mut *self.reader
    }

    /// Wait for a spawned pg_dump and check its exit status (no-op for files).
    pub fn finish(self) -> Result<(), SourceError> {
        let Source { reader, child, .. } = self;
        drop(reader);
        if let Some((mut child, stderr, conn)) = child {
            let status = child.wait().map_err(SourceError::Spawn)?;
            let stderr = stderr.join().unwrap_or_default();
            if !status.success() {
                return Err(SourceError::PgDump {
                    status: status.to_string(),
                    stderr: scrub(conn.as_ref(), stderr.trim()),
                });
            }
        }
        Ok(())
    }

    /// After a failed read: if pg_dump failed, its error explains more than the truncated stream.
    pub fn child_failure(self) -> Option<SourceError> {
        match self.finish() {
            Err(e @ SourceError::PgDump { .. }) => Some(e),
            _ => None,
        }
    }
}

/// pg_dump writes its plain output in 4 KiB `stdio` blocks; with the default 64 KiB pipe the two
/// processes wake each other every few blocks. A 1 MiB pipe (Linux allows it unprivileged, up to
/// `/proc/sys/fs/pipe-max-size`) lets pg_dump run ahead while pgveil is busy, and lets pgveil take
/// large reads. Best effort: a refusal only costs context switches.
fn enlarge_pipe(pipe: &ChildStdout) {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        const PIPE_BYTES: libc::c_int = 1 << 20;
        // SAFETY: fcntl on a file descriptor we own; F_SETPIPE_SZ takes an int and touches no memory.
        unsafe { libc::fcntl(pipe.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_BYTES) };
    }
    #[cfg(not(target_os = "linux"))]
    let _ = pipe;
}

/// A connection string with every secret (`password`, `sslpassword`, in any form libpq accepts)
/// replaced by `****`, for logs and manifests (see [`crate::conninfo::redact`]).
pub fn redact_password(conn: &str) -> String {
    crate::conninfo::redact(conn)
}

/// A transaction kept open in a `psql` session so that several pg_dump runs (the schema-only dump for
/// the key facts and the full dump) see one consistent snapshot (`pg_dump --snapshot`).
pub struct SnapshotHolder {
    child: Child,
    pub snapshot: String,
}

impl SnapshotHolder {
    /// Open a REPEATABLE READ transaction and export its snapshot. `None` if that is not possible
    /// (no psql, a server that refuses, a standby without support): the caller then dumps without it.
    pub fn export(dbname: Option<&str>) -> Option<SnapshotHolder> {
        use std::io::Write;
        let psql = std::env::var_os("PGVEIL_PSQL").unwrap_or_else(|| "psql".into());
        let mut cmd = Command::new(psql);
        cmd.args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"]);
        if let Some(conn) = ConnInfo::parse_opt(dbname).ok()? {
            conn.apply(&mut cmd, "--dbname");
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut stdin = child.stdin.take()?;
        let sent = stdin
            .write_all(b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT pg_catalog.pg_export_snapshot();\n")
            .and_then(|_| stdin.flush());
        child.stdin = Some(stdin);
        let mut line = String::new();
        let got = sent.is_ok()
            && BufReader::new(child.stdout.as_mut()?)
                .read_line(&mut line)
                .is_ok();
        let snapshot = line.trim().to_string();
        if !got
            || snapshot.is_empty()
            || !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        Some(SnapshotHolder { child, snapshot })
    }
}

impl Drop for SnapshotHolder {
    fn drop(&mut self) {
        // Closing psql's stdin ends the session, which ends the read-only transaction.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_names_from_connection_strings() {
        assert_eq!(
            dbname_of(Some("postgresql://u:p@h:5432/shop?sslmode=require")).as_deref(),
            Some("shop")
        );
        assert_eq!(
            dbname_of(Some("host=h dbname=shop user=u")).as_deref(),
            Some("shop")
        );
        assert_eq!(dbname_of(Some("shop")).as_deref(), Some("shop"));
        assert_eq!(
            redact_password("postgresql://u:secret@h/db"),
            "postgresql://u:****@h/db"
        );
        assert_eq!(
            redact_password("host=h password=secret"),
            "host=h password=****"
        );
    }

    #[test]
    fn a_connection_string_among_the_pg_dump_arguments_is_refused() {
        for extra in [
            &["-d", "postgresql://u:pw@h/db"][..],
            &["--dbname=host=h password=pw"],
            &["-dpostgresql://u:pw@h/db"],
            &["--dbname", "x"],
        ] {
            let args = PgDumpArgs {
                extra: extra.iter().map(Into::into).collect(),
                ..PgDumpArgs::default()
            };
            let err = args.run_to_vec().unwrap_err();
            assert!(
                matches!(err, SourceError::DbnameInExtra(_)),
                "{extra:?}: {err}"
            );
            assert!(!err.to_string().contains("pw"), "{err}");
        }
    }

    #[test]
    fn detects_gzip_by_magic() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sql");
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello dump\n").unwrap();
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
        let mut src = Source::open_input(&path).unwrap();
        let mut s = String::new();
        src.reader().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello dump\n");
        // A truncated gzip stream is an error, not a short read.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 6]).unwrap();
        let mut src = Source::open_input(&path).unwrap();
        assert!(src.reader().read_to_string(&mut String::new()).is_err());
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_pipe_from_pg_dump_is_enlarged() {
        use std::os::fd::AsRawFd;
        let mut child = Command::new("true").stdout(Stdio::piped()).spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        // SAFETY: F_GETPIPE_SZ on a pipe we own.
        let size = || unsafe { libc::fcntl(stdout.as_raw_fd(), libc::F_GETPIPE_SZ) };
        let before = size();
        enlarge_pipe(&stdout);
        let after = size();
        child.wait().unwrap();
        // 1 MiB, unless the machine caps unprivileged pipes lower (fs.pipe-max-size).
        let cap: i32 = std::fs::read_to_string("/proc/sys/fs/pipe-max-size")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20);
        assert!(
            after >= (1 << 20).min(cap) && after > before,
            "pipe size {before} -> {after}"
        );
    }
}
