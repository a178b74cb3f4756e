//! The quick test before a field is decoded and searched: whether a raw COPY field (escapes and
//! all, as it is in the dump) may hold anything [`super::find`] would report in the decoded value.
//! It must never say no where `find` says yes; it may say yes where `find` then finds nothing.
//!
//! Why: on free text without personal data, most fields that hold a digit hold a short number (a
//! reference, an id in a path). Decoding and running every detector over them made `pii_scan`
//! several times slower than `email_scan`, which rejects a field with one search for `@`.
//!
//! How: one pass over the raw bytes, 16 at a time ([`stops16`], SSE2), stopping only at the bytes
//! a finding needs: a digit, `@`, `:`, `-`, `.` and `\`. Each stop is judged on the spot:
//! - `@`: an email may be there;
//! - a digit starts a *cluster* (digits joined by spaces, dashes, dots, …, as `find` groups them),
//!   which must have a minimum size or shape for a digit-made kind:
//!   - 7 digits or more (phones need 8, DNI/NIE 7, SSN 9, cards 13, NIRs 13);
//!   - 6 digits followed by a letter (a Corsican NIR's first cluster, `2 90 03 2A`);
//!   - a dot and 4 digits (an IPv4 address; coordinates need more);
//!   - 2 digits right after two capital letters (an IBAN's check digits);
//! - `:`: IPv6 addresses and colon-separated MACs need two colons with at most a hex group between;
//! - `-` or `.`: a MAC's separator, with its hex digits before it (so a MAC without a decimal
//!   digit, `ab-cd-ef-ab-cd-ef`, is found too);
//! - `\`: pg_dump escapes only a backslash and control characters (`\\`, `\n`, `\t`, …), which
//!   decode to bytes no finding is made of; any other escape (an octal or hex one could stand for
//!   any byte) sends the field to `find`, so decoding can never make a finding the raw text hides.

use super::{joins, net, Kind};

/// Whether `raw` may hold something of `kinds` (a set of [`Kind::bit`]s). A masker calling it for
/// every field keeps a [`Prefilter`] instead.
pub fn may_hold(raw: &[u8], kinds: u8) -> bool {
    Prefilter::new(kinds).may_hold(raw)
}

/// [`may_hold`] for one set of kinds, with what can be decided once (the kinds' flags, whether
/// the CPU has AVX2) decided at construction: it runs for every field of a column.
#[derive(Clone, Copy)]
pub struct Prefilter {
    kinds: Wanted,
    scan: fn(&[u8], Wanted) -> bool,
}

impl Prefilter {
    pub fn new(kinds: u8) -> Prefilter {
        #[cfg(target_arch = "x86_64")]
        if std::arch::is_x86_feature_detected!("avx2") {
            return Prefilter {
                kinds: Wanted::new(kinds),
                scan: scan_avx2,
            };
        }
        Prefilter {
            kinds: Wanted::new(kinds),
            scan: scan_sse2,
        }
    }

    #[inline]
    pub fn may_hold(&self, raw: &[u8]) -> bool {
        (self.scan)(raw, self.kinds)
    }
}

/// The kinds looked for, as the flags the judge tests.
#[derive(Clone, Copy)]
struct Wanted {
    email: bool,
    /// IPv6 or MAC addresses: colon groups.
    colon_kinds: bool,
    mac: bool,
    /// A kind made of digits (phones, cards, IBANs, IPv4, national ids, coordinates).
    digit_kinds: bool,
}

impl Wanted {
    fn new(kinds: u8) -> Wanted {
        let want = |k: Kind| kinds & k.bit() != 0;
        Wanted {
            email: want(Kind::Email),
            colon_kinds: want(Kind::Ip) || want(Kind::Mac),
            mac: want(Kind::Mac),
            digit_kinds: [
                Kind::Phone,
                Kind::Card,
                Kind::Iban,
                Kind::Ip,
                Kind::NationalId,
                Kind::Geo,
            ]
            .iter()
            .any(|&k| want(k)),
        }
    }
}

/// The scan with 16-byte blocks (SSE2, in every x86_64 CPU), and byte by byte below 16 bytes.
fn scan_sse2(raw: &[u8], kinds: Wanted) -> bool {
    let mut judge = Judge::new(raw, kinds);
    if raw.len() >= 16 {
        return judge_blocks!(&mut judge, 16, stops16);
    }
    (0..raw.len()).any(|at| is_stop(raw[at]) && at >= judge.skip_until && judge.stop(at))
}

