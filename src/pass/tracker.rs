//! The per-table tracker: what the pass saw of each table's data (rows, bytes of COPY text, masked
//! columns, wall time), in input order.
//!
//! Invariants:
//! * one [`TableReport`] per COPY statement, pushed when its data begins, in input order;
//! * rows and bytes are added to the table whose data is open (the last one begun);
//! * a table's `seconds` is set once, when its data ends (from its COPY statement to `\.`);
//!   data parts that are not COPY data (large objects) open no table.

use std::time::Instant;

use super::TableReport;

#[derive(Default)]
pub struct TableTracker {
    tables: Vec<TableReport>,
    /// When the open table's data began; `None` between tables.
    open_since: Option<Instant>,
}

impl TableTracker {
    /// A table's data begins.
    pub fn begin(
        &mut self,
        schema: String,
        table: String,
        masked_columns: Vec<String>,
        columns: usize,
    ) {
        self.tables.push(TableReport {
            schema,
            table,
            rows: 0,
            bytes: 0,
            masked_columns,
            columns,
            seconds: 0.0,
        });
        self.open_since = Some(Instant::now());
    }

    /// A batch of the open table's rows.
    pub fn rows(&mut self, rows: u64, bytes: u64) {
        if let Some(t) = self.tables.last_mut() {
            t.rows += rows;
            t.bytes += bytes;
        }
    }

    /// The end of a data part: the open table's report, complete, if a table was open.
    pub fn end(&mut self) -> Option<&TableReport> {
        let started = self.open_since.take()?;
        let t = self.tables.last_mut()?;
        t.seconds = started.elapsed().as_secs_f64();
        Some(t)
    }

    pub fn into_reports(self) -> Vec<TableReport> {
        self.tables
    }
}
