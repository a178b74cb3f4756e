//! Building TOC entries from the entries of a plain dump: kind and section, tag, catalog ids,
//! definition and owner statement, drop statement, tablespace and access method, and the
//! references its dependencies will be resolved from ([`Pending`]). Also the entries a plain dump
//! has no counterpart for (ENCODING, STDSTRINGS, SEARCHPATH, and DATABASE when it lacks one).

use super::ddl::{Ddl, Marker};
use super::deps::{dependency_refs, Ref};
use super::format::{BLK_BLOBS, BLK_DATA, NO_DATA, POS_NOT_SET};
use super::toc::{Kind, Section, TocEntry};
use crate::dump::ident::{parse_ident, parse_qualified, quote_ident};
use crate::dump::{CopyStmt, Entry, Preamble};
use crate::sink::SinkError;

/// An entry waiting for `finish`: its TOC fields and dependency references.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    pub toc: TocEntry,
    pub refs: Vec<Ref>,
    /// Dependencies from `pg_dump -v` headers.
    pub verbose_deps: Vec<i32>,
    /// The spooled chunks of its data block: (start, length) in the spool file.
    pub data: Option<(u64, u64)>,
    /// `BLK_DATA` (table data) or `BLK_BLOBS` (large objects).
    pub block_type: u8,
}

/// The TOC entry of a plain dump's `entry` (`data`: its data part). `post_data_seen`: an earlier
/// entry was post-data; `earlier`: the entries built so far.
pub fn build(
    entry: &Entry,
    data: bool,
    post_data_seen: bool,
    earlier: &[Pending],
) -> Result<Pending, SinkError> {
    let h = &entry.header;
    let kind = Kind::parse(&h.desc);
    let tag = real_tag(entry, &kind).unwrap_or_else(|| h.tag.clone());
    let blobs = kind == Kind::Blobs;
    if data && entry.copy.is_none() && !blobs {
        return Err(SinkError::Unsupported(format!(
            "a {kind} entry with a data part other than COPY is not supported in the custom archive"
        )));
    }
    let (tableoid, oid) = match h.catalog_id {
        Some((c, o)) => (c.to_string(), o.to_string()),
        // pg_database's OID: pg_dump always records it for the DATABASE entry.
        None if kind == Kind::Database => ("1262".to_string(), "0".to_string()),
        None => ("0".to_string(), "0".to_string()),
    };
    let (defn, owner_stmt, copy_stmt) = if blobs {
        (None, None, None)
    } else if data {
        let copy = String::from_utf8_lossy(entry.body()).into_owned();
        // pg_dump keeps `-- load via partition root …` as the data entry's definition.
        let defn = entry.data_comment.clone().map(String::into_bytes);
        (defn, None, Some(copy))
    } else {
        let (defn, owner_stmt) = split_body(entry, &kind);
        (Some(defn), owner_stmt, None)
    };
    let defn_text = defn
        .as_deref()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let ns = h.namespace.as_deref();
    let drop = if data {
        None
    } else if kind == Kind::Rule && defn_text.starts_with("CREATE OR REPLACE VIEW ") {
        placeholder_view(earlier, ns, &tag)
    } else {
        drop_stmt(
            &kind,
            h.owner.as_deref(),
            owner_stmt.as_deref(),
            &defn_text,
            ns,
            &tag,
        )
    };
    let refs = dependency_refs(&kind, ns, &tag, &defn_text);
    let tablespace = match kind {
        Kind::Table | Kind::MaterializedView | Kind::Index | Kind::Constraint => entry
            .current_tablespace
            .clone()
            .or_else(|| h.tablespace.clone()),
        _ => h.tablespace.clone(),
    };
    let tableam = match kind {
        // Partitioned tables have no access method.
        Kind::Table if Ddl::new(&defn_text).is_partitioned() => None,
        Kind::Table | Kind::MaterializedView => entry.current_tableam.clone(),
        _ => None,
    };
    let toc = TocEntry {
        dump_id: h.dump_id.unwrap_or(0),
        had_dumper: data,
        tableoid,
        oid,
        tag,
        section: kind.section(post_data_seen),
        desc: kind,
        defn: defn.filter(|d| !d.is_empty()),
        drop_stmt: drop,
        copy_stmt,
        namespace: h.namespace.clone(),
        tablespace,
        tableam,
        owner: h.owner.clone(),
        with_oids: Some("false".into()),
        dependencies: Vec::new(),
        offset: (if data { POS_NOT_SET } else { NO_DATA }, 0),
    };
    Ok(Pending {
        toc,
        refs,
        verbose_deps: h.dependencies.clone(),
        data: None,
        block_type: if blobs { BLK_BLOBS } else { BLK_DATA },
    })
}

