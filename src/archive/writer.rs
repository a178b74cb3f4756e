//! The archive writer: [`ArchiveSink`], the [`Sink`] that turns the events of one pass over a plain
//! dump into a custom-format archive (`pg_dump -Fc`, archive version 1.14).
//!
//! The plain stream shows post-data entries after the data, but the archive's TOC precedes the
//! data. Two ways to write it:
//! - **streamed**, when the entries are known before the pass ([`Announced`]: a pre-scan of the
//!   input file, or dumps of the same snapshot): the whole TOC is laid out from them when the first
//!   data block begins, written without data offsets (flag "not set", as pg_dump writes to a
//!   pipe), and each block goes straight to the output as the rows arrive. Every entry of the pass
//!   is checked against its announcement (a difference fails the pass: the TOC is already out);
//!   on a local file the offsets are patched in at the end, as pg_dump does on a seekable output,
//!   so the file is byte for byte what the spool would have given.
//! - **spooled** otherwise (a plain dump on stdin): TOC entries are kept in memory while each
//!   table's rows are compressed into one zlib stream per table, framed as data-block chunks in
//!   the spool file; `finish` writes header, TOC with offsets, and copies the spooled blocks.
//!
//! Both build every TOC entry with `from_plain` and lay the archive out with the `layout` steps
//! (numbering, dependencies, header, TOC). Large objects (the BLOBS data part) are rebuilt from
//! their SQL in `blobs`.

use std::io::{Seek, SeekFrom};
use std::path::{Path, PathBuf};

use super::announce::Announced;
use super::blobs;
use super::from_plain::{self, Pending};
use super::layout;
use super::spool::{io_err, output_err, BlockOut, ChunkWriter, Encoder, Spool};
use super::toc::{Kind, Section, TocEntry};
use crate::dump::{Entry, Preamble};
use crate::sink::deflate::{FramedPieces, ZLIB_DEFAULT_LEVEL};
use crate::sink::{ArtifactOutput, DataBatch, SealedFile, Sink, SinkError};

#[derive(Debug, Clone)]
pub struct ArchiveOptions {
    /// Database name recorded in the header (and of the DATABASE entry when synthesized).
    pub dbname: String,
    /// `-1` zlib default, `0` none, `1..=9` zlib level.
    pub compression: i32,
    /// Where the spool file with the compressed table data lives until `finish` (not used, and
    /// nothing written there, when `announced` is given).
    pub spool_dir: PathBuf,
    /// Entries about the database itself (`Entry::is_about_database`) that the input lacks, from a
    /// `pg_dump --create --schema-only` of the same snapshot: added first, as pg_dump -Fc does. Without
    /// them (a file input) a DATABASE entry with the encoding only is synthesized.
    pub database_entries: Vec<Entry>,
    /// The entries the pass will show, known before it: the archive is then streamed (see the
    /// module doc) and needs no spool.
    pub announced: Option<Announced>,
}

/// The custom-format archive of one pass (see the module doc).
pub struct ArchiveSink {
    /// Where the archive goes (created up front so a bad target fails early). While a data block
    /// is streamed, its writer holds it.
    out: Option<ArtifactOutput>,
    options: ArchiveOptions,
    preamble: Option<Preamble>,
    /// The entries of the pass so far.
    entries: Vec<Pending>,
    post_data_seen: bool,
    mode: Mode,
    /// The data block being written, its entry index and its start (in the spool, or in the
    /// archive when streamed).
    current: Option<(usize, Block, u64)>,
}

enum Mode {
    Spool(Spool),
    Stream(Stream),
}

/// The state of a streamed archive.
struct Stream {
    /// The entries announced, built as the pass's own are (compared one by one).
    announced: Vec<Pending>,
    source: String,
    /// Set once header and TOC are written.
    laid_out: Option<LaidOut>,
}

/// An archive whose header and TOC are written: the entries as laid out (numbered, with their
/// dependencies), and the bytes written so far.
struct LaidOut {
    specials: Vec<TocEntry>,
    entries: Vec<Pending>,
    header_len: u64,
    written: u64,
}

/// A data block in progress.
enum Block {
    Table(Encoder),
    Blobs(blobs::BlobsBlock),
}

