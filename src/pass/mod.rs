//! The pass (the engine): it drives the dump reader, masks COPY rows in parallel and fans every
//! piece out to the sinks, in input order. Configured with [`Pass::builder`].
//!
//! Its parts: [`queue`] (the ordered bounded queue), [`tracker`] (what each table's data was),
//! [`router`] (the sink threads, and which view each receives), `batch` (the masking and
//! compression job of one batch) and `driver` (the loop over the reader's events).
//!
//! * Each batch of whole COPY rows (about 1 MiB) is checked (field count, escapes) and masked as a job
//!   on the rayon pool. Results enter an ordered queue of bounded depth, so at most `queue_depth`
//!   batches are in flight: memory does not grow with the size of a table.
//! * The same job compresses the batch into deflate pieces (see `sink::deflate`) at each level a sink
//!   asked for, so compression runs in parallel too, and each view of a batch is compressed once
//!   however many artifacts frame it (`NAME.gz` and `NAME.dump` share the original's pieces).
//! * Each sink runs on its own thread behind a bounded channel and receives either the original or
//!   the masked view of the rows. A batch that masking did not change is shared, not copied, and
//!   neither are its pieces.
//! * Sinks only seal their artifacts when the whole pass succeeded; any error drops them, which removes
//!   their partial files.

mod batch;
mod driver;
pub mod queue;
pub mod router;
pub mod tracker;

use std::io::Read;
use std::sync::Arc;

use serde::Serialize;

use crate::cancel::CancelToken;
use crate::dump::facts::SchemaFacts;
use crate::dump::{DumpError, DumpReader, Entry, Preamble};
use crate::mask::{RuleCoverage, RuleSet, RulesError};
use crate::observe::{Observer, Quiet};
use crate::sink::{SealedFile, Sink, SinkError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("line {line}: table {table}")]
    Row {
        line: u64,
        table: String,
        #[source]
        problem: RowProblem,
    },
    /// The cause is the source (printed once, by the chain).
    #[error("{artifact}")]
    Sink {
        artifact: String,
        #[source]
        source: SinkError,
    },
    #[error("{0} stopped unexpectedly")]
    SinkThread(String),
    /// The cancellation token was cancelled; the pass stopped between two batches.
    #[error("cancelled")]
    Cancelled,
}

/// What is wrong with one COPY row (the error names the line and table).
#[derive(Debug, thiserror::Error)]
pub enum RowProblem {
    #[error(transparent)]
    Codec(#[from] crate::copy::CodecError),
    #[error("column {column}")]
    Field {
        column: String,
        #[source]
        source: crate::copy::CodecError,
    },
    #[error("the COPY statement lists no columns but the row has data")]
    DataWithoutColumns,
    #[error(
        "the row has {fields} fields but the COPY statement lists {columns} columns ({names})"
    )]
    FieldCount {
        fields: usize,
        columns: usize,
        names: String,
    },
}

/// Which rows a sink receives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataView {
    Original,
    Masked,
}

pub struct SinkSpec {
    /// Name for messages (e.g. the artifact's file name).
    pub name: String,
    pub view: DataView,
    pub sink: Box<dyn Sink>,
}

#[derive(Debug, Clone)]
pub struct PassOptions {
    /// Batches in flight (being masked or waiting to be handed on).
    pub queue_depth: usize,
    /// Give the masked view the contents of large objects. Off by default: rules mask table
    /// columns, and nothing can tell what a large object holds, so masked artifacts get each
    /// object empty (it still exists, with its owner, grants and comment).
    pub keep_large_objects: bool,
    /// The database's own entries (`Entry::is_about_database`) when the dump lacks them: the
    /// masked view learns from them which label providers are masking policies.
    pub database_entries: Vec<Entry>,
}

impl Default for PassOptions {
    fn default() -> Self {
        PassOptions {
            queue_depth: 2 * rayon::current_num_threads() + 2,
            keep_large_objects: false,
            database_entries: Vec::new(),
        }
    }
}

/// What the pass saw of one table's data.
#[derive(Debug, Clone, Serialize)]
pub struct TableReport {
    pub schema: String,
    pub table: String,
    pub rows: u64,
    /// Bytes of COPY text as read.
    pub bytes: u64,
    /// Columns that a masker (other than keep) was applied to.
    pub masked_columns: Vec<String>,
    /// Number of columns in the COPY statement.
    pub columns: usize,
    /// Wall time from the table's COPY statement to its end marker.
    pub seconds: f64,
}

