//! The tables a rule set must cover, with a few sampled rows each: read from a plain dump (the COPY
//! statements name exactly the columns that carry data) or from a live database's catalog (the same
//! columns: no generated ones, no partitioned parents, no extension tables).
//!
//! The database is read over one connection of pgveil's own client (the direct read's, through
//! [`CatalogSession`]: no tokio here), or through psql where that client cannot honour the
//! connection (a service file, a client certificate, GSSAPI).
//!
//! `rules check` and `rules init` work on this model; sampling is bounded (`sample_rows` per table)
//! so a check of a large database or dump stays quick.

use std::io::Read;

use crate::copy::{for_each_field, unescape_into};
use crate::dump::facts::{parse_create_table, SchemaFacts};
use crate::dump::ident::quote_qualified;
use crate::dump::{DumpError, DumpReader, Event};
use crate::input::client::{Client, ClientError, ClientProgram};
use crate::input::conninfo::{ConnInfo, ConnInfoError};
use crate::input::direct::catalog::CatalogSession;
use crate::input::direct::DirectError;

use crate::mask::ColumnInfo;

#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error("running {what}")]
    Psql {
        what: String,
        #[source]
        source: ClientError,
    },
    /// pgveil's own client: the connection (its target and the server's message) or a statement.
    #[error(transparent)]
    Client(#[from] DirectError),
    #[error("unexpected catalog row: {0:?}")]
    BadRow(String),
    #[error(transparent)]
    ConnInfo(#[from] ConnInfoError),
}

/// One table that holds data, its data columns in COPY order, and up to `sample_rows` raw COPY rows.
#[derive(Debug, Clone)]
pub struct TableSample {
    pub schema: String,
    pub table: String,
    pub columns: Vec<ColumnInfo>,
    /// Raw COPY text rows, each ending in `\n`.
    pub sample: Vec<u8>,
    pub sample_rows: usize,
}

impl TableSample {
    /// `schema.table` as written in SQL (quoted where needed).
    pub fn qualified(&self) -> String {
        quote_qualified(&self.schema, &self.table)
    }

    /// Call `f(column index, raw field)` for every field of the sampled rows.
    pub fn for_each_sampled<'a>(&'a self, mut f: impl FnMut(usize, &'a [u8])) {
        for row in self.sample.split(|&b| b == b'\n') {
            if row.is_empty() {
                continue;
            }
            for_each_field(row, &mut f);
        }
    }
}

/// Tables from a plain dump: those with a COPY block, with the types and keys its DDL shows; from a
/// schema-only dump (no COPY block at all), those its `CREATE TABLE` statements define.
pub fn tables_from_dump<R: Read>(
    src: R,
    sample_rows: usize,
) -> Result<Vec<TableSample>, DumpError> {
    let mut facts = SchemaFacts::new();
    let mut tables: Vec<TableSample> = Vec::new();
    let mut reader = DumpReader::new(src);
    let mut in_copy = false;
    let mut created: Vec<(String, String, Vec<String>)> = Vec::new();
    while let Some(event) = reader.next_event()? {
        match event {
            Event::Entry(e) => {
                facts.observe(&e);
                if e.header.desc == "TABLE" {
                    if let Some(t) = created_table(&String::from_utf8_lossy(e.body())) {
                        created.push(t);
                    }
                }
            }
            Event::DataBegin(e) => {
                in_copy = false;
                if let Some(copy) = &e.copy {
                    in_copy = true;
                    tables.push(TableSample {
                        schema: copy.schema.clone().unwrap_or_default(),
                        table: copy.table.clone(),
                        columns: copy
                            .columns
                            .iter()
                            .map(|c| ColumnInfo {
                                name: c.clone(),
                                type_name: None,
                                unique: false,
                            })
                            .collect(),
                        sample: Vec::new(),
                        sample_rows: 0,
                    });
                }
            }
            Event::CopyRows { rows, .. } if in_copy => {
                let t = tables.last_mut().expect("a table is open");
                for row in rows.split_inclusive(|&b| b == b'\n') {
                    if t.sample_rows >= sample_rows {
                        break;
                    }
                    t.sample.extend_from_slice(row);
                    t.sample_rows += 1;
                }
            }
            Event::DataEnd(_) => in_copy = false,
            _ => {}
        }
    }
    // A schema-only dump has no COPY block: its tables are those CREATE TABLE defines.
    if tables.is_empty() {
        for (schema, table, columns) in created {
            tables.push(TableSample {
                schema,
                table,
                columns: columns
                    .into_iter()
                    .map(|name| ColumnInfo {
                        name,
                        type_name: None,
                        unique: false,
                    })
                    .collect(),
                sample: Vec::new(),
                sample_rows: 0,
            });
        }
    }
    for t in &mut tables {
        for c in &mut t.columns {
            c.type_name = facts.column_type(&t.schema, &t.table, &c.name);
            c.unique = facts.is_keyed(&t.schema, &t.table, &c.name);
        }
    }
    Ok(tables)
}

/// `CREATE TABLE schema.name (…)` as pg_dump prints it → the table and the columns that would carry
/// data: none for a partitioned parent (`PARTITION BY`), and no generated (`GENERATED ALWAYS AS (…)
/// STORED`) column. Identity columns are declared by a later `ALTER TABLE` and carry data.
fn created_table(body: &str) -> Option<(String, String, Vec<String>)> {
    let created = parse_create_table(body)?;
    let rest = created.rest;
    if rest.contains("\n)\nPARTITION BY ") || rest.trim_start().starts_with("PARTITION OF ") {
        return None;
    }
    let columns = created
        .columns
        .into_iter()
        // Generated (stored) columns carry no data; identity columns do.
        .filter(|(_, after)| {
            !after.contains(" GENERATED ALWAYS AS (") || after.contains(" AS IDENTITY")
        })
        .map(|(name, _)| name)
        .collect();
    Some((created.schema?, created.table, columns))
}

/// Columns of every table that holds data, in order, with the type as pg_dump prints it (types
/// outside `pg_catalog` schema-qualified, as with pg_dump's empty search_path) and whether a unique
/// index or a foreign key covers it.
const CATALOG_QUERY: &str = r#"COPY (
SELECT n.nspname, c.relname, a.attname, pg_catalog.format_type(a.atttypid, a.atttypmod),
       EXISTS (SELECT 1 FROM pg_catalog.pg_index i
               WHERE i.indrelid = c.oid AND i.indisunique AND a.attnum = ANY (i.indkey))
       OR EXISTS (SELECT 1 FROM pg_catalog.pg_constraint k
                  WHERE k.conrelid = c.oid AND k.contype = 'f' AND a.attnum = ANY (k.conkey))
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
     AND a.attgenerated = ''
WHERE c.relkind = 'r'
  AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\_%'
  AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                  WHERE d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
                    AND d.objid = c.oid AND d.deptype = 'e')
