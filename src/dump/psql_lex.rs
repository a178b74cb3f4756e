//! A model of how psql splits a script into statements (its lexer, `psqlscan.l`): string literals,
//! quoted identifiers, dollar quotes, comments, parentheses and backslash meta-commands.
//!
//! The reader runs every line outside COPY data through it, so that it sees each statement psql
//! would send, wherever it sits: in particular every `COPY … FROM stdin`, after which psql reads the
//! following lines of the script as data. Text inside a string or a function body is never taken for
//! a statement or an entry header.
//!
//! Where the dump could be read two ways, the reader fails rather than guess: meta-commands other
//! than those pg_dump writes, and strings whose end depends on `standard_conforming_strings` (the
//! reader runs one lexer per setting and stops when they disagree, since SQL in the dump can change
//! the setting psql lexes with).
//!
//! `Lexer::line` is one state machine over a line (about 170 lines): its states share the line's
//! cursor and the statement's COPY text, so it stays whole; the quoting rules it applies are
//! `sql::lexer`'s.

use crate::sql::lexer::{self, is_ident_cont, is_ident_start};

/// Where the lexer is inside a construct that spans lines.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Quote {
    None,
    /// `'…'`; `backslash`: a backslash escapes the next character (`E'…'`, or any string when
    /// `standard_conforming_strings` is off).
    Single {
        backslash: bool,
    },
    /// `"…"`.
    Double,
    /// `$tag$…$tag$` (the delimiter, both dollars included).
    Dollar(Vec<u8>),
    /// `/* … */`, nested to the given depth.
    Block(u32),
}

