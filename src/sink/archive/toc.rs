//! TOC entries: their encoding, and how a plain dump's entry maps onto one (section, defn, dropStmt,
//! tablespace, table access method) and which other entries it depends on.

use std::collections::HashMap;

use super::format::*;
use crate::dump::ident::{parse_ident, parse_ident_list, parse_qualified, quote_ident};
use crate::dump::Entry;

/// One TOC entry as the archive stores it (version 1.14 layout).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TocEntry {
    pub dump_id: i32,
    pub had_dumper: bool,
    pub tableoid: String,
    pub oid: String,
    pub tag: String,
    pub desc: String,
    pub section: i32,
    pub defn: Option<Vec<u8>>,
    pub drop_stmt: Option<String>,
    pub copy_stmt: Option<String>,
    pub namespace: Option<String>,
    pub tablespace: Option<String>,
    pub tableam: Option<String>,
    pub owner: Option<String>,
    pub with_oids: Option<String>,
    pub dependencies: Vec<i32>,
    /// Offset flag (`POS_SET`, `POS_NOT_SET`, `NO_DATA`) and position of the data block.
    pub offset: (u8, u64),
}

impl TocEntry {
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_int(out, self.dump_id);
        put_int(out, i32::from(self.had_dumper));
        put_str(out, Some(&self.tableoid));
        put_str(out, Some(&self.oid));
        put_str(out, Some(&self.tag));
        put_str(out, Some(&self.desc));
        put_int(out, self.section);
        match &self.defn {
            None => put_int(out, -1),
            Some(d) => {
                put_int(out, d.len() as i32);
                out.extend_from_slice(d);
            }
        }
        put_str(out, self.drop_stmt.as_deref());
        put_str(out, self.copy_stmt.as_deref());
        put_str(out, self.namespace.as_deref());
        put_str(out, self.tablespace.as_deref());
        put_str(out, self.tableam.as_deref());
        put_str(out, self.owner.as_deref());
        put_str(out, Some(self.with_oids.as_deref().unwrap_or("false")));
        for d in &self.dependencies {
            put_str(out, Some(&d.to_string()));
        }
        put_str(out, None);
        put_offset(out, self.offset.0, self.offset.1);
    }

    /// A special entry (ENCODING, STDSTRINGS, SEARCHPATH) as pg_dump writes it.
    pub fn special(desc: &str, defn: String) -> TocEntry {
        TocEntry {
            tableoid: "0".into(),
            oid: "0".into(),
            tag: desc.into(),
            desc: desc.into(),
            section: SECTION_PRE_DATA,
            defn: Some(defn.into_bytes()),
            offset: (NO_DATA, 0),
            ..TocEntry::default()
        }
    }
}

/// A reference to another entry, resolved once the whole TOC is known.
#[derive(Debug, Clone)]
pub enum Ref {
    /// An object of one of `descs` with this namespace (falling back to no namespace) and tag.
    Obj {
        descs: &'static [&'static str],
        ns: Option<String>,
        tag: String,
    },
    /// `table.column` (tag of a column comment or ACL): the table whose name is a prefix.
    Column { ns: Option<String>, spec: String },
    /// An index or a PK/UNIQUE constraint by its name.
    IndexNamed { ns: Option<String>, name: String },
    /// The PK/UNIQUE constraint or unique index of a table with these columns.
    UniqueKey {
        ns: Option<String>,
        table: String,
        cols: Vec<String>,
    },
    /// The closest preceding entry that is not a COMMENT/ACL/SECURITY LABEL.
    Previous,
    /// The indexes (or PK/UNIQUE constraints) that index `name` is attached to as a partition, up
    /// to the top of the partition tree (from the dump's INDEX ATTACH entries).
    ParentIndexes { ns: Option<String>, name: String },
    /// Every INDEX ATTACH entry under the indexes of a (partitioned) table, down the partition tree.
    AttachmentsUnder { ns: Option<String>, table: String },
    /// The table an index (or index-making constraint) is on.
    TableOfIndex { ns: Option<String>, name: String },
}

pub const TABLE_LIKE: &[&str] = &[
    "TABLE",
    "VIEW",
    "MATERIALIZED VIEW",
    "FOREIGN TABLE",
    "SEQUENCE",
];
const TABLES: &[&str] = &["TABLE", "MATERIALIZED VIEW", "FOREIGN TABLE", "VIEW"];

pub fn is_none_section(desc: &str) -> bool {
    matches!(desc, "COMMENT" | "ACL" | "SECURITY LABEL")
}

