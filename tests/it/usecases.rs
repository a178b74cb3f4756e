//! The use-cases called as a library, with no `pgveil` process: `pgveil::backup` into a folder,
//! `pgveil::verify` and `pgveil::restore` of its set, and cancellation (before the start, and from
//! the observer in the middle of the pass, reading a file or a spawned pg_dump) leaving nothing.

use crate::support;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use pgveil::cancel::CancelToken;
use pgveil::manifest::ManifestArtifact;
use pgveil::observe::{Observer, PartSent, Quiet};
use pgveil::pass::TableReport;
use pgveil::usecase::{RestoreKind, RestoreTarget};
use pgveil::{BackupPlan, BackupSource, RestorePlan, SetRef, UseCaseError, VerifyPlan};
use sha2::{Digest, Sha256};

/// Records what it is told; cancels `cancel_on_table` when the n-th table starts (1-based),
/// recording `probe`'s answer (what is under way at that moment) just before.
#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
    cancel_on_table: Option<(usize, CancelToken)>,
    probe: Option<Box<dyn Fn() -> usize + Sync>>,
}

impl Recorder {
    fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
    fn push(&self, e: String) {
        self.events.lock().unwrap().push(e);
    }
}

impl Observer for Recorder {
    fn table_started(&self, table: &str) {
        self.push(format!("started {table}"));
        let started = self
            .events()
            .iter()
            .filter(|e| e.starts_with("started "))
            .count();
        if let Some((n, token)) = &self.cancel_on_table {
            if started == *n {
                if let Some(probe) = &self.probe {
                    self.push(format!("probe {}", probe()));
                }
                token.cancel();
            }
        }
    }
    fn table_finished(&self, t: &TableReport) {
        self.push(format!("finished {}.{} {} rows", t.schema, t.table, t.rows));
    }
    fn artifact_published(&self, a: &ManifestArtifact, location: &str) {
        self.push(format!("published {} {location}", a.kind));
    }
    fn upload_part(&self, p: &PartSent) {
        self.push(format!("part {} {} {}", p.file, p.part, p.bytes));
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pgveil-usecases-{tag}-{}-{:x}",
        std::process::id(),
        rand_suffix()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn rand_suffix() -> u64 {
    use std::time::{SystemTime, UNIX_EPOCH};
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

/// Every file under `dir`, recursively (hidden and partial ones too).
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(files_under(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn sha256_file(path: &Path) -> String {
    hex::encode(Sha256::digest(std::fs::read(path).unwrap()))
}

fn example_dump() -> PathBuf {
    support::fixtures_dir().join("example.dump.sql")
}

/// A set-mode backup of the example dump file into `out`.
fn file_plan(out: &Path) -> BackupPlan {
    let mut plan = BackupPlan::new(BackupSource::Input(example_dump()));
    plan.name = Some("shop".into());
    plan.out_dir = Some(out.to_path_buf());
    plan.set = true;
    plan
}

/// A connection string for database `db` of the test cluster (no environment needed).
fn conninfo(db: &str) -> String {
    let c = support::cluster();
    let user = c
        .env()
        .into_iter()
        .find(|(k, _)| k == "PGUSER")
        .map(|(_, v)| v)
        .unwrap();
    format!(
        "host={} port={} user={user} dbname={db}",
        c.socket_dir().display(),
        c.port()
    )
}

#[test]
fn backup_publishes_the_artifacts_it_reports_and_restore_and_verify_use_them() {
    let out = temp_dir("backup");
    let observer = Recorder::default();
    let report = pgveil::backup(&file_plan(&out), &observer, &CancelToken::new())
        .expect("the backup succeeds");

    let set = report.set.clone().expect("set mode");
    assert_eq!(set.name, "shop");
    let kinds: Vec<&str> = report
        .artifacts
        .iter()
        .map(|a| a.artifact.kind.as_str())
        .collect();
    assert_eq!(kinds, ["plain", "anon", "custom"]);
    for a in &report.artifacts {
        let path = PathBuf::from(&a.locations[0]);
        assert!(path.starts_with(&out), "{path:?} is not under {out:?}");
        assert_eq!(
            std::fs::metadata(&path).unwrap().len(),
            a.artifact.info.bytes
        );
        assert_eq!(sha256_file(&path), a.artifact.info.sha256, "{path:?}");
    }
    let manifest = out
        .join(&set.name)
        .join(&set.stamp)
        .join("shop.manifest.json");
    assert!(manifest.is_file(), "no manifest at {manifest:?}");

    // The observer saw each table start and finish with the rows of the report, and each artifact.
    let events = observer.events();
    assert!(!report.tables.is_empty());
    for t in &report.tables {
        assert!(events.contains(&format!("started {}.{}", t.schema, t.table)));
        assert!(events.contains(&format!(
            "finished {}.{} {} rows",
            t.schema, t.table, t.rows
        )));
    }
    assert!(report.tables.iter().any(|t| t.rows > 0));
    for a in &report.artifacts {
        assert!(events.contains(&format!("published {} {}", a.artifact.kind, a.locations[0])));
    }

    // verify: every checksum matches.
    let set_ref = SetRef::latest(out.to_string_lossy());
    let verified = pgveil::verify(
        &VerifyPlan {
            set: set_ref.clone(),
            restore_check: false,
            work_dir: None,
        },
        &CancelToken::new(),
    )
    .expect("the set verifies");
    assert_eq!(verified.set, set);
    assert_eq!(verified.artifacts, 3);

    // restore: the custom archive into a new database holds the rows the report counted.
    let cluster = support::cluster();
    let db = cluster.create_db("usecase_restore");
    let restored = pgveil::restore(
        &RestorePlan {
            set: set_ref,
            kind: RestoreKind::Custom,
            target: RestoreTarget::Database {
                dbname: Some(conninfo(&db)),
                create: false,
            },
            jobs: None,
            allow_partial: false,
            tables: Vec::new(),
            no_owner: true,
            work_dir: None,
        },
        &CancelToken::new(),
    )
    .expect("the restore succeeds");
    assert!(restored.artifact.ends_with("shop.dump"));
    for t in &report.tables {
        let n = cluster.psql(
            &db,
            &format!("SELECT count(*) FROM \"{}\".\"{}\"", t.schema, t.table),
        );
        assert_eq!(n.trim(), t.rows.to_string(), "{}.{}", t.schema, t.table);
    }
    cluster.drop_db(&db);
    let _ = std::fs::remove_dir_all(&out);
}

#[test]
fn a_backup_cancelled_before_it_starts_writes_nothing() {
    let base = temp_dir("cancel-before");
    let out = base.join("out");
    let cancel = CancelToken::new();
    cancel.cancel();
    let err = pgveil::backup(&file_plan(&out), &Quiet, &cancel).unwrap_err();
    assert!(matches!(err, UseCaseError::Cancelled), "{err:?}");
    assert!(!out.exists(), "the out dir was created");
    let _ = std::fs::remove_dir_all(&base);
}

/// Cancelled from the observer as the second table starts: the error is `Cancelled`, and no
/// artifact, partial file, spool, lock, set or manifest is left. Returns what `probe` said then.
fn assert_cancelled_mid_pass_leaves_nothing(
    mut plan: BackupPlan,
    out: &Path,
    probe: Option<Box<dyn Fn() -> usize + Sync>>,
) -> Vec<String> {
    let cancel = CancelToken::new();
    let observer = Recorder {
        cancel_on_table: Some((2, cancel.clone())),
        probe,
        ..Recorder::default()
    };
    plan.out_dir = Some(out.to_path_buf());
    let err = pgveil::backup(&plan, &observer, &cancel).unwrap_err();
    assert!(matches!(err, UseCaseError::Cancelled), "{err:?}");
    let started = observer
        .events()
        .iter()
        .filter(|e| e.starts_with("started "))
        .count();
    assert_eq!(started, 2, "the pass went on after the cancel");
    assert!(
        !observer.events().iter().any(|e| e.starts_with("published")),
        "{:?}",
        observer.events()
    );
    assert_eq!(files_under(out), Vec::<PathBuf>::new());
    let sets = pgveil::list(
        &pgveil::ListPlan {
            location: out.to_string_lossy().into_owned(),
            endpoint_url: None,
            verify: false,
        },
        &CancelToken::new(),
    )
    .unwrap();
    assert!(sets.sets.is_empty(), "{:?}", sets.sets);
    observer
        .events()
        .into_iter()
        .filter(|e| e.starts_with("probe "))
        .collect()
}

#[test]
fn a_backup_cancelled_by_its_observer_mid_pass_leaves_nothing() {
    // Set mode (a claimed set) and flat mode (a lock file).
    let out = temp_dir("cancel-mid-set");
    assert_cancelled_mid_pass_leaves_nothing(file_plan(&out), &out, None);
    let _ = std::fs::remove_dir_all(&out);

    let out = temp_dir("cancel-mid-flat");
    let mut plan = file_plan(&out);
    plan.set = false;
    assert_cancelled_mid_pass_leaves_nothing(plan, &out, None);
    let _ = std::fs::remove_dir_all(&out);
}

/// The pg_dump children of this process (zombies included: not yet reaped).
fn pg_dump_children() -> Vec<i32> {
    let me = std::process::id().to_string();
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(e.path().join("stat")) else {
            continue;
        };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        let comm = &stat[open + 1..close];
        let ppid = stat[close + 1..].split_whitespace().nth(1);
        if comm == "pg_dump" && ppid == Some(me.as_str()) {
            out.push(stat[..open].trim().parse().unwrap());
        }
    }
    out
}

#[test]
fn a_cancelled_backup_of_a_database_stops_and_reaps_pg_dump() {
    let cluster = support::cluster();
    let db = cluster.load_fixture("example");
    let out = temp_dir("cancel-pg-dump");
    let mut plan = BackupPlan::new(BackupSource::Database {
        dbname: Some(conninfo(&db)),
        pg_dump_args: Vec::new(),
    });
    plan.name = Some("shop".into());
    plan.set = true;
    assert_cancelled_mid_pass_leaves_nothing(plan, &out, None);
    assert_eq!(pg_dump_children(), Vec::<i32>::new());
    let _ = std::fs::remove_dir_all(&out);
}

/// The store takes its credentials from the standard AWS chain: this process's environment (the
/// same values for every test of this file; no other reads them).
fn s3_credentials_in_env() {
    use support::s3::{ACCESS_KEY, SECRET_KEY};
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        for var in ["AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ROLE_ARN"] {
            std::env::remove_var(var);
        }
        std::env::set_var("AWS_ACCESS_KEY_ID", ACCESS_KEY);
        std::env::set_var("AWS_SECRET_ACCESS_KEY", SECRET_KEY);
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        std::env::set_var("AWS_CONFIG_FILE", "/nonexistent/pgveil-test");
        std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/pgveil-test");
    });
}

#[test]
fn a_backup_to_a_bucket_reports_every_upload_part_to_its_observer() {
    let server = support::s3::S3Server::start("backups");
    s3_credentials_in_env();
    let mut plan = BackupPlan::new(BackupSource::Input(example_dump()));
    plan.name = Some("shop".into());
    plan.upload = Some("s3://backups/nightly/".into());
    plan.endpoint_url = Some(server.endpoint());
    let observer = Recorder::default();
    let report =
        pgveil::backup(&plan, &observer, &CancelToken::new()).expect("the backup succeeds");
    let set = report.set.expect("set mode");
    let mut objects = server.objects("backups");
    objects.retain(|o| !o.ends_with(".manifest.json"));
    let mut expected: Vec<String> = report
        .artifacts
        .iter()
        .map(|a| format!("nightly/{set}/{}", a.artifact.info.file))
        .collect();
    expected.sort();
    assert_eq!(objects, expected);
    // Each artifact's parts, numbered from 1, add up to its size; the manifest's are told too.
    let events = observer.events();
    let parts_of = |file: &str| -> Vec<(u32, u64)> {
        events
            .iter()
            .filter_map(|e| e.strip_prefix("part "))
            .filter_map(|e| {
                let mut w = e.split(' ');
                (w.next() == Some(file)).then(|| {
                    let part = w.next().unwrap().parse().unwrap();
                    (part, w.next().unwrap().parse().unwrap())
                })
            })
            .collect()
    };
    for a in &report.artifacts {
        let parts = parts_of(&a.artifact.info.file);
        assert!(!parts.is_empty(), "no part of {}", a.artifact.info.file);
        let numbers: Vec<u32> = parts.iter().map(|p| p.0).collect();
        assert_eq!(numbers, (1..=parts.len() as u32).collect::<Vec<_>>());
        let bytes: u64 = parts.iter().map(|p| p.1).sum();
        assert_eq!(bytes, a.artifact.info.bytes, "{}", a.artifact.info.file);
    }
    assert!(!parts_of("shop.manifest.json").is_empty());
}

#[test]
fn a_backup_to_a_bucket_cancelled_mid_pass_aborts_its_uploads() {
    let server = std::sync::Arc::new(support::s3::S3Server::start("backups"));
    s3_credentials_in_env();

    let out = temp_dir("cancel-bucket");
    let mut plan = file_plan(&out);
    plan.upload = Some("s3://backups/nightly/".into());
    plan.endpoint_url = Some(server.endpoint());
    let probed = server.clone();
    let probe = assert_cancelled_mid_pass_leaves_nothing(
        plan,
        &out,
        Some(Box::new(move || probed.pending_uploads().len())),
    );
    // When the pass was cancelled, the three uploads were under way; now none is, and the
    // bucket holds nothing (no artifact, no manifest, no claim).
    assert_eq!(probe, ["probe 3"]);
    assert_eq!(server.pending_uploads(), Vec::<String>::new());
    assert_eq!(server.objects("backups"), Vec::<String>::new());
    let _ = std::fs::remove_dir_all(&out);
}
