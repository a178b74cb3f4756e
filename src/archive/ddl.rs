//! Reading names out of the definitions pg_dump writes (`ALTER TABLE ONLY s.t …`, `… ON s.t`,
//! `REFERENCES s.t(cols)`, `PRIMARY KEY (cols)`, …), for dependencies and drop statements.
//!
//! Every search runs over the tokens of [`crate::sql::lexer`]: a keyword inside a string literal,
//! a quoted identifier, a comment or a dollar-quoted body is never taken for one, and a quoted
//! name is read whole whatever it holds. Keywords are matched as pg_dump writes them (upper case).

use crate::sql::lexer::{tokens, Token, TokenKind};

/// (namespace, name): a possibly schema-qualified name.
pub type QualifiedName = (Option<String>, String);

/// The keyword sequence before a table (or index) name in a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Marker {
    AlterTableOnly,
    AlterTable,
    OnOnly,
    On,
    /// `TO x` (rules: `ON event TO table`).
    To,
    References,
    RefreshMaterializedView,
    AttachPartition,
    AlterIndex,
}

impl Marker {
    /// The marker names the statement's own table (not a referenced one, not an index).
    pub fn names_own_table(self) -> bool {
        !matches!(self, Marker::References | Marker::AlterIndex)
    }

    /// `ON x` or `ON ONLY x`.
    pub fn is_on(self) -> bool {
        matches!(self, Marker::On | Marker::OnOnly)
    }
}

/// The keyword sequences of the markers, longest first where one begins another.
const MARKERS: &[(&[&str], Marker)] = &[
    (&["ALTER", "TABLE", "ONLY"], Marker::AlterTableOnly),
    (&["ALTER", "TABLE"], Marker::AlterTable),
    (&["ON", "ONLY"], Marker::OnOnly),
    (&["ON"], Marker::On),
    (&["TO"], Marker::To),
    (&["REFERENCES"], Marker::References),
    (
        &["REFRESH", "MATERIALIZED", "VIEW"],
        Marker::RefreshMaterializedView,
    ),
    (&["ATTACH", "PARTITION"], Marker::AttachPartition),
    (&["ALTER", "INDEX"], Marker::AlterIndex),
];

/// The tokens of a definition, collected once for the searches below.
pub struct Ddl<'a> {
    pub tokens: Vec<Token<'a>>,
}

