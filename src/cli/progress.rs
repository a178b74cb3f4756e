//! The terminal progress line: an [`Observer`] (indicatif spinner on stderr: bytes read, rows,
//! current table), chosen when stderr is a terminal.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};

use indicatif::{ProgressBar, ProgressStyle};
use pgveil::observe::{Observer, Quiet};

/// A spinner line on stderr: input bytes, rows, current table.
pub struct TerminalProgress {
    bar: ProgressBar,
    rows: AtomicU64,
    input_bytes: AtomicU64,
}

impl TerminalProgress {
    pub fn new() -> TerminalProgress {
        let bar = ProgressBar::new_spinner();
        bar.set_style(
            ProgressStyle::with_template("{spinner} {elapsed_precise} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.enable_steady_tick(std::time::Duration::from_millis(200));
        TerminalProgress {
            bar,
            rows: AtomicU64::new(0),
            input_bytes: AtomicU64::new(0),
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

impl Observer for TerminalProgress {
    fn input_read(&self, total_bytes: u64) {
        self.input_bytes.store(total_bytes, Ordering::Relaxed);
    }
    fn table_started(&self, name: &str) {
        self.refresh(Some(name));
    }
    fn rows(&self, rows: u64, _bytes: u64) {
        self.rows.fetch_add(rows, Ordering::Relaxed);
        self.refresh(None);
    }
    fn pass_finished(&self) {
        self.bar.finish_and_clear();
    }
}

impl Drop for TerminalProgress {
    /// A run that failed before its pass ended leaves no spinner line behind.
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}

/// A progress line on a terminal (unless `quiet`, e.g. when the output itself goes to the
/// terminal), nothing otherwise.
pub fn progress_for(quiet: bool) -> Box<dyn Observer> {
    if !quiet && std::io::stderr().is_terminal() {
        Box::new(TerminalProgress::new())
    } else {
        Box::new(Quiet)
    }
}
