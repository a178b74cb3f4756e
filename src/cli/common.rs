//! Pieces shared by the subcommands: rules and key loading, schema facts, progress selection.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;

use anyhow::{bail, Context};
use pgveil::audit::labels::{labels_from_dump, render_rules};
use pgveil::dump::facts::SchemaFacts;
use pgveil::dump::{DumpReader, Entry, Event};
use pgveil::engine::{run_pass, EngineError, PassOptions, PassReport, SinkSpec, TableReport};
use pgveil::mask::{Key, RuleSet, DEFAULT_RULES};
use pgveil::progress::{Progress, Silent, TerminalProgress};
use pgveil::source::{redact_password, PgDumpArgs, Source};

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
    pub fn load(&self) -> anyhow::Result<(RuleSet, Vec<String>)> {
        let key =
            Key::from_env_or_file(self.key_file.as_deref()).context("loading the masking key")?;
        if self.rules.is_empty() {
            Ok((
                RuleSet::builtin_default(key),
                vec!["builtin:default".into()],
            ))
        } else {
            let names = self.rules.iter().map(|p| p.display().to_string()).collect();
            Ok((RuleSet::load(&self.rules, key)?, names))
        }
    }

    /// The rules converted from security labels (`(name, TOML text)`, see [`labels_rule_text`])
    /// first, then the `--rules` files or, without any, the default rules.
    pub fn load_with_labels(
        &self,
        labels: (String, String),
    ) -> anyhow::Result<(RuleSet, Vec<String>)> {
        let key =
            Key::from_env_or_file(self.key_file.as_deref()).context("loading the masking key")?;
        let mut texts = vec![labels];
        if self.rules.is_empty() {
            texts.push(("rules/default.toml (built in)".into(), DEFAULT_RULES.into()));
        }
        for p in &self.rules {
            let t = std::fs::read_to_string(p)
                .with_context(|| format!("reading rule file {}", p.display()))?;
            texts.push((p.display().to_string(), t));
        }
        let names = texts.iter().map(|(n, _)| n.clone()).collect();
        let refs: Vec<(&str, &str)> = texts
            .iter()
            .map(|(f, t)| (f.as_str(), t.as_str()))
            .collect();
        Ok((RuleSet::from_texts(&refs, key)?, names))
    }
}

