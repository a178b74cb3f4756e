//! `pgveil anonymize`: arguments → an [`AnonymizePlan`]; runs [`pgveil::anonymize`] (a filter from
//! a plain dump, or a database, to the masked plain dump) with the terminal progress line unless
//! the output is stdout.

use std::ffi::OsString;
use std::path::PathBuf;

use pgveil::cancel::CancelToken;
use pgveil::usecase::{AnonymizePlan, DatabaseInput};

use super::common::{ReadArgs, RuleArgs};
use super::progress::progress_for;

#[derive(Debug, clap::Args)]
pub struct AnonymizeArgs {
    /// The plain dump to read (`-` or nothing for stdin; `.gz` is detected).
    #[arg(default_value = "-")]
    input: PathBuf,
    /// Read this database (a name or any libpq connection string / URI) instead of a dump.
    #[arg(short = 'd', long, value_name = "CONNINFO")]
    dbname: Option<String>,
    #[command(flatten)]
    read: ReadArgs,
    /// Where to write (`-` for stdout, the default).
    #[arg(short = 'o', long = "output", default_value = "-")]
    output: PathBuf,
    #[command(flatten)]
    rules: RuleArgs,
    /// Mask as PostgreSQL Anonymizer's `SECURITY LABEL FOR anon ON COLUMN … IS 'MASKED WITH …'`
    /// statements in the schema say (converted as `rules import-labels` does), ahead of `--rules`.
    #[arg(long)]
    labels: bool,
    /// Read those security labels from this database (a name or connection string) while the
    /// dump itself comes from --input or stdin (`pg_dump … | pgveil anonymize --labels-from DB`).
    /// Implies --labels.
    #[arg(long, value_name = "CONNINFO", conflicts_with = "dbname")]
    labels_from: Option<String>,
    /// Keep the contents of large objects (by default they are emptied: no rule can tell what a
    /// large object holds).
    #[arg(long)]
    keep_large_objects: bool,
    /// Extra arguments for pg_dump (after `--`; with --dbname).
    #[arg(last = true, value_name = "PG_DUMP_ARGS")]
    pg_dump_args: Vec<OsString>,
}

pub fn run(args: AnonymizeArgs) -> anyhow::Result<()> {
    let quiet = args.output.as_os_str() == "-";
    let plan = AnonymizePlan {
        input: args.input,
        output: args.output,
        rules: args.rules.plan(),
        labels: args.labels,
        labels_from: args.labels_from,
        keep_large_objects: args.keep_large_objects,
        database: args.dbname.map(|dbname| DatabaseInput {
            dbname: Some(dbname),
            pg_dump_args: args.pg_dump_args,
            read: args.read.mode(),
        }),
    };
    let progress = progress_for(quiet);
    let report = pgveil::anonymize(&plan, &*progress, &CancelToken::new())?;
    for note in report.notes {
        eprintln!("pgveil: {note}");
    }
    Ok(())
}
