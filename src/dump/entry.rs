//! The model of one TOC entry as a plain `pg_dump` prints it: the parsed comment header
//! (`-- Name: …; Type: …; Schema: …; Owner: …`, plus `-- TOC entry` / `-- Dependencies` with `-v`),
//! the raw bytes of the entry, and where its body and trailing `ALTER … OWNER TO` statement lie.
//!
//! The raw bytes are kept so that an unmodified pass-through is byte-exact; the parsed fields feed the
//! rules (COPY columns), the portable rewrite (no owners, no ACLs) and the custom archive's TOC.

use std::ops::Range;

/// The fields of a `-- Name: …` header line and the optional `-v` lines before it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EntryHeader {
    /// `-- TOC entry N` (only in dumps taken with `pg_dump -v`).
    pub dump_id: Option<i32>,
    /// `(class C OID O)` from the same line.
    pub catalog_id: Option<(u32, u32)>,
    /// `-- Dependencies: …` (only with `-v`, and only pg_dump's "special" dependencies).
    pub dependencies: Vec<i32>,
    /// The header said `Data for Name:` (the entry has a data part: TABLE DATA, BLOBS).
    pub has_data: bool,
    pub tag: String,
    pub desc: String,
    /// `None` when the header says `Schema: -`.
    pub namespace: Option<String>,
    /// `None` when the header says `Owner: -`; `Some("")` when it says `Owner: ` (empty).
    pub owner: Option<String>,
    /// `; Tablespace: x` (only present when non-default).
    pub tablespace: Option<String>,
}

impl EntryHeader {
    /// Parse the `-- [Data for ]Name: …` line (without its trailing newline).
    pub fn parse_name_line(line: &str) -> Option<EntryHeader> {
        let rest = line.strip_prefix("-- ")?;
        let (has_data, rest) = match rest.strip_prefix("Data for Name: ") {
            Some(r) => (true, r),
            None => (false, rest.strip_prefix("Name: ")?),
        };
        // Tags may contain "; " themselves, so split on the field labels pg_dump prints, taking the
        // first "; Type: " and the last of the others (owners and schemas rarely contain them).
        let (tag, rest) = rest.split_once("; Type: ")?;
        let (desc, rest) = rest.split_once("; Schema: ")?;
        let (schema, rest) = rest.split_once("; Owner: ")?;
        let (owner, tablespace) = match rest.rsplit_once("; Tablespace: ") {
            Some((o, t)) => (o, Some(t.to_string())),
            None => (rest, None),
        };
        Some(EntryHeader {
            dump_id: None,
            catalog_id: None,
            dependencies: Vec::new(),
            has_data,
            tag: tag.to_string(),
            desc: desc.to_string(),
            namespace: (schema != "-").then(|| schema.to_string()),
            owner: (owner != "-").then(|| owner.to_string()),
            tablespace,
        })
    }

    /// Parse `-- TOC entry 217 (class 1259 OID 16423)`.
    pub fn parse_toc_line(line: &str) -> Option<(i32, Option<(u32, u32)>)> {
        let rest = line.strip_prefix("-- TOC entry ")?;
        let (id, rest) = rest.split_once(' ').unwrap_or((rest, ""));
        let id: i32 = id.parse().ok()?;
        let catalog = rest
            .strip_prefix("(class ")
            .and_then(|r| r.strip_suffix(')'))
            .and_then(|r| r.split_once(" OID "))
            .and_then(|(c, o)| Some((c.parse().ok()?, o.parse().ok()?)));
        Some((id, catalog))
    }

    /// Parse `-- Dependencies: 216 215`.
    pub fn parse_dependencies_line(line: &str) -> Option<Vec<i32>> {
        let rest = line.strip_prefix("-- Dependencies:")?;
        rest.split_whitespace().map(|d| d.parse().ok()).collect()
    }

