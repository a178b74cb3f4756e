//! The pg_dump child: how to connect and what to pass ([`PgDumpArgs`]), the streaming run that
//! feeds a pass ([`Source::spawn_pg_dump`]) and the small schema-only run ([`PgDumpArgs::run_to_vec`]).
//!
//! The extra arguments are read as pg_dump reads them ([`super::pg_dump_args`]) and refused where
//! pgveil could not work with the result; pg_dump gets them spelled out in long form, so that it
//! does exactly what pgveil concluded. The connection string's secrets reach pg_dump through its
//! environment, never its command line ([`super::client`]).

use std::ffi::OsString;
use std::process::{ChildStdout, Stdio};

use super::client::{Client, ClientProgram};
use super::conninfo::ConnInfo;
use super::pg_dump_args::PgDumpOptions;
use super::source::{Source, SourceError};

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
    /// The extra arguments as pg_dump reads them; an error for those pgveil refuses (a database
    /// among them, INSERT data, another format, an output file …).
    pub fn options(&self) -> Result<PgDumpOptions, SourceError> {
        Ok(PgDumpOptions::parse_for_pgveil(&self.extra)?)
    }

    /// The client to start (its connection's secrets off the command line).
    fn client(&self) -> Result<Client, SourceError> {
        let options = self.options()?;
        let conn = ConnInfo::parse_opt(self.dbname.as_deref())?;
        let mut client = Client::new(ClientProgram::PgDump);
        client.arg("--format=plain");
        if self.schema_only {
            client.arg("--schema-only");
        }
        client
            .connect(conn.as_ref(), "--dbname")
            .args(options.to_args());
        Ok(client)
    }

    /// Run pg_dump to completion and return its output (used for the small schema-only dump).
    pub fn run_to_vec(&self) -> Result<Vec<u8>, SourceError> {
        Ok(self.client()?.output()?)
    }
}

impl Source {
    /// Spawn `pg_dump -Fp` and read its standard output.
    pub fn spawn_pg_dump(args: &PgDumpArgs) -> Result<Source, SourceError> {
        let mut client = args.client()?;
        client.stdout(Stdio::piped());
        // pg_dump's messages are collected on the side (a full stderr pipe can never block it).
        let mut child = client.spawn()?;
        let stdout: ChildStdout = child.stdout().expect("piped stdout");
        enlarge_pipe(&stdout);
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
            Some(child),
        ))
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
    super::conninfo::database_name(conn).filter(|n| !n.is_empty())
}

/// A connection string with every secret (`password`, `sslpassword`, in any form libpq accepts)
/// replaced by `****`, for logs and manifests (see [`super::conninfo::redact`]).
pub fn redact_password(conn: &str) -> String {
    super::conninfo::redact(conn)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::pg_dump_args::PgDumpArgsError;
    use std::process::Command;

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
                matches!(err, SourceError::PgDumpArgs(PgDumpArgsError::Dbname(_))),
                "{extra:?}: {err}"
            );
            assert!(!err.to_string().contains("pw"), "{err}");
        }
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
