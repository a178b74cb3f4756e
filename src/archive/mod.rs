//! The custom-format archive (`pg_dump -Fc`, archive version 1.14): written from the events of a
//! plain dump, and read back (ours or pg_dump's) for `pgveil inspect` and `pgveil scan`.
//!
//! One job per file:
//! - [`format`](mod@format): the on-disk primitives (`Int`, `Str`, `Offset`, magic, block types, sections);
//! - [`toc`]: the TOC model — entry kinds and sections as enums, the entry record and its encoding;
//! - `from_plain`: a TOC entry built from a plain dump's entry (definition, drop statement, …);
//! - `ddl`: names read out of definitions, on tokens of [`crate::sql::lexer`];
//! - `deps` and `resolve`: dependency inference, then resolution against the whole TOC;
//! - `layout`: the steps of `finish` (numbering, dependencies, header, TOC, data blocks);
//! - [`announce`]: the entries known before the pass (a pre-scan), from which the TOC is written first;
//! - `skeleton`: those entries for a database dump, from `pg_dump -Fc`'s TOC of the same snapshot;
//! - `spool` and `blobs`: data blocks written as the rows arrive (large objects from their SQL), to
//!   the spool or straight to the output;
//! - [`writer`]: [`ArchiveSink`], the sink that ties these together;
//! - [`reader`]: reading an archive's header, TOC and blocks, and rendering it like `pg_restore -l`.

pub mod announce;
mod blobs;
mod ddl;
mod deps;
pub mod format;
mod from_plain;
mod layout;
pub mod reader;
mod resolve;
mod skeleton;
mod spool;
pub mod toc;
pub mod writer;

pub use announce::Announced;
pub use format::{BLK_DATA, NO_DATA, POS_SET};
pub use reader::{
    inspect, read_archive, read_table_data, Archive, ArchiveHeader, BlockInfo, InspectError,
};
pub use skeleton::{announce_database, SkeletonError};
pub use toc::{Kind, Section, TocEntry};
pub use writer::{ArchiveOptions, ArchiveSink};