    /// The `-- Name:` line as pg_dump prints it for the given owner display (`-` for none).
    pub fn name_line(&self, owner: Option<&str>) -> String {
        let mut s = format!(
            "-- {}Name: {}; Type: {}; Schema: {}; Owner: {}",
            if self.has_data { "Data for " } else { "" },
            self.tag,
            self.desc,
            self.namespace.as_deref().unwrap_or("-"),
            owner.unwrap_or("-"),
        );
        if let Some(ts) = &self.tablespace {
            s.push_str("; Tablespace: ");
            s.push_str(ts);
        }
        s
    }
}

/// A parsed `COPY schema.table (col, …) FROM stdin;` statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyStmt {
    pub schema: Option<String>,
    pub table: String,
    pub columns: Vec<String>,
}

/// A token of a COPY statement, as PostgreSQL's lexer sees it (comments and whitespace skipped).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    /// An unquoted word, folded to lower case as PostgreSQL folds identifiers and keywords.
    Word(String),
    /// A double-quoted identifier.
    Quoted(String),
    Punct(u8),
    /// Anything else (a string literal, a number, an operator).
    Other,
}

/// PostgreSQL truncates identifiers to NAMEDATALEN - 1 bytes (at a character boundary).
fn truncate_identifier(mut name: String) -> String {
    const MAX: usize = 63;
    if name.len() > MAX {
        let mut end = MAX;
        while !name.is_char_boundary(end) {
            end -= 1;
        }
        name.truncate(end);
    }
    name
}

/// The tokens of a statement, as the SQL lexer reads them (comments skipped), or `None` when it is
/// not UTF-8 or a literal, quoted name or comment is not closed.
fn tokens(text: &[u8]) -> Option<Vec<Token>> {
    use crate::sql::lexer::{self, TokenKind};
    lexer::statements(text)?;
    let text = std::str::from_utf8(text).ok()?;
    let token = |t: lexer::Token<'_>| match t.kind {
        TokenKind::Word => Token::Word(truncate_identifier(t.text.to_ascii_lowercase())),
        TokenKind::QuotedIdent => Token::Quoted(truncate_identifier(
            t.ident().unwrap_or_default().into_owned(),
        )),
        TokenKind::Punct => match t.text.as_bytes() {
            [c @ (b'(' | b')' | b',' | b'.' | b';')] => Token::Punct(*c),
            _ => Token::Other,
        },
        _ => Token::Other,
    };
    Some(lexer::tokens(text).map(token).collect())
}

fn name_of(t: Option<&Token>) -> Option<String> {
    match t? {
        Token::Word(w) | Token::Quoted(w) => Some(w.clone()),
        _ => None,
    }
}

impl CopyStmt {
    /// Parse the statement (with or without its newline): `COPY [schema.]table [(col, …)] FROM
    /// stdin;` in any case, spacing and comments PostgreSQL accepts. Names are folded and
    /// truncated as PostgreSQL does. `None` for any other statement (options, formats, `TO`).
    pub fn parse(line: &str) -> Option<CopyStmt> {
        CopyStmt::parse_statement(line.as_bytes())
    }

    pub fn parse_statement(text: &[u8]) -> Option<CopyStmt> {
        let toks = tokens(text)?;
        let mut it = toks.iter().peekable();
        if it.next()? != &Token::Word("copy".into()) {
            return None;
        }
        let first = name_of(it.next())?;
        let (schema, table) = if it.peek() == Some(&&Token::Punct(b'.')) {
            it.next();
            (Some(first), name_of(it.next())?)
        } else {
            (None, first)
        };
        let mut columns = Vec::new();
        if it.peek() == Some(&&Token::Punct(b'(')) {
            it.next();
            loop {
                columns.push(name_of(it.next())?);
                match it.next()? {
                    Token::Punct(b',') => {}
                    Token::Punct(b')') => break,
                    _ => return None,
                }
            }
        }
        let rest: Vec<&Token> = it.collect();
        let from_stdin = [&Token::Word("from".into()), &Token::Word("stdin".into())];
        let ok = rest.len() >= 2
            && rest[..2] == from_stdin
            && rest[2..].iter().all(|t| **t == Token::Punct(b';'))
            && rest.len() <= 3;
        ok.then_some(CopyStmt {
            schema,
            table,
            columns,
        })
    }

