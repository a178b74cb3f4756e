//! Progress events of the use-cases, for whoever shows them: the terminal progress line of the
//! command line, a service's task log, a test. Every method has an empty default, so an observer
//! implements only what it shows; [`Quiet`] shows nothing.
//!
//! The pass calls the table and row events from the thread that drives it, in input order. An
//! observer must be cheap (it runs between batches) and may cancel the run through a
//! [`crate::cancel::CancelToken`] it holds: the pass stops at its next check.

use crate::manifest::ManifestArtifact;
use crate::pass::TableReport;

pub trait Observer: Sync {
    /// A backup claimed its set (known before any data is read; a service names it at once).
    fn set_claimed(&self, _set: &crate::store::SetId) {}
    /// Bytes taken from the input so far (as read: compressed bytes for a `.gz` input).
    fn input_read(&self, _total_bytes: u64) {}
    /// An estimate of the whole input's size, known before it is read (a direct read's catalog
    /// sizes), for a percentage and a time left.
    fn input_size(&self, _estimated_bytes: u64) {}
    /// A table's data starts (`schema.table`).
    fn table_started(&self, _table: &str) {}
    /// A batch of a table's rows was read: `rows` rows, `bytes` bytes of COPY text.
    fn rows(&self, _rows: u64, _bytes: u64) {}
    /// A table's data ended; the report holds its rows, bytes and time.
    fn table_finished(&self, _table: &TableReport) {}
    /// The pass ended (successfully or not): nothing more is read.
    fn pass_finished(&self) {}
    /// An artifact is under its final name (`location`: its path or URL).
    fn artifact_published(&self, _artifact: &ManifestArtifact, _location: &str) {}
    /// A part of an artifact's upload to a bucket was stored (told on the driving thread, at its
    /// next read of the input, or at the end of the pass).
    fn upload_part(&self, _part: &PartSent) {}
}

/// A part of a multipart upload, acknowledged by the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartSent {
    /// The artifact's file name.
    pub file: String,
    /// 1-based part number.
    pub part: u32,
    pub bytes: u64,
}

/// Where a store reports the parts it sent (see [`crate::store::Store::report_parts`]).
pub type PartSender = crossbeam_channel::Sender<PartSent>;

/// Shows nothing.
pub struct Quiet;

impl Observer for Quiet {}
