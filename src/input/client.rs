//! The one way pgveil runs PostgreSQL's client programs (pg_dump, psql, pg_restore, createdb,
//! dropdb): which binary ([`ClientProgram::path`], the same override variables for every caller),
//! how the connection reaches it ([`Client::connect`]: the public part of the connection string on
//! the command line, the secrets through the environment or a private service file, see
//! [`super::conninfo`]), where its standard streams go, and how it ends: a failure is a typed
//! [`ClientError`] naming the program and carrying its standard error with the secrets scrubbed.
//!
//! The child's standard error is always collected on a thread of its own (unless discarded), so a
//! chatty child can never block on a full pipe while pgveil reads its output or feeds its input.

use std::ffi::{OsStr, OsString};
use std::io::{self, Read};
use std::process::{Child, ChildStdin, ChildStdout, Command, ExitStatus, Stdio};
use std::thread::JoinHandle;

use super::conninfo::ConnInfo;

/// A folder holding every client program (e.g. `/usr/lib/postgresql/15/bin`); a program's own
/// variable ([`ClientProgram::override_var`]) takes precedence over it. (Not `PGVEIL_PG_BINDIR`:
/// the tests use that name for the server binaries they start clusters with, and their PATH
/// wrappers of the client programs must stay in effect.)
pub const BINDIR_VAR: &str = "PGVEIL_CLIENT_BINDIR";

/// The PostgreSQL client programs pgveil runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientProgram {
    PgDump,
    Psql,
    PgRestore,
    Createdb,
    Dropdb,
}

impl ClientProgram {
    /// The program's file name.
    pub fn name(self) -> &'static str {
        match self {
            ClientProgram::PgDump => "pg_dump",
            ClientProgram::Psql => "psql",
            ClientProgram::PgRestore => "pg_restore",
            ClientProgram::Createdb => "createdb",
            ClientProgram::Dropdb => "dropdb",
        }
    }

    /// The environment variable naming this program's binary.
    pub fn override_var(self) -> &'static str {
        match self {
            ClientProgram::PgDump => "PGVEIL_PG_DUMP",
            ClientProgram::Psql => "PGVEIL_PSQL",
            ClientProgram::PgRestore => "PGVEIL_PG_RESTORE",
            ClientProgram::Createdb => "PGVEIL_CREATEDB",
            ClientProgram::Dropdb => "PGVEIL_DROPDB",
        }
    }

    /// What to execute: the program's own variable when set, else the program in
    /// `PGVEIL_CLIENT_BINDIR` when that is set, else the name (looked up in `PATH`).
    pub fn path(self) -> OsString {
        let set = |var: &str| std::env::var_os(var).filter(|v| !v.is_empty());
        if let Some(path) = set(self.override_var()) {
            return path;
        }
        match set(BINDIR_VAR) {
            Some(dir) => std::path::Path::new(&dir).join(self.name()).into(),
            None => self.name().into(),
        }
    }
}

impl std::fmt::Display for ClientProgram {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("starting {program} (is PostgreSQL's client installed and on PATH? {var} or PGVEIL_CLIENT_BINDIR can name it)", var = .program.override_var())]
    Spawn {
        program: ClientProgram,
        #[source]
        source: io::Error,
    },
    #[error("talking to {program}")]
    Io {
        program: ClientProgram,
        #[source]
        source: io::Error,
    },
    /// The program ran and failed; `stderr` is what it printed, secrets scrubbed.
    #[error("{program} failed ({status}): {stderr}")]
    Failed {
        program: ClientProgram,
        status: ExitStatus,
        stderr: String,
    },
}

/// The child starts with SIGINT and SIGTERM deliverable. pgveil blocks both in every thread
/// (`crate::interrupt` waits for them with `sigwait`) and a child inherits the blocked mask of the
/// thread that starts it: pg_dump or psql would then ignore a Ctrl-C on the terminal and the
/// cleanup's SIGTERM, and only die of the SIGKILL that follows.
fn unblock_stop_signals(cmd: &mut Command) {
    #[cfg(unix)]
    {
        use std::os::unix::process::CommandExt;
        // SAFETY: the closure runs in the child between fork and exec and calls only
        // async-signal-safe functions (sigemptyset, sigaddset, pthread_sigmask) on a local set.
        unsafe {
            cmd.pre_exec(|| {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGINT);
                libc::sigaddset(&mut set, libc::SIGTERM);
                libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
                Ok(())
            });
        }
    }
}

