//! `pgveil backups list|prune`: arguments → [`ListPlan`] / [`PrunePlan`], run [`pgveil::list`] /
//! [`pgveil::prune`], print their reports (see `pgveil::usecase` for what they do).

use pgveil::cancel::CancelToken;
use pgveil::store::check::SetState;
use pgveil::usecase::{ListPlan, PrunePlan, PruneStep, Retention, RetentionReport};

use super::common::S3Args;

#[derive(Debug, Clone, clap::Args)]
pub struct RetentionArgs {
    /// Keep the newest N verified sets in --out-dir (a set is freed only once the same set is
    /// verified in the bucket, when --upload is given).
    #[arg(long, value_name = "N")]
    pub keep_local: Option<usize>,
    /// Keep the newest M verified sets in the bucket.
    #[arg(long, value_name = "M")]
    pub keep_remote: Option<usize>,
    /// Judge sets by manifest and sizes only, without reading every artifact back for its SHA-256.
    #[arg(long)]
    pub quick_check: bool,
}

impl RetentionArgs {
    pub fn plan(&self) -> Retention {
        Retention {
            keep_local: self.keep_local,
            keep_remote: self.keep_remote,
            quick_check: self.quick_check,
            name: None,
        }
    }
}

#[derive(Debug, clap::Subcommand)]
pub enum BackupsCommand {
    /// List the backup sets of a folder or bucket, newest last, with their state.
    List(ListArgs),
    /// Delete old sets: only verified sets count, the newest verified set always stays.
    Prune(PruneArgs),
}

#[derive(Debug, clap::Args)]
pub struct ListArgs {
    /// A folder or `s3://bucket/prefix/` (or use --out-dir).
    #[arg(value_name = "LOCATION", required_unless_present = "out_dir")]
    location: Option<String>,
    #[arg(short = 'o', long, value_name = "DIR", conflicts_with = "location")]
    out_dir: Option<String>,
    /// Read every artifact back and compare its SHA-256 (default: manifest and sizes).
    #[arg(long)]
    verify: bool,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    s3: S3Args,
}

#[derive(Debug, clap::Args)]
pub struct PruneArgs {
    /// The local folder of backup sets.
    #[arg(short = 'o', long, value_name = "DIR")]
    out_dir: Option<String>,
    /// The bucket of backup sets (`s3://bucket/prefix/`).
    #[arg(long, value_name = "S3_URL")]
    upload: Option<String>,
    #[command(flatten)]
    retention: RetentionArgs,
    /// Only the sets of this name (default: every name, each kept by itself).
    #[arg(long, value_name = "NAME")]
    name: Option<String>,
    /// Also remove what runs killed outright (SIGKILL, power loss) left: incomplete sets whose
    /// stamp is older than AGE, and partial files, archive spools and open multipart uploads
    /// started before that (e.g. `24h`; units s, m, h, d). AGE must exceed the longest pass: a
    /// pass still running is incomplete too.
    #[arg(long, value_name = "AGE", value_parser = pgveil::store::parse_age)]
    incomplete_older_than: Option<std::time::Duration>,
    /// Print what would be deleted, delete nothing.
    #[arg(long)]
    dry_run: bool,
    #[command(flatten)]
    s3: S3Args,
}

pub fn run(cmd: BackupsCommand) -> anyhow::Result<()> {
    match cmd {
        BackupsCommand::List(args) => list(args),
        BackupsCommand::Prune(args) => prune(args),
    }
}

fn state_word(s: &SetState) -> (&'static str, Option<&str>) {
    match s {
        SetState::Incomplete => ("incomplete", None),
        SetState::Damaged(why) => ("damaged", Some(why)),
        SetState::Verified => ("complete", None),
    }
}

fn list(args: ListArgs) -> anyhow::Result<()> {
    let plan = ListPlan {
        location: args.location.or(args.out_dir).expect("clap requires one"),
        endpoint_url: args.s3.endpoint_url,
        verify: args.verify,
    };
    let report = pgveil::list(&plan, &CancelToken::new())?;
    if args.json {
        let items: Vec<serde_json::Value> = report
            .sets
            .iter()
            .map(|s| {
                let c = &s.check;
                let (state, reason) = state_word(&c.state);
                serde_json::json!({
                    "id": c.id.to_string(),
                    "name": c.id.name,
                    "stamp": c.id.stamp,
                    "state": state,
                    "reason": reason,
                    "bytes": c.bytes,
                    "location": s.location,
                    "artifacts": c.manifest.as_ref().map(|m| &m.artifacts),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
    } else {
        for c in report.sets.iter().map(|s| &s.check) {
            let (state, reason) = state_word(&c.state);
            let kinds = c
                .manifest
                .as_ref()
                .map(|m| {
                    m.artifacts
                        .iter()
                        .map(|a| a.kind.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            println!(
                "{}\t{}\t{}\t{}{}",
                c.id,
                state,
                c.bytes,
                kinds,
                reason.map(|r| format!("\t{r}")).unwrap_or_default()
            );
        }
    }
    Ok(())
}

fn prune(args: PruneArgs) -> anyhow::Result<()> {
    let plan = PrunePlan {
        out_dir: args.out_dir.map(Into::into),
        upload: args.upload,
        endpoint_url: args.s3.endpoint_url,
        retention: Retention {
            name: args.name,
            ..args.retention.plan()
        },
        incomplete_older_than: args.incomplete_older_than,
        dry_run: args.dry_run,
    };
    let report = pgveil::prune(&plan, &CancelToken::new())?;
    let verb = if report.dry_run {
        "would remove"
    } else {
        "removing"
    };
    for step in &report.steps {
        match step {
            PruneStep::UploadsNotListed { why } => {
                eprintln!("pgveil: {why}: open multipart uploads are not pruned")
            }
            PruneStep::Unfinished { location, bytes } => {
                eprintln!("pgveil: {verb} unfinished {location} ({bytes} bytes)")
            }
            PruneStep::IncompleteSet { location } => {
                eprintln!("pgveil: {verb} incomplete set {location}")
            }
        }
    }
    if let Some(retention) = &report.retention {
        print_retention(retention);
    }
    Ok(())
}

/// One line per set retention kept back or deleted (stderr).
pub fn print_retention(report: &RetentionReport) {
    let verb = if report.dry_run {
        "would delete"
    } else {
        "deleting"
    };
    for id in &report.kept_not_uploaded {
        eprintln!("pgveil: keeping {id} locally: it is not verified in the bucket");
    }
    for location in &report.deleted {
        eprintln!("pgveil: {verb} {location}");
    }
}
