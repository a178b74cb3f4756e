//! `scan`: read an artifact (a plain dump, an anonymized dump, `.gz` or not, or a custom-format
//! archive) and report the values that look sensitive (see [`crate::mask::find`]; an IPv4 address
//! glued to a product token, `Safari/5.0.1.2`, is a version and not counted), per table, column
//! and kind, and the fields that are exactly a person's name ([`crate::names`], see
//! `NameCounts`). Each finding gets a [`Verdict`]: in a column the rules mask it is a *leak*
//! unless the column's masker writes look-alike values of that very kind by design (the `phone`
//! masker's phones, the `name` masker's names, a `constant` that is such a value): then it is a
//! *look-alike*. Which kinds the masker was meant to remove does not matter: a phone left in a
//! column `email_scan` masked is a leak, because the artifact is not clean of it. Findings in
//! columns the rules keep (or no rule covers) are reported as *kept* (that is what `rules check`
//! is for). `scan` exits non-zero on any leak.
//!
//! (About 820 lines with its tests: the two artifact formats feed one per-table counter,
//! `TableScan`, with its name counts; splitting the readers from it would scatter the one loop.)
//!
//! The scan streams: plain dumps through [`DumpReader`] batches, custom archives through a fixed
//! buffer over each table's (inflated) data block. The hot loop works on borrowed slices of each batch (rows, then raw fields) and
//! allocates nothing per field. No value is ever printed: a report names the place (table, column,
//! the dump line or row number), so it can go to CI logs without spreading what it found.

use std::io::Read;
use std::path::Path;

use serde::Serialize;

use super::values::ip_stands_alone;
use crate::archive::{read_archive, InspectError};
use crate::copy::for_each_field;
use crate::dump::entry::CopyStmt;
use crate::dump::facts::SchemaFacts;
use crate::dump::{DumpError, DumpReader, Event};
use crate::input::{Source, SourceError};
use crate::mask::find::{find, Kind as FindKind};
use crate::mask::Category;
use crate::mask::{ColumnInfo, RuleSet};

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    Dump(#[from] DumpError),
    /// A dump error of the artifact being scanned, with its path (a `DumpError` names only the line).
    #[error("{path}")]
    DumpAt {
        path: String,
        #[source]
        source: DumpError,
    },
    #[error(transparent)]
    Archive(#[from] InspectError),
    #[error("reading {path}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: reading the data of TOC entry {dump_id} ({table})")]
    Block {
        path: String,
        dump_id: i32,
        table: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: TOC entry {dump_id} ({table}) has an unreadable COPY statement: {stmt}")]
    BadCopy {
        path: String,
        dump_id: i32,
        table: String,
        stmt: String,
    },
}

/// Sensitive-looking values of one kind in one column.
#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub schema: String,
    pub table: String,
    pub column: String,
    pub category: Category,
    /// Values (fields) holding at least one match.
    pub values: u64,
    /// Plain dumps: the input line of the first such value; archives: its row number in the table.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_line: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_row: Option<u64>,
    /// `file:line` and masker of the rule deciding the column (`None`: no rule).
    pub rule: Option<String>,
    pub masker: Option<String>,
    /// The rule masks this column and its masker never writes such values itself (fake phones
    /// and names do), so the value should not be here (`verdict` is `leak`).
    pub leak: bool,
    pub verdict: Verdict,
}

/// What a finding means for the artifact.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// In a masked column whose masker does not write such values: the masking failed.
    Leak,
    /// In a masked column whose masker writes values of this kind by design: `scan` cannot tell
    /// them from originals.
    LookAlike,
    /// In a column the rules keep, or that no rule covers.
    Kept,
}

#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    pub artifact: String,
    /// `plain` or `custom`.
    pub format: &'static str,
    pub tables: u64,
    pub rows: u64,
    pub findings: Vec<Finding>,
    /// Findings in the schema text, reported apart (and counted in `leaks` and `kept`).
    pub schema: Vec<SchemaFinding>,
    /// Findings by verdict.
    pub leaks: u64,
    pub look_alikes: u64,
    pub kept: u64,
}

