//! `pgveil dump`: one pass over a `pg_dump` stream (spawned, a file, or stdin) writing the portable
//! plain dump `NAME.gz`, the anonymized `NAME.anon.gz`, the custom-format archive `NAME.dump` and, last,
//! `NAME.manifest.json`.
//!
//! Without `--upload`, `--keep-*` or `--set` the files go straight into `--out-dir` (flat), under a
//! lock on `DIR/.pgveil-NAME.lock`, removed at the end (a second run of the same name fails at
//! once). With any of them the pass claims a backup set `NAME/STAMP/` of its own in the local
//! folder and/or the bucket (the same bytes teed to both), publishes the artifacts together and the
//! manifest last, then applies retention.
//!
//! Order of publication, so that a crash at any point leaves either the previous complete files or
//! no manifest: every artifact and the new manifest are complete under partial names first; in flat
//! mode the old manifest is then removed; the artifacts are renamed; the manifest is renamed last
//! (with the folder synced between the steps).

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use pgveil::dump::anon_policy::AnonPolicy;
use pgveil::engine::{DataView, EngineError, SinkSpec};
use pgveil::input::{dbname_of, redact_password, PgDumpArgs, SnapshotHolder, Source};
use pgveil::interrupt::{self, Undo};
use pgveil::manifest::{now_rfc3339, Manifest, ManifestArtifact, ManifestTable};
use pgveil::sink::archive::{ArchiveOptions, ArchiveSink};
use pgveil::sink::plain::PlainSink;
use pgveil::sink::{ArtifactOutput, SealedFile, Sink, Tee};
use pgveil::store::local::LocalStore;
use pgveil::store::{SetId, Store, StoreError};

use super::backups::{apply_retention, RetentionArgs};
use super::common::{
    facts_for_database, facts_for_input, labels_rule_text, run_pass_with_progress, table_summary,
    LabelSource, RuleArgs, S3Args,
};

#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// Database to dump: a name or any libpq connection string / URI (PG* variables apply).
    #[arg(short = 'd', long, value_name = "CONNINFO", conflicts_with = "input")]
    dbname: Option<String>,
    /// Read a plain dump instead of running pg_dump: a file (`.gz` detected) or `-` for stdin.
    #[arg(short = 'i', long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Folder for the artifacts (created if missing). Optional with --upload.
    #[arg(
        short = 'o',
        long,
        value_name = "DIR",
        required_unless_present = "upload"
    )]
    out_dir: Option<PathBuf>,
    /// Stream the backup set to S3 as it is produced (`s3://bucket/prefix/`); no local copy needed.
    #[arg(long, value_name = "S3_URL")]
    upload: Option<String>,
    #[command(flatten)]
    s3: S3Args,
    /// Write a backup set `NAME/STAMP/` under --out-dir (implied by --upload and the keep options).
    #[arg(long)]
    set: bool,
    #[command(flatten)]
    retention: RetentionArgs,
    /// Base name of the artifacts (default: the database name, or the input file's name).
    #[arg(long)]
    name: Option<String>,
    /// Artifacts to write, comma-separated: plain (NAME.gz), anon (NAME.anon.gz), custom (NAME.dump).
    #[arg(long, value_delimiter = ',', default_value = "plain,anon,custom")]
    outputs: Vec<Output>,
    /// Data in the custom archive: `full` (a backup, with owners and ACLs) or `anon` (masked rows).
    #[arg(long, value_enum, default_value = "full")]
    custom_data: CustomData,
    /// zlib level of the custom archive: -1 (zlib's default, 6, as pg_dump), 0 (none) to 9. The
    /// default, 5, equals --compress-level so that both artifacts share one compression of the data.
    #[arg(long, default_value_t = 5, allow_hyphen_values = true, value_parser = clap::value_parser!(i32).range(-1..=9))]
    custom_compression: i32,
    /// gzip level for NAME.gz and NAME.anon.gz. The default, 5, gives files within 2% of `gzip -6`
    /// for about 30% less CPU than level 6 (see README, Performance).
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=9))]
    compress_level: u32,
    #[command(flatten)]
    rules: RuleArgs,
    /// Mask as PostgreSQL Anonymizer's `SECURITY LABEL FOR anon ON COLUMN … IS 'MASKED WITH …'`
    /// statements in the schema say (converted as `rules import-labels` does), ahead of `--rules`.
    #[arg(long)]
    labels: bool,
    /// Give NAME.anon.gz (and an `anon` custom archive) the contents of large objects. By default
    /// they are emptied there: no rule can tell what a large object holds.
    #[arg(long)]
    keep_large_objects: bool,
    /// Print the per-table summary (rows, MB, MB/s) and notes even when stderr is not a terminal.
    #[arg(short, long)]
    verbose: bool,
    /// Extra arguments for pg_dump (after `--`).
    #[arg(last = true, value_name = "PG_DUMP_ARGS")]
    pg_dump_args: Vec<OsString>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Plain,
    Anon,
    Custom,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum CustomData {
    Full,
    Anon,
}

