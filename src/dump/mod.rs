//! Reading `pg_dump` plain-format output: identifiers, the TOC entry model, the streaming reader and
//! the schema facts (column types, keys) that the rules need.

pub mod entry;
pub mod facts;
pub mod ident;
pub mod reader;

pub use entry::{CopyStmt, Entry, EntryHeader};
pub use reader::{DumpError, DumpReader, Event, Preamble};
