//! The router of views: every sink runs on a thread of its own behind a bounded channel, and the
//! router decides what each receives — the original or the masked view of a batch, and which
//! entries a view gets at all.
//!
//! Invariants:
//! * every sink receives its messages in the order they were dispatched (one channel per sink);
//! * a [`Slot::Event`] reaches every sink, [`Slot::OriginalOnly`] only the sinks of the original
//!   view, [`Slot::MaskedOnly`] only those of the masked view; the rows of a [`Slot::Rows`] reach
//!   the original-view sinks as read and the masked-view sinks masked (or as read, when masking
//!   changed nothing — shared, not copied), or only the original-view sinks (`to_masked: false`);
//! * a sink is finished ([`Router::finish`]) only when the whole pass succeeded; otherwise its
//!   channel closes without `Finish` ([`Router::abort`]) and the sink is dropped, which removes
//!   its partial artifact.

use std::sync::Arc;
use std::thread::JoinHandle;

use crossbeam_channel::{bounded, Receiver, Sender};

use super::batch::BatchResult;
use super::{DataView, EngineError, SinkSpec};
use crate::dump::{Entry, Preamble};
use crate::sink::{DataBatch, SealedFile, SinkError};

/// What a sink thread receives.
pub enum Msg {
    Preamble(Arc<Preamble>),
    Entry(Arc<Entry>),
    DataBegin(Arc<Entry>),
    Data(Arc<DataBatch>),
    DataEnd(Arc<Vec<u8>>),
    Trailer(Arc<Vec<u8>>),
    Finish,
}

impl Msg {
    /// Another handle on the same contents (every payload is shared).
    fn share(&self) -> Msg {
        match self {
            Msg::Preamble(p) => Msg::Preamble(p.clone()),
            Msg::Entry(e) => Msg::Entry(e.clone()),
            Msg::DataBegin(e) => Msg::DataBegin(e.clone()),
            Msg::Data(d) => Msg::Data(d.clone()),
            Msg::DataEnd(d) => Msg::DataEnd(d.clone()),
            Msg::Trailer(t) => Msg::Trailer(t.clone()),
            Msg::Finish => Msg::Finish,
        }
    }
}

/// One item of the ordered queue: what to dispatch, and to which views.
pub enum Slot {
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

impl Slot {
    /// Whether the slot can be dispatched without waiting (everything but a batch in progress).
    pub fn is_ready(&self) -> bool {
        !matches!(self, Slot::Rows { .. })
    }
}

/// How a sink thread ended.
enum SinkEnd {
    /// `finish` ran: the sealed artifact (`None` for a stream).
    Sealed(Option<SealedFile>),
    /// The sink itself failed.
    Failed(SinkError),
    /// The channel closed without `Finish`: the pass failed elsewhere; the sink was dropped, which
    /// discarded its partial artifact.
    Aborted,
}

struct SinkThread {
    name: String,
    view: DataView,
    tx: Sender<Msg>,
    handle: JoinHandle<SinkEnd>,
}

/// The sink threads of one pass.
pub struct Router {
    threads: Vec<SinkThread>,
}

impl Router {
    /// Start one thread per sink.
    pub fn start(sinks: Vec<SinkSpec>) -> Router {
        Router {
            threads: sinks.into_iter().map(spawn_sink).collect(),
        }
    }

    /// Whether a sink of the masked view exists (otherwise rows are checked, not masked).
    pub fn has_masked_view(&self) -> bool {
        self.threads.iter().any(|t| t.view == DataView::Masked)
    }

    /// Send `msg` to the sinks of the views `to` accepts.
    fn send(&self, to: impl Fn(DataView) -> Option<Msg>) -> Result<(), EngineError> {
        for t in &self.threads {
            if let Some(msg) = to(t.view) {
                if t.tx.send(msg).is_err() {
                    return Err(EngineError::SinkThread(t.name.clone()));
                }
            }
        }
        Ok(())
    }

    /// Dispatch one slot; for rows, wait for the batch's masking job first.
    pub fn dispatch(&self, slot: Slot) -> Result<(), EngineError> {
        match slot {
            Slot::Event(msg) => self.send(|_| Some(msg.share())),
            Slot::OriginalOnly(msg) => {
                self.send(|view| (view == DataView::Original).then(|| msg.share()))
            }
            Slot::MaskedOnly(msg) => {
                self.send(|view| (view == DataView::Masked).then(|| msg.share()))
            }
            Slot::Rows { batch, to_masked } => {
                let (original, masked) = batch
                    .recv()
                    .map_err(|_| EngineError::SinkThread("a masking job".into()))??;
                self.send(|view| match (view, &masked) {
                    (DataView::Masked, _) if !to_masked => None,
                    (DataView::Masked, Some(m)) => Some(Msg::Data(m.clone())),
                    _ => Some(Msg::Data(original.clone())),
                })
            }
        }
    }

    /// The pass succeeded: finish every sink and collect the sealed artifacts, in sink order. The
    /// first sink error fails the pass (the other sealed artifacts are then dropped: removed).
    pub fn finish(self) -> Result<Vec<(String, Option<SealedFile>)>, EngineError> {
        for t in &self.threads {
            // A send can only fail if the sink already stopped with an error, collected below.
            let _ = t.tx.send(Msg::Finish);
        }
        let mut artifacts = Vec::new();
        let mut first_err = None;
        for t in self.threads {
            drop(t.tx);
            match t.handle.join() {
                Ok(SinkEnd::Sealed(sealed)) => artifacts.push((t.name, sealed)),
                Ok(SinkEnd::Failed(e)) => {
                    first_err.get_or_insert(EngineError::Sink {
                        artifact: t.name,
                        source: e,
                    });
                }
                Ok(SinkEnd::Aborted) | Err(_) => {
                    first_err.get_or_insert(EngineError::SinkThread(t.name));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(artifacts),
        }
    }

    /// The pass failed with `cause`: close the channels without `Finish` (every sink discards its
    /// partial artifact) and return the error to report. A sink's own error is the better
    /// explanation when the pass stopped because a sink went away.
    pub fn abort(self, cause: EngineError) -> EngineError {
        let mut sink_err = None;
        for t in self.threads {
            drop(t.tx);
            if let Ok(SinkEnd::Failed(se)) = t.handle.join() {
                sink_err.get_or_insert(EngineError::Sink {
                    artifact: t.name,
                    source: se,
                });
            }
        }
        match cause {
            EngineError::SinkThread(_) => sink_err.unwrap_or(cause),
            cause => cause,
        }
    }
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
        .spawn(move || -> SinkEnd {
            for msg in rx {
                let fed = match msg {
                    Msg::Preamble(p) => sink.preamble(&p),
                    Msg::Entry(e) => sink.entry(&e),
                    Msg::DataBegin(e) => sink.data_begin(&e),
                    Msg::Data(d) => sink.data(&d),
                    Msg::DataEnd(d) => sink.data_end(&d),
                    Msg::Trailer(t) => sink.trailer(&t),
                    Msg::Finish => {
                        return match sink.finish() {
                            Ok(sealed) => SinkEnd::Sealed(sealed),
                            Err(e) => SinkEnd::Failed(e),
                        }
                    }
                };
                if let Err(e) = fed {
                    return SinkEnd::Failed(e);
                }
            }
            // The channel closed without Finish: the pass failed. Dropping the sink discards its file.
            SinkEnd::Aborted
        })
        .expect("spawning a sink thread");
    SinkThread {
        name,
        view,
        tx,
        handle,
    }
}