    /// Whether a COPY statement may make psql read data from the script: it names STDIN (a
    /// keyword, so an unquoted word). Such a statement that [`CopyStmt::parse_statement`] does not
    /// accept cannot be masked.
    pub fn reads_stdin(text: &[u8]) -> bool {
        match tokens(text) {
            Some(toks) => toks.contains(&Token::Word("stdin".into())),
            // Unreadable: assume the worst.
            None => true,
        }
    }

    /// `schema.table` for messages.
    pub fn display_name(&self) -> String {
        match &self.schema {
            Some(s) => format!("{s}.{}", self.table),
            None => self.table.clone(),
        }
    }
}

/// One TOC entry of a plain dump, with its raw text.
#[derive(Debug, Clone)]
pub struct Entry {
    pub header: EntryHeader,
    /// 1-based line number of the `-- Name:` header line in the input.
    pub line: u64,
    /// The raw bytes: state lines (`SET default_tablespace …`), the header comment block and the body.
    /// For a data entry the body stops after the `COPY … FROM stdin;` line (the rows stream separately).
    pub text: Vec<u8>,
    /// Where the header comment block (from its opening `--` line to the blank line after it) lies.
    pub header_range: Range<usize>,
    /// Where the `-- Name:` line lies (without newline), for rewriting the owner.
    pub name_line_range: Range<usize>,
    /// Where the body lies (after the header block).
    pub body_range: Range<usize>,
    /// The trailing `ALTER … OWNER TO …;\n\n` of a schema entry, if present (it is part of the body).
    pub owner_stmt_range: Option<Range<usize>>,
    /// `default_tablespace` in force for this entry (from the last state line seen), if any was set.
    pub current_tablespace: Option<String>,
    /// `default_table_access_method` in force for this entry, if any was set.
    pub current_tableam: Option<String>,
    /// For TABLE DATA entries: the parsed COPY statement (the line itself ends `text`).
    pub copy: Option<CopyStmt>,
    /// A COPY statement outside a TABLE DATA entry of its own (in the preamble, in another entry's
    /// body, a second COPY after an entry's data): `text` is the statement alone, the header is
    /// made from it and was not in the input. Masked by the statement in plain outputs; the custom
    /// archive has no entry to place it in.
    pub stray: bool,
    /// For TABLE DATA entries of `pg_dump --load-via-partition-root`: the `-- load via partition
    /// root …` comment before the COPY statement (without newline; it is in `text`, before the body).
    pub data_comment: Option<String>,
}

impl Entry {
    pub fn body(&self) -> &[u8] {
        &self.text[self.body_range.clone()]
    }

    /// The body without the trailing `ALTER … OWNER TO` statement.
    pub fn body_without_owner(&self) -> &[u8] {
        match &self.owner_stmt_range {
            Some(r) => &self.text[self.body_range.start..r.start],
            None => self.body(),
        }
    }

    /// The `ALTER … OWNER TO …;` line (without newline), if present.
    pub fn owner_stmt(&self) -> Option<&str> {
        let r = self.owner_stmt_range.clone()?;
        std::str::from_utf8(&self.text[r])
            .ok()
            .map(|s| s.trim_end())
    }

    /// Whether the entry describes the database itself: its `DATABASE` and `DATABASE PROPERTIES`
    /// entries and the comment, ACL or security label on it (tag `DATABASE name`). pg_dump prints them
    /// in a plain dump only with `--create`, but always puts them in a custom archive (for
    /// `pg_restore -C`).
    pub fn is_about_database(&self) -> bool {
        let h = &self.header;
        match h.desc.as_str() {
            "DATABASE" | "DATABASE PROPERTIES" => true,
            "COMMENT" | "ACL" | "SECURITY LABEL" => {
                h.namespace.is_none() && h.tag.starts_with("DATABASE ")
            }
            _ => false,
        }
    }

    /// Whether `pg_dump --no-acl` would leave this entry out.
    pub fn is_acl(&self) -> bool {
        matches!(self.header.desc.as_str(), "ACL" | "DEFAULT ACL")
    }

