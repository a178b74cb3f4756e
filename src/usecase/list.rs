//! The list use-case (`pgveil backups list`): the backup sets of a folder or bucket, newest last,
//! each checked against its manifest (sizes, or every checksum).

use super::{check_cancel, UseCaseError};
use crate::cancel::CancelToken;
use crate::store::check::{check_all, Depth, SetCheck};

/// Which location to list, and how deep to check.
#[derive(Debug, Clone)]
pub struct ListPlan {
    /// A folder or `s3://bucket/prefix/`, and the S3-compatible endpoint to reach it.
    pub location: String,
    pub endpoint_url: Option<String>,
    /// Read every artifact back and compare its SHA-256 (otherwise: manifest and sizes).
    pub verify: bool,
}

/// One listed set: its check, and where it is.
#[derive(Debug, Clone)]
pub struct ListedSet {
    pub check: SetCheck,
    pub location: String,
}

#[derive(Debug, Clone)]
pub struct ListReport {
    pub sets: Vec<ListedSet>,
}

pub fn list(plan: &ListPlan, cancel: &CancelToken) -> Result<ListReport, UseCaseError> {
    check_cancel(cancel)?;
    let store = crate::store::open_location(&plan.location, plan.endpoint_url.as_deref())
        .map_err(|e| UseCaseError::store(format!("opening {}", plan.location), e))?;
    let depth = if plan.verify {
        Depth::Checksums
    } else {
        Depth::Sizes
    };
    let checks = check_all(&*store, depth)
        .map_err(|e| UseCaseError::store(format!("listing {}", store.describe()), e))?;
    let sets = checks
        .into_iter()
        .map(|check| ListedSet {
            location: store.location(&check.id, ""),
            check,
        })
        .collect();
    Ok(ListReport { sets })
}