fn default_name(args: &DumpArgs) -> anyhow::Result<String> {
    if let Some(n) = &args.name {
        return Ok(n.clone());
    }
    match &args.input {
        Some(p) if p != Path::new("-") => {
            let file = p
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .unwrap_or_default();
            let stem = file.trim_end_matches(".gz").trim_end_matches(".sql");
            Ok(stem.to_string())
        }
        Some(_) => bail!("--name is required when reading stdin"),
        None => dbname_of(args.dbname.as_deref())
            .context("cannot tell the database name: give --name, --dbname or set PGDATABASE"),
    }
}

pub fn run(args: DumpArgs) -> anyhow::Result<()> {
    let started_at = now_rfc3339();
    let pass_started = std::time::Instant::now();
    let name = default_name(&args)?;
    if name.is_empty() || name.contains('/') {
        bail!("invalid artifact name {name:?}");
    }
    let (rules, rule_names) = if args.labels {
        let source = match &args.input {
            Some(path) => LabelSource::Input(path),
            None => LabelSource::Database(args.dbname.as_deref()),
        };
        args.rules.load_with_labels(labels_rule_text(source)?)?
    } else {
        args.rules.load()?
    };
    let mut target = Target::open(&args, &name)?;

    let mut pg_dump = PgDumpArgs {
        dbname: args.dbname.clone(),
        extra: args.pg_dump_args.clone(),
        schema_only: false,
    };
    // The schema-only dump (for the key facts) and the full dump read one exported snapshot, unless
    // the user passed a snapshot of their own.
    // (`--serializable-deferrable` takes its own snapshot: PostgreSQL lets no READ ONLY DEFERRABLE
    // transaction import one.)
    let _snapshot = if args.input.is_none() && !pg_dump.options()?.takes_own_snapshot() {
        let holder = SnapshotHolder::export(args.dbname.as_deref());
        match &holder {
            Some(h) => pg_dump
                .extra
                .push(format!("--snapshot={}", h.snapshot).into()),
            None if args.verbose => {
                eprintln!("pgveil: could not export a snapshot; the schema and data dumps read separately")
            }
            None => {}
        }
        holder
    } else {
        None
    };
    let (mut facts, mut source) = match &args.input {
        Some(path) => (facts_for_input(path)?, Source::open_input(path)?),
        None => {
            // Start the data dump first: its start-up (connection, catalog reads) then overlaps the
            // schema-only dump, and its output simply waits in the pipe until the facts are known.
            let source = Source::spawn_pg_dump(&pg_dump)?;
            (facts_for_database(&pg_dump)?, source)
        }
    };

    let mut specs = Vec::new();
    let mut kinds = Vec::new();
    let mut outputs = args.outputs.clone();
    outputs.dedup();
    for output in outputs {
        let (kind, file, view) = match output {
            Output::Plain => ("plain", format!("{name}.gz"), DataView::Original),
            Output::Anon => ("anon", format!("{name}.anon.gz"), DataView::Masked),
            Output::Custom => match args.custom_data {
                CustomData::Full => ("custom", format!("{name}.dump"), DataView::Original),
                CustomData::Anon => ("custom", format!("{name}.dump"), DataView::Masked),
            },
        };
        let out = target.create(&file)?;
        let sink: Box<dyn Sink> = match output {
            Output::Custom => {
                let options = ArchiveOptions {
                    dbname: dbname_of(args.dbname.as_deref()).unwrap_or_else(|| name.clone()),
                    compression: args.custom_compression,
                    spool_dir: target.spool_dir(),
                    // The masked archive gets the database's entries without PostgreSQL
                    // Anonymizer's settings (its salt among them).
                    database_entries: match view {
                        DataView::Original => facts.database_entries.clone(),
                        DataView::Masked => {
                            AnonPolicy::new().masked_entries(&facts.database_entries)
                        }
                    },
                };
                Box::new(ArchiveSink::with_output(out, options)?)
            }
            _ => Box::new(PlainSink::gzip(out, args.compress_level, true)?),
        };
        specs.push(SinkSpec {
            name: file,
            view,
            sink,
        });
        kinds.push(kind);
    }
    if specs.is_empty() {
        bail!("--outputs selects no artifact");
    }

    let result = run_pass_with_progress(
        &mut source,
        &rules,
        &mut facts,
        specs,
        args.keep_large_objects,
        false,
    );
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            // When pg_dump itself failed, its message is the real reason; but when a sink failed
            // (e.g. the upload), pg_dump only died of the pipe we stopped reading.
            if !matches!(e, EngineError::Sink { .. }) {
                if let Some(child_err) = source.child_failure() {
                    return Err(child_err.into());
                }
            }
            return Err(anyhow::Error::new(e).context("the pass failed; nothing was published"));
        }
    };
    let description = match &args.input {
        Some(_) => source.description().to_string(),
        None => format!(
            "pg_dump {}",
            args.dbname
                .as_deref()
                .map(redact_password)
                .unwrap_or_default()
        ),
    };
    source.finish().context("nothing was published")?;

    let sealed: Vec<(SealedFile, &str)> = report
        .artifacts
        .into_iter()
        .zip(kinds)
        .map(|((_, file), kind)| (file.expect("file sinks seal a file"), kind))
        .collect();
    let artifacts = sealed
        .iter()
        .map(|(file, kind)| ManifestArtifact {
            kind: (*kind).into(),
            info: file.info.clone(),
        })
        .collect();
    let manifest = Manifest {
        pgveil_version: env!("CARGO_PKG_VERSION").into(),
        name: name.clone(),
        source: description,
        server_version: report.preamble.server_version.clone(),
        pg_dump_version: report.preamble.pg_dump_version.clone(),
        started_at,
        finished_at: now_rfc3339(),
        rules: rule_names,
        schema_facts: facts.description.into(),
        custom_data: args.outputs.contains(&Output::Custom).then(|| {
            match args.custom_data {
                CustomData::Full => "full",
                CustomData::Anon => "anon",
            }
            .to_string()
        }),
        artifacts,
        tables: report.tables.iter().map(ManifestTable::from).collect(),
        large_objects: report.large_objects,
        large_objects_in_anon: match report.large_objects {
            0 => None,
            _ if args.keep_large_objects => Some("kept".into()),
            _ => Some("emptied".into()),
        },
        left_out_of_masked: report.excluded_from_masked,
    };
    let mut text = serde_json::to_vec_pretty(&manifest)?;
    text.push(b'\n');
    target.commit(sealed, &name, &text)?;
    if let Some(set) = &target.set {
        println!("{set}");
        apply_retention(
            target.local.as_ref().map(|l| l as &dyn Store),
            target.remote.as_deref(),
            &args.retention,
            false,
        )?;
    }

    // The summary is for people: on a terminal, or when asked for; cron logs stay quiet.
    if args.verbose || std::io::stderr().is_terminal() {
        eprint!(
            "{}",
            table_summary(&report.tables, pass_started.elapsed().as_secs_f64())
        );
        if report.large_objects > 0 && !args.keep_large_objects {
            eprintln!(
                "{} large objects: contents kept in the full artifacts, emptied in the masked ones (--keep-large-objects keeps them)",
                report.large_objects
            );
        }
        if report.excluded_from_masked > 0 {
            eprintln!(
                "{} entries of PostgreSQL Anonymizer (the anon extension, its security labels, its configuration data, its database settings) kept in the full artifacts, left out of (or cut from) the masked ones",
                report.excluded_from_masked
            );
        }
    }
    Ok(())
}