/// Sensitive-looking values in the schema text (statements outside COPY data) of one entry, of
/// one kind. In a COMMENT's text it is a leak (the masked artifacts have their comments scrubbed,
/// [`crate::dump::schema_text`]); elsewhere (function bodies, defaults) it is text pgveil never
/// changes, reported as kept.
#[derive(Debug, Clone, Serialize)]
pub struct SchemaFinding {
    /// The entry, as `TYPE name` (`COMMENT TABLE t`, `FUNCTION f()`).
    pub entry: String,
    pub category: Category,
    pub in_comment: bool,
    /// Plain dumps: the line of the entry's header.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    pub verdict: Verdict,
}

/// The schema findings of one entry's body.
fn schema_findings(entry: String, body: &[u8], line: Option<u64>, out: &mut Vec<SchemaFinding>) {
    let mut seen: Vec<(Category, bool)> = Vec::new();
    crate::dump::schema_text::findings(body, |c, in_comment| {
        if !seen.contains(&(c, in_comment)) {
            seen.push((c, in_comment));
        }
    });
    out.extend(
        seen.into_iter()
            .map(|(category, in_comment)| SchemaFinding {
                entry: entry.clone(),
                category,
                in_comment,
                line,
                verdict: if in_comment {
                    Verdict::Leak
                } else {
                    Verdict::Kept
                },
            }),
    );
}

/// Counters of one table being scanned.
struct TableScan {
    schema: String,
    table: String,
    columns: Vec<ColumnInfo>,
    /// Per column, per category: (values, first position).
    counts: Vec<[(u64, u64); Category::ALL.len()]>,
    /// Per column: person names by dictionary (see [`NameCounts`]).
    names: Vec<NameCounts>,
    rows: u64,
    /// Decoded field, reused (only fields with escapes are decoded).
    buf: Vec<u8>,
}

impl TableScan {
    fn new(copy: &CopyStmt, facts: &SchemaFacts) -> TableScan {
        let schema = copy.schema.clone().unwrap_or_default();
        let columns = ColumnInfo::of_copy(copy, facts);
        TableScan {
            counts: vec![[(0, 0); Category::ALL.len()]; columns.len()],
            names: vec![NameCounts::default(); columns.len()],
            schema,
            table: copy.table.clone(),
            columns,
            rows: 0,
            buf: Vec::new(),
        }
    }

    /// Scan whole COPY rows (each ending in `\n`, except perhaps the last of a block, which is
    /// scanned too); `pos(k)` is the position of the k-th row here.
    fn rows(&mut self, rows: &[u8], pos: impl Fn(u64) -> u64) {
        let counts = &mut self.counts;
        let names = &mut self.names;
        let buf = &mut self.buf;
        let n = counts.len();
        let mut k = 0u64;
        let mut start = 0;
        let ends = memchr::memchr_iter(b'\n', rows)
            .chain((!rows.is_empty() && !rows.ends_with(b"\n")).then_some(rows.len()));
        for end in ends {
            let row = &rows[start..end];
            start = (end + 1).min(rows.len());
            if row == b"\\." {
                break;
            }
            let p = pos(k);
            k += 1;
            for_each_field(row, |i, raw| {
                if i >= n {
                    return;
                }
                if raw == crate::copy::NULL {
                    return;
                }
                // Decoded as the maskers see it (only fields with escapes are copied).
                let value: &[u8] = if crate::copy::needs_unescape(raw) {
                    buf.clear();
                    match crate::copy::unescape_into(raw, buf) {
                        Ok(()) => buf,
                        Err(_) => raw,
                    }
                } else {
                    raw
                };
                let mut seen = 0;
                let whole = value.trim_ascii();
                find(value, FindKind::all(), |k, s, e| {
                    // `Safari/5.0.1.2` is a version, not an address.
                    if k == FindKind::Ip && e - s != whole.len() && !ip_stands_alone(value, s, e) {
                        return;
                    }
                    let c = k.category();
                    if seen & c.bit() == 0 {
                        seen |= c.bit();
                        let slot = &mut counts[i][c as usize];
                        if slot.0 == 0 {
                            slot.1 = p;
                        }
                        slot.0 += 1;
                    }
                });
                names[i].observe(value, p);
            });
        }
        self.rows += k;
    }

