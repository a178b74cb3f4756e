//! Cancellation of a use-case from outside (another thread, a service's API, an observer): a
//! shared flag the pass checks between batches and the use-cases check between steps.
//!
//! Cancelling takes the path of a failure: the pass stops with [`crate::pass::EngineError::Cancelled`],
//! the sinks are dropped (partial files removed, uploads aborted), a spawned pg_dump is killed and
//! reaped, and nothing is published. It does not rely on the process-wide signal
//! handling of [`crate::interrupt`], which the command line keeps for SIGINT/SIGTERM.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A cancellation flag; clones share it. Once cancelled it stays cancelled.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A token nobody has cancelled yet.
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Ask every holder of a clone to stop.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}
