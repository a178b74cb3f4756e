//! The streaming splitter of a plain `pg_dump` stream into events: the preamble, one event per TOC entry
//! (state lines + `-- Name:` header block + body), COPY data in batches of whole rows, and the trailer.
//!
//! Invariant: the bytes of all events, concatenated in order, are exactly the input. The reader holds one
//! entry's DDL at a time and never a table's data: a batch of rows is a slice of its own buffer.
//!
//! A dump that ends early (no `PostgreSQL database dump complete` trailer, an unterminated COPY block, a
//! last line without newline) is an error naming the line, never a silent end.

use std::collections::VecDeque;
use std::io::Read;
use std::ops::Range;

use memchr::memmem;
use thiserror::Error;

use super::entry::{find_owner_stmt, CopyStmt, Entry, EntryHeader};
use super::psql_lex::{self, CopyIn, LexError, Lexer, LineScan};

/// Default size of a batch of COPY rows handed out at once.
pub const DEFAULT_BATCH_BYTES: usize = 1 << 20;

#[derive(Debug, Error)]
pub enum DumpError {
    #[error("reading the dump")]
    Io(#[from] std::io::Error),
    #[error("line 1: this is a custom-format archive (PGDMP); pgveil reads plain-format dumps (pg_dump -Fp)")]
    CustomFormat,
    #[error("line {line}: not a plain-format pg_dump stream ({what})")]
    NotPlainDump { line: u64, what: String },
    #[error("truncated dump: the input ended at line {line} {context} without pg_dump's \"dump complete\" trailer")]
    Truncated { line: u64, context: String },
    #[error("line {line}: COPY data of table {table} is not terminated by \\. (the input ended inside it)")]
    UnterminatedCopy { line: u64, table: String },
    #[error("line {line}: cannot parse the COPY statement of {table}: {stmt}")]
    BadCopy {
        line: u64,
        table: String,
        stmt: String,
    },
    #[error("line {line}: data of {table} is not in COPY format (dumps taken with --inserts cannot be masked; use pg_dump's default COPY format)")]
    NotCopyData { line: u64, table: String },
    #[error("line {line}: unexpected content after the dump trailer")]
    AfterTrailer { line: u64 },
    #[error(transparent)]
    Lex(#[from] LexError),
    #[error("line {line}: client encoding {encoding}: psql splits statements by it and pgveil does not; dump with pg_dump -E UTF8")]
    ClientEncoding { line: u64, encoding: String },
    #[error("line {line}: a NUL byte (PostgreSQL text cannot hold one, and psql would cut the line there)")]
    NulByte { line: u64 },
    #[error("line {line}: where a string literal ends here depends on standard_conforming_strings (a backslash before a quote); pgveil cannot tell which statements psql would run")]
    AmbiguousString { line: u64 },
    #[error("line {line}: {why}")]
    BadHeader { line: u64, why: String },
    #[error("line {line}: psql reads the data of this COPY from the dump, but pgveil masks only `COPY schema.table (columns) FROM stdin;` in text format without options: {stmt}")]
    UnmaskableCopy { line: u64, stmt: String },
    #[error("line {line}: COPY of {table} names no schema; pgveil cannot tell which table's rules apply")]
    UnqualifiedCopy { line: u64, table: String },
    #[error("line {line}: a COPY … FROM stdin statement inside the data of a large-object entry")]
    CopyInBlobs { line: u64 },
    #[error("line {line}: COPY data of {table}: psql ends the data at this \\. followed by a carriage return and runs what follows as SQL; pgveil refuses such a dump")]
    CopyEndWithCr { line: u64, table: String },
}

/// The entry types pg_dump writes in its headers (`Type: …`), PostgreSQL 9.2 to 17. A header
/// naming another type is garbage (a NUL byte, an edited line) and must not become a silently
/// different entry: the schema facts and the archive go by the type.
const KNOWN_DESCS: &[&str] = &[
    "ACCESS METHOD",
    "ACL",
    "AGGREGATE",
    "BLOB",
    "BLOB METADATA",
    "BLOBS",
    "CAST",
    "CHECK CONSTRAINT",
    "COLLATION",
    "COMMENT",
    "CONSTRAINT",
    "CONVERSION",
    "DATABASE",
    "DATABASE PROPERTIES",
    "DEFAULT",
    "DEFAULT ACL",
    "DOMAIN",
    "ENCODING",
    "EVENT TRIGGER",
    "EXTENSION",
    "FK CONSTRAINT",
    "FOREIGN DATA WRAPPER",
    "FOREIGN SERVER",
    "FOREIGN TABLE",
    "FUNCTION",
    "INDEX",
    "INDEX ATTACH",
    "LARGE OBJECT",
    "MATERIALIZED VIEW",
    "MATERIALIZED VIEW DATA",
    "OPERATOR",
    "OPERATOR CLASS",
    "OPERATOR FAMILY",
    "POLICY",
    "PROCEDURAL LANGUAGE",
    "PROCEDURE",
    "PUBLICATION",
    "PUBLICATION TABLE",
    "PUBLICATION TABLES IN SCHEMA",
    "ROW SECURITY",
    "RULE",
    "SCHEMA",
    "SEARCHPATH",
    "SECURITY LABEL",
    "SEQUENCE",
    "SEQUENCE OWNED BY",
    "SEQUENCE SET",
    "SERVER",
    "SHELL TYPE",
    "STATISTICS",
    "STATISTICS DATA",
    "STDSTRINGS",
    "SUBSCRIPTION",
    "SUBSCRIPTION TABLE",
    "TABLE",
    "TABLE ATTACH",
    "TABLE DATA",
    "TEXT SEARCH CONFIGURATION",
    "TEXT SEARCH DICTIONARY",
    "TEXT SEARCH PARSER",
    "TEXT SEARCH TEMPLATE",
    "TRANSFORM",
    "TRIGGER",
    "TYPE",
    "USER MAPPING",
    "VIEW",
];

/// Client encodings whose multibyte characters may hold ASCII bytes (`\\`, `'`).
const CLIENT_ONLY_ENCODINGS: &[&str] = &[
    "SJIS",
    "SHIFT_JIS_2004",
    "BIG5",
    "GBK",
    "GB18030",
    "UHC",
    "JOHAB",
];

/// A line that only an entry header holds.
/// A line that reads as a whole `COPY … FROM stdin;` (or `\copy … stdin`) statement, whatever psql
/// would make of it where it stands.
fn is_copy_like(line: &[u8]) -> bool {
    let text = line.trim_ascii().to_ascii_lowercase();
    (text.starts_with(b"copy ") || text.starts_with(b"\\copy "))
        && (text.ends_with(b" stdin;") || text.ends_with(b" stdin"))
}

fn is_header_like(line: &[u8]) -> bool {
    line.starts_with(b"-- Name:")
        || line.starts_with(b"-- Data for Name:")
        || line.starts_with(b"-- TOC entry")
        || line.starts_with(b"-- Dependencies:")
}

/// What the preamble says about the dump.
#[derive(Debug, Clone, Default)]
pub struct Preamble {
    pub text: Vec<u8>,
    pub server_version: Option<String>,
    pub pg_dump_version: Option<String>,
    /// `SET client_encoding = 'UTF8';` → `UTF8`.
    pub encoding: Option<String>,
    /// `SET standard_conforming_strings = on;` → `on`.
    pub standard_conforming_strings: Option<String>,
    /// The `SELECT pg_catalog.set_config('search_path', …);` line (without newline), if present.
    pub search_path_stmt: Option<String>,
    /// `-- Started on …` (with `pg_dump -v`).
    pub started_on: Option<String>,
}

impl Preamble {
    fn parse(text: Vec<u8>) -> Result<Preamble, DumpError> {
        let mut p = Preamble::default();
        let s = String::from_utf8_lossy(&text).into_owned();
        let mut lines = s.lines();
        if lines.next() != Some("--") || lines.next() != Some("-- PostgreSQL database dump") {
            let what = if s.starts_with("--\n-- PostgreSQL database cluster dump") {
                "this is pg_dumpall output; dump one database with pg_dump".to_string()
            } else {
                "it does not start with pg_dump's \"-- PostgreSQL database dump\" banner"
                    .to_string()
            };
            return Err(DumpError::NotPlainDump { line: 1, what });
        }
        for line in s.lines() {
            if let Some(v) = line.strip_prefix("-- Dumped from database version ") {
                p.server_version = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("-- Dumped by pg_dump version ") {
                p.pg_dump_version = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("-- Started on ") {
                p.started_on = Some(v.to_string());
            } else if let Some(v) = line.strip_prefix("SET client_encoding = '") {
                p.encoding = v.strip_suffix("';").map(str::to_string);
            } else if let Some(v) = line.strip_prefix("SET standard_conforming_strings = ") {
                p.standard_conforming_strings = v.strip_suffix(';').map(str::to_string);
            } else if line.starts_with("SELECT pg_catalog.set_config('search_path'") {
                p.search_path_stmt = Some(line.to_string());
            }
        }
        p.text = text;
        Ok(p)
    }
}

/// One piece of the dump. Everything is owned except row batches, which borrow the reader's buffer.
#[derive(Debug)]
pub enum Event<'a> {
    Preamble(Preamble),
    /// A complete entry without a data part.
    Entry(Entry),
    /// The start of an entry with a data part (TABLE DATA: its text ends with the COPY line; BLOBS:
    /// its text ends with the header block).
    DataBegin(Entry),
    /// Whole COPY rows, each ending in `\n`. `first_line` is the input line of the first row.
    CopyRows {
        rows: &'a [u8],
        first_line: u64,
        row_count: u64,
    },
    /// A line of a data part that is not COPY (the SQL of a BLOBS entry).
    RawData(Vec<u8>),
    /// The end of the current data part: `\.\n` and the blank lines up to the next entry.
    DataEnd(Vec<u8>),
    /// `-- PostgreSQL database dump complete` and what follows it.
    Trailer(Vec<u8>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Preamble,
    /// Inside the body of a schema entry (kept in `current`).
    Body,
    /// Inside COPY rows.
    Copy,
    /// After the `\.` line of a COPY, up to the next header.
    CopyTail,
    /// Inside a non-COPY data body (BLOBS), streamed line by line.
    RawData,
    Done,
}

/// How far the lines held in `pending` have got towards an entry header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pending {
    Empty,
    /// `SET default_tablespace …` style lines (and blank lines after them).
    StateLines,
    /// `--` seen (and maybe `-- TOC entry` / `-- Dependencies`).
    Open,
    /// `-- Name: …` seen.
    Named,
    /// The closing `--` seen; a blank line completes the header.
    Closed,
    /// `-- Completed on …` (pg_dump -v), which precedes the trailer.
    Completed,
}

pub struct DumpReader<R: Read> {
    src: R,
    buf: Vec<u8>,
    pos: usize,
    end: usize,
    eof: bool,
    /// Lines consumed so far (the next line is `line + 1`).
    line: u64,
    batch_bytes: usize,
    state: State,
    queued: VecDeque<Event<'static>>,
    /// Preamble bytes, or the current entry's body, or the current COPY tail.
    text: Vec<u8>,
    current: Option<Entry>,
    pending: Vec<u8>,
    pending_state: Pending,
    /// Where `--` opened the header candidate inside `pending`.
    header_start: usize,
    header: EntryHeader,
    name_line: Range<usize>,
    header_line: u64,
    /// Where `-- Completed on` started inside `pending`, if seen.
    completed_start: Option<usize>,
    tablespace: Option<String>,
    tableam: Option<String>,
    /// The line on which the string, comment or statement still open at the current line began.
    open_since: u64,
    /// `schema.table` of the COPY block being read, for messages.
    copy_table: String,
    end_marker: memmem::Finder<'static>,
    /// `\.\r\n` after a row: psql ends COPY data there too.
    cr_end_marker: memmem::Finder<'static>,
    /// psql's lexer, with standard_conforming_strings on and off (see `psql_lex`).
    lex: [Lexer; 2],
    /// Where in `text` the line that began an open COPY statement starts.
    copy_start: Option<usize>,
    /// Where the rows of the last `CopyRows` event lie in `buf` (see `take_last_rows`).
    last_rows: Range<usize>,
}

/// The longest statement read across lines (names with newlines: COPY, ALTER TABLE … TRIGGER ALL).
const MAX_STATEMENT: usize = 1 << 20;

/// The value of `SET default_tablespace` / `default_table_access_method`: a name, unquoted.
fn setting_name(v: &str) -> String {
    let v = v.trim_matches('\'');
    match crate::dump::ident::parse_ident(v) {
        Some((name, "")) => name,
        _ => v.to_string(),
    }
}

fn is_state_line(line: &[u8]) -> bool {
    (line.starts_with(b"SET default_tablespace = ")
        || line.starts_with(b"SET default_table_access_method = ")
        || line.starts_with(b"SET SESSION AUTHORIZATION ")
        || line == b"RESET SESSION AUTHORIZATION;\n")
        && line.ends_with(b";\n")
}

fn line_str(line: &[u8]) -> &str {
    std::str::from_utf8(line)
        .unwrap_or("")
        .trim_end_matches('\n')
}

impl<R: Read> DumpReader<R> {
    pub fn new(src: R) -> Self {
        Self::with_batch_bytes(src, DEFAULT_BATCH_BYTES)
    }

    /// A reader that hands out COPY rows in batches of about `batch_bytes` (whole rows; a row longer
    /// than that is handed out alone).
    pub fn with_batch_bytes(src: R, batch_bytes: usize) -> Self {
        let batch_bytes = batch_bytes.max(1);
        DumpReader {
            src,
            buf: vec![0; (batch_bytes * 2).max(64 * 1024)],
            pos: 0,
            end: 0,
            eof: false,
            line: 0,
            batch_bytes,
            state: State::Preamble,
            open_since: 0,
            queued: VecDeque::new(),
            text: Vec::new(),
            current: None,
            pending: Vec::new(),
            pending_state: Pending::Empty,
            header_start: 0,
            header: EntryHeader::default(),
            name_line: 0..0,
            header_line: 0,
            completed_start: None,
            tablespace: None,
            tableam: None,
            copy_table: String::new(),
            end_marker: memmem::Finder::new(b"\n\\.\n").into_owned(),
            cr_end_marker: memmem::Finder::new(b"\n\\.\r\n").into_owned(),
            lex: [Lexer::new(true), Lexer::new(false)],
            copy_start: None,
            last_rows: 0..0,
        }
    }

    /// The number of input lines consumed so far.
    pub fn line(&self) -> u64 {
        self.line
    }

    /// The rows of the last `CopyRows` event, owned (until the next event). Rows that fill most of
    /// a buffer grown for them (one huge row) take the buffer itself instead of a copy, so that the
    /// row is held once, not twice, while it is masked; the reader goes on with a fresh buffer.
    pub fn take_last_rows(&mut self) -> Vec<u8> {
        let rows = std::mem::replace(&mut self.last_rows, 0..0);
        let base = (self.batch_bytes * 2).max(64 * 1024);
        if self.buf.len() <= base || rows.len() * 2 < self.buf.len() {
            return self.buf[rows].to_vec();
        }
        let rest = self.end - self.pos;
        let mut fresh = vec![0u8; base.max(rest.next_power_of_two())];
        fresh[..rest].copy_from_slice(&self.buf[self.pos..self.end]);
        let mut taken = std::mem::replace(&mut self.buf, fresh);
        self.pos = 0;
        self.end = rest;
        taken.truncate(rows.end);
        taken.drain(..rows.start);
        // Give back what was read past the rows (glibc shrinks a large block in place).
        taken.shrink_to_fit();
        taken
    }

    /// Make at least `want` unread bytes available, unless the input ends first. Returns what is available.
    fn fill(&mut self, want: usize) -> Result<usize, DumpError> {
        while self.end - self.pos < want && !self.eof {
            if self.pos > 0 {
                self.buf.copy_within(self.pos..self.end, 0);
                self.end -= self.pos;
                self.pos = 0;
            }
            if self.end == self.buf.len() {
                // A line longer than the buffer (a huge field): double it. A fresh zeroed
                // allocation rather than `resize`: large ones come zeroed from the kernel and stay
                // unmapped until read into, so memory grows with the line, not with the capacity.
                let mut grown = vec![0u8; self.buf.len() * 2];
                grown[..self.end].copy_from_slice(&self.buf[..self.end]);
                self.buf = grown;
            }
            match self.src.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(n) => self.end += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(self.end - self.pos)
    }

    /// The next whole line (with its `\n`), copied into `out`. `false` at end of input.
    /// A last line without newline is an error: pg_dump always ends its output with one.
    fn next_line(&mut self, out: &mut Vec<u8>) -> Result<bool, DumpError> {
        out.clear();
        let mut searched = 0;
        loop {
            if let Some(i) = memchr::memchr(b'\n', &self.buf[self.pos + searched..self.end]) {
                let stop = self.pos + searched + i + 1;
                out.extend_from_slice(&self.buf[self.pos..stop]);
                self.pos = stop;
                self.line += 1;
                return Ok(true);
            }
            searched = self.end - self.pos;
            if self.eof {
                if searched == 0 {
                    return Ok(false);
                }
                return Err(DumpError::Truncated {
                    line: self.line + 1,
                    context: "in the middle of a line".into(),
                });
            }
            self.fill(searched + 1)?;
        }
    }

    /// Run one line (just read: it is line `self.line`) through psql's lexer.
    fn lex(&mut self, line: &[u8]) -> Result<LineScan, DumpError> {
        let lineno = self.line;
        if memchr::memchr(0, line).is_some() {
            return Err(DumpError::NulByte { line: lineno });
        }
        if line.starts_with(b"SET client_encoding = '") {
            // In these encodings a byte of a multibyte character can look like a quote or a
            // backslash; psql lexes them by the encoding, pgveil does not.
            let text = String::from_utf8_lossy(line);
            let value = text.trim_end()["SET client_encoding = '".len()..]
                .trim_end_matches(';')
                .trim_end_matches('\'')
                .to_ascii_uppercase();
            if CLIENT_ONLY_ENCODINGS.contains(&value.as_str()) {
                return Err(DumpError::ClientEncoding {
                    line: lineno,
                    encoding: value,
                });
            }
        }
        if self.lex.iter().all(Lexer::idle) && psql_lex::is_allowed_meta_line(line) {
            return Ok(LineScan::default());
        }
        let scan = self.lex[0].line(line, lineno)?;
        let other = self.lex[1].line(line, lineno)?;
        if !self.lex[0].same_state(&self.lex[1])
            || scan.copy_in.is_some() != other.copy_in.is_some()
        {
            return Err(DumpError::AmbiguousString { line: lineno });
        }
        Ok(scan)
    }

    /// The COPY statement psql would run, as pgveil masks it.
    fn parse_copy(ci: &CopyIn) -> Result<CopyStmt, DumpError> {
        let copy =
            CopyStmt::parse_statement(&ci.text).ok_or_else(|| DumpError::UnmaskableCopy {
                line: ci.first_line,
                stmt: String::from_utf8_lossy(&ci.text).into_owned(),
            })?;
        if copy.schema.is_none() {
            return Err(DumpError::UnqualifiedCopy {
                line: ci.first_line,
                table: copy.table,
            });
        }
        Ok(copy)
    }

    /// The next event, or `None` after the trailer.
    pub fn next_event(&mut self) -> Result<Option<Event<'_>>, DumpError> {
        if self.state == State::Preamble && self.line == 0 {
            self.fill(5)?;
            if self.buf[self.pos..self.end].starts_with(b"PGDMP") {
                return Err(DumpError::CustomFormat);
            }
        }
        let mut line = Vec::new();
        loop {
            if let Some(ev) = self.queued.pop_front() {
                return Ok(Some(ev));
            }
            match self.state {
                State::Done => return Ok(None),
                State::Copy => {
                    if let Some(range) = self.next_copy_rows()? {
                        self.pos = range.end;
                        self.last_rows = range.clone();
                        let rows = &self.buf[range];
                        // psql also ends the data at `\.\r\n`: what follows would run as SQL.
                        let cr_end = if rows.starts_with(b"\\.\r\n") {
                            Some(0)
                        } else {
                            self.cr_end_marker.find(rows).map(|i| i + 1)
                        };
                        if let Some(at) = cr_end {
                            let line = self.line
                                + 1
                                + memchr::memchr_iter(b'\n', &rows[..at]).count() as u64;
                            return Err(DumpError::CopyEndWithCr {
                                line,
                                table: self.copy_table.clone(),
                            });
                        }
                        let row_count = memchr::memchr_iter(b'\n', rows).count() as u64;
                        let first_line = self.line + 1;
                        self.line += row_count;
                        return Ok(Some(Event::CopyRows {
                            rows,
                            first_line,
                            row_count,
                        }));
                    }
                }
                _ => {
                    if !self.next_line(&mut line)? {
                        return Err(self.truncated());
                    }
                    self.top_level_line(&line)?;
                }
            }
        }
    }

    fn truncated(&self) -> DumpError {
        // An input that ends in what should be pg_dump's preamble may be no pg_dump stream at all
        // (pg_dumpall --globals-only has no entry): that says more than "truncated".
        if self.state == State::Preamble {
            let mut text = self.text.clone();
            text.extend_from_slice(&self.pending);
            if let Err(e) = Preamble::parse(text) {
                return e;
            }
        }
        let context = match (&self.state, &self.current) {
            (State::Preamble, _) => "in the preamble".to_string(),
            (_, Some(e)) => format!(
                "after entry \"{}\" ({}, line {})",
                e.header.tag, e.header.desc, e.line
            ),
            _ => String::new(),
        };
        DumpError::Truncated {
            line: self.line,
            context,
        }
    }

    /// The range of the next batch of whole COPY rows, or `None` after consuming the `\.` line
    /// (the state then moves on to the COPY tail).
    fn next_copy_rows(&mut self) -> Result<Option<Range<usize>>, DumpError> {
        let mut avail = self.fill(self.batch_bytes + 3)?;
        loop {
            let window = &self.buf[self.pos..self.end];
            if window.starts_with(b"\\.\n") {
                self.pos += 3;
                self.line += 1;
                self.text.clear();
                self.text.extend_from_slice(b"\\.\n");
                self.state = State::CopyTail;
                return Ok(None);
            }
            let limit = window.len().min(self.batch_bytes + 3);
            if let Some(i) = self.end_marker.find(&window[..limit]) {
                return Ok(Some(self.pos..self.pos + i + 1));
            }
            let cut_limit = window.len().min(self.batch_bytes);
            if let Some(i) = memchr::memrchr(b'\n', &window[..cut_limit]) {
                return Ok(Some(self.pos..self.pos + i + 1));
            }
            // No whole row within one batch: a long row, or the input ran out.
            if let Some(i) = memchr::memchr(b'\n', window) {
                return Ok(Some(self.pos..self.pos + i + 1));
            }
            if self.eof {
                return Err(DumpError::UnterminatedCopy {
                    line: self.line + 1,
                    table: self.copy_table.clone(),
                });
            }
            avail = self.fill(avail * 2)?;
        }
    }

    /// Handle one line outside COPY rows.
    fn top_level_line(&mut self, line: &[u8]) -> Result<(), DumpError> {
        let quoted_before = self.lex[0].in_quote();
        let idle_before = self.lex[0].idle();
        let scan = self.lex(line)?;
        if idle_before && !self.lex[0].idle() {
            self.open_since = self.line;
        }
        if let Some(ci) = scan.copy_in {
            return self.stray_copy(line, ci);
        }
        if idle_before && self.lex[0].idle() {
            // Whole statements, comments or blank: maybe (part of) an entry header.
            return self.classify_line(line);
        }
        // pg_dump's preamble is one-line statements: a string or statement left open there would
        // swallow what follows (entry headers, COPY statements and their rows) into text that
        // psql does not run and pgveil would not mask.
        if self.state == State::Preamble {
            return Err(DumpError::BadHeader {
                line: if idle_before { self.line } else { self.open_since },
                why: "a string or statement of the preamble is not closed on its line (pg_dump writes one-line statements there); what follows would be read as text, not as entries and data".into(),
            });
        }
        // A whole COPY … FROM stdin line inside a string, quoted name, comment or unfinished
        // statement: psql does not run it, so the lines after it are text — unmasked rows, if they
        // are rows. pg_dump only writes such lines inside function bodies (dollar quotes).
        if is_copy_like(line) && !(quoted_before && self.lex[0].in_dollar_quote()) {
            return Err(DumpError::BadHeader {
                line: self.line,
                why: format!(
                    "a COPY … FROM stdin line inside {} that began on line {}: psql would not run it, and the lines after it would pass unmasked",
                    if quoted_before { "a string, quoted name or comment" } else { "an unfinished statement" },
                    self.open_since
                ),
            });
        }
        // A line of a statement, string or function body that spans lines: text, never a header.
        if !quoted_before && is_header_like(line) {
            return Err(DumpError::BadHeader {
                line: self.line,
                why: "an entry header line inside an unterminated statement".into(),
            });
        }
        self.flush_pending_checked(line)?;
        if scan.copy_open_started_here {
            self.copy_start = Some(self.text.len());
        }
        self.body_line(line);
        Ok(())
    }

    /// A COPY … FROM stdin outside a TABLE DATA entry of its own (in the preamble, in an entry's
    /// body, after the data of another COPY): psql runs it and reads the next lines as its data,
    /// so pgveil masks them by the statement. What was read so far ends before the statement's
    /// first line; the statement becomes the text of a stray data entry.
    fn stray_copy(&mut self, line: &[u8], ci: CopyIn) -> Result<(), DumpError> {
        let copy = Self::parse_copy(&ci)?;
        if self.state == State::RawData {
            return Err(DumpError::CopyInBlobs {
                line: ci.first_line,
            });
        }
        self.flush_pending_checked(line)?;
        let start = if ci.first_line == self.line {
            self.text.len()
        } else {
            self.copy_start.take().unwrap_or(0).min(self.text.len())
        };
        self.text.extend_from_slice(line);
        let stmt = self.text.split_off(start);
        self.close_current()?;
        let header = EntryHeader {
            has_data: true,
            tag: copy.table.clone(),
            desc: "TABLE DATA".into(),
            namespace: copy.schema.clone(),
            ..EntryHeader::default()
        };
        let len = stmt.len();
        let entry = Entry {
            header,
            line: ci.first_line,
            text: stmt,
            header_range: 0..0,
            name_line_range: 0..0,
            body_range: 0..len,
            owner_stmt_range: None,
            current_tablespace: self.tablespace.clone(),
            current_tableam: self.tableam.clone(),
            data_comment: None,
            stray: true,
            copy: Some(copy),
        };
        self.copy_table = entry
            .copy
            .as_ref()
            .map(CopyStmt::display_name)
            .unwrap_or_default();
        self.queued.push_back(Event::DataBegin(entry));
        self.state = State::Copy;
        Ok(())
    }

    /// Before lines held back as a possible header become text: a header that got as far as its
    /// `-- Name:` line (or `-- TOC entry` line) and then broke off is garbage, not text.
    fn flush_pending_checked(&mut self, line: &[u8]) -> Result<(), DumpError> {
        let broken = match self.pending_state {
            Pending::Named | Pending::Closed => true,
            Pending::Open => self.header.dump_id.is_some() || !self.header.dependencies.is_empty(),
            _ => false,
        };
        if broken {
            return Err(DumpError::BadHeader {
                line: self.line,
                why: format!(
                    "the entry header opened before this line is not closed as pg_dump closes it (\"--\" and a blank line after the \"-- Name:\" line); found {:?}",
                    String::from_utf8_lossy(line).trim_end()
                ),
            });
        }
        self.flush_pending();
        Ok(())
    }

    /// Handle one line between statements: state lines and header lines are held back until
    /// they are known to form an entry header.
    fn classify_line(&mut self, line: &[u8]) -> Result<(), DumpError> {
        use Pending::*;
        let verdict = match self.pending_state {
            Empty | StateLines if is_state_line(line) => Some(StateLines),
            StateLines if line == b"\n" => Some(StateLines),
            Empty | StateLines | Completed if line == b"--\n" => {
                self.header_start = self.pending.len();
                self.header = EntryHeader::default();
                Some(Open)
            }
            Empty if line.starts_with(b"-- Completed on ") => {
                self.completed_start = Some(self.pending.len());
                Some(Completed)
            }
            Completed if line == b"\n" => Some(Completed),
            Open if line.starts_with(b"-- TOC entry ") => {
                match EntryHeader::parse_toc_line(line_str(line)) {
                    Some((id, cat)) => {
                        self.header.dump_id = Some(id);
                        self.header.catalog_id = cat;
                        Some(Open)
                    }
                    None => return Err(self.bad_header_line(line)),
                }
            }
            Open if line.starts_with(b"-- Dependencies:") => {
                match EntryHeader::parse_dependencies_line(line_str(line)) {
                    Some(deps) => {
                        self.header.dependencies = deps;
                        Some(Open)
                    }
                    None => return Err(self.bad_header_line(line)),
                }
            }
            Open if line == b"-- PostgreSQL database dump complete\n" => {
                self.pending.extend_from_slice(line);
                return self.start_trailer();
            }
            Open => match EntryHeader::parse_name_line(line_str(line)) {
                Some(h) => {
                    let (id, cat, deps) = (
                        self.header.dump_id,
                        self.header.catalog_id,
                        std::mem::take(&mut self.header.dependencies),
                    );
                    self.header = h;
                    self.header.dump_id = id;
                    self.header.catalog_id = cat;
                    self.header.dependencies = deps;
                    let start = self.pending.len();
                    self.name_line = start..start + line.len() - 1;
                    self.header_line = self.line;
                    if !KNOWN_DESCS.contains(&self.header.desc.as_str()) {
                        return Err(DumpError::BadHeader {
                            line: self.line,
                            why: format!(
                                "entry header of an unknown type {:?} (not one pg_dump writes)",
                                self.header.desc
                            ),
                        });
                    }
                    Some(Named)
                }
                None if is_header_like(line) => return Err(self.bad_header_line(line)),
                None => None,
            },
            Named if line == b"--\n" => Some(Closed),
            Closed if line == b"\n" => {
                self.pending.extend_from_slice(line);
                return self.start_entry();
            }
            _ => None,
        };
        match verdict {
            Some(next) => {
                self.pending.extend_from_slice(line);
                self.pending_state = next;
            }
            None => {
                // Not a header after all: what was held back is ordinary text. The current line may
                // itself begin a header, so it is classified again from scratch.
                let was_empty = self.pending_state == Empty;
                self.flush_pending_checked(line)?;
                if was_empty {
                    if is_header_like(line) {
                        return Err(DumpError::BadHeader {
                            line: self.line,
                            why: "an entry header line out of place (pg_dump opens a header with a \"--\" line)".into(),
                        });
                    }
                    self.body_line(line);
                } else {
                    self.classify_line(line)?;
                }
            }
        }
        Ok(())
    }

    fn bad_header_line(&self, line: &[u8]) -> DumpError {
        DumpError::BadHeader {
            line: self.line,
            why: format!(
                "cannot parse the entry header line {:?}",
                String::from_utf8_lossy(line).trim_end()
            ),
        }
    }

    fn flush_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() {
            self.body_line(&pending);
        }
        self.pending = pending;
        self.pending.clear();
        self.pending_state = Pending::Empty;
        self.completed_start = None;
    }

    fn body_line(&mut self, bytes: &[u8]) {
        if self.state == State::RawData {
            self.queued.push_back(Event::RawData(bytes.to_vec()));
        } else {
            self.text.extend_from_slice(bytes);
        }
    }

    /// Close whatever is open (preamble, entry body, data tail) as an event.
    fn close_current(&mut self) -> Result<(), DumpError> {
        let text = std::mem::take(&mut self.text);
        match self.state {
            State::Preamble => self
                .queued
                .push_back(Event::Preamble(Preamble::parse(text)?)),
            State::Body => {
                let mut entry = self.current.take().expect("a body belongs to an entry");
                let body_start = entry.text.len();
                entry.text.extend_from_slice(&text);
                entry.body_range = body_start..entry.text.len();
                // With `pg_dump --create` the DATABASE entry goes on after its owner statement with
                // `\connect` (between `\unrestrict` / `\restrict`) and a repeat of the session set-up.
                let body = &entry.text[body_start..];
                let searched = if entry.header.desc == "DATABASE" {
                    crate::dump::entry::database_statements_end(body)
                } else {
                    body.len()
                };
                entry.owner_stmt_range = find_owner_stmt(&body[..searched])
                    .map(|r| r.start + body_start..r.end + body_start);
                self.queued.push_back(Event::Entry(entry));
            }
            State::CopyTail | State::RawData => self.queued.push_back(Event::DataEnd(text)),
            State::Copy | State::Done => unreachable!("no header is recognised inside COPY rows"),
        }
        Ok(())
    }

    /// A complete header is in `pending`: close the previous piece and open the new entry.
    fn start_entry(&mut self) -> Result<(), DumpError> {
        self.close_current()?;
        let text = std::mem::take(&mut self.pending);
        self.pending_state = Pending::Empty;
        self.completed_start = None;
        // The state lines before the header apply from this entry on.
        for l in text[..self.header_start].split_inclusive(|&b| b == b'\n') {
            let l = line_str(l);
            if let Some(v) = l.strip_prefix("SET default_tablespace = ") {
                // `''` (the default), or a name, quoted as an identifier where needed (always with
                // --quote-all-identifiers).
                let v = v.trim_end().trim_end_matches(';');
                self.tablespace = Some(if v == "''" {
                    String::new()
                } else {
                    setting_name(v)
                });
            } else if let Some(v) = l.strip_prefix("SET default_table_access_method = ") {
                self.tableam = Some(setting_name(v.trim_end().trim_end_matches(';')));
            }
        }
        let header = std::mem::take(&mut self.header);
        let mut entry = Entry {
            line: self.header_line,
            header_range: self.header_start..text.len(),
            name_line_range: self.name_line.clone(),
            body_range: text.len()..text.len(),
            owner_stmt_range: None,
            current_tablespace: self.tablespace.clone(),
            current_tableam: self.tableam.clone(),
            copy: None,
            data_comment: None,
            stray: false,
            text,
            header,
        };
        if entry.header.has_data && entry.header.desc == "TABLE DATA" {
            let table = match &entry.header.namespace {
                Some(ns) => format!("{ns}.{}", entry.header.tag),
                None => entry.header.tag.clone(),
            };
            // What pg_dump's archiver prints between the header and the COPY statement: with
            // `--load-via-partition-root` a comment naming the root table the rows go into (the
            // entry's definition in a custom archive); with `--disable-triggers` the statements
            // that turn the table's triggers off (pg_restore prints them again when asked); blank
            // lines. Every line goes through psql's lexer: a statement is whole before it is
            // judged (a quoted name may hold a newline), and one that hides a second statement
            // is not taken for one of these.
            let mut line = Vec::new();
            let mut stmt: Vec<u8> = Vec::new();
            let mut stmt_line = 0;
            let copy_in = loop {
                if !self.next_line(&mut line)? {
                    return Err(self.truncated());
                }
                let scan = self.lex(&line)?;
                if stmt.is_empty() {
                    stmt_line = self.line;
                }
                stmt.extend_from_slice(&line);
                if let Some(ci) = scan.copy_in {
                    break ci;
                }
                if !self.lex[0].idle() {
                    if stmt.len() > MAX_STATEMENT {
                        return Err(DumpError::NotCopyData {
                            line: stmt_line,
                            table,
                        });
                    }
                    continue;
                }
                let text = line_str(&stmt);
                let known = if stmt == b"\n" {
                    true
                } else if let Some(root) = text.strip_prefix("-- load via partition root ") {
                    entry.data_comment =
                        Some(format!("-- load via partition root {}", root.trim_end()));
                    !root.contains('\n')
                } else {
                    (text.starts_with("SET SESSION AUTHORIZATION ") && !text.contains('\n'))
                        || (text.starts_with("ALTER TABLE ")
                            && text.trim_end().ends_with(" DISABLE TRIGGER ALL;"))
                };
                if !known {
                    return Err(DumpError::NotCopyData {
                        line: stmt_line,
                        table,
                    });
                }
                entry.text.extend_from_slice(&stmt);
                entry.body_range = entry.text.len()..entry.text.len();
                stmt.clear();
            };
            // The COPY statement is the whole of the entry's last statement, from its first line.
            if copy_in.first_line != stmt_line || !stmt.starts_with(&copy_in.text) {
                return Err(DumpError::BadCopy {
                    line: copy_in.first_line,
                    table,
                    stmt: String::from_utf8_lossy(&stmt).trim_end().to_string(),
                });
            }
            let copy = Self::parse_copy(&copy_in)?;
            entry.text.extend_from_slice(&stmt);
            entry.body_range = entry.body_range.start..entry.text.len();
            self.copy_table = copy.display_name();
            entry.copy = Some(copy);
            self.queued.push_back(Event::DataBegin(entry));
            self.state = State::Copy;
        } else if entry.header.has_data {
            self.queued.push_back(Event::DataBegin(entry));
            self.state = State::RawData;
        } else {
            self.current = Some(entry);
            self.state = State::Body;
        }
        Ok(())
    }

    /// `-- PostgreSQL database dump complete` was read: the rest of the input is the trailer.
    fn start_trailer(&mut self) -> Result<(), DumpError> {
        let start = self.completed_start.unwrap_or(self.header_start);
        let mut trailer = self.pending.split_off(start);
        // Lines held back before the trailer (blank lines, state lines) belong to the previous piece.
        let before = std::mem::take(&mut self.pending);
        self.body_line(&before);
        self.close_current()?;
        let mut line = Vec::new();
        while self.next_line(&mut line)? {
            let ok = line == b"--\n"
                || line == b"\n"
                || (line.starts_with(b"\\unrestrict ") && psql_lex::is_allowed_meta_line(&line));
            if !ok {
                return Err(DumpError::AfterTrailer { line: self.line });
            }
            trailer.extend_from_slice(&line);
        }
        self.queued.push_back(Event::Trailer(trailer));
        self.state = State::Done;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) const SAMPLE: &str = "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\n-- Dumped from database version 15.18\n-- Dumped by pg_dump version 15.18\n\nSET statement_timeout = 0;\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n--\n-- Name: public; Type: SCHEMA; Schema: -; Owner: pg\n--\n\n-- *not* creating schema, since initdb creates it\n\n\nALTER SCHEMA public OWNER TO pg;\n\nSET default_tablespace = '';\n\nSET default_table_access_method = heap;\n\n--\n-- Name: t; Type: TABLE; Schema: public; Owner: pg\n--\n\nCREATE TABLE public.t (\n    id integer,\n    note text\n);\n\n\nALTER TABLE public.t OWNER TO pg;\n\n--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: pg\n--\n\nCOPY public.t (id, note) FROM stdin;\n1\ta\\tb\n2\t\\N\n3\t-- Name: x; Type: TABLE; Schema: s; Owner: o\n\\.\n\n\n--\n-- Name: TABLE t; Type: ACL; Schema: public; Owner: pg\n--\n\nGRANT SELECT ON TABLE public.t TO PUBLIC;\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n";

    fn collect(input: &[u8], batch: usize) -> Result<Vec<(String, Vec<u8>)>, DumpError> {
        let mut r = DumpReader::with_batch_bytes(input, batch);
        let mut out = Vec::new();
        while let Some(ev) = r.next_event()? {
            out.push(match ev {
                Event::Preamble(p) => ("preamble".into(), p.text),
                Event::Entry(e) => (format!("entry {}", e.header.desc), e.text),
                Event::DataBegin(e) => (format!("data {}", e.header.tag), e.text),
                Event::CopyRows { rows, .. } => ("rows".into(), rows.to_vec()),
                Event::RawData(d) => ("raw".into(), d),
                Event::DataEnd(d) => ("end".into(), d),
                Event::Trailer(t) => ("trailer".into(), t),
            });
        }
        Ok(out)
    }

    #[test]
    fn splits_and_reassembles_exactly() {
        for batch in [1, 2, 5, 64, 1 << 20] {
            let events = collect(SAMPLE.as_bytes(), batch).unwrap();
            let joined: Vec<u8> = events.iter().flat_map(|(_, b)| b.clone()).collect();
            assert_eq!(String::from_utf8(joined).unwrap(), SAMPLE, "batch {batch}");
            let kinds: Vec<&str> = events
                .iter()
                .map(|(k, _)| k.as_str())
                .filter(|k| *k != "rows")
                .collect();
            assert_eq!(
                kinds,
                [
                    "preamble",
                    "entry SCHEMA",
                    "entry TABLE",
                    "data t",
                    "end",
                    "entry ACL",
                    "trailer"
                ]
            );
            let rows: Vec<u8> = events
                .iter()
                .filter(|(k, _)| k == "rows")
                .flat_map(|(_, b)| b.clone())
                .collect();
            assert_eq!(
                rows,
                b"1\ta\\tb\n2\t\\N\n3\t-- Name: x; Type: TABLE; Schema: s; Owner: o\n"
            );
        }
    }

    #[test]
    fn entry_fields_and_portable_form() {
        let mut r = DumpReader::new(SAMPLE.as_bytes());
        let mut portable = Vec::new();
        let mut tables = Vec::new();
        while let Some(ev) = r.next_event().unwrap() {
            match ev {
                Event::Preamble(p) => {
                    assert_eq!(p.encoding.as_deref(), Some("UTF8"));
                    assert_eq!(p.standard_conforming_strings.as_deref(), Some("on"));
                    portable.extend_from_slice(&p.text);
                }
                Event::Entry(e) => {
                    if e.header.desc == "TABLE" {
                        assert_eq!(e.current_tablespace.as_deref(), Some(""));
                        assert_eq!(e.current_tableam.as_deref(), Some("heap"));
                        assert_eq!(e.owner_stmt(), Some("ALTER TABLE public.t OWNER TO pg;"));
                        tables.push(e.header.tag.clone());
                    }
                    e.write_portable(&mut portable);
                }
                Event::DataBegin(e) => {
                    assert_eq!(e.copy.as_ref().unwrap().columns, ["id", "note"]);
                    e.write_portable(&mut portable);
                }
                Event::CopyRows { rows, .. } => portable.extend_from_slice(rows),
                Event::RawData(d) | Event::DataEnd(d) | Event::Trailer(d) => {
                    portable.extend_from_slice(&d)
                }
            }
        }
        assert_eq!(tables, ["t"]);
        let s = String::from_utf8(portable).unwrap();
        assert!(!s.contains("OWNER TO"));
        assert!(!s.contains("GRANT"));
        assert!(s.contains("-- Name: t; Type: TABLE; Schema: public; Owner: -\n"));
    }

    #[test]
    fn pg_dumpall_globals_are_not_taken_for_a_truncated_dump() {
        let globals = "--\n-- PostgreSQL database cluster dump\n--\n\nSET default_transaction_read_only = off;\n\nCREATE ROLE app;\n";
        let mut r = DumpReader::new(globals.as_bytes());
        let err = loop {
            match r.next_event() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("pg_dumpall output read as a dump"),
                Err(e) => break e.to_string(),
            }
        };
        assert!(err.contains("pg_dumpall"), "{err}");
    }

    #[test]
    fn truncation_is_an_error_everywhere() {
        let full = SAMPLE.as_bytes();
        for cut in 1..full.len() - 1 {
            // Cutting inside the trailer's last blank lines is still a complete dump.
            let tail = &SAMPLE[cut..];
            if tail.trim_start_matches('\n').is_empty()
                || tail.starts_with("\n\\unrestrict")
                || SAMPLE[..cut].ends_with("\\unrestrict abc\n")
            {
                continue;
            }
            if cut > SAMPLE.find("-- PostgreSQL database dump complete").unwrap() {
                continue;
            }
            assert!(
                collect(&full[..cut], 7).is_err(),
                "cut at {cut} was accepted"
            );
        }
    }

    /// A source that hands out at most `chunk` bytes per read, to put read boundaries anywhere.
    struct Chunked<'a> {
        data: &'a [u8],
        chunk: usize,
    }