/// A client program about to be started. Standard input defaults to nothing (`/dev/null`),
/// standard output to nothing, standard error to collected (for the error message).
pub struct Client {
    program: ClientProgram,
    cmd: Command,
    conn: Option<ConnInfo>,
    stdout: Option<Stdio>,
    quiet: bool,
}

impl Client {
    pub fn new(program: ClientProgram) -> Client {
        let mut cmd = Command::new(program.path());
        cmd.stdin(Stdio::null());
        unblock_stop_signals(&mut cmd);
        Client {
            program,
            cmd,
            conn: None,
            stdout: None,
            quiet: false,
        }
    }

    pub fn program(&self) -> ClientProgram {
        self.program
    }

    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Client {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I, S>(&mut self, args: I) -> &mut Client
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.cmd.args(args);
        self
    }

    /// Connect with `conn` (none: libpq's defaults, nothing passed): `FLAG PUBLIC-PART` as
    /// arguments, the secrets through the environment; the secrets are scrubbed from the error.
    pub fn connect(&mut self, conn: Option<&ConnInfo>, flag: &str) -> &mut Client {
        if let Some(conn) = conn {
            conn.apply(&mut self.cmd, flag);
            self.conn = Some(conn.clone());
        }
        self
    }

    /// Give the child a pipe to write into ([`Running::stdin`]).
    pub fn piped_stdin(&mut self) -> &mut Client {
        self.cmd.stdin(Stdio::piped());
        self
    }

    /// Where the child's standard output goes (default: nowhere). [`Client::output`] and
    /// [`Running::stdout`] need `Stdio::piped()`.
    pub fn stdout(&mut self, stdout: Stdio) -> &mut Client {
        self.stdout = Some(stdout);
        self
    }

    /// Discard the child's standard error instead of collecting it.
    pub fn quiet(&mut self) -> &mut Client {
        self.quiet = true;
        self
    }

    /// The command as it would run (for tests and logs: the secrets are not in it).
    pub fn command(&self) -> &Command {
        &self.cmd
    }

    pub fn spawn(mut self) -> Result<Running, ClientError> {
        let program = self.program;
        self.cmd
            .stdout(self.stdout.take().unwrap_or_else(Stdio::null))
            .stderr(if self.quiet {
                Stdio::null()
            } else {
                Stdio::piped()
            });
        let mut child = self
            .cmd
            .spawn()
            .map_err(|source| ClientError::Spawn { program, source })?;
        let stderr = child.stderr.take().map(|mut pipe| {
            std::thread::spawn(move || {
                let mut s = Vec::new();
                let _ = pipe.read_to_end(&mut s);
                String::from_utf8_lossy(&s).into_owned()
            })
        });
        Ok(Running {
            program,
            child,
            stderr,
            conn: self.conn,
        })
    }

    /// Run to completion; the standard output.
    pub fn output(mut self) -> Result<Vec<u8>, ClientError> {
        self.stdout = Some(Stdio::piped());
        self.spawn()?.wait_with_stdout()
    }

    /// Run to completion (standard output where [`Client::stdout`] said).
    pub fn run(self) -> Result<(), ClientError> {
        self.spawn()?.wait()
    }
}

/// A started client program. Ends with [`Running::wait`] (checked) or [`Running::kill`].
pub struct Running {
    program: ClientProgram,
    child: Child,
    stderr: Option<JoinHandle<String>>,
    conn: Option<ConnInfo>,
}

impl Running {
    pub fn program(&self) -> ClientProgram {
        self.program
    }

    /// The pipe into the child (with [`Client::piped_stdin`]); closing it ends the child's input.
    pub fn stdin(&mut self) -> Option<ChildStdin> {
        self.child.stdin.take()
    }

