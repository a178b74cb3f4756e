//! `pgveil backups list|prune`: what backup sets a folder or bucket holds, and retention (keep the
//! newest N verified sets locally, M in the bucket; see `pgveil::store::retention`). `prune
//! --incomplete-older-than AGE` also removes what runs killed outright left behind: incomplete
//! sets, partial files, archive spools and open multipart uploads older than AGE.

use anyhow::Context;
use pgveil::store::check::{check_all, Depth, SetCheck, SetState};
use pgveil::store::retention::plan;
use pgveil::store::{Store, StoreError};

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
    let location = args.location.or(args.out_dir).expect("clap requires one");
    let store = args.s3.open(&location)?;
    let depth = if args.verify {
        Depth::Checksums
    } else {
        Depth::Sizes
    };
    let checks =
        check_all(&*store, depth).with_context(|| format!("listing {}", store.describe()))?;
    if args.json {
        let items: Vec<serde_json::Value> = checks
            .iter()
            .map(|c| {
                let (state, reason) = state_word(&c.state);
                serde_json::json!({
                    "id": c.id.to_string(),
                    "name": c.id.name,
                    "stamp": c.id.stamp,
                    "state": state,
                    "reason": reason,
                    "bytes": c.bytes,
                    "location": store.location(&c.id, ""),
                    "artifacts": c.manifest.as_ref().map(|m| &m.artifacts),
                })
            })
            .collect();
        println!("{}", serde_json::to_string_pretty(&items)?);
    } else {
        for c in &checks {
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
    if args.out_dir.is_none() && args.upload.is_none() {
        anyhow::bail!("give --out-dir and/or --upload");
    }
    if args.retention.keep_local.is_none()
        && args.retention.keep_remote.is_none()
        && args.incomplete_older_than.is_none()
    {
        anyhow::bail!(
            "nothing to prune: give --keep-local, --keep-remote and/or --incomplete-older-than"
        );
    }
    if args.retention.keep_local.is_some() && args.out_dir.is_none() {
        anyhow::bail!("--keep-local needs --out-dir");
    }
    if args.retention.keep_remote.is_some() && args.upload.is_none() {
        anyhow::bail!("--keep-remote needs --upload");
    }
    let local = args
        .out_dir
        .as_ref()
        .map(|d| pgveil::store::local::LocalStore::new(d.into()));
    let remote = match &args.upload {
        Some(url) => Some(args.s3.open(url)?),
        None => None,
    };
    let local = local.as_ref().map(|l| l as &dyn Store);
    if let Some(age) = args.incomplete_older_than {
        for store in local.into_iter().chain(remote.as_deref()) {
            prune_incomplete(store, age, args.dry_run)?;
        }
    }
    apply_retention(local, remote.as_deref(), &args.retention, args.dry_run)
}

/// Remove what killed runs left in `store`: unfinished files and uploads started before `age`
/// ago, then incomplete sets whose stamp is that old. Complete and damaged sets stay.
fn prune_incomplete(
    store: &dyn Store,
    age: std::time::Duration,
    dry_run: bool,
) -> anyhow::Result<()> {
    let cutoff = std::time::SystemTime::now()
        .checked_sub(age)
        .unwrap_or(std::time::UNIX_EPOCH);
    let verb = if dry_run { "would remove" } else { "removing" };
    let pending = match store.pending() {
        Ok(p) => p,
        // Such a server keeps no uploads a listing could find; incomplete sets are still pruned.
        Err(StoreError::Unsupported(why)) => {
            eprintln!("pgveil: {why}: open multipart uploads are not pruned");
            Vec::new()
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "listing unfinished uploads and files in {}",
                store.describe()
            )))
        }
    };
    // An upload or file is as young as the later of its own time and its set's stamp: a server's
    // clock or an upload's reported start (moto reports a fixed date) cannot make a running pass
    // look abandoned.
    let since = |p: &pgveil::store::Pending| {
        let stamp = p
            .set
            .as_ref()
            .and_then(|s| pgveil::store::stamp_time(&s.stamp));
        stamp.map_or(p.since, |t| t.max(p.since))
    };
    for p in pending.iter().filter(|p| since(p) <= cutoff) {
        eprintln!(
            "pgveil: {verb} unfinished {} ({} bytes)",
            p.location, p.bytes
        );
        if !dry_run {
            store
                .remove_pending(p)
                .with_context(|| format!("removing {}", p.location))?;
        }
    }
    let checks = checks_of(store, Depth::Sizes)?;
    for c in checks.iter().filter(|c| c.state == SetState::Incomplete) {
        let old = pgveil::store::stamp_time(&c.id.stamp).is_some_and(|t| t <= cutoff);
        if !old {
            continue;
        }
        eprintln!(
            "pgveil: {verb} incomplete set {}",
            store.location(&c.id, "")
        );
        if !dry_run {
            store
                .delete_set(&c.id)
                .with_context(|| format!("deleting {} from {}", c.id, store.describe()))?;
        }
    }
    Ok(())
}

fn checks_of(store: &dyn Store, depth: Depth) -> anyhow::Result<Vec<SetCheck>> {
    check_all(store, depth).with_context(|| format!("checking the sets in {}", store.describe()))
}

/// Apply retention to a local folder and/or a bucket; prints one line per deleted set (stderr).
pub fn apply_retention(
    local: Option<&dyn Store>,
    remote: Option<&dyn Store>,
    args: &RetentionArgs,
    dry_run: bool,
) -> anyhow::Result<()> {
    if args.keep_local.is_none() && args.keep_remote.is_none() {
        return Ok(());
    }
    let depth = if args.quick_check {
        Depth::Sizes
    } else {
        Depth::Checksums
    };
    let local_checks = match local {
        Some(l) if args.keep_local.is_some() => checks_of(l, depth)?,
        _ => Vec::new(),
    };
    let remote_checks = match remote {
        Some(r) => Some(checks_of(r, depth)?),
        None => None,
    };
    let keep_local = local.and(args.keep_local);
    let p = plan(
        &local_checks,
        remote_checks.as_deref(),
        keep_local,
        args.keep_remote,
    );
    let verb = if dry_run { "would delete" } else { "deleting" };
    for id in &p.kept_not_uploaded {
        eprintln!("pgveil: keeping {id} locally: it is not verified in the bucket");
    }
    for (store, ids) in [(local, &p.delete_local), (remote, &p.delete_remote)] {
        let Some(store) = store else { continue };
        for id in ids {
            eprintln!("pgveil: {verb} {}", store.location(id, ""));
            if !dry_run {
                store
                    .delete_set(id)
                    .with_context(|| format!("deleting {id} from {}", store.describe()))?;
            }
        }
    }
    Ok(())
}
