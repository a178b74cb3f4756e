//! The backup use-case (`pgveil dump`): one pass over a `pg_dump` stream (spawned, a file, or stdin)
//! writing the portable plain dump `NAME.gz`, the anonymized `NAME.anon.gz`, the custom-format
//! archive `NAME.dump` and, last, `NAME.manifest.json`, as flat files or as a backup set (see
//! [`super::target`]), then retention.
//!
//! A failed or cancelled backup publishes nothing: the sinks are dropped (partial files removed,
//! uploads aborted), a spawned pg_dump is reaped (killed first when cancelled), and the claimed
//! set is released. The cancellation token is checked before the first step, before the input is
//! opened, by the pass between batches, and once more before publication; once publication has
//! begun it completes (a set is either published whole or not at all).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::inputs::{facts_for_database, facts_for_input, labels_rule_text, load_rules, Facts};
use super::prune::{apply_retention, Retention, RetentionReport};
use super::target::{Destination, Target};
use super::{check_cancel, run_observed_pass, LabelSource, RulesPlan, UseCaseError};
use crate::archive::{ArchiveOptions, ArchiveSink};
use crate::cancel::CancelToken;
use crate::dump::anon_policy::AnonPolicy;
use crate::input::direct::{DirectError, DirectSession, ReadMode, Refused};
use crate::input::{dbname_of, redact_password, PgDumpArgs, SnapshotHolder, Source};
use crate::manifest::{now_rfc3339, Manifest, ManifestArtifact, ManifestTable};
use crate::mask::RuleSet;
use crate::observe::Observer;
use crate::pass::{DataView, EngineError, PassReport, SinkSpec, TableReport};
use crate::sink::plain::PlainSink;
use crate::sink::{SealedFile, Sink};
use crate::store::{SetId, Store};

/// Where the dump comes from.
#[derive(Debug, Clone)]
pub enum BackupSource {
    /// Run pg_dump: the database (a name or libpq connection string; `None` = the PG* defaults)
    /// and extra pg_dump arguments.
    Database {
        dbname: Option<String>,
        pg_dump_args: Vec<OsString>,
    },
    /// A plain dump file (`.gz` detected), or `-` for stdin.
    Input(PathBuf),
}

/// An artifact a backup can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArtifactKind {
    /// `NAME.gz`, everything as read.
    Plain,
    /// `NAME.anon.gz`, the masked view.
    Anon,
    /// `NAME.dump`, the custom-format archive.
    Custom,
}

impl ArtifactKind {
    /// The word the manifest uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ArtifactKind::Plain => "plain",
            ArtifactKind::Anon => "anon",
            ArtifactKind::Custom => "custom",
        }
    }
}

/// The data of the custom archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomData {
    /// A backup: original rows, owners and ACLs.
    Full,
    /// Masked rows.
    Anon,
}

/// What to back up, where to, and how.
#[derive(Debug, Clone)]
pub struct BackupPlan {
    pub source: BackupSource,
    /// Base name of the artifacts (default: the database name, or the input file's name).
    pub name: Option<String>,
    /// A folder for the artifacts (created if missing).
    pub out_dir: Option<PathBuf>,
    /// `s3://bucket/prefix/`: stream the backup set there as it is produced.
    pub upload: Option<String>,
    /// An S3-compatible endpoint (path-style addressing).
    pub endpoint_url: Option<String>,
    /// Write a backup set `NAME/STAMP/` (implied by `upload` and the retention limits).
    pub set: bool,
    pub retention: Retention,
    /// The artifacts to write, in this order (duplicates in a row are ignored).
    pub outputs: Vec<ArtifactKind>,
    pub custom_data: CustomData,
    /// zlib level of the custom archive, -1 to 9.
    pub custom_compression: i32,
    /// gzip level of the plain artifacts, 0 to 9.
    pub compress_level: u32,
    pub rules: RulesPlan,
    /// Mask as PostgreSQL Anonymizer's security labels in the schema say, ahead of the rule files.
    pub labels: bool,
    /// Read those labels from this database rather than from the input (a dump on stdin cannot
    /// be read twice). Implies `labels`.
    pub labels_from: Option<String>,
    /// Give the masked artifacts the contents of large objects.
    pub keep_large_objects: bool,
    /// How a database is read: one pg_dump, or pgveil's own connections ([`ReadMode`]).
    pub read: ReadMode,
}

