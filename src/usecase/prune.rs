//! The prune use-case (`pgveil backups prune`) and retention (also run after a backup): keep the
//! newest N verified sets locally, M in the bucket (see [`crate::store::retention`]), and remove
//! what runs killed outright left behind: incomplete sets, partial files, archive spools and open
//! multipart uploads older than a given age.

use std::path::PathBuf;
use std::time::Duration;

use super::{check_cancel, UseCaseError};
use crate::cancel::CancelToken;
use crate::store::check::{check_all, Depth, SetCheck, SetState};
use crate::store::retention::plan;
use crate::store::{Pending, SetId, Store, StoreError};

/// How many verified sets to keep.
#[derive(Debug, Clone, Default)]
pub struct Retention {
    /// Keep the newest N verified sets in the folder (a set is freed only once the same set is
    /// verified in the bucket, when there is one).
    pub keep_local: Option<usize>,
    /// Keep the newest M verified sets in the bucket.
    pub keep_remote: Option<usize>,
    /// Judge sets by manifest and sizes only, without reading every artifact back.
    pub quick_check: bool,
    /// Only the sets of this name (a service's job, a backup's own name): where several names
    /// share a folder or bucket, one name's limits must not decide about another's sets. `None`:
    /// every name, each by itself.
    pub name: Option<String>,
}

impl Retention {
    fn covers(&self, id: &SetId) -> bool {
        self.name.as_ref().is_none_or(|n| *n == id.name)
    }
}

/// What retention did (or, in a dry run, would do).
#[derive(Debug, Clone, Default)]
pub struct RetentionReport {
    pub dry_run: bool,
    /// Local sets past the limit that stay: the bucket has no verified copy of them.
    pub kept_not_uploaded: Vec<SetId>,
    /// The sets deleted, by location.
    pub deleted: Vec<String>,
}

/// Apply retention to a folder and/or a bucket; `None` when the plan sets no limit.
pub(crate) fn apply_retention(
    local: Option<&dyn Store>,
    remote: Option<&dyn Store>,
    retention: &Retention,
    dry_run: bool,
) -> Result<Option<RetentionReport>, UseCaseError> {
    if retention.keep_local.is_none() && retention.keep_remote.is_none() {
        return Ok(None);
    }
    let depth = if retention.quick_check {
        Depth::Sizes
    } else {
        Depth::Checksums
    };
    let ours = |checks: Vec<SetCheck>| -> Vec<SetCheck> {
        checks
            .into_iter()
            .filter(|c| retention.covers(&c.id))
            .collect()
    };
    let local_checks = match local {
        Some(l) if retention.keep_local.is_some() => ours(checks_of(l, depth)?),
        _ => Vec::new(),
    };
    let remote_checks = match remote {
        Some(r) => Some(ours(checks_of(r, depth)?)),
        None => None,
    };
    let keep_local = local.and(retention.keep_local);
    let p = plan(
        &local_checks,
        remote_checks.as_deref(),
        keep_local,
        retention.keep_remote,
    );
    let mut report = RetentionReport {
        dry_run,
        kept_not_uploaded: p.kept_not_uploaded.clone(),
        deleted: Vec::new(),
    };
    for (store, ids) in [(local, &p.delete_local), (remote, &p.delete_remote)] {
        let Some(store) = store else { continue };
        for id in ids {
            if !dry_run {
                store.delete_set(id).map_err(|e| {
                    UseCaseError::store(format!("deleting {id} from {}", store.describe()), e)
                })?;
            }
            report.deleted.push(store.location(id, ""));
        }
    }
    Ok(Some(report))
}

fn checks_of(store: &dyn Store, depth: Depth) -> Result<Vec<SetCheck>, UseCaseError> {
    check_all(store, depth)
        .map_err(|e| UseCaseError::store(format!("checking the sets in {}", store.describe()), e))
}

/// What to prune.
#[derive(Debug, Clone, Default)]
pub struct PrunePlan {
    /// The local folder of backup sets.
    pub out_dir: Option<PathBuf>,
    /// The bucket of backup sets (`s3://bucket/prefix/`), and its S3-compatible endpoint.
    pub upload: Option<String>,
    pub endpoint_url: Option<String>,
    pub retention: Retention,
    /// Also remove what runs killed outright left, older than this.
    pub incomplete_older_than: Option<Duration>,
    /// Decide, delete nothing.
    pub dry_run: bool,
}

/// One thing prune did (or would do), in order.
#[derive(Debug, Clone)]
pub enum PruneStep {
    /// The server cannot list open multipart uploads (`why`): they are not pruned.
    UploadsNotListed { why: String },
    /// An unfinished file or upload removed.
    Unfinished { location: String, bytes: u64 },
    /// An incomplete set removed.
    IncompleteSet { location: String },
}