    impl Read for Chunked<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.chunk.min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    proptest::proptest! {
        #[test]
        fn read_boundaries_anywhere_give_the_same_events(chunk in 1usize..97, batch in 1usize..200) {
            let expected = collect(SAMPLE.as_bytes(), 1 << 20).unwrap();
            let expected_rows: Vec<u8> = expected.iter().filter(|(k, _)| k == "rows").flat_map(|(_, b)| b.clone()).collect();
            let mut r = DumpReader::with_batch_bytes(Chunked { data: SAMPLE.as_bytes(), chunk }, batch);
            let mut got = Vec::new();
            let mut rows = Vec::new();
            while let Some(ev) = r.next_event().unwrap() {
                match ev {
                    Event::CopyRows { rows: r, .. } => rows.extend_from_slice(r),
                    Event::Preamble(p) => got.push(("preamble".to_string(), p.text)),
                    Event::Entry(e) => got.push((format!("entry {}", e.header.desc), e.text)),
                    Event::DataBegin(e) => got.push((format!("data {}", e.header.tag), e.text)),
                    Event::RawData(d) => got.push(("raw".into(), d)),
                    Event::DataEnd(d) => got.push(("end".into(), d)),
                    Event::Trailer(t) => got.push(("trailer".into(), t)),
                }
            }
            let expected_other: Vec<(String, Vec<u8>)> = expected.into_iter().filter(|(k, _)| k != "rows").collect();
            proptest::prop_assert_eq!(got, expected_other);
            proptest::prop_assert_eq!(rows, expected_rows);
        }
    }

