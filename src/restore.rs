//! Restoring artifacts into a database: plain SQL (`.gz`) streamed into `psql -v ON_ERROR_STOP=1
//! --single-transaction`, custom archives given to `pg_restore --single-transaction`. The connection
//! comes from the usual libpq settings (a conninfo / URI given as the database, PG* variables); its
//! password reaches the child through its environment, never its command line, and is scrubbed from
//! the child's messages ([`crate::input::client`] starts every child).
//!
//! The caller hands over artifacts whose SHA-256 it has already checked (a bucket's object
//! downloaded and checked first): SQL can `COMMIT` and run `\!` shell commands by itself, so no byte
//! of an unchecked artifact may reach psql or pg_restore. A plain artifact is still hashed again as
//! it streams, and psql is killed before its input ends (which would commit) on a mismatch.

use std::io::{Read, Write};
use std::path::Path;
use std::process::Stdio;

use crate::input::client::{Client, ClientError, ClientProgram};
use crate::input::conninfo::ConnInfo;

use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Client(#[from] ClientError),
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
    #[error("psql printed no row count for {0}")]
    UnexpectedCount(String),
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
            let mut client = Client::new(ClientProgram::Psql);
            client
                .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "--single-transaction"])
                .args(["-o", "/dev/null", "-f", "-"])
                .connect(Some(db), "-d")
                .piped_stdin();
            let mut psql = client.spawn()?;
            let mut stdin = psql.stdin().expect("piped");
            let copied = std::io::copy(&mut gz, &mut stdin);
            drop(gz);
            let digest = copied.and_then(|_| hashing.finish());
            let verdict = match digest {
                Ok((actual, _)) => check(what, expected_sha256, actual),
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                    // psql stopped (an SQL error): its status and message tell why.
                    drop(stdin);
                    return Ok(psql.wait()?);
                }
                Err(e) => Err(io(e)),
            };
            if let Err(e) = verdict {
                // Kill before closing stdin: psql commits only when its input ends.
                psql.kill();
                return Err(e);
            }
            drop(stdin);
            Ok(psql.wait()?)
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
    let mut client = Client::new(ClientProgram::PgRestore);
    match db {
        Some(_) => {
            client.arg("--exit-on-error");
            match options.parallel() {
                Some(j) => client.arg(format!("--jobs={j}")),
                None => client.arg("--single-transaction"),
            };
            client.connect(db, "--dbname");
        }
        None => {
            client.args(["-f", "-"]).stdout(Stdio::inherit());
        }
    }
    if options.no_owner {
        client.args(["--no-owner", "--no-acl"]);
    }
    for t in &options.tables {
        client.arg(format!("--table={t}"));
    }
    // `--`: an archive path starting with `-` is not an option.
    client.arg("--").arg(archive);
    match client.run() {
        // pg_restore printing to our stdout was killed by SIGPIPE: the reader went away
        // (`| head`), which is no failure of the restore; said as the broken pipe it is.
        Err(ClientError::Failed { status, .. }) if db.is_none() && killed_by_sigpipe(status) => {
            Err(RestoreError::Io {
                what: archive.display().to_string(),
                source: std::io::ErrorKind::BrokenPipe.into(),
            })
        }
        r => Ok(r?),
    }
}

fn killed_by_sigpipe(status: std::process::ExitStatus) -> bool {
    use std::os::unix::process::ExitStatusExt;
    // SIGPIPE is 13 on every Unix pgveil runs on (libc is a Linux-only dependency here).
    const SIGPIPE: i32 = 13;
    status.signal() == Some(SIGPIPE)
}

/// `createdb` / `dropdb --if-exists` of the database `conn` names. A plain name uses the PG*
/// settings; a connection string's other parameters reach the server through `--maintenance-db`
/// (the `postgres` database there).
fn db_command(program: ClientProgram, conn: &ConnInfo, extra: &[&str]) -> Result<(), RestoreError> {
    let name = conn
        .dbname()
        .filter(|n| !n.is_empty())
        .ok_or_else(|| RestoreError::NoDatabase(conn.describe()))?
        .to_string();
    let mut client = Client::new(program);
    client.args(extra);
    if !conn.is_plain_name() {
        client.connect(Some(&conn.with_dbname("postgres")), "--maintenance-db");
    }
    client.arg("--").arg(&name);
    Ok(client.run()?)
}

pub fn createdb(conn: &ConnInfo) -> Result<(), RestoreError> {
    db_command(ClientProgram::Createdb, conn, &[])
}

pub fn dropdb(conn: &ConnInfo) -> Result<(), RestoreError> {
    db_command(ClientProgram::Dropdb, conn, &["--if-exists"])
}

/// `SELECT count(*)` of one table.
pub fn count_rows(db: &ConnInfo, schema: &str, table: &str) -> Result<i64, RestoreError> {
    let q = |s: &str| format!("\"{}\"", s.replace('"', "\"\""));
    let sql = format!("SELECT count(*) FROM {}.{}", q(schema), q(table));
    let mut client = Client::new(ClientProgram::Psql);
    client
        .args(["-X", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
        .connect(Some(db), "-d")
        .args(["-c", &sql]);
    let out = client.output()?;
    String::from_utf8_lossy(&out)
        .trim()
        .parse()
        .map_err(|_| RestoreError::UnexpectedCount(format!("{schema}.{table}")))
}