ORDER BY n.nspname, c.relname, a.attnum
) TO STDOUT"#;

/// Where the catalog and the samples are read: pgveil's own client (the direct read's connection
/// code), or psql where that client cannot honour the connection (a service file, a client
/// certificate, GSSAPI…).
enum Reader<'a> {
    Client(Box<CatalogSession>),
    Psql(Option<&'a str>),
}

impl Reader<'_> {
    /// The output of one `COPY … TO STDOUT` statement.
    fn copy_out(&self, copy: &str, what: &str) -> Result<Vec<u8>, SchemaError> {
        match self {
            Reader::Client(session) => Ok(session.copy_out(copy, what)?),
            Reader::Psql(dbname) => psql_script(*dbname, &format!("{copy};"), what),
        }
    }
}

/// Run `script` (SQL and psql meta-commands) in one psql session; its standard output.
fn psql_script(dbname: Option<&str>, script: &str, what: &str) -> Result<Vec<u8>, SchemaError> {
    use std::io::Write;
    // The connection's secrets go through the environment, never the command line.
    let conn = ConnInfo::parse_opt(dbname)?;
    let failed = |source| SchemaError::Psql {
        what: what.to_string(),
        source,
    };
    let mut client = Client::new(ClientProgram::Psql);
    client
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .connect(conn.as_ref(), "-d")
        .piped_stdin()
        .stdout(std::process::Stdio::piped());
    let mut psql = client.spawn().map_err(failed)?;
    let mut stdin = psql.stdin().expect("piped stdin");
    // pg_dump's empty search_path: types print schema-qualified as in a dump. Written from a thread,
    // so that a long script cannot block on a full stdout pipe.
    let script = format!("SET search_path = '';\n{script}\n");
    let writer = std::thread::spawn(move || stdin.write_all(script.as_bytes()));
    let out = psql.wait_with_stdout();
    // A write error only means psql stopped reading (it failed; its status says why).
    let _ = writer.join();
    out.map_err(failed)
}

