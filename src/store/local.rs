//! A local folder of backup sets: `ROOT/NAME/STAMP/FILE`. Files are written through
//! [`AtomicFile`] (a `.partial` name until published), so a listing only ever sees whole files.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{is_stamp, is_valid_name, SetId, SetListing, Store, StoreError};
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
                for e in std::fs::read_dir(&dir).map_err(|e| self.io(&dir, e))? {
                    let e = e.map_err(|e| self.io(&dir, e))?;
                    let file = e.file_name().to_string_lossy().into_owned();
                    let meta = e.metadata().map_err(|err| self.io(&e.path(), err))?;
                    if meta.is_file() && !file.ends_with(".partial") {
                        files.insert(file, meta.len());
                    }
                }
                sets.push(SetListing { id, files });
            }
        }
        sets.sort_by(|a, b| a.id.stamp.cmp(&b.id.stamp).then(a.id.cmp(&b.id)));
        Ok(sets)
    }

    fn create(&self, set: &SetId, file: &str) -> Result<ArtifactOutput, StoreError> {
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
}