/// A view that loops through a function: pg_dump created it as a placeholder (`SELECT NULL::type
/// AS col`) and defines it in a RULE entry. Undoing that entry puts the placeholder back, so that
/// what the view depends on can then be dropped.
fn placeholder_view(earlier: &[Pending], ns: Option<&str>, tag: &str) -> Option<String> {
    let view = tag.strip_suffix(" _RETURN").unwrap_or(tag);
    earlier
        .iter()
        .rev()
        .find(|e| e.toc.desc == Kind::View && e.toc.tag == view && e.toc.namespace.as_deref() == ns)
        .and_then(|e| e.toc.defn.as_deref())
        .map(String::from_utf8_lossy)
        .and_then(|placeholder| {
            placeholder
                .strip_prefix("CREATE VIEW ")
                .map(|rest| format!("CREATE OR REPLACE VIEW {rest}"))
        })
}

/// pg_dump writes names in its comment headers with newlines turned into spaces; pg_restore names
/// objects by the TOC tag, which must be the real name. For tables, views and sequences, and their
/// data, the statement gives it back.
fn real_tag(entry: &Entry, kind: &Kind) -> Option<String> {
    let h = &entry.header;
    if !h.tag.contains(' ') {
        return None;
    }
    let real = match kind {
        Kind::TableData => entry.copy.as_ref().map(|c| c.table.clone()),
        Kind::Table | Kind::View | Kind::MaterializedView | Kind::ForeignTable | Kind::Sequence => {
            let defn = std::str::from_utf8(entry.body()).ok()?;
            let rest = [
                "CREATE TABLE ",
                "CREATE UNLOGGED TABLE ",
                "CREATE VIEW ",
                "CREATE MATERIALIZED VIEW ",
                "CREATE FOREIGN TABLE ",
                "CREATE SEQUENCE ",
            ]
            .iter()
            .find_map(|p| defn.strip_prefix(p))?;
            parse_qualified(rest).map(|(_, name, _)| name)
        }
        _ => None,
    }?;
    (real != h.tag && real.replace('\n', " ") == h.tag).then_some(real)
}

/// A COPY block goes into the archive only as the data of its own TABLE DATA entry for the same
/// table: pg_restore restores a data entry by its COPY statement, and a COPY the archive cannot
/// place (outside such an entry, or naming another table) must stop the pass, never be dropped.
pub fn place_copy(entry: &Entry, copy: &CopyStmt) -> Result<(), SinkError> {
    let h = &entry.header;
    if entry.stray {
        return Err(SinkError::Invalid(format!(
            "line {}: COPY of {} is not the data of a TABLE DATA entry of its own; the custom archive has no entry to place it in",
            entry.line,
            copy.display_name()
        )));
    }
    // With `pg_dump --load-via-partition-root` a partition's rows go into the root table the
    // entry's comment names.
    let root = entry
        .data_comment
        .as_deref()
        .and_then(|c| c.strip_prefix("-- load via partition root "))
        .and_then(parse_qualified)
        .filter(|(_, _, rest)| rest.trim().is_empty());
    let placed = match root {
        Some((schema, table, _)) => copy.schema == schema && copy.table == table,
        None => copy.schema == h.namespace && copy.table.replace('\n', " ") == h.tag,
    };
    if !placed {
        return Err(SinkError::Invalid(format!(
            "line {}: the TABLE DATA entry of {}.{} holds a COPY of {}; the custom archive cannot place it",
            entry.line,
            h.namespace.as_deref().unwrap_or("-"),
            h.tag,
            copy.display_name()
        )));
    }
    Ok(())
}

