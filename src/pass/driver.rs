//! The loop of a pass: read the dump's events, decide for each what the views get (the masked view
//! leaves out PostgreSQL Anonymizer's own entries and, unless asked, large objects' contents), start
//! a masking job per batch of rows, and push everything through the ordered queue to the router.
//! The cancellation token is checked before each event, so between batches.

use std::io::Read;
use std::sync::Arc;

use super::batch::{self, Levels, TableJob};
use super::queue::OrderedQueue;
use super::router::{Msg, Router, Slot};
use super::tracker::TableTracker;
use super::{EngineError, PassOptions, TableReport};
use crate::cancel::CancelToken;
use crate::dump::anon_policy::{AnonPolicy, MaskedEntry};
use crate::dump::facts::SchemaFacts;
use crate::dump::{DumpReader, Entry, Event, Preamble};
use crate::mask::{ColumnInfo, RuleCoverage, RuleSet, TablePlan};
use crate::observe::Observer;
use crate::sink::DataBatch;

/// What the loop read from the dump besides what it sent to the sinks.
pub struct Driven {
    pub preamble: Preamble,
    pub tables: Vec<TableReport>,
    pub large_objects: u64,
    pub excluded_from_masked: u64,
    /// The rules that matched some table of the dump.
    pub rule_coverage: RuleCoverage,
}

/// The loop's state; see the module documentation.
pub struct Driver<'a> {
    pub rules: &'a RuleSet,
    pub facts: &'a mut SchemaFacts,
    /// Learn the facts from the entries as they pass (stdin: no pre-scan was possible).
    pub learn_facts: bool,
    pub options: &'a PassOptions,
    pub observer: &'a dyn Observer,
    pub cancel: &'a CancelToken,
    pub router: &'a Router,
    pub levels: Arc<Levels>,
}

/// Per-pass state of the loop.
struct State {
    queue: OrderedQueue<Slot>,
    tracker: TableTracker,
    /// The plan of the table whose rows are being read.
    current: Option<Arc<TableJob>>,
    preamble: Preamble,
    large_objects: u64,
    excluded_from_masked: u64,
    rule_coverage: RuleCoverage,
    anon_policy: AnonPolicy,
    /// The current data part is left out of the masked view (`AnonPolicy::excludes_data`).
    data_original_only: bool,
    /// Without a sink of the masked view, rows are checked, not masked (no masked copy of them).
    any_masked: bool,
}

