//! Primitive encodings of the custom archive format (version 1.14, intSize 4, offSize 8):
//! `Int` = sign byte + magnitude (little-endian), `Str` = `Int(len)` + bytes (NULL = `Int(-1)`),
//! `Offset` = flag byte + 8-byte little-endian position.

use std::io::{self, Read};

pub const MAGIC: &[u8; 5] = b"PGDMP";
pub const VMAJ: u8 = 1;
pub const VMIN: u8 = 14;
pub const VREV: u8 = 0;
pub const INT_SIZE: u8 = 4;
pub const OFF_SIZE: u8 = 8;
pub const FORMAT_CUSTOM: u8 = 1;

pub const BLK_DATA: u8 = 1;
pub const BLK_BLOBS: u8 = 3;

pub const POS_NOT_SET: u8 = 1;
pub const POS_SET: u8 = 2;
pub const NO_DATA: u8 = 3;

/// Encoded length of an `Int`.
pub const INT_LEN: usize = 1 + INT_SIZE as usize;
/// Encoded length of an `Offset`.
#[allow(dead_code)]
pub const OFFSET_LEN: usize = 1 + OFF_SIZE as usize;

/// Sections of a TOC entry.
pub const SECTION_NONE: i32 = 1;
pub const SECTION_PRE_DATA: i32 = 2;
pub const SECTION_DATA: i32 = 3;
pub const SECTION_POST_DATA: i32 = 4;

pub fn put_int(out: &mut Vec<u8>, v: i32) {
    out.push(u8::from(v < 0));
    out.extend_from_slice(&v.unsigned_abs().to_le_bytes());
}

pub fn put_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => put_int(out, -1),
        Some(s) => {
            put_int(out, s.len() as i32);
            out.extend_from_slice(s.as_bytes());
        }
    }
}

pub fn put_offset(out: &mut Vec<u8>, flag: u8, pos: u64) {
    out.push(flag);
    out.extend_from_slice(&pos.to_le_bytes());
}

/// A byte reader that counts its position, for parsing archives.
pub struct ArchiveReader<R: Read> {
    inner: R,
    pub pos: u64,
    pub int_size: usize,
    pub off_size: usize,
}

impl<R: Read> ArchiveReader<R> {
    pub fn new(inner: R) -> Self {
        ArchiveReader {
            inner,
            pos: 0,
            int_size: INT_SIZE as usize,
            off_size: OFF_SIZE as usize,
        }
    }

    pub fn into_inner(self) -> R {
        self.inner
    }

    /// The next `n` bytes. The buffer grows with the bytes actually read, so a length field of a
    /// hostile or damaged archive cannot make it allocate memory that the file does not back.
    pub fn bytes(&mut self, n: usize) -> io::Result<Vec<u8>> {
        const UPFRONT: usize = 1 << 20;
        let mut buf = Vec::with_capacity(n.min(UPFRONT));
        (&mut self.inner).take(n as u64).read_to_end(&mut buf)?;
        self.pos += buf.len() as u64;
        if buf.len() != n {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(buf)
    }

    pub fn byte(&mut self) -> io::Result<u8> {
        Ok(self.bytes(1)?[0])
    }

    /// The next byte, or `None` at end of input.
    pub fn try_byte(&mut self) -> io::Result<Option<u8>> {
        let mut b = [0u8; 1];
        loop {
            match self.inner.read(&mut b) {
                Ok(0) => return Ok(None),
                Ok(_) => {
                    self.pos += 1;
                    return Ok(Some(b[0]));
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    }

    pub fn skip(&mut self, n: u64) -> io::Result<()> {
        let copied = io::copy(&mut (&mut self.inner).take(n), &mut io::sink())?;
        self.pos += copied;
        if copied != n {
            return Err(io::ErrorKind::UnexpectedEof.into());
        }
        Ok(())
    }

    pub fn int(&mut self) -> io::Result<i64> {
        let sign = self.byte()?;
        let raw = self.bytes(self.int_size)?;
        let mut v: i64 = 0;
        for (i, b) in raw.iter().enumerate() {
            if i < 8 {
                v |= i64::from(*b) << (8 * i);
            }
        }
        // A hostile archive may hold i64::MIN: wrapping, not overflowing (the caller checks ranges).
        Ok(if sign != 0 { v.wrapping_neg() } else { v })
    }

    pub fn str(&mut self) -> io::Result<Option<String>> {
        let len = self.int()?;
        if len < 0 {
            return Ok(None);
        }
        let raw = self.bytes(len as usize)?;
        Ok(Some(String::from_utf8_lossy(&raw).into_owned()))
    }

    pub fn offset(&mut self) -> io::Result<(u8, u64)> {
        let flag = self.byte()?;
        let raw = self.bytes(self.off_size)?;
        let mut v: u64 = 0;
        for (i, b) in raw.iter().enumerate() {
            if i < 8 {
                v |= u64::from(*b) << (8 * i);
            }
        }
        Ok((flag, v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn int(v: i32) -> Vec<u8> {
        let mut out = Vec::new();
        put_int(&mut out, v);
        out
    }

    #[test]
    fn int_is_sign_and_magnitude() {
        assert_eq!(int(-1), [1, 1, 0, 0, 0]);
        assert_eq!(int(34), [0, 0x22, 0, 0, 0]);
        assert_eq!(int(0), [0, 0, 0, 0, 0]);
        assert_eq!(int(-300), [1, 0x2c, 1, 0, 0]);
        assert_eq!(int(i32::MIN), [1, 0, 0, 0, 0x80]);
        for v in [0, 1, -1, 255, 256, -65536, i32::MAX, i32::MIN + 1] {
            let bytes = int(v);
            let mut r = ArchiveReader::new(&bytes[..]);
            assert_eq!(r.int().unwrap(), i64::from(v));
        }
    }

    #[test]
    fn strings_null_and_empty() {
        let mut out = Vec::new();
        put_str(&mut out, None);
        assert_eq!(out, [1, 1, 0, 0, 0]);
        out.clear();
        put_str(&mut out, Some(""));
        assert_eq!(out, [0, 0, 0, 0, 0]);
        out.clear();
        put_str(&mut out, Some("false"));
        assert_eq!(out, b"\x00\x05\x00\x00\x00false");
        let mut r = ArchiveReader::new(&out[..]);
        assert_eq!(r.str().unwrap().as_deref(), Some("false"));
        let null = [1u8, 1, 0, 0, 0];
        assert_eq!(ArchiveReader::new(&null[..]).str().unwrap(), None);
    }

    #[test]
    fn offsets() {
        let mut out = Vec::new();
        put_offset(&mut out, POS_SET, 0x128a);
        assert_eq!(out, [2, 0x8a, 0x12, 0, 0, 0, 0, 0, 0]);
        assert_eq!(out.len(), OFFSET_LEN);
        let mut r = ArchiveReader::new(&out[..]);
        assert_eq!(r.offset().unwrap(), (POS_SET, 0x128a));
    }
}
