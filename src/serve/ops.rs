//! What the service does for a job, as use-case plans: the backup plan of a `[[job]]`, the listing
//! of its backup sets (folder and bucket merged), and the restore, verify, pull and delete of one
//! set. The API turns requests into these; the [runner](super::service) runs them as tasks.
//!
//! A restore writes only into one of the job's `restore_targets`, chosen by its exact configured
//! string or by its database name ([`restore_target`]); nothing in a request can name another
//! database.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::json;

use super::config::{CustomData, JobConfig, Output};
use crate::cancel::CancelToken;
use crate::store::check::{check_set, Depth, SetState};
use crate::store::{SetId, Store};
use crate::usecase::{
    self, ArtifactKind, BackupPlan, BackupSource, ListPlan, PullPlan, RestoreKind, RestorePlan,
    RestoreTarget, Retention, RulesPlan, SetRef, UseCaseError, VerifyPlan,
};

/// The backup plan of a job: a backup set in its folder and/or bucket, retention after it.
pub fn backup_plan(job: &JobConfig) -> BackupPlan {
    let mut plan = BackupPlan::new(BackupSource::Database {
        dbname: Some(job.dbname.clone()),
        pg_dump_args: job.pg_dump_args.iter().map(Into::into).collect(),
    });
    plan.name = Some(job.name.clone());
    plan.out_dir = job.out_dir.clone();
    plan.upload = job.upload.clone();
    plan.endpoint_url = job.endpoint_url.clone();
    plan.set = true;
    plan.retention = Retention {
        keep_local: job.keep_local,
        keep_remote: job.keep_remote,
        quick_check: false,
        name: Some(job.name.clone()),
    };
    plan.outputs = job
        .outputs
        .iter()
        .map(|o| match o {
            Output::Plain => ArtifactKind::Plain,
            Output::Anon => ArtifactKind::Anon,
            Output::Custom => ArtifactKind::Custom,
        })
        .collect();
    plan.custom_data = match job.custom_data {
        CustomData::Full => usecase::CustomData::Full,
        CustomData::Anon => usecase::CustomData::Anon,
    };
    plan.rules = RulesPlan {
        files: job.rules.clone(),
        key_file: job.key_file.clone(),
    };
    plan.labels = job.labels;
    plan
}

/// Run a job's backup; the result the task keeps.
pub fn run_backup(
    job: &JobConfig,
    observer: &dyn crate::observe::Observer,
    cancel: &CancelToken,
) -> Result<serde_json::Value, UseCaseError> {
    let report = usecase::backup(&backup_plan(job), observer, cancel)?;
    let rows: u64 = report.tables.iter().map(|t| t.rows).sum();
    let retention = match &report.retention {
        None => serde_json::Value::Null,
        Some(Ok(r)) => json!({
            "deleted": r.deleted,
            "kept_not_uploaded": r.kept_not_uploaded.iter().map(|s| s.stamp.clone()).collect::<Vec<_>>(),
        }),
        Some(Err(e)) => json!({ "error": super::log::chain(e) }),
    };
    // Like retention, freezing does not undo the backup when it fails: the result says why.
    let frozen = match freeze(job, time::OffsetDateTime::now_utc()) {
        Ok(freed) => json!(freed),
        Err(e) => json!({ "error": super::log::chain(&e) }),
    };
    Ok(json!({
        "backup": report.set.as_ref().map(|s| s.stamp.clone()),
        "artifacts": report.artifacts.iter().map(|a| json!({
            "kind": a.artifact.kind,
            "file": a.artifact.info.file,
            "bytes": a.artifact.info.bytes,
            "sha256": a.artifact.info.sha256,
            "locations": a.locations,
        })).collect::<Vec<_>>(),
        "tables": report.tables.len(),
        "rows": rows,
        "seconds": report.seconds,
        "retention": retention,
        "frozen": frozen,
    }))
}

