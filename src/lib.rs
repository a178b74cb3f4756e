//! pgveil: a PostgreSQL-native anonymizing dump utility.
//!
//! One pass over one `pg_dump` stream produces the portable plain dump, the anonymized plain dump and
//! the custom-format archive. The library owns the data path and the use-cases; `main.rs` and
//! `cli/` are a thin command layer that maps arguments to plans and prints reports.
//!
//! Use-cases ([`usecase`], re-exported here): [`backup`], [`anonymize`], [`restore`](fn@restore),
//! [`verify`], [`pull`], [`prune`], [`list`] — each takes a plan, an [`observe::Observer`] and a
//! [`cancel::CancelToken`], and returns a report.
//!
//! Data path: [`input`] (file, stdin, a pg_dump child; the one spawner of PostgreSQL's client
//! programs) → [`dump::reader`] → [`pass`] (masking by [`mask`]) → [`sink`]s → [`store`] (folder,
//! S3) with the [`manifest`]. Among the sinks is the custom-format [`archive`] writer (whose reader
//! serves `inspect` and `scan`). Keyword searches in DDL go through the [`sql`] lexer. The
//! rule tooling that judges rules and artifacts without masking (`rules check`/`init`, labels
//! import, `scan`) is [`audit`].

pub mod archive;
pub mod audit;
pub mod cancel;
pub mod copy;
pub mod dump;
pub mod input;
pub mod interrupt;
pub mod manifest;
pub mod mask;
pub mod names;
pub mod observe;
pub mod pass;
pub mod restore;
pub mod serve;
pub mod sink;
pub mod sql;
pub mod store;
pub mod usecase;

pub use usecase::{
    anonymize, backup, list, prune, pull, restore, verify, AnonymizePlan, BackupPlan, BackupReport,
    BackupSource, ListPlan, PrunePlan, PullPlan, RestorePlan, SetRef, UseCaseError, VerifyPlan,
};