    /// Write the entry as `pg_dump --no-owner --no-acl` would have printed it: ACL entries vanish,
    /// headers say `Owner: -`, and the trailing `ALTER … OWNER TO` statement is dropped.
    pub fn write_portable(&self, out: &mut Vec<u8>) {
        if self.stray {
            out.extend_from_slice(&self.text);
            return;
        }
        if self.is_acl() {
            return;
        }
        let nl = &self.name_line_range;
        // `--use-set-session-authorization` state lines set the owner: --no-owner leaves them out
        // (each with the blank line after it).
        let mut skip_blank = false;
        for line in self.text[..self.header_range.start].split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b"SET SESSION AUTHORIZATION ")
                || line == b"RESET SESSION AUTHORIZATION;\n"
            {
                skip_blank = true;
                continue;
            }
            if !(skip_blank && line == b"\n") {
                out.extend_from_slice(line);
            }
            skip_blank = false;
        }
        out.extend_from_slice(&self.text[self.header_range.start..nl.start]);
        out.extend_from_slice(self.header.name_line(None).as_bytes());
        match &self.owner_stmt_range {
            Some(r) => {
                out.extend_from_slice(&self.text[nl.end..r.start]);
                out.extend_from_slice(&self.text[r.end..]);
            }
            None => out.extend_from_slice(&self.text[nl.end..]),
        }
    }
}

/// Where the statements of a DATABASE (or DATABASE PROPERTIES) entry end: with `pg_dump --create`
/// its body goes on with `\connect` (between `\unrestrict` and `\restrict`) and a repeat of the
/// session set-up, which belong to the script, not to the entry.
pub fn database_statements_end(body: &[u8]) -> usize {
    let mut pos = 0;
    for line in body.split_inclusive(|&b| b == b'\n') {
        if line.starts_with(b"\\connect ")
            || line.starts_with(b"\\unrestrict ")
            || line.starts_with(b"\\restrict ")
        {
            return pos;
        }
        pos += line.len();
    }
    body.len()
}

