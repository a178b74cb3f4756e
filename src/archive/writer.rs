//! The archive writer: [`ArchiveSink`], the [`Sink`] that turns the events of one pass over a plain
//! dump into a custom-format archive (`pg_dump -Fc`, archive version 1.14).
//!
//! The plain stream shows post-data entries after the data, but the archive's TOC precedes the
//! data. So TOC entries are kept in memory (DDL only, built by `from_plain`) while each table's
//! COPY rows are compressed as they arrive into one zlib stream per table, framed as data-block
//! chunks in the spool file. `finish` runs the `layout` steps: numbering, dependencies, then
//! header, TOC with real data offsets and the spooled blocks. Large objects (the BLOBS data part)
//! are rebuilt from their SQL in `blobs`.

use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::blobs;
use super::from_plain::{self, Pending};
use super::layout;
use super::spool::{io_err, ChunkWriter, Encoder, Spool};
use super::toc::{Kind, Section};
use crate::dump::{Entry, Preamble};
use crate::sink::deflate::{FramedPieces, ZLIB_DEFAULT_LEVEL};
use crate::sink::{ArtifactOutput, DataBatch, SealedFile, Sink, SinkError};

#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// Database name recorded in the header (and of the DATABASE entry when synthesized).
    pub dbname: String,
    /// `-1` zlib default, `0` none, `1..=9` zlib level.
    pub compression: i32,
    /// Where the spool file with the compressed table data lives until `finish`.
    pub spool_dir: PathBuf,
    /// Entries about the database itself (`Entry::is_about_database`) that the input lacks, from a
    /// `pg_dump --create --schema-only` of the same snapshot: added first, as pg_dump -Fc does. Without
    /// them (a file input) a DATABASE entry with the encoding only is synthesized.
    pub database_entries: Vec<Entry>,
}

/// The custom-format archive of one pass (see the module doc).
pub struct ArchiveSink {
    /// Where the archive goes at `finish` (created up front so a bad target fails early).
    out: Option<ArtifactOutput>,
    options: ArchiveOptions,
    preamble: Option<Preamble>,
    entries: Vec<Pending>,
    post_data_seen: bool,
    spool: Spool,
    /// The data block being written, its entry index and its start in the spool.
    current: Option<(usize, Block, u64)>,
}

/// A data block in progress.
enum Block {
    Table(Encoder),
    Blobs(blobs::BlobsBlock),
}

impl ArchiveSink {
    /// An archive file at `final_path` (published by the engine after the pass).
    pub fn create(final_path: &Path, options: ArchiveOptions) -> Result<ArchiveSink, SinkError> {
        let out = ArtifactOutput::file(final_path)?;
        ArchiveSink::with_output(out, options)
    }

    /// An archive written to any output (a local file, an S3 upload, both). The table data is
    /// spooled in `options.spool_dir` meanwhile, because the TOC with offsets precedes it.
    pub fn with_output(
        out: ArtifactOutput,
        options: ArchiveOptions,
    ) -> Result<ArchiveSink, SinkError> {
        if !(-1..=9).contains(&options.compression) {
            return Err(SinkError::Invalid(format!(
                "invalid archive compression level {} (use -1 for the default, 0 for none, or 1-9)",
                options.compression
            )));
        }
        let spool = Spool::create(&options.spool_dir)?;
        Ok(ArchiveSink {
            out: Some(out),
            options,
            preamble: None,
            entries: Vec::new(),
            post_data_seen: false,
            spool,
            current: None,
        })
    }

    fn add_entry(&mut self, entry: &Entry, data: bool) -> Result<usize, SinkError> {
        let pending = from_plain::build(entry, data, self.post_data_seen, &self.entries)?;
        if pending.toc.section == Section::PostData {
            self.post_data_seen = true;
        }
        self.entries.push(pending);
        Ok(self.entries.len() - 1)
    }

    fn spool_err(&self, e: std::io::Error) -> SinkError {
        io_err(&self.spool.path, e)
    }

    fn blobs_err(&self, e: blobs::BlobsError) -> SinkError {
        match e {
            blobs::BlobsError::Io(e) => self.spool_err(e),
            e => SinkError::Invalid(e.to_string()),
        }
    }
}

impl Sink for ArchiveSink {
    fn deflate_level(&self) -> Option<u32> {
        match self.options.compression {
            0 => None,
            -1 => Some(ZLIB_DEFAULT_LEVEL),
            level => Some(level as u32),
        }
    }

    fn preamble(&mut self, preamble: &Preamble) -> Result<(), SinkError> {
        self.preamble = Some(preamble.clone());
        // pg_dump's own database entries come first in its archives, before every object.
        for entry in std::mem::take(&mut self.options.database_entries) {
            self.add_entry(&entry, false)?;
        }
        Ok(())
    }

    fn entry(&mut self, entry: &Entry) -> Result<(), SinkError> {
        self.add_entry(entry, false).map(|_| ())
    }

    fn data_begin(&mut self, entry: &Entry) -> Result<(), SinkError> {
        if self.current.is_some() {
            return Err(SinkError::Invalid(
                "data part started inside another".into(),
            ));
        }
        if let Some(copy) = &entry.copy {
            from_plain::place_copy(entry, copy)?;
        }
        let idx = self.add_entry(entry, true)?;
        let out = self.spool.file.take().expect("spool in use");
        let block = if entry.copy.is_none() {
            Block::Blobs(blobs::BlobsBlock::new(out, self.deflate_level()))
        } else {
            let writer = ChunkWriter::new(out);
            Block::Table(match self.deflate_level() {
                None => Encoder::Raw(writer),
                Some(level) => {
                    Encoder::Zlib(FramedPieces::zlib(writer, level).map_err(|e| self.spool_err(e))?)
                }
            })
        };
        self.current = Some((idx, block, self.spool.len));
        Ok(())
    }