impl BackupPlan {
    /// A plan with the command line's defaults: all three artifacts, full custom data, level 5.
    pub fn new(source: BackupSource) -> BackupPlan {
        BackupPlan {
            source,
            name: None,
            out_dir: None,
            upload: None,
            endpoint_url: None,
            set: false,
            retention: Retention::default(),
            outputs: vec![
                ArtifactKind::Plain,
                ArtifactKind::Anon,
                ArtifactKind::Custom,
            ],
            custom_data: CustomData::Full,
            custom_compression: 5,
            compress_level: 5,
            rules: RulesPlan::default(),
            labels: false,
            labels_from: None,
            keep_large_objects: false,
            read: ReadMode::PgDump,
        }
    }

    fn dbname(&self) -> Option<&str> {
        match &self.source {
            BackupSource::Database { dbname, .. } => dbname.as_deref(),
            BackupSource::Input(_) => None,
        }
    }

    fn input(&self) -> Option<&Path> {
        match &self.source {
            BackupSource::Input(p) => Some(p),
            BackupSource::Database { .. } => None,
        }
    }

    fn set_mode(&self) -> bool {
        self.set
            || self.upload.is_some()
            || self.retention.keep_local.is_some()
            || self.retention.keep_remote.is_some()
    }

    /// The artifacts' base name.
    fn artifact_name(&self) -> Result<String, UseCaseError> {
        let name = match (&self.name, &self.source) {
            (Some(n), _) => n.clone(),
            (None, BackupSource::Input(p)) if p != Path::new("-") => {
                let file = p
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default();
                file.trim_end_matches(".gz")
                    .trim_end_matches(".sql")
                    .to_string()
            }
            (None, BackupSource::Input(_)) => {
                return Err(UseCaseError::Invalid(
                    "--name is required when reading stdin".into(),
                ))
            }
            (None, BackupSource::Database { dbname, .. }) => dbname_of(dbname.as_deref())
                .ok_or_else(|| {
                    UseCaseError::Invalid(
                        "cannot tell the database name: give --name, --dbname or set PGDATABASE"
                            .into(),
                    )
                })?,
        };
        if name.is_empty() || name.contains('/') {
            return Err(UseCaseError::Invalid(format!(
                "invalid artifact name {name:?}"
            )));
        }
        Ok(name)
    }
}

/// Something the person running the backup should know; printed by the command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Note {
    /// No snapshot could be exported: the schema-only and the data dump read separately.
    NoSnapshot,
    /// Large objects whose contents the masked artifacts hold empty.
    LargeObjectsEmptied(u64),
    /// Entries of PostgreSQL Anonymizer's own left out of the masked artifacts.
    LeftOutOfMasked(u64),
    /// The direct read was asked for but cannot give what pg_dump gives (the reason): the data
    /// was read through pg_dump, on the same snapshot.
    ReadThroughPgDump(String),
}

impl std::fmt::Display for Note {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Note::NoSnapshot => write!(f, "could not export a snapshot; the schema and data dumps read separately"),
            Note::LargeObjectsEmptied(n) => write!(f, "{n} large objects: contents kept in the full artifacts, emptied in the masked ones (--keep-large-objects keeps them)"),
            Note::ReadThroughPgDump(why) => write!(f, "read through pg_dump: the direct read cannot honour {why}"),
            Note::LeftOutOfMasked(n) => write!(f, "{n} entries of PostgreSQL Anonymizer (the anon extension, its security labels, its configuration data, its database settings) kept in the full artifacts, left out of (or cut from) the masked ones"),
        }
    }
}

/// A published artifact: kind, file name, size and SHA-256, and where it is.
#[derive(Debug, Clone)]
pub struct PublishedArtifact {
    pub artifact: ManifestArtifact,
    /// Its path, or its URL; both when teed to a folder and a bucket.
    pub locations: Vec<String>,
}

