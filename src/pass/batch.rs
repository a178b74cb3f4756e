//! One batch of whole COPY rows, as a job on the rayon pool: checked (line ends, escapes, field
//! count), masked by the table's plan, and compressed into deflate pieces for each view at the
//! levels its sinks asked for. The result travels back through a one-slot channel that the ordered
//! queue holds in the batch's place.
//!
//! Invariants: a batch is whole rows (each ending in `\n`); a row error names the input line, the
//! table and the column; the masked view is `None` when masking changed no byte, and is then the
//! original's batch (compressed once for both views).

use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver};

use super::{DataView, EngineError, RowProblem, SinkSpec};
use crate::copy;
use crate::mask::{MaskOutcome, TablePlan};
use crate::sink::deflate::compress_piece;
use crate::sink::DataBatch;

/// A processed batch: the original view and the masked one (`None` when identical).
pub type BatchResult = Result<(Arc<DataBatch>, Option<Arc<DataBatch>>), EngineError>;

/// Start the job of one batch (`rows`, starting at input line `first_line`) on the rayon pool.
pub fn spawn(
    rows: Vec<u8>,
    first_line: u64,
    job: Arc<TableJob>,
    levels: Arc<Levels>,
) -> Receiver<BatchResult> {
    let (tx, rx) = bounded(1);
    rayon::spawn(move || {
        let result = process_batch(&rows, first_line, &job)
            .map(|masked| compress_views(rows, masked, &levels));
        let _ = tx.send(result);
    });
    rx
}

/// The deflate levels the sinks of each view asked for, and whether a sink of the view writes the
/// rows themselves (one without a level): otherwise a batch's bytes go once compressed.
#[derive(Debug, Default, Clone)]
pub struct Levels {
    original: Vec<u32>,
    masked: Vec<u32>,
    original_bytes: bool,
    masked_bytes: bool,
}

impl Levels {
    pub fn of(sinks: &[SinkSpec]) -> Levels {
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
pub struct TableJob {
    pub name: String,
    pub columns: Vec<String>,
    pub plan: TablePlan,
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

/// The rows of a batch (each without its `\n`) with their line numbers in the input.
fn numbered_rows(rows: &[u8], first_line: u64) -> impl Iterator<Item = (u64, &[u8])> {
    let mut start = 0;
    (first_line..)
        .zip(memchr::memchr_iter(b'\n', rows))
        .map(move |(line, nl)| {
            let row = &rows[start..nl];
            start = nl + 1;
            (line, row)
        })
}

impl TableJob {
    /// `problem` of the row at `line`, naming the table.
    fn row_error(&self, line: u64, problem: RowProblem) -> EngineError {
        EngineError::Row {
            line,
            table: self.name.clone(),
            problem,
        }
    }

    /// The checks of a row before its fields: its end, and no data where no column is listed.
    fn check_row(&self, line: u64, row: &[u8]) -> Result<(), EngineError> {
        copy::check_row_end(row).map_err(|e| self.row_error(line, e.into()))?;
        if self.columns.is_empty() && !row.is_empty() {
            return Err(self.row_error(line, RowProblem::DataWithoutColumns));
        }
        Ok(())
    }

    /// A row of `fields` fields where the COPY statement lists another number.
    fn check_field_count(&self, line: u64, fields: usize) -> Result<(), EngineError> {
        if fields == self.columns.len() {
            return Ok(());
        }
        Err(self.row_error(
            line,
            RowProblem::FieldCount {
                fields,
                columns: self.columns.len(),
                names: self.columns.join(", "),
            },
        ))
    }
}

/// Whether a masker may change a field of `rows` (a non-NULL field its prefilter passes), checking
/// every row up to the first such field as [`process_batch`] checks them (its end, its field count);
/// the fields a masker then decodes are checked by [`process_batch`] itself.
fn may_change(rows: &[u8], first_line: u64, job: &TableJob) -> Result<bool, EngineError> {
    /// Why the walk stopped early.
    enum Stop {
        Hit,
        Failed(EngineError),
    }
    let mut line = first_line;
    let walked = copy::for_each_row_field(
        rows,
        |i, raw| match job.plan.columns.get(i) {
            Some(Some(m)) if !copy::is_null(raw) && m.prefilter(raw) => Err(Stop::Hit),
            _ => Ok(()),
        },
        |row, fields| {
            job.check_row(line, row).map_err(Stop::Failed)?;
            if !job.columns.is_empty() {
                job.check_field_count(line, fields).map_err(Stop::Failed)?;
            }
            line += 1;
            Ok(())
        },
    );
    match walked {
        Ok(()) => Ok(false),
        // The masking loop checks the rest of the batch (and this row) again.
        Err(Stop::Hit) => Ok(true),
        Err(Stop::Failed(e)) => Err(e),
    }
}

/// Check and mask one batch of whole rows. Returns the masked batch, or `None` if nothing changed.
fn process_batch(
    rows: &[u8],
    first_line: u64,
    job: &TableJob,
) -> Result<Option<Vec<u8>>, EngineError> {
    let ncols = job.columns.len();
    // Most batches of most tables hold nothing any masker acts on (no `@` for email_scan), and a
    // table no rule masks holds nothing at all: those are checked and left as they are, without
    // the field-by-field copy of the masking loop below.
    if !may_change(rows, first_line, job)? {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(rows.len() + rows.len() / 8);
    let mut decoded = Vec::new();
    let mut changed = false;
    for (line, row) in numbered_rows(rows, first_line) {
        job.check_row(line, row)?;
        let mut failure: Option<RowProblem> = None;
        let fields = if ncols == 0 {
            0
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
                        failure = Some(RowProblem::Field {
                            column: job.columns[i].clone(),
                            source: e,
                        });
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
        if let Some(problem) = failure {
            return Err(job.row_error(line, problem));
        }
        job.check_field_count(line, fields)?;
        out.push(b'\n');
    }
    Ok(changed.then_some(out))
}
