//! PostgreSQL Anonymizer's own objects in a dump, which the masked artifacts leave out: the `anon`
//! extension (and its comment), its security labels (the masking policy) and the data pg_dump
//! saves for the extension's configuration tables and sequences. Among those is `anon.secret`, the
//! salt of the extension's hashing functions.
//!
//! pg_dump puts all of this in every dump of a database that uses the extension. PostgreSQL
//! Anonymizer's own anonymous dumps leave it out (`--no-security-labels --exclude-extension=anon`):
//! the policy is not for the readers of masked data, and a developer's database needs neither the
//! extension nor its data. The full artifacts keep everything.

use std::collections::HashSet;

use super::ident::parse_ident;
use super::Entry;

/// What the masked view leaves out, learnt from the entries of one dump in order (the extension's
/// entry and the objects the dump creates come before any data).
#[derive(Debug, Default)]
pub struct AnonPolicy {
    /// The schema of `CREATE EXTENSION … anon WITH SCHEMA s`, once seen.
    schema: Option<String>,
    /// Tables and sequences the dump itself creates, as (schema, name): data of anything else in
    /// the extension's schema belongs to the extension.
    created: HashSet<(String, String)>,
}

impl AnonPolicy {
    pub fn new() -> AnonPolicy {
        AnonPolicy::default()
    }

    /// Whether the masked view leaves out this entry (one without a data part). Learns from every
    /// entry, so call it for each one in dump order.
    pub fn excludes_entry(&mut self, entry: &Entry) -> bool {
        let h = &entry.header;
        let namespace = h.namespace.clone().unwrap_or_default();
        match h.desc.as_str() {
            "TABLE" | "SEQUENCE" => {
                self.created.insert((namespace, h.tag.clone()));
                false
            }
            "EXTENSION" if h.tag == "anon" => {
                self.schema = extension_schema(entry.body_without_owner());
                true
            }
            "COMMENT" => h.tag == "EXTENSION anon",
            "SECURITY LABEL" => entry.body().starts_with(b"SECURITY LABEL FOR anon ON "),
            "SEQUENCE SET" => self.belongs_to_extension(&namespace, &h.tag),
            _ => false,
        }
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
}
