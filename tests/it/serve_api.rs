//! `pgveil serve` end to end: a real `pgveil serve` child process on a free port
//! ([`crate::support::serve`]), a real HTTP client, the test cluster's PostgreSQL and a real s3s-fs.
//! Waits are polls with a generous deadline, never timed assertions.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::support;
use crate::support::s3::S3Server;
use crate::support::serve::*;

/// trigger → task to success → list / latest → verify (with a restore check) → delete the local
/// copy → pull it back from the bucket → restore into a configured target (row counts equal the
/// source's) → a target not in the configuration refused → delete everywhere.
#[test]
fn backup_verify_pull_restore_delete_through_the_api() {
    let cluster = support::cluster();
    let db = source_db("serve_cycle", 500);
    let target = cluster.unique_name("serve_cycle_target");
    let other = cluster.unique_name("serve_cycle_other");
    let s3 = std::sync::Arc::new(S3Server::start(BUCKET));
    let dir = tempfile::tempdir().unwrap();
    let jobs = job(
        "shop",
        &db,
        &format!(
            "upload = \"s3://{BUCKET}/db/\"\nendpoint_url = \"{}\"\nkeep_local = 3\nkeep_remote = 3\nrestore_targets = [\"{target}\"]",
            s3.endpoint()
        ),
    );
    let server = Server::start(dir.path(), &jobs, Some(s3.clone()));

    let (task, backup) = trigger(&server, "shop");
    let done = server.wait_succeeded(task);
    assert_eq!(done["kind"], "backup");
    assert_eq!(done["backup"], backup.as_str());
    assert_eq!(done["result"]["rows"], 507);
    assert_eq!(done["progress"]["rows"], 507, "{done:#}");

    let list = server.get("/api/v1/jobs/shop/backups");
    assert_eq!(list.status, 200, "{}", list.text);
    let sets = list.json["backups"].as_array().unwrap();
    assert_eq!(sets.len(), 1, "{}", list.text);
    assert_eq!(sets[0]["id"], backup.as_str());
    assert_eq!(sets[0]["state"], "complete");
    assert_eq!(sets[0]["where"], "both");
    assert_eq!(sets[0]["rows"], 507);
    assert!(sets[0]["bytes"]["local"].as_u64().unwrap() > 0);
    let latest = server.get("/api/v1/jobs/shop/backups/latest");
    assert_eq!(latest.json["id"], backup.as_str(), "{}", latest.text);
    let one = server.get(&format!("/api/v1/jobs/shop/backups/{backup}"));
    assert_eq!(one.json["artifacts"].as_array().unwrap().len(), 3);

    let jobs = server.get("/api/v1/jobs");
    assert_eq!(
        jobs.json["jobs"][0]["last"]["state"], "succeeded",
        "{}",
        jobs.text
    );

    let v = server.post(
        &format!("/api/v1/jobs/shop/backups/{backup}/verify"),
        json!({"restore_check": true}),
    );
    assert_eq!(v.status, 202, "{}", v.text);
    let verified = server.wait_succeeded(v.json["task"].as_i64().unwrap());
    assert_eq!(verified["result"]["artifacts"], 3);
    assert_eq!(verified["result"]["restore_check"]["tables"], 2);

    // Free the local copy, then pull it back from the bucket.
    let d = server.delete(&format!("/api/v1/jobs/shop/backups/{backup}?where=local"));
    assert_eq!(d.status, 200, "{}", d.text);
    assert_eq!(d.json["state"], "succeeded");
    assert!(!dir.path().join("backups/shop").join(&backup).exists());
    let one = server.get(&format!("/api/v1/jobs/shop/backups/{backup}"));
    assert_eq!(one.json["where"], "remote", "{}", one.text);
    let p = server.post(
        &format!("/api/v1/jobs/shop/backups/{backup}/pull"),
        json!({}),
    );
    assert_eq!(p.status, 202, "{}", p.text);
    server.wait_succeeded(p.json["task"].as_i64().unwrap());
    let one = server.get(&format!("/api/v1/jobs/shop/backups/{backup}"));
    assert_eq!(one.json["where"], "both", "{}", one.text);
    assert_eq!(one.json["state"], "complete", "{}", one.text);

    // A target that is not configured: refused, nothing created.
    let refused = server.post(
        &format!("/api/v1/jobs/shop/backups/{backup}/restore"),
        json!({"target": other, "artifact": "plain", "create": true}),
    );
    assert_eq!(refused.status, 403, "{}", refused.text);
    assert_eq!(refused.json["code"], "restore_target_not_allowed");
    let exists = format!("SELECT count(*) FROM pg_database WHERE datname = '{other}'");
    assert_eq!(cluster.psql("postgres", &exists).trim(), "0");
    // Not even the job's own database.
    let own = server.post(
        &format!("/api/v1/jobs/shop/backups/{backup}/restore"),
        json!({"target": db, "artifact": "plain"}),
    );
    assert_eq!(own.status, 403, "{}", own.text);

    let r = server.post(
        &format!("/api/v1/jobs/shop/backups/{backup}/restore"),
        json!({"target": target, "artifact": "custom", "create": true}),
    );
    assert_eq!(r.status, 202, "{}", r.text);
    let restored = server.wait_succeeded(r.json["task"].as_i64().unwrap());
    assert_eq!(restored["kind"], "restore");
    assert_eq!(cluster.table_counts(&target), cluster.table_counts(&db));

    let d = server.delete(&format!("/api/v1/jobs/shop/backups/{backup}?where=both"));
    assert_eq!(d.status, 200, "{}", d.text);
    let list = server.get("/api/v1/jobs/shop/backups");
    assert_eq!(list.json["backups"], json!([]), "{}", list.text);
    let gone = server.get(&format!("/api/v1/jobs/shop/backups/{backup}"));
    assert_eq!(gone.status, 404);
    assert_eq!(gone.json["code"], "backup_not_found");

    let tasks = server.get("/api/v1/tasks?job=shop&kind=delete");
    assert_eq!(
        tasks.json["tasks"].as_array().unwrap().len(),
        2,
        "{}",
        tasks.text
    );
    let metrics = server.get("/metrics");
    assert_eq!(metrics.status, 200);
    assert!(
        metrics
            .text
            .contains("pgveil_backups_total{job=\"shop\"} 1"),
        "{}",
        metrics.text
    );
    assert!(metrics
        .text
        .contains("pgveil_last_artifact_bytes{job=\"shop\",artifact=\"custom\"}"));
    cluster.drop_db(&target);
}