/// The section pg_dump gives an entry of this kind.
pub fn section_for(desc: &str, post_data_seen: bool) -> i32 {
    match desc {
        "COMMENT" | "ACL" | "SECURITY LABEL" => SECTION_NONE,
        "TABLE DATA" | "SEQUENCE SET" | "BLOBS" => SECTION_DATA,
        "INDEX"
        | "INDEX ATTACH"
        | "CONSTRAINT"
        | "CHECK CONSTRAINT"
        | "FK CONSTRAINT"
        | "TRIGGER"
        | "EVENT TRIGGER"
        | "RULE"
        | "POLICY"
        | "ROW SECURITY"
        | "MATERIALIZED VIEW DATA"
        | "DEFAULT ACL"
        | "PUBLICATION"
        | "PUBLICATION TABLE"
        | "PUBLICATION TABLES IN SCHEMA"
        | "SUBSCRIPTION"
        | "STATISTICS" => SECTION_POST_DATA,
        // pg_dump postpones some definitions (views with circular dependencies, functions that
        // depend on them) into post-data; in the plain stream they show up after post-data items.
        _ if post_data_seen => SECTION_POST_DATA,
        _ => SECTION_PRE_DATA,
    }
}

/// Kinds for which pg_restore emits `ALTER … OWNER TO` (when owner and dropStmt are non-empty).
fn is_ownable(desc: &str) -> bool {
    matches!(
        desc,
        "AGGREGATE"
            | "BLOB"
            | "COLLATION"
            | "CONVERSION"
            | "DATABASE"
            | "DOMAIN"
            | "FUNCTION"
            | "OPERATOR"
            | "OPERATOR CLASS"
            | "OPERATOR FAMILY"
            | "PROCEDURE"
            | "PROCEDURAL LANGUAGE"
            | "SCHEMA"
            | "EVENT TRIGGER"
            | "FOREIGN DATA WRAPPER"
            | "SERVER"
            | "PUBLICATION"
            | "SUBSCRIPTION"
            | "STATISTICS"
            | "TABLE"
            | "TYPE"
            | "VIEW"
            | "SEQUENCE"
            | "MATERIALIZED VIEW"
            | "FOREIGN TABLE"
            | "TEXT SEARCH DICTIONARY"
            | "TEXT SEARCH CONFIGURATION"
    )
}

fn qualified(ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{}.{}", quote_ident(ns), quote_ident(name)),
        None => quote_ident(name),
    }
}

/// Split a plain-dump body into the defn and the trailing `ALTER … OWNER TO` line (if any).
/// pg_restore prints `defn + "\n\n"`, then the owner statement, so the defn is the body without the
/// statement and without the last `"\n\n"`.
pub fn split_body(entry: &Entry) -> (Vec<u8>, Option<String>) {
    let desc = entry.header.desc.as_str();
    let (body, owner_stmt): (&[u8], Option<String>) =
        if desc == "DATABASE" || desc == "DATABASE PROPERTIES" {
            // With -C, these bodies go on with `\unrestrict`, `\connect`, `\restrict` and a repeat
            // of the session setup, which pg_restore generates itself.
            let body = entry.body();
            let body = &body[..crate::dump::entry::database_statements_end(body)];
            match crate::dump::entry::find_owner_stmt(body) {
                Some(r) => (
                    &body[..r.start],
                    Some(String::from_utf8_lossy(&body[r]).trim_end().to_string()),
                ),
                None => (body, None),
            }
        } else {
            (
                entry.body_without_owner(),
                entry.owner_stmt().map(str::to_string),
            )
        };
    let defn = body.strip_suffix(b"\n\n").unwrap_or(body).to_vec();
    (defn, owner_stmt)
}

