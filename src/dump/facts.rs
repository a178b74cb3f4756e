//! Schema facts gathered from the dump's DDL: each table's column types, and which columns carry a
//! PRIMARY KEY, UNIQUE constraint or unique index, or reference a key through a FOREIGN KEY.
//!
//! Maskers need these to keep constrained values distinct (so the restore does not fail) and keys
//! joinable. In a plain dump the constraints follow the data, so the facts are gathered before the pass
//! (from a schema-only dump or a pre-scan of the input file); when they cannot be (a stdin stream),
//! [`SchemaFacts::unknown`] treats every column as constrained, which is always safe.
//!
//! The parsing targets the exact statements pg_dump prints, not SQL in general.

use std::collections::{HashMap, HashSet};

use super::entry::Entry;
use super::ident::{parse_ident, parse_qualified};
use crate::sql::lexer::{tokens, Token, TokenKind};

type TableKey = (String, String);

#[derive(Debug, Default, Clone)]
struct TableFacts {
    /// Columns in CREATE TABLE order, with their declared types.
    columns: Vec<(String, String)>,
    /// Columns under a key (PK, UNIQUE, unique index) or in a foreign key.
    keyed: HashSet<String>,
}

#[derive(Debug, Clone)]
pub struct SchemaFacts {
    tables: HashMap<TableKey, TableFacts>,
    /// partition/child → parent, from `ATTACH PARTITION` and `INHERITS`.
    parents: HashMap<TableKey, TableKey>,
    /// Whether the constraints are known; if not, every column counts as keyed.
    complete: bool,
}

impl SchemaFacts {
    /// Facts that will be complete: fill them from every entry of the dump (`observe`).
    pub fn new() -> SchemaFacts {
        SchemaFacts {
            tables: HashMap::new(),
            parents: HashMap::new(),
            complete: true,
        }
    }

    /// Facts whose constraints are unknown: every column is treated as keyed.
    pub fn unknown() -> SchemaFacts {
        SchemaFacts {
            complete: false,
            ..SchemaFacts::new()
        }
    }

    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Learn from one entry (CREATE TABLE, constraints, unique indexes, attach partition).
    pub fn observe(&mut self, entry: &Entry) {
        let body = String::from_utf8_lossy(entry.body_without_owner());
        let ns = entry.header.namespace.clone().unwrap_or_default();
        match entry.header.desc.as_str() {
            "TABLE" => self.observe_create_table(&body),
            // A key pgveil cannot read (a statement not in pg_dump's form, which psql still runs)
            // must not silently count as no key: the restore would then fail on it. Every
            // column then counts as keyed, which is always safe.
            "CONSTRAINT" | "FK CONSTRAINT"
                if !self.observe_constraint(&body, entry.header.desc == "FK CONSTRAINT") =>
            {
                self.complete = false;
            }
            "INDEX" => {
                // Likewise a unique index pgveil cannot read.
                let upper = body.to_ascii_uppercase();
                let words: Vec<&str> = upper.split_whitespace().collect();
                let unique = words.windows(2).any(|w| w == ["UNIQUE", "INDEX"]);
                if unique && !self.observe_index(&body) {
                    self.complete = false;
                }
            }
            "TABLE ATTACH" => self.observe_attach(&body),
            _ => {}
        }
        let _ = ns;
    }

    fn table_mut(&mut self, key: TableKey) -> &mut TableFacts {
        self.tables.entry(key).or_default()
    }

    fn observe_create_table(&mut self, body: &str) {
        let Some(created) = parse_create_table(body) else {
            return;
        };
        let Some(schema) = created.schema else {
            return;
        };
        let key = (schema, created.table);
        let columns = created
            .columns
            .iter()
            .map(|(name, after)| {
                let after = after.trim_start().trim_end_matches(',');
                (name.clone(), column_type(after))
            })
            .collect();
        let rest = created.rest;
        if let Some(inherits) = rest.find(")\nINHERITS (") {
            let list = &rest[inherits + 1 + "\nINHERITS ".len() - 1..];
            if let Some((Some(ps), pt, _)) = list
                .strip_prefix("INHERITS (")
                .and_then(|l| parse_qualified(l))
            {
                self.parents.insert(key.clone(), (ps, pt));
            }
        }
        self.table_mut(key).columns = columns;
    }

