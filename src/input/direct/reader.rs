//! The parallel read and its reordering: N connections, each in a transaction on the exported
//! snapshot, take the COPY statements ([`super::plan::Unit`]) in order and stream their output;
//! the plain dump is read back as one `Read`, the pieces of text around the data in place and each
//! unit's rows in unit order.
//!
//! Memory is bounded: a connection sends its rows in batches of [`BATCH_BYTES`] over a channel of
//! [`CHANNEL_BATCHES`] per unit, and may start a unit only while fewer than `window` units are read
//! but not yet consumed (a semaphore the consumer gives back to as it finishes a unit). At most
//! `window × (CHANNEL_BATCHES + 1) × BATCH_BYTES` of rows are held, plus at most `POOL_BUFFERS` (16)
//! emptied batch buffers kept for reuse (5 MiB). The unit being consumed is
//! always taken by a connection (units are taken in order), so the window cannot deadlock.

use std::io::{self, Read};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{mpsc, Semaphore};

use super::copy_out::{CopyConnection, CopyError};
use super::plan::Unit;

/// Rows are sent on in batches of about this size (COPY sends one message per row).
pub const BATCH_BYTES: usize = 256 << 10;
/// Batch buffers kept for reuse once read (a fresh 256 KiB buffer for every batch costs the kernel
/// 64 page faults and their zeroing: a tenth of the read's CPU).
const POOL_BUFFERS: usize = 16;

/// Batches a unit's channel holds before its connection waits: 8 MiB, about the text of one range
/// of [`super::plan::DEFAULT_SPLIT_BLOCKS`] (the rows of a unit that is not yet written wait here
/// while its connection goes on; a smaller channel would make it wait for the units before it,
/// and a table read in ranges would be read one range at a time).
pub const CHANNEL_BATCHES: usize = 32;

enum Msg {
    Data(Vec<u8>),
    Done,
    Failed(String),
}

/// A piece of the plain dump.
pub enum Piece {
    Text(Vec<u8>),
    /// The rows of unit `.0`.
    Rows(usize),
}

/// The full message of an error and its causes (a worker's error crosses into `io::Error`).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

/// Start the connections on `runtime`; returns the reader of the whole plain dump.
pub fn start(
    runtime: &tokio::runtime::Runtime,
    connections: Vec<CopyConnection>,
    units: Vec<Unit>,
    pieces: Vec<Piece>,
    window: usize,
) -> StreamReader {
    let n = units.len();
    let mut senders = Vec::with_capacity(n);
    let mut receivers = Vec::with_capacity(n);
    for _ in 0..n {
        let (tx, rx) = mpsc::channel(CHANNEL_BATCHES);
        senders.push(Mutex::new(Some(tx)));
        receivers.push(Some(rx));
    }
    let shared = Arc::new(Shared {
        units,
        pool: Mutex::new(Vec::new()),
        senders,
        next: AtomicUsize::new(0),
        window: Arc::new(Semaphore::new(window.max(1))),
    });
    for connection in connections {
        runtime.spawn(worker(connection, shared.clone()));
    }
    StreamReader {
        pieces,
        piece: 0,
        offset: 0,
        receivers,
        current: None,
        shared,
        failed: false,
    }
}

struct Shared {
    units: Vec<Unit>,
    /// Read batch buffers, emptied, for the connections to fill again.
    pool: Mutex<Vec<Vec<u8>>>,
    senders: Vec<Mutex<Option<mpsc::Sender<Msg>>>>,
    next: AtomicUsize,
    window: Arc<Semaphore>,
}