impl TableReport {
    /// Throughput of the table's COPY text, in MB (10^6 bytes) per second.
    pub fn mb_per_second(&self) -> f64 {
        if self.seconds > 0.0 {
            self.bytes as f64 / 1e6 / self.seconds
        } else {
            0.0
        }
    }
}

pub struct PassReport {
    pub preamble: Preamble,
    pub tables: Vec<TableReport>,
    /// Large objects in the dump (their contents are empty in the masked view unless
    /// `keep_large_objects`).
    pub large_objects: u64,
    /// Entries of PostgreSQL Anonymizer's own (extension, masking policy, configuration data) that
    /// the masked view left out (see `dump::anon_policy`).
    pub excluded_from_masked: u64,
    /// Sealed artifacts, in sink order (`None` for streams such as stdout), to be published by the caller.
    pub artifacts: Vec<(String, Option<SealedFile>)>,
    /// The rules that matched some table of the dump.
    pub rule_coverage: RuleCoverage,
}

/// A pass, configured step by step: `Pass::builder(&rules).facts(&mut facts, false)
/// .sinks(specs).observer(&progress).cancel(&token).run(reader)`. Without `facts`, the pass learns
/// them from the dump as it goes (every masked column counts as unique until its constraint is
/// seen); without `observer`, nothing is told; without `cancel`, nothing can stop it.
pub struct Pass<'a> {
    rules: &'a RuleSet,
    facts: Option<(&'a mut SchemaFacts, bool)>,
    sinks: Vec<SinkSpec>,
    options: PassOptions,
    observer: &'a dyn Observer,
    cancel: Option<&'a CancelToken>,
}

impl<'a> Pass<'a> {
    /// A pass masking with `rules`, with no sink yet and the default options.
    pub fn builder(rules: &'a RuleSet) -> Pass<'a> {
        Pass {
            rules,
            facts: None,
            sinks: Vec::new(),
            options: PassOptions::default(),
            observer: &Quiet,
            cancel: None,
        }
    }

    /// The schema facts (unique / foreign-key columns); `learn`: also learn from the dump's
    /// entries as they pass (when they could not all be known before).
    pub fn facts(mut self, facts: &'a mut SchemaFacts, learn: bool) -> Pass<'a> {
        self.facts = Some((facts, learn));
        self
    }

    /// One more sink (artifacts are reported in the order their sinks were added).
    pub fn sink(mut self, spec: SinkSpec) -> Pass<'a> {
        self.sinks.push(spec);
        self
    }

    pub fn sinks(mut self, specs: impl IntoIterator<Item = SinkSpec>) -> Pass<'a> {
        self.sinks.extend(specs);
        self
    }

    pub fn options(mut self, options: PassOptions) -> Pass<'a> {
        self.options = options;
        self
    }

    pub fn observer(mut self, observer: &'a dyn Observer) -> Pass<'a> {
        self.observer = observer;
        self
    }

    pub fn cancel(mut self, cancel: &'a CancelToken) -> Pass<'a> {
        self.cancel = Some(cancel);
        self
    }

    /// Run the pass: read `reader` to its end, mask, feed the sinks. On success every sink is
    /// finished and its sealed artifact returned (publishing is the caller's); on any error
    /// (cancellation included) every sink is dropped, which removes its partial artifact.
    pub fn run<R: Read>(self, mut reader: DumpReader<R>) -> Result<PassReport, EngineError> {
        let never = CancelToken::new();
        let mut own_facts = SchemaFacts::unknown();
        let (facts, learn_facts) = match self.facts {
            Some((f, learn)) => (f, learn),
            None => (&mut own_facts, true),
        };
        let levels = Arc::new(batch::Levels::of(&self.sinks));
        let router = router::Router::start(self.sinks);
        let driven = driver::Driver {
            rules: self.rules,
            facts,
            learn_facts,
            options: &self.options,
            observer: self.observer,
            cancel: self.cancel.unwrap_or(&never),
            router: &router,
            levels,
        }
        .run(&mut reader);
        let driven = match driven {
            Ok(d) => d,
            Err(e) => return Err(router.abort(e)),
        };
        let artifacts = router.finish()?;
        Ok(PassReport {
            preamble: driven.preamble,
            tables: driven.tables,
            large_objects: driven.large_objects,
            excluded_from_masked: driven.excluded_from_masked,
            artifacts,
            rule_coverage: driven.rule_coverage,
        })
    }
}
