//! Retention of `pgveil serve` on its own schedule (`retention_schedule`), not only after a
//! backup: a job's old sets go, the sets of another name in the same folder stay.

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support;
use crate::support::serve::*;

/// The stamps of the sets of `name` in `dir` that hold a manifest (complete), oldest first.
fn sets(dir: &Path, name: &str) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir.join(name))
        .map(|d| {
            d.filter_map(|e| e.ok())
                .filter(|e| e.path().join(format!("{name}.manifest.json")).exists())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Write a backup set of `db` named `name` into `dir` with `pgveil dump` (no service).
fn dump_set(db: &str, dir: &Path, name: &str) {
    let out = support::pgveil()
        .args(["dump", "--dbname", db, "--name", name, "--set", "--out-dir"])
        .arg(dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn retention_runs_on_its_own_schedule_for_the_jobs_sets_only() {
    let db = source_db("serve_retention", 20);
    let dir = tempfile::tempdir().unwrap();
    let backups = dir.path().join("backups");
    for name in ["kept", "kept", "kept", "other", "other"] {
        dump_set(&db, &backups, name);
    }
    let before = sets(&backups, "kept");
    assert_eq!(before.len(), 3, "{before:?}");
    assert_eq!(sets(&backups, "other").len(), 2);

    // No backup schedule: only the retention schedule acts.
    let server = Server::start(
        dir.path(),
        &job(
            "kept",
            &db,
            "keep_local = 1\nretention_schedule = \"*/2 * * * * *\"",
        ),
        None,
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let task = loop {
        let done = server.get("/api/v1/tasks?job=kept&kind=prune");
        let ended = done.json["tasks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| !["queued", "running"].contains(&t["state"].as_str().unwrap()))
            .cloned();
        if let Some(t) = ended {
            break t;
        }
        assert!(
            Instant::now() < deadline,
            "no scheduled retention ran:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(task["state"], "succeeded", "{task:#}\n{}", server.log());
    let deleted = task["result"]["retention"]["deleted"].as_array().unwrap();
    assert_eq!(deleted.len(), 2, "{task:#}");
    // The newest set of the job stays; the other name's sets are not the job's to delete.
    assert_eq!(sets(&backups, "kept"), before[2..].to_vec());
    assert_eq!(sets(&backups, "other").len(), 2);
    let backups_of_job = server.get("/api/v1/jobs/kept/backups");
    assert_eq!(
        backups_of_job.json["backups"][0]["id"],
        json!(before[2]),
        "{}",
        backups_of_job.text
    );
    let none = server.get("/api/v1/tasks?job=kept&kind=backup");
    assert_eq!(none.json["tasks"], json!([]), "{}", none.text);
}
