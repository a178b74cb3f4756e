//! `pgveil pull`, `pgveil restore`, `pgveil verify`: take one backup set (from a folder or a bucket)
//! and copy it here, load it into a database, or check it against its manifest. Every artifact is
//! checked against the manifest's SHA-256 before it counts; a mismatch names the artifact.

use std::path::PathBuf;

use anyhow::{bail, Context};
use pgveil::manifest::{Manifest, ManifestArtifact};
use pgveil::restore::{self, PgRestoreOptions, PlainTarget};
use pgveil::store::check::{check_set, read_manifest, verify_artifact, Depth, SetState};
use pgveil::store::local::LocalStore;
use pgveil::store::{select_set, SetId, Store};

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

struct Chosen {
    store: Box<dyn Store>,
    set: SetId,
    manifest: Manifest,
}

impl SetArgs {
    fn choose(&self) -> anyhow::Result<Chosen> {
        let store = self.s3.open(&self.location)?;
        let sets = store
            .list_sets()
            .with_context(|| format!("listing {}", store.describe()))?;
        let listing = select_set(&sets, &self.backup, self.name.as_deref())
            .with_context(|| format!("in {}", store.describe()))?;
        let set = listing.id.clone();
        let manifest = read_manifest(&*store, &set).with_context(|| {
            format!("backup set {set} is incomplete (no readable manifest); it cannot be used")
        })?;
        Ok(Chosen {
            store,
            set,
            manifest,
        })
    }
}

impl Chosen {
    fn artifact(&self, kind: &str) -> anyhow::Result<&ManifestArtifact> {
        self.manifest
            .artifacts
            .iter()
            .find(|a| a.kind == kind)
            .with_context(|| format!("backup set {} has no {kind} artifact", self.set))
    }

    fn location(&self, a: &ManifestArtifact) -> String {
        self.store.location(&self.set, &a.info.file)
    }