/// The scan with 32-byte blocks: only chosen by [`Prefilter::new`] where the CPU has AVX2.
#[cfg(target_arch = "x86_64")]
fn scan_avx2(raw: &[u8], kinds: Wanted) -> bool {
    if raw.len() < 32 {
        return scan_sse2(raw, kinds);
    }
    // SAFETY: this function is only chosen where the CPU has AVX2 (`Prefilter::new`).
    unsafe { judge_blocks_avx2(Judge::new(raw, kinds)) }
}

/// Judge the stops of `$judge.raw` (at least `$width` bytes long), found `$width` bytes at a time
/// by `$stops` (bit `i` set where byte `i` of the block is a stop).
macro_rules! judge_blocks {
    ($judge:expr, $width:literal, $stops:expr) => {{
        let judge: &mut Judge<'_> = $judge;
        let raw = judge.raw;
        let n = raw.len();
        let mut base = 0;
        let mut hit = false;
        'blocks: while base < n {
            // The last block ends at the field's end, overlapping the one before: its stops
            // before `base` were judged already.
            let start = base.min(n - $width);
            let block: &[u8; $width] = raw[start..start + $width].try_into().expect("a block");
            let mut stops = $stops(block) >> (base - start) << (base - start);
            while stops != 0 {
                let at = start + stops.trailing_zeros() as usize;
                stops &= stops - 1;
                if at >= judge.skip_until && judge.stop(at) {
                    hit = true;
                    break 'blocks;
                }
            }
            base = start + $width;
        }
        hit
    }};
}
use judge_blocks;

/// [`may_hold`]'s loop with 32-byte blocks ([`stops32`]).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn judge_blocks_avx2(mut judge: Judge<'_>) -> bool {
    judge_blocks!(&mut judge, 32, stops32)
}

/// [`stops16`] for 32 bytes, with AVX2.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn stops32(block: &[u8; 32]) -> u64 {
    use std::arch::x86_64::{
        _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_min_epu8, _mm256_movemask_epi8,
        _mm256_or_si256, _mm256_set1_epi8, _mm256_sub_epi8,
    };
    // SAFETY: the unaligned load reads exactly the 32 bytes of `block`.
    let x = unsafe { _mm256_loadu_si256(block.as_ptr().cast()) };
    let t = _mm256_sub_epi8(x, _mm256_set1_epi8(b'-' as i8));
    let range = _mm256_cmpeq_epi8(_mm256_min_epu8(t, _mm256_set1_epi8((b':' - b'-') as i8)), t);
    let at = _mm256_cmpeq_epi8(x, _mm256_set1_epi8(b'@' as i8));
    let backslash = _mm256_cmpeq_epi8(x, _mm256_set1_epi8(b'\\' as i8));
    u64::from(_mm256_movemask_epi8(_mm256_or_si256(range, _mm256_or_si256(at, backslash))) as u32)
}

/// Whether byte `b` is one [`may_hold`] stops at: a digit, `@`, `\`, `:`, or `-`, `.` (MAC
/// separators); `/`, between them in ASCII, comes along and is passed over.
fn is_stop(b: u8) -> bool {
    b.wrapping_sub(b'-') <= b':' - b'-' || b == b'@' || b == b'\\'
}

/// Bit `i` set where `block[i]` [`is_stop`]: 16 bytes in a few SSE2 instructions (part of every
/// x86_64 CPU), so that the bytes between stops cost about what `memchr` costs.
#[cfg(target_arch = "x86_64")]
fn stops16(block: &[u8; 16]) -> u64 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8, _mm_sub_epi8,
    };
    // SAFETY: the unaligned load reads exactly the 16 bytes of `block`; SSE2 is in the x86_64
    // baseline, so every instruction here exists on the CPU running it.
    unsafe {
        let x = _mm_loadu_si128(block.as_ptr().cast());
        // `-` … `:` is one range: x - '-' (wrapping) is at most ':' - '-' exactly there.
        let t = _mm_sub_epi8(x, _mm_set1_epi8(b'-' as i8));
        let range = _mm_cmpeq_epi8(_mm_min_epu8(t, _mm_set1_epi8((b':' - b'-') as i8)), t);
        let at = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'@' as i8));
        let backslash = _mm_cmpeq_epi8(x, _mm_set1_epi8(b'\\' as i8));
        u64::from(_mm_movemask_epi8(_mm_or_si128(range, _mm_or_si128(at, backslash))) as u16)
    }
}