    /// Put the input pipe back (so that [`Running::wait`] / drop close it last).
    pub fn keep_stdin(&mut self, stdin: ChildStdin) {
        self.child.stdin = Some(stdin);
    }

    /// The pipe from the child (with `Client::stdout(Stdio::piped())`).
    pub fn stdout(&mut self) -> Option<ChildStdout> {
        self.child.stdout.take()
    }

    /// Borrow the input pipe in place.
    pub fn stdin_mut(&mut self) -> Option<&mut ChildStdin> {
        self.child.stdin.as_mut()
    }

    /// Borrow the output pipe in place.
    pub fn stdout_mut(&mut self) -> Option<&mut ChildStdout> {
        self.child.stdout.as_mut()
    }

    /// Read the child's standard output to its end, then [`Running::wait`].
    pub fn wait_with_stdout(mut self) -> Result<Vec<u8>, ClientError> {
        let mut out = Vec::new();
        let read = match self.child.stdout.take() {
            Some(mut pipe) => pipe.read_to_end(&mut out).map(drop),
            None => Ok(()),
        };
        self.wait()?;
        read.map_err(|source| ClientError::Io {
            program: self.program,
            source,
        })?;
        Ok(out)
    }

    /// Close the input, wait for the child, and turn a failure into [`ClientError::Failed`]
    /// with its (scrubbed) standard error.
    pub fn wait(&mut self) -> Result<(), ClientError> {
        drop(self.child.stdin.take());
        let program = self.program;
        let status = self
            .child
            .wait()
            .map_err(|source| ClientError::Io { program, source })?;
        let stderr = self
            .stderr
            .take()
            .map(|h| h.join().unwrap_or_default())
            .unwrap_or_default();
        if status.success() {
            return Ok(());
        }
        let stderr = stderr.trim();
        Err(ClientError::Failed {
            program,
            status,
            stderr: match &self.conn {
                Some(conn) => conn.scrub(stderr),
                None => stderr.to_string(),
            },
        })
    }

    /// Stop the child (SIGKILL) before its input ends, and reap it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(stderr) = self.stderr.take() {
            let _ = stderr.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::sync::Mutex;

    /// The tests set process-wide environment variables: one at a time.
    static ENV: Mutex<()> = Mutex::new(());

    const PROGRAMS: [ClientProgram; 5] = [
        ClientProgram::PgDump,
        ClientProgram::Psql,
        ClientProgram::PgRestore,
        ClientProgram::Createdb,
        ClientProgram::Dropdb,
    ];

