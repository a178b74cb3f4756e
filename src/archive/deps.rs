//! Dependency inference: which other entries an entry depends on, read from its kind, tag and
//! definition as [`Ref`]s, resolved against the whole TOC by [`super::resolve::Resolver`] once it is
//! known. pg_restore orders by these dependencies, and `pg_restore -j` takes a post-data entry's
//! direct TABLE dependencies for the tables it locks, so they must be the ones pg_dump records.
//!
//! Definitions are read through [`super::ddl::Ddl`] (tokens, not substrings).

use super::ddl::{Ddl, Marker, QualifiedName};
use super::toc::{Kind, TABLES, TABLE_LIKE};
use crate::dump::ident::parse_ident;

/// A reference to another entry, resolved once the whole TOC is known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ref {
    /// An object of one of `kinds` with this namespace (falling back to no namespace) and tag.
    Obj {
        kinds: &'static [Kind],
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

fn obj(kinds: &'static [Kind], (ns, tag): QualifiedName) -> Ref {
    Ref::Obj { kinds, ns, tag }
}

/// The tables a statement names as its own (after every marker but `REFERENCES`/`ALTER INDEX`).
fn own_tables(ddl: &Ddl<'_>) -> Vec<Ref> {
    ddl.find_tables()
        .into_iter()
        .filter(|(_, m)| m.names_own_table())
        .map(|(n, _)| obj(TABLES, n))
        .collect()
}

/// The dependencies of an entry, as references to resolve against the whole TOC.
pub fn dependency_refs(kind: &Kind, ns: Option<&str>, tag: &str, defn: &str) -> Vec<Ref> {
    let own = || (ns.map(str::to_string), tag.to_string());
    let ddl = Ddl::new(defn);
    match kind {
        Kind::TableData => vec![obj(&[Kind::Table], own())],
        Kind::SequenceSet | Kind::SequenceOwnedBy => vec![obj(&[Kind::Sequence], own())],
        Kind::MaterializedViewData => vec![obj(&[Kind::MaterializedView], own())],
        Kind::Sequence if defn.starts_with("ALTER TABLE ") => own_tables(&ddl),
        Kind::Default => {
            let mut refs = own_tables(&ddl);
            refs.truncate(1);
            if let Some(seq) = ddl.nextval_sequence() {
                refs.push(obj(&[Kind::Sequence], seq));
            }
            refs
        }
        Kind::Rule => rule_refs(&ddl),
        // CREATE STATISTICS s.n [(kinds)] ON … FROM s.t;
        Kind::Statistics => ddl
            .last_from_table()
            .map(|t| vec![obj(TABLES, t)])
            .unwrap_or_default(),
        Kind::Index
        | Kind::Constraint
        | Kind::CheckConstraint
        | Kind::Trigger
        | Kind::Policy
        | Kind::RowSecurity
        | Kind::TableAttach => table_object_refs(kind, ns, tag, &ddl),
        Kind::FkConstraint => fk_refs(&ddl),
        Kind::IndexAttach => index_attach_refs(&ddl),
        Kind::PublicationTable | Kind::PublicationTablesInSchema => publication_refs(defn),
        Kind::Comment | Kind::Acl | Kind::SecurityLabel => {
            let mut refs = Vec::new();
            if let Some(r) = parent_of_tag(ns, tag) {
                refs.push(r);
            }
            if *kind != Kind::Acl {
                refs.push(Ref::Previous);
            }
            refs
        }
        _ => Vec::new(),
    }
}

/// CREATE RULE r AS ON event TO s.t [WHERE …] DO [INSTEAD] action: the rule's table, and the
/// tables its action reads or writes (pg_dump records them all; pg_restore -j takes them for the
/// tables the entry locks).
fn rule_refs(ddl: &Ddl<'_>) -> Vec<Ref> {
    let mut tables: Vec<QualifiedName> = Vec::new();
    for t in ddl
        .table_after(Marker::To)
        .into_iter()
        .chain(ddl.rule_action_tables())
    {
        if !tables.contains(&t) {
            tables.push(t);
        }
    }
    tables.into_iter().map(|t| obj(TABLES, t)).collect()
}

/// Entries on one table (index, constraint, trigger, policy, attachment).
fn table_object_refs(kind: &Kind, ns: Option<&str>, tag: &str, ddl: &Ddl<'_>) -> Vec<Ref> {
    let mut refs = own_tables(ddl);
    if *kind != Kind::TableAttach {
        refs.truncate(1);
    }
    // A partition's index comes after its parent's, as in pg_dump's archives.
    let index_name = match kind {
        Kind::Index => Some(tag.to_string()),
        Kind::Constraint => ddl.name_after(&["ADD", "CONSTRAINT"]),
        _ => None,
    };
    if let Some(name) = index_name {
        refs.push(Ref::ParentIndexes {
            ns: ns.map(str::to_string),
            name,
        });
    }
    if *kind == Kind::Trigger {
        // A trigger on a partitioned table is cloned onto every partition, which pg_restore -j
        // does not know it locks: after the indexes of the tree are attached, so that it cannot
        // deadlock with an ALTER INDEX … ATTACH PARTITION.
        if let Some(((tns, table), _)) = ddl.find_tables().into_iter().next() {
            refs.push(Ref::AttachmentsUnder { ns: tns, table });
        }
    }
    refs
}

fn fk_refs(ddl: &Ddl<'_>) -> Vec<Ref> {
    let mut refs: Vec<Ref> = ddl
        .find_tables()
        .into_iter()
        .find(|(_, m)| matches!(m, Marker::AlterTableOnly | Marker::AlterTable))
        .into_iter()
        .flat_map(|((n, t), _)| {
            [
                obj(TABLES, (n.clone(), t.clone())),
                Ref::AttachmentsUnder { ns: n, table: t },
            ]
        })
        .collect();
    if let Some(((rns, rtable), cols)) = ddl.references() {
        refs.push(obj(TABLES, (rns.clone(), rtable.clone())));
        // A key of a partitioned table is usable only once every partition's index is attached;
        // and adding the foreign key locks every partition, which pg_restore -j does not know:
        // after all the tree's attachments (as for triggers).
        refs.push(Ref::AttachmentsUnder {
            ns: rns.clone(),
            table: rtable.clone(),
        });
        if let Some(cols) = cols {
            refs.push(Ref::UniqueKey {
                ns: rns,
                table: rtable,
                cols,
            });
        }
    }
    refs
}

/// ALTER INDEX s.parent ATTACH PARTITION s.child; (and after the parent's own parents)
fn index_attach_refs(ddl: &Ddl<'_>) -> Vec<Ref> {
    let mut refs = Vec::new();
    for ((n, name), m) in ddl.find_tables() {
        if m == Marker::AlterIndex {
            refs.push(Ref::ParentIndexes {
                ns: n.clone(),
                name: name.clone(),
            });
        }
        if matches!(m, Marker::AlterIndex | Marker::AttachPartition) {
            // And the tables of both indexes, as pg_dump records them: pg_restore -j takes an
            // entry's TABLE dependencies for the tables it locks, so that two attachments to one
            // parent never run at once (each would see the other's partition still missing, and
            // leave the parent index invalid).
            refs.push(Ref::TableOfIndex {
                ns: n.clone(),
                name: name.clone(),
            });
            refs.push(Ref::IndexNamed { ns: n, name });
        }
    }
    refs
}

/// ALTER PUBLICATION p ADD TABLE ONLY s.t …; / ALTER PUBLICATION p ADD TABLES IN SCHEMA s;
/// (read from the start of the statement, name by name)
fn publication_refs(defn: &str) -> Vec<Ref> {
    let mut refs = Vec::new();
    let Some(rest) = defn.strip_prefix("ALTER PUBLICATION ") else {
        return refs;
    };
    let Some((publication, rest)) = parse_ident(rest) else {
        return refs;
    };
    refs.push(obj(&[Kind::Publication], (None, publication)));
    if let Some(schema) = rest.strip_prefix(" ADD TABLES IN SCHEMA ") {
        if let Some((schema, _)) = parse_ident(schema) {
            refs.push(obj(&[Kind::Schema], (None, schema)));
        }
    } else if let Some(table) = rest
        .strip_prefix(" ADD TABLE ONLY ")
        .or_else(|| rest.strip_prefix(" ADD TABLE "))
    {
        if let Some((tns, table, _)) = crate::dump::ident::parse_qualified(table) {
            refs.push(obj(TABLES, (tns, table)));
        }
    }
    refs
}

/// Tag prefixes of COMMENT/ACL/SECURITY LABEL entries and the kinds of object they name.
const TAG_KINDS: &[(&str, &[Kind])] = &[
    ("MATERIALIZED VIEW ", &[Kind::MaterializedView]),
    ("FOREIGN TABLE ", &[Kind::ForeignTable]),
    ("FOREIGN DATA WRAPPER ", &[Kind::ForeignDataWrapper]),
    (
        "TEXT SEARCH CONFIGURATION ",
        &[Kind::TextSearchConfiguration],
    ),
    ("TEXT SEARCH DICTIONARY ", &[Kind::TextSearchDictionary]),
    ("TEXT SEARCH PARSER ", &[Kind::TextSearchParser]),
    ("TEXT SEARCH TEMPLATE ", &[Kind::TextSearchTemplate]),
    ("EVENT TRIGGER ", &[Kind::EventTrigger]),
    ("OPERATOR CLASS ", &[Kind::OperatorClass]),
    ("OPERATOR FAMILY ", &[Kind::OperatorFamily]),
    ("ACCESS METHOD ", &[Kind::AccessMethod]),
    ("LARGE OBJECT ", &[Kind::Blob]),
    ("LANGUAGE ", &[Kind::ProceduralLanguage]),
    ("TABLE ", TABLE_LIKE),
    ("VIEW ", &[Kind::View]),
    ("SEQUENCE ", &[Kind::Sequence]),
    ("SCHEMA ", &[Kind::Schema]),
    ("EXTENSION ", &[Kind::Extension]),
    ("TYPE ", &[Kind::Type, Kind::ShellType]),
    ("DOMAIN ", &[Kind::Domain]),
    ("FUNCTION ", &[Kind::Function]),
    ("PROCEDURE ", &[Kind::Procedure]),
    ("AGGREGATE ", &[Kind::Aggregate]),
    ("INDEX ", &[Kind::Index]),
    ("COLLATION ", &[Kind::Collation]),
    ("CONVERSION ", &[Kind::Conversion]),
    ("OPERATOR ", &[Kind::Operator]),
    ("SERVER ", &[Kind::Server]),
    ("PUBLICATION ", &[Kind::Publication]),
    ("SUBSCRIPTION ", &[Kind::Subscription]),
    ("STATISTICS ", &[Kind::Statistics]),
    ("DATABASE ", &[Kind::Database]),
    ("CAST ", &[Kind::Cast]),
];
/// Tag prefixes of objects named `name ON table`.
const ON_KINDS: &[(&str, &[Kind])] = &[
    (
        "CONSTRAINT ",
        &[Kind::Constraint, Kind::FkConstraint, Kind::CheckConstraint],
    ),
    ("TRIGGER ", &[Kind::Trigger]),
    ("POLICY ", &[Kind::Policy]),
    ("RULE ", &[Kind::Rule]),
];

/// The parent object named by a COMMENT/ACL/SECURITY LABEL tag such as `TABLE customers`,
/// `COLUMN customers.email`, `CONSTRAINT c ON t`, `FUNCTION f(integer)`, `SCHEMA app`.
fn parent_of_tag(ns: Option<&str>, tag: &str) -> Option<Ref> {
    let ns_owned = ns.map(str::to_string);
    if let Some(spec) = tag.strip_prefix("COLUMN ") {
        // `COLUMN t.c`, with the table quoted when needed (`COLUMN "Order Items".c`).
        if spec.starts_with('"') {
            let (table, _) = parse_ident(spec)?;
            return Some(obj(TABLE_LIKE, (ns_owned, table)));
        }
        return Some(Ref::Column {
            ns: ns_owned,
            spec: spec.to_string(),
        });
    }
    for (prefix, kinds) in ON_KINDS {
        if let Some(rest) = tag.strip_prefix(prefix) {
            // `name ON table`, both quoted where needed: the `ON` between them is a keyword token.
            let at = Ddl::new(rest).last_offset_of(&["ON"])?;
            let (name, table) = (rest[..at].trim_end(), &rest[at + 2..]);
            let table = table.trim_start();
            let table = table.strip_prefix("DOMAIN ").unwrap_or(table);
            return Some(obj(
                kinds,
                (
                    ns_owned,
                    format!("{} {}", unquote_prefix(table), unquote_prefix(name)),
                ),
            ));
        }
    }
    for (prefix, kinds) in TAG_KINDS {
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
            return Some(obj(
                kinds,
                (if global { None } else { ns_owned }, unquote_prefix(name)),
            ));
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

#[cfg(test)]
mod tests {
    use super::*;

    fn table(ns: &str, t: &str) -> Ref {
        obj(TABLES, (Some(ns.into()), t.into()))
    }

    #[test]
    fn misleading_definitions_give_the_real_tables() {
        let trigger = "CREATE TRIGGER \"fire ON users\" BEFORE INSERT ON public.\"TO\" FOR EACH ROW WHEN ((new.note <> 'ON users'::text)) EXECUTE FUNCTION public.trg();\n";
        let refs = dependency_refs(&Kind::Trigger, Some("public"), "TO fire ON users", trigger);
        assert_eq!(refs[0], table("public", "TO"));
        let fk = "ALTER TABLE ONLY public.\"TO\"\n    ADD CONSTRAINT \"REFERENCES users(id)\" FOREIGN KEY (target) REFERENCES public.real_target(id);\n";
        let refs = dependency_refs(&Kind::FkConstraint, Some("public"), "TO x", fk);
        assert!(refs.contains(&table("public", "real_target")));
        assert!(refs.contains(&Ref::UniqueKey {
            ns: Some("public".into()),
            table: "real_target".into(),
            cols: vec!["id".into()],
        }));
        assert!(!refs
            .iter()
            .any(|r| matches!(r, Ref::Obj { tag, .. } if tag == "users")));
        let rule = "CREATE RULE \"r TO users\" AS\n    ON UPDATE TO public.\"TO\" DO  INSERT INTO public.log (msg)\n  VALUES ('FROM public.users'::text);\n";
        let refs = dependency_refs(&Kind::Rule, Some("public"), "TO r TO users", rule);
        assert_eq!(refs, [table("public", "TO"), table("public", "log")]);
        let check = "ALTER TABLE public.t\n    ADD CONSTRAINT c CHECK ((note <> 'REFERENCES other(id)'::text)) NOT VALID;\n";
        let refs = dependency_refs(&Kind::CheckConstraint, Some("public"), "t c", check);
        assert_eq!(refs, [table("public", "t")]);
    }

    #[test]
    fn comment_tags_with_on_in_quoted_names() {
        assert_eq!(
            parent_of_tag(
                Some("public"),
                "CONSTRAINT \"REFERENCES users ON x\" ON \"TO\""
            ),
            Some(obj(
                &[Kind::Constraint, Kind::FkConstraint, Kind::CheckConstraint],
                (Some("public".into()), "TO REFERENCES users ON x".into())
            ))
        );
        assert_eq!(
            parent_of_tag(Some("public"), "TRIGGER last_updated ON actor"),
            Some(obj(
                &[Kind::Trigger],
                (Some("public".into()), "actor last_updated".into())
            ))
        );
    }
}