#[cfg(not(target_arch = "x86_64"))]
fn stops16(block: &[u8; 16]) -> u64 {
    stops16_scalar(block)
}

#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn stops16_scalar(block: &[u8; 16]) -> u64 {
    block
        .iter()
        .enumerate()
        .fold(0, |m, (i, &b)| m | (u64::from(is_stop(b)) << i))
}

/// What [`may_hold`] decides at each stop, in order, and what it remembers between them.
struct Judge<'a> {
    raw: &'a [u8],
    email: bool,
    /// IPv6 or MAC addresses: colon groups.
    colon_kinds: bool,
    mac: bool,
    digit_kinds: bool,
    /// Stops before this were judged already: the rest of a digit cluster (its separators
    /// included, see [`Judge::cluster`]), or the second byte of an escape.
    skip_until: usize,
    last_colon: Option<usize>,
}

impl<'a> Judge<'a> {
    fn new(raw: &'a [u8], kinds: Wanted) -> Self {
        Judge {
            raw,
            email: kinds.email,
            colon_kinds: kinds.colon_kinds,
            mac: kinds.mac,
            digit_kinds: kinds.digit_kinds,
            skip_until: 0,
            last_colon: None,
        }
    }

    /// Whether the field may hold a finding, judged at stop byte `raw[at]`.
    #[inline(always)]
    fn stop(&mut self, at: usize) -> bool {
        let raw = self.raw;
        let b = raw[at];
        // Tested by how common they are in free text (a chain of tests is predicted better than
        // one jump through a table here).
        if b == b'\\' {
            // pg_dump writes only the escapes of a backslash and of control characters; any
            // other (an octal or hex one could be any byte) sends the field to `find`.
            self.skip_until = at + 2;
            !matches!(
                raw.get(at + 1),
                Some(b'\\' | b'b' | b'f' | b'n' | b'r' | b't' | b'v')
            )
        } else if b.is_ascii_digit() {
            self.cluster(at)
        } else if b == b'-' || b == b'.' {
            self.mac && mac_separator(raw, at)
        } else if b == b':' {
            let group = self
                .last_colon
                .is_some_and(|p| colon_group(&raw[p + 1..at]));
            self.last_colon = Some(at);
            self.colon_kinds && group
        } else {
            // `@`, or the `/` that comes along with the range of stops.
            b == b'@' && self.email
        }
    }

    /// The digit cluster starting at `raw[start]`. Its digits and separators are not stops any
    /// more, so the MAC separators among them are judged here.
    #[inline(always)]
    fn cluster(&mut self, start: usize) -> bool {
        let (hit, end) = judge_cluster(self.raw, start, self.digit_kinds, self.mac);
        self.skip_until = end;
        hit
    }
}

/// [`Judge::cluster`]'s work, out of line and on values (the judge's fields stay in registers).
#[inline(never)]
fn judge_cluster(raw: &[u8], start: usize, digit_kinds: bool, mac: bool) -> (bool, usize) {
    let (qualifies, end) = cluster_at(raw, start);
    let hit = (digit_kinds && qualifies)
        || (mac && (start..end).any(|at| matches!(raw[at], b'-' | b'.') && mac_separator(raw, at)));
    (hit, end)
}

/// Whether the bytes between two colons are at most a group of hex digits (`::`, `:db8:`, `:1a:`):
/// every IPv6 address and colon-separated MAC has such a pair.
fn colon_group(between: &[u8]) -> bool {
    between.len() <= 4 && between.iter().all(u8::is_ascii_hexdigit)
}

/// Whether `raw[at]` (a `-` or `.`) may be a MAC's separator: two hex digits before it, or four
/// before a dot.
#[inline(never)]
fn mac_separator(raw: &[u8], at: usize) -> bool {
    [2, 4]
        .iter()
        .any(|&back| at >= back && net::mac_at(raw, at - back).is_some())
}