/// 401 without a valid token, 403 for a read token on an admin call; health needs none; no
/// response or log line holds a token.
#[test]
fn tokens_are_required_and_roles_enforced() {
    let db = source_db("serve_auth", 5);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &job("authjob", &db, ""), None);
    assert_eq!(server.get_as("/api/v1/health", None).status, 200);
    for path in ["/api/v1/jobs", "/metrics", "/api/v1/tasks"] {
        let r = server.get_as(path, None);
        assert_eq!(r.status, 401, "{path}: {}", r.text);
        assert_eq!(r.json["code"], "unauthorized");
        let r = server.get_as(path, Some("not-a-token-0123456789abcdef"));
        assert_eq!(r.status, 401, "{path}: {}", r.text);
        assert_eq!(server.get_as(path, Some(READ)).status, 200, "{path}");
        assert_eq!(server.get_as(path, Some(ADMIN)).status, 200, "{path}");
    }
    let r = server.post_as("/api/v1/jobs/authjob/backups", json!({}), Some(READ));
    assert_eq!(r.status, 403, "{}", r.text);
    assert_eq!(r.json["code"], "forbidden");
    let r = server.post_as("/api/v1/jobs/authjob/backups", json!({}), None);
    assert_eq!(r.status, 401, "{}", r.text);
    let r = server.post_as("/api/v1/tasks/1/cancel", json!({}), Some(READ));
    assert_eq!(r.status, 403, "{}", r.text);
    // Nothing was started by the refused calls.
    let tasks = server.get("/api/v1/tasks");
    assert_eq!(tasks.json["tasks"], json!([]), "{}", tasks.text);
    let (task, _) = trigger(&server, "authjob");
    let done = server.wait_succeeded(task);
    for text in [done.to_string(), server.log(), server.get("/metrics").text] {
        assert!(!text.contains(ADMIN) && !text.contains(READ), "{text}");
    }
}

