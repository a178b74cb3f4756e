//! An open stream of plain-dump bytes: a file, stdin, either possibly gzip'ed (detected by its
//! magic bytes), or the output of a spawned client program ([`super::pg_dump`]).
//!
//! A spawned pg_dump is checked when the stream ends: a non-zero exit fails the pass with pg_dump's own
//! message (its secrets scrubbed), so a dump cut short by pg_dump can never be published.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use flate2::read::MultiGzDecoder;

use super::client::{ClientError, Running};
use super::conninfo::ConnInfoError;
use super::pg_dump_args::PgDumpArgsError;

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("opening {path}")]
    Open {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(transparent)]
    ConnInfo(#[from] ConnInfoError),
    #[error(transparent)]
    PgDumpArgs(#[from] PgDumpArgsError),
}

/// An open source of plain-dump bytes.
pub struct Source {
    reader: Box<dyn Read + Send>,
    child: Option<Running>,
    bytes_read: Arc<AtomicU64>,
    description: String,
}

/// Counts the compressed/raw bytes taken from the underlying input (for progress).
struct Counting<R> {
    inner: R,
    count: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl Source {
    /// A file, or stdin when `path` is `-`.
    pub fn open_input(path: &Path) -> Result<Source, SourceError> {
        let (raw, description): (Box<dyn Read + Send>, String) = if path == Path::new("-") {
            (Box::new(io::stdin()), "stdin".into())
        } else {
            let f = File::open(path).map_err(|source| SourceError::Open {
                path: path.to_path_buf(),
                source,
            })?;
            (Box::new(f), path.display().to_string())
        };
        Ok(Source::from_reader(raw, description, None))
    }

    pub(super) fn from_reader(
        raw: Box<dyn Read + Send>,
        description: String,
        child: Option<Running>,
    ) -> Source {
        let bytes_read = Arc::new(AtomicU64::new(0));
        let counting = Counting {
            inner: raw,
            count: bytes_read.clone(),
        };
        let mut buffered = BufReader::with_capacity(1 << 16, counting);
        let is_gzip = buffered
            .fill_buf()
            .map(|b| b.starts_with(&[0x1f, 0x8b]))
            .unwrap_or(false);
        let reader: Box<dyn Read + Send> = if is_gzip {
            Box::new(MultiGzDecoder::new(buffered))
        } else {
            Box::new(buffered)
        };
        Source {
            reader,
            child,
            bytes_read,
            description,
        }
    }

    /// Whether no child program feeds this source (a file, stdin, the direct read).
    pub fn child_less(&self) -> bool {
        self.child.is_none()
    }

    pub fn description(&self) -> &str {
        &self.description
    }

    /// A shared counter of input bytes consumed so far.
    pub fn bytes_read(&self) -> Arc<AtomicU64> {
        self.bytes_read.clone()
    }

    pub fn reader(&mut self) -> &mut (dyn Read + Send) {
        &mut *self.reader
    }

    /// Wait for a spawned pg_dump and check its exit status (no-op for files).
    pub fn finish(self) -> Result<(), SourceError> {
        let Source { reader, child, .. } = self;
        // Closing our end first: a child still writing then ends (SIGPIPE) instead of blocking.
        drop(reader);
        if let Some(mut child) = child {
            child.wait()?;
        }
        Ok(())
    }

    /// Stop a spawned pg_dump (SIGKILL) and reap it: the run was cancelled. No-op for files.
    pub fn stop(self) {
        let Source { reader, child, .. } = self;
        drop(reader);
        if let Some(mut child) = child {
            child.kill();
        }
    }

    /// After a failed read: if pg_dump failed, its error explains more than the truncated stream.
    pub fn child_failure(self) -> Option<SourceError> {
        match self.finish() {
            Err(e @ SourceError::Client(ClientError::Failed { .. })) => Some(e),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_gzip_by_magic() {
        use flate2::write::GzEncoder;
        use std::io::Write;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.sql");
        let mut enc = GzEncoder::new(Vec::new(), flate2::Compression::default());
        enc.write_all(b"hello dump\n").unwrap();
        std::fs::write(&path, enc.finish().unwrap()).unwrap();
        let mut src = Source::open_input(&path).unwrap();
        let mut s = String::new();
        src.reader().read_to_string(&mut s).unwrap();
        assert_eq!(s, "hello dump\n");
        // A truncated gzip stream is an error, not a short read.
        let bytes = std::fs::read(&path).unwrap();
        std::fs::write(&path, &bytes[..bytes.len() - 6]).unwrap();
        let mut src = Source::open_input(&path).unwrap();
        assert!(src.reader().read_to_string(&mut String::new()).is_err());
    }
}