/// How old an incomplete set or unfinished upload of the job must be before the scheduled
/// retention removes it (what a killed run or an `interrupted` task left). Far longer than a pass:
/// a scheduled retention never starts while the job's backup runs, and a backup started during
/// one writes a set that is younger than this.
pub const INCOMPLETE_AFTER: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// A job's retention on its own schedule: its incomplete sets older than [`INCOMPLETE_AFTER`],
/// then `keep_local` / `keep_remote`, then `freeze_after_days`, for the job's own sets only.
pub fn run_retention(
    job: &JobConfig,
    cancel: &CancelToken,
) -> Result<serde_json::Value, UseCaseError> {
    let plan = usecase::PrunePlan {
        out_dir: job.out_dir.clone(),
        upload: job.upload.clone(),
        endpoint_url: job.endpoint_url.clone(),
        retention: backup_plan(job).retention,
        incomplete_older_than: Some(INCOMPLETE_AFTER),
        dry_run: false,
    };
    let report = usecase::prune(&plan, cancel)?;
    let removed: Vec<String> = report
        .steps
        .iter()
        .filter_map(|s| match s {
            usecase::PruneStep::Unfinished { location, .. }
            | usecase::PruneStep::IncompleteSet { location } => Some(location.clone()),
            usecase::PruneStep::UploadsNotListed { .. } => None,
        })
        .collect();
    let retention = report.retention.map_or(serde_json::Value::Null, |r| {
        json!({
            "deleted": r.deleted,
            "kept_not_uploaded": r.kept_not_uploaded.iter().map(|s| s.stamp.clone()).collect::<Vec<_>>(),
        })
    });
    usecase::check_cancel(cancel)?;
    let frozen = freeze(job, time::OffsetDateTime::now_utc())?;
    Ok(json!({
        "incomplete_removed": removed,
        "retention": retention,
        "frozen": frozen,
    }))
}

/// `freeze_after_days`: free the local copies of sets older than that (by stamp) whose copy in
/// the bucket is verified (every checksum read back) and whose local copy is complete. Returns
/// the locations freed; nothing without the setting (which needs both places).
pub fn freeze(job: &JobConfig, now: time::OffsetDateTime) -> Result<Vec<String>, UseCaseError> {
    let (Some(days), Some(dir), Some(url)) = (job.freeze_after_days, &job.out_dir, &job.upload)
    else {
        return Ok(Vec::new());
    };
    let cutoff = now - time::Duration::days(i64::from(days));
    let local = crate::store::local::LocalStore::new(dir.clone());
    let remote = crate::store::open_location(url, job.endpoint_url.as_deref())
        .map_err(|e| UseCaseError::store(format!("opening {url}"), e))?;
    let remote_sets = remote.list_sets()?;
    let mut freed = Vec::new();
    for l in local.list_sets()? {
        let old = crate::store::parse_stamp(&l.id.stamp).is_some_and(|t| t < cutoff);
        if l.id.name != job.name || !old {
            continue;
        }
        let Some(r) = remote_sets.iter().find(|r| r.id == l.id) else {
            continue;
        };
        if !check_set(&*remote, r, Depth::Checksums)?.is_verified()
            || !check_set(&local, &l, Depth::Sizes)?.is_verified()
        {
            continue;
        }
        local.delete_set(&l.id)?;
        freed.push(local.location(&l.id, ""));
    }
    Ok(freed)
}

/// Where a set is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Where {
    Local,
    Remote,
    Both,
}

impl Where {
    pub fn parse(s: &str) -> Option<Where> {
        match s {
            "local" => Some(Where::Local),
            "remote" => Some(Where::Remote),
            "both" => Some(Where::Both),
            _ => None,
        }
    }
}

/// One backup set of a job as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct BackupView {
    /// The set's stamp: its id in API paths.
    pub id: String,
    /// `complete`, `incomplete` (no manifest: never counts as a backup) or `damaged`.
    pub state: String,
    /// Why a damaged set is damaged (first place that says so).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub damage: Option<String>,
    #[serde(rename = "where")]
    pub place: Where,
    /// Bytes of the set, per place.
    pub bytes: BTreeMap<String, u64>,
    pub rows: Option<u64>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub artifacts: Vec<serde_json::Value>,
}

