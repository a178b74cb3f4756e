//! `pgveil serve`: scheduled backups, a REST API with task status, on the library's use-cases.
//!
//! Foundations that depend on nothing of the running service (so `pgveil config check` can judge
//! a configuration): its configuration file ([`config`]), backup schedules ([`schedule`]) and API
//! tokens ([`auth`]). The service: the task store ([`tasks`]), the task runner ([`service`]), what
//! a task does for a job ([`ops`]), the schedules ([`scheduler`]), the HTTP API ([`api`]) and
//! `/metrics` ([`metrics`]), the dashboard page ([`dashboard`]), the log ([`log`]) and the process
//! around them ([`server`]).

pub mod api;
pub mod api_error;
pub mod auth;
pub mod config;
pub mod dashboard;
pub mod log;
pub mod metrics;
pub mod ops;
pub mod schedule;
pub mod scheduler;
pub mod server;
pub mod service;
pub mod tasks;