impl<'a> Ddl<'a> {
    pub fn new(text: &'a str) -> Ddl<'a> {
        Ddl {
            tokens: tokens(text).collect(),
        }
    }

    /// Whether the keywords `kws` start at token `i`.
    pub fn words_at(&self, i: usize, kws: &[&str]) -> bool {
        kws.iter()
            .enumerate()
            .all(|(k, kw)| self.tokens.get(i + k).is_some_and(|t| t.is_word(kw)))
    }

    /// The index of the first token where the keywords `kws` start, from token `from`.
    pub fn find_words(&self, from: usize, kws: &[&str]) -> Option<usize> {
        (from..self.tokens.len()).find(|&i| self.words_at(i, kws))
    }

    /// A possibly qualified name (`s.t`, `"S"."T"`, `t`) at token `i`: the name and the index of
    /// the token after it.
    pub fn qualified_at(&self, i: usize) -> Option<(QualifiedName, usize)> {
        let first = self.tokens.get(i)?.ident()?.into_owned();
        if self.tokens.get(i + 1).is_some_and(|t| t.is_punct('.')) {
            if let Some(second) = self.tokens.get(i + 2).and_then(Token::ident) {
                return Some(((Some(first), second.into_owned()), i + 3));
            }
        }
        Some(((None, first), i + 1))
    }

    /// A parenthesised list of plain column names at token `i` (`(id, "E-Mail")`); `None` if the
    /// list holds anything else (expressions, `DESC`, …).
    pub fn ident_list_at(&self, i: usize) -> Option<Vec<String>> {
        if !self.tokens.get(i)?.is_punct('(') {
            return None;
        }
        let mut names = Vec::new();
        let mut j = i + 1;
        loop {
            let t = self.tokens.get(j)?;
            if t.is_punct(')') && names.is_empty() {
                return Some(names);
            }
            names.push(t.ident()?.into_owned());
            let sep = self.tokens.get(j + 1)?;
            if sep.is_punct(')') {
                return Some(names);
            }
            if !sep.is_punct(',') {
                return None;
            }
            j += 2;
        }
    }

    /// The names that follow the markers, in order of appearance.
    pub fn find_tables(&self) -> Vec<(QualifiedName, Marker)> {
        let mut found = Vec::new();
        let mut i = 0;
        while i < self.tokens.len() {
            let hit = MARKERS
                .iter()
                .find(|(kws, _)| self.words_at(i, kws))
                .and_then(|(kws, m)| Some((self.qualified_at(i + kws.len())?, *m)));
            match hit {
                Some(((name, _), marker)) => {
                    found.push((name, marker));
                    i += 1;
                }
                None => i += 1,
            }
        }
        found
    }

    /// The first name after `marker`.
    pub fn table_after(&self, marker: Marker) -> Option<QualifiedName> {
        self.find_tables()
            .into_iter()
            .find(|(_, m)| *m == marker)
            .map(|(n, _)| n)
    }

    /// The statement's own table: the first name after a marker other than `REFERENCES` and
    /// `ALTER INDEX`.
    pub fn own_table(&self) -> Option<QualifiedName> {
        self.find_tables()
            .into_iter()
            .find(|(_, m)| m.names_own_table())
            .map(|(n, _)| n)
    }

    /// The name after the first `kws` (`ADD CONSTRAINT name`, `TRIGGER name`).
    pub fn name_after(&self, kws: &[&str]) -> Option<String> {
        let i = self.find_words(0, kws)?;
        Some(self.tokens.get(i + kws.len())?.ident()?.into_owned())
    }

    /// The columns of `PRIMARY KEY (…)`, `UNIQUE (…)`, `UNIQUE NULLS NOT DISTINCT (…)` or a unique
    /// index's `USING btree (…)`: the first of these that is followed by a list of plain names.
    pub fn key_columns(&self) -> Option<Vec<String>> {
        const KEYS: &[&[&str]] = &[
            &["PRIMARY", "KEY"],
            &["UNIQUE"],
            &["UNIQUE", "NULLS", "NOT", "DISTINCT"],
            &["USING", "btree"],
        ];
        KEYS.iter().find_map(|kws| {
            let i = self.find_words(0, kws)?;
            self.ident_list_at(i + kws.len())
        })
    }

    /// `REFERENCES s.t(cols)` of a foreign key: the table and the columns (if a plain list).
    pub fn references(&self) -> Option<(QualifiedName, Option<Vec<String>>)> {
        let i = self.find_words(0, &["REFERENCES"])?;
        let (table, next) = self.qualified_at(i + 1)?;
        Some((table, self.ident_list_at(next)))
    }

    /// The sequence of a `nextval('s.seq'::regclass)` default.
    pub fn nextval_sequence(&self) -> Option<QualifiedName> {
        let i = self.find_words(0, &["nextval"])?;
        if !self.tokens.get(i + 1)?.is_punct('(') {
            return None;
        }
        let lit = self.tokens.get(i + 2)?;
        if lit.kind != TokenKind::String || !lit.text.starts_with('\'') {
            return None;
        }
        let (ns, name, _) = crate::dump::ident::parse_qualified(&lit.text[1..])?;
        Some((ns, name))
    }

    /// The table after the last `FROM` (`CREATE STATISTICS s ON a, b FROM s.t`).
    pub fn last_from_table(&self) -> Option<QualifiedName> {
        let i = (0..self.tokens.len())
            .rev()
            .find(|&i| self.tokens[i].is_word("FROM"))?;
        self.qualified_at(i + 1).map(|(n, _)| n)
    }

    /// The tables a rule's action names (`INSERT INTO x`, `UPDATE x`, `DELETE FROM x`, `FROM x`,
    /// `JOIN x`, after `DO`), marker by marker in that order.
    pub fn rule_action_tables(&self) -> Vec<QualifiedName> {
        let Some(action) = self.find_words(0, &["DO"]) else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for kws in [
            &["INSERT", "INTO"][..],
            &["UPDATE"],
            &["DELETE", "FROM"],
            &["FROM"],
            &["JOIN"],
        ] {
            for i in action + 1..self.tokens.len() {
                if self.words_at(i, kws) {
                    if let Some((name, _)) = self.qualified_at(i + kws.len()) {
                        out.push(name);
                    }
                }
            }
        }
        out
    }

    /// `PARTITION BY` outside parentheses: a partitioned table (which has no access method).
    pub fn is_partitioned(&self) -> bool {
        (0..self.tokens.len())
            .any(|i| self.tokens[i].depth == 0 && self.words_at(i, &["PARTITION", "BY"]))
    }

    /// The byte offset where the keywords `kws` start (first occurrence).
    pub fn offset_of(&self, kws: &[&str]) -> Option<usize> {
        self.find_words(0, kws).map(|i| self.tokens[i].start)
    }

    /// The byte offset where the last `kws` start.
    pub fn last_offset_of(&self, kws: &[&str]) -> Option<usize> {
        (0..self.tokens.len())
            .rev()
            .find(|&i| self.words_at(i, kws))
            .map(|i| self.tokens[i].start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(ns: &str, n: &str) -> QualifiedName {
        (Some(ns.to_string()), n.to_string())
    }

    #[test]
    fn names_inside_quotes_literals_and_comments_are_not_markers() {
        let d = Ddl::new(
            "CREATE TRIGGER \"fire ON users\" BEFORE INSERT ON public.\"TO\" FOR EACH ROW WHEN ((new.note <> 'ALTER TABLE users'::text)) EXECUTE FUNCTION public.trg();",
        );
        assert_eq!(d.own_table(), Some(name("public", "TO")));
        assert_eq!(d.name_after(&["TRIGGER"]).as_deref(), Some("fire ON users"));
        let d = Ddl::new("CREATE INDEX \"idx ON users\" ON public.\"TO\" USING btree (note);");
        assert_eq!(d.table_after(Marker::On), Some(name("public", "TO")));
        let d = Ddl::new(
            "CREATE RULE \"r TO users\" AS\n    ON UPDATE TO public.\"TO\" DO  INSERT INTO public.log (msg)\n  VALUES ('FROM public.users JOIN public.users'::text);",
        );
        assert_eq!(d.table_after(Marker::To), Some(name("public", "TO")));
        assert_eq!(d.rule_action_tables(), [name("public", "log")]);
        let d = Ddl::new("CREATE STATISTICS public.st ON x, y FROM public.\"a FROM users\";");
        assert_eq!(d.last_from_table(), Some(name("public", "a FROM users")));
        let d = Ddl::new("SELECT 1 -- ON users\n/* ALTER TABLE x */ ; $b$ ON y $b$");
        assert!(d.find_tables().is_empty());
    }

    #[test]
    fn foreign_keys_and_unique_keys() {
        let d = Ddl::new(
            "ALTER TABLE ONLY public.\"TO\"\n    ADD CONSTRAINT \"REFERENCES users(id)\" FOREIGN KEY (target) REFERENCES public.real_target(id);",
        );
        assert_eq!(
            d.references(),
            Some((name("public", "real_target"), Some(vec!["id".to_string()])))
        );
        assert_eq!(
            d.name_after(&["ADD", "CONSTRAINT"]).as_deref(),
            Some("REFERENCES users(id)")
        );
        let d = Ddl::new(
            "ALTER TABLE ONLY public.other\n    ADD CONSTRAINT \"UNIQUE (id)\" UNIQUE (email);",
        );
        assert_eq!(d.key_columns(), Some(vec!["email".to_string()]));
        let d = Ddl::new(
            "ALTER TABLE ONLY public.t\n    ADD CONSTRAINT k UNIQUE NULLS NOT DISTINCT (a, \"B\");",
        );
        assert_eq!(
            d.key_columns(),
            Some(vec!["a".to_string(), "B".to_string()])
        );
        let d = Ddl::new("CREATE UNIQUE INDEX u ON public.t USING btree (lower(email));");
        assert_eq!(d.key_columns(), None);
    }

    #[test]
    fn defaults_and_partitioning() {
        let d = Ddl::new("ALTER TABLE ONLY public.t ALTER COLUMN id SET DEFAULT nextval('public.\"T seq\"'::regclass);");
        assert_eq!(d.nextval_sequence(), Some(name("public", "T seq")));
        let d = Ddl::new("ALTER TABLE ONLY public.t ALTER COLUMN c SET DEFAULT 'nextval(''public.s''::regclass)'::text;");
        assert_eq!(d.nextval_sequence(), None);
        let d = Ddl::new("CREATE TABLE public.t (\n    note text DEFAULT 'plain\nPARTITION BY list (x)'::text\n);");
        assert!(!d.is_partitioned());
        let d = Ddl::new("CREATE TABLE public.t (\n    x integer\n)\nPARTITION BY LIST (x);");
        assert!(d.is_partitioned());
    }
}