/// The dropStmt of an entry (§5/§6.3 of the spec), or `None` for kinds that have none.
pub fn drop_stmt(
    desc: &str,
    owner: Option<&str>,
    owner_stmt: Option<&str>,
    defn: &str,
    ns: Option<&str>,
    tag: &str,
) -> Option<String> {
    if desc == "BLOB" {
        // pg_dump's own form; pg_restore names the object from the tag, not from this statement.
        return Some(format!("SELECT pg_catalog.lo_unlink('{tag}');\n"));
    }
    if desc == "SCHEMA" && defn.starts_with("-- *not* creating schema") {
        return Some("-- *not* dropping schema, since initdb creates it\n".into());
    }
    if let Some(stmt) = owner_stmt {
        let rest = stmt.strip_prefix("ALTER ")?;
        let idx = rest.rfind(" OWNER TO ")?;
        let obj = &rest[..idx];
        let obj = match desc {
            "VIEW" | "SEQUENCE" | "MATERIALIZED VIEW" => match obj.strip_prefix("TABLE ") {
                Some(name) => format!("{desc} {name}"),
                None => obj.to_string(),
            },
            "PROCEDURAL LANGUAGE" => match obj.strip_prefix("LANGUAGE ") {
                Some(name) => format!("PROCEDURAL LANGUAGE {name}"),
                None => obj.to_string(),
            },
            _ => obj.to_string(),
        };
        return Some(format!("DROP {obj};\n"));
    }
    let first_line = defn.lines().next().unwrap_or("");
    match desc {
        "EXTENSION" => Some(format!("DROP EXTENSION {};\n", quote_ident(tag))),
        "ACCESS METHOD" => Some(format!("DROP ACCESS METHOD {};\n", quote_ident(tag))),
        // The tag is `CAST (source AS target)`, as the statement names it.
        "CAST" => Some(format!("DROP {tag};\n")),
        "USER MAPPING" => {
            // CREATE USER MAPPING FOR user SERVER server [OPTIONS (…)];
            let rest = first_line.strip_prefix("CREATE USER MAPPING FOR ")?;
            let rest = rest.strip_suffix(';').unwrap_or(rest);
            let rest = rest.split(" OPTIONS (").next()?;
            Some(format!("DROP USER MAPPING FOR {rest};\n"))
        }
        "CONSTRAINT" | "FK CONSTRAINT" | "CHECK CONSTRAINT" => {
            let (head, rest) = defn.split_once("\n    ADD CONSTRAINT ")?;
            let (name, _) = parse_ident(rest)?;
            Some(format!("{head} DROP CONSTRAINT {};\n", quote_ident(&name)))
        }
        "INDEX" => Some(format!("DROP INDEX {};\n", qualified(ns, tag))),
        "TRIGGER" | "POLICY" => {
            let kw = if desc == "TRIGGER" {
                "TRIGGER "
            } else {
                "POLICY "
            };
            let start = first_line.find(kw)? + kw.len();
            let (name, _) = parse_ident(&first_line[start..])?;
            let (tns, table) = find_tables(defn)
                .into_iter()
                .find(|(_, _, marker)| *marker != "REFERENCES ")
                .map(|(a, b, _)| (a, b))?;
            Some(format!(
                "DROP {desc} {} ON {};\n",
                quote_ident(&name),
                qualified(tns.as_deref(), &table)
            ))
        }
        "RULE" => {
            let rest = first_line.strip_prefix("CREATE RULE ")?;
            let (name, _) = parse_ident(rest)?;
            let (tns, table, _) = find_tables(defn)
                .into_iter()
                .find(|(_, _, m)| *m == " TO ")?;
            Some(format!(
                "DROP RULE {} ON {};\n",
                quote_ident(&name),
                qualified(tns.as_deref(), &table)
            ))
        }
        "DEFAULT" => {
            // ALTER TABLE ONLY s.t ALTER COLUMN c SET DEFAULT …;
            let rest = first_line
                .strip_prefix("ALTER TABLE ONLY ")
                .or_else(|| first_line.strip_prefix("ALTER TABLE "))?;
            let (tns, table, rest) = parse_qualified(rest)?;
            let rest = rest.strip_prefix(" ALTER COLUMN ")?;
            let (col, _) = parse_ident(rest)?;
            Some(format!(
                "ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT;\n",
                qualified(tns.as_deref(), &table),
                quote_ident(&col)
            ))
        }
        _ if is_ownable(desc) && owner.is_some_and(|o| !o.is_empty()) => {
            // An owned object printed without `ALTER … OWNER TO` had an empty dropStmt (identity
            // sequences); an empty one reproduces that.
            Some(String::new())
        }
        "TABLE" | "VIEW" | "SEQUENCE" | "MATERIALIZED VIEW" | "FOREIGN TABLE" | "TYPE"
        | "DOMAIN" | "SCHEMA" => Some(format!("DROP {desc} {};\n", qualified(ns, tag))),
        "FUNCTION" | "PROCEDURE" | "AGGREGATE" => {
            let (name, args) = tag.split_at(tag.find('(')?);
            Some(format!("DROP {desc} {}{args};\n", qualified(ns, name)))
        }
        _ => None,
    }
}

