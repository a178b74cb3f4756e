//! Where an artifact's bytes go, and the rule that nothing appears under a final name unless the
//! whole pass succeeded.
//!
//! [`ArtifactOutput`] is what the sinks write to: a local [`AtomicFile`] (written as
//! `NAME.PID-N.partial`, a name of this run only, renamed on publish), an S3 multipart upload (`crate::store::s3`, completed on publish), or a
//! [`Tee`] of both. Every output computes size and SHA-256 on the way; `seal` finishes the bytes and
//! gives a [`SealedFile`] that is published later together with the other artifacts of the pass.
//! Dropped unsealed or unpublished, an output cleans up (partial removed, upload aborted); a partial
//! file is also registered with [`crate::interrupt`], which removes it on SIGINT/SIGTERM.
//!
//! A local path that already exists and is not a regular file (`/dev/null`, a FIFO, `/dev/stdout`)
//! is written in place: renaming a file over it would replace the device or pipe.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::interrupt::{self, Undo};

#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    #[error("writing {path}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A remote store failed (`what` names the object, e.g. `s3://bucket/key`; `source` says why,
    /// e.g. `crate::store::s3::S3Error`).
    #[error("{what}")]
    Remote {
        what: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl OutputError {
    /// As `std::io::Error` (for `Write`): a local error is given back as it came (its kind, e.g. a
    /// broken pipe, stays visible); any other is wrapped whole, still typed
    /// (`io::Error::get_ref().downcast_ref::<OutputError>()`).
    fn into_io(self) -> std::io::Error {
        match self {
            OutputError::Io { source, .. } => source,
            other => std::io::Error::other(other),
        }
    }
}

/// One destination of an artifact's bytes (a local partial file, an S3 multipart upload, ...).
pub trait OutputTarget: Send {
    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), OutputError>;
    /// Finish the bytes (flush, fsync, last part) without publishing.
    fn seal_target(self: Box<Self>) -> Result<SealedFile, OutputError>;
    /// Overwrite bytes already written at `at` (the same length, nothing appended), where the
    /// target can go back (a local regular file). `false`: it cannot, nothing was changed.
    fn patch(&mut self, _at: u64, _bytes: &[u8]) -> Result<bool, OutputError> {
        Ok(false)
    }
}

/// What the sinks write an artifact to: any [`OutputTarget`], usable as `std::io::Write`.
pub struct ArtifactOutput {
    inner: Box<dyn OutputTarget>,
}

impl ArtifactOutput {
    pub fn new(target: impl OutputTarget + 'static) -> ArtifactOutput {
        ArtifactOutput {
            inner: Box::new(target),
        }
    }

    /// A local file published by rename (see [`AtomicFile`]).
    pub fn file(final_path: &Path) -> Result<ArtifactOutput, OutputError> {
        Ok(ArtifactOutput::new(AtomicFile::create(final_path)?))
    }

    pub fn write_all(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        self.inner.write_bytes(bytes)
    }

    pub fn seal(self) -> Result<SealedFile, OutputError> {
        self.inner.seal_target()
    }

    /// See [`OutputTarget::patch`]; `false` for a bucket, a device, a pipe, or a tee of two.
    pub fn patch(&mut self, at: u64, bytes: &[u8]) -> Result<bool, OutputError> {
        self.inner.patch(at, bytes)
    }
}

impl Write for ArtifactOutput {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.inner.write_bytes(buf).map_err(OutputError::into_io)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The same bytes to two outputs (e.g. the local backup folder and the bucket). Both must seal;
/// publishing publishes both.
pub struct Tee {
    a: ArtifactOutput,
    b: ArtifactOutput,
}

impl Tee {
    pub fn new(a: ArtifactOutput, b: ArtifactOutput) -> Tee {
        Tee { a, b }
    }
}

impl OutputTarget for Tee {
    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        self.a.write_all(bytes)?;
        self.b.write_all(bytes)
    }
    fn seal_target(self: Box<Self>) -> Result<SealedFile, OutputError> {
        let a = self.a.seal()?;
        let b = self.b.seal()?;
        Ok(SealedFile::new(a.info.clone(), TeePublish(Some((a, b)))))
    }
}

