//! Writing data blocks: each table's rows compressed and framed as chunks ([`ChunkWriter`],
//! [`Encoder`]) into a [`BlockOut`], which is either the spool (the file where the blocks wait
//! until `finish` knows the TOC and copies them after it) or, when the TOC was written first
//! from a pre-scan, the archive's output itself.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::format::{put_int, INT_LEN};
use crate::sink::deflate::FramedPieces;
use crate::sink::{ArtifactOutput, DataBatch, OutputError, SinkError};

/// Largest chunk written into a data block (what pg_dump uses).
const CHUNK: usize = 4096;

/// Where a data block's bytes go: the spool file, or the archive's output (streamed).
pub(super) enum BlockOut {
    Spool(BufWriter<File>),
    Output(ArtifactOutput),
}

impl Write for BlockOut {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            BlockOut::Spool(w) => w.write(buf),
            BlockOut::Output(o) => o.write(buf),
        }
    }
    fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            BlockOut::Spool(w) => w.write_all(buf),
            BlockOut::Output(o) => Write::write_all(o, buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Writes the framed chunks of one data block: full chunks of `CHUNK` bytes, as pg_dump writes
/// them, whatever the sizes of the writes.
pub(super) struct ChunkWriter {
    out: BlockOut,
    buf: Vec<u8>,
    written: u64,
}

impl ChunkWriter {
    pub(super) fn new(out: BlockOut) -> ChunkWriter {
        ChunkWriter {
            out,
            buf: Vec::with_capacity(CHUNK),
            written: 0,
        }
    }

    fn emit(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let mut head = Vec::with_capacity(INT_LEN);
        put_int(&mut head, self.buf.len() as i32);
        self.out.write_all(&head)?;
        self.out.write_all(&self.buf)?;
        self.written += (INT_LEN + self.buf.len()) as u64;
        self.buf.clear();
        Ok(())
    }

    /// Write the last partial chunk and the zero-length end marker; returns the writer and the
    /// block's length.
    pub(super) fn finish(mut self) -> std::io::Result<(BlockOut, u64)> {
        self.emit()?;
        let mut end = Vec::new();
        put_int(&mut end, 0);
        self.out.write_all(&end)?;
        Ok((self.out, self.written + end.len() as u64))
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, mut data: &[u8]) -> std::io::Result<usize> {
        let n = data.len();
        while !data.is_empty() {
            let take = (CHUNK - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.buf.len() == CHUNK {
                self.emit()?;
            }
        }
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub(super) enum Encoder {
    /// One zlib stream per table, made of the engine's deflate pieces.
    Zlib(FramedPieces<ChunkWriter>),
    Raw(ChunkWriter),
}

impl Encoder {
    pub(super) fn batch(&mut self, batch: &DataBatch) -> std::io::Result<()> {
        match self {
            Encoder::Zlib(z) => z.batch(&batch.bytes, &batch.pieces),
            Encoder::Raw(w) => w.write_all(&batch.bytes),
        }
    }
    pub(super) fn text(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Encoder::Zlib(z) => z.text(bytes),
            Encoder::Raw(w) => w.write_all(bytes),
        }
    }
    pub(super) fn finish(self) -> std::io::Result<ChunkWriter> {
        match self {
            Encoder::Zlib(z) => z.finish(),
            Encoder::Raw(w) => Ok(w),
        }
    }
}

/// The spool file; removed on drop.
pub(super) struct Spool {
    pub(super) path: PathBuf,
    /// The writer, except while a data block's encoder holds it.
    pub(super) file: Option<BufWriter<File>>,
    /// Bytes written so far.
    pub(super) len: u64,
    _guard: crate::interrupt::Guard,
}

impl Spool {
    pub(super) fn create(dir: &Path) -> Result<Spool, SinkError> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = dir.join(format!(
            ".pgveil-archive-{}-{}-{}.spool",
            std::process::id(),
            nanos,
            COUNTER.fetch_add(1, Ordering::Relaxed)
        ));
        // Registered with the interrupt cleanup, which removes the spool on SIGINT/SIGTERM.
        let (file, guard) = crate::interrupt::guard(|| {
            OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .open(&path)
                .map(|f| (f, crate::interrupt::Undo::RemoveFile(path.clone())))
        })
        .map_err(|source| io_err(&path, source))?;
        Ok(Spool {
            path,
            file: Some(BufWriter::with_capacity(1 << 20, file)),
            len: 0,
            _guard: guard,
        })
    }
}

impl Drop for Spool {
    fn drop(&mut self) {
        self.file.take();
        let _ = std::fs::remove_file(&self.path);
    }
}

pub(super) fn io_err(path: &Path, source: std::io::Error) -> SinkError {
    SinkError::Output(OutputError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// An error of a block written to the archive's output: the output's own error when it carried
/// one (an S3 upload), else the local I/O error on `path`.
pub(super) fn output_err(path: &Path, e: std::io::Error) -> SinkError {
    if e.get_ref().is_some_and(|inner| inner.is::<OutputError>()) {
        if let Ok(inner) = e.into_inner().expect("checked").downcast::<OutputError>() {
            return SinkError::Output(*inner);
        }
        unreachable!("checked to be an OutputError");
    }
    io_err(path, e)
}