/// Where the pass writes: flat files in a folder, or a backup set in a folder and/or a bucket.
struct Target {
    flat_dir: Option<PathBuf>,
    /// Held for the whole run in flat mode.
    _flat_lock: Option<FlatLock>,
    local: Option<LocalStore>,
    remote: Option<Box<dyn Store>>,
    set: Option<SetId>,
    /// Unique to this run: names its claim on the set in a bucket.
    token: String,
    /// Remove the claimed set on SIGINT/SIGTERM; dropped when the manifest is published.
    set_guards: Vec<interrupt::Guard>,
    /// Set once the manifest is written; until then a failure removes the empty set folder.
    published: bool,
}

/// How often a pass tries the next stamp when its set is taken.
const CLAIM_ATTEMPTS: usize = 60;

enum ClaimError {
    Taken,
    Store(StoreError),
}

impl Target {
    fn open(args: &DumpArgs, name: &str) -> anyhow::Result<Target> {
        let set_mode = args.set
            || args.upload.is_some()
            || args.retention.keep_local.is_some()
            || args.retention.keep_remote.is_some();
        if let Some(dir) = &args.out_dir {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        let token = format!("{:x}-{:016x}", std::process::id(), rand::random::<u64>());
        if !set_mode {
            let dir = args.out_dir.clone().context("--out-dir is required")?;
            let lock = lock_flat(&dir, name)?;
            return Ok(Target {
                flat_dir: Some(dir),
                _flat_lock: Some(lock),
                local: None,
                remote: None,
                set: None,
                token,
                set_guards: Vec::new(),
                published: false,
            });
        }
        if args.retention.keep_local.is_some() && args.out_dir.is_none() {
            bail!("--keep-local needs --out-dir");
        }
        if args.retention.keep_remote.is_some() && args.upload.is_none() {
            bail!("--keep-remote needs --upload");
        }
        let local = args.out_dir.clone().map(LocalStore::new);
        let remote = match &args.upload {
            Some(url) => Some(args.s3.open(url)?),
            None => None,
        };
        let mut target = Target {
            flat_dir: None,
            _flat_lock: None,
            local,
            remote,
            set: None,
            token,
            set_guards: Vec::new(),
            published: false,
        };
        // A new set, later than any set of this name already there (stamps order the sets).
        let mut set = SetId::now(name);
        for store in target.stores() {
            let sets = store
                .list_sets()
                .with_context(|| format!("listing {}", store.describe()))?;
            for existing in sets.iter().filter(|s| s.id.name == name) {
                if existing.id.stamp >= set.stamp {
                    set = existing.id.next_after().unwrap_or(set);
                }
            }
        }
        // Claim it everywhere; a set another pass holds (the same second) means the next second.
        for attempt in 0..CLAIM_ATTEMPTS {
            if target.claim(&set)? {
                target.set = Some(set);
                return Ok(target);
            }
            if attempt > 0 {
                // Two passes that keep meeting at the same stamp (both saw each other's claim
                // in a bucket) part after a random pause.
                std::thread::sleep(std::time::Duration::from_millis(
                    rand::random::<u64>() % 200,
                ));
            }
            set = set.next_after().context("no next stamp")?;
        }
        bail!(
            "could not claim a new backup set for {name}: {CLAIM_ATTEMPTS} stamps in a row were taken by other runs"
        )
    }

    fn stores(&self) -> impl Iterator<Item = &dyn Store> {
        self.local
            .iter()
            .map(|l| l as &dyn Store)
            .chain(self.remote.as_deref())
    }

    /// Claim `set` in every store; `false` (and nothing held) if any has it already.
    fn claim(&mut self, set: &SetId) -> anyhow::Result<bool> {
        let mut claimed: Vec<&dyn Store> = Vec::new();
        let mut guards = Vec::new();
        let stores: Vec<&dyn Store> = self.stores().collect();
        for store in stores {
            // Claimed and registered for removal on SIGINT/SIGTERM in one step.
            let res = interrupt::guard(|| match store.claim(set, &self.token) {
                Ok(true) => Ok(((), Undo::RemoveSet(store.set_remover(set)))),
                Ok(false) => Err(ClaimError::Taken),
                Err(e) => Err(ClaimError::Store(e)),
            });
            match res {
                Ok(((), guard)) => {
                    claimed.push(store);
                    guards.push(guard);
                }
                Err(err) => {
                    drop(guards);
                    for c in claimed {
                        c.release(set, &self.token);
                    }
                    return match err {
                        ClaimError::Taken => Ok(false),
                        ClaimError::Store(e) => Err(anyhow::Error::new(e)
                            .context(format!("claiming {set} in {}", store.describe()))),
                    };
                }
            }
        }
        self.set_guards = guards;
        Ok(true)
    }

    /// Publish: the manifest complete under a partial name, (flat) the old manifest removed, the
    /// artifacts renamed / uploads completed, the manifest published last. A failure anywhere
    /// leaves no manifest, or the previous complete files.
    fn commit(
        &mut self,
        sealed: Vec<(SealedFile, &str)>,
        name: &str,
        text: &[u8],
    ) -> anyhow::Result<()> {
        let file = format!("{name}.manifest.json");
        let mut out = self.create(&file)?;
        out.write_all(text)?;
        let manifest = out.seal()?;
        if let Some(dir) = &self.flat_dir {
            // From here until the new manifest is in place the folder has none: a crash in between
            // leaves artifacts that no manifest vouches for, never an old manifest over new files.
            let old = dir.join(&file);
            match std::fs::remove_file(&old) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => {
                    return Err(anyhow::Error::new(e)
                        .context(format!("removing the previous {}", old.display())))
                }
            }
            self.sync_dirs()?;
        }
        // On an error the sealed artifacts not yet published are dropped: removed / aborted.
        for (sealed, _) in sealed {
            let f = sealed.info.file.clone();
            sealed
                .publish()
                .with_context(|| format!("publishing {f}"))?;
        }
        self.sync_dirs()?;
        interrupt::settle(&mut self.set_guards, || {
            manifest
                .publish()
                .with_context(|| format!("publishing {file}"))
        })?;
        self.sync_dirs()?;
        self.published = true;
        if let Some(set) = &self.set {
            for store in self.stores() {
                store.finish_claim(set, &self.token);
            }
        }
        Ok(())
    }

