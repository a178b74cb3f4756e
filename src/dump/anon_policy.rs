//! PostgreSQL Anonymizer's own objects in a dump, which the masked artifacts leave out: the `anon`
//! extension (and its comment), its security labels (the masking policy), the data pg_dump saves
//! for the extension's configuration tables and sequences (among those is `anon.secret`, the salt
//! of the extension's hashing functions), and its settings on the database.
//!
//! pg_dump puts all of this in every dump of a database that uses the extension. PostgreSQL
//! Anonymizer's own anonymous dumps leave it out (`--no-security-labels --exclude-extension=anon`):
//! the policy is not for the readers of masked data, and a developer's database needs neither the
//! extension nor its data. The full artifacts keep everything.
//!
//! Two kinds of entry are cut statement by statement rather than whole, because pg_dump writes
//! several statements in one entry:
//! - `SECURITY LABEL` entries hold all labels of one object, of every provider. The labels of the
//!   providers of PostgreSQL Anonymizer go: `anon`, `k_anonymity`, and every masking policy named
//!   in an `anon.masking_policies` setting seen in the dump (or in the database's own entries, see
//!   [`AnonPolicy::seeded`]). Each registers a label provider, and a server without the extension
//!   refuses their labels. Other providers' labels (`sepgsql`) stay.
//! - `DATABASE PROPERTIES` entries hold the database's settings (`ALTER DATABASE d SET …` and
//!   `ALTER ROLE r IN DATABASE d SET …`). Every `anon.*` setting goes (PostgreSQL Anonymizer 2.x
//!   keeps its salt in `anon.salt`), and so does, whole, every `session_preload_libraries`,
//!   `shared_preload_libraries` or `local_preload_libraries` setting whose list names `anon`
//!   (even with other libraries in it: pgveil does not rewrite a setting's value).
//!
//! COMMENT entries stay, with personal data in their text scrubbed ([`super::schema_text`]).
//!
//! The statements are split by a lexer that knows string literals (`'…'`, `E'…'`, dollar
//! quotes), quoted identifiers and comments: a label is a literal that may hold `;` and newlines.

use std::collections::HashSet;

use super::ident::parse_ident;
use super::Entry;

/// What the masked view gets of one entry.
#[derive(Debug)]
pub enum MaskedEntry {
    /// The entry as it is.
    Same,
    /// Nothing of it.
    LeftOut,
    /// The entry without some of its statements.
    Rewritten(Box<Entry>),
    /// The entry with personal data scrubbed from its COMMENT text ([`super::schema_text`]): not
    /// left out, only its comment text differs.
    Scrubbed(Box<Entry>),
}

/// What the masked view leaves out, learnt from the entries of one dump in order (the extension's
/// entry, the database's settings and the objects the dump creates come before any data or label).
#[derive(Debug, Default)]
pub struct AnonPolicy {
    /// The schema of `CREATE EXTENSION … anon WITH SCHEMA s`, once seen.
    schema: Option<String>,
    /// Tables and sequences the dump itself creates, as (schema, name): data of anything else in
    /// the extension's schema belongs to the extension.
    created: HashSet<(String, String)>,
    /// Masking policies named in `anon.masking_policies` settings (lower-case): label providers.
    policies: HashSet<String>,
}

/// The label providers of PostgreSQL Anonymizer itself.
const PROVIDERS: [&str; 2] = ["anon", "k_anonymity"];

/// Settings that name libraries to load.
const PRELOAD_SETTINGS: [&str; 3] = [
    "session_preload_libraries",
    "shared_preload_libraries",
    "local_preload_libraries",
];

impl AnonPolicy {
    pub fn new() -> AnonPolicy {
        AnonPolicy::default()
    }

    /// A policy that knows the masking policies set on the database, from its own entries
    /// (`Entry::is_about_database`, e.g. from a `pg_dump --create --schema-only`), which the dump
    /// being read may lack.
    pub fn seeded(database_entries: &[Entry]) -> AnonPolicy {
        let mut p = AnonPolicy::new();
        for e in database_entries {
            p.masked_entry(e);
        }
        p
    }

