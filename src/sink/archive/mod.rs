//! The custom-format archive writer (`pg_dump -Fc`, archive version 1.14), fed by the events of a
//! plain dump, and an inspector that renders any custom archive like `pg_restore -l`.
//!
//! The plain stream shows post-data entries after the data, but the archive's TOC precedes the
//! data. So TOC entries are kept in memory (DDL only) while each table's COPY rows are compressed
//! as they arrive into one zlib stream per table, framed as data-block chunks in a spool file.
//! `finish` computes the TOC with real data offsets and writes header, TOC and the spooled blocks.
//! Large objects (the BLOBS data part) are rebuilt from their SQL in `blobs`.

mod blobs;
mod format;
mod inspect;
mod toc;

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::deflate::{FramedPieces, ZLIB_DEFAULT_LEVEL};
use super::{ArtifactOutput, DataBatch, OutputError, SealedFile, Sink, SinkError};
use crate::dump::ident::quote_ident;
use crate::dump::{Entry, Preamble};
use format::*;
pub use format::{BLK_DATA, NO_DATA, POS_SET, SECTION_DATA, SECTION_POST_DATA, SECTION_PRE_DATA};
pub use inspect::{
    inspect, read_archive, read_table_data, Archive, ArchiveHeader, BlockInfo, InspectError,
};
pub use toc::TocEntry;
use toc::{dependency_refs, drop_stmt, is_none_section, section_for, split_body, Ref, Resolver};

/// Largest chunk written into a data block (what pg_dump uses).
const CHUNK: usize = 4096;

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

/// An entry waiting for `finish`: its TOC fields and dependency references.
struct Pending {
    toc: TocEntry,
    refs: Vec<Ref>,
    /// Dependencies from `pg_dump -v` headers.
    verbose_deps: Vec<i32>,
    /// The spooled chunks of its data block: (start, length) in the spool file.
    data: Option<(u64, u64)>,
    /// `BLK_DATA` (table data) or `BLK_BLOBS` (large objects).
    block_type: u8,
}

/// Writes the framed chunks of one data block to the spool: full chunks of `CHUNK` bytes, as
/// pg_dump writes them, whatever the sizes of the writes.
struct ChunkWriter {
    out: BufWriter<File>,
    buf: Vec<u8>,
    written: u64,
}

