//! Where a backup writes: flat files in a folder, or a backup set `NAME/STAMP/` in a folder and/or
//! a bucket (the same bytes teed to both).
//!
//! Flat: the files go straight into the folder, under a lock on `DIR/.pgveil-NAME.lock`, removed
//! at the end (a second run of the same name fails at once). Set: the pass claims a set of its own
//! in every store before writing.
//!
//! Order of publication, so that a crash at any point leaves either the previous complete files or
//! no manifest: every artifact and the new manifest are complete under partial names first; in flat
//! mode the old manifest is then removed; the artifacts are renamed; the manifest is renamed last
//! (with the folder synced between the steps). Until the manifest is published the claimed set is
//! registered with [`crate::interrupt`] (removed on SIGINT/SIGTERM in the command line) and released
//! when the target is dropped (a failed or cancelled backup).

use std::path::{Path, PathBuf};

use super::UseCaseError;
use crate::interrupt::{self, Undo};
use crate::sink::{ArtifactOutput, SealedFile, Tee};
use crate::store::local::LocalStore;
use crate::store::{SetId, Store, StoreError};

/// Where the plan says to write.
pub(crate) struct Destination<'a> {
    pub out_dir: Option<&'a Path>,
    /// `s3://bucket/prefix/`, and the S3-compatible endpoint to reach it.
    pub upload: Option<&'a str>,
    pub endpoint_url: Option<&'a str>,
    /// A backup set rather than flat files.
    pub set_mode: bool,
    /// Where the bucket's uploads report their parts.
    pub parts: Option<crate::observe::PartSender>,
}

pub(crate) struct Target {
    flat_dir: Option<PathBuf>,
    /// Held for the whole run in flat mode.
    _flat_lock: Option<FlatLock>,
    pub local: Option<LocalStore>,
    pub remote: Option<Box<dyn Store>>,
    pub set: Option<SetId>,
    /// Unique to this run: names its claim on the set in a bucket.
    token: String,
    /// Remove the claimed set on SIGINT/SIGTERM; dropped when the manifest is published.
    set_guards: Vec<interrupt::Guard>,
    /// Set once the manifest is written; until then a failure removes the empty set folder.
    published: bool,
}

/// How often a pass tries the next stamp when its set is taken.
const CLAIM_ATTEMPTS: usize = 60;

enum ClaimError {
    Taken,
    Store(StoreError),
}

impl Target {
    pub fn open(dest: &Destination<'_>, name: &str) -> Result<Target, UseCaseError> {
        if let Some(dir) = dest.out_dir {
            std::fs::create_dir_all(dir)
                .map_err(|e| UseCaseError::io(format!("creating {}", dir.display()), e))?;
        }
        let token = format!("{:x}-{:016x}", std::process::id(), rand::random::<u64>());
        let mut target = Target {
            flat_dir: None,
            _flat_lock: None,
            local: None,
            remote: None,
            set: None,
            token,
            set_guards: Vec::new(),
            published: false,
        };
        if !dest.set_mode {
            let dir = dest
                .out_dir
                .ok_or_else(|| UseCaseError::Invalid("--out-dir is required".into()))?;
            target._flat_lock = Some(lock_flat(dir, name)?);
            target.flat_dir = Some(dir.to_path_buf());
            return Ok(target);
        }
        target.local = dest.out_dir.map(|d| LocalStore::new(d.to_path_buf()));
        target.remote = match dest.upload {
            Some(url) => {
                let mut remote = crate::store::open_location(url, dest.endpoint_url)
                    .map_err(|e| UseCaseError::store(format!("opening {url}"), e))?;
                if let Some(parts) = &dest.parts {
                    remote.report_parts(parts.clone());
                }
                Some(remote)
            }
            None => None,
        };
        let set = target.first_free_stamp(name)?;
        target.claim_from(set, name)?;
        Ok(target)
    }

    /// A new set, later than any set of this name already there (stamps order the sets).
    fn first_free_stamp(&self, name: &str) -> Result<SetId, UseCaseError> {
        let mut set = SetId::now(name);
        for store in self.stores() {
            let sets = store
                .list_sets()
                .map_err(|e| UseCaseError::store(format!("listing {}", store.describe()), e))?;
            for existing in sets.iter().filter(|s| s.id.name == name) {
                if existing.id.stamp >= set.stamp {
                    set = existing.id.next_after().unwrap_or(set);
                }
            }
        }
        Ok(set)
    }

