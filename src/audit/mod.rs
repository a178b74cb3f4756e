//! The audit tools: they read a schema or an artifact and judge a rule set against it, and never run
//! in a dump's hot path. [`schema`] (the tables a rule set must cover, from a dump or a live catalog,
//! with sampled rows), [`detect`] (the kinds of personal data, and what a column's name suggests it
//! holds), [`values`] (what its sampled values hold), [`check`] (the coverage
//! guard of `pgveil rules check`), [`init`] (the scaffold of `pgveil rules init`), [`labels`]
//! (PostgreSQL Anonymizer security labels turned into rules) and [`scan`] (what looks personal in a
//! finished artifact, `pgveil scan`).
//!
//! They use [`crate::mask`] (rules, maskers' declared categories, the value detectors) and
//! [`crate::names`] (the person-name dictionary); `mask` never uses them.

pub mod check;
pub mod detect;
pub mod init;
pub mod labels;
pub mod scan;
pub mod schema;
pub mod values;
