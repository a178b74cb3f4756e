//! `pgveil pull`, `pgveil restore`, `pgveil verify`: take one backup set (from a folder or a bucket)
//! and copy it here, load it into a database, or check it against its manifest. Every artifact is
//! checked against the manifest's SHA-256 before it counts; a mismatch names the artifact.
//!
//! `restore` checks the artifact before any byte of it reaches psql or pg_restore (SQL can commit
//! and run shell commands by itself, so checking at the end is too late): a local file is read and
//! checked first; an object in a bucket is downloaded into a private work folder, checked, and
//! restored from there. A database that `--create` made is dropped again when the restore fails.

use std::fs::File;
use std::io::Seek;
use std::path::PathBuf;

use anyhow::{bail, Context};
use pgveil::input::conninfo::ConnInfo;
use pgveil::manifest::{Manifest, ManifestArtifact};
use pgveil::restore::{self, PgRestoreOptions, PlainTarget};
use pgveil::store::check::{check_set, read_manifest, sha256_of, Depth, SetState};
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

    /// The artifact as a local file whose size and SHA-256 match the manifest: a local set's own
    /// file, read and checked; an object downloaded (and checked on the way) into a private work
    /// folder under `work_dir` (default: the temp dir), removed when the result is dropped. The
    /// returned handle is the one that was checked, rewound.
    fn verified_file(
        &self,
        a: &ManifestArtifact,
        work_dir: Option<&PathBuf>,
    ) -> anyhow::Result<Verified> {
        let from = self.location(a);
        let (path, mut file, work) = match self.store.local_path(&self.set, &a.info.file) {
            Some(path) => {
                let file = File::open(&path).with_context(|| format!("opening {from}"))?;
                (path, file, None)
            }
            None => {
                let work = WorkDir::create(work_dir)?;
                let path = work.path.join(&a.info.file);
                let mut file = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .create_new(true)
                    .open(&path)
                    .with_context(|| format!("creating {}", path.display()))?;
                let mut reader = self.store.open(&self.set, &a.info.file)?;
                std::io::copy(&mut reader, &mut file)
                    .with_context(|| format!("downloading {from} to {}", path.display()))?;
                (path, file, Some(work))
            }
        };
        file.rewind()?;
        let (sha, len) = sha256_of(&mut file).with_context(|| format!("reading {from}"))?;
        if sha != a.info.sha256 || len != a.info.bytes {
            bail!(
                "{from}: SHA-256 {sha} ({len} bytes) does not match the manifest ({}, {} bytes): the artifact is corrupt; nothing was restored",
                a.info.sha256,
                a.info.bytes
            );
        }
        file.rewind()?;
        Ok(Verified {
            path,
            file,
            _work: work,
        })
    }
}

/// A checked local copy of an artifact (see [`Chosen::verified_file`]).
struct Verified {
    path: PathBuf,
    file: File,
    _work: Option<WorkDir>,
}

/// A private (0700) folder for downloaded artifacts, removed with its contents on drop, or by the
/// cleanup of an interrupted run (SIGINT/SIGTERM).
struct WorkDir {
    path: PathBuf,
    _undo: pgveil::interrupt::Guard,
}

