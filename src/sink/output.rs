//! An artifact file that appears under its final name only when complete: it is written as
//! `NAME.partial`, its size and SHA-256 are computed on the way, and `commit` renames it. Dropped
//! without `commit` (an error anywhere in the pass), the partial file is removed.
//!
//! A path that already exists and is not a regular file (`/dev/null`, a FIFO, `/dev/stdout`) is
//! written in place: renaming a file over it would replace the device or pipe.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("writing {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What the manifest records of a published artifact.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ArtifactInfo {
    /// File name (relative to the backup folder).
    pub file: String,
    pub bytes: u64,
    pub sha256: String,
}

pub struct AtomicFile {
    final_path: PathBuf,
    partial_path: PathBuf,
    /// Writing straight to `final_path` (a device or pipe): no rename, nothing to remove.
    in_place: bool,
    out: Option<BufWriter<File>>,
    /// `None` when the caller needs no checksum (the `anonymize` filter's output).
    hasher: Option<Sha256>,
    bytes: u64,
}

impl AtomicFile {
    pub fn create(final_path: &Path) -> Result<AtomicFile, OutputError> {
        let in_place = std::fs::metadata(final_path)
            .map(|m| !m.is_file() && !m.is_dir())
            .unwrap_or(false);
        let partial_path = if in_place {
            final_path.to_path_buf()
        } else {
            let mut partial = final_path.as_os_str().to_owned();
            partial.push(".partial");
            PathBuf::from(partial)
        };
        let opened = if in_place {
            std::fs::OpenOptions::new().write(true).open(&partial_path)
        } else {
            File::create(&partial_path)
        };
        let file = opened.map_err(|source| OutputError::Io {
            path: partial_path.clone(),
            source,
        })?;
        Ok(AtomicFile {
            final_path: final_path.to_path_buf(),
            partial_path,
            in_place,
            out: Some(BufWriter::with_capacity(1 << 20, file)),
            hasher: Some(Sha256::new()),
            bytes: 0,
        })
    }

    /// Skip the SHA-256 (its info then has an empty `sha256`): hashing an uncompressed output is a
    /// serial cost the `anonymize` filter does not need.
    pub fn without_checksum(mut self) -> AtomicFile {
        self.hasher = None;
        self
    }

    pub fn final_path(&self) -> &Path {
        &self.final_path
    }

    fn io_err(&self, source: std::io::Error) -> OutputError {
        OutputError::Io {
            path: self.partial_path.clone(),
            source,
        }
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        if let Some(h) = &mut self.hasher {
            h.update(bytes);
        }
        self.bytes += bytes.len() as u64;
        let res = self
            .out
            .as_mut()
            .expect("written after commit")
            .write_all(bytes);
        res.map_err(|e| self.io_err(e))
    }

    /// Flush, fsync and rename to the final name.
    pub fn commit(self) -> Result<ArtifactInfo, OutputError> {
        self.seal()?.publish()
    }

    /// Flush and fsync, but keep the partial name: the caller publishes all artifacts of a pass
    /// together once every one of them is complete.
    pub fn seal(mut self) -> Result<SealedFile, OutputError> {
        let out = self.out.take().expect("sealed twice");
        let file = out.into_inner().map_err(|e| OutputError::Io {
            path: self.partial_path.clone(),
            source: e.into_error(),
        })?;
        if !self.in_place {
            if let Err(e) = file.sync_all() {
                let _ = std::fs::remove_file(&self.partial_path);
                return Err(self.io_err(e));
            }
        }
        let hasher = self.hasher.take();
        Ok(SealedFile {
            final_path: self.final_path.clone(),
            // In place, there is nothing to rename (and nothing to remove if unpublished).
            partial_path: (!self.in_place).then(|| self.partial_path.clone()),
            info: ArtifactInfo {
                file: self
                    .final_path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                bytes: self.bytes,
                sha256: hasher
                    .map(|h| hex::encode(h.finalize()))
                    .unwrap_or_default(),
            },
        })
    }
}

/// A complete artifact still under its partial name. Dropped unpublished, it is removed.
#[derive(Debug)]
pub struct SealedFile {
    final_path: PathBuf,
    partial_path: Option<PathBuf>,
    pub info: ArtifactInfo,
}

impl SealedFile {
    pub fn publish(mut self) -> Result<ArtifactInfo, OutputError> {
        let Some(partial) = self.partial_path.take() else {
            return Ok(self.info.clone());
        };
        std::fs::rename(&partial, &self.final_path).map_err(|source| {
            let _ = std::fs::remove_file(&partial);
            OutputError::Io {
                path: partial.clone(),
                source,
            }
        })?;
        Ok(self.info.clone())
    }
}

impl Drop for SealedFile {
    fn drop(&mut self) {
        if let Some(p) = self.partial_path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf)
            .map_err(|OutputError::Io { source, .. }| source)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.take().is_some() && !self.in_place {
            let _ = std::fs::remove_file(&self.partial_path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn publishes_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.gz");
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"hello").unwrap();
        assert!(!path.exists());
        drop(f);
        assert!(!path.exists());
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "partial file left behind"
        );

        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"hello").unwrap();
        let info = f.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"hello");
        assert_eq!(info.bytes, 5);
        assert_eq!(info.sha256, hex::encode(Sha256::digest(b"hello")));
    }
}