struct TeePublish(Option<(SealedFile, SealedFile)>);

impl Publish for TeePublish {
    fn publish(&mut self) -> Result<(), OutputError> {
        let (a, b) = self.0.take().expect("published twice");
        a.publish()?;
        b.publish()?;
        Ok(())
    }
}

/// How a sealed artifact is made visible under its final name. Dropped without `publish`, the
/// implementation removes what it wrote (partial file, multipart upload).
pub trait Publish: Send {
    fn publish(&mut self) -> Result<(), OutputError>;
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
    /// Removes the partial file if the run is interrupted; handed to the [`Rename`] on seal.
    guard: Option<interrupt::Guard>,
    /// `None` when the caller needs no checksum (the `anonymize` filter's output).
    hasher: Option<Sha256>,
    bytes: u64,
    /// Bytes were overwritten after they went through the hasher: `seal` reads the file back.
    patched: bool,
}

impl AtomicFile {
    pub fn create(final_path: &Path) -> Result<AtomicFile, OutputError> {
        let in_place = std::fs::metadata(final_path)
            .map(|m| !m.is_file() && !m.is_dir())
            .unwrap_or(false);
        if in_place {
            let file = std::fs::OpenOptions::new()
                .write(true)
                .open(final_path)
                .map_err(|source| OutputError::Io {
                    path: final_path.to_path_buf(),
                    source,
                })?;
            return Ok(AtomicFile::new(
                final_path,
                final_path.to_path_buf(),
                true,
                file,
                None,
            ));
        }
        // A name of this run only: two runs writing the same artifact never share a partial file.
        let partial_path = partial_name(final_path);
        let (file, guard) = interrupt::guard(|| {
            std::fs::OpenOptions::new()
                // Read too: a patched file is read back for its checksum.
                .read(true)
                .write(true)
                .create_new(true)
                .open(&partial_path)
                .map(|f| (f, Undo::RemoveFile(partial_path.clone())))
        })
        .map_err(|source| OutputError::Io {
            path: partial_path.clone(),
            source,
        })?;
        Ok(AtomicFile::new(
            final_path,
            partial_path,
            false,
            file,
            Some(guard),
        ))
    }

    fn new(
        final_path: &Path,
        partial_path: PathBuf,
        in_place: bool,
        file: File,
        guard: Option<interrupt::Guard>,
    ) -> AtomicFile {
        AtomicFile {
            final_path: final_path.to_path_buf(),
            partial_path,
            in_place,
            out: Some(BufWriter::with_capacity(1 << 20, file)),
            guard,
            hasher: Some(Sha256::new()),
            bytes: 0,
            patched: false,
        }
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

    /// Overwrite `bytes` at `at` (within what was written). A device or pipe written in place
    /// cannot: `false`.
    pub fn patch(&mut self, at: u64, bytes: &[u8]) -> Result<bool, OutputError> {
        use std::os::unix::fs::FileExt;
        if self.in_place {
            return Ok(false);
        }
        assert!(
            at + bytes.len() as u64 <= self.bytes,
            "patch beyond the end"
        );
        let out = self.out.as_mut().expect("patched after seal");
        let res = out
            .flush()
            .and_then(|_| out.get_ref().write_all_at(bytes, at));
        res.map_err(|e| self.io_err(e))?;
        self.patched = true;
        Ok(true)
    }

    /// The SHA-256 of the file as it is on disk (after a patch).
    fn rehash(file: &mut File, path: &Path) -> Result<Sha256, OutputError> {
        use std::io::{Read, Seek, SeekFrom};
        let err = |source| OutputError::Io {
            path: path.to_path_buf(),
            source,
        };
        file.seek(SeekFrom::Start(0)).map_err(err)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = file.read(&mut buf).map_err(err)?;
            if n == 0 {
                return Ok(hasher);
            }
            hasher.update(&buf[..n]);
        }
    }

    /// Flush, fsync and rename to the final name.
    pub fn commit(self) -> Result<ArtifactInfo, OutputError> {
        self.seal()?.publish()
    }