    /// Whether the constraint was read (a key, or a constraint that is none: CHECK, EXCLUDE):
    /// `ALTER TABLE [ONLY] t ADD CONSTRAINT name KIND (columns) …`, read on the SQL lexer's tokens
    /// (a name or literal holding keywords is one token).
    fn observe_constraint(&mut self, body: &str, foreign: bool) -> bool {
        let toks: Vec<Token<'_>> = tokens(body).collect();
        let Some((key, mut i)) = alter_table_target(&toks) else {
            return false;
        };
        if !(word_at(&toks, i, "ADD") && word_at(&toks, i + 1, "CONSTRAINT")) {
            return false;
        }
        i += 2;
        if toks.get(i).and_then(Token::ident).is_none() {
            return false;
        }
        i += 1;
        let keyword = |i: usize, kw: &str| word_at(&toks, i, kw);
        let list_at = if keyword(i, "FOREIGN") && keyword(i + 1, "KEY") {
            i + 2
        } else if foreign {
            return false;
        } else if keyword(i, "PRIMARY") && keyword(i + 1, "KEY") {
            i + 2
        } else if keyword(i, "UNIQUE") {
            if keyword(i + 1, "NULLS") && keyword(i + 2, "NOT") && keyword(i + 3, "DISTINCT") {
                i + 4
            } else {
                i + 1
            }
        } else {
            return keyword(i, "CHECK") || keyword(i, "EXCLUDE");
        };
        match ident_list(&toks, list_at) {
            Some(cols) => {
                self.table_mut(key).keyed.extend(cols);
                true
            }
            None => false,
        }
    }

    /// Whether a unique index was read: `CREATE UNIQUE INDEX name ON [ONLY] t USING m (…)`. Every
    /// name in the column/expression list counts (`lower(email)` → `email`); literals do not.
    fn observe_index(&mut self, body: &str) -> bool {
        let toks: Vec<Token<'_>> = tokens(body).collect();
        let Some(start) = (0..toks.len()).find(|&i| {
            word_at(&toks, i, "CREATE")
                && word_at(&toks, i + 1, "UNIQUE")
                && word_at(&toks, i + 2, "INDEX")
        }) else {
            return false;
        };
        let Some(on) =
            (start + 3..toks.len()).find(|&i| word_at(&toks, i, "ON") && toks[i].depth == 0)
        else {
            return false;
        };
        let at = if word_at(&toks, on + 1, "ONLY") {
            on + 2
        } else {
            on + 1
        };
        let Some(((Some(schema), table), next)) = qualified(&toks, at) else {
            return false;
        };
        let Some(open) = (next..toks.len()).find(|&i| toks[i].is_punct('(')) else {
            return false;
        };
        let names = toks[open..]
            .iter()
            .filter(|t| t.kind == TokenKind::QuotedIdent || t.kind == TokenKind::Word)
            .filter_map(|t| t.ident().map(|n| n.into_owned()));
        self.table_mut((schema, table)).keyed.extend(names);
        true
    }

    fn observe_attach(&mut self, body: &str) {
        let toks: Vec<Token<'_>> = tokens(body).collect();
        let Some((parent, i)) = alter_table_target(&toks) else {
            return;
        };
        if !(word_at(&toks, i, "ATTACH") && word_at(&toks, i + 1, "PARTITION")) {
            return;
        }
        if let Some(((Some(s), t), _)) = qualified(&toks, i + 2) {
            self.parents.insert((s, t), parent);
        }
    }

    /// The declared type of a column, if the dump showed it.
    pub fn column_type(&self, schema: &str, table: &str, column: &str) -> Option<String> {
        let mut key = (schema.to_string(), table.to_string());
        for _ in 0..16 {
            if let Some(t) = self.tables.get(&key) {
                if let Some((_, ty)) = t.columns.iter().find(|(c, _)| c == column) {
                    return Some(ty.clone());
                }
            }
            key = self.parents.get(&key)?.clone();
        }
        None
    }

    /// Whether a column is under a key or in a foreign key, on this table or one of its parents.
    /// Unknown facts answer `true`.
    pub fn is_keyed(&self, schema: &str, table: &str, column: &str) -> bool {
        if !self.complete {
            return true;
        }
        let mut key = (schema.to_string(), table.to_string());
        for _ in 0..16 {
            if self
                .tables
                .get(&key)
                .is_some_and(|t| t.keyed.contains(column))
            {
                return true;
            }
            match self.parents.get(&key) {
                Some(p) => key = p.clone(),
                None => return false,
            }
        }
        false
    }
}