    fn findings(&self, rules: &RuleSet, by_line: bool, out: &mut Vec<Finding>) {
        for ((c, counts), names) in self.columns.iter().zip(&self.counts).zip(&self.names) {
            let rule = rules.classify(&self.schema, &self.table, c);
            for cat in Category::ALL {
                let (values, first) = if cat == Category::Name {
                    names.merged(counts[cat as usize])
                } else {
                    counts[cat as usize]
                };
                if values == 0 {
                    continue;
                }
                out.push(Finding {
                    schema: self.schema.clone(),
                    table: self.table.clone(),
                    column: c.name.clone(),
                    category: cat,
                    values,
                    first_line: by_line.then_some(first),
                    first_row: (!by_line).then_some(first),
                    rule: rule.map(|r| r.location()),
                    masker: rule.map(|r| r.masker().to_string()),
                    leak: rule.is_some_and(|r| r.leaks(cat)),
                    verdict: match rule {
                        Some(r) if r.leaks(cat) => Verdict::Leak,
                        Some(r) if r.look_alike(cat) => Verdict::LookAlike,
                        _ => Verdict::Kept,
                    },
                });
            }
        }
    }
}

/// Person names found by dictionary ([`crate::names`]) in one column, whole fields only: a field
/// that is exactly "Given Surname" (or "Surname, Given") is a finding on its own; fields that are a
/// single given name or surname count only where they are at least half of the column's values
/// (one word is too often an ordinary word: `Rose`, `Long`). Words inside free text are never
/// looked up.
#[derive(Debug, Clone, Copy, Default)]
struct NameCounts {
    non_null: u64,
    /// Fields that are a full name: (count, first position).
    full: (u64, u64),
    /// Fields that are one given name or surname: (count, first position).
    single: (u64, u64),
}

impl NameCounts {
    fn observe(&mut self, value: &[u8], pos: u64) {
        self.non_null += 1;
        // Cheap guards first: short, starts with a letter, no digit and no `@`.
        let v = value.trim_ascii();
        if v.len() < 2
            || v.len() > 60
            || !(v[0].is_ascii_alphabetic() || v[0] >= 0x80)
            || v.iter().any(|b| b.is_ascii_digit() || *b == b'@')
        {
            return;
        }
        let Ok(text) = std::str::from_utf8(v) else {
            return;
        };
        let slot = match crate::names::shape(text) {
            Some(crate::names::NameShape::Full) => &mut self.full,
            Some(_) => &mut self.single,
            None => return,
        };
        if slot.0 == 0 {
            slot.1 = pos;
        }
        slot.0 += 1;
    }

    /// The name finding of the column: `(values, first position)`, merged with what the value
    /// detectors reported as names (`found`; none today).
    fn merged(&self, found: (u64, u64)) -> (u64, u64) {
        let mut out = found;
        let mut add = |(n, p): (u64, u64)| {
            if n > 0 {
                out.1 = if out.0 == 0 { p } else { out.1.min(p) };
                out.0 += n;
            }
        };
        add(self.full);
        if (self.full.0 + self.single.0) * 2 >= self.non_null {
            add(self.single);
        }
        out
    }
}

/// Whether the file starts with the custom-format magic `PGDMP`.
fn is_custom(path: &Path) -> Result<bool, ScanError> {
    if path == Path::new("-") {
        return Ok(false);
    }
    let io = |source| ScanError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut f = std::fs::File::open(path).map_err(io)?;
    let mut magic = [0u8; 5];
    let mut got = 0;
    while got < 5 {
        let n = f.read(&mut magic[got..]).map_err(io)?;
        if n == 0 {
            break;
        }
        got += n;
    }
    Ok(got == 5 && &magic == b"PGDMP")
}

/// Scan an artifact (`-` = a plain dump on stdin).
/// Every error names the artifact.
pub fn scan_artifact(path: &Path, rules: &RuleSet) -> Result<ScanReport, ScanError> {
    if is_custom(path)? {
        scan_custom(path, rules)
    } else {
        scan_plain(path, rules).map_err(|e| match e {
            ScanError::Dump(source) => ScanError::DumpAt {
                path: path.display().to_string(),
                source,
            },
            other => other,
        })
    }
}