/// A second trigger while the job's backup runs: 409 naming the running task. The first one
/// then completes.
#[test]
fn a_trigger_while_the_job_runs_is_a_conflict() {
    let db = source_db("serve_busy", 20);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &job("busy", &db, ""), None);
    let mut lock = TableLock::take(&db, "t");
    let (task, _) = trigger(&server, "busy");
    let r = server.post("/api/v1/jobs/busy/backups", json!({}));
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.json["code"], "job_busy");
    assert_eq!(r.json["task"], task);
    assert!(r.json["message"]
        .as_str()
        .unwrap()
        .contains(&format!("task {task}")));
    let running = server.get("/api/v1/tasks?state=running");
    assert_eq!(running.json["tasks"][0]["id"], task, "{}", running.text);
    lock.release();
    server.wait_succeeded(task);
}

/// A schedule every two seconds produces backups, each followed by retention (`keep_local = 2`:
/// the third backup deletes the first set).
#[test]
fn a_schedule_produces_backups() {
    let db = source_db("serve_schedule", 20);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &job("ticks", &db, "schedule = \"*/2 * * * * *\"\nkeep_local = 2"),
        None,
    );
    let jobs = server.get("/api/v1/jobs");
    assert_eq!(
        jobs.json["jobs"][0]["next_runs"].as_array().unwrap().len(),
        3
    );
    let deadline = Instant::now() + Duration::from_secs(180);
    let done = loop {
        let done = server.get("/api/v1/tasks?job=ticks&kind=backup&state=succeeded");
        let mut tasks = done.json["tasks"].as_array().unwrap().clone();
        if tasks.len() >= 3 {
            tasks.reverse();
            break tasks;
        }
        assert!(
            Instant::now() < deadline,
            "no three scheduled backups:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(
        server.log().contains("triggered: schedule"),
        "{}",
        server.log()
    );
    let failed = server.get("/api/v1/tasks?job=ticks&state=failed");
    assert_eq!(failed.json["tasks"], json!([]), "{}", failed.text);
    assert_eq!(done[0]["result"]["retention"]["deleted"], json!([]));
    assert_eq!(done[1]["result"]["retention"]["deleted"], json!([]));
    let deleted = done[2]["result"]["retention"]["deleted"]
        .as_array()
        .unwrap();
    assert_eq!(deleted.len(), 1, "{:#}", done[2]);
    let first = done[0]["backup"].as_str().unwrap();
    assert!(deleted[0].as_str().unwrap().contains(first), "{deleted:?}");
    assert!(!dir.path().join("backups/ticks").join(first).exists());
}

/// A tick while the job's backup still runs is skipped and counted, not queued.
#[test]
fn a_tick_during_a_run_is_skipped_and_counted() {
    let db = source_db("serve_skip", 5);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &job("skip", &db, "schedule = \"* * * * * *\""),
        None,
    );
    let mut lock = TableLock::take(&db, "t");
    let deadline = Instant::now() + Duration::from_secs(60);
    let metric = "pgveil_skipped_ticks_total{job=\"skip\"} ";
    loop {
        let text = server.get("/metrics").text;
        let skipped: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix(metric))
            .unwrap_or_else(|| panic!("{text}"))
            .parse()
            .unwrap();
        if skipped >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no tick skipped:\n{}",
            server.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let tasks = server.get("/api/v1/tasks?job=skip&kind=backup");
    let tasks = tasks.json["tasks"].as_array().unwrap().clone();
    assert_eq!(tasks.len(), 1, "{tasks:?}");
    assert!(server.log().contains("tick skipped"), "{}", server.log());
    lock.release();
    server.wait_succeeded(tasks[0]["id"].as_i64().unwrap());
}