    /// fsync the local folder written to, so that renames reach the disk in order.
    fn sync_dirs(&self) -> anyhow::Result<()> {
        let dir = match (&self.flat_dir, &self.local, &self.set) {
            (Some(dir), _, _) => dir.clone(),
            (None, Some(local), Some(set)) => local.set_dir(set),
            _ => return Ok(()),
        };
        std::fs::File::open(&dir)
            .and_then(|d| d.sync_all())
            .with_context(|| format!("syncing {}", dir.display()))
    }

    /// A new artifact file: nothing is visible under its final name until published.
    fn create(&self, file: &str) -> anyhow::Result<ArtifactOutput> {
        if let Some(dir) = &self.flat_dir {
            return Ok(ArtifactOutput::file(&dir.join(file))?);
        }
        let set = self.set.as_ref().expect("set mode");
        let local = match &self.local {
            Some(l) => Some(
                l.create(set, file)
                    .with_context(|| format!("creating {}", l.location(set, file)))?,
            ),
            None => None,
        };
        let remote = match &self.remote {
            Some(r) => Some(
                r.create(set, file)
                    .with_context(|| format!("starting the upload of {}", r.location(set, file)))?,
            ),
            None => None,
        };
        Ok(match (local, remote) {
            (Some(l), Some(r)) => ArtifactOutput::new(Tee::new(l, r)),
            (Some(one), None) | (None, Some(one)) => one,
            (None, None) => bail!("no output: give --out-dir or --upload"),
        })
    }