/// Qualified names that follow the markers pg_dump uses to name a statement's table, in order of
/// appearance: `ALTER TABLE [ONLY] x`, `ON [ONLY] x`, `TO x` (rules), `REFERENCES x(`.
pub fn find_tables(defn: &str) -> Vec<(Option<String>, String, &'static str)> {
    const MARKERS: &[&str] = &[
        "ALTER TABLE ONLY ",
        "ALTER TABLE ",
        " ON ONLY ",
        " ON ",
        " TO ",
        "REFERENCES ",
        "REFRESH MATERIALIZED VIEW ",
        "ATTACH PARTITION ",
        "ALTER INDEX ",
    ];
    let mut found: Vec<(usize, Option<String>, String, &'static str)> = Vec::new();
    for m in MARKERS {
        for (pos, _) in defn.match_indices(m) {
            let rest = &defn[pos + m.len()..];
            if *m == " ON " && rest.starts_with("ONLY ") {
                continue;
            }
            if *m == "ALTER TABLE " && rest.starts_with("ONLY ") {
                continue;
            }
            if let Some((ns, name, _)) = parse_qualified(rest) {
                if !found.iter().any(|(p, ..)| *p == pos) {
                    found.push((pos, ns, name, m));
                }
            }
        }
    }
    found.sort_by_key(|(p, ..)| *p);
    found.into_iter().map(|(_, a, b, m)| (a, b, m)).collect()
}

/// The columns of `PRIMARY KEY (…)`, `UNIQUE (…)` or a unique index `USING btree (…)`.
pub fn key_columns(defn: &str) -> Option<Vec<String>> {
    for marker in [
        "PRIMARY KEY ",
        "UNIQUE ",
        "UNIQUE NULLS NOT DISTINCT ",
        "USING btree ",
    ] {
        if let Some(pos) = defn.find(marker) {
            if let Some((cols, _)) = parse_ident_list(&defn[pos + marker.len()..]) {
                return Some(cols);
            }
        }
    }
    None
}

/// The dependencies of an entry, as references to resolve against the whole TOC.
pub fn dependency_refs(desc: &str, ns: Option<&str>, tag: &str, defn: &str) -> Vec<Ref> {
    let ns_owned = ns.map(str::to_string);
    let obj = |descs: &'static [&'static str], ns: Option<String>, tag: String| Ref::Obj {
        descs,
        ns,
        tag,
    };
    let tables_in = |defn: &str| -> Vec<Ref> {
        find_tables(defn)
            .into_iter()
            .filter(|(_, _, m)| *m != "REFERENCES " && *m != "ALTER INDEX ")
            .map(|(n, t, _)| obj(TABLES, n, t))
            .collect()
    };
    match desc {
        "TABLE DATA" => vec![obj(&["TABLE"], ns_owned, tag.to_string())],
        "SEQUENCE SET" | "SEQUENCE OWNED BY" => {
            vec![obj(&["SEQUENCE"], ns_owned, tag.to_string())]
        }
        "MATERIALIZED VIEW DATA" => vec![obj(&["MATERIALIZED VIEW"], ns_owned, tag.to_string())],
        "SEQUENCE" if defn.starts_with("ALTER TABLE ") => tables_in(defn),
        "DEFAULT" => {
            let mut refs = tables_in(defn);
            refs.truncate(1);
            if let Some(pos) = defn.find("nextval('") {
                let lit = &defn[pos + 9..];
                if let Some((sns, seq, _)) = parse_qualified(lit) {
                    refs.push(obj(&["SEQUENCE"], sns, seq));
                }
            }
            refs
        }
        "RULE" => {
            // CREATE RULE r AS ON event TO s.t [WHERE …] DO [INSTEAD] action: the rule's table,
            // and the tables its action reads or writes (pg_dump records them all; pg_restore -j
            // takes them for the tables the entry locks).
            let mut refs = Vec::new();
            let mut seen: Vec<(Option<String>, String)> = Vec::new();
            let mut add = |ns: Option<String>, table: String, refs: &mut Vec<Ref>| {
                if !seen.contains(&(ns.clone(), table.clone())) {
                    seen.push((ns.clone(), table.clone()));
                    refs.push(obj(TABLES, ns, table));
                }
            };
            if let Some((tns, table, _)) =
                find_tables(defn).into_iter().find(|(_, _, m)| *m == " TO ")
            {
                add(tns, table, &mut refs);
            }
            if let Some((_, action)) = defn.split_once(" DO ") {
                for marker in ["INSERT INTO ", "UPDATE ", "DELETE FROM ", "FROM ", "JOIN "] {
                    for (pos, _) in action.match_indices(marker) {
                        if let Some((tns, table, _)) =
                            parse_qualified(&action[pos + marker.len()..])
                        {
                            add(tns, table, &mut refs);
                        }
                    }
                }
            }
            refs
        }
        "STATISTICS" => {
            // CREATE STATISTICS s.n [(kinds)] ON … FROM s.t;
            defn.rfind(" FROM ")
                .and_then(|pos| parse_qualified(&defn[pos + 6..]))
                .map(|(tns, table, _)| vec![obj(TABLES, tns, table)])
                .unwrap_or_default()
        }
        "INDEX" | "CONSTRAINT" | "CHECK CONSTRAINT" | "TRIGGER" | "POLICY" | "ROW SECURITY"
        | "TABLE ATTACH" => {
            let mut refs = tables_in(defn);
            if desc != "TABLE ATTACH" {
                refs.truncate(1);
            }
            // A partition's index comes after its parent's, as in pg_dump's archives.
            let index_name = match desc {
                "INDEX" => Some(tag.to_string()),
                "CONSTRAINT" => defn
                    .split_once("ADD CONSTRAINT ")
                    .and_then(|(_, rest)| parse_ident(rest))
                    .map(|(name, _)| name),
                _ => None,
            };
            if let Some(name) = index_name {
                refs.push(Ref::ParentIndexes { ns: ns_owned, name });
            }
            if desc == "TRIGGER" {
                // A trigger on a partitioned table is cloned onto every partition, which pg_restore
                // -j does not know it locks: after the indexes of the tree are attached, so that it
                // cannot deadlock with an ALTER INDEX … ATTACH PARTITION.
                if let Some((tns, table, _)) = find_tables(defn).into_iter().next() {
                    refs.push(Ref::AttachmentsUnder { ns: tns, table });
                }
            }
            refs
        }
        "FK CONSTRAINT" => {
            let found = find_tables(defn);
            let mut refs: Vec<Ref> = found
                .iter()
                .filter(|(_, _, m)| *m == "ALTER TABLE ONLY " || *m == "ALTER TABLE ")
                .take(1)
                .flat_map(|(n, t, _)| {
                    [
                        obj(TABLES, n.clone(), t.clone()),
                        Ref::AttachmentsUnder {
                            ns: n.clone(),
                            table: t.clone(),
                        },
                    ]
                })
                .collect();
            if let Some(pos) = defn.find("REFERENCES ") {
                if let Some((rns, rtable, rest)) = parse_qualified(&defn[pos + 11..]) {
                    refs.push(obj(TABLES, rns.clone(), rtable.clone()));
                    // A key of a partitioned table is usable only once every partition's index is
                    // attached; and adding the foreign key locks every partition, which pg_restore
                    // -j does not know: after all the tree's attachments (as for triggers).
                    refs.push(Ref::AttachmentsUnder {
                        ns: rns.clone(),
                        table: rtable.clone(),
                    });
                    if let Some((cols, _)) = parse_ident_list(rest) {
                        refs.push(Ref::UniqueKey {
                            ns: rns,
                            table: rtable,
                            cols,
                        });
                    }
                }
            }
            refs
        }
        "INDEX ATTACH" => {
            // ALTER INDEX s.parent ATTACH PARTITION s.child; (and after the parent's own parents)
            let mut refs = Vec::new();
            for (n, name, m) in find_tables(defn) {
                if m == "ALTER INDEX " {
                    refs.push(Ref::ParentIndexes {
                        ns: n.clone(),
                        name: name.clone(),
                    });
                }
                if m == "ALTER INDEX " || m == "ATTACH PARTITION " {
                    // And the tables of both indexes, as pg_dump records them: pg_restore -j takes
                    // an entry's TABLE dependencies for the tables it locks, so that two attachments
                    // to one parent never run at once (each would see the other's partition still
                    // missing, and leave the parent index invalid).
                    refs.push(Ref::TableOfIndex {
                        ns: n.clone(),
                        name: name.clone(),
                    });
                    refs.push(Ref::IndexNamed { ns: n, name });
                }
            }
            refs
        }
        "PUBLICATION TABLE" | "PUBLICATION TABLES IN SCHEMA" => {
            // ALTER PUBLICATION p ADD TABLE ONLY s.t …; / ALTER PUBLICATION p ADD TABLES IN SCHEMA s;
            let mut refs = Vec::new();
            let Some(rest) = defn.strip_prefix("ALTER PUBLICATION ") else {
                return refs;
            };
            let Some((publication, rest)) = parse_ident(rest) else {
                return refs;
            };
            refs.push(obj(&["PUBLICATION"], None, publication));
            if let Some(schema) = rest.strip_prefix(" ADD TABLES IN SCHEMA ") {
                if let Some((schema, _)) = parse_ident(schema) {
                    refs.push(obj(&["SCHEMA"], None, schema));
                }
            } else if let Some(table) = rest
                .strip_prefix(" ADD TABLE ONLY ")
                .or_else(|| rest.strip_prefix(" ADD TABLE "))
            {
                if let Some((tns, table, _)) = parse_qualified(table) {
                    refs.push(obj(TABLES, tns, table));
                }
            }
            refs
        }
        "COMMENT" | "ACL" | "SECURITY LABEL" => {
            let mut refs = Vec::new();
            if let Some(r) = parent_of_tag(ns, tag) {
                refs.push(r);
            }
            if desc != "ACL" {
                refs.push(Ref::Previous);
            }
            refs
        }
        _ => Vec::new(),
    }
}

