//! Deflate in independent pieces, so that compression runs in parallel on the masking pool and the
//! same compressed bytes serve several artifacts ("compress once, frame twice").
//!
//! A [`Piece`] is the raw deflate output of one batch of bytes, made by a fresh compressor and ended
//! with a sync flush: byte-aligned and without a final block. A piece never refers back across its
//! start, so it decodes to the same bytes whatever precedes it. Any sequence of pieces followed by
//! [`FINAL_BLOCK`] is therefore one valid deflate stream, and a piece can sit both inside the gzip
//! member of `NAME.gz` (CRC-32 trailer) and inside a table's zlib stream in `NAME.dump` (Adler-32
//! trailer). Each piece carries both checksums of its input; the framers combine them, so nothing
//! downstream reads the uncompressed bytes again.
//!
//! Pieces of about 1 MiB lose almost nothing against one continuous stream: the 32 KiB window is
//! empty only at the start of each piece.

use std::io::{self, Write};

use flate2::{Compress, Compression, FlushCompress};

/// An empty fixed-Huffman block with BFINAL set: closes a stream made of sync-flushed pieces.
pub const FINAL_BLOCK: [u8; 2] = [0x03, 0x00];

/// The zlib level pg_dump's `-Z` default (`-1`) stands for.
pub const ZLIB_DEFAULT_LEVEL: u32 = 6;

/// One independently compressed piece and the checksums of what it decodes to.
#[derive(Debug, Clone)]
pub struct Piece {
    pub level: u32,
    /// Raw deflate, sync-flushed, no final block.
    pub deflated: Vec<u8>,
    /// Length of the uncompressed input.
    pub len: u64,
    pub crc32: u32,
    pub adler32: u32,
}

thread_local! {
    // One compressor per thread and level, reset between pieces: its state is ~300 KiB, not worth
    // allocating per batch.
    static COMPRESSORS: std::cell::RefCell<Vec<(u32, Compress)>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Compress `input` as one piece at `level` (0-9).
pub fn compress_piece(input: &[u8], level: u32) -> Piece {
    let mut deflated = Vec::with_capacity(input.len() / 3 + 64);
    COMPRESSORS.with(|cell| {
        let mut all = cell.borrow_mut();
        let idx = match all.iter().position(|(l, _)| *l == level) {
            Some(i) => i,
            None => {
                all.push((level, Compress::new(Compression::new(level), false)));
                all.len() - 1
            }
        };
        let c = &mut all[idx].1;
        c.reset();
        deflate_sync(c, input, &mut deflated);
    });
    Piece {
        level,
        deflated,
        len: input.len() as u64,
        crc32: zlib_rs::crc32::crc32(0, input),
        adler32: zlib_rs::adler32::adler32(1, input),
    }
}

/// Feed all of `input` and sync-flush, appending the output to `out`.
fn deflate_sync(c: &mut Compress, input: &[u8], out: &mut Vec<u8>) {
    let start_in = c.total_in();
    loop {
        let consumed = (c.total_in() - start_in) as usize;
        if out.capacity() - out.len() < 4096 {
            out.reserve((input.len() - consumed) / 2 + 4096);
        }
        c.compress_vec(&input[consumed..], out, FlushCompress::Sync)
            .expect("deflate on memory buffers cannot fail");
        // zlib's contract for a flush: it is complete once all input is in and the call returned
        // with output space to spare.
        if (c.total_in() - start_in) as usize == input.len() && out.len() < out.capacity() {
            break;
        }
    }
}

/// Running checksums of a stream assembled from pieces and plain bytes.
#[derive(Debug, Clone, Copy)]
struct Checksums {
    crc32: u32,
    adler32: u32,
    len: u64,
}

impl Checksums {
    fn new() -> Checksums {
        Checksums {
            crc32: 0,
            adler32: 1,
            len: 0,
        }
    }
    fn append(&mut self, piece: &Piece) {
        self.crc32 = zlib_rs::crc32::crc32_combine(self.crc32, piece.crc32, piece.len);
        self.adler32 = zlib_rs::adler32::adler32_combine(self.adler32, piece.adler32, piece.len);
        self.len += piece.len;
    }
}

/// Text that arrives between pieces (DDL, COPY headers, `\.`) is small; it is gathered and compressed
/// as a piece of its own just before the next piece, so it costs one sync flush per data part.
const PENDING_LIMIT: usize = 1 << 20;

/// A deflate stream written piece by piece to `out`, with text compressed on the way.
struct PieceStream<W: Write> {
    out: W,
    level: u32,
    pending: Vec<u8>,
    sums: Checksums,
}

impl<W: Write> PieceStream<W> {
    fn new(out: W, level: u32) -> PieceStream<W> {
        PieceStream {
            out,
            level,
            pending: Vec::new(),
            sums: Checksums::new(),
        }
    }

    fn text(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.pending.extend_from_slice(bytes);
        if self.pending.len() >= PENDING_LIMIT {
            self.flush_pending()?;
        }
        Ok(())
    }

    fn flush_pending(&mut self) -> io::Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let piece = compress_piece(&self.pending, self.level);
        self.pending.clear();
        self.write_piece(&piece)
    }

    fn write_piece(&mut self, piece: &Piece) -> io::Result<()> {
        self.out.write_all(&piece.deflated)?;
        self.sums.append(piece);
        Ok(())
    }

    /// Write a batch: its piece at our level when one was made, otherwise compress it here.
    fn batch(&mut self, bytes: &[u8], pieces: &[Piece]) -> io::Result<()> {
        match pieces.iter().find(|p| p.level == self.level) {
            Some(piece) => {
                self.flush_pending()?;
                self.write_piece(piece)
            }
            None => self.text(bytes),
        }
    }

    /// Close the deflate stream; returns the writer and the checksums of everything written.
    fn finish(mut self) -> io::Result<(W, Checksums)> {
        self.flush_pending()?;
        self.out.write_all(&FINAL_BLOCK)?;
        Ok((self.out, self.sums))
    }
}