/// Where PostgreSQL Anonymizer's `SECURITY LABEL FOR anon` statements are read from.
pub enum LabelSource<'a> {
    /// A plain dump file (`.gz` detected; not stdin, which cannot be read twice).
    Input(&'a Path),
    /// The schema-only dump of a database.
    Database(Option<&'a str>),
}

/// The security labels of a schema as a rule file: `(name for messages, TOML text)`. No label at
/// all is an error: the caller asked for them.
pub fn labels_rule_text(source: LabelSource) -> anyhow::Result<(String, String)> {
    let (labels, name) = match source {
        LabelSource::Input(path) if path == Path::new("-") => {
            bail!("security labels cannot be read from stdin: give the dump as a file")
        }
        LabelSource::Input(path) => {
            let mut src = Source::open_input(path)?;
            let labels = labels_from_dump(src.reader())
                .with_context(|| format!("reading security labels in {}", src.description()))?;
            src.finish()?;
            (labels, path.display().to_string())
        }
        LabelSource::Database(dbname) => {
            let pg = PgDumpArgs {
                dbname: dbname.map(str::to_string),
                schema_only: true,
                ..PgDumpArgs::default()
            };
            let bytes = pg.run_to_vec()?;
            let labels = labels_from_dump(&bytes[..])
                .context("reading security labels in the schema-only dump")?;
            let name = dbname
                .map(redact_password)
                .unwrap_or_else(|| "the default database".into());
            (labels, name)
        }
    };
    if labels.is_empty() {
        bail!("no `SECURITY LABEL FOR anon ON COLUMN` statement found in {name}");
    }
    let text = render_rules(&labels, &name);
    Ok((format!("security labels of {name}"), text))
}

/// Where the unique / foreign-key facts come from, and whether they must be learnt during the pass.
pub struct Facts {
    pub facts: SchemaFacts,
    pub learn_during_pass: bool,
    pub description: &'static str,
    /// The entries about the database itself (CREATE DATABASE with its encoding and locale, its
    /// properties, comment and ACL) when the input lacks them, for the custom archive: pg_dump puts
    /// them in every custom archive, where `pg_restore -C` uses them.
    pub database_entries: Vec<Entry>,
}

/// Facts for a file input: a quick pre-scan of the file (the constraints follow the data in a dump).
pub fn facts_for_input(path: &Path) -> anyhow::Result<Facts> {
    if path == Path::new("-") {
        return Ok(Facts {
            facts: SchemaFacts::unknown(),
            learn_during_pass: true,
            description: "unknown (stdin): every masked column treated as unique",
            database_entries: Vec::new(),
        });
    }
    let mut src = Source::open_input(path)?;
    let facts = SchemaFacts::from_dump(src.reader())
        .with_context(|| format!("reading {}", path.display()))?;
    Ok(Facts {
        facts,
        learn_during_pass: false,
        description: "complete (pre-scan of the input)",
        database_entries: Vec::new(),
    })
}

/// Facts for a spawned pg_dump: a schema-only dump of the same database first. It is taken with
/// `--create` (unless the data dump has that option itself, and so its own database entries, or is
/// restricted to the data), which adds the entries about the database exactly as this server's
/// pg_dump writes them.
pub fn facts_for_database(args: &PgDumpArgs) -> anyhow::Result<Facts> {
    let input_has_database = args.extra.iter().any(|a| a == "-C" || a == "--create");
    // The facts need the whole schema even when the dump itself is restricted to the data
    // (`--data-only`, `--section=data`): those options (and `--disable-triggers`, which needs
    // `--data-only`) stay off the schema-only dump, as does compression (`-Z`), since it is read
    // here as text. Data-only dumps have no database entries either.
    let mut restricted = false;
    let mut extra = Vec::with_capacity(args.extra.len());
    let mut skip_value = false;
    for a in &args.extra {
        if std::mem::take(&mut skip_value) {
            continue;
        }
        let s = a.to_string_lossy();
        if s == "-a" || s == "--data-only" || s.starts_with("--section=") {
            restricted = true;
        } else if s == "--section" {
            restricted = true;
            skip_value = true;
        } else if s == "-Z" || s == "--compress" {
            // A compressed plain dump is read back here as text: not compressed.
            skip_value = true;
        } else if !(s == "--disable-triggers"
            || s.starts_with("--compress=")
            || (s.starts_with("-Z") && s.len() > 2))
        {
            extra.push(a.clone());
        }
    }
    let with_database_entries = !input_has_database && !restricted;
    let mut schema = PgDumpArgs {
        schema_only: true,
        extra,
        ..args.clone()
    };
    if with_database_entries {
        schema.extra.push("--create".into());
    }
    let bytes = schema.run_to_vec()?;
    // One read of the schema-only dump: the facts, and the entries about the database.
    let mut facts = SchemaFacts::new();
    let mut database_entries = Vec::new();
    let mut reader = DumpReader::new(&bytes[..]);
    while let Some(event) = reader
        .next_event()
        .context("reading the schema-only dump")?
    {
        if let Event::Entry(e) = event {
            facts.observe(&e);
            if with_database_entries && e.is_about_database() {
                database_entries.push(e);
            }
        }
    }
    Ok(Facts {
        facts,
        learn_during_pass: false,
        description: "complete (schema-only dump)",
        database_entries,
    })
}

/// Run the pass over `source` into `sinks`, with a progress line on a terminal (unless `quiet`,
/// e.g. when the output itself goes to the terminal).
pub fn run_pass_with_progress(
    source: &mut Source,
    rules: &RuleSet,
    facts: &mut Facts,
    sinks: Vec<SinkSpec>,
    keep_large_objects: bool,
    quiet: bool,
) -> Result<PassReport, EngineError> {
    let progress = progress_for(source.bytes_read(), quiet);
    let result = run_pass(
        DumpReader::new(source.reader()),
        rules,
        &mut facts.facts,
        facts.learn_during_pass,
        sinks,
        &PassOptions {
            keep_large_objects,
            database_entries: facts.database_entries.clone(),
            ..PassOptions::default()
        },
        &*progress,
    );
    progress.done();
    result
}

/// A progress line on a terminal, nothing otherwise.
fn progress_for(bytes: Arc<AtomicU64>, quiet: bool) -> Box<dyn Progress> {
    if !quiet && std::io::stderr().is_terminal() {
        Box::new(TerminalProgress::new(bytes))
    } else {
        Box::new(Silent)
    }
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

impl S3Args {
    pub fn open(&self, url: &str) -> anyhow::Result<Box<dyn pgveil::store::Store>> {
        pgveil::store::open_location(url, self.endpoint_url.as_deref())
            .with_context(|| format!("opening {url}"))
    }
}
