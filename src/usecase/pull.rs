//! The pull use-case (`pgveil pull`): copy one backup set (default: the latest) from a bucket or
//! folder into a local folder of sets. Each artifact is checked against the manifest before any is
//! published; the local manifest, written last, lists what was pulled.

use std::path::PathBuf;

use super::{check_cancel, SetRef, UseCaseError};
use crate::cancel::CancelToken;
use crate::manifest::ManifestArtifact;
use crate::observe::Observer;
use crate::store::local::LocalStore;
use crate::store::{SetId, Store};

#[derive(Debug, Clone)]
pub struct PullPlan {
    pub set: SetRef,
    /// Artifact kinds to fetch (`plain`, `anon`, `custom`); empty = all.
    pub only: Vec<String>,
    /// The local folder of backup sets to pull into (the set lands in DIR/NAME/STAMP/).
    pub out_dir: PathBuf,
}

#[derive(Debug, Clone)]
pub struct PullReport {
    pub set: SetId,
    /// The local set folder.
    pub dir: PathBuf,
    pub artifacts: Vec<ManifestArtifact>,
}

pub fn pull(
    plan: &PullPlan,
    observer: &dyn Observer,
    cancel: &CancelToken,
) -> Result<PullReport, UseCaseError> {
    check_cancel(cancel)?;
    let chosen = plan.set.choose()?;
    let local = LocalStore::new(plan.out_dir.clone());
    let mut manifest = chosen.manifest.clone();
    manifest
        .artifacts
        .retain(|a| plan.only.is_empty() || plan.only.contains(&a.kind));
    if manifest.artifacts.is_empty() {
        return Err(UseCaseError::Invalid(format!(
            "backup set {} has none of the artifacts {:?}",
            chosen.set, plan.only
        )));
    }
    let mut sealed = Vec::new();
    for a in &manifest.artifacts {
        check_cancel(cancel)?;
        let from = chosen.location(a);
        let mut out = local.create(&chosen.set, &a.info.file)?;
        let mut reader = chosen.store.open(&chosen.set, &a.info.file)?;
        std::io::copy(&mut reader, &mut out)
            .map_err(|e| UseCaseError::io(format!("downloading {from}"), e))?;
        let file = out.seal()?;
        if file.info.sha256 != a.info.sha256 || file.info.bytes != a.info.bytes {
            return Err(UseCaseError::Invalid(format!(
                "{from}: SHA-256 {} ({} bytes) does not match the manifest ({}, {} bytes): the artifact is corrupt",
                file.info.sha256,
                file.info.bytes,
                a.info.sha256,
                a.info.bytes
            )));
        }
        sealed.push((file, a));
    }
    check_cancel(cancel)?;
    for (file, a) in sealed {
        file.publish()?;
        observer.artifact_published(a, &local.location(&chosen.set, &a.info.file));
    }
    // The local manifest lists what was pulled, so the local set checks as complete.
    let mut text = serde_json::to_vec_pretty(&manifest)?;
    text.push(b'\n');
    let mut out = local.create(&chosen.set, &chosen.set.manifest_file())?;
    out.write_all(&text)?;
    out.seal()?.publish()?;
    Ok(PullReport {
        dir: local.set_dir(&chosen.set),
        set: chosen.set,
        artifacts: manifest.artifacts,
    })
}