/// The parent object named by a COMMENT/ACL/SECURITY LABEL tag such as `TABLE customers`,
/// `COLUMN customers.email`, `CONSTRAINT c ON t`, `FUNCTION f(integer)`, `SCHEMA app`.
fn parent_of_tag(ns: Option<&str>, tag: &str) -> Option<Ref> {
    const KINDS: &[(&str, &[&str])] = &[
        ("MATERIALIZED VIEW ", &["MATERIALIZED VIEW"]),
        ("FOREIGN TABLE ", &["FOREIGN TABLE"]),
        ("FOREIGN DATA WRAPPER ", &["FOREIGN DATA WRAPPER"]),
        ("TEXT SEARCH CONFIGURATION ", &["TEXT SEARCH CONFIGURATION"]),
        ("TEXT SEARCH DICTIONARY ", &["TEXT SEARCH DICTIONARY"]),
        ("TEXT SEARCH PARSER ", &["TEXT SEARCH PARSER"]),
        ("TEXT SEARCH TEMPLATE ", &["TEXT SEARCH TEMPLATE"]),
        ("EVENT TRIGGER ", &["EVENT TRIGGER"]),
        ("OPERATOR CLASS ", &["OPERATOR CLASS"]),
        ("OPERATOR FAMILY ", &["OPERATOR FAMILY"]),
        ("ACCESS METHOD ", &["ACCESS METHOD"]),
        ("LARGE OBJECT ", &["BLOB"]),
        ("LANGUAGE ", &["PROCEDURAL LANGUAGE"]),
        ("TABLE ", TABLE_LIKE),
        ("VIEW ", &["VIEW"]),
        ("SEQUENCE ", &["SEQUENCE"]),
        ("SCHEMA ", &["SCHEMA"]),
        ("EXTENSION ", &["EXTENSION"]),
        ("TYPE ", &["TYPE", "SHELL TYPE"]),
        ("DOMAIN ", &["DOMAIN"]),
        ("FUNCTION ", &["FUNCTION"]),
        ("PROCEDURE ", &["PROCEDURE"]),
        ("AGGREGATE ", &["AGGREGATE"]),
        ("INDEX ", &["INDEX"]),
        ("COLLATION ", &["COLLATION"]),
        ("CONVERSION ", &["CONVERSION"]),
        ("OPERATOR ", &["OPERATOR"]),
        ("SERVER ", &["SERVER"]),
        ("PUBLICATION ", &["PUBLICATION"]),
        ("SUBSCRIPTION ", &["SUBSCRIPTION"]),
        ("STATISTICS ", &["STATISTICS"]),
        ("DATABASE ", &["DATABASE"]),
        ("CAST ", &["CAST"]),
    ];
    const ON_KINDS: &[(&str, &[&str])] = &[
        (
            "CONSTRAINT ",
            &["CONSTRAINT", "FK CONSTRAINT", "CHECK CONSTRAINT"],
        ),
        ("TRIGGER ", &["TRIGGER"]),
        ("POLICY ", &["POLICY"]),
        ("RULE ", &["RULE"]),
    ];
    let ns_owned = ns.map(str::to_string);
    if let Some(spec) = tag.strip_prefix("COLUMN ") {
        // `COLUMN t.c`, with the table quoted when needed (`COLUMN "Order Items".c`).
        if spec.starts_with('"') {
            let (table, _) = parse_ident(spec)?;
            return Some(Ref::Obj {
                descs: TABLE_LIKE,
                ns: ns_owned,
                tag: table,
            });
        }
        return Some(Ref::Column {
            ns: ns_owned,
            spec: spec.to_string(),
        });
    }
    for (prefix, descs) in ON_KINDS {
        if let Some(rest) = tag.strip_prefix(prefix) {
            let (name, table) = rest.rsplit_once(" ON ")?;
            let table = table.strip_prefix("DOMAIN ").unwrap_or(table);
            return Some(Ref::Obj {
                descs,
                ns: ns_owned,
                tag: format!("{} {}", unquote_prefix(table), unquote_prefix(name)),
            });
        }
    }
    for (prefix, descs) in KINDS {
        if let Some(name) = tag.strip_prefix(prefix) {
            let global = matches!(
                *prefix,
                "SCHEMA "
                    | "EXTENSION "
                    | "DATABASE "
                    | "LANGUAGE "
                    | "LARGE OBJECT "
                    | "FOREIGN DATA WRAPPER "
                    | "SERVER "
                    | "EVENT TRIGGER "
                    | "PUBLICATION "
                    | "SUBSCRIPTION "
                    | "ACCESS METHOD "
                    | "CAST "
            );
            return Some(Ref::Obj {
                descs,
                ns: if global { None } else { ns_owned },
                tag: unquote_prefix(name),
            });
        }
    }
    None
}