impl SchemaFacts {
    /// Gather the facts from a whole dump stream (a schema-only dump, or a pre-scan of an input file;
    /// COPY rows are skipped without being looked at).
    pub fn from_dump<R: std::io::Read>(src: R) -> Result<SchemaFacts, super::DumpError> {
        let mut facts = SchemaFacts::new();
        let mut reader = super::DumpReader::new(src);
        while let Some(event) = reader.next_event()? {
            if let super::Event::Entry(e) = event {
                facts.observe(&e);
            }
        }
        Ok(facts)
    }
}

impl Default for SchemaFacts {
    fn default() -> Self {
        SchemaFacts::new()
    }
}

/// A `CREATE TABLE` statement as pg_dump prints it (one column per line, indented by four spaces).
pub struct CreatedTable<'a> {
    pub schema: Option<String>,
    pub table: String,
    /// The text after the qualified name (partitioning, inheritance, options).
    pub rest: &'a str,
    /// Each column's name and the rest of its definition line, in order; table constraints are
    /// not columns.
    pub columns: Vec<(String, &'a str)>,
}

/// Find and parse the `CREATE TABLE` in an entry body.
pub fn parse_create_table(body: &str) -> Option<CreatedTable<'_>> {
    let pos = body.find("CREATE TABLE ")?;
    let rest = &body[pos + "CREATE TABLE ".len()..];
    let rest = rest.strip_prefix("IF NOT EXISTS ").unwrap_or(rest);
    let (schema, table, rest) = parse_qualified(rest)?;
    let mut columns = Vec::new();
    for line in rest.lines() {
        let Some(def) = line.strip_prefix("    ") else {
            continue;
        };
        if def.starts_with(' ') || def.starts_with("CONSTRAINT ") {
            continue;
        }
        if let Some((name, after)) = parse_ident(def) {
            columns.push((name, after));
        }
    }
    Some(CreatedTable {
        schema,
        table,
        rest,
        columns,
    })
}

