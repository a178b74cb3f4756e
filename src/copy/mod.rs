//! The COPY text-format codec, with no I/O: split a row into raw fields, decode (unescape) a field
//! on demand, and encode (escape) a value into a caller's buffer.
//!
//! This mirrors PostgreSQL's `CopyReadAttributesText` / `CopyAttributeOutText`: fields are separated by
//! TAB, `\N` alone is NULL, and a backslash introduces `\\ \t \n \r \b \f \v`, an octal `\ooo`, a hex
//! `\xhh`, or stands for the next character itself. Encoding escapes exactly what PostgreSQL escapes,
//! so a re-encoded unchanged value is byte-identical to what pg_dump wrote.
//!
//! Hot-path friendly: splitting yields borrowed slices, decoding and encoding append to reused buffers.

use thiserror::Error;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CodecError {
    #[error("a backslash at the end of a field")]
    TrailingBackslash,
    #[error(
        "a backslash before the end of the row (backslash-newline continuations are not supported)"
    )]
    EscapedNewline,
}

/// The raw form of SQL NULL in COPY text.
pub const NULL: &[u8] = b"\\N";

/// Whether a raw field is SQL NULL.
#[inline]
pub fn is_null(raw: &[u8]) -> bool {
    raw == NULL
}

/// Whether the byte at `i` is preceded by an odd number of backslashes (is escaped).
#[inline]
fn is_escaped(row: &[u8], i: usize) -> bool {
    let mut n = 0;
    let mut j = i;
    while j > 0 && row[j - 1] == b'\\' {
        n += 1;
        j -= 1;
    }
    n % 2 == 1
}

/// Split one row (without its trailing `\n`) into raw fields, calling `f` for each with its index.
/// A backslash-escaped TAB is data, not a separator. Returns the number of fields.
#[inline]
pub fn for_each_field<'a>(row: &'a [u8], mut f: impl FnMut(usize, &'a [u8])) -> usize {
    let mut start = 0;
    let mut index = 0;
    for i in memchr::memchr_iter(b'\t', row) {
        if i > start && row[i - 1] == b'\\' && is_escaped(row, i) {
            continue;
        }
        f(index, &row[start..i]);
        index += 1;
        start = i + 1;
    }
    f(index, &row[start..]);
    index + 1
}

