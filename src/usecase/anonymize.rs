//! The anonymize use-case (`pgveil anonymize`): a filter from a plain dump to the masked plain dump
//! (standard output, or a file, gzip'ed when its name ends in `.gz`). Owners and ACLs are kept: it
//! only masks. A file output appears under its name only when the pass succeeded. With
//! [`AnonymizePlan::database`] the input is a database, read through pg_dump or directly
//! ([`ReadMode`]) as `pgveil dump` reads it: the masked plain stream straight from the database.

use std::ffi::OsString;
use std::path::PathBuf;

use super::backup::{database_args, database_source, Note};
use super::inputs::{
    facts_for_database, facts_for_input, facts_from_schema, labels_rule_text, load_rules,
};
use super::{check_cancel, run_observed_pass, LabelSource, RulesPlan, UseCaseError};
use crate::cancel::CancelToken;
use crate::input::direct::ReadMode;
use crate::input::Source;
use crate::observe::Observer;
use crate::pass::{DataView, EngineError, SinkSpec, TableReport};
use crate::sink::plain::PlainSink;

#[derive(Debug, Clone)]
pub struct AnonymizePlan {
    /// The plain dump to read (`-` for stdin; `.gz` is detected).
    pub input: PathBuf,
    /// Where to write (`-` for stdout).
    pub output: PathBuf,
    pub rules: RulesPlan,
    /// Mask as PostgreSQL Anonymizer's security labels in the dump say, ahead of the rule files.
    pub labels: bool,
    /// Read those labels from this database (a name or connection string) rather than from the
    /// input: a dump on stdin cannot be read twice. Implies `labels`.
    pub labels_from: Option<String>,
    /// Keep the contents of large objects (emptied by default).
    pub keep_large_objects: bool,
    /// Read this database instead of `input`.
    pub database: Option<DatabaseInput>,
}

/// A database as the input of `anonymize`.
#[derive(Debug, Clone, Default)]
pub struct DatabaseInput {
    /// A database name or libpq connection string (`None`: the `PG*` defaults).
    pub dbname: Option<String>,
    /// Extra pg_dump arguments.
    pub pg_dump_args: Vec<OsString>,
    pub read: ReadMode,
}

#[derive(Debug, Clone)]
pub struct AnonymizeReport {
    pub tables: Vec<TableReport>,
    pub notes: Vec<Note>,
}

pub fn anonymize(
    plan: &AnonymizePlan,
    observer: &dyn Observer,
    cancel: &CancelToken,
) -> Result<AnonymizeReport, UseCaseError> {
    check_cancel(cancel)?;
    let labels = match (&plan.database, plan.labels) {
        _ if plan.labels_from.is_some() => Some(labels_rule_text(LabelSource::Database(
            plan.labels_from.as_deref(),
        ))?),
        (_, false) => None,
        (Some(db), true) => Some(labels_rule_text(LabelSource::Database(
            db.dbname.as_deref(),
        ))?),
        (None, true) => Some(labels_rule_text(LabelSource::Input(&plan.input))?),
    };
    let (rules, _) = load_rules(&plan.rules, labels)?;
    let mut notes = Vec::new();
    let (mut facts, mut source, _held) = match &plan.database {
        None => (
            facts_for_input(&plan.input)?,
            Source::open_input(&plan.input)?,
            None,
        ),
        Some(db) => {
            let (held, args) =
                database_args(db.dbname.as_deref(), &db.pg_dump_args, db.read, &mut notes)?;
            let (source, held, schema) = database_source(&args, held, observer, &mut notes)?;
            // A direct read has read the schema of its snapshot: no second schema-only dump
            // (the entries about the database, which only that one has, are not in a plain stream).
            let facts = match schema {
                Some(schema) => facts_from_schema(&schema)?,
                None => facts_for_database(&args)?,
            };
            (facts, source, Some(held))
        }
    };
    let sink = if plan.output.as_os_str() == "-" {
        PlainSink::stdout(false)?
    } else if plan.output.extension().is_some_and(|e| e == "gz") {
        PlainSink::gzip_file(&plan.output, 6, false)?
    } else {
        PlainSink::file(&plan.output, false)?
    };
    let specs = vec![SinkSpec {
        name: "output".to_string(),
        view: DataView::Masked,
        sink: Box::new(sink),
    }];
    let report = run_observed_pass(
        &mut source,
        &rules,
        &mut facts,
        specs,
        plan.keep_large_objects,
        observer,
        cancel,
        None,
    );
    let report = match report {
        Ok(r) => r,
        Err(EngineError::Cancelled) => {
            source.stop();
            return Err(UseCaseError::Cancelled);
        }
        Err(source_err) => {
            return Err(UseCaseError::PassOf {
                what: format!("anonymizing {}", source.description()),
                source: Box::new(source_err),
            })
        }
    };
    source.finish()?;
    for (_, sealed) in report.artifacts {
        if let Some(s) = sealed {
            s.publish()?;
        }
    }
    Ok(AnonymizeReport {
        tables: report.tables,
        notes,
    })
}