/// Where a streamed archive's output errors are reported (the output carries its own name).
const OUTPUT: &str = "the archive output";

impl ArchiveSink {
    /// An archive file at `final_path` (published by the engine after the pass).
    pub fn create(final_path: &Path, options: ArchiveOptions) -> Result<ArchiveSink, SinkError> {
        let out = ArtifactOutput::file(final_path)?;
        ArchiveSink::with_output(out, options)
    }

    /// An archive written to any output (a local file, an S3 upload, both). Without announced
    /// entries the table data is spooled in `options.spool_dir` meanwhile, because the TOC
    /// precedes it.
    pub fn with_output(
        out: ArtifactOutput,
        mut options: ArchiveOptions,
    ) -> Result<ArchiveSink, SinkError> {
        if !(-1..=9).contains(&options.compression) {
            return Err(SinkError::Invalid(format!(
                "invalid archive compression level {} (use -1 for the default, 0 for none, or 1-9)",
                options.compression
            )));
        }
        let mode = match options.announced.take() {
            Some(announced) => Mode::Stream(Stream::new(&options.database_entries, announced)?),
            None => Mode::Spool(Spool::create(&options.spool_dir)?),
        };
        Ok(ArchiveSink {
            out: Some(out),
            options,
            preamble: None,
            entries: Vec::new(),
            post_data_seen: false,
            mode,
            current: None,
        })
    }

    fn add_entry(&mut self, entry: &Entry, data: bool) -> Result<usize, SinkError> {
        let pending = from_plain::build(entry, data, self.post_data_seen, &self.entries)?;
        if pending.toc.section == Section::PostData {
            self.post_data_seen = true;
        }
        if let Mode::Stream(stream) = &self.mode {
            stream.check(self.entries.len(), &pending, entry.line)?;
        }
        self.entries.push(pending);
        Ok(self.entries.len() - 1)
    }

    fn block_err(&self, e: std::io::Error) -> SinkError {
        match &self.mode {
            Mode::Spool(spool) => io_err(&spool.path, e),
            Mode::Stream(_) => output_err(Path::new(OUTPUT), e),
        }
    }

    fn blobs_err(&self, e: blobs::BlobsError) -> SinkError {
        match e {
            blobs::BlobsError::Io(e) => self.block_err(e),
            e => SinkError::Invalid(e.to_string()),
        }
    }

    /// Where the next data block goes, and where it starts: the spool, or (streamed) the
    /// archive's output right after its block header, the header and TOC being written first.
    fn block_out(&mut self, idx: usize) -> Result<(BlockOut, u64), SinkError> {
        match &mut self.mode {
            Mode::Spool(spool) => Ok((
                BlockOut::Spool(spool.file.take().expect("spool in use")),
                spool.len,
            )),
            Mode::Stream(stream) => {
                if stream.laid_out.is_none() {
                    let preamble = self.preamble.as_ref().ok_or_else(|| {
                        SinkError::Invalid("data before the dump's preamble".into())
                    })?;
                    let out = self.out.as_mut().expect("output present between blocks");
                    stream.lay_out(out, preamble, &self.options)?;
                }
                let laid = stream.laid_out.as_mut().expect("laid out");
                let mut head = vec![laid.entries[idx].block_type];
                super::format::put_int(&mut head, laid.entries[idx].toc.dump_id);
                let mut out = self.out.take().expect("output present between blocks");
                out.write_all(&head)?;
                laid.written += head.len() as u64;
                Ok((BlockOut::Output(out), laid.written))
            }
        }
    }

    /// A data block ended: its writer goes back, and the block is recorded.
    fn block_done(&mut self, idx: usize, out: BlockOut, start: u64, len: u64) {
        match (&mut self.mode, out) {
            (Mode::Spool(spool), BlockOut::Spool(file)) => {
                spool.file = Some(file);
                spool.len = start + len;
                self.entries[idx].data = Some((start, len));
            }
            (Mode::Stream(stream), BlockOut::Output(out)) => {
                self.out = Some(out);
                let laid = stream.laid_out.as_mut().expect("laid out");
                laid.written = start + len;
                laid.entries[idx].data = Some((start, len));
                self.entries[idx].data = Some((start, len));
            }
            _ => unreachable!("a block's writer is of its sink's mode"),
        }
    }
}

