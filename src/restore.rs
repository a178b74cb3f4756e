//! Restoring artifacts into a database: plain SQL (`.gz`) streamed into `psql -v ON_ERROR_STOP=1`,
//! custom archives given to `pg_restore`. The connection comes from the usual libpq settings (a
//! conninfo / URI given as the database, PG* variables).
//!
//! A plain artifact streams into `psql --single-transaction` while its SHA-256 is computed; psql's
//! stdin is closed (which commits) only when the checksum matched the manifest. On a mismatch psql
//! is killed, the transaction never commits, and the error names the artifact: a corrupt artifact
//! leaves nothing behind, and the artifact is read only once (no local copy of an S3 object). A
//! custom archive from a bucket streams the same way into `pg_restore --single-transaction`, its
//! last bytes held back until the checksum matched; with `--jobs` (pg_restore must seek) it is
//! downloaded and checked first.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("running {program}: {source}")]
    Spawn {
        program: String,
        source: std::io::Error,
    },
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        program: String,
        status: std::process::ExitStatus,
        stderr: String,
    },
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{what}: SHA-256 {actual} does not match the manifest ({expected}): the artifact is corrupt; nothing was restored")]
    Checksum {
        what: String,
        expected: String,
        actual: String,
    },
}

/// Reads through, computing SHA-256 and length.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    len: u64,
}

impl<R: Read> HashingReader<R> {
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            len: 0,
        }
    }

    /// Read what is left (a gzip decoder may stop before trailing bytes), then the digest.
    pub fn finish(mut self) -> std::io::Result<(String, u64)> {
        std::io::copy(&mut self, &mut std::io::sink())?;
        Ok((hex::encode(self.hasher.finalize()), self.len))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }
}

fn spawn(cmd: &mut Command, program: &str) -> Result<Child, RestoreError> {
    cmd.spawn().map_err(|source| RestoreError::Spawn {
        program: program.into(),
        source,
    })
}

fn wait(child: Child, program: &str) -> Result<(), RestoreError> {
    let out = child
        .wait_with_output()
        .map_err(|source| RestoreError::Spawn {
            program: program.into(),
            source,
        })?;
    if out.status.success() {
        Ok(())
    } else {
        Err(RestoreError::Failed {
            program: program.into(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        })
    }
}

/// Where decompressed plain SQL goes.
pub enum PlainTarget<'a> {
    /// `psql -d DBNAME` in one transaction.
    Database(&'a str),
    /// Our stdout (e.g. `| psql devdb`): the checksum is checked at the end, so verify first.
    Stdout,
}

/// Stream a gzip'ed plain artifact into `target`, checking its SHA-256 (`what` names it).
pub fn restore_plain(
    source: Box<dyn Read + Send>,
    what: &str,
    expected_sha256: &str,
    target: PlainTarget<'_>,
) -> Result<(), RestoreError> {
    let io = |source: std::io::Error| RestoreError::Io {
        what: what.to_string(),
        source,
    };
    let mut hashing = HashingReader::new(source);
    let mut gz = flate2::read::MultiGzDecoder::new(&mut hashing);
    match target {
        PlainTarget::Stdout => {
            let stdout = std::io::stdout();
            let mut lock = stdout.lock();
            std::io::copy(&mut gz, &mut lock).map_err(io)?;
            lock.flush().map_err(io)?;
            drop(gz);
            let (actual, _) = hashing.finish().map_err(io)?;
            check(what, expected_sha256, actual)
        }
        PlainTarget::Database(db) => {
            let mut child = spawn(
                Command::new("psql")
                    .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"])
                    .args(["-o", "/dev/null", "-f", "-", "-d", db])
                    .stdin(Stdio::piped())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped()),
                "psql",
            )?;
            let mut stdin = child.stdin.take().expect("piped");
            let copied = std::io::copy(&mut gz, &mut stdin);
            drop(gz);
            let digest = copied.and_then(|_| hashing.finish());
            let verdict = match digest {
                Ok((actual, _)) => check(what, expected_sha256, actual),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    // psql stopped (an SQL error): its status and message tell why.
                    drop(stdin);
                    return wait(child, "psql");
                }
                Err(e) => Err(io(e)),
            };
            if let Err(e) = verdict {
                // Kill before closing stdin: psql commits only when its input ends.
                let _ = child.kill();
                let _ = child.wait();
                return Err(e);
            }
            drop(stdin);
            wait(child, "psql")
        }
    }
}

fn check(what: &str, expected: &str, actual: String) -> Result<(), RestoreError> {
    if actual == expected {
        Ok(())
    } else {
        Err(RestoreError::Checksum {
            what: what.into(),
            expected: expected.into(),
            actual,
        })
    }
}

/// Options of a `pg_restore` run.
#[derive(Debug, Default, Clone)]
pub struct PgRestoreOptions {
    pub jobs: Option<u32>,
    pub tables: Vec<String>,
    pub no_owner: bool,
}

