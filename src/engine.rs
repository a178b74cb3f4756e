//! The one-pass engine: it drives the dump reader, masks COPY rows in parallel and fans every piece
//! out to the sinks, in input order.
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

use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{bounded, Receiver, Sender};
use serde::Serialize;

use crate::copy;
use crate::dump::anon_policy::{AnonPolicy, MaskedEntry};
use crate::dump::facts::SchemaFacts;
use crate::dump::{DumpError, DumpReader, Entry, Event, Preamble};
use crate::mask::{ColumnInfo, MaskOutcome, RuleCoverage, RuleSet, RulesError, TablePlan};
use crate::progress::Progress;
use crate::sink::deflate::compress_piece;
use crate::sink::{DataBatch, SealedFile, Sink, SinkError};

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Dump(#[from] DumpError),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("line {line}: table {table}: {message}")]
    Row {
        line: u64,
        table: String,
        message: String,
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
    pub batch_bytes: usize,
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
            batch_bytes: crate::dump::reader::DEFAULT_BATCH_BYTES,
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

/// What `drive` read from the dump besides what it sent to the sinks.
struct Driven {
    preamble: Preamble,
    tables: Vec<TableReport>,
    large_objects: u64,
    excluded_from_masked: u64,
    rule_coverage: RuleCoverage,
}

enum Msg {
    Preamble(Arc<Preamble>),
    Entry(Arc<Entry>),
    DataBegin(Arc<Entry>),
    Data(Arc<DataBatch>),
    DataEnd(Arc<Vec<u8>>),
    Trailer(Arc<Vec<u8>>),
    Finish,
}

type SinkResult = Result<Option<SealedFile>, SinkError>;

struct SinkThread {
    name: String,
    view: DataView,
    tx: Option<Sender<Msg>>,
    handle: JoinHandle<SinkResult>,
}

fn spawn_sink(spec: SinkSpec) -> SinkThread {
    let (tx, rx): (Sender<Msg>, Receiver<Msg>) = bounded(16);
    let SinkSpec {
        name,
        view,
        mut sink,
    } = spec;
    let handle = std::thread::Builder::new()
        .name(format!("sink {name}"))
        .spawn(move || -> SinkResult {
            for msg in rx {
                match msg {
                    Msg::Preamble(p) => sink.preamble(&p)?,
                    Msg::Entry(e) => sink.entry(&e)?,
                    Msg::DataBegin(e) => sink.data_begin(&e)?,
                    Msg::Data(d) => sink.data(&d)?,
                    Msg::DataEnd(d) => sink.data_end(&d)?,
                    Msg::Trailer(t) => sink.trailer(&t)?,
                    Msg::Finish => return sink.finish(),
                }
            }
            // The channel closed without Finish: the pass failed. Dropping the sink discards its file.
            Err(SinkError::Invalid("the pass was aborted".into()))
        })
        .expect("spawning a sink thread");
    SinkThread {
        name,
        view,
        tx: Some(tx),
        handle,
    }
}

/// A processed batch: the original view and the masked one (`None` when identical).
type BatchResult = Result<(Arc<DataBatch>, Option<Arc<DataBatch>>), EngineError>;

enum Slot {
    Event(Msg),
    /// An event the masked view does not get.
    OriginalOnly(Msg),
    /// An event only the masked view gets (its version of an entry).
    MaskedOnly(Msg),
    /// A batch being masked and compressed; `to_masked: false` for data the masked view leaves out.
    Rows {
        batch: Receiver<BatchResult>,
        to_masked: bool,
    },
}

/// The deflate levels the sinks of each view asked for, and whether a sink of the view writes the
/// rows themselves (one without a level): otherwise a batch's bytes go once compressed.
#[derive(Debug, Default, Clone)]
struct Levels {
    original: Vec<u32>,
    masked: Vec<u32>,
    original_bytes: bool,
    masked_bytes: bool,
}

impl Levels {
    fn of(sinks: &[SinkSpec]) -> Levels {
        let mut levels = Levels::default();
        for s in sinks {
            match s.sink.deflate_level() {
                Some(level) => {
                    let list = match s.view {
                        DataView::Original => &mut levels.original,
                        DataView::Masked => &mut levels.masked,
                    };
                    if !list.contains(&level) {
                        list.push(level);
                    }
                }
                None => match s.view {
                    DataView::Original => levels.original_bytes = true,
                    DataView::Masked => levels.masked_bytes = true,
                },
            }
        }
        levels
    }
}

/// The current table's plan, shared with the masking jobs.
struct TableJob {
    name: String,
    columns: Vec<String>,
    plan: TablePlan,
}

/// Run the pass: read `reader` to its end, mask with `rules`, feed `sinks`.
pub fn run_pass<R: Read>(
    mut reader: DumpReader<R>,
    rules: &RuleSet,
    facts: &mut SchemaFacts,
    learn_facts: bool,
    sinks: Vec<SinkSpec>,
    options: &PassOptions,
    progress: &dyn Progress,
) -> Result<PassReport, EngineError> {
    let levels = Arc::new(Levels::of(&sinks));
    let mut threads: Vec<SinkThread> = sinks.into_iter().map(spawn_sink).collect();
    let result = drive(
        &mut reader,
        rules,
        facts,
        learn_facts,
        &mut threads,
        &levels,
        options,
        progress,
    );
    match result {
        Ok(Driven {
            preamble,
            tables,
            large_objects,
            excluded_from_masked,
            rule_coverage,
        }) => {
            for t in &threads {
                // A send can only fail if the sink already stopped with an error, collected below.
                let _ = t.tx.as_ref().expect("open").send(Msg::Finish);
            }
            let mut artifacts = Vec::new();
            let mut first_err = None;
            for mut t in threads {
                t.tx.take();
                match t.handle.join() {
                    Ok(Ok(sealed)) => artifacts.push((t.name, sealed)),
                    Ok(Err(e)) => {
                        first_err.get_or_insert(EngineError::Sink {
                            artifact: t.name,
                            source: e,
                        });
                    }
                    Err(_) => {
                        first_err.get_or_insert(EngineError::SinkThread(t.name));
                    }
                }
            }
            match first_err {
                Some(e) => Err(e),
                None => Ok(PassReport {
                    preamble,
                    tables,
                    large_objects,
                    excluded_from_masked,
                    artifacts,
                    rule_coverage,
                }),
            }
        }
        Err(e) => {
            // Close the channels without Finish: every sink discards its partial artifact. A sink's own
            // error is the better explanation when the pass stopped because a sink went away.
            let mut sink_err = None;
            for mut t in threads {
                t.tx.take();
                if let Ok(Err(se)) = t.handle.join() {
                    if !matches!(&se, SinkError::Invalid(m) if m == "the pass was aborted") {
                        sink_err.get_or_insert(EngineError::Sink {
                            artifact: t.name,
                            source: se,
                        });
                    }
                }
            }
            Err(match e {
                EngineError::SinkThread(_) => sink_err.unwrap_or(e),
                e => e,
            })
        }
    }
}

fn send_all(threads: &[SinkThread], make: impl Fn(DataView) -> Msg) -> Result<(), EngineError> {
    for t in threads {
        let tx = t.tx.as_ref().expect("open");
        if tx.send(make(t.view)).is_err() {
            return Err(EngineError::SinkThread(t.name.clone()));
        }
    }
    Ok(())
}

fn dispatch(threads: &[SinkThread], slot: Slot) -> Result<(), EngineError> {
    let only = match &slot {
        Slot::MaskedOnly(_) => DataView::Masked,
        _ => DataView::Original,
    };
    match slot {
        Slot::Event(msg) => {
            let msg = Arc::new(msg);
            send_all(threads, |_| clone_msg(&msg))
        }
        Slot::OriginalOnly(msg) | Slot::MaskedOnly(msg) => {
            for t in threads.iter().filter(|t| t.view == only) {
                let tx = t.tx.as_ref().expect("open");
                if tx.send(clone_msg(&msg)).is_err() {
                    return Err(EngineError::SinkThread(t.name.clone()));
                }
            }
            Ok(())
        }
        Slot::Rows { batch, to_masked } => {
            let (original, masked) = batch
                .recv()
                .map_err(|_| EngineError::SinkThread("a masking job".into()))??;
            if !to_masked {
                return dispatch(threads, Slot::OriginalOnly(Msg::Data(original)));
            }
            send_all(threads, |view| match (view, &masked) {
                (DataView::Masked, Some(m)) => Msg::Data(m.clone()),
                _ => Msg::Data(original.clone()),
            })
        }
    }
}

fn clone_msg(msg: &Msg) -> Msg {
    match msg {
        Msg::Preamble(p) => Msg::Preamble(p.clone()),
        Msg::Entry(e) => Msg::Entry(e.clone()),
        Msg::DataBegin(e) => Msg::DataBegin(e.clone()),
        Msg::Data(d) => Msg::Data(d.clone()),
        Msg::DataEnd(d) => Msg::DataEnd(d.clone()),
        Msg::Trailer(t) => Msg::Trailer(t.clone()),
        Msg::Finish => Msg::Finish,
    }
}

#[allow(clippy::too_many_arguments)]
fn drive<R: Read>(
    reader: &mut DumpReader<R>,
    rules: &RuleSet,
    facts: &mut SchemaFacts,
    learn_facts: bool,
    threads: &mut [SinkThread],
    levels: &Arc<Levels>,
    options: &PassOptions,
    progress: &dyn Progress,
) -> Result<Driven, EngineError> {
    let mut queue: VecDeque<Slot> = VecDeque::new();
    let mut preamble = Preamble::default();
    let mut tables: Vec<TableReport> = Vec::new();
    let mut current: Option<Arc<TableJob>> = None;
    let mut table_started: Option<Instant> = None;
    let mut large_objects = 0u64;
    let mut anon_policy = AnonPolicy::seeded(&options.database_entries);
    // The current data part is left out of the masked view (AnonPolicy::excludes_data).
    let mut data_original_only = false;
    let mut excluded_from_masked = 0u64;
    let mut rule_coverage = RuleCoverage::default();
    let depth = options.queue_depth.max(1);
    // Without a sink of the masked view, rows are checked, not masked (no masked copy of them).
    let any_masked = threads.iter().any(|t| t.view == DataView::Masked);

    let push = |queue: &mut VecDeque<Slot>,
                slot: Slot,
                threads: &[SinkThread]|
     -> Result<(), EngineError> {
        queue.push_back(slot);
        while queue.len() > depth
            || matches!(
                queue.front(),
                Some(Slot::Event(_)) | Some(Slot::OriginalOnly(_)) | Some(Slot::MaskedOnly(_))
            )
        {
            let front = queue.pop_front().expect("non-empty");
            dispatch(threads, front)?;
        }
        Ok(())
    };

    while let Some(event) = reader.next_event()? {
        match event {
            Event::Preamble(p) => {
                preamble = p.clone();
                push(&mut queue, Slot::Event(Msg::Preamble(Arc::new(p))), threads)?;
            }
            Event::Entry(e) => {
                if learn_facts {
                    facts.observe(&e);
                }
                let masked = anon_policy.masked_entry(&e);
                let msg = Msg::Entry(Arc::new(e));
                if matches!(masked, MaskedEntry::Same) {
                    push(&mut queue, Slot::Event(msg), threads)?;
                } else {
                    excluded_from_masked += 1;
                    push(&mut queue, Slot::OriginalOnly(msg), threads)?;
                    if let MaskedEntry::Rewritten(m) = masked {
                        let slot = Slot::MaskedOnly(Msg::Entry(Arc::new(*m)));
                        push(&mut queue, slot, threads)?;
                    }
                }
            }
            Event::DataBegin(e) => {
                data_original_only = anon_policy.excludes_data(&e);
                if data_original_only {
                    excluded_from_masked += 1;
                }
                if let Some(copy) = &e.copy {
                    let schema = copy.schema.clone().unwrap_or_default();
                    let infos = ColumnInfo::of_copy(copy, facts);
                    // Data the masked view leaves out is not masked: the full artifacts keep it as is.
                    let plan = if data_original_only {
                        TablePlan::keep_all(infos.len())
                    } else {
                        rules.plan_table(&schema, &copy.table, &infos)?
                    };
                    rule_coverage.record(&plan);
                    let masked_columns = copy
                        .columns
                        .iter()
                        .zip(&plan.columns)
                        .filter(|(_, m)| m.is_some())
                        .map(|(c, _)| c.clone())
                        .collect();
                    progress.table(&copy.display_name());
                    tables.push(TableReport {
                        schema: schema.clone(),
                        table: copy.table.clone(),
                        rows: 0,
                        bytes: 0,
                        masked_columns,
                        columns: copy.columns.len(),
                        seconds: 0.0,
                    });
                    table_started = Some(Instant::now());
                    let plan = if any_masked {
                        plan
                    } else {
                        TablePlan::keep_all(plan.columns.len())
                    };
                    current = Some(Arc::new(TableJob {
                        name: copy.display_name(),
                        columns: copy.columns.clone(),
                        plan,
                    }));
                }
                let msg = Msg::DataBegin(Arc::new(e));
                let slot = if data_original_only {
                    Slot::OriginalOnly(msg)
                } else {
                    Slot::Event(msg)
                };
                push(&mut queue, slot, threads)?;
            }
            Event::CopyRows {
                rows,
                first_line,
                row_count,
            } => {
                let job = current.clone().expect("rows follow a COPY statement");
                if let Some(t) = tables.last_mut() {
                    t.rows += row_count;
                    t.bytes += rows.len() as u64;
                }
                progress.rows(row_count, rows.len() as u64);
                let original = reader.take_last_rows();
                let (tx, rx) = bounded(1);
                let levels = levels.clone();
                rayon::spawn(move || {
                    let result = process_batch(&original, first_line, &job)
                        .map(|masked| compress_views(original, masked, &levels));
                    let _ = tx.send(result);
                });
                push(
                    &mut queue,
                    Slot::Rows {
                        batch: rx,
                        to_masked: !data_original_only,
                    },
                    threads,
                )?;
            }
            Event::RawData(line) => {
                // The SQL of a BLOBS data part: `lo_open`, `lowrite` (the contents), `lo_close`.
                if line.starts_with(b"SELECT pg_catalog.lo_open(") {
                    large_objects += 1;
                }
                let contents = line.starts_with(b"SELECT pg_catalog.lowrite(");
                let msg = Msg::Data(Arc::new(DataBatch {
                    bytes: line,
                    pieces: Vec::new(),
                }));
                let slot = if data_original_only || (contents && !options.keep_large_objects) {
                    Slot::OriginalOnly(msg)
                } else {
                    Slot::Event(msg)
                };
                push(&mut queue, slot, threads)?;
            }
            Event::DataEnd(tail) => {
                if let (Some(_), Some(started), Some(t)) =
                    (current.take(), table_started.take(), tables.last_mut())
                {
                    t.seconds = started.elapsed().as_secs_f64();
                }
                let msg = Msg::DataEnd(Arc::new(tail));
                let slot = if std::mem::take(&mut data_original_only) {
                    Slot::OriginalOnly(msg)
                } else {
                    Slot::Event(msg)
                };
                push(&mut queue, slot, threads)?;
            }
            Event::Trailer(t) => {
                push(&mut queue, Slot::Event(Msg::Trailer(Arc::new(t))), threads)?;
            }
        }
    }
    while let Some(slot) = queue.pop_front() {
        dispatch(threads, slot)?;
    }
    rules.check_coverage(&rule_coverage)?;
    Ok(Driven {
        preamble,
        tables,
        large_objects,
        excluded_from_masked,
        rule_coverage,
    })
}

/// Compress each view of a batch at the levels its sinks asked for. When masking changed nothing,
/// the masked view is the original one, compressed once for both. A view's bytes are dropped once
/// compressed when every sink of it takes the pieces, so that a huge row is not held in both forms
/// longer than it takes to compress it.
fn compress_views(
    original: Vec<u8>,
    masked: Option<Vec<u8>>,
    levels: &Levels,
) -> (Arc<DataBatch>, Option<Arc<DataBatch>>) {
    let mut original_levels = levels.original.clone();
    let mut keep_original = levels.original_bytes;
    if masked.is_none() {
        keep_original |= levels.masked_bytes;
        for l in &levels.masked {
            if !original_levels.contains(l) {
                original_levels.push(*l);
            }
        }
    }
    let pieces = |bytes: &[u8], levels: &[u32]| {
        levels
            .iter()
            .map(|l| compress_piece(bytes, *l))
            .collect::<Vec<_>>()
    };
    let original_pieces = pieces(&original, &original_levels);
    // Dropped here, not at the end of the function: before the masked view is compressed.
    let original_bytes = if keep_original {
        original
    } else {
        drop(original);
        Vec::new()
    };
    let original = Arc::new(DataBatch {
        pieces: original_pieces,
        bytes: original_bytes,
    });
    let masked = masked.map(|bytes| {
        Arc::new(DataBatch {
            pieces: pieces(&bytes, &levels.masked),
            bytes: if levels.masked_bytes {
                bytes
            } else {
                Vec::new()
            },
        })
    });
    (original, masked)
}

/// Check and mask one batch of whole rows. Returns the masked batch, or `None` if nothing changed.
fn process_batch(
    rows: &[u8],
    first_line: u64,
    job: &TableJob,
) -> Result<Option<Vec<u8>>, EngineError> {
    let ncols = job.columns.len();
    let passthrough = job.plan.is_passthrough();
    let mut out = if passthrough {
        Vec::new()
    } else {
        Vec::with_capacity(rows.len() + rows.len() / 8)
    };
    let mut decoded = Vec::new();
    let mut changed = false;
    let mut start = 0;
    for (line, nl) in (first_line..).zip(memchr::memchr_iter(b'\n', rows)) {
        let row = &rows[start..nl];
        start = nl + 1;
        let row_err = |message: String| EngineError::Row {
            line,
            table: job.name.clone(),
            message,
        };
        copy::check_row_end(row).map_err(|e| row_err(e.to_string()))?;
        let mut failure: Option<String> = None;
        let fields = if ncols == 0 {
            if !row.is_empty() {
                return Err(row_err(
                    "the COPY statement lists no columns but the row has data".into(),
                ));
            }
            0
        } else if passthrough {
            copy::for_each_field(row, |_, _| {})
        } else {
            copy::for_each_field(row, |i, raw| {
                if i > 0 {
                    out.push(b'\t');
                }
                let masker = match job.plan.columns.get(i) {
                    Some(Some(m))
                        if failure.is_none() && !copy::is_null(raw) && m.prefilter(raw) =>
                    {
                        m
                    }
                    _ => {
                        out.extend_from_slice(raw);
                        return;
                    }
                };
                // A field without escapes is its own value: no decoded copy of it (a huge field
                // would otherwise be held once more).
                let value: &[u8] = if copy::needs_unescape(raw) {
                    decoded.clear();
                    decoded.reserve(raw.len());
                    if let Err(e) = copy::unescape_into(raw, &mut decoded) {
                        failure = Some(format!("column {}: {e}", job.columns[i]));
                        return;
                    }
                    &decoded
                } else {
                    raw
                };
                // The masker writes straight into the row; only a value that needs escaping
                // goes through a scratch buffer.
                let before = out.len();
                match masker.mask(value, &mut out) {
                    MaskOutcome::Unchanged => {
                        out.truncate(before);
                        out.extend_from_slice(raw);
                    }
                    MaskOutcome::Null => {
                        out.truncate(before);
                        out.extend_from_slice(copy::NULL);
                        changed = true;
                    }
                    MaskOutcome::Value => {
                        copy::escape_in_place(&mut out, before);
                        changed |= out[before..] != *raw;
                    }
                }
            })
        };
        if let Some(message) = failure {
            return Err(row_err(message));
        }
        if fields != ncols {
            return Err(row_err(format!(
                "the row has {fields} fields but the COPY statement lists {ncols} columns ({})",
                job.columns.join(", ")
            )));
        }
        if !passthrough {
            out.push(b'\n');
        }
    }
    Ok((changed && !passthrough).then_some(out))
}
