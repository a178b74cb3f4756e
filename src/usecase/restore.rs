//! The restore use-case (`pgveil restore`): load one artifact of a backup set into a database
//! (psql for plain/anon, pg_restore for custom), or print its SQL.
//!
//! The artifact is checked before any byte of it reaches psql or pg_restore (SQL can commit and
//! run shell commands by itself, so checking at the end is too late): a local file is read and
//! checked first; an object in a bucket is downloaded into a private work folder, checked, and
//! restored from there. A database that `create` made is dropped again when the restore fails.

use std::path::PathBuf;

use super::{check_cancel, SetRef, UseCaseError};
use crate::cancel::CancelToken;
use crate::input::conninfo::ConnInfo;
use crate::restore::{self, PgRestoreOptions, PlainTarget};
use crate::store::SetId;

/// Which artifact of the set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RestoreKind {
    /// The anonymized plain dump.
    #[default]
    Anon,
    /// The full plain dump.
    Plain,
    /// The custom archive, with pg_restore (allows jobs and tables).
    Custom,
}

impl RestoreKind {
    fn as_str(self) -> &'static str {
        match self {
            RestoreKind::Anon => "anon",
            RestoreKind::Plain => "plain",
            RestoreKind::Custom => "custom",
        }
    }
}

/// Where the SQL goes.
#[derive(Debug, Clone)]
pub enum RestoreTarget {
    /// A database (name or conninfo; PG* variables apply); `create` makes it first (`createdb`)
    /// and drops it again if the restore fails.
    Database {
        dbname: Option<String>,
        create: bool,
    },
    /// Standard output, as SQL (the artifact is verified first).
    Stdout,
}

#[derive(Debug, Clone)]
pub struct RestorePlan {
    pub set: SetRef,
    pub kind: RestoreKind,
    pub target: RestoreTarget,
    /// Parallel pg_restore jobs (custom archive); into an existing database only with
    /// `allow_partial` (parallel workers commit separately).
    pub jobs: Option<u32>,
    pub allow_partial: bool,
    /// Restore only these tables (custom archive).
    pub tables: Vec<String>,
    /// Skip ownership and privileges.
    pub no_owner: bool,
    /// Where an artifact from a bucket is downloaded and checked (default: the temp dir).
    pub work_dir: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub struct RestoreReport {
    pub set: SetId,
    /// The artifact restored (its path or URL).
    pub artifact: String,
}

pub fn restore(plan: &RestorePlan, cancel: &CancelToken) -> Result<RestoreReport, UseCaseError> {
    check_cancel(cancel)?;
    let kind = plan.kind.as_str();
    if plan.kind != RestoreKind::Custom && (!plan.tables.is_empty() || plan.jobs.is_some()) {
        return Err(UseCaseError::Invalid(
            "--table and --jobs need --custom (pg_restore)".into(),
        ));
    }
    let (conn, create) = match &plan.target {
        RestoreTarget::Database { dbname, create } => {
            (ConnInfo::parse_opt(dbname.as_deref())?, *create)
        }
        RestoreTarget::Stdout => (None, false),
    };
    let options = PgRestoreOptions {
        jobs: plan.jobs,
        tables: plan.tables.clone(),
        no_owner: plan.no_owner,
    };
    if let (Some(j), Some(conn)) = (options.parallel(), &conn) {
        if !create && !plan.allow_partial {
            return Err(UseCaseError::Invalid(format!(
                "refusing --jobs {j} into the existing database {}: parallel workers commit separately, so a failure would leave part of the archive behind; restore without --jobs (one transaction), into a new database with --create (dropped on failure), or accept a partial restore with --allow-partial",
                conn.describe()
            )));
        }
    }
    let chosen = plan.set.choose()?;
    let a = chosen.artifact(kind)?;
    let what = chosen.location(a);
    // Nothing of the artifact reaches psql or pg_restore (nor the new database exists) before it
    // matched the manifest.
    let verified = chosen.verified_file(a, plan.work_dir.as_deref())?;
    check_cancel(cancel)?;
    let report = RestoreReport {
        set: chosen.set.clone(),
        artifact: what.clone(),
    };
    let Some(conn) = conn else {
        if plan.kind == RestoreKind::Custom {
            restore::pg_restore(&verified.path, None, &options).map_err(|source| {
                UseCaseError::Restore {
                    what: format!("restoring {what}"),
                    source,
                }
            })?;
        } else {
            restore::restore_plain(
                Box::new(verified.file),
                &what,
                &a.info.sha256,
                PlainTarget::Stdout,
            )?;
        }
        return Ok(report);
    };
    if create {
        restore::createdb(&conn).map_err(|source| UseCaseError::Restore {
            what: format!("creating database {}", conn.describe()),
            source,
        })?;
    }
    let restored = if plan.kind == RestoreKind::Custom {
        restore::pg_restore(&verified.path, Some(&conn), &options)
    } else {
        restore::restore_plain(
            Box::new(verified.file),
            &what,
            &a.info.sha256,
            PlainTarget::Database(&conn),
        )
    };
    if let Err(source) = restored {
        let err = UseCaseError::Restore {
            what: format!("restoring {what}"),
            source,
        };
        if !create {
            return Err(err);
        }
        let db = conn.describe();
        return Err(match restore::dropdb(&conn) {
            Ok(()) => UseCaseError::CreatedDropped {
                db,
                source: Box::new(err),
            },
            Err(drop_error) => UseCaseError::CreatedKept {
                db,
                drop_error,
                source: Box::new(err),
            },
        });
    }
    Ok(report)
}
