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
    /// The input's estimated size (a direct read's catalog sizes), 0 when unknown.
    estimate: AtomicU64,
    started: std::time::Instant,
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
            estimate: AtomicU64::new(0),
            started: std::time::Instant::now(),
        }
    }

    fn refresh(&self, table: Option<&str>) {
        let read = self.input_bytes.load(Ordering::Relaxed);
        let rows = self.rows.load(Ordering::Relaxed);
        let mut msg = format!("{} read, {rows} rows", indicatif::HumanBytes(read));
        let estimate = self.estimate.load(Ordering::Relaxed);
        if estimate > 0 && read > 0 {
            // COPY text is not heap size: the estimate is a guide, kept under 100% until the end.
            let done = (read as f64 / estimate as f64).min(0.99);
            let left = self.started.elapsed().as_secs_f64() * (1.0 - done) / done;
            msg.push_str(&format!(
                ", ~{:.0}%, ~{} left",
                done * 100.0,
                indicatif::HumanDuration(std::time::Duration::from_secs_f64(left))
            ));
        }
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
    fn input_size(&self, estimated_bytes: u64) {
        self.estimate.store(estimated_bytes, Ordering::Relaxed);
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
