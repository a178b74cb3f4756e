//! `pgveil pull`, `pgveil restore`, `pgveil verify`: arguments → [`PullPlan`], [`RestorePlan`],
//! [`VerifyPlan`]; run the use-case of the library, print its report (see `pgveil::usecase` for
//! what they check and in which order).

use std::path::PathBuf;

use pgveil::cancel::CancelToken;
use pgveil::observe::Quiet;
use pgveil::usecase::{PullPlan, RestoreKind, RestorePlan, RestoreTarget, SetRef, VerifyPlan};

use super::common::S3Args;

/// Which set of which location.
#[derive(Debug, clap::Args)]
pub struct SetArgs {
    /// A folder of backup sets or `s3://bucket/prefix/`.
    #[arg(value_name = "LOCATION")]
    location: String,
    /// `latest` (the newest complete set), `NAME/STAMP`, or a STAMP.
    #[arg(long, default_value = "latest")]
    backup: String,
    /// Only sets of this name (when the location holds several).
    #[arg(long)]
    name: Option<String>,
    #[command(flatten)]
    s3: S3Args,
}

impl SetArgs {
    fn plan(self) -> SetRef {
        SetRef {
            location: self.location,
            endpoint_url: self.s3.endpoint_url,
            backup: self.backup,
            name: self.name,
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct PullArgs {
    #[command(flatten)]
    set: SetArgs,
    /// Artifact kinds to fetch, comma-separated: plain, anon, custom (default: all).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// Local folder of backup sets to pull into (the set lands in DIR/NAME/STAMP/).
    #[arg(short = 'o', long, value_name = "DIR")]
    out_dir: PathBuf,
}

pub fn pull(args: PullArgs) -> anyhow::Result<()> {
    let plan = PullPlan {
        set: args.set.plan(),
        only: args.only,
        out_dir: args.out_dir,
    };
    let report = pgveil::pull(&plan, &Quiet, &CancelToken::new())?;
    println!("{}", report.dir.display());
    Ok(())
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("kind").args(["anon", "plain", "custom"])))]
pub struct RestoreArgs {
    #[command(flatten)]
    set: SetArgs,
    /// Restore the anonymized plain dump (the default).
    #[arg(long)]
    anon: bool,
    /// Restore the full plain dump.
    #[arg(long)]
    plain: bool,
    /// Restore the custom archive with pg_restore (allows --jobs and --table).
    #[arg(long)]
    custom: bool,
    /// Target database (name or conninfo; PG* variables apply).
    #[arg(
        short = 'd',
        long,
        value_name = "CONNINFO",
        required_unless_present = "to_stdout"
    )]
    dbname: Option<String>,
    /// Create the target database first (`createdb`); it is dropped again if the restore fails.
    #[arg(long)]
    create: bool,
    /// Print the SQL instead (e.g. `| psql devdb`); the artifact is verified first.
    #[arg(long, conflicts_with_all = ["dbname", "create"])]
    to_stdout: bool,
    /// Parallel pg_restore jobs (custom archive). Parallel workers commit separately, so a failure
    /// leaves part of the archive behind: allowed with --create (the new database is dropped on
    /// failure) or with --allow-partial.
    #[arg(short = 'j', long)]
    jobs: Option<u32>,
    /// Accept that a failed --jobs restore into an existing database leaves part of it behind.
    #[arg(long)]
    allow_partial: bool,
    /// Restore only this table (custom archive); repeatable.
    #[arg(short = 't', long = "table", value_name = "TABLE")]
    tables: Vec<String>,
    /// Skip ownership and privileges (pg_restore --no-owner --no-acl).
    #[arg(long)]
    no_owner: bool,
    /// Where an artifact from a bucket is downloaded and checked before it is restored (default:
    /// the temp dir). It needs room for the artifact; the copy is removed afterwards.
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let kind = if args.custom {
        RestoreKind::Custom
    } else if args.plain {
        RestoreKind::Plain
    } else {
        RestoreKind::Anon
    };
    let target = if args.to_stdout {
        RestoreTarget::Stdout
    } else {
        RestoreTarget::Database {
            dbname: args.dbname,
            create: args.create,
        }
    };
    let to_stdout = args.to_stdout;
    let plan = RestorePlan {
        set: args.set.plan(),
        kind,
        target,
        jobs: args.jobs,
        allow_partial: args.allow_partial,
        tables: args.tables,
        no_owner: args.no_owner,
        work_dir: args.work_dir,
    };
    let report = pgveil::restore(&plan, &CancelToken::new())?;
    if !to_stdout {
        eprintln!("pgveil: restored {}", report.artifact);
    }
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    set: SetArgs,
    /// Also restore into a scratch database and compare row counts with the manifest.
    #[arg(long)]
    restore_check: bool,
    /// Where an artifact from a bucket is downloaded and checked for the restore check (default:
    /// the temp dir).
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let plan = VerifyPlan {
        set: args.set.plan(),
        restore_check: args.restore_check,
        work_dir: args.work_dir,
    };
    let report = pgveil::verify(&plan, &CancelToken::new())?;
    println!(
        "{}: {} artifacts match the manifest",
        report.set, report.artifacts
    );
    if let Some(check) = report.restore_check {
        let check = check?;
        println!(
            "{}: restore check passed ({} tables, row counts match)",
            report.set, check.tables
        );
    }
    Ok(())
}
