//! pgveil: a PostgreSQL-native anonymizing dump utility.
//!
//! One pass over one `pg_dump` stream produces the portable plain dump, the anonymized plain dump and
//! the custom-format archive. The library owns the data path; `main.rs` is a thin command layer.
//!
//! Data path: [`source`] → [`dump::reader`] → [`engine`] (masking by [`mask`]) → [`sink`]s. The
//! rule tooling that judges rules and artifacts without masking (`rules check`/`init`, labels import,
//! `scan`) is [`audit`].

pub mod audit;
pub mod conninfo;
pub mod copy;
pub mod dump;
pub mod engine;
pub mod interrupt;
pub mod manifest;
pub mod mask;
pub mod progress;
pub mod restore;
pub mod sink;
pub mod source;
pub mod store;
