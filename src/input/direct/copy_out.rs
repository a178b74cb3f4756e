//! `COPY … TO STDOUT` read straight from the socket ([`super::handover`]): the simple query
//! protocol's messages parsed in place, each row's bytes copied once, into the caller's batch.
//!
//! The server answers a COPY query with CopyOutResponse, one CopyData per row, CopyDone,
//! CommandComplete and ReadyForQuery; or with an ErrorResponse (then ReadyForQuery, or the end of
//! the connection for a FATAL one), at any point, even after rows. A COPY is complete only at
//! ReadyForQuery after CommandComplete with no error: anything else (an error, the connection
//! closed, a message out of place) is an error carrying the server's own words where it sent any.

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::handover::DataStream;

/// The read buffer's size (grown only for a message other than a row that does not fit).
const READ_BUFFER: usize = 256 << 10;
/// The largest message other than a row accepted (an error, a notice): what a server sends is a
/// few KiB; a length beyond this is a broken stream, not a reason to allocate gigabytes.
const MAX_MESSAGE: usize = 16 << 20;

#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// The server's ErrorResponse: `SEVERITY: message` with its detail and hint.
    #[error("{0}")]
    Server(String),
    #[error("the server closed the connection during the COPY")]
    Closed,
    #[error("unexpected message from the server: {0}")]
    Protocol(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// A connection taken over for COPY statements, one after the other.
pub struct CopyConnection {
    stream: Box<dyn DataStream>,
    buf: Vec<u8>,
    /// Unparsed bytes are `buf[start..end]`.
    start: usize,
    end: usize,
    /// Bytes of the current CopyData's row not yet copied out.
    row_left: usize,
    /// CopyOutResponse seen (rows may come), CommandComplete seen, the server's error if any.
    copying: bool,
    complete: bool,
    error: Option<String>,
}

impl CopyConnection {
    pub fn new(stream: Box<dyn DataStream>) -> CopyConnection {
        CopyConnection {
            stream,
            buf: vec![0; READ_BUFFER],
            start: 0,
            end: 0,
            row_left: 0,
            copying: false,
            complete: false,
            error: None,
        }
    }

    /// Send `sql` (a `COPY … TO STDOUT`) as a simple query.
    pub async fn start(&mut self, sql: &str) -> Result<(), CopyError> {
        let mut query = Vec::with_capacity(sql.len() + 6);
        query.push(b'Q');
        query.extend_from_slice(&(sql.len() as u32 + 5).to_be_bytes());
        query.extend_from_slice(sql.as_bytes());
        query.push(0);
        self.copying = false;
        self.complete = false;
        self.error = None;
        let sent = async {
            self.stream.write_all(&query).await?;
            self.stream.flush().await
        };
        if let Err(e) = sent.await {
            // A server that ended the session said why before closing it (`FATAL: terminating
            // connection …`): its message, still to be read, explains better than the pipe.
            return match self.fill(&mut Vec::new(), 0).await {
                Err(said @ CopyError::Server(_)) => Err(said),
                _ => Err(e.into()),
            };
        }
        Ok(())
    }

    /// Append the COPY's bytes to `batch` until it holds `limit` bytes (a row may be split
    /// between two batches) or the COPY is complete. `Ok(false)` once it is complete.
    pub async fn fill(&mut self, batch: &mut Vec<u8>, limit: usize) -> Result<bool, CopyError> {
        loop {
            if self.row_left > 0 {
                let room = limit.saturating_sub(batch.len());
                if room == 0 {
                    return Ok(true);
                }
                let n = self.row_left.min(self.end - self.start).min(room);
                if n == 0 {
                    self.read_more(0).await?;
                    continue;
                }
                batch.extend_from_slice(&self.buf[self.start..self.start + n]);
                self.start += n;
                self.row_left -= n;
                continue;
            }
            let available = self.end - self.start;
            if available < 5 {
                self.read_more(5).await?;
                continue;
            }
            let kind = self.buf[self.start];
            let head: [u8; 4] = self.buf[self.start + 1..self.start + 5]
                .try_into()
                .expect("four bytes");
            let len = u32::from_be_bytes(head) as usize;
            if len < 4 {
                return Err(CopyError::Protocol(format!("a message of length {len}")));
            }
            if kind == b'd' {
                if !self.copying {
                    return Err(CopyError::Protocol("a row outside a COPY".into()));
                }
                self.start += 5;
                self.row_left = len - 4;
                continue;
            }
            if len > MAX_MESSAGE {
                return Err(CopyError::Protocol(format!(
                    "a message of type {:?} and {len} bytes",
                    kind as char
                )));
            }
            if available < 1 + len {
                self.read_more(1 + len).await?;
                continue;
            }
            let body = self.start + 5..self.start + 1 + len;
            self.start += 1 + len;
            match kind {
                b'H' => {
                    // Overall format 0: text (pg_dump's COPY statements ask for nothing else).
                    if self.buf[body.start] != 0 {
                        return Err(CopyError::Protocol("a binary COPY".into()));
                    }
                    self.copying = true;
                }
                b'c' => self.copying = false,
                b'C' => self.complete = true,
                b'E' => self.error = Some(error_text(&self.buf[body])),
                // Notices, parameter changes, notifications: nothing to do with the rows.
                b'N' | b'S' | b'A' => {}
                b'Z' => {
                    self.copying = false;
                    return match self.error.take() {
                        Some(e) => Err(CopyError::Server(e)),
                        None if self.complete => Ok(false),
                        None => Err(CopyError::Protocol(
                            "ReadyForQuery before the COPY completed".into(),
                        )),
                    };
                }
                other => {
                    return Err(CopyError::Protocol(format!(
                        "message type {:?}",
                        other as char
                    )))
                }
            }
        }
    }

    /// Read more bytes, keeping `buf[start..end]`; room for a message of `need` bytes is made.
    async fn read_more(&mut self, need: usize) -> Result<(), CopyError> {
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        } else if self.end == self.buf.len() || self.start + need > self.buf.len() {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if need > self.buf.len() {
            self.buf.resize(need, 0);
        }
        let n = self.stream.read(&mut self.buf[self.end..]).await?;
        if n == 0 {
            // A FATAL error is followed by the end of the connection, not by ReadyForQuery.
            return Err(match self.error.take() {
                Some(e) => CopyError::Server(e),
                None => CopyError::Closed,
            });
        }
        self.end += n;
        Ok(())
    }

    /// End the session (Terminate); the server rolls the transaction back.
    pub async fn close(mut self) {
        let _ = self.stream.write_all(&[b'X', 0, 0, 0, 4]).await;
        let _ = self.stream.shutdown().await;
    }
}

/// An ErrorResponse's fields as libpq prints them: `SEVERITY:  message`, then the detail and hint.
fn error_text(body: &[u8]) -> String {
    let mut severity = None;
    let mut message = None;
    let mut detail = None;
    let mut hint = None;
    for field in body.split(|&b| b == 0) {
        let Some((&code, value)) = field.split_first() else {
            continue;
        };
        let value = String::from_utf8_lossy(value).into_owned();
        match code {
            b'S' => severity = Some(value),
            b'M' => message = Some(value),
            b'D' => detail = Some(value),
            b'H' => hint = Some(value),
            _ => {}
        }
    }
    let mut text = format!(
        "{}: {}",
        severity.as_deref().unwrap_or("ERROR"),
        message.as_deref().unwrap_or("(no message)")
    );
    if let Some(d) = detail {
        text.push_str(&format!(" DETAIL: {d}"));
    }
    if let Some(h) = hint {
        text.push_str(&format!(" HINT: {h}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The server's messages, as bytes.
    fn message(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut m = vec![kind];
        m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
        m.extend_from_slice(body);
        m
    }

    fn copy_out_response() -> Vec<u8> {
        message(b'H', &[0, 0, 2, 0, 0, 0, 0])
    }

    /// Run one COPY against a canned server answer delivered `chunk` bytes at a time; the
    /// batches filled with `limit`.
    async fn read_all(
        answer: Vec<u8>,
        chunk: usize,
        limit: usize,
    ) -> Result<Vec<Vec<u8>>, CopyError> {
        let (client, mut server) = tokio::io::duplex(chunk);
        let feeder = tokio::spawn(async move {
            // The whole query first (a pipe of one byte holds it back otherwise).
            let mut head = [0u8; 5];
            if server.read_exact(&mut head).await.is_err() {
                return;
            }
            let len = u32::from_be_bytes(head[1..].try_into().unwrap()) as usize;
            let mut query = vec![0u8; len - 4];
            if server.read_exact(&mut query).await.is_err() {
                return;
            }
            for piece in answer.chunks(chunk) {
                if server.write_all(piece).await.is_err() {
                    return;
                }
            }
        });
        let mut conn = CopyConnection::new(Box::new(client));
        conn.start("COPY t TO stdout").await?;
        let mut batches = Vec::new();
        loop {
            let mut batch = Vec::new();
            let more = conn.fill(&mut batch, limit).await;
            if let Ok(false) | Err(_) = more {
                if !batch.is_empty() {
                    batches.push(batch);
                }
                feeder.abort();
                return more.map(|_| batches);
            }
            batches.push(batch);
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    fn rows_answer(rows: &[&[u8]]) -> Vec<u8> {
        let mut a = copy_out_response();
        a.extend(message(b'N', b"SNOTICE\0Mhello\0\0"));
        for r in rows {
            a.extend(message(b'd', r));
        }
        a.extend(message(b'c', b""));
        a.extend(message(b'C', b"COPY 3\0"));
        a.extend(message(b'Z', b"T"));
        a
    }

    #[test]
    fn rows_come_out_whole_and_in_order_however_the_bytes_arrive() {
        let rows: [&[u8]; 3] = [b"1\ta\n", b"2\tlonger row here\n", b"3\t\\N\n"];
        let expected: Vec<u8> = rows.concat();
        for chunk in [1, 2, 3, 5, 7, 64, 4096] {
            for limit in [1, 4, 10, 1 << 20] {
                let batches = runtime()
                    .block_on(read_all(rows_answer(&rows), chunk, limit))
                    .unwrap();
                assert_eq!(batches.concat(), expected, "chunk {chunk} limit {limit}");
                assert!(batches.iter().all(|b| b.len() <= limit));
            }
        }
    }

    #[test]
    fn a_row_larger_than_the_read_buffer_passes() {
        let big = vec![b'x'; 3 * READ_BUFFER + 17];
        let batches = runtime()
            .block_on(read_all(rows_answer(&[&big, b"2\n"]), 64 << 10, 1 << 30))
            .unwrap();
        assert_eq!(batches.concat(), [&big[..], b"2\n"].concat());
    }

    #[test]
    fn an_error_after_rows_fails_with_the_servers_words() {
        let mut answer = copy_out_response();
        answer.extend(message(b'd', b"1\n"));
        answer.extend(message(
            b'E',
            b"SERROR\0VERROR\0C57014\0Mcanceling statement due to user request\0\0",
        ));
        answer.extend(message(b'Z', b"I"));
        let e = runtime()
            .block_on(read_all(answer, 3, 1 << 20))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "ERROR: canceling statement due to user request"
        );
    }

    #[test]
    fn a_fatal_error_then_the_end_of_the_connection_says_the_fatal_error() {
        let mut answer = copy_out_response();
        answer.extend(message(b'd', b"1\n"));
        answer.extend(message(
            b'E',
            b"SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0",
        ));
        let e = runtime()
            .block_on(read_all(answer, 5, 1 << 20))
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "FATAL: terminating connection due to administrator command"
        );
    }

    #[test]
    fn a_connection_ending_mid_row_or_before_completion_is_an_error() {
        let full = rows_answer(&[b"1\tabc\n", b"2\tdef\n"]);
        // Cut everywhere before the final ReadyForQuery: never a success.
        for cut in 0..full.len() {
            let r = runtime().block_on(read_all(full[..cut].to_vec(), 4, 1 << 20));
            assert!(r.is_err(), "cut at {cut} of {}", full.len());
        }
        // CommandComplete missing.
        let mut answer = copy_out_response();
        answer.extend(message(b'd', b"1\n"));
        answer.extend(message(b'c', b""));
        answer.extend(message(b'Z', b"T"));
        assert!(matches!(
            runtime().block_on(read_all(answer, 64, 1 << 20)),
            Err(CopyError::Protocol(_))
        ));
    }

    /// A session the server ended while idle: the query cannot be sent, and the FATAL message
    /// waiting in the socket is what is said.
    #[test]
    fn a_session_ended_before_the_query_says_the_servers_message() {
        runtime().block_on(async {
            let (client, mut server) = tokio::io::duplex(1 << 16);
            server
                .write_all(&message(
                    b'E',
                    b"SFATAL\0VFATAL\0C57P01\0Mterminating connection due to administrator command\0\0",
                ))
                .await
                .unwrap();
            drop(server);
            let mut conn = CopyConnection::new(Box::new(client));
            let e = conn.start("COPY t TO stdout").await.unwrap_err();
            assert_eq!(
                e.to_string(),
                "FATAL: terminating connection due to administrator command"
            );
        });
    }

    proptest::proptest! {
        /// Whatever a broken or hostile server sends (messages in any order, lengths that do not
        /// match), the read ends, with an error or the COPY complete, and never panics. When all
        /// lengths are right and the read succeeds, the rows are exactly those sent before the
        /// ReadyForQuery that ended it.
        #[test]
        fn any_answer_ends_the_read_and_rows_are_only_what_was_sent(
            messages in proptest::collection::vec(
                (
                    proptest::sample::select(b"HdcCEZNSAT\0".to_vec()),
                    proptest::collection::vec(proptest::prelude::any::<u8>(), 0..12),
                    proptest::prelude::any::<bool>(),
                ),
                0..12,
            ),
            all_honest in proptest::prelude::any::<bool>(),
            chunk in 1usize..9,
        ) {
            let mut answer = Vec::new();
            let mut rows_before_end = Vec::new();
            let mut ended = false;
            for (kind, body, honest) in &messages {
                if all_honest || *honest {
                    answer.extend(message(*kind, body));
                } else {
                    // A length that does not match what follows.
                    answer.push(*kind);
                    answer.extend_from_slice(body);
                }
                ended |= *kind == b'Z';
                if *kind == b'd' && !ended {
                    rows_before_end.extend_from_slice(body);
                }
            }
            let read = runtime().block_on(read_all(answer, chunk, 7));
            if all_honest {
                if let Ok(batches) = read {
                    proptest::prop_assert_eq!(batches.concat(), rows_before_end);
                }
            }
        }
    }

    /// A length no server message has (other than a row's) is refused before any allocation.
    #[test]
    fn an_absurd_message_length_is_an_error_not_an_allocation() {
        let mut answer = copy_out_response();
        answer.push(b'N');
        answer.extend_from_slice(&u32::MAX.to_be_bytes());
        let e = runtime()
            .block_on(read_all(answer, 64, 1 << 20))
            .unwrap_err();
        assert!(matches!(e, CopyError::Protocol(_)), "{e}");
    }

    #[test]
    fn rows_before_the_copy_started_and_unknown_messages_are_errors() {
        let answer = message(b'd', b"1\n");
        assert!(matches!(
            runtime().block_on(read_all(answer, 64, 1 << 20)),
            Err(CopyError::Protocol(_))
        ));
        let mut answer = copy_out_response();
        answer.extend(message(b'T', b"\0\0"));
        assert!(matches!(
            runtime().block_on(read_all(answer, 64, 1 << 20)),
            Err(CopyError::Protocol(_))
        ));
    }
}