/// What a backup did.
#[derive(Debug)]
pub struct BackupReport {
    pub name: String,
    /// The backup set, in set mode.
    pub set: Option<SetId>,
    pub artifacts: Vec<PublishedArtifact>,
    /// The manifest as published (also listing tables, large objects, rules).
    pub manifest: Manifest,
    pub tables: Vec<TableReport>,
    /// Wall time of the whole backup up to publication.
    pub seconds: f64,
    pub notes: Vec<Note>,
    /// Retention after the set was published (set mode with a limit). An error here leaves the
    /// published set as it is.
    pub retention: Option<Result<RetentionReport, UseCaseError>>,
}

/// Run a backup. See the module documentation.
pub fn backup(
    plan: &BackupPlan,
    observer: &dyn Observer,
    cancel: &CancelToken,
) -> Result<BackupReport, UseCaseError> {
    check_cancel(cancel)?;
    let started_at = now_rfc3339();
    let clock = Instant::now();
    let name = plan.artifact_name()?;
    let (rules, rule_names) = rules_of(plan)?;
    let (part_tx, parts) = crossbeam_channel::unbounded();
    let mut notes = Vec::new();
    let (held, pg_dump) = pg_dump_args(plan, &mut notes)?;
    let mut target = open_target(plan, &name, part_tx)?;
    if let Some(set) = &target.set {
        observer.set_claimed(set);
    }
    check_cancel(cancel)?;
    let (mut facts, source, _held) = open_source(plan, &pg_dump, held, observer, &mut notes)?;
    let (specs, kinds) = sinks(plan, &name, &target, &facts)?;
    let (mut pass, source) = run_pass(
        plan, &rules, source, &mut facts, specs, observer, cancel, &parts,
    )?;
    let description = match plan.input() {
        Some(_) => source.description().to_string(),
        None if source.child_less() => source.description().to_string(),
        None => format!(
            "pg_dump {}",
            plan.dbname().map(redact_password).unwrap_or_default()
        ),
    };
    source.finish().map_err(UseCaseError::SourceEnd)?;
    // The last moment to stop: dropping the sealed artifacts removes them.
    check_cancel(cancel)?;
    let sealed: Vec<SealedFile> = std::mem::take(&mut pass.artifacts)
        .into_iter()
        .map(|(_, file)| file.expect("file sinks seal a file"))
        .collect();
    let provenance = Provenance {
        source: description,
        started_at,
        rules: rule_names,
    };
    let manifest = manifest_of(
        plan,
        &name,
        &pass,
        &sealed,
        &kinds,
        facts.description,
        provenance,
    );
    let mut text = serde_json::to_vec_pretty(&manifest)?;
    text.push(b'\n');
    let mut locations: Vec<(String, Vec<String>)> = sealed
        .iter()
        .map(|s| (s.info.file.clone(), target.locations(&s.info.file)))
        .collect();
    let mut artifacts = Vec::new();
    target.commit(sealed, &name, &text, |info| {
        let artifact = manifest
            .artifacts
            .iter()
            .find(|a| a.info.file == info.file)
            .expect("every sealed artifact is in the manifest")
            .clone();
        let at = locations.iter().position(|(f, _)| *f == info.file);
        let locations = at.map(|i| locations.swap_remove(i).1).unwrap_or_default();
        observer.artifact_published(&artifact, locations.first().map_or("", |l| l));
        artifacts.push(PublishedArtifact {
            artifact,
            locations,
        });
    })?;
    // The manifest's parts, and the last parts of the artifacts sealed after the pass's end.
    super::tell_parts(&parts, observer);
    let seconds = clock.elapsed().as_secs_f64();
    if pass.large_objects > 0 && !plan.keep_large_objects {
        notes.push(Note::LargeObjectsEmptied(pass.large_objects));
    }
    if pass.excluded_from_masked > 0 {
        notes.push(Note::LeftOutOfMasked(pass.excluded_from_masked));
    }
    // A pass's retention decides about its own name's sets only.
    let retention = target.set.as_ref().and_then(|set| {
        let local = target.local.as_ref().map(|l| l as &dyn Store);
        let own = Retention {
            name: Some(set.name.clone()),
            ..plan.retention.clone()
        };
        apply_retention(local, target.remote.as_deref(), &own, false).transpose()
    });
    Ok(BackupReport {
        name,
        set: target.set.clone(),
        artifacts,
        manifest,
        tables: pass.tables,
        seconds,
        notes,
        retention,
    })
}

