//! What can go wrong reading a plain dump: each variant names the line (and the table or entry)
//! where the input stops making sense.

use thiserror::Error;

use crate::dump::psql_lex::LexError;

#[derive(Debug, Error)]
pub enum DumpError {
    #[error("reading the dump")]
    Io(#[from] std::io::Error),
    #[error("line 1: this is a custom-format archive (PGDMP); pgveil reads plain-format dumps (pg_dump -Fp)")]
    CustomFormat,
    #[error("line {line}: not a plain-format pg_dump stream ({what})")]
    NotPlainDump { line: u64, what: String },
    #[error("truncated dump: the input ended at line {line} {context} without pg_dump's \"dump complete\" trailer")]
    Truncated { line: u64, context: String },
    #[error("line {line}: COPY data of table {table} is not terminated by \\. (the input ended inside it)")]
    UnterminatedCopy { line: u64, table: String },
    #[error("line {line}: cannot parse the COPY statement of {table}: {stmt}")]
    BadCopy {
        line: u64,
        table: String,
        stmt: String,
    },
    #[error("line {line}: data of {table} is not in COPY format (dumps taken with --inserts cannot be masked; use pg_dump's default COPY format)")]
    NotCopyData { line: u64, table: String },
    #[error("line {line}: unexpected content after the dump trailer")]
    AfterTrailer { line: u64 },
    #[error(transparent)]
    Lex(#[from] LexError),
    #[error("line {line}: client encoding {encoding}: psql splits statements by it and pgveil does not; dump with pg_dump -E UTF8")]
    ClientEncoding { line: u64, encoding: String },
    #[error("line {line}: a NUL byte (PostgreSQL text cannot hold one, and psql would cut the line there)")]
    NulByte { line: u64 },
    #[error("line {line}: where a string literal ends here depends on standard_conforming_strings (a backslash before a quote); pgveil cannot tell which statements psql would run")]
    AmbiguousString { line: u64 },
    #[error("line {line}: {why}")]
    BadHeader { line: u64, why: String },
    #[error("line {line}: psql reads the data of this COPY from the dump, but pgveil masks only `COPY schema.table (columns) FROM stdin;` in text format without options: {stmt}")]
    UnmaskableCopy { line: u64, stmt: String },
    #[error("line {line}: COPY of {table} names no schema; pgveil cannot tell which table's rules apply")]
    UnqualifiedCopy { line: u64, table: String },
    #[error("line {line}: a COPY … FROM stdin statement inside the data of a large-object entry")]
    CopyInBlobs { line: u64 },
    #[error("line {line}: COPY data of {table}: psql ends the data at this \\. followed by a carriage return and runs what follows as SQL; pgveil refuses such a dump")]
    CopyEndWithCr { line: u64, table: String },
}
