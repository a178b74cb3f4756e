//! `pgveil anonymize`: a filter from a plain dump to the masked plain dump (stdout or a file, gzip'ed
//! when its name ends in `.gz`). Owners and ACLs are kept: it only masks.

use std::path::PathBuf;

use anyhow::Context;
use pgveil::engine::{DataView, SinkSpec};
use pgveil::input::Source;
use pgveil::sink::plain::PlainSink;

use super::common::{
    facts_for_input, labels_rule_text, run_pass_with_progress, LabelSource, RuleArgs,
};

#[derive(Debug, clap::Args)]
pub struct AnonymizeArgs {
    /// The plain dump to read (`-` or nothing for stdin; `.gz` is detected).
    #[arg(default_value = "-")]
    input: PathBuf,
    /// Where to write (`-` for stdout, the default).
    #[arg(short = 'o', long = "output", default_value = "-")]
    output: PathBuf,
    #[command(flatten)]
    rules: RuleArgs,
    /// Mask as PostgreSQL Anonymizer's `SECURITY LABEL FOR anon ON COLUMN … IS 'MASKED WITH …'`
    /// statements in the schema say (converted as `rules import-labels` does), ahead of `--rules`.
    #[arg(long)]
    labels: bool,
    /// Keep the contents of large objects (by default they are emptied: no rule can tell what a
    /// large object holds).
    #[arg(long)]
    keep_large_objects: bool,
}

pub fn run(args: AnonymizeArgs) -> anyhow::Result<()> {
    let (rules, _) = if args.labels {
        args.rules
            .load_with_labels(labels_rule_text(LabelSource::Input(&args.input))?)?
    } else {
        args.rules.load()?
    };
    let mut facts = facts_for_input(&args.input)?;
    let mut source = Source::open_input(&args.input)?;
    let sink = if args.output.as_os_str() == "-" {
        PlainSink::stdout(false)
    } else if args.output.extension().is_some_and(|e| e == "gz") {
        PlainSink::gzip_file(&args.output, 6, false)?
    } else {
        PlainSink::file(&args.output, false)?
    };
    let specs = vec![SinkSpec {
        name: "output".to_string(),
        view: DataView::Masked,
        sink: Box::new(sink),
    }];
    let report = run_pass_with_progress(
        &mut source,
        &rules,
        &mut facts,
        specs,
        args.keep_large_objects,
        args.output.as_os_str() == "-",
    );
    let report = report.with_context(|| format!("anonymizing {}", source.description()))?;
    source.finish()?;
    for (_, sealed) in report.artifacts {
        if let Some(s) = sealed {
            s.publish()?;
        }
    }
    Ok(())
}
