//! The plain-format sinks: `NAME.gz` (the dump as read, made portable like `pg_dump --no-owner
//! --no-acl`), `NAME.anon.gz` (the same with masked rows: the engine feeds it the masked view), and the
//! `anonymize` filter's output (stdout or a file, gzip'ed when the name ends in `.gz`).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::deflate::FramedPieces;
use super::output::{ArtifactOutput, AtomicFile, OutputError, SealedFile};
use super::{DataBatch, Sink, SinkError};
use crate::dump::{Entry, Preamble};

// One per sink: the size difference between variants does not matter.
#[allow(clippy::large_enum_variant)]
enum Target {
    /// Gzip made of deflate pieces: COPY data arrives already compressed by the engine.
    Gzip(FramedPieces<ArtifactOutput>),
    File(ArtifactOutput),
    /// Standard output's file descriptor itself: Rust's `Stdout` is line-buffered (every write
    /// is searched for its last newline, then copied), while batches of rows are written whole.
    Stdout(BufWriter<File>),
}

pub struct PlainSink {
    target: Target,
    /// Drop owners and ACLs (the `--no-owner --no-acl` form).
    portable: bool,
    scratch: Vec<u8>,
}

fn stdout_err(e: std::io::Error) -> SinkError {
    SinkError::Output(OutputError::Io {
        path: "stdout".into(),
        source: e,
    })
}

impl PlainSink {
    /// A gzip'ed artifact file at `path` (published by the engine after the pass).
    pub fn gzip_file(path: &Path, level: u32, portable: bool) -> Result<PlainSink, SinkError> {
        PlainSink::gzip(ArtifactOutput::file(path)?, level, portable)
    }

    /// A gzip'ed artifact written to any output (a local file, an S3 upload, both).
    pub fn gzip(out: ArtifactOutput, level: u32, portable: bool) -> Result<PlainSink, SinkError> {
        let gzip = FramedPieces::gzip(out, level.min(9)).map_err(|e| io_to_sink(e, "gzip"))?;
        Ok(PlainSink {
            target: Target::Gzip(gzip),
            portable,
            scratch: Vec::new(),
        })
    }

    /// An uncompressed file, without a checksum (a filter's output, not a backup artifact).
    pub fn file(path: &Path, portable: bool) -> Result<PlainSink, SinkError> {
        Ok(PlainSink {
            target: Target::File(ArtifactOutput::new(
                AtomicFile::create(path)?.without_checksum(),
            )),
            portable,
            scratch: Vec::new(),
        })
    }

    pub fn stdout(portable: bool) -> Result<PlainSink, SinkError> {
        use std::os::fd::AsFd;
        let fd = std::io::stdout()
            .as_fd()
            .try_clone_to_owned()
            .map_err(stdout_err)?;
        Ok(PlainSink {
            // Writes of a batch (about 1 MiB) or more go straight to the descriptor.
            target: Target::Stdout(BufWriter::with_capacity(256 << 10, File::from(fd))),
            portable,
            scratch: Vec::new(),
        })
    }

    fn write(&mut self, bytes: &[u8]) -> Result<(), SinkError> {
        match &mut self.target {
            Target::Gzip(g) => g.text(bytes).map_err(|e| io_to_sink(e, "gzip")),
            Target::File(f) => Ok(f.write_all(bytes)?),
            Target::Stdout(s) => s.write_all(bytes).map_err(stdout_err),
        }
    }

    fn write_entry(&mut self, entry: &Entry) -> Result<(), SinkError> {
        if self.portable {
            let mut scratch = std::mem::take(&mut self.scratch);
            scratch.clear();
            entry.write_portable(&mut scratch);
            let res = self.write(&scratch);
            self.scratch = scratch;
            res
        } else {
            self.write(&entry.text)
        }
    }
}

fn io_to_sink(e: std::io::Error, what: &str) -> SinkError {
    SinkError::Output(OutputError::Io {
        path: what.into(),
        source: e,
    })
}

impl Sink for PlainSink {
    fn deflate_level(&self) -> Option<u32> {
        match &self.target {
            Target::Gzip(g) => Some(g.level()),
            _ => None,
        }
    }
    fn preamble(&mut self, preamble: &Preamble) -> Result<(), SinkError> {
        self.write(&preamble.text)
    }
    fn entry(&mut self, entry: &Entry) -> Result<(), SinkError> {
        self.write_entry(entry)
    }
    fn data_begin(&mut self, entry: &Entry) -> Result<(), SinkError> {
        self.write_entry(entry)
    }
    fn data(&mut self, batch: &DataBatch) -> Result<(), SinkError> {
        match &mut self.target {
            Target::Gzip(g) => g
                .batch(&batch.bytes, &batch.pieces)
                .map_err(|e| io_to_sink(e, "gzip")),
            _ => self.write(&batch.bytes),
        }
    }
    fn data_end(&mut self, tail: &[u8]) -> Result<(), SinkError> {
        self.write(tail)
    }
    fn trailer(&mut self, trailer: &[u8]) -> Result<(), SinkError> {
        self.write(trailer)
    }
    fn finish(self: Box<Self>) -> Result<Option<SealedFile>, SinkError> {
        match self.target {
            Target::Gzip(g) => {
                let file = g.finish().map_err(|e| io_to_sink(e, "gzip"))?;
                Ok(Some(file.seal()?))
            }
            Target::File(f) => Ok(Some(f.seal()?)),
            Target::Stdout(mut s) => {
                s.flush().map_err(stdout_err)?;
                Ok(None)
            }
        }
    }
}
