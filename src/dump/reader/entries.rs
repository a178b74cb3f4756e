//! The reader's lines outside COPY rows: the session state lines, entry headers (`-- Name: …`), entry
//! bodies, the COPY statements that open data, stray COPY statements psql would run, and the trailer.
//! The methods belong to [`DumpReader`]; they live here so that the buffering and batching of COPY
//! rows (the parent module) and the classification of the other lines read apart.
//!
//! (`start_entry` is over 100 lines: it checks one header block's fields in the order pg_dump writes
//! them, each with the error that names the line; split, the order would no longer read.)

use std::io::Read;

use super::*;

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

impl<R: Read> DumpReader<R> {
    /// Handle one line outside COPY rows.
    pub(super) fn top_level_line(&mut self, line: &[u8]) -> Result<(), DumpError> {
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
    pub(super) fn stray_copy(&mut self, line: &[u8], ci: CopyIn) -> Result<(), DumpError> {
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
    pub(super) fn flush_pending_checked(&mut self, line: &[u8]) -> Result<(), DumpError> {
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
    pub(super) fn classify_line(&mut self, line: &[u8]) -> Result<(), DumpError> {
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

    pub(super) fn bad_header_line(&self, line: &[u8]) -> DumpError {
        DumpError::BadHeader {
            line: self.line,
            why: format!(
                "cannot parse the entry header line {:?}",
                String::from_utf8_lossy(line).trim_end()
            ),
        }
    }

    pub(super) fn flush_pending(&mut self) {
        let pending = std::mem::take(&mut self.pending);
        if !pending.is_empty() {
            self.body_line(&pending);
        }
        self.pending = pending;
        self.pending.clear();
        self.pending_state = Pending::Empty;
        self.completed_start = None;
    }

    pub(super) fn body_line(&mut self, bytes: &[u8]) {
        if self.state == State::RawData {
            self.queued.push_back(Event::RawData(bytes.to_vec()));
        } else {
            self.text.extend_from_slice(bytes);
        }
    }

    /// Close whatever is open (preamble, entry body, data tail) as an event.
    pub(super) fn close_current(&mut self) -> Result<(), DumpError> {
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
    pub(super) fn start_entry(&mut self) -> Result<(), DumpError> {
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
    pub(super) fn start_trailer(&mut self) -> Result<(), DumpError> {
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