/// The token at `i` is the keyword `kw`.
fn word_at(toks: &[Token<'_>], i: usize, kw: &str) -> bool {
    toks.get(i).is_some_and(|t| t.is_word(kw))
}

/// A name at `i`, qualified or not: `((schema, name), index after it)`.
fn qualified(toks: &[Token<'_>], i: usize) -> Option<((Option<String>, String), usize)> {
    let first = toks.get(i)?.ident()?.into_owned();
    if toks.get(i + 1).is_some_and(|t| t.is_punct('.')) {
        let second = toks.get(i + 2)?.ident()?.into_owned();
        Some(((Some(first), second), i + 3))
    } else {
        Some(((None, first), i + 1))
    }
}

/// `(a, "b", c)` at `i`: the names, or `None` for anything else (an expression).
fn ident_list(toks: &[Token<'_>], i: usize) -> Option<Vec<String>> {
    if !toks.get(i)?.is_punct('(') {
        return None;
    }
    let mut names = Vec::new();
    let mut i = i + 1;
    loop {
        names.push(toks.get(i)?.ident()?.into_owned());
        let sep = toks.get(i + 1)?;
        if sep.is_punct(')') {
            return Some(names);
        }
        if !sep.is_punct(',') {
            return None;
        }
        i += 2;
    }
}

/// `ALTER TABLE [ONLY] schema.table` at the start of a statement → the table and the index of the
/// token after its name.
fn alter_table_target(toks: &[Token<'_>]) -> Option<(TableKey, usize)> {
    if !(word_at(toks, 0, "ALTER") && word_at(toks, 1, "TABLE")) {
        return None;
    }
    let at = if word_at(toks, 2, "ONLY") { 3 } else { 2 };
    let ((schema, table), next) = qualified(toks, at)?;
    Some(((schema?, table), next))
}

/// The type part of a column definition: up to the first constraint keyword.
fn column_type(def: &str) -> String {
    const STOPS: [&str; 7] = [
        " DEFAULT ",
        " NOT NULL",
        " NULL",
        " GENERATED ",
        " COLLATE ",
        " CONSTRAINT ",
        " CHECK ",
    ];
    let end = STOPS
        .iter()
        .filter_map(|s| def.find(s))
        .min()
        .unwrap_or(def.len());
    def[..end].trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::{DumpReader, Event};

    const DUMP: &str = "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n\n--\n-- Name: users; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.users (\n    id integer NOT NULL,\n    email public.citext COLLATE pg_catalog.\"C\",\n    \"Nick Name\" character varying(40) DEFAULT 'x'::character varying,\n    CONSTRAINT users_check CHECK ((id > 0))\n);\n\n\n--\n-- Name: orders_2024; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.orders_2024 (\n    user_email text,\n    note text\n);\n\n\n--\n-- Name: orders_2024; Type: TABLE ATTACH; Schema: public; Owner: -\n--\n\nALTER TABLE ONLY public.orders ATTACH PARTITION public.orders_2024 FOR VALUES FROM (1) TO (2);\n\n\n--\n-- Name: users users_email_key; Type: CONSTRAINT; Schema: public; Owner: -\n--\n\nALTER TABLE ONLY public.users\n    ADD CONSTRAINT users_email_key UNIQUE (email);\n\n\n--\n-- Name: nick; Type: INDEX; Schema: public; Owner: -\n--\n\nCREATE UNIQUE INDEX nick ON public.users USING btree (lower((\"Nick Name\")::text));\n\n\n--\n-- Name: orders orders_fk; Type: FK CONSTRAINT; Schema: public; Owner: -\n--\n\nALTER TABLE public.orders\n    ADD CONSTRAINT orders_fk FOREIGN KEY (user_email) REFERENCES public.users(email);\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n";

    #[test]
    fn names_and_literals_holding_keywords_do_not_mislead() {
        // A constraint name holding ` ADD CONSTRAINT … CHECK ` made the substring search read a
        // UNIQUE constraint as a CHECK (email then not keyed: its masked values could collide and
        // the restore fail); an index name holding ` ON ` hid the index's table.
        let dump = DUMP
            .replace(
                "ADD CONSTRAINT users_email_key UNIQUE (email)",
                "ADD CONSTRAINT \"k ADD CONSTRAINT x CHECK \" UNIQUE (email)",
            )
            .replace(
                "CREATE UNIQUE INDEX nick ON public.users",
                "CREATE UNIQUE INDEX \"nick ON public.other\" ON public.users",
            );
        let facts = SchemaFacts::from_dump(dump.as_bytes()).unwrap();
        assert!(facts.is_complete());
        assert!(facts.is_keyed("public", "users", "email"));
        assert!(facts.is_keyed("public", "users", "Nick Name"));
        assert!(!facts.is_keyed("public", "users", "id"));
        assert!(!facts.is_keyed("public", "other", "Nick Name"));
    }

    #[test]
    fn keys_it_cannot_read_make_every_column_keyed() {
        for (from, to) in [
            (
                "ALTER TABLE public.orders\n    ADD CONSTRAINT orders_fk",
                "alter table public.orders\n    add constraint orders_fk",
            ),
            ("CREATE UNIQUE INDEX nick ON", "create unique index nick on"),
        ] {
            let dump = DUMP.replace(from, to);
            assert_ne!(dump, DUMP);
            let mut facts = SchemaFacts::new();
            let mut r = DumpReader::new(dump.as_bytes());
            while let Some(ev) = r.next_event().unwrap() {
                if let Event::Entry(e) = ev {
                    facts.observe(&e);
                }
            }
            assert!(!facts.is_complete(), "{to}");
            assert!(facts.is_keyed("public", "orders_2024", "note"));
        }
    }

    #[test]
    fn learns_types_keys_and_partitions() {
        let mut facts = SchemaFacts::new();
        let mut r = DumpReader::new(DUMP.as_bytes());
        while let Some(ev) = r.next_event().unwrap() {
            if let Event::Entry(e) = ev {
                facts.observe(&e);
            }
        }
        assert_eq!(
            facts.column_type("public", "users", "email").as_deref(),
            Some("public.citext")
        );
        assert_eq!(
            facts.column_type("public", "users", "Nick Name").as_deref(),
            Some("character varying(40)")
        );
        assert!(facts.is_keyed("public", "users", "email"));
        assert!(facts.is_keyed("public", "users", "Nick Name"));
        assert!(!facts.is_keyed("public", "users", "id"));
        // The FK is declared on the partitioned parent; the data lives in the partition.
        assert!(facts.is_keyed("public", "orders_2024", "user_email"));
        assert!(!facts.is_keyed("public", "orders_2024", "note"));
        assert!(SchemaFacts::unknown().is_keyed("public", "orders_2024", "note"));
    }
}
