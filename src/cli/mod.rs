//! Command-line definitions (clap) and dispatch: one file per subcommand, each with a `run()`.

mod anonymize;
mod common;
mod dump;
mod inspect;
mod rules;
mod scan;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "pgveil",
    version,
    about = "PostgreSQL-native anonymizing dumps: plain, anonymized and custom-format artifacts from one pass"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Dump a database (or read a plain dump) and write NAME.gz, NAME.anon.gz, NAME.dump and NAME.manifest.json.
    Dump(dump::DumpArgs),
    /// Mask a plain dump: a filter, e.g. `pg_dump db | pgveil anonymize | psql devdb`.
    Anonymize(anonymize::AnonymizeArgs),
    /// List a custom-format archive's header and TOC (like `pg_restore -l`, plus offsets and block sizes).
    Inspect(inspect::InspectArgs),
    /// Rule tooling: `check` (coverage guard for CI), `init` (scaffold a rule file), `import-labels`.
    #[command(subcommand)]
    Rules(rules::RulesCommand),
    /// Report sensitive-looking values left in a plain, anonymized or custom artifact.
    Scan(scan::ScanArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Dump(args) => dump::run(args),
        Command::Anonymize(args) => anonymize::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Rules(cmd) => rules::run(cmd),
        Command::Scan(args) => scan::run(args),
    }
}