/// Tasks survive a restart; a backup running when the service was killed is `interrupted` at
/// the next start, and its set is incomplete: never the latest backup.
#[test]
fn tasks_survive_a_restart_and_a_killed_run_is_interrupted() {
    let db = source_db("serve_restart", 50);
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path(), &job("persist", &db, ""), None);
    let (first, good) = trigger(&server, "persist");
    server.wait_succeeded(first);
    let mut lock = TableLock::take(&db, "t");
    let (killed, partial) = trigger(&server, "persist");
    assert_ne!(good, partial);
    server.signal(libc::SIGKILL);
    server.wait_exit();
    lock.release();
    server.spawn();
    let t = server.get(&format!("/api/v1/tasks/{first}"));
    assert_eq!(t.json["state"], "succeeded", "{}", t.text);
    let t = server.get(&format!("/api/v1/tasks/{killed}"));
    assert_eq!(t.json["state"], "interrupted", "{}", t.text);
    assert_eq!(t.json["backup"], partial.as_str());
    let latest = server.get("/api/v1/jobs/persist/backups/latest");
    assert_eq!(latest.json["id"], good.as_str(), "{}", latest.text);
    let listed = server.get(&format!("/api/v1/jobs/persist/backups/{partial}"));
    if listed.status == 200 {
        assert_eq!(listed.json["state"], "incomplete", "{}", listed.text);
    }
    // The job runs again after the restart.
    let (again, _) = trigger(&server, "persist");
    server.wait_succeeded(again);
}

/// SIGTERM during a running backup (to a folder and a bucket): the task is cancelled and
/// recorded, no artifact, partial file or open upload is left, the service exits 0. The backup's
/// pg_dump waits for a lock the test never releases: the service ends it after its grace time.
#[test]
fn sigterm_cancels_the_running_backup_and_exits_zero() {
    let db = source_db("serve_sigterm", 2000);
    let s3 = std::sync::Arc::new(S3Server::start(BUCKET));
    let dir = tempfile::tempdir().unwrap();
    let jobs = job(
        "term",
        &db,
        &format!(
            "upload = \"s3://{BUCKET}/db/\"\nendpoint_url = \"{}\"",
            s3.endpoint()
        ),
    );
    let mut server = Server::start(dir.path(), &jobs, Some(s3.clone()));
    let lock = TableLock::take(&db, "t");
    let (task, backup) = trigger(&server, "term");
    lock.wait_for_waiter(&db);
    let running = server.get(&format!("/api/v1/tasks/{task}"));
    assert_eq!(running.json["state"], "running", "{}", running.text);
    server.signal(libc::SIGTERM);
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(0), "{}", server.log());
    assert!(
        server.log().contains("child processes killed"),
        "{}",
        server.log()
    );
    let set_dir = dir.path().join("backups/term").join(&backup);
    let left: Vec<_> = std::fs::read_dir(&set_dir)
        .map(|d| d.map(|e| e.unwrap().file_name()).collect())
        .unwrap_or_default();
    assert!(left.is_empty(), "left in {}: {left:?}", set_dir.display());
    let objects = s3.objects(BUCKET);
    assert!(objects.iter().all(|o| !o.contains(&backup)), "{objects:?}");
    assert_eq!(s3.pending_uploads(), Vec::<String>::new());
    server.spawn();
    let t = server.get(&format!("/api/v1/tasks/{task}"));
    assert_eq!(t.json["state"], "cancelled", "{}", t.text);
    assert!(
        t.json["error"].as_str().unwrap().contains("stopping"),
        "{}",
        t.text
    );
}

/// `--log-format json`: every line on stderr is a JSON object; the task events are there.
#[test]
fn the_json_log_has_one_object_per_line() {
    let db = source_db("serve_jsonlog", 3);
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start_with(
        dir.path(),
        &job("jl", &db, ""),
        None,
        &["--log-format", "json"],
    );
    let (task, _) = trigger(&server, "jl");
    server.wait_succeeded(task);
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit().code(), Some(0));
    let log = server.log();
    let events: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let of_task: Vec<&str> = events
        .iter()
        .filter(|e| e["task"].as_str() == Some(task.to_string().as_str()))
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert!(
        of_task.contains(&"task started") && of_task.contains(&"task finished"),
        "{log}"
    );
}

