//! The large-object block (`BLOBS`) of the custom archive, rebuilt from the SQL a plain dump carries
//! for it: `lo_open('OID', …)`, one or more `lowrite(0, '\x…')`, `lo_close(0)` per object, inside
//! `BEGIN;` … `COMMIT;`.
//!
//! In the archive the block is a list of objects: `Int oid`, the object's bytes as chunks (one zlib
//! stream per object when compressed, as pg_dump writes them), `Int 0`; the list ends with `Int 0`
//! in place of an OID. Any other statement in the data part is an error: pgveil never guesses.

use std::io::{self, Write};

use super::format::put_int;
use super::spool::{BlockOut, ChunkWriter, Encoder};
use crate::sink::deflate::FramedPieces;

const LO_OPEN: &[u8] = b"SELECT pg_catalog.lo_open('";
const LO_WRITE: &[u8] = b"SELECT pg_catalog.lowrite(0, ";
const LO_CLOSE: &[u8] = b"SELECT pg_catalog.lo_close(0);";

#[derive(Debug, thiserror::Error)]
pub enum BlobsError {
    #[error("large objects: {0}")]
    Syntax(String),
    #[error(transparent)]
    Io(#[from] io::Error),
}

pub(super) struct BlobsBlock {
    /// The block's writer while no object is open (an open object's encoder holds it).
    out: Option<BlockOut>,
    open: Option<Encoder>,
    level: Option<u32>,
    /// Payload bytes written to the spool so far (OIDs, chunks, end markers).
    written: u64,
    objects: u64,
}

fn int_bytes(v: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(5);
    put_int(&mut out, v);
    out
}

fn syntax(what: &str, line: &[u8]) -> BlobsError {
    let shown: String = String::from_utf8_lossy(line).chars().take(80).collect();
    BlobsError::Syntax(format!("{what}: {shown:?}"))
}

impl BlobsBlock {
    pub(super) fn new(out: BlockOut, level: Option<u32>) -> BlobsBlock {
        BlobsBlock {
            out: Some(out),
            open: None,
            level,
            written: 0,
            objects: 0,
        }
    }

    /// One line of the data part.
    pub(super) fn line(&mut self, line: &[u8]) -> Result<(), BlobsError> {
        let text = line.strip_suffix(b"\n").unwrap_or(line);
        let text = text.strip_suffix(b"\r").unwrap_or(text);
        if text.is_empty() || text == b"BEGIN;" || text == b"COMMIT;" {
            return Ok(());
        }
        if let Some(rest) = text.strip_prefix(LO_OPEN) {
            let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
            let oid: u32 = std::str::from_utf8(&rest[..digits])
                .ok()
                .and_then(|d| d.parse().ok())
                .filter(|o| *o != 0)
                .ok_or_else(|| syntax("bad OID in lo_open", line))?;
            if self.open.is_some() {
                return Err(syntax("lo_open before the previous lo_close", line));
            }
            let mut out = self
                .out
                .take()
                .expect("spool writer present between objects");
            // pg_dump writes the OID as a signed Int of the same bits.
            out.write_all(&int_bytes(oid as i32))?;
            self.written += 5;
            let writer = ChunkWriter::new(out);
            self.open = Some(match self.level {
                None => Encoder::Raw(writer),
                Some(level) => Encoder::Zlib(FramedPieces::zlib(writer, level)?),
            });
            self.objects += 1;
            return Ok(());
        }
        if let Some(rest) = text.strip_prefix(LO_WRITE) {
            let enc = self
                .open
                .as_mut()
                .ok_or_else(|| syntax("lowrite outside lo_open … lo_close", line))?;
            let hex = rest
                .strip_prefix(b"'\\x")
                .or_else(|| rest.strip_prefix(b"E'\\\\x"))
                .and_then(|r| r.strip_suffix(b"');"))
                .ok_or_else(|| syntax("unexpected lowrite literal", line))?;
            let bytes = hex::decode(hex).map_err(|_| syntax("bad hex in lowrite", line))?;
            enc.text(&bytes)?;
            return Ok(());
        }
        if text == LO_CLOSE {
            let enc = self
                .open
                .take()
                .ok_or_else(|| syntax("lo_close without lo_open", line))?;
            let (out, n) = enc.finish()?.finish()?;
            self.written += n;
            self.out = Some(out);
            return Ok(());
        }
        Err(syntax(
            "unexpected statement in the large-object data",
            line,
        ))
    }

    /// End the list; returns the writer, the payload length and the number of objects.
    pub(super) fn finish(mut self) -> Result<(BlockOut, u64, u64), BlobsError> {
        if self.open.is_some() {
            return Err(BlobsError::Syntax(
                "the data part ended inside a large object (no lo_close)".into(),
            ));
        }
        let mut out = self.out.take().expect("spool writer present");
        out.write_all(&int_bytes(0))?;
        Ok((out, self.written + 5, self.objects))
    }
}
