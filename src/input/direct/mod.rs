//! The direct read (`--read direct`): table data over N connections of pgveil's own sharing one
//! snapshot, giving the same plain-dump byte stream pg_dump would, so that every writer works on it
//! unchanged.
//!
//! - [`connect`]: the connection (conninfo, `PG*` variables, password file) and pg_dump's session;
//! - [`tls`]: TLS with rustls, as `sslmode` says;
//! - [`toc`]: the TOC of `pg_dump -Fc`, read before pg_dump reads any data, then pg_dump stopped;
//! - [`splice`]: where the data section goes in `pg_dump --section=pre-data --section=post-data`
//!   and how pg_dump prints data entries;
//! - [`plan`]: the COPY statements of each table (block ranges for large tables);
//! - [`reader`]: the parallel COPYs, reordered into one stream with bounded memory;
//! - [`catalog`]: one connection of the same client, synchronous, for catalog reads and samples
//!   (`rules check/init --dbname`).
//!
//! [`DirectSession::open`] connects and exports the snapshot (REPEATABLE READ, READ ONLY); every
//! pg_dump run of the backup is given it (`--snapshot`). [`DirectSession::source`] then runs the two
//! pg_dumps above, locks the tables read (ACCESS SHARE, as pg_dump does), and starts the readers.
//! What the direct read cannot do exactly as pg_dump (an option it does not model, large objects,
//! a connection parameter this client lacks) is [`DirectError::Unsupported`], and the caller reads
//! through pg_dump on the same snapshot instead: the output never differs.

pub mod catalog;
pub mod connect;
pub mod copy_out;
pub mod handover;
pub mod plan;
pub mod reader;
pub mod splice;
pub mod tls;
pub mod toc;

use std::collections::HashMap;
use std::ffi::OsString;
use std::io::BufReader;
use std::process::Stdio;

use tokio_postgres::Client;

use copy_out::CopyConnection;

use super::client::{Client as ClientCmd, ClientProgram};
use super::conninfo::{ConnInfo, ConnInfoError};
use super::pg_dump::PgDumpArgs;
use super::pg_dump_args::PgDumpOptions;
use super::source::{Source, SourceError};
use plan::{TableInfo, Unit};
use reader::Piece;

/// How a database is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ReadMode {
    /// One pg_dump process.
    #[default]
    PgDump,
    /// pgveil's own connections, `jobs` of them.
    Direct { jobs: usize },
}

/// The default number of connections: the host's cores, at least 2, at most 8.
pub fn default_jobs() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(2)
        .clamp(2, 8)
}

