//! A local folder of backup sets: `ROOT/NAME/STAMP/FILE`. Files are written through
//! [`AtomicFile`] (a `.partial` name until published), so a listing only ever sees whole files; a
//! pass claims its set by creating the `STAMP` folder exclusively.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{
    is_set_file, is_stamp, is_valid_name, Pending, PendingHandle, SetId, SetListing, Store,
    StoreError,
};
use crate::sink::{ArtifactOutput, AtomicFile};

pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: PathBuf) -> LocalStore {
        LocalStore { root }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn set_dir(&self, set: &SetId) -> PathBuf {
        self.root.join(&set.name).join(&set.stamp)
    }

    fn io(&self, path: &Path, source: std::io::Error) -> StoreError {
        StoreError::Io {
            what: path.display().to_string(),
            source,
        }
    }
}

fn dirs_of(path: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(path)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            out.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    out.sort();
    Ok(out)
}

impl Store for LocalStore {
    fn describe(&self) -> String {
        self.root.display().to_string()
    }

    fn location(&self, set: &SetId, file: &str) -> String {
        self.set_dir(set).join(file).display().to_string()
    }

    fn list_sets(&self) -> Result<Vec<SetListing>, StoreError> {
        if !self.root.is_dir() {
            return Ok(Vec::new());
        }
        let mut sets = Vec::new();
        for name in dirs_of(&self.root).map_err(|e| self.io(&self.root, e))? {
            if !is_valid_name(&name) {
                continue;
            }
            let name_dir = self.root.join(&name);
            for stamp in dirs_of(&name_dir).map_err(|e| self.io(&name_dir, e))? {
                if !is_stamp(&stamp) {
                    continue;
                }
                let id = SetId {
                    name: name.clone(),
                    stamp,
                };
                let dir = self.set_dir(&id);
                let mut files = BTreeMap::new();
                let mut pending_bytes = 0;
                for e in std::fs::read_dir(&dir).map_err(|e| self.io(&dir, e))? {
                    let e = e.map_err(|e| self.io(&dir, e))?;
                    let file = e.file_name().to_string_lossy().into_owned();
                    let meta = match e.metadata() {
                        Ok(m) => m,
                        // A partial file renamed or removed while listing.
                        Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                        Err(err) => return Err(self.io(&e.path(), err)),
                    };
                    if !meta.is_file() {
                        continue;
                    }
                    if is_set_file(&file) {
                        files.insert(file, meta.len());
                    } else {
                        pending_bytes += meta.len();
                    }
                }
                sets.push(SetListing {
                    id,
                    files,
                    pending_bytes,
                });
            }
        }
        sets.sort_by(|a, b| a.id.stamp.cmp(&b.id.stamp).then(a.id.cmp(&b.id)));
        Ok(sets)
    }

    fn create(&self, set: &SetId, file: &str) -> Result<ArtifactOutput, StoreError> {
        // A pass has claimed the set folder already; `pull` creates it here.
        let dir = self.set_dir(set);
        std::fs::create_dir_all(&dir).map_err(|e| self.io(&dir, e))?;
        Ok(ArtifactOutput::new(AtomicFile::create(&dir.join(file))?))
    }

    fn open(&self, set: &SetId, file: &str) -> Result<Box<dyn Read + Send>, StoreError> {
        let path = self.set_dir(set).join(file);
        let f = std::fs::File::open(&path).map_err(|e| self.io(&path, e))?;
        Ok(Box::new(std::io::BufReader::with_capacity(1 << 20, f)))
    }

    fn delete_set(&self, set: &SetId) -> Result<(), StoreError> {
        let dir = self.set_dir(set);
        let manifest = dir.join(set.manifest_file());
        match std::fs::remove_file(&manifest) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(self.io(&manifest, e)),
        }
        std::fs::remove_dir_all(&dir).map_err(|e| self.io(&dir, e))?;
        // The NAME folder goes too once its last set is gone.
        let _ = std::fs::remove_dir(self.root.join(&set.name));
        Ok(())
    }

    fn local_path(&self, set: &SetId, file: &str) -> Option<PathBuf> {
        Some(self.set_dir(set).join(file))
    }

    fn claim(&self, set: &SetId, _token: &str) -> Result<bool, StoreError> {
        let name_dir = self.root.join(&set.name);
        std::fs::create_dir_all(&name_dir).map_err(|e| self.io(&name_dir, e))?;
        let dir = self.set_dir(set);
        match std::fs::create_dir(&dir) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(self.io(&dir, e)),
        }
    }

    fn release(&self, set: &SetId, _token: &str) {
        // `remove_dir` never removes a folder with anything in it.
        if std::fs::remove_dir(self.set_dir(set)).is_ok() {
            let _ = std::fs::remove_dir(self.root.join(&set.name));
        }
    }

    fn finish_claim(&self, _set: &SetId, _token: &str) {}

    fn set_remover(&self, set: &SetId) -> Box<dyn FnOnce() + Send> {
        let dir = self.set_dir(set);
        let name_dir = self.root.join(&set.name);
        Box::new(move || {
            let _ = std::fs::remove_dir_all(&dir);
            let _ = std::fs::remove_dir(&name_dir);
        })
    }

    fn pending(&self) -> Result<Vec<Pending>, StoreError> {
        let mut out = Vec::new();
        if !self.root.is_dir() {
            return Ok(out);
        }
        // The root: partial files of flat runs, archive spools.
        pending_files(&self.root, None, &mut out).map_err(|e| self.io(&self.root, e))?;
        for set in self.list_sets()? {
            let dir = self.set_dir(&set.id);
            pending_files(&dir, Some(&set.id), &mut out).map_err(|e| self.io(&dir, e))?;
        }
        Ok(out)
    }

    fn remove_pending(&self, pending: &Pending) -> Result<(), StoreError> {
        match &pending.handle {
            PendingHandle::File(path) => match std::fs::remove_file(path) {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(self.io(path, e)),
            },
            PendingHandle::Upload { .. } => Ok(()),
        }
    }
}

/// Partial files and archive spools directly in `dir`.
fn pending_files(dir: &Path, set: Option<&SetId>, out: &mut Vec<Pending>) -> std::io::Result<()> {
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let file = e.file_name().to_string_lossy().into_owned();
        let unfinished = crate::sink::output::is_partial_name(&file)
            || (file.starts_with(".pgveil-archive-") && file.ends_with(".spool"));
        if !unfinished {
            continue;
        }
        let Ok(meta) = e.metadata() else { continue };
        if !meta.is_file() {
            continue;
        }
        out.push(Pending {
            location: e.path().display().to_string(),
            set: set.cloned(),
            bytes: meta.len(),
            since: meta
                .modified()
                .unwrap_or_else(|_| std::time::SystemTime::now()),
            handle: PendingHandle::File(e.path()),
        });
    }
    Ok(())
}