    fn data(&mut self, batch: &DataBatch) -> Result<(), SinkError> {
        let res = match &mut self.current {
            Some((_, Block::Table(enc), _)) => enc.batch(batch),
            Some((_, Block::Blobs(b), _)) => {
                return b.line(&batch.bytes).map_err(|e| self.blobs_err(e))
            }
            None => return Err(SinkError::Invalid("data outside a data part".into())),
        };
        res.map_err(|e| self.spool_err(e))
    }

    fn data_end(&mut self, tail: &[u8]) -> Result<(), SinkError> {
        let (idx, block, start) = self
            .current
            .take()
            .ok_or_else(|| SinkError::Invalid("data end outside a data part".into()))?;
        let (out, written) = match block {
            Block::Table(mut enc) => {
                let kept = without_enable_trigger_all(tail);
                let res = (|| {
                    enc.text(&kept)?;
                    enc.finish()?.finish()
                })();
                res.map_err(|e| self.spool_err(e))?
            }
            Block::Blobs(mut b) => {
                // The tail holds the blank lines (and `COMMIT;` when no blank line preceded it).
                let mut res = Ok(());
                for line in tail.split_inclusive(|&c| c == b'\n') {
                    res = res.and_then(|_| b.line(line));
                }
                let (out, written, _) = res
                    .and_then(|_| b.finish())
                    .map_err(|e| self.blobs_err(e))?;
                (out, written)
            }
        };
        self.spool.file = Some(out);
        self.spool.len = start + written;
        self.entries[idx].data = Some((start, written));
        Ok(())
    }

    fn trailer(&mut self, _trailer: &[u8]) -> Result<(), SinkError> {
        Ok(())
    }

    fn finish(mut self: Box<Self>) -> Result<Option<SealedFile>, SinkError> {
        if self.current.is_some() {
            return Err(SinkError::Invalid(
                "the dump ended inside a data part".into(),
            ));
        }
        let Some(preamble) = self.preamble.take() else {
            return Err(SinkError::Invalid("the dump had no preamble".into()));
        };
        let mut specials = from_plain::special_entries(&preamble);
        if !self.entries.iter().any(|e| e.toc.desc == Kind::Database) {
            specials.push(from_plain::synthesized_database(
                &preamble,
                &self.options.dbname,
                &self.entries,
            ));
        }
        layout::assign_dump_ids(&mut specials, &mut self.entries);
        layout::empty_drops_of_attached_indexes(&mut self.entries);
        layout::resolve_dependencies(&specials, &mut self.entries);

        let header =
            layout::header_bytes(&preamble, &self.options.dbname, self.options.compression);
        let toc = layout::toc_with_offsets(header.len() as u64, &specials, &mut self.entries);
        let mut out = self.out.take().expect("finished twice");
        out.write_all(&header)?;
        out.write_all(&toc)?;
        let spool_path = self.spool.path.clone();
        let mut spool = self
            .spool
            .file
            .take()
            .expect("spool present")
            .into_inner()
            .map_err(|e| io_err(&spool_path, e.into_error()))?;
        spool
            .seek(SeekFrom::Start(0))
            .map_err(|e| io_err(&spool_path, e))?;
        layout::copy_blocks(&mut out, spool, &spool_path, &self.entries)?;
        Ok(Some(out.seal()?))
    }
}

/// The data part's tail without `ALTER TABLE … ENABLE TRIGGER ALL;` and its blank line: with
/// `pg_dump --disable-triggers` the archiver prints it after the rows, and pg_restore prints it
/// itself (with the same option), so it is not part of the data. The statement runs to its `;`
/// as the lexer finds it (a quoted table name may hold a newline or a semicolon).
fn without_enable_trigger_all(tail: &[u8]) -> Vec<u8> {
    let mut kept = Vec::with_capacity(tail.len());
    let mut rest = tail;
    let mut skip_blank = false;
    while !rest.is_empty() {
        if rest.starts_with(b"ALTER TABLE ") {
            let end = match crate::sql::lexer::statement_end(rest) {
                Some(e) if rest.get(e) == Some(&b'\n') => e + 1,
                Some(e) => e,
                None => rest.len(),
            };
            let (statement, after) = rest.split_at(end);
            if statement.ends_with(b" ENABLE TRIGGER ALL;\n") {
                skip_blank = true;
            } else {
                kept.extend_from_slice(statement);
            }
            rest = after;
            continue;
        }
        let line_end = memchr::memchr(b'\n', rest).map_or(rest.len(), |p| p + 1);
        let (line, after) = rest.split_at(line_end);
        if !(std::mem::take(&mut skip_blank) && line == b"\n") {
            kept.extend_from_slice(line);
        }
        rest = after;
    }
    kept
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enable_trigger_all_is_left_out_of_the_data() {
        let tail = b"ALTER TABLE public.\"a;\nb\" ENABLE TRIGGER ALL;\n\n\n";
        assert_eq!(without_enable_trigger_all(tail), b"\n");
        let tail = b"\nALTER TABLE public.t ENABLE TRIGGER ALL;\n\nCOMMIT;\n";
        assert_eq!(without_enable_trigger_all(tail), b"\nCOMMIT;\n");
        let tail = b"ALTER TABLE public.t DISABLE TRIGGER ALL;\n";
        assert_eq!(without_enable_trigger_all(tail), tail);
    }
}