impl Driver<'_> {
    pub fn run<R: Read>(mut self, reader: &mut DumpReader<R>) -> Result<Driven, EngineError> {
        let mut st = State {
            queue: OrderedQueue::new(self.options.queue_depth, Slot::is_ready),
            tracker: TableTracker::default(),
            current: None,
            preamble: Preamble::default(),
            large_objects: 0,
            excluded_from_masked: 0,
            rule_coverage: RuleCoverage::default(),
            anon_policy: AnonPolicy::seeded(&self.options.database_entries),
            data_original_only: false,
            any_masked: self.router.has_masked_view(),
        };
        loop {
            // Checked between events, so between batches: a cancelled pass fails like any other.
            if self.cancel.is_cancelled() {
                return Err(EngineError::Cancelled);
            }
            let Some(event) = reader.next_event()? else {
                break;
            };
            match event {
                Event::Preamble(p) => {
                    st.preamble = p.clone();
                    self.push(&mut st, Slot::Event(Msg::Preamble(Arc::new(p))))?;
                }
                Event::Entry(e) => self.on_entry(&mut st, e)?,
                Event::DataBegin(e) => self.on_data_begin(&mut st, e)?,
                Event::CopyRows {
                    rows,
                    first_line,
                    row_count,
                } => {
                    st.tracker.rows(row_count, rows.len() as u64);
                    self.observer.rows(row_count, rows.len() as u64);
                    let original = reader.take_last_rows();
                    self.on_rows(&mut st, original, first_line)?;
                }
                Event::RawData(line) => self.on_raw_data(&mut st, line)?,
                Event::DataEnd(tail) => {
                    st.current = None;
                    if let Some(t) = st.tracker.end() {
                        self.observer.table_finished(t);
                    }
                    let msg = Msg::DataEnd(Arc::new(tail));
                    let only_original = std::mem::take(&mut st.data_original_only);
                    self.push(&mut st, view_slot(msg, only_original))?;
                }
                Event::Trailer(t) => {
                    self.push(&mut st, Slot::Event(Msg::Trailer(Arc::new(t))))?;
                }
            }
        }
        st.queue.drain(|slot| self.router.dispatch(slot))?;
        self.rules.check_coverage(&st.rule_coverage)?;
        Ok(Driven {
            preamble: st.preamble,
            tables: st.tracker.into_reports(),
            large_objects: st.large_objects,
            excluded_from_masked: st.excluded_from_masked,
            rule_coverage: st.rule_coverage,
        })
    }

    fn push(&self, st: &mut State, slot: Slot) -> Result<(), EngineError> {
        st.queue.push(slot, |s| self.router.dispatch(s))
    }

    /// An entry: both views, or the original one and the masked view's rewritten version (or
    /// nothing) for PostgreSQL Anonymizer's own.
    fn on_entry(&mut self, st: &mut State, e: Entry) -> Result<(), EngineError> {
        if self.learn_facts {
            self.facts.observe(&e);
        }
        let masked = st.anon_policy.masked_entry(&e);
        let msg = Msg::Entry(Arc::new(e));
        if matches!(masked, MaskedEntry::Same) {
            return self.push(st, Slot::Event(msg));
        }
        // A scrubbed comment is not left out: only its text differs.
        if !matches!(masked, MaskedEntry::Scrubbed(_)) {
            st.excluded_from_masked += 1;
        }
        self.push(st, Slot::OriginalOnly(msg))?;
        if let MaskedEntry::Rewritten(m) | MaskedEntry::Scrubbed(m) = masked {
            self.push(st, Slot::MaskedOnly(Msg::Entry(Arc::new(*m))))?;
        }
        Ok(())
    }

    /// The start of a data part: for COPY data, the table's plan and its report.
    fn on_data_begin(&mut self, st: &mut State, e: Entry) -> Result<(), EngineError> {
        st.data_original_only = st.anon_policy.excludes_data(&e);
        if st.data_original_only {
            st.excluded_from_masked += 1;
        }
        if let Some(copy) = &e.copy {
            let schema = copy.schema.clone().unwrap_or_default();
            let infos = ColumnInfo::of_copy(copy, self.facts);
            // Data the masked view leaves out is not masked: the full artifacts keep it as is.
            let plan = if st.data_original_only {
                TablePlan::keep_all(infos.len())
            } else {
                self.rules.plan_table(&schema, &copy.table, &infos)?
            };
            st.rule_coverage.record(&plan);
            let masked_columns = copy
                .columns
                .iter()
                .zip(&plan.columns)
                .filter(|(_, m)| m.is_some())
                .map(|(c, _)| c.clone())
                .collect();
            self.observer.table_started(&copy.display_name());
            st.tracker.begin(
                schema,
                copy.table.clone(),
                masked_columns,
                copy.columns.len(),
            );
            let plan = if st.any_masked {
                plan
            } else {
                TablePlan::keep_all(plan.columns.len())
            };
            st.current = Some(Arc::new(TableJob {
                name: copy.display_name(),
                columns: copy.columns.clone(),
                plan,
            }));
        }
        let msg = Msg::DataBegin(Arc::new(e));
        let slot = view_slot(msg, st.data_original_only);
        self.push(st, slot)
    }

    /// A batch of rows: masked and compressed on the rayon pool, waited for in the queue.
    fn on_rows(
        &mut self,
        st: &mut State,
        rows: Vec<u8>,
        first_line: u64,
    ) -> Result<(), EngineError> {
        let job = st.current.clone().expect("rows follow a COPY statement");
        let rx = batch::spawn(rows, first_line, job, self.levels.clone());
        let to_masked = !st.data_original_only;
        self.push(
            st,
            Slot::Rows {
                batch: rx,
                to_masked,
            },
        )
    }

    /// A line of a BLOBS data part: `lo_open`, `lowrite` (the contents), `lo_close`.
    fn on_raw_data(&mut self, st: &mut State, line: Vec<u8>) -> Result<(), EngineError> {
        if line.starts_with(b"SELECT pg_catalog.lo_open(") {
            st.large_objects += 1;
        }
        let contents = line.starts_with(b"SELECT pg_catalog.lowrite(");
        let msg = Msg::Data(Arc::new(DataBatch {
            bytes: line,
            pieces: Vec::new(),
        }));
        let only_original = st.data_original_only || (contents && !self.options.keep_large_objects);
        self.push(st, view_slot(msg, only_original))
    }
}

/// A message for both views, or for the original view only.
fn view_slot(msg: Msg, only_original: bool) -> Slot {
    if only_original {
        Slot::OriginalOnly(msg)
    } else {
        Slot::Event(msg)
    }
}