/// `pg_restore` a custom archive file into `db` (or to stdout as SQL when `db` is `None`).
pub fn pg_restore(
    archive: &Path,
    db: Option<&str>,
    options: &PgRestoreOptions,
) -> Result<(), RestoreError> {
    let mut cmd = Command::new("pg_restore");
    match db {
        Some(db) => {
            cmd.args(["--exit-on-error", "-d", db]);
            if let Some(j) = options.jobs.filter(|j| *j > 1) {
                cmd.arg(format!("--jobs={j}"));
            }
            cmd.stdout(Stdio::null());
        }
        None => {
            cmd.args(["-f", "-"]).stdout(Stdio::inherit());
        }
    }
    if options.no_owner {
        cmd.args(["--no-owner", "--no-acl"]);
    }
    for t in &options.tables {
        cmd.arg(format!("--table={t}"));
    }
    cmd.arg(archive).stdin(Stdio::null()).stderr(Stdio::piped());
    let child = spawn(&mut cmd, "pg_restore")?;
    wait(child, "pg_restore")
}

/// How much of a streamed custom archive is held back until its checksum is known.
const HELD_BACK: u64 = 64 * 1024;

/// Stream a custom archive (`expected_len` bytes, SHA-256 `expected_sha256`) from `source` into
/// `pg_restore --single-transaction -d db`, with no local copy (pg_restore reads a piped archive
/// in order; `--jobs` needs a file). The checksum is known only once everything is read, so the
/// last bytes are held back until it matches the manifest: a whole restore cannot finish, and so
/// cannot commit, without them, and on a mismatch pg_restore is killed with nothing restored. (A
/// `--table` restore may finish early: the caller checks those first.)
pub fn pg_restore_stream(
    source: Box<dyn Read + Send>,
    what: &str,
    expected_sha256: &str,
    expected_len: u64,
    db: &str,
    options: &PgRestoreOptions,
) -> Result<(), RestoreError> {
    let io = |source: std::io::Error| RestoreError::Io {
        what: what.to_string(),
        source,
    };
    let mut cmd = Command::new("pg_restore");
    cmd.args(["--exit-on-error", "--single-transaction", "-d", db]);
    if options.no_owner {
        cmd.args(["--no-owner", "--no-acl"]);
    }
    for t in &options.tables {
        cmd.arg(format!("--table={t}"));
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let mut child = spawn(&mut cmd, "pg_restore")?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut hashing = HashingReader::new(source);
    let head = expected_len.saturating_sub(HELD_BACK);
    let streamed = std::io::copy(&mut (&mut hashing).take(head), &mut stdin);
    let mut tail = Vec::new();
    let read = streamed.and_then(|_| hashing.read_to_end(&mut tail).map(|_| ()));
    let verdict = |hashing: HashingReader<Box<dyn Read + Send>>| {
        let (actual, len) = hashing.finish().map_err(io)?;
        check(what, expected_sha256, actual)?;
        if len == expected_len {
            Ok(())
        } else {
            Err(RestoreError::Checksum {
                what: what.to_string(),
                expected: format!("{expected_sha256}, {expected_len} bytes"),
                actual: format!("{len} bytes"),
            })
        }
    };
    match read {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            // pg_restore stopped. A corrupt artifact explains more than pg_restore's message (it
            // rolled back either way): read the rest to tell.
            drop(stdin);
            let failed = wait(child, "pg_restore");
            verdict(hashing)?;
            return failed;
        }
        Err(e) => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io(e));
        }
        Ok(()) => {}
    }
    if let Err(e) = verdict(hashing) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let written = stdin.write_all(&tail);
    drop(stdin);
    let finished = wait(child, "pg_restore");
    match written {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe && finished.is_ok() => Err(io(e)),
        _ => finished,
    }
}

/// `createdb NAME` / `dropdb --if-exists NAME` (connection from PG* settings).
pub fn createdb(name: &str) -> Result<(), RestoreError> {
    let child = spawn(
        Command::new("createdb")
            .arg(name)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
        "createdb",
    )?;
    wait(child, "createdb")
}

pub fn dropdb(name: &str) -> Result<(), RestoreError> {
    let child = spawn(
        Command::new("dropdb")
            .args(["--if-exists", name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped()),
        "dropdb",
    )?;
    wait(child, "dropdb")
}

/// `SELECT count(*)` of one table.
pub fn count_rows(db: &str, schema: &str, table: &str) -> Result<i64, RestoreError> {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let sql = format!("SELECT count(*) FROM {}.{}", q(schema), q(table));
    let out = Command::new("psql")
        .args([
            "-X",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            db,
            "-c",
            &sql,
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|source| RestoreError::Spawn {
            program: "psql".into(),
            source,
        })?;
    if !out.status.success() {
        return Err(RestoreError::Failed {
            program: "psql".into(),
            status: out.status,
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|_| RestoreError::Io {
            what: format!("counting {schema}.{table}"),
            source: std::io::Error::other("unexpected psql output"),
        })
}