fn state_word(state: &SetState) -> (&'static str, Option<String>) {
    match state {
        SetState::Verified => ("complete", None),
        SetState::Incomplete => ("incomplete", None),
        SetState::Damaged(why) => ("damaged", Some(why.clone())),
    }
}

/// The sets of a job in its folder and bucket, oldest first (sizes checked, not checksums). A set
/// in both places is complete only if it is complete in both.
pub fn list_backups(job: &JobConfig) -> Result<Vec<BackupView>, UseCaseError> {
    let mut by_id: BTreeMap<String, BackupView> = BTreeMap::new();
    let places = [
        (
            "local",
            job.out_dir.as_ref().map(|d| d.display().to_string()),
        ),
        ("remote", job.upload.clone()),
    ];
    for (place, location) in places {
        let Some(location) = location else { continue };
        let report = usecase::list(
            &ListPlan {
                location,
                endpoint_url: job.endpoint_url.clone(),
                verify: false,
            },
            &CancelToken::new(),
        )?;
        for set in report
            .sets
            .into_iter()
            .filter(|s| s.check.id.name == job.name)
        {
            let (state, damage) = state_word(&set.check.state);
            let here = if place == "local" {
                Where::Local
            } else {
                Where::Remote
            };
            let entry = by_id
                .entry(set.check.id.stamp.clone())
                .or_insert_with(|| BackupView {
                    id: set.check.id.stamp.clone(),
                    state: state.to_string(),
                    damage: damage.clone(),
                    place: here,
                    bytes: BTreeMap::new(),
                    rows: None,
                    started_at: None,
                    finished_at: None,
                    artifacts: Vec::new(),
                });
            if entry.place != here {
                entry.place = Where::Both;
                if state != "complete" && entry.state == "complete" {
                    entry.state = state.to_string();
                    entry.damage = damage;
                }
            }
            entry.bytes.insert(place.to_string(), set.check.bytes);
            if let (Some(m), true) = (&set.check.manifest, entry.artifacts.is_empty()) {
                entry.rows = Some(m.tables.iter().map(|t| t.rows).sum());
                entry.started_at = Some(m.started_at.clone());
                entry.finished_at = Some(m.finished_at.clone());
                entry.artifacts = m
                    .artifacts
                    .iter()
                    .map(|a| json!({"kind": a.kind, "file": a.info.file, "bytes": a.info.bytes}))
                    .collect();
            }
        }
    }
    Ok(by_id.into_values().collect())
}

/// A set id from an API path: a stamp, nothing that could leave the job's folder.
pub fn valid_backup_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && !id.starts_with('.')
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'+'))
}

/// The location to read set `id` from: the folder when the set is complete there, else the bucket.
pub fn source_of(job: &JobConfig, backups: &[BackupView], id: &str) -> Option<String> {
    let b = backups.iter().find(|b| b.id == id)?;
    match (b.place, &job.out_dir, &job.upload) {
        (Where::Local | Where::Both, Some(dir), _) => Some(dir.display().to_string()),
        (Where::Remote | Where::Both, _, Some(url)) => Some(url.clone()),
        _ => None,
    }
}

fn set_ref(job: &JobConfig, location: String, id: &str) -> SetRef {
    SetRef {
        endpoint_url: if location.starts_with("s3://") {
            job.endpoint_url.clone()
        } else {
            None
        },
        location,
        backup: format!("{}/{id}", job.name),
        name: Some(job.name.clone()),
    }
}

/// The configured restore target a request names: the exact configured string, or a target's
/// database name. `None`: not one of the job's targets.
pub fn restore_target<'a>(job: &'a JobConfig, asked: &str) -> Option<&'a str> {
    job.restore_targets
        .iter()
        .find(|t| t.as_str() == asked)
        .or_else(|| {
            job.restore_targets
                .iter()
                .find(|t| crate::input::conninfo::database_name(t).as_deref() == Some(asked))
        })
        .map(String::as_str)
}

/// What a restore request asks for (the target already checked against the configuration).
#[derive(Debug, Clone)]
pub struct RestoreAsk {
    pub target: String,
    pub kind: RestoreKind,
    pub tables: Vec<String>,
    pub create: bool,
    pub jobs: Option<u32>,
}