    /// What the masked view gets of `entries` (the database's own entries for an archive).
    pub fn masked_entries(&mut self, entries: &[Entry]) -> Vec<Entry> {
        entries
            .iter()
            .filter_map(|e| match self.masked_entry(e) {
                MaskedEntry::Same => Some(e.clone()),
                MaskedEntry::LeftOut => None,
                MaskedEntry::Rewritten(r) | MaskedEntry::Scrubbed(r) => Some(*r),
            })
            .collect()
    }

    /// Whether the masked view leaves out this entry (one without a data part) whole.
    pub fn excludes_entry(&mut self, entry: &Entry) -> bool {
        matches!(self.masked_entry(entry), MaskedEntry::LeftOut)
    }

    /// What the masked view gets of this entry (one without a data part). Learns from every
    /// entry, so call it for each one in dump order.
    pub fn masked_entry(&mut self, entry: &Entry) -> MaskedEntry {
        let h = &entry.header;
        let namespace = h.namespace.clone().unwrap_or_default();
        let whole = |left_out: bool| {
            if left_out {
                MaskedEntry::LeftOut
            } else {
                MaskedEntry::Same
            }
        };
        match h.desc.as_str() {
            "TABLE" | "SEQUENCE" => {
                self.created.insert((namespace, h.tag.clone()));
                MaskedEntry::Same
            }
            "EXTENSION" if h.tag == "anon" => {
                self.schema = extension_schema(entry.body_without_owner());
                MaskedEntry::LeftOut
            }
            "COMMENT" if h.tag == "EXTENSION anon" => MaskedEntry::LeftOut,
            "COMMENT" => match super::schema_text::scrub_comments(entry) {
                Some(e) => MaskedEntry::Scrubbed(Box::new(e)),
                None => MaskedEntry::Same,
            },
            "SECURITY LABEL" => self.cut(entry, entry.body_without_owner().len(), |p, stmt| {
                p.is_policy_label(stmt)
            }),
            "DATABASE PROPERTIES" => {
                let end = super::entry::database_statements_end(entry.body_without_owner());
                self.cut(entry, end, |p, stmt| p.is_anon_setting(stmt))
            }
            "SEQUENCE SET" => whole(self.belongs_to_extension(&namespace, &h.tag)),
            _ => MaskedEntry::Same,
        }
    }

    /// Leave out the statements among the first `end` bytes of the body for which `drop` holds.
    /// An entry left with nothing but blank space goes whole; one whose statements cannot be
    /// split (an unterminated literal: not pg_dump's output) goes whole too, since its statements
    /// cannot be told apart.
    fn cut(
        &mut self,
        entry: &Entry,
        end: usize,
        mut drop: impl FnMut(&mut AnonPolicy, &str) -> bool,
    ) -> MaskedEntry {
        let body = entry.body_range.start;
        let region = &entry.text[body..body + end];
        let Some(stmts) = crate::sql::lexer::statements(region) else {
            return MaskedEntry::LeftOut;
        };
        let mut dropped: Vec<std::ops::Range<usize>> = Vec::new();
        for r in stmts {
            let text = String::from_utf8_lossy(&region[r.clone()]);
            if drop(self, &text) {
                dropped.push(body + r.start..body + r.end);
            }
        }
        if dropped.is_empty() {
            return MaskedEntry::Same;
        }
        let mut text = Vec::with_capacity(entry.text.len());
        let mut at = 0;
        for r in &dropped {
            text.extend_from_slice(&entry.text[at..r.start]);
            at = r.end;
        }
        text.extend_from_slice(&entry.text[at..]);
        // Where a position of the old text lies in the new one.
        let shift = |p: usize| {
            p - dropped
                .iter()
                .map(|r| r.end.min(p).saturating_sub(r.start))
                .sum::<usize>()
        };
        let body_range = shift(entry.body_range.start)..shift(entry.body_range.end);
        if text[body_range.clone()].iter().all(u8::is_ascii_whitespace) {
            return MaskedEntry::LeftOut;
        }
        let mut out = entry.clone();
        out.owner_stmt_range = entry
            .owner_stmt_range
            .clone()
            .map(|r| shift(r.start)..shift(r.end));
        out.body_range = body_range;
        out.text = text;
        MaskedEntry::Rewritten(Box::new(out))
    }

