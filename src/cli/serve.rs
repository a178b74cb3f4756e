//! `pgveil serve --config FILE`: load the configuration and run the service
//! ([`pgveil::serve::server::serve`]) until SIGINT/SIGTERM stops it gracefully (exit 0).

use std::path::PathBuf;

use anyhow::Context;
use pgveil::serve::config::ServeConfig;
use pgveil::serve::log::{Log, LogFormat};

#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    /// The service's configuration (TOML; `pgveil config example` prints a starting point).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
    /// One line per event on stderr: `text`, or `json` (one object per line).
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub log_format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Text,
    Json,
}

pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = ServeConfig::load(&args.config)?;
    let log = Log {
        format: match args.log_format {
            Format::Text => LogFormat::Text,
            Format::Json => LogFormat::Json,
        },
    };
    pgveil::serve::server::serve(config, log)
        .with_context(|| format!("serving {}", args.config.display()))
}