/// What the manifest says of where the backup came from.
struct Provenance {
    source: String,
    started_at: String,
    rules: Vec<String>,
}

/// The manifest of a backup whose pass succeeded (written last, after every artifact).
fn manifest_of(
    plan: &BackupPlan,
    name: &str,
    pass: &PassReport,
    sealed: &[SealedFile],
    kinds: &[ArtifactKind],
    schema_facts: &str,
    provenance: Provenance,
) -> Manifest {
    Manifest {
        pgveil_version: env!("CARGO_PKG_VERSION").into(),
        name: name.to_string(),
        source: provenance.source,
        server_version: pass.preamble.server_version.clone(),
        pg_dump_version: pass.preamble.pg_dump_version.clone(),
        started_at: provenance.started_at,
        finished_at: now_rfc3339(),
        rules: provenance.rules,
        schema_facts: schema_facts.into(),
        custom_data: plan.outputs.contains(&ArtifactKind::Custom).then(|| {
            match plan.custom_data {
                CustomData::Full => "full",
                CustomData::Anon => "anon",
            }
            .to_string()
        }),
        artifacts: sealed
            .iter()
            .zip(kinds)
            .map(|(file, kind)| ManifestArtifact {
                kind: kind.as_str().into(),
                info: file.info.clone(),
            })
            .collect(),
        tables: pass.tables.iter().map(ManifestTable::from).collect(),
        large_objects: pass.large_objects,
        large_objects_in_anon: match pass.large_objects {
            0 => None,
            _ if plan.keep_large_objects => Some("kept".into()),
            _ => Some("emptied".into()),
        },
        left_out_of_masked: pass.excluded_from_masked,
    }
}

/// The rules, with those converted from security labels first when the plan asks for them.
fn rules_of(plan: &BackupPlan) -> Result<(RuleSet, Vec<String>), UseCaseError> {
    let labels = if plan.labels || plan.labels_from.is_some() {
        let source = match (plan.labels_from.as_deref(), plan.input()) {
            (Some(db), _) => LabelSource::Database(Some(db)),
            (None, Some(path)) => LabelSource::Input(path),
            (None, None) => LabelSource::Database(plan.dbname()),
        };
        Some(labels_rule_text(source)?)
    } else {
        None
    };
    load_rules(&plan.rules, labels)
}

fn open_target(
    plan: &BackupPlan,
    name: &str,
    parts: crate::observe::PartSender,
) -> Result<Target, UseCaseError> {
    let set_mode = plan.set_mode();
    if set_mode && plan.retention.keep_local.is_some() && plan.out_dir.is_none() {
        return Err(UseCaseError::Invalid("--keep-local needs --out-dir".into()));
    }
    if set_mode && plan.retention.keep_remote.is_some() && plan.upload.is_none() {
        return Err(UseCaseError::Invalid("--keep-remote needs --upload".into()));
    }
    Target::open(
        &Destination {
            out_dir: plan.out_dir.as_deref(),
            upload: plan.upload.as_deref(),
            endpoint_url: plan.endpoint_url.as_deref(),
            set_mode,
            parts: Some(parts),
        },
        name,
    )
}

/// pg_dump's arguments. The schema-only dump (for the key facts) and the full dump read one
/// exported snapshot, held open by the returned holder, unless the user passed a snapshot of
/// their own. (`--serializable-deferrable` takes its own snapshot: PostgreSQL lets no READ ONLY
/// DEFERRABLE transaction import one.)
/// The arguments are read (and refused where pgveil cannot work with them) before anything runs.
fn pg_dump_args(
    plan: &BackupPlan,
    notes: &mut Vec<Note>,
) -> Result<(Held, PgDumpArgs), UseCaseError> {
    let BackupSource::Database {
        dbname,
        pg_dump_args,
    } = &plan.source
    else {
        return Ok((Held::Nothing, PgDumpArgs::default()));
    };
    database_args(dbname.as_deref(), pg_dump_args, plan.read, notes)
}

/// What holds the exported snapshot while the dumps read it.
pub(crate) enum Held {
    Nothing,
    /// Held for its `Drop`, which ends the snapshot's transaction.
    #[allow(dead_code)]
    Psql(SnapshotHolder),
    /// The direct read's session (its exporting connection).
    Direct(Box<DirectSession>),
}

