//! The verify use-case (`pgveil verify`): check a backup set's artifacts against its manifest
//! (every SHA-256), and optionally restore it into a scratch database and compare each table's
//! row count with the manifest.

use std::path::PathBuf;

use super::set::Chosen;
use super::{check_cancel, SetRef, UseCaseError};
use crate::cancel::CancelToken;
use crate::input::conninfo::ConnInfo;
use crate::restore::{self, PgRestoreOptions, PlainTarget};
use crate::store::check::{check_set, Depth, SetState};
use crate::store::SetId;

#[derive(Debug, Clone)]
pub struct VerifyPlan {
    pub set: SetRef,
    /// Also restore into a scratch database and compare row counts with the manifest.
    pub restore_check: bool,
    /// Where an artifact from a bucket is downloaded for the restore check (default: temp dir).
    pub work_dir: Option<PathBuf>,
}

/// A passed restore check.
#[derive(Debug, Clone)]
pub struct RestoreCheck {
    /// Tables whose row counts matched the manifest.
    pub tables: usize,
}

#[derive(Debug)]
pub struct VerifyReport {
    pub set: SetId,
    /// Artifacts whose size and SHA-256 match the manifest.
    pub artifacts: usize,
    /// The restore check, when asked for. Its failure does not undo the checksum result above.
    pub restore_check: Option<Result<RestoreCheck, UseCaseError>>,
}

pub fn verify(plan: &VerifyPlan, cancel: &CancelToken) -> Result<VerifyReport, UseCaseError> {
    check_cancel(cancel)?;
    let chosen = plan.set.choose()?;
    let sets = chosen.store.list_sets()?;
    let listing = sets
        .iter()
        .find(|s| s.id == chosen.set)
        .ok_or_else(|| UseCaseError::Invalid("the set disappeared".into()))?;
    let check = check_set(&*chosen.store, listing, Depth::Checksums)?;
    match &check.state {
        SetState::Verified => {}
        SetState::Incomplete => {
            return Err(UseCaseError::Invalid(format!(
                "backup set {} is incomplete",
                chosen.set
            )))
        }
        SetState::Damaged(why) => {
            return Err(UseCaseError::Invalid(format!(
                "backup set {} is damaged: {why}",
                chosen.set
            )))
        }
    }
    let mut report = VerifyReport {
        set: chosen.set.clone(),
        artifacts: chosen.manifest.artifacts.len(),
        restore_check: None,
    };
    if plan.restore_check {
        report.restore_check = Some(
            check_cancel(cancel).and_then(|()| restore_check(&chosen, plan.work_dir.as_deref())),
        );
    }
    Ok(report)
}

fn restore_check(
    chosen: &Chosen,
    work_dir: Option<&std::path::Path>,
) -> Result<RestoreCheck, UseCaseError> {
    let scratch_name = format!("pgveil_verify_{}", std::process::id());
    let scratch = ConnInfo::name(&scratch_name);
    restore::createdb(&scratch).map_err(|source| UseCaseError::Restore {
        what: format!("creating scratch database {scratch_name}"),
        source,
    })?;
    let result = restore_and_count(chosen, &scratch, work_dir);
    let dropped = restore::dropdb(&scratch);
    let checked = result?;
    dropped.map_err(|source| UseCaseError::Restore {
        what: format!("dropping scratch database {scratch_name}"),
        source,
    })?;
    Ok(checked)
}

/// Restore the custom archive (else the plain, else the anon dump) into `scratch` and compare
/// each table's rows with the manifest.
fn restore_and_count(
    chosen: &Chosen,
    scratch: &ConnInfo,
    work_dir: Option<&std::path::Path>,
) -> Result<RestoreCheck, UseCaseError> {
    match chosen.artifact("custom").ok() {
        Some(a) => {
            let verified = chosen.verified_file(a, work_dir)?;
            let options = PgRestoreOptions {
                no_owner: true,
                ..Default::default()
            };
            restore::pg_restore(&verified.path, Some(scratch), &options).map_err(|source| {
                UseCaseError::Restore {
                    what: format!("restoring {}", chosen.location(a)),
                    source,
                }
            })?;
        }
        None => {
            let a = chosen
                .artifact("plain")
                .or_else(|_| chosen.artifact("anon"))?;
            let what = chosen.location(a);
            let verified = chosen.verified_file(a, work_dir)?;
            restore::restore_plain(
                Box::new(verified.file),
                &what,
                &a.info.sha256,
                PlainTarget::Database(scratch),
            )
            .map_err(|source| UseCaseError::Restore {
                what: format!("restoring {what}"),
                source,
            })?;
        }
    }
    let mut bad = Vec::new();
    for t in &chosen.manifest.tables {
        let n = restore::count_rows(scratch, &t.schema, &t.table)?;
        if n != t.rows as i64 {
            bad.push(format!(
                "{}.{}: {n} rows restored, the manifest says {}",
                t.schema, t.table, t.rows
            ));
        }
    }
    if !bad.is_empty() {
        return Err(UseCaseError::Invalid(format!(
            "restore check of {} failed: {}",
            chosen.set,
            bad.join("; ")
        )));
    }
    Ok(RestoreCheck {
        tables: chosen.manifest.tables.len(),
    })
}
