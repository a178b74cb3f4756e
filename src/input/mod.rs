//! Where the plain dump comes from, and the one way pgveil runs PostgreSQL's client programs.
//!
//! - [`source`]: an open stream of plain-dump bytes: a file, stdin, either possibly gzip'ed, or a
//!   spawned pg_dump's output (checked when the stream ends);
//! - [`pg_dump`]: the pg_dump child: its connection and extra arguments, the schema-only run;
//! - [`pg_dump_args`]: pg_dump's extra arguments read as pg_dump reads them;
//! - [`snapshot`]: a psql session holding an exported snapshot, shared by several pg_dump runs;
//! - [`client`]: starting pg_dump, psql, pg_restore, createdb, dropdb (overrides, connection,
//!   streams, typed failures);
//! - [`conninfo`]: connection strings as libpq reads them, their secrets kept off command lines.

pub mod client;
pub mod conninfo;
pub mod direct;
pub mod pg_dump;
pub mod pg_dump_args;
pub mod snapshot;
pub mod source;

pub use pg_dump::{dbname_of, redact_password, PgDumpArgs};
pub use snapshot::SnapshotHolder;
pub use source::{Source, SourceError};