#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    /// Something only pg_dump does; the caller reads through pg_dump instead.
    #[error("the direct read cannot honour {0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
    /// The server's own message (its `FATAL: …`, as pg_dump shows it), or the network's, or the
    /// TLS handshake's.
    #[error("connecting to {target}")]
    Connect {
        target: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("{what}")]
    Query {
        what: String,
        #[source]
        source: tokio_postgres::Error,
    },
    #[error(transparent)]
    ConnInfo(#[from] ConnInfoError),
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("reading the table of contents of pg_dump -Fc")]
    Toc(#[source] std::io::Error),
    #[error("starting the direct read's runtime")]
    Runtime(#[source] std::io::Error),
}

/// pg_dump options the direct read gives the same output with (they only select what is dumped,
/// or change the schema's text, which pg_dump itself prints). Any other sends the read to pg_dump:
/// among them `--snapshot` and `--serializable-deferrable` (a snapshot not the direct read's own).
const HONOURED: &[&str] = &[
    "no-owner",
    "no-privileges",
    "no-comments",
    "no-publications",
    "no-subscriptions",
    "no-security-labels",
    "no-tablespaces",
    "no-table-access-method",
    "no-toast-compression",
    "no-unlogged-table-data",
    "no-policies",
    "create",
    "table",
    "exclude-table",
    "table-and-children",
    "exclude-table-and-children",
    "schema",
    "exclude-schema",
    "exclude-table-data",
    "exclude-table-data-and-children",
    "extension",
    "exclude-extension",
    "strict-names",
    "include-foreign-data",
    "encoding",
    "lock-wait-timeout",
    "restrict-key",
    "no-sync",
];

/// Whether the options allow a direct read; the reason if not.
pub fn check_options(options: &PgDumpOptions) -> Result<(), DirectError> {
    for name in options.canonical_names() {
        if !HONOURED.contains(&name) {
            return Err(DirectError::Unsupported(format!(
                "the pg_dump option --{name}"
            )));
        }
    }
    Ok(())
}

/// Why [`DirectSession::source`] gave no stream.
pub enum Refused {
    /// Something only pg_dump does (the reason); the session still holds the snapshot.
    Unsupported(Box<DirectSession>, String),
    Failed(DirectError),
}

/// An open connection holding the exported snapshot, and the runtime its tasks run on.
pub struct DirectSession {
    runtime: tokio::runtime::Runtime,
    target: connect::Target,
    exporter: Client,
    /// The reading connections, opened (on the snapshot) while the schema is read.
    readers: Vec<tokio::task::JoinHandle<Result<handover::Lent, DirectError>>>,
    pub snapshot: String,
    jobs: usize,
    /// The `--dbname` with its secrets masked, for the manifest.
    shown: String,
}

impl DirectSession {
    /// Connect, and export a snapshot from a REPEATABLE READ, READ ONLY transaction.
    pub fn open(dbname: Option<&str>, jobs: usize) -> Result<Box<DirectSession>, DirectError> {
        let conn = ConnInfo::parse_opt(dbname)?;
        let target = connect::target(conn.as_ref())?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(jobs.clamp(1, 4))
            .thread_name("pgveil-direct")
            .enable_all()
            .build()
            .map_err(DirectError::Runtime)?;
        let (exporter, snapshot) = runtime.block_on(async {
            let client = connect::connect(&target).await?;
            // The transaction stays open, idle, for the whole read.
            client
                .batch_execute(
                    "SET idle_in_transaction_session_timeout = 0; SET statement_timeout = 0; \
                     BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY",
                )
                .await
                .map_err(|source| DirectError::Query {
                    what: "starting the snapshot's transaction".into(),
                    source,
                })?;
            let snapshot: String = client
                .query_one("SELECT pg_catalog.pg_export_snapshot()", &[])
                .await
                .map_err(|source| DirectError::Query {
                    what: "exporting a snapshot".into(),
                    source,
                })?
                .get(0);
            Ok::<_, DirectError>((client, snapshot))
        })?;
        let readers = (0..jobs.max(1))
            .map(|_| runtime.spawn(reader_connection(target.clone(), snapshot.clone())))
            .collect();
        Ok(Box::new(DirectSession {
            runtime,
            target,
            exporter,
            readers,
            snapshot,
            jobs: jobs.max(1),
            shown: dbname
                .map(super::redact_password)
                .unwrap_or_else(|| "the default database".into()),
        }))
    }

    /// The plain dump, read directly, and an estimate of its size. `args` are the data dump's
    /// pg_dump arguments, with this session's `--snapshot`. What the direct read cannot honour
    /// comes back with the session ([`Refused::Unsupported`]), to read through pg_dump on the same
    /// snapshot instead.
    /// The stream, the size the catalog gives the data, and the schema (pre-data and post-data
    /// as pg_dump printed them: the complete schema facts of the dump).
    pub fn source(self: Box<Self>, args: &PgDumpArgs) -> Result<(Source, u64, Vec<u8>), Refused> {
        match self.prepare(args) {
            Ok(prepared) => self.start(prepared).map_err(Refused::Failed),
            Err(DirectError::Unsupported(why)) => {
                let mut session = self;
                // Read through pg_dump: the reading connections are closed (their tasks
                // end, and with them the clients).
                for reader in session.readers.drain(..) {
                    reader.abort();
                }
                Err(Refused::Unsupported(session, why))
            }
            Err(e) => Err(Refused::Failed(e)),
        }
    }

    fn prepare(&self, args: &PgDumpArgs) -> Result<Prepared, DirectError> {
        // The options were checked ([`check_options`]) before the session added its snapshot.
        let options = args.options()?;
        let no_owner = options.has("no-owner");
        let conn = ConnInfo::parse_opt(args.dbname.as_deref())?;
        // The TOC, and the schema without the data section, from one pg_dump; from a second one
        // (pg_dump's own printing) where pg_restore cannot print it (one older than pg_dump).
        let (toc, schema) = toc_and_schema(conn.as_ref(), &options)?;
        let schema = match schema {
            Some(schema) => schema,
            None => {
                let mut sections = args.clone();
                sections
                    .extra
                    .extend(["--section=pre-data", "--section=post-data"].map(OsString::from));
                sections.run_to_vec()?
            }
        };
        let section = splice::data_section(&toc)?;
        let boundary = section.boundary(&schema)?;
        let encoding = splice::client_encoding(&schema).ok_or_else(|| {
            DirectError::Invalid("the schema dump sets no client_encoding".into())
        })?;
        let oids: Vec<u32> = section
            .items
            .iter()
            .filter(|i| i.desc == "TABLE DATA")
            .map(|i| i.oid)
            .collect();
        let (tables, tid_ranges) = self.runtime.block_on(self.catalog(&oids))?;
        let split_blocks = std::env::var("PGVEIL_DIRECT_SPLIT_BLOCKS")
            .ok()
            .and_then(|v| v.parse().ok())
            .filter(|&v: &u64| v > 0)
            .unwrap_or(plan::DEFAULT_SPLIT_BLOCKS);
        let mut pieces = vec![Piece::Text(schema[..boundary].to_vec())];
        let mut units: Vec<Unit> = Vec::new();
        let mut estimate = schema.len() as u64;
        for (index, item) in section.items.iter().enumerate() {
            if item.desc == "SEQUENCE SET" {
                pieces.push(Piece::Text(splice::sequence_block(item, no_owner)));
                continue;
            }
            let info = tables.get(&item.oid).ok_or_else(|| {
                DirectError::Invalid(format!("table {:?} is not in the catalog", item.tag))
            })?;
            estimate += info.blocks * 8192;
            pieces.push(Piece::Text(splice::data_header(item, no_owner)));
            // One connection gains nothing from ranges, and a ranged COPY (a query) costs the
            // server more than a table's COPY.
            let split = tid_ranges && self.jobs > 1;
            for unit in plan::units_for(index, item, info, split_blocks, split)
                .map_err(DirectError::Invalid)?
            {
                pieces.push(Piece::Rows(units.len()));
                units.push(unit);
            }
            pieces.push(Piece::Text(splice::DATA_END.to_vec()));
        }
        pieces.push(Piece::Text(schema[boundary..].to_vec()));
        Ok(Prepared {
            schema,
            pieces,
            units,
            encoding,
            oids,
            estimate,
            lock_wait: options
                .value("lock-wait-timeout")
                .map(|v| v.to_string_lossy().into_owned()),
        })
    }

    /// Each table's kind, size in blocks and extension filter; and whether the server has TID
    /// range scans (PostgreSQL 14+).
    async fn catalog(&self, oids: &[u32]) -> Result<(HashMap<u32, TableInfo>, bool), DirectError> {
        let q = |what: &'static str| {
            move |source| DirectError::Query {
                what: what.into(),
                source,
            }
        };
        let version: i32 = self
            .exporter
            .query_one("SELECT current_setting('server_version_num')::int4", &[])
            .await
            .map_err(q("reading the server version"))?
            .get(0);
        let rows = self
            .exporter
            .query(
                "SELECT c.oid, c.relkind::text, \
                   (pg_catalog.pg_relation_size(c.oid) / current_setting('block_size')::int8)::int8, \
                   (SELECT x.cond FROM pg_catalog.pg_extension e, \
                      LATERAL unnest(e.extconfig, e.extcondition) AS x(tbl, cond) \
                    WHERE x.tbl = c.oid AND x.cond <> '' LIMIT 1) \
                 FROM pg_catalog.pg_class c WHERE c.oid = ANY($1)",
                &[&oids],
            )
            .await
            .map_err(q("reading the tables' sizes"))?;
        let mut tables = HashMap::new();
        for row in rows {
            let oid: u32 = row.get(0);
            let blocks: i64 = row.get(2);
            tables.insert(
                oid,
                TableInfo {
                    relkind: row.get(1),
                    blocks: blocks.max(0) as u64,
                    filter: row.get(3),
                },
            );
        }
        Ok((tables, version >= 140000))
    }

    fn start(self: Box<Self>, prepared: Prepared) -> Result<(Source, u64, Vec<u8>), DirectError> {
        let DirectSession {
            runtime,
            target,
            exporter,
            mut readers,
            snapshot: _,
            jobs,
            shown,
        } = *self;
        let jobs = jobs.min(prepared.units.len()).max(1);
        // More connections than statements: the others are closed.
        for extra in readers.split_off(jobs.min(readers.len())) {
            extra.abort();
        }
        let statements = prepared.units.len();
        let connections = runtime.block_on(async {
            lock_tables(&exporter, &prepared.oids, prepared.lock_wait.as_deref()).await?;
            let mut connections = Vec::with_capacity(jobs);
            for reader in readers {
                let lent = reader.await.map_err(|e| {
                    DirectError::Invalid(format!("a reading connection's task failed: {e}"))
                })??;
                connect::setup_session(&lent.client, &prepared.encoding).await?;
                let stream = lent.take().map_err(|source| DirectError::Connect {
                    target: target.describe.clone(),
                    source: Box::new(source),
                })?;
                connections.push(CopyConnection::new(stream));
            }
            Ok::<_, DirectError>(connections)
        })?;
        let reader = reader::start(
            &runtime,
            connections,
            prepared.units,
            prepared.pieces,
            jobs + 1,
        );
        let reader = KeepAlive {
            reader,
            _exporter: exporter,
            _runtime: runtime,
        };
        let description = format!(
            "direct read of {shown} ({jobs} connection{}, {statements} COPY statement{})",
            plural(jobs),
            plural(statements)
        );
        Ok((
            Source::from_reader(
                Box::new(BufReader::with_capacity(1 << 16, reader)),
                description,
                None,
            ),
            prepared.estimate,
            prepared.schema,
        ))
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

struct Prepared {
    schema: Vec<u8>,
    pieces: Vec<Piece>,
    units: Vec<Unit>,
    encoding: String,
    oids: Vec<u32>,
    estimate: u64,
    /// pg_dump's `--lock-wait-timeout`.
    lock_wait: Option<String>,
}

/// The reader, then the exporting connection (its transaction holds the snapshot and the locks),
/// then the runtime: dropped in this order.
struct KeepAlive {
    reader: reader::StreamReader,
    _exporter: Client,
    _runtime: tokio::runtime::Runtime,
}

impl std::io::Read for KeepAlive {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        self.reader.read(buf)
    }
}

/// Lock the plain tables read in ACCESS SHARE mode in the snapshot's transaction, as pg_dump
/// does (waiting at most `--lock-wait-timeout`), so that no DROP, TRUNCATE or rewrite runs under
/// the read.
async fn lock_tables(
    exporter: &Client,
    oids: &[u32],
    lock_wait: Option<&str>,
) -> Result<(), DirectError> {
    let q = |what: &'static str| {
        move |source| DirectError::Query {
            what: what.into(),
            source,
        }
    };
    let rows = exporter
        .query(
            "SELECT pg_catalog.format('%I.%I', n.nspname, c.relname) \
             FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace \
             WHERE c.oid = ANY($1) AND c.relkind = 'r'",
            &[&oids],
        )
        .await
        .map_err(q("reading the tables' names"))?;
    let names: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    if let Some(wait) = lock_wait {
        exporter
            .execute(
                "SELECT pg_catalog.set_config('lock_timeout', $1, true)",
                &[&wait],
            )
            .await
            .map_err(q("setting --lock-wait-timeout"))?;
    }
    for chunk in names.chunks(500) {
        exporter
            .batch_execute(&format!(
                "LOCK TABLE {} IN ACCESS SHARE MODE",
                chunk.join(", ")
            ))
            .await
            .map_err(q("locking the tables"))?;
    }
    Ok(())
}