/// pg_dump's arguments for a database read, with the snapshot they share (see [`pg_dump_args`]).
/// A direct read connects here, so that a connection failure stops the run before anything else.
pub(crate) fn database_args(
    dbname: Option<&str>,
    extra: &[OsString],
    read: ReadMode,
    notes: &mut Vec<Note>,
) -> Result<(Held, PgDumpArgs), UseCaseError> {
    let mut args = PgDumpArgs {
        dbname: dbname.map(str::to_string),
        extra: extra.to_vec(),
        schema_only: false,
    };
    let options = args.options()?;
    if let ReadMode::Direct { jobs } = read {
        match crate::input::direct::check_options(&options) {
            Ok(()) => match DirectSession::open(dbname, jobs) {
                Ok(session) => {
                    args.extra
                        .push(format!("--snapshot={}", session.snapshot).into());
                    return Ok((Held::Direct(session), args));
                }
                Err(DirectError::Unsupported(why)) => notes.push(Note::ReadThroughPgDump(why)),
                Err(e) => return Err(e.into()),
            },
            Err(DirectError::Unsupported(why)) => notes.push(Note::ReadThroughPgDump(why)),
            Err(e) => return Err(e.into()),
        }
    }
    if options.takes_own_snapshot() {
        return Ok((Held::Nothing, args));
    }
    let holder = SnapshotHolder::export(dbname);
    match holder {
        Some(h) => {
            args.extra.push(format!("--snapshot={}", h.snapshot).into());
            Ok((Held::Psql(h), args))
        }
        None => {
            notes.push(Note::NoSnapshot);
            Ok((Held::Nothing, args))
        }
    }
}

fn open_source(
    plan: &BackupPlan,
    pg_dump: &PgDumpArgs,
    held: Held,
    observer: &dyn Observer,
    notes: &mut Vec<Note>,
) -> Result<(Facts, Source, Held), UseCaseError> {
    Ok(match plan.input() {
        Some(path) => (facts_for_input(path)?, Source::open_input(path)?, held),
        None => {
            // The archive needs the entries about the database, which only a schema-only dump
            // with `--create` prints: that dump gives the facts here whatever the read.
            let (source, held, _) = database_source(pg_dump, held, observer, notes)?;
            // Every entry of the dump, known before it runs, when the custom archive is asked
            // for: it is then streamed to its output rather than spooled on local disk. Read
            // (pg_dump -Fc's TOC) while the schema-only dump runs.
            let announce = plan.outputs.contains(&ArtifactKind::Custom) && !spool_forced();
            let (facts, announced) = std::thread::scope(|scope| {
                let announced =
                    announce.then(|| scope.spawn(|| crate::archive::announce_database(pg_dump)));
                let facts = facts_for_database(pg_dump);
                let announced = announced
                    .map(|h| h.join().expect("the announcement thread panicked"))
                    .transpose();
                (facts, announced)
            });
            let mut facts = facts?;
            facts.announced = announced.map_err(UseCaseError::Announce)?.flatten();
            (facts, source, held)
        }
    })
}

/// The stream of a database read: the direct read when the session is direct (through pg_dump on
/// its snapshot when it cannot honour something), else pg_dump. Returns what must stay alive, and
/// for a direct read the schema it read (pre-data and post-data, the dump's complete schema).
pub(crate) fn database_source(
    pg_dump: &PgDumpArgs,
    held: Held,
    observer: &dyn Observer,
    notes: &mut Vec<Note>,
) -> Result<(Source, Held, Option<Vec<u8>>), UseCaseError> {
    let held = match held {
        Held::Direct(session) => match session.source(pg_dump) {
            Ok((source, estimate, schema)) => {
                observer.input_size(estimate);
                return Ok((source, Held::Nothing, Some(schema)));
            }
            Err(Refused::Unsupported(session, why)) => {
                notes.push(Note::ReadThroughPgDump(why));
                Held::Direct(session)
            }
            Err(Refused::Failed(e)) => return Err(e.into()),
        },
        other => other,
    };
    // The data dump starts first: its start-up (connection, catalog reads) then overlaps the
    // schema-only dump, and its output simply waits in the pipe until the facts are known.
    Ok((Source::spawn_pg_dump(pg_dump)?, held, None))
}

