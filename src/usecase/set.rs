//! Choosing one backup set of a folder or bucket, and getting a checked local copy of one of its
//! artifacts: shared by pull, restore and verify. Every artifact is checked against the manifest's
//! SHA-256 before it counts; a mismatch names the artifact.

use std::fs::File;
use std::io::Seek;
use std::path::{Path, PathBuf};

use super::UseCaseError;
use crate::manifest::{Manifest, ManifestArtifact};
use crate::store::check::{read_manifest, sha256_of};
use crate::store::{select_set, SetId, Store};

/// Which set of which location.
#[derive(Debug, Clone)]
pub struct SetRef {
    /// A folder of backup sets or `s3://bucket/prefix/`.
    pub location: String,
    /// An S3-compatible endpoint for the bucket.
    pub endpoint_url: Option<String>,
    /// `latest` (the newest complete set), `NAME/STAMP`, or a STAMP.
    pub backup: String,
    /// Only sets of this name (when the location holds several).
    pub name: Option<String>,
}

impl SetRef {
    /// The newest complete set at `location`.
    pub fn latest(location: impl Into<String>) -> SetRef {
        SetRef {
            location: location.into(),
            endpoint_url: None,
            backup: "latest".into(),
            name: None,
        }
    }

    pub(crate) fn choose(&self) -> Result<Chosen, UseCaseError> {
        let store = crate::store::open_location(&self.location, self.endpoint_url.as_deref())
            .map_err(|e| UseCaseError::store(format!("opening {}", self.location), e))?;
        let sets = store
            .list_sets()
            .map_err(|e| UseCaseError::store(format!("listing {}", store.describe()), e))?;
        let listing = select_set(&sets, &self.backup, self.name.as_deref())
            .map_err(|e| UseCaseError::store(format!("in {}", store.describe()), e))?;
        let set = listing.id.clone();
        let manifest = read_manifest(&*store, &set).map_err(|e| {
            UseCaseError::store(
                format!("backup set {set} is incomplete (no readable manifest); it cannot be used"),
                e,
            )
        })?;
        Ok(Chosen {
            store,
            set,
            manifest,
        })
    }
}

/// A chosen set with its manifest.
pub(crate) struct Chosen {
    pub store: Box<dyn Store>,
    pub set: SetId,
    pub manifest: Manifest,
}

impl Chosen {
    pub fn artifact(&self, kind: &str) -> Result<&ManifestArtifact, UseCaseError> {
        self.manifest
            .artifacts
            .iter()
            .find(|a| a.kind == kind)
            .ok_or_else(|| {
                UseCaseError::Invalid(format!("backup set {} has no {kind} artifact", self.set))
            })
    }

    pub fn location(&self, a: &ManifestArtifact) -> String {
        self.store.location(&self.set, &a.info.file)
    }

    /// The artifact as a local file whose size and SHA-256 match the manifest: a local set's own
    /// file, read and checked; an object downloaded (and checked on the way) into a private work
    /// folder under `work_dir` (default: the temp dir), removed when the result is dropped. The
    /// returned handle is the one that was checked, rewound.
    pub fn verified_file(
        &self,
        a: &ManifestArtifact,
        work_dir: Option<&Path>,
    ) -> Result<Verified, UseCaseError> {
        let from = self.location(a);
        let (path, mut file, work) = match self.store.local_path(&self.set, &a.info.file) {
            Some(path) => {
                let file = File::open(&path)
                    .map_err(|e| UseCaseError::io(format!("opening {from}"), e))?;
                (path, file, None)
            }
            None => {
                let work = WorkDir::create(work_dir)?;
                let path = work.path.join(&a.info.file);
                let mut file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .map_err(|e| UseCaseError::io(format!("creating {}", path.display()), e))?;
                let mut reader = self.store.open(&self.set, &a.info.file)?;
                std::io::copy(&mut reader, &mut file).map_err(|e| {
                    UseCaseError::io(format!("downloading {from} to {}", path.display()), e)
                })?;
                (path, file, Some(work))
            }
        };
        let rewind = |file: &mut File| {
            file.rewind()
                .map_err(|e| UseCaseError::io(format!("reading {from}"), e))
        };
        rewind(&mut file)?;
        let (sha, len) =
            sha256_of(&mut file).map_err(|e| UseCaseError::io(format!("reading {from}"), e))?;
        if sha != a.info.sha256 || len != a.info.bytes {
            return Err(UseCaseError::Invalid(format!(
                "{from}: SHA-256 {sha} ({len} bytes) does not match the manifest ({}, {} bytes): the artifact is corrupt; nothing was restored",
                a.info.sha256,
                a.info.bytes
            )));
        }
        rewind(&mut file)?;
        Ok(Verified {
            path,
            file,
            _work: work,
        })
    }
}

/// A checked local copy of an artifact (see [`Chosen::verified_file`]).
pub(crate) struct Verified {
    pub path: PathBuf,
    pub file: File,
    _work: Option<WorkDir>,
}

/// A private (0700) folder for downloaded artifacts, removed with its contents on drop, or by the
/// cleanup of an interrupted run (SIGINT/SIGTERM).
pub(crate) struct WorkDir {
    pub path: PathBuf,
    _undo: crate::interrupt::Guard,
}

impl WorkDir {
    pub fn create(base: Option<&Path>) -> Result<WorkDir, UseCaseError> {
        use std::os::unix::fs::DirBuilderExt;
        let base = base
            .map(Path::to_path_buf)
            .unwrap_or_else(std::env::temp_dir);
        let path = base.join(format!(
            ".pgveil-restore-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let (path, undo) = crate::interrupt::guard(|| {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&path)
                .map_err(|e| {
                    UseCaseError::io(format!("creating the work folder {}", path.display()), e)
                })?;
            Ok::<_, UseCaseError>((path.clone(), crate::interrupt::Undo::RemoveDir(path)))
        })?;
        Ok(WorkDir { path, _undo: undo })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::WorkDir;

    #[test]
    fn the_work_folder_is_private_and_removed_with_its_contents() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir();
        let work = WorkDir::create(Some(&base)).unwrap();
        let path = work.path.clone();
        assert!(path.starts_with(&base));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::write(path.join("artifact"), b"x").unwrap();
        // Two restores at once get two folders.
        let other = WorkDir::create(Some(&base)).unwrap();
        assert_ne!(other.path, path);
        drop(work);
        assert!(!path.exists());
    }
}