/// A reading connection in a transaction on the exported snapshot; pg_dump's session settings
/// (which depend on the dump's encoding) are set once the schema is read, before it is taken over
/// for the COPY statements.
async fn reader_connection(
    target: connect::Target,
    snapshot: String,
) -> Result<handover::Lent, DirectError> {
    let lent = handover::connect(&target).await?;
    lent.client
        .batch_execute(&format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT '{}';",
            snapshot.replace('\'', "''")
        ))
        .await
        .map_err(|source| DirectError::Query {
            what: "importing the snapshot".into(),
            source,
        })?;
    Ok(lent)
}

/// pg_dump options that shape how an archive prints, not what it holds: given to pg_restore too
/// when it prints the schema from the TOC (the others have done their work in pg_dump).
const PRINTING: &[&str] = &[
    "no-owner",
    "no-privileges",
    "no-comments",
    "no-publications",
    "no-subscriptions",
    "no-security-labels",
    "no-tablespaces",
    "no-table-access-method",
    "no-policies",
    "create",
    "restrict-key",
];

/// The TOC of `pg_dump -Fc` with these options (pg_dump is stopped once it is read), and the
/// schema without the data section as `pg_dump --section=pre-data --section=post-data` prints
/// it: printed by pg_restore from that TOC (pg_dump's plain output is pg_restore's printing of
/// the same entries), which spares the server a second pg_dump's catalog reads. `None` for the
/// schema when pg_restore could not print it.
fn toc_and_schema(
    conn: Option<&ConnInfo>,
    options: &PgDumpOptions,
) -> Result<(Vec<toc::TocItem>, Option<Vec<u8>>), DirectError> {
    let mut client = ClientCmd::new(ClientProgram::PgDump);
    client
        .args(["--format=custom", "--compress=0"])
        .connect(conn, "--dbname")
        .args(options.to_args())
        .stdout(Stdio::piped());
    let mut child = client.spawn().map_err(SourceError::from)?;
    let stdout = child.stdout().expect("piped stdout");
    let mut archive = Vec::new();
    let read = toc::read_toc(BufReader::new(Recording {
        inner: stdout,
        seen: &mut archive,
    }));
    let items = match read {
        Ok(items) => {
            child.kill();
            items
        }
        // pg_dump's own message explains a short TOC better.
        Err(e) => {
            return match child.wait() {
                Err(failed) => Err(SourceError::from(failed).into()),
                Ok(()) => Err(DirectError::Toc(e)),
            }
        }
    };
    let mut restore = ClientCmd::new(ClientProgram::PgRestore);
    restore.args(["--section=pre-data", "--section=post-data", "--file=-"]);
    for name in PRINTING {
        if options.has(name) {
            let mut flag = OsString::from(format!("--{name}"));
            if let Some(value) = options.value(name) {
                flag.push("=");
                flag.push(value);
            }
            restore.arg(flag);
        }
    }
    restore.piped_stdin().stdout(Stdio::piped());
    let Ok(mut running) = restore.spawn() else {
        return Ok((items, None));
    };
    let mut stdin = running.stdin().expect("piped stdin");
    // The bytes read past the TOC go along: pg_restore, printing no data, stops before them
    // (and may close its input first).
    let writer = std::thread::spawn(move || {
        let _ = std::io::Write::write_all(&mut stdin, &archive);
    });
    let schema = running.wait_with_stdout();
    let _ = writer.join();
    Ok((items, schema.ok()))
}

/// A reader that keeps a copy of every byte read through it.
struct Recording<'a, R> {
    inner: R,
    seen: &'a mut Vec<u8>,
}

impl<R: std::io::Read> std::io::Read for Recording<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.seen.extend_from_slice(&buf[..n]);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options(args: &[&str]) -> PgDumpOptions {
        let args: Vec<OsString> = args.iter().map(Into::into).collect();
        PgDumpOptions::parse(&args).unwrap()
    }

    #[test]
    fn only_options_the_direct_read_models_are_accepted() {
        assert!(check_options(&options(&["-t", "x", "-O", "--no-acl", "-n", "s", "-C"])).is_ok());
        for refused in [
            &["--snapshot=0000-1"][..],
            &["--serializable-deferrable"],
            &["--clean"],
            &["-a"],
            &["--section=data"],
            &["--load-via-partition-root"],
            &["-v"],
            &["--quote-all-identifiers"],
        ] {
            assert!(
                matches!(
                    check_options(&options(refused)),
                    Err(DirectError::Unsupported(_))
                ),
                "{refused:?}"
            );
        }
    }
}