pub fn run_restore(
    job: &JobConfig,
    location: String,
    id: &str,
    ask: &RestoreAsk,
    cancel: &CancelToken,
) -> Result<serde_json::Value, UseCaseError> {
    let plan = RestorePlan {
        set: set_ref(job, location, id),
        kind: ask.kind,
        target: RestoreTarget::Database {
            dbname: Some(ask.target.clone()),
            create: ask.create,
        },
        jobs: ask.jobs,
        allow_partial: false,
        tables: ask.tables.clone(),
        no_owner: false,
        work_dir: None,
    };
    let report = usecase::restore(&plan, cancel)?;
    Ok(json!({
        "backup": report.set.stamp,
        "artifact": report.artifact,
        "target": crate::input::conninfo::database_name(&ask.target),
    }))
}

pub fn run_verify(
    job: &JobConfig,
    location: String,
    id: &str,
    restore_check: bool,
    cancel: &CancelToken,
) -> Result<serde_json::Value, UseCaseError> {
    let plan = VerifyPlan {
        set: set_ref(job, location.clone(), id),
        restore_check,
        work_dir: None,
    };
    // The restore check's scratch database is named after the process: one check at a time.
    static SCRATCH: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = restore_check.then(|| SCRATCH.lock().unwrap_or_else(|e| e.into_inner()));
    let report = usecase::verify(&plan, cancel)?;
    let check = match report.restore_check {
        None => serde_json::Value::Null,
        Some(Ok(c)) => json!({ "tables": c.tables }),
        Some(Err(e)) => return Err(e),
    };
    Ok(json!({
        "backup": report.set.stamp,
        "location": location,
        "artifacts": report.artifacts,
        "restore_check": check,
    }))
}

pub fn run_pull(
    job: &JobConfig,
    id: &str,
    observer: &dyn crate::observe::Observer,
    cancel: &CancelToken,
) -> Result<serde_json::Value, UseCaseError> {
    let (Some(url), Some(dir)) = (&job.upload, &job.out_dir) else {
        return Err(UseCaseError::Invalid(
            "pull needs both out_dir and upload in the job".into(),
        ));
    };
    let plan = PullPlan {
        set: set_ref(job, url.clone(), id),
        only: Vec::new(),
        out_dir: dir.clone(),
    };
    let report = usecase::pull(&plan, observer, cancel)?;
    Ok(json!({
        "backup": report.set.stamp,
        "dir": report.dir,
        "artifacts": report.artifacts.iter().map(|a| a.kind.clone()).collect::<Vec<_>>(),
    }))
}

/// Delete set `id` of the job from the folder, the bucket or both.
pub fn run_delete(
    job: &JobConfig,
    id: &str,
    place: Where,
    cancel: &CancelToken,
) -> Result<serde_json::Value, UseCaseError> {
    let set = SetId {
        name: job.name.clone(),
        stamp: id.to_string(),
    };
    let mut locations = Vec::new();
    if matches!(place, Where::Local | Where::Both) {
        if let Some(d) = &job.out_dir {
            locations.push((d.display().to_string(), None));
        }
    }
    if matches!(place, Where::Remote | Where::Both) {
        if let Some(u) = &job.upload {
            locations.push((u.clone(), job.endpoint_url.clone()));
        }
    }
    if locations.is_empty() {
        return Err(UseCaseError::Invalid(format!(
            "job {} has no {} location",
            job.name,
            match place {
                Where::Local => "local",
                Where::Remote => "remote",
                Where::Both => "",
            }
        )));
    }
    let mut deleted = Vec::new();
    for (location, endpoint) in locations {
        if cancel.is_cancelled() {
            return Err(UseCaseError::Cancelled);
        }
        let store = crate::store::open_location(&location, endpoint.as_deref())
            .map_err(|e| UseCaseError::store(format!("opening {location}"), e))?;
        let sets = store.list_sets()?;
        if !sets.iter().any(|s| s.id == set) {
            continue;
        }
        store.delete_set(&set)?;
        deleted.push(store.location(&set, ""));
    }
    Ok(json!({ "backup": id, "deleted": deleted }))
}