/// One sink per artifact the plan asks for, writing into the target.
fn sinks(
    plan: &BackupPlan,
    name: &str,
    target: &Target,
    facts: &Facts,
) -> Result<(Vec<SinkSpec>, Vec<ArtifactKind>), UseCaseError> {
    let mut specs = Vec::new();
    let mut kinds = Vec::new();
    let mut outputs = plan.outputs.clone();
    outputs.dedup();
    for kind in outputs {
        let (file, view) = match (kind, plan.custom_data) {
            (ArtifactKind::Plain, _) => (format!("{name}.gz"), DataView::Original),
            (ArtifactKind::Anon, _) => (format!("{name}.anon.gz"), DataView::Masked),
            (ArtifactKind::Custom, CustomData::Full) => {
                (format!("{name}.dump"), DataView::Original)
            }
            (ArtifactKind::Custom, CustomData::Anon) => (format!("{name}.dump"), DataView::Masked),
        };
        let out = target.create(&file)?;
        let sink: Box<dyn Sink> = match kind {
            ArtifactKind::Custom => {
                let options = ArchiveOptions {
                    dbname: dbname_of(plan.dbname()).unwrap_or_else(|| name.to_string()),
                    compression: plan.custom_compression,
                    spool_dir: target.spool_dir(),
                    // The masked archive gets the database's entries without PostgreSQL
                    // Anonymizer's settings (its salt among them).
                    database_entries: match view {
                        DataView::Original => facts.database_entries.clone(),
                        DataView::Masked => {
                            AnonPolicy::new().masked_entries(&facts.database_entries)
                        }
                    },
                    // Entries known before the pass: the archive streams its data blocks
                    // instead of spooling them (unless PGVEIL_ARCHIVE_SPOOL=1 asks for the spool).
                    announced: facts
                        .announced
                        .as_ref()
                        .filter(|_| !spool_forced())
                        .map(|a| match view {
                            DataView::Original => a.clone(),
                            DataView::Masked => a.masked(&facts.database_entries),
                        }),
                };
                Box::new(ArchiveSink::with_output(out, options)?)
            }
            _ => Box::new(PlainSink::gzip(out, plan.compress_level, true)?),
        };
        specs.push(SinkSpec {
            name: file,
            view,
            sink,
        });
        kinds.push(kind);
    }
    if specs.is_empty() {
        return Err(UseCaseError::Invalid(
            "--outputs selects no artifact".into(),
        ));
    }
    Ok((specs, kinds))
}

/// `PGVEIL_ARCHIVE_SPOOL=1`: spool the custom archive's data even when its entries are known
/// before the pass (the way of writing it when they are not; for comparisons).
fn spool_forced() -> bool {
    std::env::var_os("PGVEIL_ARCHIVE_SPOOL").is_some_and(|v| v == "1")
}

/// The pass, and the triage of its failure. The source comes back for its final check.
#[allow(clippy::too_many_arguments)]
fn run_pass(
    plan: &BackupPlan,
    rules: &RuleSet,
    mut source: Source,
    facts: &mut Facts,
    specs: Vec<SinkSpec>,
    observer: &dyn Observer,
    cancel: &CancelToken,
    parts: &super::PartReceiver,
) -> Result<(PassReport, Source), UseCaseError> {
    let result = run_observed_pass(
        &mut source,
        rules,
        facts,
        specs,
        plan.keep_large_objects,
        observer,
        cancel,
        Some(parts),
    );
    match result {
        Ok(report) => Ok((report, source)),
        Err(EngineError::Cancelled) => {
            source.stop();
            Err(UseCaseError::Cancelled)
        }
        Err(e) => {
            // When pg_dump itself failed, its message is the real reason; but when a sink failed
            // (e.g. the upload), pg_dump only died of the pipe we stopped reading.
            if !matches!(e, EngineError::Sink { .. }) {
                if let Some(child_err) = source.child_failure() {
                    return Err(child_err.into());
                }
            }
            Err(UseCaseError::Pass(Box::new(e)))
        }
    }
}