    /// Flush and fsync, but keep the partial name: the caller publishes all artifacts of a pass
    /// together once every one of them is complete.
    pub fn seal(mut self) -> Result<SealedFile, OutputError> {
        let out = self.out.take().expect("sealed twice");
        let mut file = out.into_inner().map_err(|e| OutputError::Io {
            path: self.partial_path.clone(),
            source: e.into_error(),
        })?;
        if self.patched && self.hasher.is_some() {
            match AtomicFile::rehash(&mut file, &self.partial_path) {
                Ok(h) => self.hasher = Some(h),
                Err(e) => {
                    let _ = std::fs::remove_file(&self.partial_path);
                    return Err(e);
                }
            }
        }
        if !self.in_place {
            if let Err(e) = file.sync_all() {
                let _ = std::fs::remove_file(&self.partial_path);
                return Err(self.io_err(e));
            }
        }
        let hasher = self.hasher.take();
        let rename = Rename {
            final_path: self.final_path.clone(),
            // In place, there is nothing to rename (and nothing to remove if unpublished).
            partial_path: (!self.in_place).then(|| self.partial_path.clone()),
            _guard: self.guard.take(),
        };
        Ok(SealedFile::new(
            ArtifactInfo {
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
            rename,
        ))
    }
}

/// A complete artifact not yet visible under its final name (a partial file, an uncompleted
/// multipart upload). Dropped unpublished, it is removed.
pub struct SealedFile {
    pub info: ArtifactInfo,
    publisher: Box<dyn Publish>,
}

impl std::fmt::Debug for SealedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedFile")
            .field("info", &self.info)
            .finish()
    }
}

impl SealedFile {
    pub fn new(info: ArtifactInfo, publisher: impl Publish + 'static) -> SealedFile {
        SealedFile {
            info,
            publisher: Box::new(publisher),
        }
    }

    pub fn publish(mut self) -> Result<ArtifactInfo, OutputError> {
        self.publisher.publish()?;
        Ok(self.info.clone())
    }
}

/// Publishing a local partial file: rename it.
struct Rename {
    final_path: PathBuf,
    partial_path: Option<PathBuf>,
    /// Dropped (unregistered) once the partial file is renamed or removed.
    _guard: Option<interrupt::Guard>,
}

impl Publish for Rename {
    fn publish(&mut self) -> Result<(), OutputError> {
        let Some(partial) = self.partial_path.take() else {
            return Ok(());
        };
        std::fs::rename(&partial, &self.final_path).map_err(|source| {
            let _ = std::fs::remove_file(&partial);
            OutputError::Io {
                path: partial.clone(),
                source,
            }
        })
    }
}

impl Drop for Rename {
    fn drop(&mut self) {
        if let Some(p) = self.partial_path.take() {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// `DIR/FILE.PID-N.partial`: the process id and a counter make the name this run's own.
fn partial_name(final_path: &Path) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut partial = final_path.as_os_str().to_owned();
    partial.push(format!(
        ".{}-{}.partial",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    PathBuf::from(partial)
}

/// Whether a file name is a partial artifact (never listed as part of a set).
pub fn is_partial_name(name: &str) -> bool {
    name.ends_with(".partial")
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.write_all(buf).map_err(OutputError::into_io)?;
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl OutputTarget for AtomicFile {
    fn write_bytes(&mut self, bytes: &[u8]) -> Result<(), OutputError> {
        self.write_all(bytes)
    }
    fn seal_target(self: Box<Self>) -> Result<SealedFile, OutputError> {
        (*self).seal()
    }
    fn patch(&mut self, at: u64, bytes: &[u8]) -> Result<bool, OutputError> {
        AtomicFile::patch(self, at, bytes)
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

    #[test]
    fn a_patched_file_is_checksummed_as_it_is_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.dump");
        let mut f = AtomicFile::create(&path).unwrap();
        f.write_all(b"header-TOC-data").unwrap();
        assert!(f.patch(7, b"toc").unwrap());
        f.write_all(b"-more").unwrap();
        let info = f.commit().unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"header-toc-data-more");
        assert_eq!(info.bytes, 20);
        assert_eq!(
            info.sha256,
            hex::encode(Sha256::digest(b"header-toc-data-more"))
        );
    }
}