/// The special entries (and the DATABASE entry when none is among `entries`).
fn specials_of(preamble: &Preamble, dbname: &str, entries: &[Pending]) -> Vec<TocEntry> {
    let mut specials = from_plain::special_entries(preamble);
    if !entries.iter().any(|e| e.toc.desc == Kind::Database) {
        specials.push(from_plain::synthesized_database(preamble, dbname, entries));
    }
    specials
}

/// Number the entries, resolve their dependencies, and encode header and TOC (data offsets as
/// they are in `entries`).
fn lay_out(
    preamble: &Preamble,
    options: &ArchiveOptions,
    specials: &mut [TocEntry],
    entries: &mut [Pending],
) -> Vec<u8> {
    layout::assign_dump_ids(specials, entries);
    layout::empty_drops_of_attached_indexes(entries);
    layout::resolve_dependencies(specials, entries);
    layout::header_bytes(preamble, &options.dbname, options.compression)
}

impl Stream {
    fn new(database_entries: &[Entry], announced: Announced) -> Result<Stream, SinkError> {
        // Built exactly as the pass's entries will be (the database entries first, see `preamble`).
        let mut entries: Vec<Pending> = Vec::new();
        let mut post_data_seen = false;
        let all = database_entries
            .iter()
            .map(|e| (e, false))
            .chain(announced.entries.iter().map(|(e, d)| (e, *d)));
        for (entry, data) in all {
            let pending = from_plain::build(entry, data, post_data_seen, &entries)?;
            post_data_seen |= pending.toc.section == Section::PostData;
            entries.push(pending);
        }
        Ok(Stream {
            announced: entries,
            source: announced.source,
            laid_out: None,
        })
    }

    /// The pass's `idx`-th entry must be the announced one.
    fn check(&self, idx: usize, got: &Pending, line: u64) -> Result<(), SinkError> {
        match self.announced.get(idx) {
            Some(want) if want == got => Ok(()),
            Some(want) => Err(SinkError::Invalid(format!(
                "line {line}: the dump differs from {}: it has {} where {} was announced{} (the archive's table of contents was written from it)",
                self.source,
                describe(&got.toc),
                describe(&want.toc),
                differences(want, got),
            ))),
            None => Err(SinkError::Invalid(format!(
                "line {line}: the dump has {}, which {} did not announce (the archive's table of contents was written from it)",
                describe(&got.toc),
                self.source,
            ))),
        }
    }

    /// Write header and TOC, laid out from the announced entries, data offsets not set.
    fn lay_out(
        &mut self,
        out: &mut ArtifactOutput,
        preamble: &Preamble,
        options: &ArchiveOptions,
    ) -> Result<(), SinkError> {
        let mut entries = self.announced.clone();
        let mut specials = specials_of(preamble, &options.dbname, &entries);
        let header = lay_out(preamble, options, &mut specials, &mut entries);
        let toc = layout::encode_toc(&specials, &entries);
        out.write_all(&header)?;
        out.write_all(&toc)?;
        self.laid_out = Some(LaidOut {
            specials,
            entries,
            header_len: header.len() as u64,
            written: (header.len() + toc.len()) as u64,
        });
        Ok(())
    }
}

/// What differs between two entries of the same kind and name (` (its owner, …)`), for messages.
fn differences(a: &Pending, b: &Pending) -> String {
    let (x, y) = (&a.toc, &b.toc);
    if (&x.desc, &x.namespace, &x.tag) != (&y.desc, &y.namespace, &y.tag) {
        return String::new();
    }
    let fields = [
        ("dump id", x.dump_id != y.dump_id),
        (
            "catalog ids",
            (&x.tableoid, &x.oid) != (&y.tableoid, &y.oid),
        ),
        ("data part", x.had_dumper != y.had_dumper),
        ("section", x.section != y.section),
        ("definition", x.defn != y.defn),
        ("drop statement", x.drop_stmt != y.drop_stmt),
        ("COPY statement", x.copy_stmt != y.copy_stmt),
        ("tablespace", x.tablespace != y.tablespace),
        ("access method", x.tableam != y.tableam),
        ("owner", x.owner != y.owner),
        ("dependencies", a.verbose_deps != b.verbose_deps),
        ("references", a.refs != b.refs),
    ];
    let differing: Vec<&str> = fields.iter().filter(|f| f.1).map(|f| f.0).collect();
    match differing.is_empty() {
        true => String::new(),
        false => format!(" (differing: {})", differing.join(", ")),
    }
}