    /// Claim `set` everywhere; a set another pass holds (the same second) means the next second.
    fn claim_from(&mut self, mut set: SetId, name: &str) -> Result<(), UseCaseError> {
        for attempt in 0..CLAIM_ATTEMPTS {
            if self.claim(&set)? {
                self.set = Some(set);
                return Ok(());
            }
            if attempt > 0 {
                // Two passes that keep meeting at the same stamp (both saw each other's claim
                // in a bucket) part after a random pause.
                std::thread::sleep(std::time::Duration::from_millis(
                    rand::random::<u64>() % 200,
                ));
            }
            set = set
                .next_after()
                .ok_or_else(|| UseCaseError::Invalid("no next stamp".into()))?;
        }
        Err(UseCaseError::Invalid(format!(
            "could not claim a new backup set for {name}: {CLAIM_ATTEMPTS} stamps in a row were taken by other runs"
        )))
    }

    pub fn stores(&self) -> impl Iterator<Item = &dyn Store> {
        self.local
            .iter()
            .map(|l| l as &dyn Store)
            .chain(self.remote.as_deref())
    }

    /// Claim `set` in every store; `false` (and nothing held) if any has it already.
    fn claim(&mut self, set: &SetId) -> Result<bool, UseCaseError> {
        let mut claimed: Vec<&dyn Store> = Vec::new();
        let mut guards = Vec::new();
        let stores: Vec<&dyn Store> = self.stores().collect();
        for store in stores {
            // Claimed and registered for removal on SIGINT/SIGTERM in one step.
            let res = interrupt::guard(|| match store.claim(set, &self.token) {
                Ok(true) => Ok(((), Undo::RemoveSet(store.set_remover(set)))),
                Ok(false) => Err(ClaimError::Taken),
                Err(e) => Err(ClaimError::Store(e)),
            });
            match res {
                Ok(((), guard)) => {
                    claimed.push(store);
                    guards.push(guard);
                }
                Err(err) => {
                    drop(guards);
                    for c in claimed {
                        c.release(set, &self.token);
                    }
                    return match err {
                        ClaimError::Taken => Ok(false),
                        ClaimError::Store(e) => Err(UseCaseError::store(
                            format!("claiming {set} in {}", store.describe()),
                            e,
                        )),
                    };
                }
            }
        }
        self.set_guards = guards;
        Ok(true)
    }

    /// Where a file of this target is (its path, or its URLs).
    pub fn locations(&self, file: &str) -> Vec<String> {
        if let Some(dir) = &self.flat_dir {
            return vec![dir.join(file).display().to_string()];
        }
        let set = self.set.as_ref().expect("set mode");
        self.stores().map(|s| s.location(set, file)).collect()
    }