fn scan_plain(path: &Path, rules: &RuleSet) -> Result<ScanReport, ScanError> {
    // Types for `types` rules: a pre-scan of a file (the DDL that matters precedes the data, but
    // the keys follow it); stdin cannot be read twice.
    let facts = if path == Path::new("-") {
        SchemaFacts::unknown()
    } else {
        let mut src = Source::open_input(path)?;
        let f = SchemaFacts::from_dump(src.reader())?;
        src.finish()?;
        f
    };
    let mut src = Source::open_input(path)?;
    let mut reader = DumpReader::new(src.reader());
    let mut findings = Vec::new();
    let mut schema = Vec::new();
    let mut current: Option<TableScan> = None;
    let (mut tables, mut rows) = (0u64, 0u64);
    while let Some(event) = reader.next_event()? {
        match event {
            Event::DataBegin(e) => {
                if let Some(copy) = &e.copy {
                    current = Some(TableScan::new(copy, &facts));
                    tables += 1;
                }
            }
            Event::CopyRows {
                rows: batch,
                first_line,
                ..
            } => {
                if let Some(t) = current.as_mut() {
                    t.rows(batch, |k| first_line + k);
                }
            }
            Event::DataEnd(_) => {
                if let Some(t) = current.take() {
                    rows += t.rows;
                    t.findings(rules, true, &mut findings);
                }
            }
            Event::Entry(e) => {
                let name = format!("{} {}", e.header.desc, e.header.tag);
                schema_findings(name, e.body(), Some(e.line), &mut schema);
            }
            _ => {}
        }
    }
    drop(reader);
    src.finish()?;
    Ok(report(path, "plain", tables, rows, findings, schema))
}

/// Schema facts from an archive's TOC: its definitions, framed as the plain dump pg_dump would
/// print, go through the same parser. Unreadable facts only mean no types for `types` rules.
fn archive_facts(entries: &[crate::archive::TocEntry]) -> SchemaFacts {
    let mut text =
        b"--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n\n".to_vec();
    for e in entries {
        if !matches!(
            e.desc.as_str(),
            "TABLE" | "CONSTRAINT" | "FK CONSTRAINT" | "INDEX" | "TABLE ATTACH"
        ) {
            continue;
        }
        let Some(defn) = &e.defn else { continue };
        text.extend_from_slice(
            format!(
                "--\n-- Name: {}; Type: {}; Schema: {}; Owner: -\n--\n\n",
                e.tag.replace('\n', " "),
                e.desc,
                e.namespace.as_deref().unwrap_or("-")
            )
            .as_bytes(),
        );
        text.extend_from_slice(defn);
        text.extend_from_slice(b"\n\n");
    }
    text.extend_from_slice(b"--\n-- PostgreSQL database dump complete\n--\n\n");
    SchemaFacts::from_dump(&text[..]).unwrap_or_else(|_| SchemaFacts::new())
}

/// The data chunks of one archive block as one byte stream: `Int(len)` + bytes, up to `Int(0)`.
struct Chunks<R> {
    r: R,
    int_size: usize,
    left: u64,
    done: bool,
}

impl<R: Read> Chunks<R> {
    fn int(&mut self) -> std::io::Result<i64> {
        let mut sign = [0u8; 1];
        self.r.read_exact(&mut sign)?;
        let mut v: i64 = 0;
        for i in 0..self.int_size {
            let mut b = [0u8; 1];
            self.r.read_exact(&mut b)?;
            if i < 8 {
                v |= i64::from(b[0]) << (8 * i);
            }
        }
        Ok(if sign[0] != 0 { -v } else { v })
    }
}

impl<R: Read> Read for Chunks<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.left == 0 {
            if self.done {
                return Ok(0);
            }
            let len = self.int()?;
            if len <= 0 {
                self.done = true;
                return Ok(0);
            }
            self.left = len as u64;
        }
        let want = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.r.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// Whether the archive's data is zlib-compressed (an error for lz4/zstd, which pgveil cannot read).
fn archive_compressed(
    path: &Path,
    header: &crate::archive::ArchiveHeader,
) -> Result<bool, ScanError> {
    let c = header.compression;
    if header.version.1 >= 15 {
        match c {
            0 => Ok(false),
            1 => Ok(true),
            other => Err(ScanError::Archive(InspectError::Format {
                path: path.display().to_string(),
                what: format!(
                    "data compressed with algorithm {other} (lz4/zstd): only none and gzip are readable"
                ),
            })),
        }
    } else {
        Ok(c != 0)
    }
}