    /// `SECURITY LABEL FOR p ON …` of one of PostgreSQL Anonymizer's providers.
    fn is_policy_label(&self, stmt: &str) -> bool {
        let Some(rest) = stmt.trim_start().strip_prefix("SECURITY LABEL FOR ") else {
            return false;
        };
        let Some((provider, _)) = parse_ident(rest.trim_start()) else {
            return false;
        };
        let provider = provider.to_lowercase();
        PROVIDERS.contains(&provider.as_str()) || self.policies.contains(&provider)
    }

    /// `ALTER DATABASE d SET name …` or `ALTER ROLE r IN DATABASE d SET name …` of an `anon.*`
    /// setting or of a preload list naming `anon`; learns the masking policies on the way.
    fn is_anon_setting(&mut self, stmt: &str) -> bool {
        let Some((name, value)) = database_setting(stmt) else {
            return false;
        };
        let name = name.to_lowercase();
        if name == "anon.masking_policies" {
            for literal in string_literals(value) {
                self.policies.extend(
                    literal
                        .split(',')
                        .map(|p| p.trim().trim_matches('"').to_lowercase())
                        .filter(|p| !p.is_empty()),
                );
            }
        }
        if name.starts_with("anon.") {
            return true;
        }
        PRELOAD_SETTINGS.contains(&name.as_str())
            && string_literals(value)
                .iter()
                .flat_map(|l| l.split(','))
                .any(names_anon_library)
    }

    /// Whether the masked view leaves out this data entry: the saved contents of one of the
    /// extension's configuration tables.
    pub fn excludes_data(&self, entry: &Entry) -> bool {
        let h = &entry.header;
        h.desc == "TABLE DATA"
            && self.belongs_to_extension(h.namespace.as_deref().unwrap_or_default(), &h.tag)
    }

    fn belongs_to_extension(&self, namespace: &str, name: &str) -> bool {
        self.schema.as_deref() == Some(namespace)
            && !self
                .created
                .contains(&(namespace.to_string(), name.to_string()))
    }
}

/// A library list element naming PostgreSQL Anonymizer's library: `anon`, `$libdir/anon`,
/// `anon.so`, with any quotes and case.
fn names_anon_library(element: &str) -> bool {
    let e = element.trim().trim_matches('"').to_lowercase();
    let file = e.rsplit('/').next().unwrap_or(&e);
    let stem = file
        .strip_suffix(".so")
        .or_else(|| file.strip_suffix(".dylib"))
        .or_else(|| file.strip_suffix(".dll"))
        .unwrap_or(file);
    stem == "anon"
}

/// The setting name and the value text of `ALTER DATABASE d SET name TO value;` or
/// `ALTER ROLE r IN DATABASE d SET name TO value;` (`=` for `TO` too).
fn database_setting(stmt: &str) -> Option<(String, &str)> {
    let s = stmt.trim_start();
    let rest = if let Some(r) = s.strip_prefix("ALTER DATABASE ") {
        parse_ident(r.trim_start())?.1
    } else {
        let r = s.strip_prefix("ALTER ROLE ")?;
        let (_, r) = parse_ident(r.trim_start())?;
        let r = r.trim_start().strip_prefix("IN DATABASE ")?;
        parse_ident(r.trim_start())?.1
    };
    let rest = rest.trim_start().strip_prefix("SET ")?;
    // A dotted name is quoted whole (`"anon.salt"`), or written as two identifiers.
    let (mut name, mut rest) = parse_ident(rest.trim_start())?;
    while let Some(r) = rest.strip_prefix('.') {
        let (part, r) = parse_ident(r)?;
        name = format!("{name}.{part}");
        rest = r;
    }
    Some((name, rest))
}