/// How a deflate stream made of pieces is wrapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// A gzip file of one member (RFC 1952): CRC-32 and length trailer. `NAME.gz`.
    Gzip,
    /// A zlib stream (RFC 1950): Adler-32 trailer. A table's data in a custom archive.
    Zlib,
}

/// A gzip file or a zlib stream assembled from pieces, with text compressed on the way.
pub struct FramedPieces<W: Write> {
    stream: PieceStream<W>,
    framing: Framing,
}

impl<W: Write> FramedPieces<W> {
    pub fn gzip(mut out: W, level: u32) -> io::Result<FramedPieces<W>> {
        // ID1 ID2 CM=deflate FLG=0 MTIME=0 XFL OS=unknown
        let xfl = match level {
            9 => 2,
            1 => 4,
            _ => 0,
        };
        out.write_all(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 0xff])?;
        Ok(FramedPieces {
            stream: PieceStream::new(out, level),
            framing: Framing::Gzip,
        })
    }

    pub fn zlib(mut out: W, level: u32) -> io::Result<FramedPieces<W>> {
        // CMF: deflate, 32 KiB window. FLG: the level hint zlib itself writes, plus the check bits.
        let flevel: u8 = match level {
            0 | 1 => 0,
            2..=5 => 1,
            6 => 2,
            _ => 3,
        };
        let cmf = 0x78u8;
        let mut flg = flevel << 6;
        flg += (31 - ((u16::from(cmf) << 8 | u16::from(flg)) % 31) as u8) % 31;
        out.write_all(&[cmf, flg])?;
        Ok(FramedPieces {
            stream: PieceStream::new(out, level),
            framing: Framing::Zlib,
        })
    }

    pub fn level(&self) -> u32 {
        self.stream.level
    }

    pub fn text(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.text(bytes)
    }

    pub fn batch(&mut self, bytes: &[u8], pieces: &[Piece]) -> io::Result<()> {
        self.stream.batch(bytes, pieces)
    }

    /// Close the stream and write the trailer; returns the writer.
    pub fn finish(self) -> io::Result<W> {
        let (mut out, sums) = self.stream.finish()?;
        match self.framing {
            Framing::Gzip => {
                out.write_all(&sums.crc32.to_le_bytes())?;
                out.write_all(&(sums.len as u32).to_le_bytes())?;
            }
            Framing::Zlib => out.write_all(&sums.adler32.to_be_bytes())?,
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::{GzDecoder, MultiGzDecoder, ZlibDecoder};
    use proptest::prelude::*;
    use std::io::Read;

    fn sample(n: usize, seed: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(n);
        let mut x = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
        while out.len() < n {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let word = (x >> 33) % 7;
            let noise = [(x >> 20) as u8, (x >> 28) as u8];
            out.extend_from_slice(match word {
                0 => b"alice@example.org\t".as_slice(),
                1 => b"42\t",
                2 => b"\\N\t",
                3 => b"some text \\t with escapes\n",
                _ => &noise,
            });
        }
        out.truncate(n);
        out
    }

    fn gzip_of(parts: &[(bool, Vec<u8>)], level: u32) -> Vec<u8> {
        let mut g = FramedPieces::gzip(Vec::new(), level).unwrap();
        for (is_batch, bytes) in parts {
            if *is_batch {
                g.batch(bytes, &[compress_piece(bytes, level)]).unwrap();
            } else {
                g.text(bytes).unwrap();
            }
        }
        g.finish().unwrap()
    }

    #[test]
    fn gzip_of_pieces_is_one_member_that_gunzips() {
        let parts = vec![
            (false, b"-- header\nCOPY t (a) FROM stdin;\n".to_vec()),
            (true, sample(300_000, 1)),
            (true, sample(10, 2)),
            (true, Vec::new()),
            (false, b"\\.\n\n".to_vec()),
            (true, sample(70_000, 3)),
        ];
        let expected: Vec<u8> = parts.iter().flat_map(|(_, b)| b.clone()).collect();
        for level in [0, 1, 6, 9] {
            let gz = gzip_of(&parts, level);
            // A single-member decoder reads it all: it really is one member with a valid trailer.
            let mut out = Vec::new();
            GzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
            assert_eq!(out, expected, "level {level}");
        }
    }

    #[test]
    fn zlib_of_pieces_decodes_and_checks() {
        let a = sample(200_000, 4);
        let b = sample(5_000, 5);
        for level in [1, 6, 9] {
            let mut z = FramedPieces::zlib(Vec::new(), level).unwrap();
            z.batch(&a, &[compress_piece(&a, level)]).unwrap();
            z.batch(&b, &[compress_piece(&b, 9 - level + 1)]).unwrap(); // level mismatch: compressed here
            z.text(b"\\.\n\n").unwrap();
            let bytes = z.finish().unwrap();
            let mut out = Vec::new();
            ZlibDecoder::new(&bytes[..]).read_to_end(&mut out).unwrap();
            assert_eq!(out, [&a[..], &b[..], b"\\.\n\n"].concat());
            // A flipped bit in the data must be caught by the Adler-32 trailer or the decoder.
            let mut bad = bytes.clone();
            let n = bad.len();
            bad[n - 1] ^= 1;
            let mut out = Vec::new();
            assert!(ZlibDecoder::new(&bad[..]).read_to_end(&mut out).is_err());
        }
    }

    #[test]
    fn the_same_piece_serves_both_framings() {
        let rows = sample(100_000, 6);
        let piece = compress_piece(&rows, 6);
        let mut g = FramedPieces::gzip(Vec::new(), 6).unwrap();
        g.text(b"COPY x FROM stdin;\n").unwrap();
        g.batch(&rows, std::slice::from_ref(&piece)).unwrap();
        let gz = g.finish().unwrap();
        let mut z = FramedPieces::zlib(Vec::new(), 6).unwrap();
        z.batch(&rows, std::slice::from_ref(&piece)).unwrap();
        let zl = z.finish().unwrap();
        // The deflate bytes of the piece appear verbatim in both files.
        let find = |hay: &[u8]| {
            hay.windows(piece.deflated.len())
                .any(|w| w == piece.deflated)
        };
        assert!(find(&gz) && find(&zl));
        let mut out = Vec::new();
        MultiGzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, [b"COPY x FROM stdin;\n".as_slice(), &rows].concat());
    }

    #[test]
    fn pieces_cost_little_against_one_stream() {
        let data = sample(4 << 20, 7);
        let mut whole = flate2::write::GzEncoder::new(Vec::new(), Compression::new(6));
        whole.write_all(&data).unwrap();
        let whole = whole.finish().unwrap();
        let parts: Vec<_> = data.chunks(1 << 20).map(|c| (true, c.to_vec())).collect();
        let pieces = gzip_of(&parts, 6);
        assert!(
            (pieces.len() as f64) < whole.len() as f64 * 1.01,
            "pieces {} vs one stream {}",
            pieces.len(),
            whole.len()
        );
    }

    proptest! {
        #[test]
        fn any_split_gunzips_to_the_input(data in proptest::collection::vec(any::<u8>(), 0..20_000),
                                           cuts in proptest::collection::vec(any::<u16>(), 0..6)) {
            let mut cuts: Vec<usize> = cuts.iter().map(|c| *c as usize % (data.len() + 1)).collect();
            cuts.sort();
            let mut parts = Vec::new();
            let mut at = 0;
            for (i, c) in cuts.iter().enumerate() {
                parts.push((i % 2 == 0, data[at..*c].to_vec()));
                at = *c;
            }
            parts.push((true, data[at..].to_vec()));
            let gz = gzip_of(&parts, 6);
            let mut out = Vec::new();
            GzDecoder::new(&gz[..]).read_to_end(&mut out).unwrap();
            prop_assert_eq!(out, data);
        }
    }
}