    #[test]
    fn lexes_like_psql_and_fails_closed() {
        // A function body holding a header and a COPY is one statement.
        let body = SAMPLE.replace(
            "ALTER TABLE public.t OWNER TO pg;\n",
            "ALTER TABLE public.t OWNER TO pg;\nCREATE FUNCTION f() AS $x$\n--\n-- Name: y; Type: TABLE; Schema: s; Owner: o\n--\n\nCOPY public.t (id) FROM stdin;\n$x$;\n",
        );
        let kinds: Vec<String> = collect(body.as_bytes(), 7)
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| k != "rows")
            .collect();
        assert_eq!(
            kinds
                .iter()
                .filter(|k| k.starts_with("entry TABLE"))
                .count(),
            1
        );
        // A COPY in an entry's body is a stray data entry, masked by its statement.
        let stray = SAMPLE.replace(
            "ALTER TABLE public.t OWNER TO pg;\n",
            "ALTER TABLE public.t OWNER TO pg;\nCOPY public.t (id, note) FROM stdin;\n9\tx\n\\.\n",
        );
        let mut r = DumpReader::new(stray.as_bytes());
        let mut strays = Vec::new();
        while let Some(ev) = r.next_event().unwrap() {
            if let Event::DataBegin(e) = ev {
                strays.push((e.stray, e.line, String::from_utf8(e.text).unwrap()));
            }
        }
        assert!(strays[0].0);
        assert_eq!(strays[0].2, "COPY public.t (id, note) FROM stdin;\n");
        assert!(!strays[1].0);
        for (bad, what) in [
            (
                "SET client_encoding = 'UTF8';",
                "SET client_encoding = 'SJIS';",
            ),
            ("Type: ACL;", "Type: AC\0L;"),
            ("Type: ACL;", "Type: ACLX;"),
            (
                "SELECT pg_catalog.set_config",
                "SELECT 'a\\'; SELECT pg_catalog.set_config",
            ),
            (
                "COPY public.t (id, note) FROM stdin;",
                "COPY t (id, note) FROM stdin;",
            ),
            ("\n\\.\n", "\n\\.\r\n\\.\n"),
        ] {
            let input = SAMPLE.replace(bad, what);
            assert_ne!(input, SAMPLE);
            assert!(
                collect(input.as_bytes(), 10).is_err(),
                "{what} was accepted"
            );
        }
    }

    #[test]
    fn rejects_custom_format_and_inserts() {
        assert!(matches!(
            collect(b"PGDMP\x01\x0e", 10),
            Err(DumpError::CustomFormat)
        ));
        let inserts = SAMPLE.replace(
            "COPY public.t (id, note) FROM stdin;",
            "INSERT INTO public.t VALUES (1, 'a');",
        );
        assert!(matches!(
            collect(inserts.as_bytes(), 10),
            Err(DumpError::NotCopyData { .. })
        ));
        let unterminated = SAMPLE.replace("\\.\n", "");
        assert!(collect(unterminated.as_bytes(), 10).is_err());
    }
}
