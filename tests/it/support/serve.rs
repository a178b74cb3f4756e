//! A running `pgveil serve` for the tests: a real child process on a free port with its folder
//! (configuration, state, backups), a real HTTP client, and the helpers the service tests share
//! (a source database, a job section, a trigger, a table lock that holds pg_dump). Waits are polls
//! with a generous deadline (a failure names what was awaited), never timed assertions.
//!
//! A backup that must still be running when a test acts (409, SIGTERM, SIGKILL) is held in
//! pg_dump by a table lock another session keeps ([`TableLock`]): pg_dump waits for it, so the
//! task is running for as long as the test holds the lock.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support;
use crate::support::s3::S3Server;

pub(crate) const ADMIN: &str = "admin-token-0123456789abcdef";
pub(crate) const READ: &str = "read-token-0123456789abcdef";
pub(crate) const BUCKET: &str = "pgveil-serve";

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(120)))
        .build()
        .into()
}

/// A response: status and body (JSON when it parses, else the text as a string).
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) text: String,
    pub(crate) json: Value,
}

pub(crate) fn reply(r: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut r = r.expect("the HTTP request went through");
    let status = r.status().as_u16();
    let text = r.body_mut().read_to_string().unwrap_or_default();
    let json = serde_json::from_str(&text).unwrap_or(Value::String(text.clone()));
    Reply { status, text, json }
}

/// A running `pgveil serve` with its folder (configuration, state, backups).
pub(crate) struct Server {
    child: Option<Child>,
    port: u16,
    config: PathBuf,
    stderr: PathBuf,
    s3: Option<std::sync::Arc<S3Server>>,
    args: Vec<String>,
}

impl Server {
    /// Write `config` (with `listen` and `state` added) into `dir` and start the service on it.
    pub(crate) fn start(dir: &Path, jobs: &str, s3: Option<std::sync::Arc<S3Server>>) -> Server {
        Server::start_with(dir, jobs, s3, &[])
    }

    pub(crate) fn start_with(
        dir: &Path,
        jobs: &str,
        s3: Option<std::sync::Arc<S3Server>>,
        args: &[&str],
    ) -> Server {
        let port = free_port();
        let config = dir.join("pgveil.toml");
        std::fs::write(
            &config,
            format!("[server]\nlisten = \"127.0.0.1:{port}\"\nstate = \"state.db\"\n\n{jobs}"),
        )
        .unwrap();
        let mut s = Server {
            child: None,
            port,
            config,
            stderr: dir.join("serve.log"),
            s3,
            args: args.iter().map(|a| a.to_string()).collect(),
        };
        s.spawn();
        s
    }

