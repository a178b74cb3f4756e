//! `pgveil dump`: one pass over a `pg_dump` stream (spawned, a file, or stdin) writing the portable
//! plain dump `NAME.gz`, the anonymized `NAME.anon.gz`, the custom-format archive `NAME.dump` and, last,
//! `NAME.manifest.json`.

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use pgveil::dump::DumpReader;
use pgveil::engine::{run_pass, DataView, PassOptions, SinkSpec};
use pgveil::manifest::{now_rfc3339, Manifest, ManifestArtifact, ManifestTable};
use pgveil::sink::archive::{ArchiveOptions, ArchiveSink};
use pgveil::sink::plain::PlainSink;
use pgveil::sink::{AtomicFile, Sink};
use pgveil::source::{dbname_of, redact_password, PgDumpArgs, SnapshotHolder, Source};

use super::common::{facts_for_database, facts_for_input, progress_for, table_summary, RuleArgs};

#[derive(Debug, clap::Args)]
pub struct DumpArgs {
    /// Database to dump: a name or any libpq connection string / URI (PG* variables apply).
    #[arg(short = 'd', long, value_name = "CONNINFO", conflicts_with = "input")]
    dbname: Option<String>,
    /// Read a plain dump instead of running pg_dump: a file (`.gz` detected) or `-` for stdin.
    #[arg(short = 'i', long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Folder for the artifacts (created if missing).
    #[arg(short = 'o', long, value_name = "DIR")]
    out_dir: PathBuf,
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
    let (rules, rule_names) = args.rules.load()?;
    std::fs::create_dir_all(&args.out_dir)
        .with_context(|| format!("creating {}", args.out_dir.display()))?;

    let mut pg_dump = PgDumpArgs {
        dbname: args.dbname.clone(),
        extra: args.pg_dump_args.clone(),
        schema_only: false,
    };
    // The schema-only dump (for the key facts) and the full dump read one exported snapshot, unless
    // the user passed a snapshot of their own.
    let user_snapshot = args
        .pg_dump_args
        .iter()
        .any(|a| a.to_string_lossy().starts_with("--snapshot"));
    let _snapshot = if args.input.is_none() && !user_snapshot {
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
        None => (
            facts_for_database(&pg_dump)?,
            Source::spawn_pg_dump(&pg_dump)?,
        ),
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
        let path = args.out_dir.join(&file);
        let sink: Box<dyn Sink> = match output {
            Output::Custom => {
                let options = ArchiveOptions {
                    dbname: dbname_of(args.dbname.as_deref()).unwrap_or_else(|| name.clone()),
                    compression: args.custom_compression,
                    spool_dir: args.out_dir.clone(),
                };
                Box::new(ArchiveSink::create(&path, options)?)
            }
            _ => Box::new(PlainSink::gzip_file(&path, args.compress_level, true)?),
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

    let progress = progress_for(source.bytes_read(), false);
    let reader = DumpReader::new(source.reader());
    let result = run_pass(
        reader,
        &rules,
        &mut facts.facts,
        facts.learn_during_pass,
        specs,
        &PassOptions::default(),
        &*progress,
    );
    progress.done();
    let report = match result {
        Ok(r) => r,
        Err(e) => {
            // When pg_dump itself failed, its message is the real reason.
            if let Some(child_err) = source.child_failure() {
                return Err(child_err.into());
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

    let mut artifacts = Vec::new();
    // Every artifact is complete and sealed: publish them all, then the manifest.
    let sealed: Vec<_> = report.artifacts.into_iter().zip(kinds).collect();
    for ((_, file), kind) in sealed {
        let file = file.expect("file sinks seal a file");
        artifacts.push(ManifestArtifact {
            kind: kind.into(),
            info: file.publish()?,
        });
    }
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
    };
    let mut file = AtomicFile::create(&args.out_dir.join(format!("{name}.manifest.json")))?;
    file.write_all(&serde_json::to_vec_pretty(&manifest)?)?;
    file.write_all(b"\n")?;
    file.commit()?;

    // The summary is for people: on a terminal, or when asked for; cron logs stay quiet.
    if args.verbose || std::io::stderr().is_terminal() {
        eprint!(
            "{}",
            table_summary(&report.tables, pass_started.elapsed().as_secs_f64())
        );
    }
    Ok(())
}
