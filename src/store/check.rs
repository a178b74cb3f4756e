//! Checking a backup set against its manifest: is it complete (manifest present and readable, every
//! artifact there with the recorded size) and, when asked for, do the SHA-256 checksums match.
//! Retention, `list`, `pull`, `restore` and `verify` all judge sets here.

use std::io::Read;

use sha2::{Digest, Sha256};

use super::{SetId, SetListing, Store, StoreError};
use crate::manifest::Manifest;

/// How deep to look.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// Manifest present and parsed, artifacts listed with the recorded sizes.
    Sizes,
    /// And every artifact read back and its SHA-256 compared.
    Checksums,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SetState {
    /// No manifest: a pass that did not finish (or is still running). Never counts as a backup.
    Incomplete,
    /// A manifest, but an artifact is missing, has the wrong size or checksum, or the manifest is
    /// unreadable. The reason names the artifact.
    Damaged(String),
    /// Complete (and verified at the depth asked for).
    Verified,
}

#[derive(Debug, Clone)]
pub struct SetCheck {
    pub id: SetId,
    pub state: SetState,
    pub manifest: Option<Manifest>,
    /// Total size of the set's files, with what is not yet under a final name (partial files,
    /// parts of open uploads): the real size of an incomplete set.
    pub bytes: u64,
}

impl SetCheck {
    pub fn is_verified(&self) -> bool {
        self.state == SetState::Verified
    }
}

/// Read and parse a set's manifest.
pub fn read_manifest(store: &dyn Store, set: &SetId) -> Result<Manifest, StoreError> {
    let file = set.manifest_file();
    let mut text = Vec::new();
    store
        .open(set, &file)?
        .read_to_end(&mut text)
        .map_err(|source| StoreError::Io {
            what: store.location(set, &file),
            source,
        })?;
    serde_json::from_slice(&text).map_err(|e| {
        StoreError::Invalid(format!(
            "{}: not a pgveil manifest: {e}",
            store.location(set, &file)
        ))
    })
}

/// The SHA-256 and length of everything `reader` yields.
pub fn sha256_of(reader: &mut dyn Read) -> std::io::Result<(String, u64)> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = reader.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        total += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), total))
}

/// Check one artifact's checksum; the error names the artifact.
pub fn verify_artifact(
    store: &dyn Store,
    set: &SetId,
    file: &str,
    bytes: u64,
    sha256: &str,
) -> Result<(), StoreError> {
    let what = store.location(set, file);
    let mut reader = store.open(set, file)?;
    let (actual, len) = sha256_of(&mut reader).map_err(|source| StoreError::Io {
        what: what.clone(),
        source,
    })?;
    if len != bytes {
        return Err(StoreError::Invalid(format!(
            "{what}: {len} bytes, the manifest says {bytes}"
        )));
    }
    if actual != sha256 {
        return Err(StoreError::Invalid(format!(
            "{what}: SHA-256 {actual} does not match the manifest ({sha256}): the artifact is corrupt"
        )));
    }
    Ok(())
}

/// Judge one listed set. Errors reading the store are returned; problems of the set itself are
/// its state.
pub fn check_set(
    store: &dyn Store,
    listing: &SetListing,
    depth: Depth,
) -> Result<SetCheck, StoreError> {
    let id = listing.id.clone();
    let bytes = listing.files.values().sum::<u64>() + listing.pending_bytes;
    let mut check = SetCheck {
        id: id.clone(),
        state: SetState::Incomplete,
        manifest: None,
        bytes,
    };
    if !listing.files.contains_key(&id.manifest_file()) {
        return Ok(check);
    }
    let manifest = match read_manifest(store, &id) {
        Ok(m) => m,
        Err(StoreError::Invalid(msg)) => {
            check.state = SetState::Damaged(msg);
            return Ok(check);
        }
        Err(e) => return Err(e),
    };
    check.state = SetState::Verified;
    for a in &manifest.artifacts {
        let file = &a.info.file;
        match listing.files.get(file) {
            None => {
                check.state = SetState::Damaged(format!("{}: missing", store.location(&id, file)));
                break;
            }
            Some(&len) if len != a.info.bytes => {
                check.state = SetState::Damaged(format!(
                    "{}: {len} bytes, the manifest says {}",
                    store.location(&id, file),
                    a.info.bytes
                ));
                break;
            }
            Some(_) => {}
        }
        if depth == Depth::Checksums {
            match verify_artifact(store, &id, file, a.info.bytes, &a.info.sha256) {
                Ok(()) => {}
                Err(StoreError::Invalid(msg)) => {
                    check.state = SetState::Damaged(msg);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
    }
    check.manifest = Some(manifest);
    Ok(check)
}

/// Judge every set of a store, oldest first.
pub fn check_all(store: &dyn Store, depth: Depth) -> Result<Vec<SetCheck>, StoreError> {
    store
        .list_sets()?
        .iter()
        .map(|l| check_set(store, l, depth))
        .collect()
}
