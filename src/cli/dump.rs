//! `pgveil dump`: arguments → a [`BackupPlan`]; runs [`pgveil::backup`] with the terminal progress
//! line; prints the set id (set mode), retention's deletions, notes and the per-table summary.
//! What a backup does (flat files or a backup set, the order of publication, retention) is
//! described in `pgveil::usecase` (backup, target).

use std::ffi::OsString;
use std::io::IsTerminal;
use std::path::PathBuf;

use pgveil::cancel::CancelToken;
use pgveil::usecase::{ArtifactKind, BackupPlan, BackupSource, CustomData as PlanCustomData, Note};

use super::backups::{print_retention, RetentionArgs};
use super::common::{table_summary, ReadArgs, RuleArgs, S3Args};
use super::progress::progress_for;

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
    /// Read those security labels from this database (a name or connection string) while the
    /// dump itself comes from --input or stdin (`pg_dump … | pgveil anonymize --labels-from DB`).
    /// Implies --labels.
    #[arg(long, value_name = "CONNINFO", conflicts_with = "dbname")]
    labels_from: Option<String>,
    /// Give NAME.anon.gz (and an `anon` custom archive) the contents of large objects. By default
    /// they are emptied there: no rule can tell what a large object holds.
    #[arg(long)]
    keep_large_objects: bool,
    /// Print the per-table summary (rows, MB, MB/s) and notes even when stderr is not a terminal.
    #[arg(short, long)]
    verbose: bool,
    #[command(flatten)]
    read: ReadArgs,
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

impl DumpArgs {
    fn plan(self) -> BackupPlan {
        let source = match self.input {
            Some(path) => BackupSource::Input(path),
            None => BackupSource::Database {
                dbname: self.dbname,
                pg_dump_args: self.pg_dump_args,
            },
        };
        BackupPlan {
            source,
            name: self.name,
            out_dir: self.out_dir,
            upload: self.upload,
            endpoint_url: self.s3.endpoint_url,
            set: self.set,
            retention: self.retention.plan(),
            outputs: self
                .outputs
                .iter()
                .map(|o| match o {
                    Output::Plain => ArtifactKind::Plain,
                    Output::Anon => ArtifactKind::Anon,
                    Output::Custom => ArtifactKind::Custom,
                })
                .collect(),
            custom_data: match self.custom_data {
                CustomData::Full => PlanCustomData::Full,
                CustomData::Anon => PlanCustomData::Anon,
            },
            custom_compression: self.custom_compression,
            compress_level: self.compress_level,
            rules: self.rules.plan(),
            labels: self.labels,
            labels_from: self.labels_from.clone(),
            keep_large_objects: self.keep_large_objects,
            read: self.read.mode(),
        }
    }
}

pub fn run(args: DumpArgs) -> anyhow::Result<()> {
    let verbose = args.verbose;
    let plan = args.plan();
    let progress = progress_for(false);
    let report = pgveil::backup(&plan, &*progress, &CancelToken::new())?;
    if let Some(set) = &report.set {
        println!("{set}");
    }
    if let Some(retention) = report.retention {
        print_retention(&retention?);
    }
    // The summary is for people: on a terminal, or when asked for; cron logs stay quiet.
    let for_people = verbose || std::io::stderr().is_terminal();
    if verbose && report.notes.contains(&Note::NoSnapshot) {
        eprintln!("pgveil: {}", Note::NoSnapshot);
    }
    // A direct read asked for and not done is always said.
    let fallback = |n: &Note| matches!(n, Note::ReadThroughPgDump(_));
    for note in report.notes.iter().filter(|n| fallback(n)) {
        eprintln!("pgveil: {note}");
    }
    if for_people {
        eprint!("{}", table_summary(&report.tables, report.seconds));
        for note in report
            .notes
            .iter()
            .filter(|n| **n != Note::NoSnapshot && !fallback(n))
        {
            eprintln!("{note}");
        }
    }
    Ok(())
}