/// ACL and COMMENT tags quote the object name where needed (`TABLE "Order Items"`,
/// `FUNCTION "Fn"(integer)`), while the object's own tag does not.
fn unquote_prefix(name: &str) -> String {
    if name.starts_with('"') {
        if let Some((ident, rest)) = parse_ident(name) {
            return format!("{ident}{rest}");
        }
    }
    name.to_string()
}

/// (namespace, name) of a table.
type QualifiedName = (Option<String>, String);

/// Index of the entries for resolving references.
#[derive(Default)]
pub struct Resolver {
    by_key: HashMap<(String, Option<String>, String), i32>,
    by_tag: HashMap<(String, String), i32>,
    /// Index or constraint name (namespace, name) → dumpId.
    index_names: HashMap<(Option<String>, String), i32>,
    /// (namespace, table) → unique keys (dumpId, columns, index name).
    unique_keys: HashMap<QualifiedName, Vec<(i32, Vec<String>, QualifiedName)>>,
    /// Partition index → (its parent index, the INDEX ATTACH entry joining them).
    attached_to: HashMap<QualifiedName, (QualifiedName, i32)>,
    /// Parent index → its partitions' indexes, with the INDEX ATTACH entries.
    attached: HashMap<QualifiedName, Vec<(QualifiedName, i32)>>,
    /// Table → the indexes on it (from INDEX entries and index-making constraints).
    table_indexes: HashMap<QualifiedName, Vec<QualifiedName>>,
    /// Index → its table.
    index_table: HashMap<QualifiedName, QualifiedName>,
}