/// Whether the decoded text has two capital letters right before `raw[start]`: the raw byte before
/// is one (an escape of a capital ends with it), and so is the one before that, or the one before
/// its escape's backslash.
fn two_capitals_before(raw: &[u8], start: usize) -> bool {
    let at = |i: Option<usize>| i.and_then(|i| raw.get(i)).copied();
    let upper = |b: Option<u8>| b.is_some_and(|b| b.is_ascii_uppercase());
    upper(at(start.checked_sub(1)))
        && (upper(at(start.checked_sub(2)))
            || (at(start.checked_sub(2)) == Some(b'\\') && upper(at(start.checked_sub(3)))))
}

/// The digit cluster starting at digit `raw[start]`: whether it has one of the sizes or shapes in
/// the module header, and where it ends (its trailing joining bytes included).
fn cluster_at(raw: &[u8], start: usize) -> (bool, usize) {
    let n = raw.len();
    let mut i = start;
    let (mut end, mut digits, mut dot) = (start, 0usize, false);
    while i < n {
        let b = raw[i];
        if b.is_ascii_digit() {
            digits += 1;
            i += 1;
            end = i;
        } else if joins(b) {
            dot |= b == b'.';
            i += 1;
        } else if b == b'\\' && raw.get(i + 1).is_some_and(|&e| joins(e)) {
            dot |= raw[i + 1] == b'.';
            i += 2;
        } else {
            break;
        }
    }
    let letter_after = raw.get(end).is_some_and(|&b| {
        b.is_ascii_alphabetic()
            || (b == b'\\'
                && raw.get(end + 1).is_some_and(|&e| {
                    // `\b`, `\f`, `\n`, `\r`, `\t`, `\v` are control characters, not letters.
                    e.is_ascii_alphabetic() && !b"bfnrtv".contains(&e)
                }))
    });
    let iban = two_capitals_before(raw, start);
    let qualifies = digits >= 7
        || (digits >= 6 && letter_after)
        || (dot && digits >= 4)
        || (iban && digits >= 2);
    (qualifies, i)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::copy;

    fn found(decoded: &[u8], kinds: u8) -> bool {
        let mut any = false;
        super::super::find(decoded, kinds, |_, _, _| any = true);
        any
    }

    /// The raw form (as in a dump) of `decoded`.
    fn escaped(decoded: &[u8]) -> Vec<u8> {
        let mut raw = Vec::new();
        copy::escape_into(decoded, &mut raw);
        raw
    }

    #[test]
    fn short_numbers_are_passed_over_and_findings_are_not() {
        let all = Kind::all();
        for text in [
            "see ticket 123456 for details",
            "ref:\t424242\nfrom GB",
            "C:\\Users\\support\\tickets\\8812",
            "ref: 424242 see C:\\Users\\support\\tickets\\8812",
            "version 1.2 of the form, page 12",
        ] {
            assert!(!may_hold(&escaped(text.as_bytes()), all), "{text}");
            assert!(!found(text.as_bytes(), all), "{text}");
        }
        for text in [
            "call +33 5 62 02 97 93 tonight",
            "card 4111 1111 1111 1111",
            "from 10.1.2.3",
            "IBAN GB82 WEST 1234 5698 7654 32",
            "NIR 2 90 03 2A 123 456 78",
            "mac 00-1a-2b-3c-4d-5e",
            "mac ab-cd-ef-ab-cd-ef",
            "mac abcd.efab.cdef",
            "write to ann@corp.example",
            "at 48.8584, 2.2945",
            "DNI 12345678Z",
            "host 1:: and fe80::1",
        ] {
            assert!(may_hold(&escaped(text.as_bytes()), all), "{text}");
        }
        // A hand-made dump may spell a byte as an octal escape: such a field is always searched.
        assert!(may_hold(b"a\\101b", all));
        // `\:` is a colon: `1\:\:` is the address `1::`.
        assert!(may_hold(b"1\\:\\:", Kind::Ip.bit()));
        // Escapes pg_dump does not write hide findings from the raw text, in blocks too.
        let pad = "free text long enough for a block or two of the vector path ";
        for raw in [
            "ann\\100corp.example",
            "ann\\x40corp.example",
            "fe80\\:\\:1",
            "\\\\\\101\\x41",
        ] {
            for text in [
                raw.to_string(),
                format!("{pad}{raw}"),
                format!("{pad}{pad}{raw}{pad}"),
            ] {
                assert!(may_hold(text.as_bytes(), Kind::all()), "{text}");
            }
        }
        // And those it writes do not: a Windows path, line breaks, tabs.
        let plain = format!("{pad}C:\\\\Users\\\\ann\\n\\tok\\r\\n{pad}");
        assert!(!may_hold(plain.as_bytes(), Kind::all()), "{plain}");
        assert!(!may_hold(b"a\\\\101b", Kind::Phone.bit()));
    }

    #[test]
    fn a_mac_without_a_decimal_digit_is_searched() {
        for text in ["mac ab-cd-ef-ab-cd-ef here", "mac abcd.efab.cdef"] {
            assert!(found(text.as_bytes(), Kind::Mac.bit()), "{text}");
            assert!(may_hold(text.as_bytes(), Kind::Mac.bit()), "{text}");
        }
        assert!(!may_hold(b"a well-made end.", Kind::Mac.bit()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

        /// The SSE2 stops are the bytes [`is_stop`] names, at every position.
        #[test]
        fn the_vector_stops_are_the_scalar_ones(block in proptest::array::uniform16(any::<u8>())) {
            prop_assert_eq!(stops16(&block), stops16_scalar(&block));
        }

        #[test]
        #[cfg(target_arch = "x86_64")]
        fn the_avx2_stops_are_the_scalar_ones(
            lo in proptest::array::uniform16(any::<u8>()),
            hi in proptest::array::uniform16(any::<u8>()),
        ) {
            if std::arch::is_x86_feature_detected!("avx2") {
                let mut block = [0u8; 32];
                block[..16].copy_from_slice(&lo);
                block[16..].copy_from_slice(&hi);
                // SAFETY: the CPU has AVX2, checked just above.
                let stops = unsafe { stops32(&block) };
                prop_assert_eq!(stops, stops16_scalar(&lo) | stops16_scalar(&hi) << 16);
            }
        }

        #[test]
        fn never_rejects_macs_find_reports(
            before in "[ a-zA-Z0-9:.\\-]{0,6}",
            mac in "([0-9a-fA-F]{2}[-.:]){5}[0-9a-fA-F]{2}|([0-9a-fA-F]{4}\\.){2}[0-9a-fA-F]{4}",
            after in "[ a-zA-Z0-9:.\\-]{0,6}",
        ) {
            let decoded = format!("{before}{mac}{after}");
            let raw = escaped(decoded.as_bytes());
            if found(decoded.as_bytes(), Kind::Mac.bit()) {
                prop_assert!(may_hold(&raw, Kind::Mac.bit()), "{decoded:?}");
            }
        }

        /// Never a "no" where `find` on the decoded value reports something.
        #[test]
        fn never_rejects_what_find_reports(
            decoded in "[0-9 .,:@()+\\-\\\\\t\nA-Fa-zGXZ]{0,48}|([0-9a-f]{0,4}:){2,8}[0-9a-f]{0,4}",
            kinds in 1u8..=255,
        ) {
            let raw = escaped(decoded.as_bytes());
            if found(decoded.as_bytes(), kinds) {
                prop_assert!(may_hold(&raw, kinds), "{decoded:?} ({kinds:#b})");
            }
        }

        #[test]
        fn never_rejects_digit_runs_find_reports(
            parts in proptest::collection::vec("[0-9]{1,5}|[ .\\-+()]|[A-Z]{1,2}|\\\\[ .ntA-Z]", 0..16),
            kinds in 1u8..=255,
        ) {
            let decoded: String = parts.concat();
            let raw = escaped(decoded.as_bytes());
            if found(decoded.as_bytes(), kinds) {
                prop_assert!(may_hold(&raw, kinds), "{decoded:?} ({kinds:#b})");
            }
        }

        /// The same for raw text with escapes of every kind (a hand-made dump may write `\:`,
        /// `\101`, runs of backslashes), across block boundaries.
        #[test]
        fn never_rejects_what_find_reports_behind_any_escape(
            parts in proptest::collection::vec(
                "[0-9]{1,4}|[ .:@\\-]|[a-fA-Z]{1,2}|[\\\\]{1,5}[0-9a-z .:@\\-]|\\\\(100|x40|:)", 0..40),
            kinds in 1u8..=255,
        ) {
            let raw: String = parts.concat();
            let mut decoded = Vec::new();
            if copy::unescape_into(raw.as_bytes(), &mut decoded).is_ok() && found(&decoded, kinds) {
                prop_assert!(may_hold(raw.as_bytes(), kinds), "{raw:?} ({kinds:#b})");
            }
        }
    }
}
