//! Restoring artifacts into a database: plain SQL (`.gz`) streamed into `psql -v ON_ERROR_STOP=1
//! --single-transaction`, custom archives given to `pg_restore --single-transaction`. The connection
//! comes from the usual libpq settings (a conninfo / URI given as the database, PG* variables); its
//! password reaches the child through its environment, never its command line
//! ([`crate::conninfo`]), and is scrubbed from the child's messages.
//!
//! The caller hands over artifacts whose SHA-256 it has already checked (a bucket's object
//! downloaded and checked first): SQL can `COMMIT` and run `\!` shell commands by itself, so no byte
//! of an unchecked artifact may reach psql or pg_restore. A plain artifact is still hashed again as
//! it streams, and psql is killed before its input ends (which would commit) on a mismatch.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::conninfo::ConnInfo;

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error("running {program}")]
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
    #[error("{what}")]
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
    #[error("{0} names no database")]
    NoDatabase(String),
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

fn wait(child: Child, program: &str, conn: Option<&ConnInfo>) -> Result<(), RestoreError> {
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
            stderr: crate::conninfo::scrub(conn, String::from_utf8_lossy(&out.stderr).trim()),
        })
    }
}

/// Where decompressed plain SQL goes.
pub enum PlainTarget<'a> {
    /// `psql -d CONNINFO` in one transaction.
    Database(&'a ConnInfo),
    /// Our stdout (e.g. `| psql devdb`): the checksum is checked at the end, so verify first.
    Stdout,
}

/// Stream a gzip'ed plain artifact (already checked by the caller) into `target`, checking its
/// SHA-256 again on the way (`what` names it).
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
            let mut cmd = Command::new("psql");
            cmd.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"])
                .args(["-o", "/dev/null", "-f", "-"]);
            db.apply(&mut cmd, "-d");
            let mut child = spawn(
                cmd.stdin(Stdio::piped())
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
                    return wait(child, "psql", Some(db));
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
            wait(child, "psql", Some(db))
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

impl PgRestoreOptions {
    /// Parallel jobs asked for (more than one): pg_restore cannot then restore in one transaction.
    pub fn parallel(&self) -> Option<u32> {
        self.jobs.filter(|j| *j > 1)
    }
}

/// `pg_restore` a (checked) custom archive file into `db` (or to stdout as SQL when `db` is
/// `None`). Without parallel jobs the restore is one transaction: an error (a conflicting object,
/// a missing role) leaves the database as it was. With jobs, each worker commits its own part:
/// the caller must only allow that into a database it can drop on failure (or when told to accept
/// a partial restore).
pub fn pg_restore(
    archive: &Path,
    db: Option<&ConnInfo>,
    options: &PgRestoreOptions,
) -> Result<(), RestoreError> {
    let mut cmd = Command::new("pg_restore");
    match db {
        Some(db) => {
            cmd.arg("--exit-on-error");
            match options.parallel() {
                Some(j) => cmd.arg(format!("--jobs={j}")),
                None => cmd.arg("--single-transaction"),
            };
            db.apply(&mut cmd, "--dbname");
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
    // `--`: an archive path starting with `-` is not an option.
    cmd.arg("--")
        .arg(archive)
        .stdin(Stdio::null())
        .stderr(Stdio::piped());
    let child = spawn(&mut cmd, "pg_restore")?;
    wait(child, "pg_restore", db)
}

/// `createdb` / `dropdb --if-exists` of the database `conn` names. A plain name uses the PG*
/// settings; a connection string's other parameters reach the server through `--maintenance-db`
/// (the `postgres` database there).
fn db_command(program: &str, conn: &ConnInfo, extra: &[&str]) -> Result<(), RestoreError> {
    let name = conn
        .dbname()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| RestoreError::NoDatabase(conn.describe()))?
        .to_string();
    let mut cmd = Command::new(program);
    cmd.args(extra);
    if !conn.is_plain_name() {
        conn.with_dbname("postgres")
            .apply(&mut cmd, "--maintenance-db");
    }
    cmd.arg("--")
        .arg(&name)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    let child = spawn(&mut cmd, program)?;
    wait(child, program, Some(conn))
}

pub fn createdb(conn: &ConnInfo) -> Result<(), RestoreError> {
    db_command("createdb", conn, &[])
}

pub fn dropdb(conn: &ConnInfo) -> Result<(), RestoreError> {
    db_command("dropdb", conn, &["--if-exists"])
}

/// `SELECT count(*)` of one table.
pub fn count_rows(db: &ConnInfo, schema: &str, table: &str) -> Result<i64, RestoreError> {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let sql = format!("SELECT count(*) FROM {}.{}", q(schema), q(table));
    let mut cmd = Command::new("psql");
    cmd.args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"]);
    db.apply(&mut cmd, "-d");
    let out = cmd
        .args(["-c", &sql])
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
            stderr: db.scrub(String::from_utf8_lossy(&out.stderr).trim()),
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
