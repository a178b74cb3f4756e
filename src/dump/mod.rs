//! Reading `pg_dump` plain-format output: identifiers, the TOC entry model, the streaming reader and
//! the schema facts (column types, keys) that the rules need, and what of PostgreSQL Anonymizer's
//! own objects the masked view leaves out.

pub mod anon_policy;
pub mod entry;
pub mod facts;
pub mod ident;
pub mod psql_lex;
pub mod reader;
pub mod schema_text;

pub use entry::{CopyStmt, Entry, EntryHeader};
pub use reader::{DumpError, DumpReader, Event, Preamble};
