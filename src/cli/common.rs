//! Pieces shared by the subcommands: rule arguments, S3 arguments, the per-table summary.

use std::path::PathBuf;

use pgveil::mask::RuleSet;
use pgveil::pass::TableReport;
use pgveil::usecase::LabelSource;
use pgveil::usecase::{load_rules, RulesPlan};

#[derive(Debug, clap::Args)]
pub struct RuleArgs {
    /// Rule file (TOML); repeatable. Without it, the shipped default rules apply.
    #[arg(long = "rules", value_name = "FILE")]
    pub rules: Vec<PathBuf>,
    /// File holding the secret key for keyed pseudonyms (default: $PGVEIL_KEY, else a random per-run key).
    #[arg(long, value_name = "FILE")]
    pub key_file: Option<PathBuf>,
}

impl RuleArgs {
    pub fn plan(&self) -> RulesPlan {
        RulesPlan {
            files: self.rules.clone(),
            key_file: self.key_file.clone(),
        }
    }

    pub fn load(&self) -> anyhow::Result<(RuleSet, Vec<String>)> {
        Ok(load_rules(&self.plan(), None)?)
    }

    /// The rules converted from security labels (`(name, TOML text)`, see [`labels_rule_text`])
    /// first, then the `--rules` files or, without any, the default rules.
    pub fn load_with_labels(
        &self,
        labels: (String, String),
    ) -> anyhow::Result<(RuleSet, Vec<String>)> {
        Ok(load_rules(&self.plan(), Some(labels))?)
    }
}

/// The security labels of a schema as a rule file: `(name for messages, TOML text)`.
pub fn labels_rule_text(source: LabelSource<'_>) -> anyhow::Result<(String, String)> {
    Ok(pgveil::usecase::labels_rule_text(source)?)
}

/// The per-table summary printed at the end of a pass: rows, bytes, time and throughput, largest
/// tables first, then the totals. `masked` counts the columns a masker other than `keep` applies to.
pub fn table_summary(tables: &[TableReport], total_seconds: f64) -> String {
    let mut sorted: Vec<&TableReport> = tables.iter().collect();
    sorted.sort_by_key(|t| std::cmp::Reverse(t.bytes));
    let name = |t: &TableReport| {
        if t.schema.is_empty() {
            t.table.clone()
        } else {
            format!("{}.{}", t.schema, t.table)
        }
    };
    let width = sorted
        .iter()
        .map(|t| name(t).chars().count())
        .chain([5])
        .max()
        .unwrap_or(5);
    let mut out = format!(
        "{:<width$}  {:>12}  {:>10}  {:>8}  {:>8}  {:>6}\n",
        "table", "rows", "MB", "seconds", "MB/s", "masked"
    );
    let line = |label: &str, rows: u64, bytes: u64, secs: f64, masked: &str| {
        let rate = if secs > 0.0 {
            bytes as f64 / 1e6 / secs
        } else {
            0.0
        };
        format!(
            "{label:<width$}  {rows:>12}  {:>10.1}  {secs:>8.2}  {rate:>8.1}  {masked:>6}\n",
            bytes as f64 / 1e6
        )
    };
    for t in &sorted {
        out.push_str(&line(
            &name(t),
            t.rows,
            t.bytes,
            t.seconds,
            &format!("{}/{}", t.masked_columns.len(), t.columns),
        ));
    }
    let rows = tables.iter().map(|t| t.rows).sum();
    let bytes = tables.iter().map(|t| t.bytes).sum();
    out.push_str(&line("total", rows, bytes, total_seconds, ""));
    out
}

/// How to reach S3: the standard AWS credential chain, plus an optional S3-compatible endpoint.
#[derive(Debug, Clone, clap::Args)]
pub struct S3Args {
    /// S3-compatible endpoint (MinIO, Ceph, ...); switches to path-style addressing.
    #[arg(long, value_name = "URL", env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
}

/// How `--dbname` is read (`pgveil dump`, `pgveil anonymize`).
#[derive(Debug, clap::Args)]
pub struct ReadArgs {
    /// How the database is read: `pg-dump` (one pg_dump process) or `direct` (pgveil's own
    /// connections sharing one snapshot, tables split into block ranges; the same output, see
    /// README "Direct reads"). Only with --dbname.
    #[arg(long, value_enum, env = "PGVEIL_READ", default_value = "pg-dump")]
    read: ReadWith,
    /// Connections of the direct read (default: the host's cores, 2 to 8). Implies --read direct.
    #[arg(short = 'j', long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=64))]
    jobs: Option<u16>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReadWith {
    PgDump,
    Direct,
}

impl ReadArgs {
    pub fn mode(&self) -> pgveil::input::direct::ReadMode {
        use pgveil::input::direct::{default_jobs, ReadMode};
        match (self.read, self.jobs) {
            (ReadWith::PgDump, None) => ReadMode::PgDump,
            (_, jobs) => ReadMode::Direct {
                jobs: jobs.map_or_else(default_jobs, usize::from),
            },
        }
    }
}