    /// Read the whole artifact and check its size and SHA-256 against the manifest.
    fn verify(&self, a: &ManifestArtifact) -> Result<(), pgveil::store::StoreError> {
        verify_artifact(
            &*self.store,
            &self.set,
            &a.info.file,
            a.info.bytes,
            &a.info.sha256,
        )
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
    let chosen = args.set.choose()?;
    let local = LocalStore::new(args.out_dir.clone());
    let mut manifest = chosen.manifest.clone();
    manifest
        .artifacts
        .retain(|a| args.only.is_empty() || args.only.contains(&a.kind));
    if manifest.artifacts.is_empty() {
        bail!(
            "backup set {} has none of the artifacts {:?}",
            chosen.set,
            args.only
        );
    }
    let mut sealed = Vec::new();
    for a in &manifest.artifacts {
        let from = chosen.location(a);
        let mut out = local.create(&chosen.set, &a.info.file)?;
        let mut reader = chosen.store.open(&chosen.set, &a.info.file)?;
        std::io::copy(&mut reader, &mut out).with_context(|| format!("downloading {from}"))?;
        let file = out.seal()?;
        if file.info.sha256 != a.info.sha256 || file.info.bytes != a.info.bytes {
            bail!(
                "{from}: SHA-256 {} ({} bytes) does not match the manifest ({}, {} bytes): the artifact is corrupt",
                file.info.sha256,
                file.info.bytes,
                a.info.sha256,
                a.info.bytes
            );
        }
        sealed.push(file);
    }
    for file in sealed {
        file.publish()?;
    }
    // The local manifest lists what was pulled, so the local set checks as complete.
    let mut text = serde_json::to_vec_pretty(&manifest)?;
    text.push(b'\n');
    let mut out = local.create(&chosen.set, &chosen.set.manifest_file())?;
    out.write_all(&text)?;
    out.seal()?.publish()?;
    println!("{}", local.set_dir(&chosen.set).display());
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
    /// Create the target database first (`createdb NAME`).
    #[arg(long)]
    create: bool,
    /// Print the SQL instead (e.g. `| psql devdb`); the artifact is verified first.
    #[arg(long, conflicts_with_all = ["dbname", "create"])]
    to_stdout: bool,
    /// Parallel pg_restore jobs (custom archive).
    #[arg(short = 'j', long)]
    jobs: Option<u32>,
    /// Restore only this table (custom archive); repeatable.
    #[arg(short = 't', long = "table", value_name = "TABLE")]
    tables: Vec<String>,
    /// Skip ownership and privileges (pg_restore --no-owner --no-acl).
    #[arg(long)]
    no_owner: bool,
    /// Where a custom archive from a bucket is downloaded for pg_restore --jobs or --to-stdout
    /// (default: the temp dir); without them it streams into pg_restore.
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
}

/// A downloaded copy removed on drop.
struct TempCopy(PathBuf);

impl Drop for TempCopy {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The custom archive as a local, verified file (pg_restore needs to seek in it).
fn custom_archive_file(
    chosen: &Chosen,
    a: &ManifestArtifact,
    work_dir: Option<&PathBuf>,
) -> anyhow::Result<(PathBuf, Option<TempCopy>)> {
    if let Some(path) = chosen.store.local_path(&chosen.set, &a.info.file) {
        chosen.verify(a)?;
        return Ok((path, None));
    }
    let dir = work_dir.cloned().unwrap_or_else(std::env::temp_dir);
    let path = dir.join(format!(
        ".pgveil-restore-{}-{}",
        std::process::id(),
        a.info.file
    ));
    let guard = TempCopy(path.clone());
    let from = chosen.location(a);
    let mut file =
        std::fs::File::create(&path).with_context(|| format!("creating {}", path.display()))?;
    let mut reader = restore::HashingReader::new(chosen.store.open(&chosen.set, &a.info.file)?);
    std::io::copy(&mut reader, &mut file).with_context(|| format!("downloading {from}"))?;
    let (sha, len) = reader.finish()?;
    if sha != a.info.sha256 || len != a.info.bytes {
        bail!(
            "{from}: SHA-256 {sha} ({len} bytes) does not match the manifest ({}, {} bytes): the artifact is corrupt; nothing was restored",
            a.info.sha256,
            a.info.bytes
        );
    }
    Ok((path, Some(guard)))
}

pub fn restore(args: RestoreArgs) -> anyhow::Result<()> {
    let chosen = args.set.choose()?;
    let kind = if args.custom {
        "custom"
    } else if args.plain {
        "plain"
    } else {
        "anon"
    };
    if kind != "custom" && (!args.tables.is_empty() || args.jobs.is_some()) {
        bail!("--table and --jobs need --custom (pg_restore)");
    }
    let a = chosen.artifact(kind)?;
    if args.create {
        let db = args.dbname.as_deref().expect("clap");
        restore::createdb(db).with_context(|| format!("creating database {db}"))?;
    }
    let what = chosen.location(a);
    if kind == "custom" {
        let options = PgRestoreOptions {
            jobs: args.jobs,
            tables: args.tables.clone(),
            no_owner: args.no_owner,
        };
        let in_bucket = chosen.store.local_path(&chosen.set, &a.info.file).is_none();
        match args.dbname.as_deref() {
            // From a bucket into a database, one connection, everything: streamed, no local copy.
            // (pg_restore can finish a --table restore before the end of the archive, so before
            // the checksum is known: that one is downloaded and checked first.)
            Some(db) if in_bucket && args.jobs.unwrap_or(1) <= 1 && args.tables.is_empty() => {
                let source = chosen.store.open(&chosen.set, &a.info.file)?;
                restore::pg_restore_stream(
                    source,
                    &what,
                    &a.info.sha256,
                    a.info.bytes,
                    db,
                    &options,
                )
                .with_context(|| format!("restoring {what}"))?;
            }
            db => {
                let (path, _guard) = custom_archive_file(&chosen, a, args.work_dir.as_ref())?;
                restore::pg_restore(&path, db, &options)
                    .with_context(|| format!("restoring {what}"))?;
            }
        }
    } else if args.to_stdout {
        // Refuse before printing anything: check the whole artifact first.
        chosen.verify(a)?;
        let source = chosen.store.open(&chosen.set, &a.info.file)?;
        restore::restore_plain(source, &what, &a.info.sha256, PlainTarget::Stdout)?;
    } else {
        let db = args.dbname.as_deref().expect("clap");
        let source = chosen.store.open(&chosen.set, &a.info.file)?;
        restore::restore_plain(source, &what, &a.info.sha256, PlainTarget::Database(db))
            .with_context(|| format!("restoring {what}"))?;
    }
    if !args.to_stdout {
        eprintln!("pgveil: restored {what}");
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
    /// Where a custom archive from a bucket is downloaded for the restore check.
    #[arg(long, value_name = "DIR")]
    work_dir: Option<PathBuf>,
}

pub fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let chosen = args.set.choose()?;
    let sets = chosen.store.list_sets()?;
    let listing = sets
        .iter()
        .find(|s| s.id == chosen.set)
        .context("the set disappeared")?;
    let check = check_set(&*chosen.store, listing, Depth::Checksums)?;
    match &check.state {
        SetState::Verified => {}
        SetState::Incomplete => bail!("backup set {} is incomplete", chosen.set),
        SetState::Damaged(why) => bail!("backup set {} is damaged: {why}", chosen.set),
    }
    println!(
        "{}: {} artifacts match the manifest",
        chosen.set,
        chosen.manifest.artifacts.len()
    );
    if args.restore_check {
        restore_check(&chosen, args.work_dir.as_ref())?;
    }
    Ok(())
}

fn restore_check(chosen: &Chosen, work_dir: Option<&PathBuf>) -> anyhow::Result<()> {
    let scratch = format!("pgveil_verify_{}", std::process::id());
    restore::createdb(&scratch).with_context(|| format!("creating scratch database {scratch}"))?;
    let result = (|| -> anyhow::Result<()> {
        let custom = chosen.artifact("custom").ok();
        match custom {
            Some(a) => {
                let (path, _guard) = custom_archive_file(chosen, a, work_dir)?;
                let options = PgRestoreOptions {
                    no_owner: true,
                    ..Default::default()
                };
                restore::pg_restore(&path, Some(&scratch), &options)
                    .with_context(|| format!("restoring {}", chosen.location(a)))?;
            }
            None => {
                let a = chosen
                    .artifact("plain")
                    .or_else(|_| chosen.artifact("anon"))?;
                let what = chosen.location(a);
                let source = chosen.store.open(&chosen.set, &a.info.file)?;
                restore::restore_plain(
                    source,
                    &what,
                    &a.info.sha256,
                    PlainTarget::Database(&scratch),
                )
                .with_context(|| format!("restoring {what}"))?;
            }
        }
        let mut bad = Vec::new();
        for t in &chosen.manifest.tables {
            let n = restore::count_rows(&scratch, &t.schema, &t.table)?;
            if n != t.rows as i64 {
                bad.push(format!(
                    "{}.{}: {n} rows restored, the manifest says {}",
                    t.schema, t.table, t.rows
                ));
            }
        }
        if !bad.is_empty() {
            bail!("restore check of {} failed: {}", chosen.set, bad.join("; "));
        }
        println!(
            "{}: restore check passed ({} tables, row counts match)",
            chosen.set,
            chosen.manifest.tables.len()
        );
        Ok(())
    })();
    let dropped = restore::dropdb(&scratch);
    result?;
    dropped.with_context(|| format!("dropping scratch database {scratch}"))?;
    Ok(())
}
