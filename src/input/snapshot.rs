//! A transaction kept open in a `psql` session so that several pg_dump runs (the schema-only dump
//! for the key facts and the full dump) see one consistent snapshot (`pg_dump --snapshot`).

use std::io::{BufRead, BufReader, Write};
use std::process::Stdio;

use super::client::{Client, ClientProgram, Running};
use super::conninfo::ConnInfo;

/// The open session and the snapshot it exported; dropping it ends the transaction.
pub struct SnapshotHolder {
    psql: Running,
    pub snapshot: String,
}

impl SnapshotHolder {
    /// Open a REPEATABLE READ transaction and export its snapshot. `None` if that is not possible
    /// (no psql, a server that refuses, a standby without support): the caller then dumps without it.
    pub fn export(dbname: Option<&str>) -> Option<SnapshotHolder> {
        let conn = ConnInfo::parse_opt(dbname).ok()?;
        let mut client = Client::new(ClientProgram::Psql);
        client
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .connect(conn.as_ref(), "--dbname")
            .piped_stdin()
            .stdout(Stdio::piped())
            .quiet();
        let mut psql = client.spawn().ok()?;
        let Some(mut stdin) = psql.stdin() else {
            psql.kill();
            return None;
        };
        let sent = stdin
            .write_all(b"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY;\nSELECT pg_catalog.pg_export_snapshot();\n")
            .and_then(|_| stdin.flush());
        psql.keep_stdin(stdin);
        let mut line = String::new();
        let got = sent.is_ok()
            && psql
                .stdout_mut()
                .is_some_and(|out| BufReader::new(out).read_line(&mut line).is_ok());
        let snapshot = line.trim().to_string();
        if !got
            || snapshot.is_empty()
            || !snapshot.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
        {
            psql.kill();
            return None;
        }
        Some(SnapshotHolder { psql, snapshot })
    }
}

impl Drop for SnapshotHolder {
    fn drop(&mut self) {
        // Closing psql's stdin ends the session, which ends the read-only transaction.
        let _ = self.psql.wait();
    }
}