/// `TABLE DATA public.t` for messages.
fn describe(toc: &TocEntry) -> String {
    match &toc.namespace {
        Some(ns) => format!("{} {ns}.{}", toc.desc, toc.tag),
        None => format!("{} {}", toc.desc, toc.tag),
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
        let (out, start) = self.block_out(idx)?;
        let block = if entry.copy.is_none() {
            Block::Blobs(blobs::BlobsBlock::new(out, self.deflate_level()))
        } else {
            let writer = ChunkWriter::new(out);
            Block::Table(match self.deflate_level() {
                None => Encoder::Raw(writer),
                Some(level) => {
                    Encoder::Zlib(FramedPieces::zlib(writer, level).map_err(|e| self.block_err(e))?)
                }
            })
        };
        self.current = Some((idx, block, start));
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
        res.map_err(|e| self.block_err(e))
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
                res.map_err(|e| self.block_err(e))?
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
        self.block_done(idx, out, start, written);
        Ok(())
    }

    fn trailer(&mut self, _trailer: &[u8]) -> Result<(), SinkError> {
        Ok(())
    }

    fn finish(self: Box<Self>) -> Result<Option<SealedFile>, SinkError> {
        let ArchiveSink {
            out,
            options,
            preamble,
            entries,
            mode,
            current,
            ..
        } = *self;
        if current.is_some() {
            return Err(SinkError::Invalid(
                "the dump ended inside a data part".into(),
            ));
        }
        let Some(preamble) = preamble else {
            return Err(SinkError::Invalid("the dump had no preamble".into()));
        };
        let mut out = out.expect("finished twice");
        let stream = match mode {
            Mode::Spool(spool) => return finish_spooled(&preamble, &options, entries, out, spool),
            Mode::Stream(stream) => stream,
        };
        if let Some(missing) = stream.announced.get(entries.len()) {
            return Err(SinkError::Invalid(format!(
                "the dump ended before {}, which {} announced (the archive's table of contents was written from it)",
                describe(&missing.toc),
                stream.source
            )));
        }
        match stream.laid_out {
            Some(mut laid) => {
                // As pg_dump on a seekable output: the TOC again, now with the offsets (a TOC's
                // length does not depend on them). A bucket, a pipe or a tee keeps "not set".
                let toc =
                    layout::toc_with_offsets(laid.header_len, &laid.specials, &mut laid.entries);
                out.patch(laid.header_len, &toc)?;
            }
            // No data part at all: nothing was streamed.
            None => {
                let mut entries = entries;
                let mut specials = specials_of(&preamble, &options.dbname, &entries);
                let header = lay_out(&preamble, &options, &mut specials, &mut entries);
                out.write_all(&header)?;
                out.write_all(&layout::encode_toc(&specials, &entries))?;
            }
        }
        Ok(Some(out.seal()?))
    }
}

/// A spooled archive's end: header, TOC with the data offsets, then the spooled blocks.
fn finish_spooled(
    preamble: &Preamble,
    options: &ArchiveOptions,
    mut entries: Vec<Pending>,
    mut out: ArtifactOutput,
    mut spool: Spool,
) -> Result<Option<SealedFile>, SinkError> {
    let mut specials = specials_of(preamble, &options.dbname, &entries);
    let header = lay_out(preamble, options, &mut specials, &mut entries);
    let toc = layout::toc_with_offsets(header.len() as u64, &specials, &mut entries);
    out.write_all(&header)?;
    out.write_all(&toc)?;
    let spool_path = spool.path.clone();
    let mut file = spool
        .file
        .take()
        .expect("spool present")
        .into_inner()
        .map_err(|e| io_err(&spool_path, e.into_error()))?;
    file.seek(SeekFrom::Start(0))
        .map_err(|e| io_err(&spool_path, e))?;
    layout::copy_blocks(&mut out, file, &spool_path, &entries)?;
    Ok(Some(out.seal()?))
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