/// Where the data of a TABLE DATA entry lies: its one block, found by the sequential walk and,
/// when the TOC records an offset, at that offset. A block that is missing, duplicated or not where
/// the TOC says (pg_restore: "found unexpected block ID") is an error naming the entry: a block the
/// scan cannot read must never pass as a clean table.
fn table_block(
    path: &Path,
    archive: &crate::archive::Archive,
    e: &crate::archive::TocEntry,
) -> Result<Option<crate::archive::BlockInfo>, ScanError> {
    use crate::archive::{BLK_DATA, NO_DATA, POS_SET};
    let damaged = |what: String| {
        ScanError::Archive(InspectError::Format {
            path: path.display().to_string(),
            what: format!(
                "TOC entry {} (TABLE DATA {}{}): {what}; the archive is damaged and cannot be scanned",
                e.dump_id,
                e.namespace.as_deref().map(|n| format!("{n}.")).unwrap_or_default(),
                e.tag
            ),
        })
    };
    let mut found = archive
        .blocks_in_order
        .iter()
        .filter(|(id, _)| *id == e.dump_id)
        .map(|(_, b)| *b);
    let block = found.next();
    if let Some(other) = found.next() {
        return Err(damaged(format!(
            "two data blocks carry its id (at {} and {})",
            block.map(|b| b.position).unwrap_or(0),
            other.position
        )));
    }
    let (flag, offset) = e.offset;
    let block = match block {
        Some(b) => b,
        None if flag == NO_DATA && !e.had_dumper => return Ok(None),
        None if flag == POS_SET => {
            return Err(damaged(format!(
                "no data block carries its id (the TOC places it at offset {offset})"
            )))
        }
        None => return Err(damaged("no data block carries its id".into())),
    };
    if flag == POS_SET && block.position != offset {
        return Err(damaged(format!(
            "the TOC places its data at offset {offset}, but its block is at {}",
            block.position
        )));
    }
    if block.block_type != BLK_DATA {
        return Err(damaged(format!(
            "its block at {} is of type {}, not table data",
            block.position, block.block_type
        )));
    }
    Ok(Some(block))
}

/// Every block must belong to an entry: a block whose id no TOC entry has is data the scan could
/// not attribute to a table (a damaged id), so it is an error rather than something skipped.
fn check_block_ids(path: &Path, archive: &crate::archive::Archive) -> Result<(), ScanError> {
    let ids: std::collections::HashSet<i32> = archive.entries.iter().map(|e| e.dump_id).collect();
    for (id, b) in &archive.blocks_in_order {
        if !ids.contains(id) {
            return Err(ScanError::Archive(InspectError::Format {
                path: path.display().to_string(),
                what: format!(
                    "the data block at offset {} carries id {id}, which no TOC entry has; the \
                     archive is damaged and cannot be scanned",
                    b.position
                ),
            }));
        }
    }
    Ok(())
}

/// Feed whole rows (each ending in `\n`, the last one possibly not) read from `data` to `rows`,
/// through `buf`, which grows only for a row longer than it. Each byte read is searched for the
/// end of a row once (a long row spanning many reads is not searched again on every read, which
/// made one huge field quadratic). Returns how many bytes were searched, for the tests.
fn feed_rows(
    data: &mut dyn Read,
    buf: &mut Vec<u8>,
    mut rows: impl FnMut(&[u8]),
) -> std::io::Result<u64> {
    let mut searched = 0u64;
    let mut filled = 0;
    loop {
        if filled == buf.len() {
            buf.resize(buf.len().max(4096) * 2, 0); // a row longer than the buffer
        }
        let n = data.read(&mut buf[filled..])?;
        // What is left over from the last read holds no newline: only the new bytes are searched.
        searched += n as u64;
        let end = if n == 0 {
            filled
        } else {
            match memchr::memrchr(b'\n', &buf[filled..filled + n]) {
                Some(i) => filled + i + 1,
                None => {
                    filled += n;
                    continue;
                }
            }
        };
        filled += n;
        if end > 0 {
            rows(&buf[..end]);
        }
        buf.copy_within(end..filled, 0);
        filled -= end;
        if n == 0 {
            return Ok(searched);
        }
    }
}