async fn worker(mut connection: CopyConnection, shared: Arc<Shared>) {
    loop {
        let Ok(permit) = shared.window.acquire().await else {
            return;
        };
        // Given back by the consumer when it has read the unit.
        permit.forget();
        let i = shared.next.fetch_add(1, Ordering::SeqCst);
        if i >= shared.units.len() {
            connection.close().await;
            return;
        }
        let Some(tx) = shared.senders[i].lock().expect("not poisoned").take() else {
            return;
        };
        match copy_unit(&mut connection, &shared, &shared.units[i].sql, &tx).await {
            Ok(true) => {
                let _ = tx.send(Msg::Done).await;
            }
            // The reader went away: stop.
            Ok(false) => return,
            Err(e) => {
                let _ = tx
                    .send(Msg::Failed(format!(
                        "reading the table data ({}): {e}",
                        shared.units[i].sql,
                    )))
                    .await;
                return;
            }
        }
    }
}

impl Shared {
    /// An empty batch buffer: a used one if there is one.
    fn buffer(&self) -> Vec<u8> {
        self.pool
            .lock()
            .expect("not poisoned")
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(BATCH_BYTES + (64 << 10)))
    }

    fn give_back(&self, mut buf: Vec<u8>) {
        let mut pool = self.pool.lock().expect("not poisoned");
        if pool.len() < POOL_BUFFERS && buf.capacity() <= 2 * BATCH_BYTES {
            buf.clear();
            pool.push(buf);
        }
    }
}

/// Stream one COPY into `tx` in batches; `Ok(false)` when the receiver is gone.
async fn copy_unit(
    connection: &mut CopyConnection,
    shared: &Shared,
    sql: &str,
    tx: &mpsc::Sender<Msg>,
) -> Result<bool, CopyError> {
    connection.start(sql).await?;
    loop {
        let mut batch = shared.buffer();
        let more = connection.fill(&mut batch, BATCH_BYTES).await?;
        if !batch.is_empty() && tx.send(Msg::Data(batch)).await.is_err() {
            return Ok(false);
        }
        if !more {
            return Ok(true);
        }
    }
}

/// The plain dump, read back in order.
pub struct StreamReader {
    pieces: Vec<Piece>,
    piece: usize,
    offset: usize,
    receivers: Vec<Option<mpsc::Receiver<Msg>>>,
    /// The batch being read, and how far.
    current: Option<(Vec<u8>, usize)>,
    shared: Arc<Shared>,
    failed: bool,
}

impl Read for StreamReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.failed {
            return Err(io::Error::other("the direct read failed before"));
        }
        loop {
            if let Some((batch, at)) = &mut self.current {
                let n = (batch.len() - *at).min(buf.len());
                buf[..n].copy_from_slice(&batch[*at..*at + n]);
                *at += n;
                if *at == batch.len() {
                    if let Some((batch, _)) = self.current.take() {
                        self.shared.give_back(batch);
                    }
                }
                return Ok(n);
            }
            let Some(piece) = self.pieces.get(self.piece) else {
                return Ok(0);
            };
            match piece {
                Piece::Text(text) => {
                    let n = (text.len() - self.offset).min(buf.len());
                    buf[..n].copy_from_slice(&text[self.offset..self.offset + n]);
                    self.offset += n;
                    if self.offset == text.len() {
                        self.piece += 1;
                        self.offset = 0;
                    }
                    if n > 0 {
                        return Ok(n);
                    }
                }
                &Piece::Rows(unit) => {
                    let rx = self.receivers[unit].as_mut().expect("a unit is read once");
                    match rx.blocking_recv() {
                        Some(Msg::Data(batch)) => self.current = Some((batch, 0)),
                        Some(Msg::Done) => {
                            self.receivers[unit] = None;
                            self.shared.window.add_permits(1);
                            self.piece += 1;
                        }
                        Some(Msg::Failed(message)) => {
                            self.failed = true;
                            return Err(io::Error::other(message));
                        }
                        None => {
                            self.failed = true;
                            return Err(io::Error::other(format!(
                                "the connection reading {} stopped before its end",
                                self.shared.units[unit].sql
                            )));
                        }
                    }
                }
            }
        }
    }
}