impl Resolver {
    pub fn add(&mut self, e: &TocEntry) {
        self.by_key
            .entry((e.desc.clone(), e.namespace.clone(), e.tag.clone()))
            .or_insert(e.dump_id);
        self.by_tag
            .entry((e.desc.clone(), e.tag.clone()))
            .or_insert(e.dump_id);
        let defn = e
            .defn
            .as_deref()
            .map(String::from_utf8_lossy)
            .unwrap_or_default();
        match e.desc.as_str() {
            "INDEX" => {
                let table = find_tables(&defn)
                    .into_iter()
                    .find(|(_, _, m)| m.contains("ON"))
                    .map(|(tns, table, _)| (tns, table));
                self.add_index((e.namespace.clone(), e.tag.clone()), table, e.dump_id);
                if defn.starts_with("CREATE UNIQUE INDEX ") {
                    if let (Some((tns, table, _)), Some(cols)) = (
                        find_tables(&defn)
                            .into_iter()
                            .find(|(_, _, m)| m.contains("ON")),
                        key_columns(&defn),
                    ) {
                        self.unique_keys.entry((tns, table)).or_default().push((
                            e.dump_id,
                            cols,
                            (e.namespace.clone(), e.tag.clone()),
                        ));
                    }
                }
            }
            "CONSTRAINT" => {
                let name = defn
                    .split_once("ADD CONSTRAINT ")
                    .and_then(|(_, rest)| parse_ident(rest))
                    .map(|(name, _)| name);
                if let Some(name) = &name {
                    let table = find_tables(&defn)
                        .into_iter()
                        .next()
                        .map(|(tns, table, _)| (tns, table));
                    self.add_index((e.namespace.clone(), name.clone()), table, e.dump_id);
                }
                if let (Some((tns, table, _)), Some(cols), Some(name)) = (
                    find_tables(&defn).into_iter().next(),
                    key_columns(&defn),
                    name,
                ) {
                    self.unique_keys.entry((tns, table)).or_default().push((
                        e.dump_id,
                        cols,
                        (e.namespace.clone(), name),
                    ));
                }
            }
            "INDEX ATTACH" => {
                let found = find_tables(&defn);
                let parent = found.iter().find(|(_, _, m)| *m == "ALTER INDEX ");
                let child = found.iter().find(|(_, _, m)| *m == "ATTACH PARTITION ");
                if let (Some((pns, parent, _)), Some((cns, child, _))) = (parent, child) {
                    let (parent, child) =
                        ((pns.clone(), parent.clone()), (cns.clone(), child.clone()));
                    self.attached_to
                        .insert(child.clone(), (parent.clone(), e.dump_id));
                    self.attached
                        .entry(parent)
                        .or_default()
                        .push((child, e.dump_id));
                }
            }
            _ => {}
        }
    }

    /// An index (or index-making constraint) `index` on `table`, with its entry's dumpId.
    fn add_index(&mut self, index: QualifiedName, table: Option<QualifiedName>, dump_id: i32) {
        self.index_names.insert(index.clone(), dump_id);
        if let Some(table) = table {
            self.index_table.insert(index.clone(), table.clone());
            self.table_indexes.entry(table).or_default().push(index);
        }
    }

    fn obj(&self, descs: &[&str], ns: &Option<String>, tag: &str) -> Option<i32> {
        for d in descs {
            if let Some(id) = self
                .by_key
                .get(&(d.to_string(), ns.clone(), tag.to_string()))
            {
                return Some(*id);
            }
        }
        for d in descs {
            if let Some(id) = self.by_key.get(&(d.to_string(), None, tag.to_string())) {
                return Some(*id);
            }
        }
        None
    }