/// Walk every field of every row of `rows` (whole rows, each ending in `\n`) in one scan for
/// separators, as [`for_each_field`] splits each row: `field(index, raw)` for each field, then
/// `row_end(row, fields)` with the row (without its `\n`) and its number of fields. The first
/// error either returns stops the walk. (One scan of a batch instead of one per row: most rows
/// are short, and a search set up per row costs more than the row's separators.)
#[inline]
pub fn for_each_row_field<'a, E>(
    rows: &'a [u8],
    mut field: impl FnMut(usize, &'a [u8]) -> Result<(), E>,
    mut row_end: impl FnMut(&'a [u8], usize) -> Result<(), E>,
) -> Result<(), E> {
    let mut row_start = 0;
    let mut start = 0;
    let mut index = 0;
    for i in memchr::memchr2_iter(b'\t', b'\n', rows) {
        // A backslash before a TAB may escape it; before a newline, `row_end`'s checks decide.
        if rows[i] == b'\t'
            && i > start
            && rows[i - 1] == b'\\'
            && is_escaped(&rows[row_start..], i - row_start)
        {
            continue;
        }
        field(index, &rows[start..i])?;
        if rows[i] == b'\n' {
            row_end(&rows[row_start..i], index + 1)?;
            row_start = i + 1;
            index = 0;
        } else {
            index += 1;
        }
        start = i + 1;
    }
    Ok(())
}

/// Check that a row (without `\n`) does not end in an escaping backslash, which would mean the row
/// continues past the newline: pg_dump never writes that, and splitting rows on LF would be wrong.
#[inline]
pub fn check_row_end(row: &[u8]) -> Result<(), CodecError> {
    if row.last() == Some(&b'\\') && is_escaped(row, row.len()) {
        Err(CodecError::EscapedNewline)
    } else {
        Ok(())
    }
}

/// Whether decoding `raw` would change it (it contains a backslash).
#[inline]
pub fn needs_unescape(raw: &[u8]) -> bool {
    memchr::memchr(b'\\', raw).is_some()
}

fn hex_val(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Decode a raw (non-NULL) field, appending the value to `out`.
pub fn unescape_into(raw: &[u8], out: &mut Vec<u8>) -> Result<(), CodecError> {
    let mut i = 0;
    while i < raw.len() {
        let Some(off) = memchr::memchr(b'\\', &raw[i..]) else {
            out.extend_from_slice(&raw[i..]);
            return Ok(());
        };
        out.extend_from_slice(&raw[i..i + off]);
        i += off + 1;
        let Some(&c) = raw.get(i) else {
            return Err(CodecError::TrailingBackslash);
        };
        i += 1;
        match c {
            b'0'..=b'7' => {
                let mut v = u32::from(c - b'0');
                for _ in 0..2 {
                    match raw.get(i) {
                        Some(&d @ b'0'..=b'7') => {
                            v = v * 8 + u32::from(d - b'0');
                            i += 1;
                        }
                        _ => break,
                    }
                }
                out.push((v & 0xff) as u8);
            }
            b'x' => match raw.get(i).and_then(|&d| hex_val(d)) {
                Some(h) => {
                    i += 1;
                    let mut v = h;
                    if let Some(l) = raw.get(i).and_then(|&d| hex_val(d)) {
                        v = v * 16 + l;
                        i += 1;
                    }
                    out.push(v);
                }
                None => out.push(b'x'),
            },
            b'b' => out.push(0x08),
            b'f' => out.push(0x0c),
            b'n' => out.push(b'\n'),
            b'r' => out.push(b'\r'),
            b't' => out.push(b'\t'),
            b'v' => out.push(0x0b),
            other => out.push(other),
        }
    }
    Ok(())
}

/// The escape letter of a byte `escape_into` escapes.
#[inline]
fn escape_letter(b: u8) -> Option<u8> {
    Some(match b {
        b'\\' => b'\\',
        b'\t' => b't',
        b'\n' => b'n',
        b'\r' => b'r',
        0x08 => b'b',
        0x0c => b'f',
        0x0b => b'v',
        _ => return None,
    })
}

/// Whether COPY text escapes `b` (0x08..=0x0d and `\\`, the bytes `escape_letter` maps).
fn is_escapable(b: u8) -> bool {
    b.wrapping_sub(0x08) < 6 || b == b'\\'
}

/// Bit `i` set where `block[i]` is escapable.
#[cfg(target_arch = "x86_64")]
fn escapable_mask(block: &[u8; 16]) -> u32 {
    use std::arch::x86_64::*;
    // SAFETY: SSE2 is part of x86_64; the load is unaligned and reads exactly 16 bytes.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast());
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        // b - 8 <= 5, unsigned: equal to its minimum with 5.
        let d = _mm_sub_epi8(v, _mm_set1_epi8(8));
        let control = _mm_cmpeq_epi8(_mm_min_epu8(d, _mm_set1_epi8(5)), d);
        _mm_movemask_epi8(_mm_or_si128(backslash, control)) as u32
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn escapable_mask(block: &[u8; 16]) -> u32 {
    block
        .iter()
        .enumerate()
        .fold(0, |m, (i, &b)| m | (u32::from(is_escapable(b)) << i))
}

/// Escape `buf[from..]` in place, as `escape_into` would (no second buffer: a huge masked value
/// is not held twice).
pub fn escape_in_place(buf: &mut Vec<u8>, from: usize) {
    let old_len = buf.len();
    // Blocks of 16 from the end down; the head shorter than a block byte by byte. The masks are
    // taken before any byte moves: the rewrite below only writes at or after the escape it is
    // at, never before it.
    let blocks = (old_len - from) / 16;
    let head_end = old_len - blocks * 16;
    let block_at = |buf: &[u8], k: usize| -> u32 {
        let start = head_end + 16 * k;
        escapable_mask(buf[start..start + 16].try_into().expect("16 bytes"))
    };
    let mut extra = buf[from..head_end]
        .iter()
        .filter(|&&b| is_escapable(b))
        .count();
    for k in 0..blocks {
        extra += block_at(buf, k).count_ones() as usize;
    }
    if extra == 0 {
        return;
    }
    buf.resize(old_len + extra, 0);
    // `buf[from..r]` is not yet rewritten; its escaped form ends at `w`.
    let (mut r, mut w) = (old_len, old_len + extra);
    let mut rewrite = |buf: &mut Vec<u8>, p: usize| {
        let run = r - (p + 1);
        buf.copy_within(p + 1..r, w - run);
        w -= run;
        buf[w - 1] = escape_letter(buf[p]).expect("an escapable byte");
        buf[w - 2] = b'\\';
        w -= 2;
        r = p;
    };
    for k in (0..blocks).rev() {
        let mut mask = block_at(buf, k);
        while mask != 0 {
            let bit = 31 - mask.leading_zeros() as usize;
            rewrite(buf, head_end + 16 * k + bit);
            mask &= !(1 << bit);
        }
    }
    for p in (from..head_end).rev() {
        if is_escapable(buf[p]) {
            rewrite(buf, p);
        }
    }
    debug_assert_eq!(r, w, "every escape written");
}

/// Encode a value as COPY text, appending to `out` (PostgreSQL's `CopyAttributeOutText`).
pub fn escape_into(value: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    for (i, &b) in value.iter().enumerate() {
        let esc = match b {
            b'\\' => b'\\',
            b'\t' => b't',
            b'\n' => b'n',
            b'\r' => b'r',
            0x08 => b'b',
            0x0c => b'f',
            0x0b => b'v',
            _ => continue,
        };
        out.extend_from_slice(&value[start..i]);
        out.push(b'\\');
        out.push(esc);
        start = i + 1;
    }
    out.extend_from_slice(&value[start..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn unescape(raw: &[u8]) -> Vec<u8> {
        let mut v = Vec::new();
        unescape_into(raw, &mut v).unwrap();
        v
    }

    fn fields(row: &[u8]) -> Vec<Vec<u8>> {
        let mut v = Vec::new();
        for_each_field(row, |_, f| v.push(f.to_vec()));
        v
    }

    #[test]
    fn decodes_every_escape() {
        assert_eq!(
            unescape(b"a\\\\b\\tc\\nd\\re\\bf\\fg\\vh"),
            b"a\\b\tc\nd\re\x08f\x0cg\x0bh"
        );
        assert_eq!(unescape(b"\\101\\60\\0x"), b"A0\0x");
        assert_eq!(unescape(b"\\x41\\x4g\\xz"), b"A\x04gxz");
        assert_eq!(unescape(b"\\N\\."), b"N.");
        assert_eq!(
            unescape_into(b"abc\\", &mut Vec::new()),
            Err(CodecError::TrailingBackslash)
        );
    }

    #[test]
    fn splits_fields_respecting_escaped_tabs() {
        assert_eq!(
            fields(b"1\t\\N\tx\\\ty"),
            vec![b"1".to_vec(), b"\\N".to_vec(), b"x\\\ty".to_vec()]
        );
        assert_eq!(fields(b"a\\\\\tb"), vec![b"a\\\\".to_vec(), b"b".to_vec()]);
        assert_eq!(fields(b""), vec![Vec::<u8>::new()]);
        assert!(check_row_end(b"abc\\").is_err());
        assert!(check_row_end(b"abc\\\\").is_ok());
    }

    #[test]
    fn escapes_like_postgres() {
        let mut out = Vec::new();
        escape_into(b"tab\there\\ \\N nl\n cr\r", &mut out);
        assert_eq!(out, b"tab\\there\\\\ \\\\N nl\\n cr\\r");
    }

    proptest! {
        #[test]
        fn escape_then_unescape_is_identity(value in proptest::collection::vec(any::<u8>(), 0..64)) {
            let mut enc = Vec::new();
            escape_into(&value, &mut enc);
            prop_assert!(!enc.contains(&b'\t') && !enc.contains(&b'\n') && !enc.contains(&b'\r'));
            prop_assert_eq!(unescape(&enc), value);
        }

        #[test]
        fn rows_of_escaped_values_split_back(values in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..16), 1..8)) {
            let mut row = Vec::new();
            for (i, v) in values.iter().enumerate() {
                if i > 0 { row.push(b'\t'); }
                escape_into(v, &mut row);
            }
            let decoded: Vec<Vec<u8>> = fields(&row).iter().map(|f| unescape(f)).collect();
            prop_assert_eq!(decoded, values);
            prop_assert!(check_row_end(&row).is_ok());
        }
    }

    proptest! {
        /// The one-scan walk of a batch gives each row's fields as `for_each_field` does.
        #[test]
        fn the_batch_walk_splits_rows_as_for_each_field(
            rows in proptest::collection::vec(
                proptest::collection::vec(proptest::prop_oneof![Just(b'\\'), Just(b'\t'), Just(b'a')], 0..12),
                0..6,
            ),
        ) {
            let mut batch = Vec::new();
            let mut expected = Vec::new();
            for row in &rows {
                batch.extend_from_slice(row);
                batch.push(b'\n');
                let mut fields = Vec::new();
                let n = for_each_field(row, |i, raw| fields.push((i, raw.to_vec())));
                expected.push((fields, row.clone(), n));
            }
            let mut got = Vec::new();
            let fields = std::cell::RefCell::new(Vec::new());
            for_each_row_field::<()>(
                &batch,
                |i, raw| {
                    fields.borrow_mut().push((i, raw.to_vec()));
                    Ok(())
                },
                |row, n| {
                    got.push((fields.take(), row.to_vec(), n));
                    Ok(())
                },
            )
            .unwrap();
            prop_assert_eq!(got, expected);
        }
    }

    #[test]
    fn escape_in_place_equals_escape_into() {
        for value in [
            &b""[..],
            b"plain",
            b"a\tb\nc\\d\re\x08f\x0cg\x0bh",
            b"\\\\\n",
            b"\n",
        ] {
            let mut expected = b"prefix".to_vec();
            escape_into(value, &mut expected);
            let mut got = b"prefix".to_vec();
            got.extend_from_slice(value);
            escape_in_place(&mut got, 6);
            assert_eq!(got, expected, "{value:?}");
        }
    }

    proptest::proptest! {
        /// Every byte value, at any place: the in-place escape is `escape_into`'s.
        #[test]
        fn escape_in_place_equals_escape_into_on_any_bytes(
            value in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::prelude::any::<u8>(),
                    proptest::prop_oneof![Just(b'\\'), Just(b'\n'), Just(b'\t'), 0x07u8..=0x0e, Just(b'a')],
                ],
                0..100,
            ),
        ) {
            let mut expected = b"pre".to_vec();
            escape_into(&value, &mut expected);
            let mut got = b"pre".to_vec();
            got.extend_from_slice(&value);
            escape_in_place(&mut got, 3);
            proptest::prop_assert_eq!(got, expected);
        }
    }
}
