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

use super::entry::{find_owner_stmt, CopyStmt, Entry, EntryHeader};
use super::psql_lex::{self, CopyIn, Lexer, LineScan};

/// Default size of a batch of COPY rows handed out at once.
pub const DEFAULT_BATCH_BYTES: usize = 1 << 20;

mod entries;
mod error;
#[cfg(test)]
pub(crate) mod tests;

pub use error::DumpError;

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
}