/// Split a plain-dump body into the defn and the trailing `ALTER … OWNER TO` line (if any).
/// pg_restore prints `defn + "\n\n"`, then the owner statement, so the defn is the body without the
/// statement and without the last `"\n\n"`.
fn split_body(entry: &Entry, kind: &Kind) -> (Vec<u8>, Option<String>) {
    let (body, owner_stmt): (&[u8], Option<String>) =
        if matches!(kind, Kind::Database | Kind::DatabaseProperties) {
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

fn qualified(ns: Option<&str>, name: &str) -> String {
    match ns {
        Some(ns) => format!("{}.{}", quote_ident(ns), quote_ident(name)),
        None => quote_ident(name),
    }
}

/// The dropStmt of an entry (§5/§6.3 of the spec), or `None` for kinds that have none.
pub fn drop_stmt(
    kind: &Kind,
    owner: Option<&str>,
    owner_stmt: Option<&str>,
    defn: &str,
    ns: Option<&str>,
    tag: &str,
) -> Option<String> {
    if *kind == Kind::Blob {
        // pg_dump's own form; pg_restore names the object from the tag, not from this statement.
        return Some(format!("SELECT pg_catalog.lo_unlink('{tag}');\n"));
    }
    if *kind == Kind::Schema && defn.starts_with("-- *not* creating schema") {
        return Some("-- *not* dropping schema, since initdb creates it\n".into());
    }
    if let Some(stmt) = owner_stmt {
        return drop_from_owner_stmt(kind, stmt);
    }
    let ddl = Ddl::new(defn);
    match kind {
        Kind::Extension => Some(format!("DROP EXTENSION {};\n", quote_ident(tag))),
        Kind::AccessMethod => Some(format!("DROP ACCESS METHOD {};\n", quote_ident(tag))),
        // The tag is `CAST (source AS target)`, as the statement names it.
        Kind::Cast => Some(format!("DROP {tag};\n")),
        Kind::UserMapping => drop_user_mapping(defn),
        Kind::Constraint | Kind::FkConstraint | Kind::CheckConstraint => {
            let at = ddl.offset_of(&["ADD", "CONSTRAINT"])?;
            let name = ddl.name_after(&["ADD", "CONSTRAINT"])?;
            Some(format!(
                "{} DROP CONSTRAINT {};\n",
                defn[..at].trim_end(),
                quote_ident(&name)
            ))
        }
        Kind::Index => Some(format!("DROP INDEX {};\n", qualified(ns, tag))),
        Kind::Trigger | Kind::Policy => {
            let kw = if *kind == Kind::Trigger {
                "TRIGGER"
            } else {
                "POLICY"
            };
            let name = ddl.name_after(&[kw])?;
            let (tns, table) = ddl.own_table()?;
            Some(format!(
                "DROP {kind} {} ON {};\n",
                quote_ident(&name),
                qualified(tns.as_deref(), &table)
            ))
        }
        Kind::Rule => {
            let rest = defn.strip_prefix("CREATE RULE ")?;
            let (name, _) = parse_ident(rest)?;
            let (tns, table) = ddl.table_after(Marker::To)?;
            Some(format!(
                "DROP RULE {} ON {};\n",
                quote_ident(&name),
                qualified(tns.as_deref(), &table)
            ))
        }
        Kind::Default => {
            // ALTER TABLE ONLY s.t ALTER COLUMN c SET DEFAULT …; (read name by name from the start)
            let rest = defn
                .strip_prefix("ALTER TABLE ONLY ")
                .or_else(|| defn.strip_prefix("ALTER TABLE "))?;
            let (tns, table, rest) = parse_qualified(rest)?;
            let rest = rest.strip_prefix(" ALTER COLUMN ")?;
            let (col, _) = parse_ident(rest)?;
            Some(format!(
                "ALTER TABLE {} ALTER COLUMN {} DROP DEFAULT;\n",
                qualified(tns.as_deref(), &table),
                quote_ident(&col)
            ))
        }
        _ if kind.is_ownable() && owner.is_some_and(|o| !o.is_empty()) => {
            // An owned object printed without `ALTER … OWNER TO` had an empty dropStmt (identity
            // sequences); an empty one reproduces that.
            Some(String::new())
        }
        Kind::Table
        | Kind::View
        | Kind::Sequence
        | Kind::MaterializedView
        | Kind::ForeignTable
        | Kind::Type
        | Kind::Domain
        | Kind::Schema => Some(format!("DROP {kind} {};\n", qualified(ns, tag))),
        Kind::Function | Kind::Procedure | Kind::Aggregate => {
            let (name, args) = tag.split_at(tag.find('(')?);
            Some(format!("DROP {kind} {}{args};\n", qualified(ns, name)))
        }
        _ => None,
    }
}

/// `CREATE USER MAPPING FOR user SERVER server [OPTIONS (…)];` → `DROP USER MAPPING FOR user SERVER
/// server;`
fn drop_user_mapping(defn: &str) -> Option<String> {
    let first_line = defn.lines().next().unwrap_or("");
    let rest = first_line.strip_prefix("CREATE USER MAPPING FOR ")?;
    let start = first_line.len() - rest.len();
    let end = Ddl::new(first_line)
        .offset_of(&["OPTIONS"])
        .map(|at| first_line[..at].trim_end().len())
        .unwrap_or_else(|| first_line.strip_suffix(';').unwrap_or(first_line).len());
    Some(format!(
        "DROP USER MAPPING FOR {};\n",
        first_line.get(start..end)?
    ))
}

/// `ALTER <object> OWNER TO role;` → `DROP <object>;` (with pg_restore's names for the kinds that
/// ALTER names otherwise).
fn drop_from_owner_stmt(kind: &Kind, stmt: &str) -> Option<String> {
    stmt.strip_prefix("ALTER ")?;
    let at = Ddl::new(stmt).last_offset_of(&["OWNER", "TO"])?;
    let obj = stmt["ALTER ".len()..at].trim_end();
    let obj = match kind {
        Kind::View | Kind::Sequence | Kind::MaterializedView => match obj.strip_prefix("TABLE ") {
            Some(name) => format!("{kind} {name}"),
            None => obj.to_string(),
        },
        Kind::ProceduralLanguage => match obj.strip_prefix("LANGUAGE ") {
            Some(name) => format!("PROCEDURAL LANGUAGE {name}"),
            None => obj.to_string(),
        },
        _ => obj.to_string(),
    };
    Some(format!("DROP {obj};\n"))
}

/// The special entries pg_dump puts first (ENCODING, STDSTRINGS, SEARCHPATH), from the preamble.
pub fn special_entries(p: &Preamble) -> Vec<TocEntry> {
    let mut out = vec![
        TocEntry::special(
            Kind::Encoding,
            format!(
                "SET client_encoding = '{}';\n",
                p.encoding.as_deref().unwrap_or("UTF8")
            ),
        ),
        TocEntry::special(
            Kind::StdStrings,
            format!(
                "SET standard_conforming_strings = '{}';\n",
                p.standard_conforming_strings.as_deref().unwrap_or("on")
            ),
        ),
    ];
    if let Some(sp) = &p.search_path_stmt {
        out.push(TocEntry::special(Kind::SearchPath, format!("{sp}\n")));
    }
    out
}

/// The DATABASE entry of a dump that has none (a file input): the encoding only, owned by the
/// owner of schema public or else of the first owned entry, as pg_restore -C needs one.
pub fn synthesized_database(p: &Preamble, dbname: &str, entries: &[Pending]) -> TocEntry {
    let usable = |o: &&String| !o.is_empty() && o.as_str() != "pg_database_owner";
    let owner = entries
        .iter()
        .find(|e| e.toc.desc == Kind::Schema && e.toc.tag == "public")
        .and_then(|e| e.toc.owner.as_ref())
        .filter(usable)
        .or_else(|| {
            entries
                .iter()
                .filter_map(|e| e.toc.owner.as_ref())
                .find(usable)
        })
        .cloned();
    let q = quote_ident(dbname);
    TocEntry {
        tableoid: "1262".into(),
        oid: "0".into(),
        tag: dbname.to_string(),
        desc: Kind::Database,
        section: Section::PreData,
        defn: Some(
            format!(
                "CREATE DATABASE {q} WITH TEMPLATE = template0 ENCODING = '{}';\n",
                p.encoding.as_deref().unwrap_or("UTF8")
            )
            .into_bytes(),
        ),
        drop_stmt: Some(format!("DROP DATABASE {q};\n")),
        owner,
        with_oids: Some("false".into()),
        offset: (NO_DATA, 0),
        ..TocEntry::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drop(kind: Kind, owner_stmt: Option<&str>, defn: &str, tag: &str) -> Option<String> {
        drop_stmt(&kind, Some("pg"), owner_stmt, defn, Some("public"), tag)
    }

    #[test]
    fn drop_statements() {
        assert_eq!(
            drop(
                Kind::View,
                Some("ALTER TABLE public.\"My View\" OWNER TO pg;"),
                "",
                "My View"
            )
            .as_deref(),
            Some("DROP VIEW public.\"My View\";\n")
        );
        assert_eq!(
            drop(
                Kind::Function,
                Some("ALTER FUNCTION public.f(integer) OWNER TO pg;"),
                "",
                "f(integer)"
            )
            .as_deref(),
            Some("DROP FUNCTION public.f(integer);\n")
        );
        assert_eq!(
            drop_stmt(
                &Kind::FkConstraint,
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
            drop(
                Kind::Sequence,
                None,
                "ALTER TABLE public.t ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (\n);\n",
                "t_id_seq"
            )
            .as_deref(),
            Some("")
        );
        assert_eq!(
            drop_stmt(
                &Kind::Trigger,
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
                &Kind::Default,
                None,
                None,
                "ALTER TABLE ONLY public.t ALTER COLUMN id SET DEFAULT nextval('public.t_id_seq'::regclass);\n",
                Some("public"),
                "t id"
            )
            .as_deref(),
            Some("ALTER TABLE public.t ALTER COLUMN id DROP DEFAULT;\n")
        );
        assert_eq!(
            drop_stmt(
                &Kind::UserMapping,
                None,
                None,
                "CREATE USER MAPPING FOR \"a OPTIONS (\" SERVER s OPTIONS (\n    x 'y'\n);\n",
                None,
                "USER MAPPING a SERVER s"
            )
            .as_deref(),
            Some("DROP USER MAPPING FOR \"a OPTIONS (\" SERVER s;\n")
        );
    }

    #[test]
    fn drop_statements_of_misleading_names() {
        assert_eq!(
            drop_stmt(
                &Kind::Trigger,
                None,
                None,
                "CREATE TRIGGER \"fire ON users\" BEFORE INSERT ON public.\"TO\" FOR EACH ROW EXECUTE FUNCTION public.trg();\n",
                Some("public"),
                "TO fire ON users"
            )
            .as_deref(),
            Some("DROP TRIGGER \"fire ON users\" ON public.\"TO\";\n")
        );
        assert_eq!(
            drop_stmt(
                &Kind::Rule,
                None,
                None,
                "CREATE RULE \"r TO users\" AS\n    ON UPDATE TO public.\"TO\" DO  INSERT INTO public.log (msg)\n  VALUES ('x'::text);\n",
                Some("public"),
                "TO r TO users"
            )
            .as_deref(),
            Some("DROP RULE \"r TO users\" ON public.\"TO\";\n")
        );
        assert_eq!(
            drop(
                Kind::Table,
                Some("ALTER TABLE public.\"x OWNER TO y\" OWNER TO pg;"),
                "",
                "x OWNER TO y"
            )
            .as_deref(),
            Some("DROP TABLE public.\"x OWNER TO y\";\n")
        );
        assert_eq!(
            drop_stmt(
                &Kind::CheckConstraint,
                None,
                None,
                "ALTER TABLE public.\"ADD CONSTRAINT x\"\n    ADD CONSTRAINT \"c\" CHECK ((a <> 'ADD CONSTRAINT y'::text)) NOT VALID;\n",
                Some("public"),
                "ADD CONSTRAINT x c"
            )
            .as_deref(),
            Some("ALTER TABLE public.\"ADD CONSTRAINT x\" DROP CONSTRAINT c;\n")
        );
    }
}