/// A `COPY … FROM stdin` statement that ended on the line just lexed: psql reads the next lines as
/// its data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyIn {
    /// The statement, from `COPY` to its `;`.
    pub text: Vec<u8>,
    /// The input line on which it starts.
    pub first_line: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LexError {
    #[error("line {line}: psql meta-command \\{name}: {why}")]
    MetaCommand {
        line: u64,
        name: String,
        why: &'static str,
    },
    #[error("line {line}: {what} after a COPY … FROM stdin statement on the same line (psql would run it after the data)")]
    AfterCopy { line: u64, what: &'static str },
    #[error("line {line}: psql would replace :{name} with the value of its variable {name} and lex that as SQL; pgveil cannot tell what psql would run")]
    Variable { line: u64, name: String },
    #[error("line {line}: a COPY statement longer than {max} bytes")]
    CopyTooLong { line: u64, max: usize },
}

/// The longest COPY statement collected (its text is kept to parse it).
const MAX_COPY_STATEMENT: usize = 1 << 20;

#[derive(Debug, Clone)]
pub struct Lexer {
    std_strings: bool,
    quote: Quote,
    paren: u32,
    /// A statement has begun (a token other than whitespace and comments).
    in_stmt: bool,
    /// The text of the current statement if it begins with the word COPY.
    copy: Option<Vec<u8>>,
    copy_line: u64,
}

/// What the reader needs of the line just lexed.
#[derive(Debug, Default)]
pub struct LineScan {
    pub copy_in: Option<CopyIn>,
    /// A statement beginning with COPY began on this line and is still open at its end.
    pub copy_open_started_here: bool,
}

impl Lexer {
    pub fn new(std_strings: bool) -> Lexer {
        Lexer {
            std_strings,
            quote: Quote::None,
            paren: 0,
            in_stmt: false,
            copy: None,
            copy_line: 0,
        }
    }

    /// No statement is open and no quote or comment spans into the next line.
    pub fn idle(&self) -> bool {
        self.quote == Quote::None && !self.in_stmt
    }

    /// Inside a string, quoted identifier, dollar quote or block comment.
    pub fn in_quote(&self) -> bool {
        self.quote != Quote::None
    }

    /// Inside a dollar quote (a function body, as pg_dump writes them).
    pub fn in_dollar_quote(&self) -> bool {
        matches!(self.quote, Quote::Dollar(_))
    }

    /// A state to compare two lexers by (see the module doc).
    pub fn same_state(&self, other: &Lexer) -> bool {
        // The lexers differ in how a string escapes, not in where it is: compare where.
        let same_quote = match (&self.quote, &other.quote) {
            (Quote::Single { .. }, Quote::Single { .. }) => true,
            (a, b) => a == b,
        };
        same_quote && self.paren == other.paren && self.in_stmt == other.in_stmt
    }

    /// Lex one line (with its `\n`). `lineno` is its 1-based number in the input.
    pub fn line(&mut self, line: &[u8], lineno: u64) -> Result<LineScan, LexError> {
        let mut scan = LineScan::default();
        let mut i = 0;
        let n = line.len();
        // Where the COPY statement's text on this line begins (0 if it began on an earlier line).
        let mut copy_from = 0;
        let copy_open_before = self.copy.is_some();
        // The identifier being read, as (start, len), to tell `E'…'` / `U&'…'` prefixes.
        let mut word: Option<(usize, usize)> = None;
        while i < n {
            if self.quote != Quote::None {
                // Inside a construct that may span lines: scan to its end (the quoting rules are
                // sql::lexer's).
                let closed = match &mut self.quote {
                    Quote::Block(depth) => lexer::scan_block(line, i, depth),
                    Quote::Single { backslash } => lexer::scan_single(line, i, *backslash),
                    Quote::Double => lexer::scan_double(line, i),
                    Quote::Dollar(tag) => lexer::scan_dollar(line, i, tag),
                    Quote::None => Some(i),
                };
                match closed {
                    Some(end) => {
                        self.quote = Quote::None;
                        i = end;
                        continue;
                    }
                    None => break,
                }
            }
            let b = line[i];
            // Outside quotes.
            if b == b' ' || b == b'\t' || b == b'\n' || b == b'\r' || b == b'\x0c' {
                word = None;
                i += 1;
                continue;
            }
            if line[i..].starts_with(b"--") {
                break;
            }
            if line[i..].starts_with(b"/*") {
                self.quote = Quote::Block(1);
                word = None;
                i += 2;
                continue;
            }
            if b == b'\\' {
                return Err(self.meta_command(line, i, lineno));
            }
            if !self.in_stmt {
                self.in_stmt = true;
                let is_copy = line.len() >= i + 4
                    && line[i..i + 4].eq_ignore_ascii_case(b"copy")
                    && !line.get(i + 4).is_some_and(|&c| is_ident_cont(c));
                if is_copy {
                    self.copy = Some(Vec::new());
                    self.copy_line = lineno;
                    copy_from = i;
                }
            }
            match b {
                b'\'' => {
                    let backslash = lexer::escapes_backslash(line, i, word, self.std_strings);
                    self.quote = Quote::Single { backslash };
                    word = None;
                    i += 1;
                }
                b'"' => {
                    self.quote = Quote::Double;
                    word = None;
                    i += 1;
                }
                b'$' if word.is_none() => {
                    // `$tag$` opens a dollar quote; `$1` is a parameter.
                    if let Some(tag_end) = lexer::dollar_tag_end(line, i) {
                        self.quote = Quote::Dollar(line[i..tag_end].to_vec());
                        i = tag_end;
                    } else {
                        i += 1;
                        while i < n && line[i].is_ascii_digit() {
                            i += 1;
                        }
                    }
                }
                b':' if line.get(i + 1) == Some(&b':') => {
                    // A `::` cast.
                    word = None;
                    i += 2;
                }
                b':' => {
                    // `:NAME` is a psql variable, interpolated and lexed again: psql's own
                    // variables are upper case (`LAST_ERROR_MESSAGE`, `DBNAME`, …), which pg_dump
                    // never writes unquoted. `:'NAME'` / `:"NAME"` quote the value: harmless.
                    let name_end = line[i + 1..]
                        .iter()
                        .position(|&c| !(c.is_ascii_uppercase() || c.is_ascii_digit() || c == b'_'))
                        .map_or(n, |p| i + 1 + p);
                    let name = &line[i + 1..name_end];
                    let whole = !line.get(name_end).is_some_and(|&c| is_ident_cont(c));
                    if whole
                        && name
                            .first()
                            .is_some_and(|c| c.is_ascii_uppercase() || *c == b'_')
                    {
                        return Err(LexError::Variable {
                            line: lineno,
                            name: String::from_utf8_lossy(name).into_owned(),
                        });
                    }
                    word = None;
                    i += 1;
                }
                b'(' => {
                    self.paren += 1;
                    word = None;
                    i += 1;
                }
                b')' => {
                    self.paren = self.paren.saturating_sub(1);
                    word = None;
                    i += 1;
                }
                b';' if self.paren == 0 => {
                    i += 1;
                    self.in_stmt = false;
                    word = None;
                    if let Some(mut text) = self.copy.take() {
                        text.extend_from_slice(&line[copy_from..i]);
                        if super::entry::CopyStmt::reads_stdin(&text) {
                            let rest = &line[i..];
                            let blank = rest
                                .iter()
                                .all(|c| matches!(c, b' ' | b'\t' | b'\r' | b'\n'));
                            if !blank {
                                return Err(LexError::AfterCopy {
                                    line: lineno,
                                    what: "text",
                                });
                            }
                            scan.copy_in = Some(CopyIn {
                                text,
                                first_line: self.copy_line,
                            });
                            return Ok(scan);
                        }
                    }
                }
                _ if is_ident_cont(b) => {
                    match &mut word {
                        Some((_, l)) => *l += 1,
                        None if is_ident_start(b) => word = Some((i, 1)),
                        None => {}
                    }
                    i += 1;
                }
                _ => {
                    word = None;
                    i += 1;
                }
            }
        }
        if let Some(text) = &mut self.copy {
            text.extend_from_slice(&line[copy_from..]);
            if text.len() > MAX_COPY_STATEMENT {
                return Err(LexError::CopyTooLong {
                    line: self.copy_line,
                    max: MAX_COPY_STATEMENT,
                });
            }
            scan.copy_open_started_here = !copy_open_before;
        }
        Ok(scan)
    }

    /// A backslash outside quotes: psql runs a meta-command. pg_dump writes only `\connect`,
    /// `\restrict` and `\unrestrict`, each on a line of its own between statements; anything else
    /// (`\copy … from stdin` reads data from the script too, `\g` sends a statement, `\;` joins
    /// statements) is refused.
    fn meta_command(&self, line: &[u8], at: usize, lineno: u64) -> LexError {
        let name_end = line[at + 1..]
            .iter()
            .position(|c| !c.is_ascii_alphanumeric() && *c != b'_')
            .map_or(line.len(), |p| at + 1 + p);
        let name = String::from_utf8_lossy(&line[at + 1..name_end]).into_owned();
        let name = if name.is_empty() {
            String::from_utf8_lossy(line.get(at + 1..at + 2).unwrap_or_default()).into_owned()
        } else {
            name
        };
        let err = |why| LexError::MetaCommand {
            line: lineno,
            name: name.trim_end().to_string(),
            why,
        };
        if name.eq_ignore_ascii_case("copy") {
            return err("psql's \\copy is not pg_dump output; its data (from stdin) cannot be attributed or masked");
        }
        if !matches!(name.as_str(), "connect" | "restrict" | "unrestrict") {
            return err("pgveil reads only the meta-commands pg_dump writes (\\connect, \\restrict, \\unrestrict)");
        }
        if at != 0 || !self.idle() {
            return err("not on a line of its own between statements");
        }
        // The arguments: plain words and double-quoted ones, no further backslash, quote or
        // variable outside double quotes (psql would interpret them).
        let mut in_dq = false;
        for &c in &line[name_end..] {
            match c {
                b'"' => in_dq = !in_dq,
                b'\\' | b'\'' | b'`' | b':' if !in_dq => {
                    return err("arguments other than pg_dump writes them")
                }
                _ => {}
            }
        }
        if in_dq {
            return err("an unterminated quoted argument");
        }
        // The caller passes the lines pg_dump writes (`is_allowed_meta_line`) before lexing.
        err("not as pg_dump writes it")
    }
}

/// Whether `line` is a meta-command line pg_dump writes and psql runs as it reads (see
/// `Lexer::meta_command`); the reader passes such lines by the lexer when it is idle.
pub fn is_allowed_meta_line(line: &[u8]) -> bool {
    let Some(rest) = line.strip_prefix(b"\\") else {
        return false;
    };
    let name_end = rest
        .iter()
        .position(|c| !c.is_ascii_alphanumeric() && *c != b'_')
        .unwrap_or(rest.len());
    let (name, args) = rest.split_at(name_end);
    match name {
        b"restrict" | b"unrestrict" => {
            let key = args
                .strip_prefix(b" ")
                .and_then(|a| a.strip_suffix(b"\n"))
                .unwrap_or_default();
            !key.is_empty() && key.iter().all(|c| c.is_ascii_alphanumeric())
        }
        b"connect" => {
            if !args.starts_with(b" ") || !args.ends_with(b"\n") {
                return false;
            }
            let mut in_dq = false;
            for &c in args {
                match c {
                    b'"' => in_dq = !in_dq,
                    b'\\' | b'\'' | b'`' | b':' if !in_dq => return false,
                    _ => {}
                }
            }
            !in_dq
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lex_all(text: &str, std: bool) -> Result<Vec<(u64, String)>, LexError> {
        let mut l = Lexer::new(std);
        let mut out = Vec::new();
        for (i, line) in text.split_inclusive('\n').enumerate() {
            if l.idle() && is_allowed_meta_line(line.as_bytes()) {
                continue;
            }
            if let Some(c) = l.line(line.as_bytes(), i as u64 + 1)?.copy_in {
                out.push((c.first_line, String::from_utf8(c.text).unwrap()));
            }
        }
        Ok(out)
    }

    #[test]
    fn finds_copy_statements_where_psql_would_run_them() {
        let sql = "SELECT 1;\nCOPY public.t (a) FROM stdin;\n";
        assert_eq!(
            lex_all(sql, true).unwrap(),
            [(2, "COPY public.t (a) FROM stdin;".to_string())]
        );
        let sql = "SELECT 1; copy\n  public.t (\"a;\"\n) from STDIN ;\n";
        assert_eq!(lex_all(sql, true).unwrap()[0].0, 1);
        for hidden in [
            "SELECT $$\nCOPY public.t (a) FROM stdin;\n$$;\n",
            "SELECT $f$ $$\nCOPY public.t (a) FROM stdin;\n$f$;\n",
            "SELECT '\nCOPY public.t (a) FROM stdin;\n';\n",
            "SELECT E'\\'\nCOPY public.t (a) FROM stdin;\n';\n",
            "/* /* */\nCOPY public.t (a) FROM stdin;\n*/\n",
            "-- COPY public.t (a) FROM stdin;\n",
            "SELECT \"\nCOPY public.t (a) FROM stdin;\n\";\n",
            "COPY public.t (a) TO stdout;\n",
            "SELECT (\n1; COPY public.t (a) FROM stdin;\n);\n",
        ] {
            assert_eq!(lex_all(hidden, true).unwrap(), [], "{hidden}");
        }
        // With standard_conforming_strings off, a backslash escapes the quote.
        let sql = "SELECT 'a\\';\nCOPY public.t (a) FROM stdin;\n';\n";
        assert_eq!(lex_all(sql, false).unwrap(), []);
        assert_eq!(lex_all(sql, true).unwrap().len(), 1);
    }

    #[test]
    fn refuses_meta_commands_pg_dump_does_not_write() {
        for bad in [
            "\\copy public.t (a) from stdin\n",
            "SELECT 1 \\g\n",
            "SELECT 1 \\; COPY public.t (a) FROM stdin;\n",
            "\\i other.sql\n",
            "\\connect db \\copy t from stdin\n",
            "SELECT :LAST_ERROR_MESSAGE;\n",
        ] {
            assert!(lex_all(bad, true).is_err(), "{bad}");
        }
        assert!(lex_all("SELECT a[1:2], x::text, f(a := 1), :'X', b[lo:hi];\n", true).is_ok());
        assert!(lex_all(
            "\\connect -reuse-previous=on \"dbname='x'\"\n\\restrict abc\nSELECT 1;\n",
            true
        )
        .is_ok());
        assert!(matches!(
            lex_all("COPY public.t (a) FROM stdin; SELECT 1;\n", true),
            Err(LexError::AfterCopy { .. })
        ));
    }
}
