//! `pgveil serve`'s foundations: its configuration file ([`config`]), backup schedules
//! ([`schedule`]) and API tokens ([`auth`]). They depend on nothing of the service at run time, so
//! `pgveil config check` can judge a configuration before a service starts with it.

pub mod auth;
pub mod config;
pub mod schedule;
