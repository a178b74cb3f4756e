//! Backup sets end to end, against a real PostgreSQL cluster and a real S3-compatible server
//! (s3s-fs, started per test on 127.0.0.1; see `support/s3.rs`).
//!
//! Contract under test:
//! - `pgveil dump … [--out-dir DIR] [--upload s3://B/P/] [--keep-local N] [--keep-remote M]` writes a
//!   backup set `NAME/STAMP/` (artifacts, manifest last) locally and/or streamed to the bucket;
//! - `backups list`, `pull`, `verify [--restore-check]`, `restore` find sets by `latest` or id, and
//!   refuse a corrupt artifact, naming it;
//! - a failed pass leaves no object in the bucket and no multipart upload behind;
//! - retention counts only verified sets and keeps the newest verified set;
//! - memory stays bounded while a large artifact is uploaded.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use support::s3::{pgveil_s3, upload_shop, S3Server};
use support::{cluster, ok, peak_rss_kib, pgveil, run};

const BUCKET: &str = "backups";

fn url() -> String {
    format!("s3://{BUCKET}/db/")
}

fn fails(out: Output, what: &str) -> String {
    assert!(
        !out.status.success(),
        "{what} should have failed:\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `pgveil backups list LOCATION --json`, as (id, state) pairs.
fn list(cmd: &mut Command, location: &str) -> Vec<(String, String)> {
    let out = ok(
        run(cmd.args(["backups", "list", location, "--json"]), None),
        "backups list",
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("list --json");
    v.as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

fn local_sets(dir: &Path, name: &str) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir.join(name))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

fn example_db() -> String {
    cluster().load_fixture("example")
}

#[test]
fn s3_round_trip_upload_list_pull_verify_restore() {
    let server = S3Server::start(BUCKET);
    let db = example_db();
    // Upload only: no local folder at all.
    let out = upload_shop(&server, &db, &url());
    let id = stdout(&out).trim().to_string();
    assert!(id.starts_with("shop/"), "dump prints the set id: {id:?}");
    let objects = server.objects(BUCKET);
    let stamp = &id["shop/".len()..];
    for f in ["shop.gz", "shop.anon.gz", "shop.dump", "shop.manifest.json"] {
        assert!(
            objects.contains(&format!("db/shop/{stamp}/{f}")),
            "{f} missing in {objects:?}"
        );
    }
    assert!(server.pending_uploads().is_empty(), "uploads left open");
    assert_eq!(
        list(&mut pgveil_s3(&server), &url()),
        [(id.clone(), "complete".to_string())]
    );

    // verify (checksums) and the scratch-restore check, straight from the bucket.
    let out = ok(
        run(
            pgveil_s3(&server).args(["verify", &url(), "--backup", "latest", "--restore-check"]),
            None,
        ),
        "verify --restore-check",
    );
    assert!(
        stdout(&out).contains("row counts match"),
        "{}",
        stdout(&out)
    );

    // restore --custom from the bucket into a new database, in parallel.
    let source_counts = cluster().table_counts(&db);
    let target = cluster().unique_name("restored_custom");
    ok(
        run(
            pgveil_s3(&server).args([
                "restore",
                &url(),
                "--backup",
                &id,
                "--custom",
                "--create",
                "--jobs",
                "2",
                "--dbname",
                &target,
            ]),
            None,
        ),
        "restore --custom",
    );
    assert_eq!(cluster().table_counts(&target), source_counts);

    // Without --jobs: downloaded into a private work folder, checked, restored in one transaction;
    // the folder is removed afterwards.
    let streamed = cluster().unique_name("streamed_custom");
    let work = tempfile::tempdir().unwrap();
    ok(
        run(
            pgveil_s3(&server)
                .args([
                    "restore",
                    &url(),
                    "--backup",
                    &id,
                    "--custom",
                    "--create",
                    "--dbname",
                    &streamed,
                    "--work-dir",
                ])
                .arg(work.path()),
            None,
        ),
        "restore --custom (downloaded first)",
    );
    assert_eq!(cluster().table_counts(&streamed), source_counts);
    assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);

    // pull only the anonymized dump, then restore it from the local copy.
    let local = tempfile::tempdir().unwrap();
    let out = ok(
        run(
            pgveil_s3(&server)
                .args(["pull", &url(), "--only", "anon", "--out-dir"])
                .arg(local.path()),
            None,
        ),
        "pull",
    );
    let set_dir = PathBuf::from(stdout(&out).trim());
    assert_eq!(set_dir, local.path().join(&id));
    let mut files: Vec<String> = std::fs::read_dir(&set_dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    assert_eq!(files, ["shop.anon.gz", "shop.manifest.json"]);
    let loc = local.path().to_str().unwrap();
    ok(
        run(pgveil().args(["verify", loc]), None),
        "verify pulled set",
    );
    let anon_db = cluster().create_db("restored_anon");
    ok(
        run(
            pgveil().args(["restore", loc, "--anon", "--dbname", &anon_db]),
            None,
        ),
        "restore --anon",
    );
    assert_eq!(cluster().table_counts(&anon_db), source_counts);
    let emails = cluster().psql(&anon_db, "SELECT string_agg(email, ' ') FROM users;");
    assert!(
        !emails.contains(".test"),
        "restored anon data has originals: {emails}"
    );

    // --table: only the selected table from the archive.
    let one = cluster().unique_name("restored_table");
    ok(
        run(
            pgveil_s3(&server).args([
                "restore",
                &url(),
                "--custom",
                "--create",
                "--table",
                "products",
                "--dbname",
                &one,
            ]),
            None,
        ),
        "restore --table",
    );
    let counts = cluster().table_counts(&one);
    assert_eq!(counts.len(), 1, "{counts:?}");
    assert_eq!(
        counts[0],
        source_counts
            .iter()
            .find(|(t, _)| t == "public.products")
            .unwrap()
            .clone()
    );

    // --to-stdout feeds any psql.
    let piped = cluster().create_db("restored_stdout");
    let out = ok(
        run(
            pgveil_s3(&server).args(["restore", &url(), "--plain", "--to-stdout"]),
            None,
        ),
        "restore --to-stdout",
    );
    cluster().psql(&piped, &stdout(&out));
    assert_eq!(cluster().table_counts(&piped), source_counts);
}

#[test]
fn local_and_bucket_sets_with_retention() {
    let server = S3Server::start(BUCKET);
    let db = example_db();
    let dir = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for _ in 0..3 {
        let out = ok(
            run(
                pgveil_s3(&server)
                    .args([
                        "dump",
                        "--dbname",
                        &db,
                        "--name",
                        "shop",
                        "--outputs",
                        "plain,anon",
                    ])
                    .args([
                        "--upload",
                        &url(),
                        "--keep-local",
                        "1",
                        "--keep-remote",
                        "2",
                    ])
                    .arg("--out-dir")
                    .arg(dir.path()),
                None,
            ),
            "dump with retention",
        );
        ids.push(stdout(&out).trim().to_string());
    }
    let stamps: Vec<String> = ids.iter().map(|i| i["shop/".len()..].to_string()).collect();
    assert!(stamps.windows(2).all(|w| w[0] < w[1]), "{stamps:?}");
    assert_eq!(local_sets(dir.path(), "shop"), [stamps[2].clone()]);
    let remote: Vec<String> = list(&mut pgveil_s3(&server), &url())
        .into_iter()
        .map(|(id, state)| {
            assert_eq!(state, "complete");
            id
        })
        .collect();
    assert_eq!(remote, ids[1..]);
    // The local copy is byte-identical to the uploaded one.
    let set = dir.path().join(&ids[2]);
    let local = std::fs::read(set.join("shop.anon.gz")).unwrap();
    let uploaded = std::fs::read(
        server
            .root()
            .join(BUCKET)
            .join("db")
            .join(&ids[2])
            .join("shop.anon.gz"),
    )
    .unwrap();
    assert_eq!(local, uploaded);
}

/// Flip one byte in the middle of a file (same size: only the checksum can tell).
fn corrupt(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x55;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn corrupted_artifact_is_refused_by_verify_and_restore() {
    let db = example_db();
    let dir = tempfile::tempdir().unwrap();
    let out = ok(
        run(
            pgveil()
                .args([
                    "dump",
                    "--dbname",
                    &db,
                    "--name",
                    "shop",
                    "--set",
                    "--out-dir",
                ])
                .arg(dir.path()),
            None,
        ),
        "dump --set",
    );
    let id = stdout(&out).trim().to_string();
    let loc = dir.path().to_str().unwrap().to_string();
    ok(
        run(pgveil().args(["verify", &loc]), None),
        "verify (intact)",
    );
    corrupt(&dir.path().join(&id).join("shop.anon.gz"));

    let err = fails(run(pgveil().args(["verify", &loc]), None), "verify");
    assert!(err.contains("shop.anon.gz"), "{err}");
    let listed = list(&mut pgveil(), &loc);
    assert_eq!(listed[0].1, "complete", "sizes alone cannot tell");
    let out = ok(
        run(
            pgveil().args(["backups", "list", &loc, "--json", "--verify"]),
            None,
        ),
        "list --verify",
    );
    assert!(stdout(&out).contains("\"damaged\""), "{}", stdout(&out));

    let target = cluster().create_db("refused");
    let err = fails(
        run(
            pgveil().args(["restore", &loc, "--anon", "--dbname", &target]),
            None,
        ),
        "restore of a corrupt artifact",
    );
    assert!(
        err.contains("shop.anon.gz") && err.contains("corrupt"),
        "{err}"
    );
    assert!(
        cluster().table_counts(&target).is_empty(),
        "a refused restore left tables behind"
    );
    let err = fails(
        run(
            pgveil().args(["restore", &loc, "--anon", "--to-stdout"]),
            None,
        ),
        "restore --to-stdout of a corrupt artifact",
    );
    assert!(err.contains("shop.anon.gz"), "{err}");

    // The same in a bucket.
    let server = S3Server::start(BUCKET);
    let out = upload_shop(&server, &db, &url());
    let id = stdout(&out).trim().to_string();
    corrupt(
        &server
            .root()
            .join(BUCKET)
            .join("db")
            .join(&id)
            .join("shop.dump"),
    );
    let err = fails(
        run(pgveil_s3(&server).args(["verify", &url()]), None),
        "verify s3",
    );
    assert!(
        err.contains(&format!("s3://{BUCKET}/db/{id}/shop.dump")),
        "{err}"
    );
    // Checked before pg_restore sees any of it: the database is not even created.
    let target = cluster().unique_name("refused_custom");
    let err = fails(
        run(
            pgveil_s3(&server).args([
                "restore",
                &url(),
                "--custom",
                "--create",
                "--dbname",
                &target,
            ]),
            None,
        ),
        "restore --custom of a corrupt artifact",
    );
    assert!(
        err.contains("shop.dump") && err.contains("corrupt"),
        "{err}"
    );
    assert_eq!(
        cluster()
            .psql(
                "postgres",
                &format!("SELECT count(*) FROM pg_database WHERE datname = '{target}';"),
            )
            .trim(),
        "0",
        "nothing created for a corrupt archive"
    );
}

#[test]
fn retention_ignores_incomplete_sets_and_keeps_the_newest_verified() {
    let db = example_db();
    let dir = tempfile::tempdir().unwrap();
    let loc = dir.path().to_str().unwrap().to_string();
    let dump = || {
        let out = ok(
            run(
                pgveil()
                    .args([
                        "dump",
                        "--dbname",
                        &db,
                        "--name",
                        "shop",
                        "--outputs",
                        "anon",
                    ])
                    .args(["--set", "--out-dir", &loc]),
                None,
            ),
            "dump --set",
        );
        stdout(&out).trim().to_string()
    };
    let first = dump();
    let second = dump();
    // A newer set without a manifest: a pass that died (or is still running).
    let incomplete = "2099-01-01T00-00-00Z";
    let inc_dir = dir.path().join("shop").join(incomplete);
    std::fs::create_dir_all(&inc_dir).unwrap();
    std::fs::copy(
        dir.path().join(&second).join("shop.anon.gz"),
        inc_dir.join("shop.anon.gz"),
    )
    .unwrap();
    let listed = list(&mut pgveil(), &loc);
    assert_eq!(listed.last().unwrap().1, "incomplete");
    assert!(!listed
        .iter()
        .any(|(i, s)| i != &format!("shop/{incomplete}") && s != "complete"));

    // `latest` never picks the incomplete set.
    let out = ok(
        run(pgveil().args(["verify", &loc, "--backup", "latest"]), None),
        "verify latest",
    );
    assert!(stdout(&out).contains(&second), "{}", stdout(&out));

    // Dry run deletes nothing.
    let out = ok(
        run(
            pgveil().args([
                "backups",
                "prune",
                "--out-dir",
                &loc,
                "--keep-local",
                "1",
                "--dry-run",
            ]),
            None,
        ),
        "prune --dry-run",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains(&first));
    assert_eq!(local_sets(dir.path(), "shop").len(), 3);

    // keep 1: the incomplete set is not counted, so the second (newest verified) stays.
    ok(
        run(
            pgveil().args(["backups", "prune", "--out-dir", &loc, "--keep-local", "1"]),
            None,
        ),
        "prune",
    );
    let second_stamp = second["shop/".len()..].to_string();
    assert_eq!(
        local_sets(dir.path(), "shop"),
        [second_stamp.clone(), incomplete.to_string()]
    );
    // keep 0 still keeps the newest verified set.
    ok(
        run(
            pgveil().args(["backups", "prune", "--out-dir", &loc, "--keep-local", "0"]),
            None,
        ),
        "prune keep 0",
    );
    assert_eq!(
        local_sets(dir.path(), "shop"),
        [second_stamp.clone(), incomplete.to_string()]
    );

    // With a bucket configured, a local set is freed only once it is verified there.
    let server = S3Server::start(BUCKET);
    let third = {
        let out = ok(
            run(
                pgveil()
                    .args([
                        "dump",
                        "--dbname",
                        &db,
                        "--name",
                        "shop",
                        "--outputs",
                        "anon",
                    ])
                    .args(["--set", "--out-dir", &loc]),
                None,
            ),
            "dump --set",
        );
        stdout(&out).trim().to_string()
    };
    let out = ok(
        run(
            pgveil_s3(&server)
                .args(["backups", "prune", "--out-dir", &loc, "--upload", &url()])
                .args(["--keep-local", "1"]),
            None,
        ),
        "prune with an empty bucket",
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("not verified in the bucket"));
    assert_eq!(local_sets(dir.path(), "shop").len(), 3, "{third}");
}

/// Poll until `cond` or panic after `secs`.
fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A database with one large, incompressible-enough table (~`mib` MiB of COPY data).
fn big_db(mib: u64) -> String {
    let db = cluster().create_db("big");
    let rows = mib * 1024 * 1024 / 200;
    cluster().psql(
        &db,
        &format!(
            "CREATE TABLE big (id int PRIMARY KEY, payload text NOT NULL);
             INSERT INTO big SELECT g, repeat(md5(g::text), 6) FROM generate_series(1, {rows}) g;"
        ),
    );
    db
}

#[test]
fn failed_uploads_leave_no_object_and_a_rerun_succeeds() {
    let db = big_db(80);
    let mut server = S3Server::start(BUCKET);

    // 1. The pass fails while uploading (a truncated input): every upload is aborted.
    let full = cluster().pg_dump(&db, &[]);
    let truncated = &full[..full.len() * 3 / 4];
    let out = run(
        pgveil_s3(&server)
            .env("PGVEIL_S3_PART_SIZE", (5 << 20).to_string())
            .args(["dump", "--input", "-", "--name", "big", "--upload", &url()])
            .args(["--compress-level", "0"]),
        Some(truncated),
    );
    let err = fails(out, "dump of a truncated input");
    assert!(!err.is_empty());
    assert!(
        server.objects(BUCKET).is_empty(),
        "{:?}",
        server.objects(BUCKET)
    );
    assert!(
        server.pending_uploads().is_empty(),
        "multipart uploads not aborted: {:?}",
        server.pending_uploads()
    );

    // 2. The server dies in the middle of an upload (teed to a local folder too).
    let dir = tempfile::tempdir().unwrap();
    let child = pgveil_s3(&server)
        .env("PGVEIL_S3_PART_SIZE", (5 << 20).to_string())
        .args(["dump", "--dbname", &db, "--name", "big", "--upload", &url()])
        .arg("--out-dir")
        .arg(dir.path())
        .args(["--outputs", "plain", "--compress-level", "0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_for(120, "a first uploaded part", || {
        server
            .pending_uploads()
            .iter()
            .any(|f| f.contains(".part-"))
    });
    server.stop();
    let out = child.wait_with_output().unwrap();
    let err = fails(out, "dump while the server is down");
    assert!(err.contains(&format!("s3://{BUCKET}/db/big/")), "{err}");
    assert!(
        std::fs::read_dir(dir.path()).unwrap().next().is_none(),
        "the failed pass left files in the local folder"
    );
    server.restart();
    // Only the pass's claim on its set is left (the server was down when the pass let go of it):
    // an incomplete set, which `backups prune --incomplete-older-than` removes.
    let left = server.objects(BUCKET);
    assert!(left.iter().all(|k| k.contains(".claim-")), "{left:?}");
    ok(
        run(
            pgveil_s3(&server)
                .args(["backups", "prune", "--upload", &url()])
                .args(["--incomplete-older-than", "0s"]),
            None,
        ),
        "prune --incomplete-older-than",
    );
    assert!(
        server.objects(BUCKET).is_empty(),
        "{:?}",
        server.objects(BUCKET)
    );
    assert!(list(&mut pgveil_s3(&server), &url()).is_empty());

    // 3. A rerun succeeds and its set verifies.
    ok(
        run(
            pgveil_s3(&server)
                .env("PGVEIL_S3_PART_SIZE", (5 << 20).to_string())
                .args(["dump", "--dbname", &db, "--name", "big", "--upload", &url()])
                .args(["--outputs", "plain", "--compress-level", "0"]),
            None,
        ),
        "rerun",
    );
    ok(
        run(pgveil_s3(&server).args(["verify", &url()]), None),
        "verify rerun",
    );
}

/// Peak RSS (KiB) of a command run under /usr/bin/time.
#[test]
fn multipart_upload_memory_stays_bounded() {
    assert!(
        Path::new("/usr/bin/time").is_file(),
        "/usr/bin/time is needed"
    );
    // Large enough that the fixed costs (the SDK, the batch queue, two 5 MiB parts in flight,
    // about 100 MB in a debug build) sit well under half of it.
    let db = big_db(320);
    let server = S3Server::start(BUCKET);
    let mut cmd = pgveil_s3(&server);
    cmd.env("PGVEIL_S3_PART_SIZE", (5 << 20).to_string())
        .args(["dump", "--dbname", &db, "--name", "big", "--upload", &url()])
        .args(["--outputs", "plain", "--compress-level", "0"]);
    let (out, kib) = peak_rss_kib(&cmd);
    let out = ok(out, "dump of a large table");
    eprintln!("peak RSS {kib} KiB");
    let id = stdout(&out).trim().to_string();
    let object = server
        .root()
        .join(BUCKET)
        .join("db")
        .join(&id)
        .join("big.gz");
    let size = std::fs::metadata(&object).unwrap().len();
    assert!(size > 300 << 20, "artifact only {size} bytes");
    // The whole artifact never sits in memory: peak RSS stays well under its size.
    assert!(
        kib * 1024 < size / 2,
        "peak RSS {kib} KiB for a {size}-byte artifact in 5 MiB parts"
    );
}
