//! Sinks receive the events of one pass (preamble, entries, data, trailer) and write one artifact each:
//! the portable plain dump, the anonymized plain dump, the custom-format archive.
//!
//! The engine runs each sink on its own thread and decides which view of the COPY rows it gets
//! (original or masked). A sink publishes its artifact only in `finish`; dropping it unfinished leaves
//! nothing under the final name.

pub mod deflate;
pub mod output;
pub mod plain;

use crate::dump::{Entry, Preamble};
pub use deflate::Piece;
pub use output::{
    ArtifactInfo, ArtifactOutput, AtomicFile, OutputError, OutputTarget, Publish, SealedFile, Tee,
};

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error(transparent)]
    Output(#[from] OutputError),
    #[error("{0}")]
    Unsupported(String),
    #[error("{0}")]
    Invalid(String),
}

/// Whole COPY rows (each ending in `\n`) or raw lines of a BLOBS body, with the deflate pieces the
/// engine made of them for the levels the sinks asked for (see [`deflate`]).
#[derive(Debug, Default)]
pub struct DataBatch {
    pub bytes: Vec<u8>,
    pub pieces: Vec<Piece>,
}

/// One artifact writer fed by the pass.
pub trait Sink: Send {
    /// The deflate level at which this sink would like the engine to compress data batches in
    /// parallel (pieces it can frame without recompressing), or `None`.
    fn deflate_level(&self) -> Option<u32> {
        None
    }
    fn preamble(&mut self, preamble: &Preamble) -> Result<(), SinkError>;
    /// A complete entry without a data part.
    fn entry(&mut self, entry: &Entry) -> Result<(), SinkError>;
    /// The start of a data part (TABLE DATA or BLOBS); `entry.copy` is set for COPY data.
    fn data_begin(&mut self, entry: &Entry) -> Result<(), SinkError>;
    /// A batch of data; its pieces, if any, decode to exactly `batch.bytes`.
    fn data(&mut self, batch: &DataBatch) -> Result<(), SinkError>;
    /// The end of the data part: `\.\n` and the blank lines that follow it.
    fn data_end(&mut self, tail: &[u8]) -> Result<(), SinkError>;
    fn trailer(&mut self, trailer: &[u8]) -> Result<(), SinkError>;
    /// Write what is left and seal the artifact (still under its partial name; the engine publishes
    /// all artifacts together). `None` for a stream such as stdout.
    fn finish(self: Box<Self>) -> Result<Option<SealedFile>, SinkError>;
}