fn scan_custom(path: &Path, rules: &RuleSet) -> Result<ScanReport, ScanError> {
    let archive = read_archive(path)?;
    // Every table's block is found (or the error names the table) before anything is scanned.
    let mut data = Vec::new();
    for e in archive.entries.iter().filter(|e| e.desc == "TABLE DATA") {
        if let Some(block) = table_block(path, &archive, e)? {
            data.push((e, block));
        }
    }
    check_block_ids(path, &archive)?;
    let facts = archive_facts(&archive.entries);
    let compressed = archive_compressed(path, &archive.header)?;
    let io = |source| ScanError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut findings = Vec::new();
    let mut schema = Vec::new();
    for e in archive.entries.iter().filter(|e| e.desc != "TABLE DATA") {
        if let Some(defn) = &e.defn {
            schema_findings(format!("{} {}", e.desc, e.tag), defn, None, &mut schema);
        }
    }
    let (mut tables, mut rows) = (0u64, 0u64);
    // One table's data streams through a fixed buffer: whole rows are scanned, a partial last row
    // rolls over to the next read.
    let mut buf = vec![0u8; 1 << 20];
    for (e, block) in data {
        let bad_copy = |stmt: &str| ScanError::BadCopy {
            path: path.display().to_string(),
            dump_id: e.dump_id,
            table: e.tag.clone(),
            stmt: stmt.to_string(),
        };
        // Data without a COPY statement (`pg_dump --inserts`) is SQL, not rows the scan can read.
        let stmt = e.copy_stmt.as_deref().unwrap_or_default();
        let copy = CopyStmt::parse(stmt).ok_or_else(|| bad_copy(stmt))?;
        use std::io::{Seek, SeekFrom};
        file.seek(SeekFrom::Start(block.position)).map_err(io)?;
        let mut r = std::io::BufReader::new(&mut file);
        let mut chunks = Chunks {
            r: &mut r,
            int_size: archive.header.int_size as usize,
            left: 0,
            done: false,
        };
        // Block header: type byte and dump id (the walk found them; read them again here).
        let mut t = [0u8; 1];
        chunks.r.read_exact(&mut t).map_err(io)?;
        let id = chunks.int().map_err(io)?;
        if t[0] != crate::archive::BLK_DATA || id != i64::from(e.dump_id) {
            return Err(ScanError::Archive(InspectError::Format {
                path: path.display().to_string(),
                what: format!(
                    "TOC entry {} ({}): the block at offset {} changed while being read",
                    e.dump_id, e.tag, block.position
                ),
            }));
        }
        let mut stream: Box<dyn Read + '_> = if compressed {
            Box::new(flate2::read::ZlibDecoder::new(chunks))
        } else {
            Box::new(chunks)
        };
        let mut t = TableScan::new(&copy, &facts);
        feed_rows(&mut *stream, &mut buf, |batch| {
            let base = t.rows;
            t.rows(batch, |k| base + k + 1);
        })
        .map_err(|source| ScanError::Block {
            path: path.display().to_string(),
            dump_id: e.dump_id,
            table: e.tag.clone(),
            source,
        })?;
        tables += 1;
        rows += t.rows;
        t.findings(rules, false, &mut findings);
    }
    Ok(report(path, "custom", tables, rows, findings, schema))
}

fn report(
    path: &Path,
    format: &'static str,
    tables: u64,
    rows: u64,
    findings: Vec<Finding>,
    schema: Vec<SchemaFinding>,
) -> ScanReport {
    let count = |v: Verdict| {
        (findings.iter().filter(|f| f.verdict == v).count()
            + schema.iter().filter(|f| f.verdict == v).count()) as u64
    };
    let (leaks, look_alikes, kept) = (
        count(Verdict::Leak),
        count(Verdict::LookAlike),
        count(Verdict::Kept),
    );
    ScanReport {
        artifact: path.display().to_string(),
        format,
        tables,
        rows,
        findings,
        schema,
        leaks,
        look_alikes,
        kept,
    }
}