    /// Where the custom archive spools its table data until the TOC is known. Without a local
    /// folder this is the temp dir: the compressed table data must fit there.
    fn spool_dir(&self) -> PathBuf {
        match (&self.flat_dir, &self.local) {
            (Some(dir), _) => dir.clone(),
            (None, Some(l)) => l.root().to_path_buf(),
            (None, None) => std::env::var_os("PGVEIL_SPOOL_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(std::env::temp_dir),
        }
    }
}

/// The lock of a flat run: `DIR/.pgveil-NAME.lock`, held (flock) for the whole run and removed at
/// its end (also on SIGINT/SIGTERM; a run killed outright leaves it, harmlessly).
struct FlatLock {
    path: PathBuf,
    _file: std::fs::File,
    _guard: interrupt::Guard,
}

impl Drop for FlatLock {
    fn drop(&mut self) {
        // Removed while still held: a run that opened this file meanwhile finds, once it holds
        // the lock, that the path no longer names it, and starts over (see `lock_flat`).
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Lock `DIR/.pgveil-NAME.lock` for a flat run; a second run of NAME into DIR fails at once.
fn lock_flat(dir: &Path, name: &str) -> anyhow::Result<FlatLock> {
    let path = dir.join(format!(".pgveil-{name}.lock"));
    loop {
        let opened = interrupt::guard(|| {
            std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&path)
                .map(|f| (f, Undo::RemoveFile(path.clone())))
        });
        let (file, guard) = opened.with_context(|| format!("opening {}", path.display()))?;
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            use std::os::unix::fs::MetadataExt;
            // SAFETY: flock on a file descriptor we own.
            if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
                let err = std::io::Error::last_os_error();
                // Not ours to remove: forget the undo without touching the file.
                drop(guard);
                if err.kind() == std::io::ErrorKind::WouldBlock {
                    bail!(
                        "another pgveil run is writing {name} into {} (it holds {}); nothing was written",
                        dir.display(),
                        path.display()
                    );
                }
                return Err(anyhow::Error::new(err).context(format!("locking {}", path.display())));
            }
            // The holder we waited for may have removed the file as it finished: then this lock
            // is on a file nobody else will open, and the path must be locked afresh.
            let held = file.metadata().map(|m| (m.dev(), m.ino())).ok();
            let named = std::fs::metadata(&path).map(|m| (m.dev(), m.ino())).ok();
            if held.is_none() || held != named {
                drop(guard);
                continue;
            }
        }
        return Ok(FlatLock {
            path,
            _file: file,
            _guard: guard,
        });
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        // After a failed pass the partial files are gone already (the sinks dropped first); the
        // claimed set is left empty: release it (the local folder, if empty, and the bucket's
        // claim object), so no incomplete set is listed.
        if let (false, Some(set)) = (self.published, &self.set) {
            self.set_guards.clear();
            for store in self.stores() {
                store.release(set, &self.token);
            }
        }
    }
}