    /// Resolve references into dumpIds; `previous` is the closest preceding non-NONE entry.
    pub fn resolve(&self, refs: &[Ref], previous: Option<i32>) -> Vec<i32> {
        let mut out = Vec::new();
        for r in refs {
            let id = match r {
                Ref::Obj { descs, ns, tag } => self.obj(descs, ns, tag),
                Ref::Column { ns, spec } => spec
                    .match_indices('.')
                    .find_map(|(i, _)| self.obj(TABLE_LIKE, ns, &spec[..i])),
                Ref::IndexNamed { ns, name } => {
                    self.index_names.get(&(ns.clone(), name.clone())).copied()
                }
                Ref::UniqueKey { ns, table, cols } => self
                    .unique_keys
                    .get(&(ns.clone(), table.clone()))
                    .and_then(|keys| keys.iter().find(|(_, c, _)| c == cols))
                    .map(|(id, _, _)| *id),
                Ref::TableOfIndex { ns, name } => self
                    .index_table
                    .get(&(ns.clone(), name.clone()))
                    .and_then(|(tns, table)| self.obj(&["TABLE"], tns, table)),
                Ref::AttachmentsUnder { ns, table } => {
                    let mut below: Vec<QualifiedName> = self
                        .table_indexes
                        .get(&(ns.clone(), table.clone()))
                        .cloned()
                        .unwrap_or_default();
                    let mut steps = 0;
                    while let Some(parent) = below.pop() {
                        for (child, attach) in self.attached.get(&parent).into_iter().flatten() {
                            if !out.contains(attach) {
                                out.push(*attach);
                            }
                            below.push(child.clone());
                        }
                        steps += 1;
                        if steps > 100_000 {
                            break; // a cycle would be a broken dump; do not loop on it
                        }
                    }
                    None
                }
                Ref::ParentIndexes { ns, name } => {
                    let mut current = (ns.clone(), name.clone());
                    let mut depth = 0;
                    while let Some((parent, _)) = self.attached_to.get(&current) {
                        if let Some(&id) = self.index_names.get(parent) {
                            if !out.contains(&id) {
                                out.push(id);
                            }
                        }
                        current = parent.clone();
                        depth += 1;
                        if depth > 64 {
                            break; // a cycle would be a broken dump; do not loop on it
                        }
                    }
                    None
                }
                Ref::Previous => {
                    if out.is_empty() {
                        previous
                    } else {
                        None
                    }
                }
            };
            if let Some(id) = id {
                if !out.contains(&id) {
                    out.push(id);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drop_statements() {
        assert_eq!(
            drop_stmt(
                "VIEW",
                Some("pg"),
                Some("ALTER TABLE public.\"My View\" OWNER TO pg;"),
                "",
                Some("public"),
                "My View"
            )
            .as_deref(),
            Some("DROP VIEW public.\"My View\";\n")
        );
        assert_eq!(
            drop_stmt(
                "FUNCTION",
                Some("pg"),
                Some("ALTER FUNCTION public.f(integer) OWNER TO pg;"),
                "",
                Some("public"),
                "f(integer)"
            )
            .as_deref(),
            Some("DROP FUNCTION public.f(integer);\n")
        );
        assert_eq!(
            drop_stmt(
                "FK CONSTRAINT",
                None,
                None,
                "ALTER TABLE ONLY public.\"Order Items\"\n    ADD CONSTRAINT \"OI_fkey\" FOREIGN KEY (c) REFERENCES public.customers(id);\n",
                Some("public"),
                "Order Items OI_fkey"
            )
            .as_deref(),
            Some("ALTER TABLE ONLY public.\"Order Items\" DROP CONSTRAINT \"OI_fkey\";\n")
        );
        assert_eq!(
            drop_stmt(
                "SEQUENCE",
                Some("pg"),
                None,
                "ALTER TABLE public.t ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (\n);\n",
                Some("public"),
                "t_id_seq"
            )
            .as_deref(),
            Some("")
        );
        assert_eq!(
            drop_stmt(
                "TRIGGER",
                None,
                None,
                "CREATE TRIGGER last_updated BEFORE UPDATE ON public.actor FOR EACH ROW EXECUTE FUNCTION public.f();\n",
                Some("public"),
                "actor last_updated"
            )
            .as_deref(),
            Some("DROP TRIGGER last_updated ON public.actor;\n")
        );
        assert_eq!(
            drop_stmt(
                "DEFAULT",
                None,
                None,
                "ALTER TABLE ONLY public.t ALTER COLUMN id SET DEFAULT nextval('public.t_id_seq'::regclass);\n",
                Some("public"),
                "t id"
            )
            .as_deref(),
            Some("ALTER TABLE public.t ALTER COLUMN id DROP DEFAULT;\n")
        );
    }

    #[test]
    fn sections() {
        assert_eq!(section_for("TABLE", false), SECTION_PRE_DATA);
        assert_eq!(section_for("VIEW", true), SECTION_POST_DATA);
        assert_eq!(section_for("ACL", true), SECTION_NONE);
        assert_eq!(section_for("TABLE DATA", false), SECTION_DATA);
        assert_eq!(section_for("FK CONSTRAINT", false), SECTION_POST_DATA);
    }
}