    pub(crate) fn spawn(&mut self) {
        assert!(self.child.is_none());
        let mut cmd = match &self.s3 {
            Some(s3) => support::s3::pgveil_s3(s3),
            None => support::pgveil(),
        };
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.stderr)
            .unwrap();
        cmd.args(["serve", "--config"])
            .arg(&self.config)
            .args(&self.args)
            .env("PGVEIL_TOKENS", format!("admin {ADMIN}; read {READ}"))
            .stdout(Stdio::null())
            .stderr(log);
        self.child = Some(cmd.spawn().expect("starting pgveil serve"));
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = agent().get(self.url("/api/v1/health")).call() {
                if r.status() == 200 {
                    return;
                }
            }
            if let Some(status) = self.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("pgveil serve exited with {status}:\n{}", self.log());
            }
            assert!(
                Instant::now() < deadline,
                "pgveil serve did not answer:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    pub(crate) fn get_as(&self, path: &str, token: Option<&str>) -> Reply {
        let mut req = agent().get(self.url(path));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        reply(req.call())
    }

    pub(crate) fn get(&self, path: &str) -> Reply {
        self.get_as(path, Some(READ))
    }

    pub(crate) fn post_as(&self, path: &str, body: Value, token: Option<&str>) -> Reply {
        let mut req = agent().post(self.url(path));
        if let Some(t) = token {
            req = req.header("Authorization", format!("Bearer {t}"));
        }
        reply(req.send_json(body))
    }

    pub(crate) fn post(&self, path: &str, body: Value) -> Reply {
        self.post_as(path, body, Some(ADMIN))
    }

    pub(crate) fn delete(&self, path: &str) -> Reply {
        reply(
            agent()
                .delete(self.url(path))
                .header("Authorization", format!("Bearer {ADMIN}"))
                .call(),
        )
    }

    /// Poll task `id` until it has ended; returns it.
    pub(crate) fn wait_task(&self, id: i64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(180);
        loop {
            let r = self.get(&format!("/api/v1/tasks/{id}"));
            assert_eq!(r.status, 200, "{}", r.text);
            let state = r.json["state"].as_str().unwrap().to_string();
            if !["queued", "running"].contains(&state.as_str()) {
                return r.json;
            }
            assert!(
                Instant::now() < deadline,
                "task {id} still {state}:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(crate) fn wait_succeeded(&self, id: i64) -> Value {
        let t = self.wait_task(id);
        assert_eq!(t["state"], "succeeded", "{t:#}\n{}", self.log());
        t
    }

    pub(crate) fn signal(&self, sig: i32) {
        let pid = self.child.as_ref().unwrap().id() as i32;
        // SAFETY: kill on our own child.
        unsafe {
            libc::kill(pid, sig);
        }
    }

    /// Wait for the process to exit; its status.
    pub(crate) fn wait_exit(&mut self) -> std::process::ExitStatus {
        let mut child = self.child.take().unwrap();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(s) = child.try_wait().unwrap() {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "pgveil serve did not exit:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A session holding `ACCESS EXCLUSIVE` on a table until dropped (or [`TableLock::release`]).
pub(crate) struct TableLock {
    psql: Option<Child>,
}

impl TableLock {
    pub(crate) fn take(db: &str, table: &str) -> TableLock {
        let cluster = support::cluster();
        let mut cmd = cluster.command("psql");
        cmd.args(["-X", "-q", "-At", "-d", db])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        let mut psql = cmd.spawn().unwrap();
        writeln!(
            psql.stdin.as_mut().unwrap(),
            "BEGIN; LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE;"
        )
        .unwrap();
        psql.stdin.as_mut().unwrap().flush().unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        let sql = format!(
            "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
             WHERE d.datname = '{db}' AND l.relation = '{table}'::regclass \
             AND l.mode = 'AccessExclusiveLock' AND l.granted"
        );
        while cluster.psql(db, &sql).trim() != "1" {
            assert!(Instant::now() < deadline, "the lock was not taken");
            std::thread::sleep(Duration::from_millis(50));
        }
        TableLock { psql: Some(psql) }
    }

    /// Wait until a session of `db` (pg_dump) waits for a lock.
    pub(crate) fn wait_for_waiter(&self, db: &str) {
        let sql = format!(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = '{db}' AND wait_event_type = 'Lock'"
        );
        let deadline = Instant::now() + Duration::from_secs(60);
        while support::cluster().psql(db, &sql).trim() == "0" {
            assert!(Instant::now() < deadline, "nothing waits for the lock");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub(crate) fn release(&mut self) {
        if let Some(mut p) = self.psql.take() {
            let _ = p.kill();
            let _ = p.wait();
        }
    }
}

impl Drop for TableLock {
    fn drop(&mut self) {
        self.release();
    }
}

/// A database with two tables (`t`: `rows` rows with e-mail addresses, `u`: 7 rows).
pub(crate) fn source_db(prefix: &str, rows: u64) -> String {
    let cluster = support::cluster();
    let db = cluster.create_db(prefix);
    cluster.psql(
        &db,
        &format!(
            "CREATE TABLE t (id int PRIMARY KEY, email text, note text);
             INSERT INTO t SELECT g, 'user' || g || '@example.com', repeat('x', 40) FROM generate_series(1, {rows}) g;
             CREATE TABLE u (id int PRIMARY KEY, name text);
             INSERT INTO u SELECT g, 'n' || g FROM generate_series(1, 7) g;"
        ),
    );
    db
}

pub(crate) fn job(name: &str, db: &str, extra: &str) -> String {
    format!("[[job]]\nname = \"{name}\"\ndbname = \"{db}\"\nout_dir = \"backups\"\n{extra}\n")
}

pub(crate) fn trigger(server: &Server, job: &str) -> (i64, String) {
    let r = server.post(&format!("/api/v1/jobs/{job}/backups"), json!({}));
    assert_eq!(r.status, 202, "{}\n{}", r.text, server.log());
    let backup = r.json["backup"]
        .as_str()
        .unwrap_or_else(|| panic!("no backup id in {}", r.text))
        .to_string();
    (r.json["task"].as_i64().unwrap(), backup)
}