/// Every path and method of the served OpenAPI document is a route of the server (none answers
/// with the router's own 404 or 405), and unknown routes get the JSON 404.
#[test]
fn the_openapi_document_matches_the_served_routes() {
    let db = source_db("serve_openapi", 1);
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &job("doc", &db, ""), None);
    let doc = server.get_as("/api/v1/openapi.json", None);
    assert_eq!(doc.status, 200);
    let paths = doc.json["paths"].as_object().unwrap();
    assert!(paths.len() >= 12);
    for (path, item) in paths {
        // A job that does not exist: no call starts anything.
        let concrete = path.replace("{job}", "nojob").replace("{id}", "1");
        for method in item.as_object().unwrap().keys() {
            let req = match method.as_str() {
                "get" => agent()
                    .get(server.url(&concrete))
                    .header("Authorization", format!("Bearer {ADMIN}"))
                    .call(),
                "delete" => agent()
                    .delete(server.url(&concrete))
                    .header("Authorization", format!("Bearer {ADMIN}"))
                    .call(),
                "post" => agent()
                    .post(server.url(&concrete))
                    .header("Authorization", format!("Bearer {ADMIN}"))
                    .send_json(json!({})),
                other => panic!("unexpected method {other}"),
            };
            let r = reply(req);
            assert!(
                r.json["code"] != "not_found" && r.json["code"] != "method_not_allowed",
                "{method} {path}: {} {}",
                r.status,
                r.text
            );
            assert!(r.status < 500, "{method} {path}: {} {}", r.status, r.text);
        }
    }
    let r = server.get("/api/v1/nothing");
    assert_eq!(
        (r.status, r.json["code"].as_str()),
        (404, Some("not_found"))
    );
    let r = reply(agent().put(server.url("/api/v1/jobs")).send_empty());
    assert_eq!(r.status, 405, "{}", r.text);
}

/// `freeze_after_days`: after a backup, a local copy older than that whose set is verified in the
/// bucket is freed; the bucket keeps it, and newer local copies stay.
#[test]
fn freeze_frees_old_local_copies_that_are_safe_in_the_bucket() {
    let db = source_db("serve_freeze", 30);
    let s3 = std::sync::Arc::new(S3Server::start(BUCKET));
    let dir = tempfile::tempdir().unwrap();
    let jobs = job(
        "frz",
        &db,
        &format!(
            "upload = \"s3://{BUCKET}/db/\"\nendpoint_url = \"{}\"\nfreeze_after_days = 2",
            s3.endpoint()
        ),
    );
    let mut server = Server::start(dir.path(), &jobs, Some(s3.clone()));
    let (first, stamp) = trigger(&server, "frz");
    let done = server.wait_succeeded(first);
    assert_eq!(done["result"]["frozen"], json!([]), "{done:#}");
    // Make that set a year old, in both places (stamps are `YYYY-MM-DDTHH-MM-SSZ`).
    server.signal(libc::SIGTERM);
    assert_eq!(server.wait_exit().code(), Some(0));
    let year: i32 = stamp[..4].parse().unwrap();
    let old = format!("{}{}", year - 1, &stamp[4..]);
    for base in [
        dir.path().join("backups/frz"),
        s3.root().join(BUCKET).join("db/frz"),
    ] {
        std::fs::rename(base.join(&stamp), base.join(&old)).unwrap();
    }
    server.spawn();
    let one = server.get(&format!("/api/v1/jobs/frz/backups/{old}"));
    assert_eq!(
        (one.json["state"].as_str(), one.json["where"].as_str()),
        (Some("complete"), Some("both")),
        "{}",
        one.text
    );
    let (second, newer) = trigger(&server, "frz");
    let done = server.wait_succeeded(second);
    let frozen = done["result"]["frozen"].as_array().unwrap();
    assert_eq!(frozen.len(), 1, "{done:#}");
    assert!(frozen[0].as_str().unwrap().contains(&old), "{done:#}");
    assert!(!dir.path().join("backups/frz").join(&old).exists());
    let one = server.get(&format!("/api/v1/jobs/frz/backups/{old}"));
    assert_eq!(one.json["where"], "remote", "{}", one.text);
    let one = server.get(&format!("/api/v1/jobs/frz/backups/{newer}"));
    assert_eq!(one.json["where"], "both", "{}", one.text);
}
