//! pgveil: a PostgreSQL-native anonymizing dump utility.
//!
//! One pass over one `pg_dump` stream produces the portable plain dump, the anonymized plain dump and
//! the custom-format archive. The library owns the data path; `main.rs` is a thin command layer.
//!
//! Data path: [`input`] (file, stdin, a pg_dump child; the one spawner of PostgreSQL's client
//! programs) → [`dump::reader`] → [`engine`] (masking by [`rules`]) → [`sink`]s.

pub mod copy;
pub mod dump;
pub mod engine;
pub mod input;
pub mod interrupt;
pub mod manifest;
pub mod progress;
pub mod restore;
pub mod rules;
pub mod scan;
pub mod sink;
pub mod store;