    /// Publish: the manifest complete under a partial name, (flat) the old manifest removed, the
    /// artifacts renamed / uploads completed, the manifest published last. A failure anywhere
    /// leaves no manifest, or the previous complete files. `published` is told of each artifact.
    pub fn commit(
        &mut self,
        sealed: Vec<SealedFile>,
        name: &str,
        text: &[u8],
        mut published: impl FnMut(&crate::sink::ArtifactInfo),
    ) -> Result<(), UseCaseError> {
        let file = format!("{name}.manifest.json");
        let mut out = self.create(&file)?;
        out.write_all(text)?;
        let manifest = out.seal()?;
        if let Some(dir) = &self.flat_dir {
            // From here until the new manifest is in place the folder has none: a crash in between
            // leaves artifacts that no manifest vouches for, never an old manifest over new files.
            let old = dir.join(&file);
            match std::fs::remove_file(&old) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(UseCaseError::io(
                        format!("removing the previous {}", old.display()),
                        e,
                    ))
                }
            }
            self.sync_dirs()?;
        }
        // On an error the sealed artifacts not yet published are dropped: removed / aborted.
        for sealed in sealed {
            let f = sealed.info.file.clone();
            let info = sealed.publish().map_err(|source| UseCaseError::Output {
                what: format!("publishing {f}"),
                source,
            })?;
            published(&info);
        }
        self.sync_dirs()?;
        interrupt::settle(&mut self.set_guards, || {
            manifest.publish().map_err(|source| UseCaseError::Output {
                what: format!("publishing {file}"),
                source,
            })
        })?;
        self.sync_dirs()?;
        self.published = true;
        if let Some(set) = &self.set {
            for store in self.stores() {
                store.finish_claim(set, &self.token);
            }
        }
        Ok(())
    }

    /// fsync the local folder written to, so that renames reach the disk in order.
    fn sync_dirs(&self) -> Result<(), UseCaseError> {
        let dir = match (&self.flat_dir, &self.local, &self.set) {
            (Some(dir), _, _) => dir.clone(),
            (None, Some(local), Some(set)) => local.set_dir(set),
            _ => return Ok(()),
        };
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| UseCaseError::io(format!("syncing {}", dir.display()), e))
    }

    /// A new artifact file: nothing is visible under its final name until published.
    pub fn create(&self, file: &str) -> Result<ArtifactOutput, UseCaseError> {
        if let Some(dir) = &self.flat_dir {
            return Ok(ArtifactOutput::file(&dir.join(file))?);
        }
        let set = self.set.as_ref().expect("set mode");
        let local = match &self.local {
            Some(l) => Some(l.create(set, file).map_err(|e| {
                UseCaseError::store(format!("creating {}", l.location(set, file)), e)
            })?),
            None => None,
        };
        let remote = match &self.remote {
            Some(r) => Some(r.create(set, file).map_err(|e| {
                UseCaseError::store(
                    format!("starting the upload of {}", r.location(set, file)),
                    e,
                )
            })?),
            None => None,
        };
        Ok(match (local, remote) {
            (Some(l), Some(r)) => ArtifactOutput::new(Tee::new(l, r)),
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => {
                return Err(UseCaseError::Invalid(
                    "no output: give --out-dir or --upload".into(),
                ))
            }
        })
    }

    /// Where the custom archive spools its table data until the TOC is known. Without a local
    /// folder this is the temp dir: the compressed table data must fit there.
    pub fn spool_dir(&self) -> PathBuf {
        match (&self.flat_dir, &self.local) {
            (Some(dir), _) => dir.clone(),
            (None, Some(l)) => l.root().to_path_buf(),
            (None, None) => std::env::var_os("PGVEIL_SPOOL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir),
        }
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        // After a failed pass the partial files are gone already (the sinks dropped first); the
        // claimed set is left empty: release it (the local folder, if empty, and the bucket's
        // claim object), so no incomplete set is listed.
        if let (false, Some(set)) = (self.published, &self.set) {
            self.set_guards.clear();
            for store in self.stores() {
                store.release(set, &self.token);
            }
        }
    }
}

/// The lock of a flat run: `DIR/.pgveil-NAME.lock`, held (flock) for the whole run and removed at
/// its end (also on SIGINT/SIGTERM; a run killed outright leaves it, harmlessly).
struct FlatLock {
    path: PathBuf,
    _file: std::fs::File,
    _guard: interrupt::Guard,
}

impl Drop for FlatLock {
    fn drop(&mut self) {
        // Removed while still held: a run that opened this file meanwhile finds, once it holds
        // the lock, that the path no longer names it, and starts over (see `lock_flat`).
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Lock `DIR/.pgveil-NAME.lock` for a flat run; a second run of NAME into DIR fails at once.
fn lock_flat(dir: &Path, name: &str) -> Result<FlatLock, UseCaseError> {
    let path = dir.join(format!(".pgveil-{name}.lock"));
    loop {
        let opened = interrupt::guard(|| {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map(|f| (f, Undo::RemoveFile(path.clone())))
        });
        let (file, guard) =
            opened.map_err(|e| UseCaseError::io(format!("opening {}", path.display()), e))?;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            use std::os::unix::fs::MetadataExt;
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let err = std::io::Error::last_os_error();
                // Not ours to remove: forget the undo without touching the file.
                drop(guard);
                if err.kind() == std::io::ErrorKind::WouldBlock {
                    return Err(UseCaseError::Invalid(format!(
                        "another pgveil run is writing {name} into {} (it holds {}); nothing was written",
                        dir.display(),
                        path.display()
                    )));
                }
                return Err(UseCaseError::io(format!("locking {}", path.display()), err));
            }
            // The holder we waited for may have removed the file as it finished: then this lock
            // is on a file nobody else will open, and the path must be locked afresh.
            let held = file.metadata().map(|m| (m.dev(), m.ino())).ok();
            let named = std::fs::metadata(&path).map(|m| (m.dev(), m.ino())).ok();
            if held.is_none() || held != named {
                drop(guard);
                continue;
            }
        }
        return Ok(FlatLock {
            path,
            _file: file,
            _guard: guard,
        });
    }
}
