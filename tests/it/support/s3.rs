//! Test support: a real S3-compatible server (`s3s-fs`, which checks request signatures) on
//! 127.0.0.1, one per test that needs it, storing objects in a temp folder.
//!
//! The binary is `$PGVEIL_S3S_FS` (set by `.ci/run`, which installs it), else `s3s-fs` on PATH, else
//! the CI cache `/var/tmp/s3s/bin/s3s-fs`. Install by hand:
//! `cargo install s3s-fs@0.14.1 --features binary --locked --root /var/tmp/s3s`.
//!
//! s3s-fs keeps a bucket as a folder `ROOT/BUCKET/` and a multipart upload in progress as
//! `ROOT/.upload-ID.json` plus `ROOT/.upload_id-ID.part-N` files: tests read those to see that an
//! upload was aborted.

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "pgveil-test-access";
pub const SECRET_KEY: &str = "pgveil-test-secret-0123456789";

pub fn s3s_fs_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("PGVEIL_S3S_FS") {
        return PathBuf::from(p);
    }
    if let Some(paths) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&paths) {
            let cand = dir.join("s3s-fs");
            if cand.is_file() {
                return cand;
            }
        }
    }
    let cached = PathBuf::from("/var/tmp/s3s/bin/s3s-fs");
    if cached.is_file() {
        return cached;
    }
    panic!(
        "s3s-fs not found: set PGVEIL_S3S_FS or install it \
         (cargo install s3s-fs@0.14.1 --features binary --locked --root /var/tmp/s3s)"
    )
}

/// A running s3s-fs; stopped (and its folder removed) on drop.
pub struct S3Server {
    child: Option<Child>,
    port: u16,
    root: tempfile::TempDir,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl S3Server {
    /// Start a server with one bucket, `bucket`.
    pub fn start(bucket: &str) -> S3Server {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir(root.path().join(bucket)).unwrap();
        let mut s = S3Server {
            child: None,
            port: free_port(),
            root,
        };
        s.restart();
        s
    }

    /// (Re)start the server on the same port and folder.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "already running");
        let child = Command::new(s3s_fs_bin())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting s3s-fs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start listening");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Kill the server (as a crash would).
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn root(&self) -> &Path {
        self.root.path()
    }

    /// Set the environment a pgveil command needs to reach this server (and nothing else).
    pub fn apply_env(&self, cmd: &mut Command) {
        for var in [
            "AWS_PROFILE",
            "AWS_SESSION_TOKEN",
            "AWS_DEFAULT_PROFILE",
            "AWS_ROLE_ARN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ] {
            cmd.env_remove(var);
        }
        cmd.env("AWS_ACCESS_KEY_ID", ACCESS_KEY)
            .env("AWS_SECRET_ACCESS_KEY", SECRET_KEY)
            .env("AWS_REGION", "us-east-1")
            .env("AWS_ENDPOINT_URL", self.endpoint())
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env("AWS_CONFIG_FILE", "/nonexistent/pgveil-test")
            .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/pgveil-test");
    }

    /// Object keys in a bucket (relative paths of the files s3s-fs stores), sorted.
    pub fn objects(&self, bucket: &str) -> Vec<String> {
        let base = self.root.path().join(bucket);
        let mut out = Vec::new();
        walk(&base, &base, &mut out);
        out.sort();
        out
    }

    /// Multipart uploads still in progress (neither completed nor aborted).
    pub fn pending_uploads(&self) -> Vec<String> {
        std::fs::read_dir(self.root.path())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".upload"))
            .collect()
    }
}

fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk(base, &p, out);
        } else {
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            // s3s-fs keeps object metadata beside the data in hidden files.
            if !rel.split('/').any(|c| c.starts_with('.')) {
                out.push(rel);
            }
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The pgveil binary under test, pointed at `server` (credentials and endpoint).
pub fn pgveil_s3(server: &S3Server) -> std::process::Command {
    let mut cmd = super::pgveil();
    server.apply_env(&mut cmd);
    cmd
}

/// `pgveil dump --dbname DB --name shop --upload URL` to `server`, which must succeed; its output
/// (stdout is the set id).
pub fn upload_shop(server: &S3Server, db: &str, url: &str) -> std::process::Output {
    super::ok(
        super::run(
            pgveil_s3(server).args(["dump", "--dbname", db, "--name", "shop", "--upload", url]),
            None,
        ),
        "dump --upload",
    )
}