#[derive(Debug, Clone, Default)]
pub struct PruneReport {
    pub dry_run: bool,
    pub steps: Vec<PruneStep>,
    pub retention: Option<RetentionReport>,
}

/// Prune: what killed runs left (when asked for), then retention.
pub fn prune(plan: &PrunePlan, cancel: &CancelToken) -> Result<PruneReport, UseCaseError> {
    let invalid = |m: &str| Err(UseCaseError::Invalid(m.into()));
    if plan.out_dir.is_none() && plan.upload.is_none() {
        return invalid("give --out-dir and/or --upload");
    }
    let r = &plan.retention;
    if r.keep_local.is_none() && r.keep_remote.is_none() && plan.incomplete_older_than.is_none() {
        return invalid(
            "nothing to prune: give --keep-local, --keep-remote and/or --incomplete-older-than",
        );
    }
    if r.keep_local.is_some() && plan.out_dir.is_none() {
        return invalid("--keep-local needs --out-dir");
    }
    if r.keep_remote.is_some() && plan.upload.is_none() {
        return invalid("--keep-remote needs --upload");
    }
    check_cancel(cancel)?;
    let local = plan
        .out_dir
        .as_ref()
        .map(|d| crate::store::local::LocalStore::new(d.clone()));
    let remote = match &plan.upload {
        Some(url) => Some(
            crate::store::open_location(url, plan.endpoint_url.as_deref())
                .map_err(|e| UseCaseError::store(format!("opening {url}"), e))?,
        ),
        None => None,
    };
    let local = local.as_ref().map(|l| l as &dyn Store);
    let mut report = PruneReport {
        dry_run: plan.dry_run,
        ..PruneReport::default()
    };
    if let Some(age) = plan.incomplete_older_than {
        for store in local.into_iter().chain(remote.as_deref()) {
            check_cancel(cancel)?;
            prune_incomplete(store, age, r, plan.dry_run, &mut report.steps)?;
        }
    }
    check_cancel(cancel)?;
    report.retention = apply_retention(local, remote.as_deref(), r, plan.dry_run)?;
    Ok(report)
}

/// Remove what killed runs left in `store`: unfinished files and uploads started before `age`
/// ago, then incomplete sets whose stamp is that old. Complete and damaged sets stay; so does
/// what belongs to a name `retention` does not cover.
fn prune_incomplete(
    store: &dyn Store,
    age: Duration,
    retention: &Retention,
    dry_run: bool,
    steps: &mut Vec<PruneStep>,
) -> Result<(), UseCaseError> {
    let cutoff = std::time::SystemTime::now()
        .checked_sub(age)
        .unwrap_or(std::time::UNIX_EPOCH);
    let pending = match store.pending() {
        Ok(p) => p,
        // Such a server keeps no uploads a listing could find; incomplete sets are still pruned.
        Err(StoreError::Unsupported(why)) => {
            steps.push(PruneStep::UploadsNotListed { why });
            Vec::new()
        }
        Err(e) => {
            return Err(UseCaseError::store(
                format!(
                    "listing unfinished uploads and files in {}",
                    store.describe()
                ),
                e,
            ))
        }
    };
    // An upload or file is as young as the later of its own time and its set's stamp: a server's
    // clock or an upload's reported start (moto reports a fixed date) cannot make a running pass
    // look abandoned.
    let since = |p: &Pending| {
        let stamp = p
            .set
            .as_ref()
            .and_then(|s| crate::store::stamp_time(&s.stamp));
        stamp.map_or(p.since, |t| t.max(p.since))
    };
    let covered = |p: &Pending| match &p.set {
        Some(set) => retention.covers(set),
        None => retention.name.is_none(),
    };
    for p in pending.iter().filter(|p| covered(p) && since(p) <= cutoff) {
        if !dry_run {
            store
                .remove_pending(p)
                .map_err(|e| UseCaseError::store(format!("removing {}", p.location), e))?;
        }
        steps.push(PruneStep::Unfinished {
            location: p.location.clone(),
            bytes: p.bytes,
        });
    }
    let checks = checks_of(store, Depth::Sizes)?;
    for c in checks
        .iter()
        .filter(|c| c.state == SetState::Incomplete && retention.covers(&c.id))
    {
        let old = crate::store::stamp_time(&c.id.stamp).is_some_and(|t| t <= cutoff);
        if !old {
            continue;
        }
        if !dry_run {
            store.delete_set(&c.id).map_err(|e| {
                UseCaseError::store(format!("deleting {} from {}", c.id, store.describe()), e)
            })?;
        }
        steps.push(PruneStep::IncompleteSet {
            location: store.location(&c.id, ""),
        });
    }
    Ok(())
}