/// The human-readable report.
pub fn render(r: &ScanReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    for f in &r.findings {
        let place = match (f.first_line, f.first_row) {
            (Some(l), _) => format!("first at line {l}"),
            (_, Some(k)) => format!("first in row {k}"),
            _ => String::new(),
        };
        let verdict = match (&f.rule, &f.masker, f.verdict) {
            (Some(rule), Some(m), Verdict::Leak) => {
                format!("LEAK: rule {rule} ({m}) masks this column and does not write such values")
            }
            (Some(rule), Some(m), Verdict::LookAlike) => {
                format!("look-alike: rule {rule} ({m}) writes such values by design")
            }
            (Some(rule), Some(m), Verdict::Kept) => format!("kept by rule {rule} ({m})"),
            _ => "not covered by any rule".to_string(),
        };
        let _ = writeln!(
            s,
            "{}.{}  {}  {} value(s), {place}  {verdict}",
            crate::dump::ident::quote_qualified(&f.schema, &f.table),
            crate::dump::ident::quote_ident(&f.column),
            f.category,
            f.values,
        );
    }
    for f in &r.schema {
        let place = f.line.map(|l| format!(", line {l}")).unwrap_or_default();
        let verdict = if f.in_comment {
            "LEAK: in comment text, which the masked artifacts scrub"
        } else {
            "kept: schema text outside comments is never changed"
        };
        let _ = writeln!(s, "schema: {}{place}  {}  {verdict}", f.entry, f.category);
    }
    let data = |v: Verdict| r.findings.iter().filter(|f| f.verdict == v).count();
    let _ = writeln!(
        s,
        "{} ({}): {} tables, {} rows, {} finding(s): {} leak(s), {} look-alike(s), {} in kept columns",
        r.artifact,
        r.format,
        r.tables,
        r.rows,
        r.findings.len(),
        data(Verdict::Leak),
        data(Verdict::LookAlike),
        data(Verdict::Kept)
    );
    if !r.schema.is_empty() {
        let in_comments = r.schema.iter().filter(|f| f.in_comment).count();
        let _ = writeln!(
            s,
            "schema text: {} finding(s): {in_comments} leak(s) in comments, {} elsewhere (kept)",
            r.schema.len(),
            r.schema.len() - in_comments
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader handing out at most `step` bytes per read, as a decompressor does.
    struct Trickle<'a> {
        data: &'a [u8],
        step: usize,
    }

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.step).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    #[test]
    fn a_field_spanning_many_reads_is_searched_once() {
        // One 3 MB field between two short rows, read 4 KiB at a time (768 reads for the field):
        // the rows come out whole, and every byte is searched for a row end once, not once per read.
        let mut text = b"1\tshort\n2\t".to_vec();
        text.extend(std::iter::repeat_n(b'x', 3 << 20));
        text.extend_from_slice(b"ann@x.org\n3\tlast row without newline");
        let mut buf = vec![0u8; 64 << 10];
        let mut got: Vec<Vec<u8>> = Vec::new();
        let mut r = Trickle {
            data: &text,
            step: 4096,
        };
        let searched = feed_rows(&mut r, &mut buf, |rows| {
            got.extend(rows.split_inclusive(|&b| b == b'\n').map(<[u8]>::to_vec))
        })
        .unwrap();
        assert_eq!(got.concat(), text);
        assert_eq!(got.len(), 3);
        assert_eq!(got[1].len(), 2 + (3 << 20) + 10);
        assert_eq!(searched, text.len() as u64);
    }

    #[test]
    fn the_last_row_of_a_block_counts_without_its_newline() {
        let copy = CopyStmt::parse("COPY public.t (email) FROM stdin;").unwrap();
        let mut t = TableScan::new(&copy, &SchemaFacts::unknown());
        t.rows(b"a@b.org\nann@x.org", |k| k + 1);
        assert_eq!(t.rows, 2);
        assert_eq!(t.counts[0][Category::Email as usize], (2, 1));
    }

    #[test]
    fn versions_are_not_addresses_and_names_are_whole_fields() {
        let copy = CopyStmt::parse("COPY public.t (ua, who, note) FROM stdin;").unwrap();
        let mut t = TableScan::new(&copy, &SchemaFacts::unknown());
        t.rows(
            b"Mozilla/5.0 (X11) Firefox/120.0.1.2\tAnn Smith\tcall Ann Smith today\n\
              curl/8.5.0.1 from 10.1.2.3\tGarc\xc3\xada, Luc\xc3\xada\tno note\n\
              MyApp/5.0.1.2\tOak table\trose\n",
            |k| k + 1,
        );
        let ip = Category::Ip as usize;
        let name = Category::Name as usize;
        // Only the address standing alone is an address.
        assert_eq!(t.counts[0][ip], (1, 2));
        // Two full names in `who`; the free text `note` is not searched word by word, and its one
        // one-word name (`rose`) is not half of the column.
        assert_eq!(t.names[1].merged(t.counts[1][name]), (2, 1));
        assert_eq!(t.names[2].merged(t.counts[2][name]), (0, 0));
    }
}