/// Find a trailing `ALTER … OWNER TO …;\n\n` in an entry body (pg_dump prints it after the defn and a
/// blank line). Returns the range relative to `body`. The body is split into statements by the SQL
/// lexer, so an `ALTER … OWNER TO` inside a function body, a literal or a comment is never taken
/// for it: only a last statement of its own, after a blank line, of the shape
/// `ALTER … OWNER TO role;` (the role one name, nothing after it).
pub fn find_owner_stmt(body: &[u8]) -> Option<Range<usize>> {
    use crate::sql::lexer::{statements, tokens, TokenKind};
    let trimmed = body.strip_suffix(b"\n\n")?;
    let last = statements(trimmed)?.pop()?;
    if last.end != trimmed.len() {
        return None;
    }
    // A comment before the statement (`-- *not* creating schema…`) belongs to the definition.
    let stmt = std::str::from_utf8(&trimmed[last.clone()]).ok()?;
    let toks: Vec<_> = tokens(stmt).collect();
    let start = last.start + toks.first()?.start;
    let n = toks.len();
    let shaped = trimmed[..start].ends_with(b"\n\n")
        && n >= 5
        && toks[0].is_word("ALTER")
        && toks[n - 4].is_word("OWNER")
        && toks[n - 3].is_word("TO")
        && matches!(toks[n - 2].kind, TokenKind::Word | TokenKind::QuotedIdent)
        && toks[n - 1].is_punct(';')
        && toks[n - 4].depth == 0;
    shaped.then_some(start..body.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the archive_reader fuzz target: a block comment holding a multibyte character
    /// made the tokenizer slice inside it.
    #[test]
    fn a_block_comment_with_multibyte_characters_is_skipped() {
        let copy = CopyStmt::parse_statement("COPY /* é, ü */ public.t (a) FROM stdin;".as_bytes())
            .expect("parsed");
        assert_eq!(copy.table, "t");
        assert_eq!(copy.columns, ["a"]);
        assert!(CopyStmt::parse_statement("COPY /* é".as_bytes()).is_none());
    }

    #[test]
    fn parses_header_lines() {
        let h = EntryHeader::parse_name_line(
            "-- Data for Name: Order Items; Type: TABLE DATA; Schema: CRM; Owner: app",
        )
        .unwrap();
        assert!(h.has_data);
        assert_eq!(h.tag, "Order Items");
        assert_eq!(h.desc, "TABLE DATA");
        assert_eq!(h.namespace.as_deref(), Some("CRM"));
        assert_eq!(h.owner.as_deref(), Some("app"));
        let h = EntryHeader::parse_name_line(
            "-- Name: x; Type: INDEX; Schema: s; Owner: ; Tablespace: fast",
        )
        .unwrap();
        assert_eq!(h.owner.as_deref(), Some(""));
        assert_eq!(h.tablespace.as_deref(), Some("fast"));
        assert_eq!(
            h.name_line(Some("")),
            "-- Name: x; Type: INDEX; Schema: s; Owner: ; Tablespace: fast"
        );
        let h = EntryHeader::parse_name_line("-- Name: public; Type: SCHEMA; Schema: -; Owner: -")
            .unwrap();
        assert_eq!(h.namespace, None);
        assert_eq!(h.owner, None);
        assert_eq!(
            EntryHeader::parse_toc_line("-- TOC entry 217 (class 1259 OID 16423)"),
            Some((217, Some((1259, 16423))))
        );
        assert_eq!(
            EntryHeader::parse_dependencies_line("-- Dependencies: 216 5"),
            Some(vec![216, 5])
        );
    }

    #[test]
    fn parses_copy_statements() {
        let c = CopyStmt::parse(
            "COPY \"CRM\".\"Customer Contacts\" (\"E-Mail Address\", \"eMail\", id) FROM stdin;\n",
        )
        .unwrap();
        assert_eq!(c.schema.as_deref(), Some("CRM"));
        assert_eq!(c.table, "Customer Contacts");
        assert_eq!(c.columns, vec!["E-Mail Address", "eMail", "id"]);
        let c = CopyStmt::parse("COPY public.empty  FROM stdin;").unwrap();
        assert!(c.columns.is_empty());
        assert!(CopyStmt::parse("COPY public.t (a) TO stdout;").is_none());
    }

    #[test]
    fn finds_owner_statement() {
        let body = b"CREATE TABLE public.t (\n    id integer\n);\n\n\nALTER TABLE public.t OWNER TO app;\n\n";
        let r = find_owner_stmt(body).unwrap();
        assert_eq!(&body[r], b"ALTER TABLE public.t OWNER TO app;\n\n");
        assert!(find_owner_stmt(b"CREATE TABLE public.t ();\n\n").is_none());
        // An ALTER … OWNER TO inside a function body (as with --no-owner, where the entry has no
        // owner statement of its own) is part of the definition.
        let body = b"CREATE FUNCTION public.f() RETURNS void\n    LANGUAGE sql\n    AS $$\n\nALTER TABLE t OWNER TO bob; $$;\n\n";
        assert!(find_owner_stmt(body).is_none());
        let body = b"CREATE FUNCTION public.f(a integer) RETURNS integer\n    LANGUAGE sql\n    AS $$ SELECT a $$;\n\n\nALTER FUNCTION public.f(a integer) OWNER TO app;\n\n";
        assert!(find_owner_stmt(body).is_some());
        let body =
            b"CREATE VIEW public.v AS\n SELECT 1;\n\n-- ALTER VIEW public.v OWNER TO bob;\n\n";
        assert!(find_owner_stmt(body).is_none());
        let body = b"CREATE SCHEMA \"a\n\nb\";\n\n\nALTER SCHEMA \"a\n\nb\" OWNER TO \"Bob\";\n\n";
        assert_eq!(
            &body[find_owner_stmt(body).unwrap()],
            b"ALTER SCHEMA \"a\n\nb\" OWNER TO \"Bob\";\n\n"
        );
    }
}