/// The contents of the `'…'` literals in `value` (`''` read as `'`).
fn string_literals(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\'' {
            continue;
        }
        let mut lit = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    lit.push('\'');
                } else {
                    break;
                }
            } else {
                lit.push(c);
            }
        }
        out.push(lit);
    }
    out
}

/// `s` of `CREATE EXTENSION IF NOT EXISTS anon WITH SCHEMA s;` (quoted as pg_dump quotes it).
fn extension_schema(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let stmt = text
        .lines()
        .find(|l| l.starts_with("CREATE EXTENSION "))?
        .trim_end()
        .strip_suffix(';')?;
    let (_, schema) = stmt.split_once(" WITH SCHEMA ")?;
    // pg_dump may add ` VERSION '…'` after the schema.
    let (name, _) = parse_ident(schema)?;
    Some(name)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dump::{DumpReader, Event};

    /// The entries of a plain dump, with whether the masked view leaves each out.
    fn verdicts(dump: &str) -> Vec<(String, bool)> {
        let mut policy = AnonPolicy::new();
        let mut reader = DumpReader::new(dump.as_bytes());
        let mut out = Vec::new();
        while let Some(event) = reader.next_event().unwrap() {
            match event {
                Event::Entry(e) => {
                    let excluded = policy.excludes_entry(&e);
                    out.push((format!("{} {}", e.header.desc, e.header.tag), excluded));
                }
                Event::DataBegin(e) => {
                    let excluded = policy.excludes_data(&e);
                    out.push((format!("{} {}", e.header.desc, e.header.tag), excluded));
                }
                _ => {}
            }
        }
        out
    }

    /// A dump of a database using the extension, cut down to the entries that matter here.
    const DUMP: &str = "\
--
-- PostgreSQL database dump
--

SET client_encoding = 'UTF8';

--
-- Name: anon; Type: SCHEMA; Schema: -; Owner: postgres
--

CREATE SCHEMA anon;


--
-- Name: anon; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS anon WITH SCHEMA anon;


--
-- Name: EXTENSION anon; Type: COMMENT; Schema: -; Owner: 
--

COMMENT ON EXTENSION anon IS 'Data anonymization tools';


--
-- Name: people; Type: TABLE; Schema: anon; Owner: postgres
--

CREATE TABLE anon.people (
    id integer
);


--
-- Name: COLUMN users.email; Type: SECURITY LABEL; Schema: public; Owner: postgres
--

SECURITY LABEL FOR anon ON COLUMN public.users.email IS 'MASKED WITH FUNCTION anon.fake_email()';


--
-- Name: COLUMN users.note; Type: SECURITY LABEL; Schema: public; Owner: postgres
--

SECURITY LABEL FOR sepgsql ON COLUMN public.users.note IS 'system_u:object_r:sepgsql_table_t:s0';


--
-- Data for Name: secret; Type: TABLE DATA; Schema: anon; Owner: postgres
--

COPY anon.secret (param, value) FROM stdin;
salt\tpepper
\\.


--
-- Data for Name: people; Type: TABLE DATA; Schema: anon; Owner: postgres
--

COPY anon.people (id) FROM stdin;
1
\\.


--
-- Name: address_oid_seq; Type: SEQUENCE SET; Schema: anon; Owner: postgres
--

SELECT pg_catalog.setval('anon.address_oid_seq', 1, false);


--
-- PostgreSQL database dump complete
--

";

    const EXTENSION_ENTRY: &str = "--
-- Name: anon; Type: EXTENSION; Schema: -; Owner: -
--

CREATE EXTENSION IF NOT EXISTS anon WITH SCHEMA anon;


";

    #[test]
    fn the_extension_its_labels_and_its_config_data_are_left_out() {
        let dump = DUMP;
        assert_eq!(
            verdicts(dump),
            vec![
                ("SCHEMA anon".to_string(), false),
                ("EXTENSION anon".to_string(), true),
                ("COMMENT EXTENSION anon".to_string(), true),
                ("TABLE people".to_string(), false),
                ("SECURITY LABEL COLUMN users.email".to_string(), true),
                ("SECURITY LABEL COLUMN users.note".to_string(), false),
                ("TABLE DATA secret".to_string(), true),
                ("TABLE DATA people".to_string(), false),
                ("SEQUENCE SET address_oid_seq".to_string(), true),
            ]
        );
    }

    #[test]
    fn without_the_extension_only_its_labels_go() {
        assert!(DUMP.contains(EXTENSION_ENTRY));
        let without = DUMP.replace(EXTENSION_ENTRY, "");
        let left_out: Vec<String> = verdicts(&without)
            .into_iter()
            .filter(|(_, excluded)| *excluded)
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            left_out,
            vec![
                "COMMENT EXTENSION anon",
                "SECURITY LABEL COLUMN users.email"
            ]
        );
    }

    #[test]
    fn the_extension_schema_is_read_as_pg_dump_quotes_it() {
        assert_eq!(
            extension_schema(b"CREATE EXTENSION IF NOT EXISTS anon WITH SCHEMA anon;\n"),
            Some("anon".into())
        );
        assert_eq!(
            extension_schema(
                b"CREATE EXTENSION IF NOT EXISTS anon WITH SCHEMA \"Masking Tools\";\n"
            ),
            Some("Masking Tools".into())
        );
        assert_eq!(
            extension_schema(b"CREATE EXTENSION IF NOT EXISTS anon;\n"),
            None
        );
    }

    /// The masked view of each entry of `dump`: its body, or `None` when left out.
    fn masked_bodies(policy: &mut AnonPolicy, dump: &str) -> Vec<(String, Option<String>)> {
        let mut reader = DumpReader::new(dump.as_bytes());
        let mut out = Vec::new();
        while let Some(event) = reader.next_event().unwrap() {
            if let Event::Entry(e) = event {
                let name = format!("{} {}", e.header.desc, e.header.tag);
                let body = match policy.masked_entry(&e) {
                    MaskedEntry::Same => Some(String::from_utf8_lossy(e.body()).into_owned()),
                    MaskedEntry::LeftOut => None,
                    MaskedEntry::Rewritten(r) | MaskedEntry::Scrubbed(r) => {
                        // The rewritten entry keeps its header and the rest of its text.
                        assert_eq!(&r.text[..r.body_range.start], &e.text[..e.body_range.start]);
                        assert_eq!(
                            r.body_range.end,
                            r.text.len() - (e.text.len() - e.body_range.end)
                        );
                        Some(String::from_utf8_lossy(r.body()).into_owned())
                    }
                };
                out.push((name, body));
            }
        }
        out
    }

    const SETTINGS_AND_LABELS: &str = "\
--
-- PostgreSQL database dump
--

