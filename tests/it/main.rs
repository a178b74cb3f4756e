//! pgveil's integration tests, in one test binary: it is linked once (the crate's dependencies make
//! each test binary large, and linking a dozen of them dominated a build on 2 cores), and its tests
//! share one throwaway PostgreSQL cluster (`support::cluster()`, started on first use; every test
//! works in databases of its own, `Cluster::create_db`). S3 servers are started per test
//! (`support::s3`), because tests stop, restart and inspect them.
//!
//! Run one group with `cargo test --test it MODULE::` (e.g. `cargo test --test it dump_cli::`).

mod support;

mod archive;
mod archive_deps;
mod archive_stream;
mod backups;
mod classification;
mod dashboard;
mod direct;
mod direct_auth;
mod direct_extension;
mod dump_cli;
mod error_messages;
mod fail_closed_reader;
mod fail_closed_restore;
mod fail_closed_scan;
mod fail_closed_sets;
mod fuzz_corpus;
mod generalise;
mod harness;
mod labels_from;
mod pii_scan;
mod rules_cli;
mod schema_text;
mod serve_api;
mod serve_config;
mod serve_retention;
mod snapshots;
mod usecases;