impl ChunkWriter {
    fn new(out: BufWriter<File>) -> ChunkWriter {
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

    /// Write the last partial chunk and the zero-length end marker; returns the spool writer and
    /// the block's length.
    fn finish(mut self) -> std::io::Result<(BufWriter<File>, u64)> {
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

enum Encoder {
    /// One zlib stream per table, made of the engine's deflate pieces.
    Zlib(FramedPieces<ChunkWriter>),
    Raw(ChunkWriter),
}

impl Encoder {
    fn batch(&mut self, batch: &DataBatch) -> std::io::Result<()> {
        match self {
            Encoder::Zlib(z) => z.batch(&batch.bytes, &batch.pieces),
            Encoder::Raw(w) => w.write_all(&batch.bytes),
        }
    }
    fn text(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Encoder::Zlib(z) => z.text(bytes),
            Encoder::Raw(w) => w.write_all(bytes),
        }
    }
    fn finish(self) -> std::io::Result<ChunkWriter> {
        match self {
            Encoder::Zlib(z) => z.finish(),
            Encoder::Raw(w) => Ok(w),
        }
    }
}

/// The spool file; removed on drop.
struct Spool {
    path: PathBuf,
    file: Option<BufWriter<File>>,
    len: u64,
    _guard: crate::interrupt::Guard,
}

impl Spool {
    fn create(dir: &Path) -> Result<Spool, SinkError> {
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

/// pg_dump writes names in its comment headers with newlines turned into spaces; pg_restore names
/// objects by the TOC tag, which must be the real name. For tables, views and sequences, and their
/// data, the statement gives it back.
fn real_tag(entry: &Entry) -> Option<String> {
    let h = &entry.header;
    if !h.tag.contains(' ') {
        return None;
    }
    let real = match h.desc.as_str() {
        "TABLE DATA" => entry.copy.as_ref().map(|c| c.table.clone()),
        "TABLE" | "VIEW" | "MATERIALIZED VIEW" | "FOREIGN TABLE" | "SEQUENCE" => {
            let defn = std::str::from_utf8(entry.body()).ok()?;
            let rest = [
                "CREATE TABLE ",
                "CREATE UNLOGGED TABLE ",
                "CREATE VIEW ",
                "CREATE MATERIALIZED VIEW ",
                "CREATE FOREIGN TABLE ",
                "CREATE SEQUENCE ",
            ]
            .iter()
            .find_map(|p| defn.strip_prefix(p))?;
            crate::dump::ident::parse_qualified(rest).map(|(_, name, _)| name)
        }
        _ => None,
    }?;
    (real != h.tag && real.replace('\n', " ") == h.tag).then_some(real)
}

/// A COPY block goes into the archive only as the data of its own TABLE DATA entry for the same
/// table: pg_restore restores a data entry by its COPY statement, and a COPY the archive cannot
/// place (outside such an entry, or naming another table) must stop the pass, never be dropped.
fn place_copy(entry: &Entry, copy: &crate::dump::CopyStmt) -> Result<(), SinkError> {
    let h = &entry.header;
    if entry.stray {
        return Err(SinkError::Invalid(format!(
            "line {}: COPY of {} is not the data of a TABLE DATA entry of its own; the custom archive has no entry to place it in",
            entry.line,
            copy.display_name()
        )));
    }
    // With `pg_dump --load-via-partition-root` a partition's rows go into the root table the
    // entry's comment names.
    let root = entry
        .data_comment
        .as_deref()
        .and_then(|c| c.strip_prefix("-- load via partition root "))
        .and_then(crate::dump::ident::parse_qualified)
        .filter(|(_, _, rest)| rest.trim().is_empty());
    let placed = match root {
        Some((schema, table, _)) => copy.schema == schema && copy.table == table,
        None => copy.schema == h.namespace && copy.table.replace('\n', " ") == h.tag,
    };
    if !placed {
        return Err(SinkError::Invalid(format!(
            "line {}: the TABLE DATA entry of {}.{} holds a COPY of {}; the custom archive cannot place it",
            entry.line,
            h.namespace.as_deref().unwrap_or("-"),
            h.tag,
            copy.display_name()
        )));
    }
    Ok(())
}

fn io_err(path: &Path, source: std::io::Error) -> SinkError {
    SinkError::Output(OutputError::Io {
        path: path.to_path_buf(),
        source,
    })
}

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
        let h = &entry.header;
        let desc = h.desc.as_str();
        let tag = real_tag(entry).unwrap_or_else(|| h.tag.clone());
        let blobs = desc == "BLOBS";
        if data && entry.copy.is_none() && !blobs {
            return Err(SinkError::Unsupported(format!(
                "a {desc} entry with a data part other than COPY is not supported in the custom archive"
            )));
        }
        let section = section_for(desc, self.post_data_seen);
        if section == SECTION_POST_DATA {
            self.post_data_seen = true;
        }
        let (tableoid, oid) = match h.catalog_id {
            Some((c, o)) => (c.to_string(), o.to_string()),
            // pg_database's OID: pg_dump always records it for the DATABASE entry.
            None if desc == "DATABASE" => ("1262".to_string(), "0".to_string()),
            None => ("0".to_string(), "0".to_string()),
        };
        let (defn, owner_stmt, copy_stmt) = if blobs {
            (None, None, None)
        } else if data {
            let copy = String::from_utf8_lossy(entry.body()).into_owned();
            // pg_dump keeps `-- load via partition root …` as the data entry's definition.
            let defn = entry.data_comment.clone().map(String::into_bytes);
            (defn, None, Some(copy))
        } else {
            let (defn, owner_stmt) = split_body(entry);
            (Some(defn), owner_stmt, None)
        };
        let defn_text = defn
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        let drop = if data {
            None
        } else if desc == "RULE" && defn_text.starts_with("CREATE OR REPLACE VIEW ") {
            // A view that loops through a function: pg_dump created it as a placeholder
            // (`SELECT NULL::type AS col`) and defines it here. Undoing this entry puts the
            // placeholder back, so that what the view depends on can then be dropped.
            let view = tag.strip_suffix(" _RETURN").unwrap_or(&tag);
            self.entries
                .iter()
                .rev()
                .find(|e| {
                    e.toc.desc == "VIEW" && e.toc.tag == view && e.toc.namespace == h.namespace
                })
                .and_then(|e| e.toc.defn.as_deref())
                .map(String::from_utf8_lossy)
                .and_then(|placeholder| {
                    placeholder
                        .strip_prefix("CREATE VIEW ")
                        .map(|rest| format!("CREATE OR REPLACE VIEW {rest}"))
                })
        } else {
            drop_stmt(
                desc,
                h.owner.as_deref(),
                owner_stmt.as_deref(),
                &defn_text,
                h.namespace.as_deref(),
                &tag,
            )
        };
        let refs = dependency_refs(desc, h.namespace.as_deref(), &tag, &defn_text);
        let tablespace = match desc {
            "TABLE" | "MATERIALIZED VIEW" | "INDEX" | "CONSTRAINT" => entry
                .current_tablespace
                .clone()
                .or_else(|| h.tablespace.clone()),
            _ => h.tablespace.clone(),
        };
        let tableam = match desc {
            // Partitioned tables have no access method.
            "TABLE" if defn_text.contains("\nPARTITION BY ") => None,
            "TABLE" | "MATERIALIZED VIEW" => entry.current_tableam.clone(),
            _ => None,
        };
        let toc = TocEntry {
            dump_id: h.dump_id.unwrap_or(0),
            had_dumper: data,
            tableoid,
            oid,
            tag,
            desc: h.desc.clone(),
            section,
            defn: defn.filter(|d| !d.is_empty()),
            drop_stmt: drop,
            copy_stmt,
            namespace: h.namespace.clone(),
            tablespace,
            tableam,
            owner: h.owner.clone(),
            with_oids: Some("false".into()),
            dependencies: Vec::new(),
            offset: (if data { POS_NOT_SET } else { NO_DATA }, 0),
        };
        self.entries.push(Pending {
            toc,
            refs,
            verbose_deps: h.dependencies.clone(),
            data: None,
            block_type: if blobs { BLK_BLOBS } else { BLK_DATA },
        });
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

    /// The special entries and the DATABASE entry (unless the dump has one).
    fn special_entries(&self) -> Vec<TocEntry> {
        let p = self.preamble.clone().unwrap_or_default();
        let mut out = vec![
            TocEntry::special(
                "ENCODING",
                format!(
                    "SET client_encoding = '{}';\n",
                    p.encoding.as_deref().unwrap_or("UTF8")
                ),
            ),
            TocEntry::special(
                "STDSTRINGS",
                format!(
                    "SET standard_conforming_strings = '{}';\n",
                    p.standard_conforming_strings.as_deref().unwrap_or("on")
                ),
            ),
        ];
        if let Some(sp) = &p.search_path_stmt {
            out.push(TocEntry::special("SEARCHPATH", format!("{sp}\n")));
        }
        if !self.entries.iter().any(|e| e.toc.desc == "DATABASE") {
            let usable = |o: &&String| !o.is_empty() && o.as_str() != "pg_database_owner";
            let owner = self
                .entries
                .iter()
                .find(|e| e.toc.desc == "SCHEMA" && e.toc.tag == "public")
                .and_then(|e| e.toc.owner.as_ref())
                .filter(usable)
                .or_else(|| {
                    self.entries
                        .iter()
                        .filter_map(|e| e.toc.owner.as_ref())
                        .find(usable)
                })
                .cloned();
            let q = quote_ident(&self.options.dbname);
            out.push(TocEntry {
                tableoid: "1262".into(),
                oid: "0".into(),
                tag: self.options.dbname.clone(),
                desc: "DATABASE".into(),
                section: SECTION_PRE_DATA,
                defn: Some(
                    format!(
                        "CREATE DATABASE {q} WITH TEMPLATE = template0 ENCODING = '{}';\n",
                        p.encoding.as_deref().unwrap_or("UTF8")
                    )
                    .into_bytes(),
                ),
                drop_stmt: Some(format!("DROP DATABASE {q};\n")),
                owner,
                with_oids: Some("false".into()),
                offset: (NO_DATA, 0),
                ..TocEntry::default()
            });
        }
        out
    }

    fn header_bytes(&self, compression: i32) -> Vec<u8> {
        let p = self.preamble.clone().unwrap_or_default();
        let mut out = Vec::new();
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[VMAJ, VMIN, VREV, INT_SIZE, OFF_SIZE, FORMAT_CUSTOM]);
        put_int(&mut out, compression);
        let tm = p
            .started_on
            .as_deref()
            .and_then(parse_started_on)
            .unwrap_or_else(now_tm);
        for v in tm {
            put_int(&mut out, v);
        }
        put_str(&mut out, Some(&self.options.dbname));
        put_str(&mut out, Some(p.server_version.as_deref().unwrap_or("")));
        put_str(&mut out, Some(p.pg_dump_version.as_deref().unwrap_or("")));
        out
    }
}

/// `2026-11-22 03:16:48 UTC` → [sec, min, hour, mday, mon (0-based), year - 1900, isdst].
fn parse_started_on(s: &str) -> Option<[i32; 7]> {
    let mut parts = s.split_whitespace();
    let date = parts.next()?;
    let time = parts.next()?;
    let d: Vec<i32> = date
        .split('-')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    let t: Vec<i32> = time
        .split(':')
        .map(|x| x.parse().ok())
        .collect::<Option<_>>()?;
    if d.len() != 3 || t.len() != 3 {
        return None;
    }
    Some([t[2], t[1], t[0], d[2], d[1] - 1, d[0] - 1900, 0])
}

fn now_tm() -> [i32; 7] {
    let now = time::OffsetDateTime::now_utc();
    [
        i32::from(now.second()),
        i32::from(now.minute()),
        i32::from(now.hour()),
        i32::from(now.day()),
        i32::from(u8::from(now.month())) - 1,
        now.year() - 1900,
        0,
    ]
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
            place_copy(entry, copy)?;
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
                // With `pg_dump --disable-triggers` the archiver prints `ALTER TABLE … ENABLE
                // TRIGGER ALL;` after the rows; pg_restore prints it itself (with the same option),
                // so it is not part of the data.
                // (A quoted table name may hold a newline: the statement runs to its `;`.)
                let mut kept = Vec::with_capacity(tail.len());
                let mut skip_blank = false;
                let mut statement: Vec<u8> = Vec::new();
                for line in tail.split_inclusive(|&c| c == b'\n') {
                    if !statement.is_empty() || line.starts_with(b"ALTER TABLE ") {
                        statement.extend_from_slice(line);
                        if !statement.ends_with(b";\n") {
                            continue;
                        }
                        if statement.ends_with(b" ENABLE TRIGGER ALL;\n") {
                            skip_blank = true;
                        } else {
                            kept.extend_from_slice(&statement);
                        }
                        statement.clear();
                        continue;
                    }
                    if !(std::mem::take(&mut skip_blank) && line == b"\n") {
                        kept.extend_from_slice(line);
                    }
                }
                kept.extend_from_slice(&statement);
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
        if self.preamble.is_none() {
            return Err(SinkError::Invalid("the dump had no preamble".into()));
        }
        let mut specials = self.special_entries();

        // dumpIds: pg_dump -v ones when every entry has a unique one, else 1..N in TOC order.
        let mut seen = std::collections::HashSet::new();
        let verbose = !self.entries.is_empty()
            && self
                .entries
                .iter()
                .all(|e| e.toc.dump_id > 0 && seen.insert(e.toc.dump_id));
        if verbose {
            let mut next = self
                .entries
                .iter()
                .map(|e| e.toc.dump_id)
                .max()
                .unwrap_or(0);
            for s in &mut specials {
                next += 1;
                s.dump_id = next;
            }
        } else {
            let mut next = 0;
            for s in &mut specials {
                next += 1;
                s.dump_id = next;
            }
            for e in &mut self.entries {
                next += 1;
                e.toc.dump_id = next;
                e.verbose_deps.clear();
            }
        }

        // An index attached to a partitioned index cannot be dropped on its own: pg_dump gives it
        // an empty drop statement (pg_restore -c drops it with its parent).
        let attached: std::collections::HashSet<(Option<String>, String)> = self
            .entries
            .iter()
            .filter(|e| e.toc.desc == "INDEX ATTACH")
            .filter_map(|e| {
                let defn = String::from_utf8_lossy(e.toc.defn.as_deref()?).into_owned();
                toc::find_tables(&defn)
                    .into_iter()
                    .find(|(_, _, m)| *m == "ATTACH PARTITION ")
                    .map(|(ns, name, _)| (ns, name))
            })
            .collect();
        for e in &mut self.entries {
            if e.toc.desc == "INDEX"
                && attached.contains(&(e.toc.namespace.clone(), e.toc.tag.clone()))
            {
                e.toc.drop_stmt = Some(String::new());
            }
        }

        // Dependencies.
        let mut resolver = Resolver::default();
        for s in &specials {
            resolver.add(s);
        }
        for e in &self.entries {
            resolver.add(&e.toc);
        }
        // The data of an extension's configuration table (pg_extension_config_dump, as PostGIS's
        // spatial_ref_sys) comes without a TABLE entry: the extension creates the table. pg_dump's own
        // archive names the table's dump id, which has no entry; here the data depends on the
        // entries that can create the table, the extensions (a plain dump does not say which one).
        let extensions: Vec<i32> = self
            .entries
            .iter()
            .filter(|e| e.toc.desc == "EXTENSION")
            .map(|e| e.toc.dump_id)
            .collect();
        let mut previous = None;
        for e in &mut self.entries {
            let mut deps = resolver.resolve(&e.refs, previous);
            // (A data-only dump has no TABLE entries at all: its data depends on nothing here, as
            // its tables are not in the archive.)
            if e.toc.desc == "TABLE DATA" && deps.is_empty() {
                deps = extensions.clone();
            }
            for d in &e.verbose_deps {
                if !deps.contains(d) {
                    deps.push(*d);
                }
            }
            deps.retain(|d| *d != e.toc.dump_id);
            e.toc.dependencies = deps;
            if !is_none_section(&e.toc.desc) {
                previous = Some(e.toc.dump_id);
            }
        }

        // Layout: header, TOC (fixed length whatever the offsets), blocks in TOC order.
        let header = self.header_bytes(self.options.compression);
        let count = specials.len() + self.entries.len();
        let encode_toc = |specials: &[TocEntry], entries: &[Pending]| {
            let mut out = Vec::new();
            put_int(&mut out, count as i32);
            for s in specials {
                s.encode(&mut out);
            }
            for e in entries {
                e.toc.encode(&mut out);
            }
            out
        };
        let toc_len = encode_toc(&specials, &self.entries).len() as u64;
        let mut pos = header.len() as u64 + toc_len;
        for e in &mut self.entries {
            if let Some((_, len)) = e.data {
                e.toc.offset = (POS_SET, pos);
                pos += 1 + INT_LEN as u64 + len;
            }
        }
        let toc = encode_toc(&specials, &self.entries);
        debug_assert_eq!(toc.len() as u64, toc_len);

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
        let mut spool = std::io::BufReader::with_capacity(1 << 20, spool);
        let mut at = 0u64;
        for e in &self.entries {
            if let Some((start, len)) = e.data {
                debug_assert_eq!(start, at);
                let mut head = vec![e.block_type];
                put_int(&mut head, e.toc.dump_id);
                out.write_all(&head)?;
                let copied = std::io::copy(&mut (&mut spool).take(len), &mut out)
                    .map_err(|e| io_err(&spool_path, e))?;
                if copied != len {
                    return Err(io_err(
                        &spool_path,
                        std::io::ErrorKind::UnexpectedEof.into(),
                    ));
                }
                at += len;
            }
        }
        Ok(Some(out.seal()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn started_on_is_converted_to_tm() {
        assert_eq!(
            parse_started_on("2026-11-22 03:16:48 UTC"),
            Some([48, 16, 3, 22, 10, 126, 0])
        );
        assert_eq!(parse_started_on("garbage"), None);
    }
}
