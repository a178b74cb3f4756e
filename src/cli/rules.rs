//! `pgveil rules check` (is every column covered, is what looks sensitive masked?) and
//! `pgveil rules init` (scaffold a rule file from a schema). Both read the schema either from a live
//! database (`--dbname`, catalog and a few sampled rows over pgveil's own client, psql where it
//! cannot honour the connection) or from a plain dump
//! (`--input`, reading only the first rows of each COPY block for samples).

use std::path::PathBuf;

use anyhow::{bail, Context};
use pgveil::audit::check::{check, render};
use pgveil::audit::init::scaffold;
use pgveil::audit::schema::{tables_from_database, tables_from_dump, TableSample};
use pgveil::input::Source;

use super::common::{labels_rule_text, RuleArgs};
use pgveil::usecase::LabelSource;

#[derive(Debug, clap::Subcommand)]
pub enum RulesCommand {
    /// List every column with the rule that covers it; fail when a column is not covered or a rule
    /// names a missing table/column. Put it in CI so a new column can never leak.
    Check(CheckArgs),
    /// Print a rule file with one rule per table and column, maskers guessed from names, types and
    /// sampled values (`keep` elsewhere), with comments saying why.
    Init(InitArgs),
    /// Print a rule file converted from PostgreSQL Anonymizer's `SECURITY LABEL FOR anon ON COLUMN …
    /// IS 'MASKED WITH …'` statements (in a dump, or in the database's schema-only dump).
    ImportLabels(ImportArgs),
}

#[derive(Debug, clap::Args)]
pub struct ImportArgs {
    /// The database (name or libpq connection string/URI); its schema-only dump is read.
    #[arg(long, conflicts_with = "input")]
    dbname: Option<String>,
    /// A plain dump holding the labels (`.gz` detected, `-` for stdin).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct SchemaArgs {
    /// The database (name or libpq connection string/URI); default: libpq's PG* variables.
    #[arg(long, conflicts_with = "input")]
    dbname: Option<String>,
    /// Read the schema and sample rows from a plain dump instead (`.gz` detected, `-` for stdin).
    #[arg(long, value_name = "FILE")]
    input: Option<PathBuf>,
    /// Rows sampled per table to recognize sensitive values (0: judge by names only).
    #[arg(long, default_value_t = 200, value_name = "N")]
    sample: usize,
    /// Say how the database was read (pgveil's own client, or psql where it cannot honour the
    /// connection).
    #[arg(short, long)]
    verbose: bool,
}

impl SchemaArgs {
    fn tables(&self) -> anyhow::Result<Vec<TableSample>> {
        match &self.input {
            Some(path) => {
                let mut src = Source::open_input(path)?;
                let tables = tables_from_dump(src.reader(), self.sample)
                    .with_context(|| format!("reading {}", src.description()))?;
                src.finish()?;
                Ok(tables)
            }
            None => {
                let verbose = self.verbose;
                tables_from_database(self.dbname.as_deref(), self.sample, |why| {
                    if verbose {
                        eprintln!("pgveil: read through psql: pgveil's client cannot honour {why}");
                    }
                })
                .context("reading the database schema")
            }
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    schema: SchemaArgs,
    #[command(flatten)]
    rules: RuleArgs,
    /// Print the report as JSON (stdout); the exit status is the same.
    #[arg(long)]
    json: bool,
    /// Also fail on warnings (sensitive-looking columns that are kept, rules that decide nothing).
    #[arg(long)]
    deny_warnings: bool,
    /// Put rules converted from the schema's PostgreSQL Anonymizer security labels before the
    /// `--rules` files (as `rules import-labels` would write them).
    #[arg(long)]
    labels: bool,
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    #[command(flatten)]
    schema: SchemaArgs,
}

pub fn run(cmd: RulesCommand) -> anyhow::Result<()> {
    match cmd {
        RulesCommand::Check(args) => run_check(args),
        RulesCommand::Init(args) => run_init(args),
        RulesCommand::ImportLabels(args) => run_import(args),
    }
}

/// The labels of the schema source, as a rule file text.
fn labels_text(schema: &SchemaArgs) -> anyhow::Result<(String, String)> {
    labels_rule_text(match &schema.input {
        Some(path) => LabelSource::Input(path),
        None => LabelSource::Database(schema.dbname.as_deref()),
    })
}

fn run_check(args: CheckArgs) -> anyhow::Result<()> {
    let rules = if args.labels {
        // Labels first, then the given files (or the default rules), like `--rules` order.
        args.rules.load_with_labels(labels_text(&args.schema)?)?.0
    } else {
        args.rules.load()?.0
    };
    let tables = args.schema.tables()?;
    let report = check(&rules, &tables);
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render(&report));
    }
    if !report.ok {
        let mut what = Vec::new();
        if !report.unclassified.is_empty() {
            let cols: Vec<String> = report.unclassified.iter().map(|c| c.qualified()).collect();
            what.push(format!(
                "{} column(s) not covered by any rule: {}",
                cols.len(),
                cols.join(", ")
            ));
        }
        for m in &report.missing {
            what.push(format!("rule at {}: {}", m.rule, m.message));
        }
        bail!("rules check failed: {}", what.join("; "));
    }
    if args.deny_warnings && report.warnings() > 0 {
        bail!(
            "rules check: {} warning(s) and --deny-warnings",
            report.warnings()
        );
    }
    Ok(())
}

fn run_init(args: InitArgs) -> anyhow::Result<()> {
    let tables = args.schema.tables()?;
    if tables.is_empty() {
        bail!("no table with data found: nothing to write rules for");
    }
    print!("{}", scaffold(&tables));
    Ok(())
}

fn run_import(args: ImportArgs) -> anyhow::Result<()> {
    let schema = SchemaArgs {
        dbname: args.dbname,
        input: args.input,
        sample: 0,
        verbose: false,
    };
    print!("{}", labels_text(&schema)?.1);
    Ok(())
}