/// Tables of a live database (`dbname`: a name or libpq connection string; `None` = libpq's
/// defaults), each with up to `sample_rows` rows read with `COPY (SELECT … LIMIT n) TO STDOUT`, over
/// one connection of pgveil's own client, or through psql where that client cannot honour the
/// connection: then `through_psql` is told why, before psql runs.
pub fn tables_from_database(
    dbname: Option<&str>,
    sample_rows: usize,
    through_psql: impl FnOnce(&str),
) -> Result<Vec<TableSample>, SchemaError> {
    let reader = match CatalogSession::open(dbname) {
        Ok(session) => {
            // pg_dump's empty search_path: types print schema-qualified as in a dump. The
            // database's own encoding, as psql (not on a terminal) reads it.
            session.execute(
                "SELECT pg_catalog.set_config('search_path', '', false); \
                     SELECT pg_catalog.set_config('client_encoding', \
                       pg_catalog.current_setting('server_encoding'), false)",
                "setting up the session",
            )?;
            Reader::Client(Box::new(session))
        }
        Err(DirectError::Unsupported(why)) => {
            through_psql(&why);
            Reader::Psql(dbname)
        }
        Err(e) => return Err(e.into()),
    };
    let catalog = reader.copy_out(CATALOG_QUERY, "the catalog query")?;
    let mut tables: Vec<TableSample> = Vec::new();
    let mut value = Vec::new();
    for row in catalog.split(|&b| b == b'\n').filter(|r| !r.is_empty()) {
        let mut fields: Vec<String> = Vec::with_capacity(5);
        for_each_field(row, |_, raw| {
            value.clear();
            let _ = unescape_into(raw, &mut value);
            fields.push(String::from_utf8_lossy(&value).into_owned());
        });
        let [schema, table, column, type_name, unique] = &fields[..] else {
            return Err(SchemaError::BadRow(String::from_utf8_lossy(row).into()));
        };
        let col = ColumnInfo {
            name: column.clone(),
            type_name: Some(type_name.clone()),
            unique: unique == "t",
        };
        match tables.last_mut() {
            Some(t) if &t.schema == schema && &t.table == table => t.columns.push(col),
            _ => tables.push(TableSample {
                schema: schema.clone(),
                table: table.clone(),
                columns: vec![col],
                sample: Vec::new(),
                sample_rows: 0,
            }),
        }
    }
    if sample_rows > 0 && !tables.is_empty() {
        match &reader {
            Reader::Client(session) => sample_with_client(session, &mut tables, sample_rows)?,
            Reader::Psql(dbname) => sample_with_psql(*dbname, &mut tables, sample_rows)?,
        }
    }
    Ok(tables)
}

/// `COPY (SELECT columns FROM ONLY table LIMIT n) TO STDOUT` for one table.
fn sample_copy(t: &TableSample, sample_rows: usize) -> String {
    let cols: Vec<String> = t
        .columns
        .iter()
        .map(|c| crate::dump::ident::quote_ident(&c.name))
        .collect();
    format!(
        "COPY (SELECT {} FROM ONLY {} LIMIT {sample_rows}) TO STDOUT",
        cols.join(", "),
        t.qualified()
    )
}

/// Read up to `sample_rows` rows of every table, one COPY after the other on the one connection.
fn sample_with_client(
    session: &CatalogSession,
    tables: &mut [TableSample],
    sample_rows: usize,
) -> Result<(), SchemaError> {
    for t in tables.iter_mut() {
        let rows = session.copy_out(
            &sample_copy(t, sample_rows),
            &format!("sampling {}", t.qualified()),
        )?;
        // COPY text escapes a newline inside a value: each `\n` ends one row.
        t.sample_rows += memchr::memchr_iter(b'\n', &rows).count();
        t.sample.extend_from_slice(&rows);
    }
    Ok(())
}

/// Put before each table's sample in the output of the one psql session that reads them all. COPY
/// TO never writes a backslash followed by `@` (it escapes a backslash as `\\`), so no row can look
/// like it.
const SAMPLE_MARK: &[u8] = b"\\@pgveil-sample ";

/// Read up to `sample_rows` rows of every table in one psql session (one connection, however many
/// tables), each COPY preceded by an `\echo` of [`SAMPLE_MARK`] and the table's index.
fn sample_with_psql(
    dbname: Option<&str>,
    tables: &mut [TableSample],
    sample_rows: usize,
) -> Result<(), SchemaError> {
    let mut script = String::new();
    for (i, t) in tables.iter().enumerate() {
        // In a quoted psql argument `\\` is one backslash.
        script.push_str(&format!(
            "\\echo '\\\\@pgveil-sample {i}'\n{};\n",
            sample_copy(t, sample_rows)
        ));
    }
    let out = psql_script(
        dbname,
        &script,
        &format!("sampling {} tables", tables.len()),
    )?;
    let mut current: Option<usize> = None;
    for line in out.split_inclusive(|&b| b == b'\n') {
        if let Some(index) = line.strip_prefix(SAMPLE_MARK) {
            let index = std::str::from_utf8(index)
                .ok()
                .and_then(|s| s.trim_end().parse::<usize>().ok())
                .filter(|&i| i < tables.len())
                .ok_or_else(|| SchemaError::BadRow(String::from_utf8_lossy(line).into()))?;
            current = Some(index);
            continue;
        }
        let Some(i) = current else {
            return Err(SchemaError::BadRow(String::from_utf8_lossy(line).into()));
        };
        tables[i].sample.extend_from_slice(line);
        tables[i].sample_rows += 1;
    }
    Ok(())
}