impl WorkDir {
    fn create(base: Option<&PathBuf>) -> anyhow::Result<WorkDir> {
        use std::os::unix::fs::DirBuilderExt;
        let base = base.cloned().unwrap_or_else(std::env::temp_dir);
        let path = base.join(format!(
            ".pgveil-restore-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let (path, undo) = pgveil::interrupt::guard(|| {
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&path)
                .with_context(|| format!("creating the work folder {}", path.display()))?;
            anyhow::Ok((path.clone(), pgveil::interrupt::Undo::RemoveDir(path)))
        })?;
        Ok(WorkDir { path, _undo: undo })
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
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
        "custom"
    } else if args.plain {
        "plain"
    } else {
        "anon"
    };
    if kind != "custom" && (!args.tables.is_empty() || args.jobs.is_some()) {
        bail!("--table and --jobs need --custom (pg_restore)");
    }
    let conn = ConnInfo::parse_opt(args.dbname.as_deref())?;
    let options = PgRestoreOptions {
        jobs: args.jobs,
        tables: args.tables.clone(),
        no_owner: args.no_owner,
    };
    if let (Some(j), Some(conn)) = (options.parallel(), &conn) {
        if !args.create && !args.allow_partial {
            bail!(
                "refusing --jobs {j} into the existing database {}: parallel workers commit separately, so a failure would leave part of the archive behind; restore without --jobs (one transaction), into a new database with --create (dropped on failure), or accept a partial restore with --allow-partial",
                conn.describe()
            );
        }
    }
    let chosen = args.set.choose()?;
    let a = chosen.artifact(kind)?;
    let what = chosen.location(a);
    // Nothing of the artifact reaches psql or pg_restore (nor the new database exists) before it
    // matched the manifest.
    let verified = chosen.verified_file(a, args.work_dir.as_ref())?;
    let Some(conn) = conn else {
        // --to-stdout
        if kind == "custom" {
            restore::pg_restore(&verified.path, None, &options)
                .with_context(|| format!("restoring {what}"))?;
        } else {
            restore::restore_plain(
                Box::new(verified.file),
                &what,
                &a.info.sha256,
                PlainTarget::Stdout,
            )?;
        }
        return Ok(());
    };
    if args.create {
        restore::createdb(&conn)
            .with_context(|| format!("creating database {}", conn.describe()))?;
    }
    let restored = if kind == "custom" {
        restore::pg_restore(&verified.path, Some(&conn), &options)
    } else {
        restore::restore_plain(
            Box::new(verified.file),
            &what,
            &a.info.sha256,
            PlainTarget::Database(&conn),
        )
    };
    if let Err(e) = restored {
        let mut err = anyhow::Error::new(e).context(format!("restoring {what}"));
        if args.create {
            err = match restore::dropdb(&conn) {
                Ok(()) => err.context(format!(
                    "the database {} that --create made was dropped again",
                    conn.describe()
                )),
                Err(d) => err.context(format!(
                    "the database {} that --create made could not be dropped ({d}); it may hold part of the restore",
                    conn.describe()
                )),
            };
        }
        return Err(err);
    }
    eprintln!("pgveil: restored {what}");
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
    let scratch_name = format!("pgveil_verify_{}", std::process::id());
    let scratch = ConnInfo::name(&scratch_name);
    restore::createdb(&scratch)
        .with_context(|| format!("creating scratch database {scratch_name}"))?;
    let result = (|| -> anyhow::Result<()> {
        let custom = chosen.artifact("custom").ok();
        match custom {
            Some(a) => {
                let verified = chosen.verified_file(a, work_dir)?;
                let options = PgRestoreOptions {
                    no_owner: true,
                    ..Default::default()
                };
                restore::pg_restore(&verified.path, Some(&scratch), &options)
                    .with_context(|| format!("restoring {}", chosen.location(a)))?;
            }
            None => {
                let a = chosen
                    .artifact("plain")
                    .or_else(|_| chosen.artifact("anon"))?;
                let what = chosen.location(a);
                let verified = chosen.verified_file(a, work_dir)?;
                restore::restore_plain(
                    Box::new(verified.file),
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
    dropped.with_context(|| format!("dropping scratch database {scratch_name}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::WorkDir;

    #[test]
    fn the_work_folder_is_private_and_removed_with_its_contents() {
        use std::os::unix::fs::PermissionsExt;
        let base = std::env::temp_dir();
        let work = WorkDir::create(Some(&base)).unwrap();
        let path = work.path.clone();
        assert!(path.starts_with(&base));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
        std::fs::write(path.join("artifact"), b"x").unwrap();
        // Two restores at once get two folders.
        let other = WorkDir::create(Some(&base)).unwrap();
        assert_ne!(other.path, path);
        drop(work);
        assert!(!path.exists());
    }
}
