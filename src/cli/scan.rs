//! `pgveil scan ARTIFACT`: report sensitive-looking values left in a plain, anonymized (`.gz` or
//! not) or custom-format artifact; exit non-zero on a leak: one in a column the rules mask whose
//! masker does not write such values by design (see `pgveil::audit::scan`).

use std::path::PathBuf;

use anyhow::bail;
use pgveil::audit::scan::{render, scan_artifact};

use super::common::RuleArgs;

#[derive(Debug, clap::Args)]
pub struct ScanArgs {
    /// The artifact: NAME.gz, NAME.anon.gz, NAME.dump, any plain dump, or `-` for stdin.
    artifact: PathBuf,
    #[command(flatten)]
    rules: RuleArgs,
    /// Print the report as JSON (stdout); the exit status is the same.
    #[arg(long)]
    json: bool,
}

pub fn run(args: ScanArgs) -> anyhow::Result<()> {
    let (rules, _) = args.rules.load()?;
    // Every error of `scan_artifact` names the artifact itself.
    let report = scan_artifact(&args.artifact, &rules)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    if report.leaks > 0 {
        let mut places: Vec<String> = report
            .findings
            .iter()
            .filter(|f| f.leak)
            .map(|f| format!("{}.{}.{} ({})", f.schema, f.table, f.column, f.category))
            .collect();
        places.dedup();
        bail!(
            "{} leak(s) in masked columns of {}: {}",
            report.leaks,
            args.artifact.display(),
            places.join(", ")
        );
    }
    Ok(())
}