    /// A script that records its name, argv and PGPASSWORD into `log`, prints `out`, writes
    /// `err` on stderr and exits with `code`.
    fn script(dir: &Path, name: &str, code: i32) -> PathBuf {
        let path = dir.join(name);
        let log = dir.join(format!("{name}.log"));
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\n{{ echo \"prog=$0\"; for a in \"$@\"; do echo \"arg=$a\"; done; \
                 echo \"PGPASSWORD=$PGPASSWORD\"; }} > '{}'\n\
                 echo out-of-{name}\necho \"err of {name}: bad password s3cr3t\" >&2\nexit {code}\n",
                log.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn log(dir: &Path, name: &str) -> String {
        std::fs::read_to_string(dir.join(format!("{name}.log"))).unwrap()
    }

    fn clear_env() {
        for p in PROGRAMS {
            std::env::remove_var(p.override_var());
        }
        std::env::remove_var(BINDIR_VAR);
    }

    #[test]
    fn each_program_honours_its_override_and_gets_the_password_only_in_its_environment() {
        let _guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        let conn = ConnInfo::parse("postgresql://u:s3cr3t@h/shop").unwrap();
        clear_env();
        for p in PROGRAMS {
            let fake = script(dir.path(), &format!("fake-{}", p.name()), 0);
            std::env::set_var(p.override_var(), &fake);
            let mut client = Client::new(p);
            client.connect(Some(&conn), "--dbname").arg("--flag");
            assert_eq!(
                client.output().unwrap(),
                format!("out-of-fake-{p}\n").as_bytes()
            );
            let log = log(dir.path(), &format!("fake-{p}"));
            assert!(
                log.contains(&format!("prog={}", fake.display())),
                "{p}: {log}"
            );
            assert!(
                log.contains("arg=--dbname\narg=user='u' host='h' dbname='shop'\narg=--flag\n"),
                "{p}: {log}"
            );
            assert!(log.contains("PGPASSWORD=s3cr3t\n"), "{p}: {log}");
            assert_eq!(
                log.matches("s3cr3t").count(),
                1,
                "{p}: only in the env: {log}"
            );
        }
        clear_env();
    }

    #[test]
    fn a_child_starts_with_sigint_and_sigterm_deliverable() {
        let _guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        clear_env();
        let fake = dir.path().join("fake-psql");
        std::fs::write(&fake, "#!/bin/sh\nexec grep SigBlk /proc/self/status\n").unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        std::env::set_var(ClientProgram::Psql.override_var(), &fake);
        // As in pgveil, the starting thread has both signals blocked (its own thread here, so
        // the test runner's threads keep their mask).
        let out = std::thread::spawn(|| {
            // SAFETY: plain libc calls on a local set, for this thread only.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGINT);
                libc::sigaddset(&mut set, libc::SIGTERM);
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
            }
            Client::new(ClientProgram::Psql).output().unwrap()
        })
        .join()
        .unwrap();
        clear_env();
        let line = String::from_utf8(out).unwrap();
        let mask =
            u64::from_str_radix(line.trim().trim_start_matches("SigBlk:").trim(), 16).unwrap();
        let bit = |sig: i32| 1u64 << (sig - 1);
        assert_eq!(mask & (bit(libc::SIGINT) | bit(libc::SIGTERM)), 0, "{line}");
    }

    #[test]
    fn the_bindir_names_every_program_and_a_program_variable_wins() {
        let _guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        clear_env();
        for p in PROGRAMS {
            script(dir.path(), p.name(), 0);
        }
        std::env::set_var(BINDIR_VAR, dir.path());
        for p in PROGRAMS {
            assert_eq!(p.path(), dir.path().join(p.name()).into_os_string());
            Client::new(p).run().unwrap();
            assert!(log(dir.path(), p.name())
                .contains(&format!("prog={}", dir.path().join(p.name()).display())));
        }
        let own = script(dir.path(), "own-psql", 0);
        std::env::set_var("PGVEIL_PSQL", &own);
        assert_eq!(ClientProgram::Psql.path(), own.into_os_string());
        clear_env();
        assert_eq!(
            ClientProgram::PgRestore.path(),
            OsString::from("pg_restore")
        );
    }

    #[test]
    fn a_failure_names_the_program_and_carries_its_scrubbed_stderr() {
        let _guard = ENV.lock().unwrap_or_else(|e| e.into_inner());
        let dir = tempfile::tempdir().unwrap();
        clear_env();
        std::env::set_var("PGVEIL_PG_RESTORE", script(dir.path(), "failing", 3));
        let conn = ConnInfo::parse("host=h password=s3cr3t dbname=x").unwrap();
        let mut client = Client::new(ClientProgram::PgRestore);
        client.connect(Some(&conn), "-d");
        let err = client.run().unwrap_err();
        let ClientError::Failed {
            program, stderr, ..
        } = &err
        else {
            panic!("{err:?}")
        };
        assert_eq!(*program, ClientProgram::PgRestore);
        assert_eq!(stderr, "err of failing: bad password ****");
        let shown = err.to_string();
        assert!(
            shown.starts_with("pg_restore failed (exit status: 3): err of failing"),
            "{shown}"
        );
        // A missing program: the spawn error, typed, named once.
        std::env::set_var("PGVEIL_PG_RESTORE", dir.path().join("missing"));
        let err = Client::new(ClientProgram::PgRestore).run().unwrap_err();
        assert!(
            matches!(&err, ClientError::Spawn { source, .. } if source.kind() == io::ErrorKind::NotFound),
            "{err:?}"
        );
        clear_env();
    }
}