SET client_encoding = 'UTF8';

--
-- Name: db; Type: DATABASE PROPERTIES; Schema: -; Owner: postgres
--

ALTER DATABASE db SET \"anon.salt\" TO 'pep;per';
ALTER DATABASE db SET \"anon.masking_policies\" TO 'devtests, Other';
ALTER DATABASE db SET work_mem TO '8MB';
ALTER DATABASE db SET session_preload_libraries TO 'anon';
ALTER DATABASE db SET shared_preload_libraries TO 'pg_stat_statements', '$libdir/anon.so';
ALTER DATABASE db SET local_preload_libraries TO 'auto_explain';
ALTER ROLE bob IN DATABASE db SET \"anon.salt\" TO 'bob''s salt';
ALTER ROLE bob IN DATABASE db SET search_path TO 'app';


--
-- Name: TABLE users; Type: SECURITY LABEL; Schema: public; Owner: postgres
--

SECURITY LABEL FOR sepgsql ON TABLE public.users IS 'system_u:object_r:sepgsql_table_t:s0';
SECURITY LABEL FOR k_anonymity ON TABLE public.users IS 'QUASI IDENTIFIER';


--
-- Name: COLUMN users.email; Type: SECURITY LABEL; Schema: public; Owner: postgres
--

SECURITY LABEL FOR anon ON COLUMN public.users.email IS 'MASKED WITH VALUE ''a;b''
SECURITY LABEL FOR sepgsql ON COLUMN x IS ''y'';';
SECURITY LABEL FOR devtests ON COLUMN public.users.email IS 'MASKED WITH FUNCTION anon.fake_email()';
SECURITY LABEL FOR \"other\" ON COLUMN public.users.email IS 'MASKED WITH VALUE NULL';
SECURITY LABEL FOR sepgsql ON COLUMN public.users.email IS 'system_u:object_r:sepgsql_table_t:s0;x';


