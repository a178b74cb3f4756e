//! Command-line definitions (clap) and dispatch: one file per subcommand, each with a `run()`.

mod anonymize;
mod backups;
mod common;
mod config;
mod dump;
mod inspect;
mod progress;
mod restore;
mod rules;
mod scan;
mod serve;

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
    /// List backup sets of a folder or bucket, or prune old ones (retention).
    #[command(subcommand)]
    Backups(backups::BackupsCommand),
    /// Copy a backup set (default: the latest) from a bucket or folder into a local folder.
    Pull(restore::PullArgs),
    /// Restore a backup set's artifact into a database (psql for plain/anon, pg_restore for custom).
    Restore(restore::RestoreArgs),
    /// Check a backup set's artifacts against its manifest (and optionally by a scratch restore).
    Verify(restore::VerifyArgs),
    /// `pgveil serve` tooling: `check` a configuration, an `example`, `systemd` units, shell
    /// `completions`, the `man` page.
    #[command(subcommand)]
    Config(config::ConfigCommand),
    /// Run the service: scheduled backups and a REST API with task status (`--config FILE`).
    Serve(serve::ServeArgs),
}

pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Dump(args) => dump::run(args),
        Command::Anonymize(args) => anonymize::run(args),
        Command::Inspect(args) => inspect::run(args),
        Command::Rules(cmd) => rules::run(cmd),
        Command::Scan(args) => scan::run(args),
        Command::Backups(cmd) => backups::run(cmd),
        Command::Pull(args) => restore::pull(args),
        Command::Restore(args) => restore::restore(args),
        Command::Verify(args) => restore::verify(args),
        Command::Config(cmd) => config::run(cmd),
        Command::Serve(args) => serve::run(args),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn command_line_definitions_are_consistent() {
        use clap::CommandFactory;
        super::Cli::command().debug_assert();
    }
}
