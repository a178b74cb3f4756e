//! The `pgveil` command: parse arguments, run the library, map errors to exit codes.
//! Exit 0 on success (and when a reader of our stdout goes away: broken pipe), 1 with a one-line
//! reason on stderr otherwise.

mod cli;

use clap::Parser;

fn main() {
    let args = cli::Cli::parse();
    if let Err(err) = cli::run(args) {
        if is_broken_pipe(&err) {
            std::process::exit(0);
        }
        eprintln!("pgveil: error: {err:#}");
        std::process::exit(1);
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    }) || format!("{err:#}").contains("Broken pipe")
}
