//! Progress reporting: a small trait the engine calls, with a terminal implementation (indicatif:
//! bytes read, rows, current table) and a silent one for logs and pipes.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

pub trait Progress: Sync {
    /// A table's data starts.
    fn table(&self, _name: &str) {}
    /// Rows were read.
    fn rows(&self, _rows: u64, _bytes: u64) {}
    fn done(&self) {}
}

/// Reports nothing.
pub struct Silent;
impl Progress for Silent {}

/// A spinner line on stderr: input bytes, rows, current table.
pub struct TerminalProgress {
    bar: ProgressBar,
    rows: AtomicU64,
    input_bytes: Arc<AtomicU64>,
}

impl TerminalProgress {
    pub fn new(input_bytes: Arc<AtomicU64>) -> TerminalProgress {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        TerminalProgress {
            bar,
            rows: AtomicU64::new(0),
            input_bytes,
        }
    }

    fn refresh(&self, table: Option<&str>) {
        let read = self.input_bytes.load(Ordering::Relaxed);
        let rows = self.rows.load(Ordering::Relaxed);
        let mut msg = format!("{} read, {rows} rows", indicatif::HumanBytes(read));
        if let Some(t) = table {
            msg.push_str(", table ");
            msg.push_str(t);
            self.bar.set_prefix(t.to_string());
        } else if !self.bar.prefix().is_empty() {
            msg.push_str(", table ");
            msg.push_str(&self.bar.prefix());
        }
        self.bar.set_message(msg);
    }
}

impl Progress for TerminalProgress {
    fn table(&self, name: &str) {
        self.refresh(Some(name));
    }
    fn rows(&self, rows: u64, _bytes: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
        self.refresh(None);
    }
    fn done(&self) {
        self.bar.finish_and_clear();
    }
}