--
-- Name: COLUMN users.phone; Type: SECURITY LABEL; Schema: public; Owner: postgres
--

SECURITY LABEL FOR devtests ON COLUMN public.users.phone IS E'MASKED WITH VALUE \\'x;\\'';
SECURITY LABEL FOR k_anonymity ON COLUMN public.users.phone IS 'INDIRECT IDENTIFIER';


--
-- PostgreSQL database dump complete
--

";

    #[test]
    fn settings_and_labels_of_the_extension_are_cut_statement_by_statement() {
        let mut policy = AnonPolicy::new();
        let got = masked_bodies(&mut policy, SETTINGS_AND_LABELS);
        let want: Vec<(String, Option<String>)> = vec![
            (
                "DATABASE PROPERTIES db".into(),
                Some(
                    "ALTER DATABASE db SET work_mem TO '8MB';\n\
                     ALTER DATABASE db SET local_preload_libraries TO 'auto_explain';\n\
                     ALTER ROLE bob IN DATABASE db SET search_path TO 'app';\n\n\n"
                        .into(),
                ),
            ),
            (
                "SECURITY LABEL TABLE users".into(),
                Some(
                    "SECURITY LABEL FOR sepgsql ON TABLE public.users IS \
                     'system_u:object_r:sepgsql_table_t:s0';\n\n\n"
                        .into(),
                ),
            ),
            (
                "SECURITY LABEL COLUMN users.email".into(),
                Some(
                    "SECURITY LABEL FOR sepgsql ON COLUMN public.users.email IS \
                     'system_u:object_r:sepgsql_table_t:s0;x';\n\n\n"
                        .into(),
                ),
            ),
            ("SECURITY LABEL COLUMN users.phone".into(), None),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn masking_policies_of_the_database_entries_are_known_beforehand() {
        let (database, labels) = SETTINGS_AND_LABELS
            .split_once("--\n-- Name: TABLE users")
            .unwrap();
        let database_entries: Vec<Entry> = {
            let database = format!("{database}--\n-- PostgreSQL database dump complete\n--\n\n");
            let mut reader = DumpReader::new(database.as_bytes());
            let mut v = Vec::new();
            while let Some(event) = reader.next_event().unwrap() {
                if let Event::Entry(e) = event {
                    v.push(e);
                }
            }
            v
        };
        let head = "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n\n";
        let labels_only = format!("{head}--\n-- Name: TABLE users{labels}");
        let kept = |policy: &mut AnonPolicy| -> String {
            masked_bodies(policy, &labels_only)
                .into_iter()
                .filter_map(|(_, b)| b)
                .collect()
        };
        let unseeded = kept(&mut AnonPolicy::new());
        assert!(unseeded.contains("FOR devtests"));
        let seeded = kept(&mut AnonPolicy::seeded(&database_entries));
        assert!(!seeded.contains("FOR devtests") && !seeded.contains("FOR \"other\""));
        assert!(seeded.contains("FOR sepgsql"));
        let masked = AnonPolicy::new().masked_entries(&database_entries);
        assert_eq!(masked.len(), 1);
        assert!(!String::from_utf8_lossy(&masked[0].text).contains("anon"));
    }
}
