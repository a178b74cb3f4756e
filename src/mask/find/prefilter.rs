//! The quick test before a field is decoded and searched: whether a raw COPY field (escapes and
//! all, as it is in the dump) may hold anything [`super::find`] would report in the decoded value.
//! It must never say no where `find` says yes; it may say yes where `find` then finds nothing.
//!
//! Why: on free text without personal data, most fields that hold a digit hold a short number (a
//! reference, an id in a path). Decoding and running every detector over them made `pii_scan`
//! several times slower than `email_scan`, which rejects a field with one search for `@`. Every
//! digit-made kind needs a cluster of digits (digits joined by spaces, dashes, dots, …, as `find`
//! groups them) of a minimum size or shape, which the raw bytes show:
//! - 7 digits or more (phones need 8, DNI/NIE 7, SSN 9, cards 13, NIRs 13);
//! - 6 digits followed by a letter (a Corsican NIR's first cluster, `2 90 03 2A`);
//! - a dot and 4 digits (an IPv4 address; coordinates need more);
//! - 2 digits right after two capital letters (an IBAN's check digits);
//!
//! and IPv6 addresses and colon-separated MACs need two colons with at most a hex group between.
//!
//! Escapes: an octal or hex escape (`\101`, `\x41`) could stand for any byte, so a field holding
//! one always passes (pg_dump never writes them; a hand-made dump may). Any other escape is a
//! backslash and one character: it joins a cluster when that character does, and an escaped letter
//! counts as a letter, so that decoding can only make clusters smaller.

use super::{joins, net, next_digit, Kind};

/// Whether `raw` may hold something of `kinds` (a set of [`Kind::bit`]s).
pub fn may_hold(raw: &[u8], kinds: u8) -> bool {
    let want = |k: Kind| kinds & k.bit() != 0;
    // Most text holds no digit, `@` or `:` at all. Branch-free within a chunk (so it vectorizes).
    let candidate = raw.chunks(32).any(|c| {
        c.iter().fold(false, |a, &b| {
            a | (b.wrapping_sub(b'0') < 10) | (b == b'@') | (b == b':')
        })
    });
    // (A MAC written with dashes or dots and no decimal digit, 1 address in 130,000, is passed
    // over here: looking for one in every field would cost more than the rest of the test.)
    if !candidate {
        return false;
    }
    if want(Kind::Email) && memchr::memchr(b'@', raw).is_some() {
        return true;
    }
    if has_numeric_escape(raw) {
        return true;
    }
    // IPv6 addresses and colon-separated MACs have two colons or more.
    let colons =
        memchr::memchr(b':', raw).is_some_and(|i| memchr::memchr(b':', &raw[i + 1..]).is_some());
    if colons && (want(Kind::Ip) || want(Kind::Mac)) && colon_group(raw) {
        return true;
    }
    if want(Kind::Mac) {
        let mut found = false;
        net::scan_macs(raw, colons, &mut |_, _| found = true);
        if found {
            return true;
        }
    }
    let digit_kinds = Kind::Phone.bit()
        | Kind::Card.bit()
        | Kind::Iban.bit()
        | Kind::Ip.bit()
        | Kind::NationalId.bit()
        | Kind::Geo.bit();
    kinds & digit_kinds != 0 && has_cluster(raw)
}

/// Two colons with at most a group of hex digits between them (`::`, `:db8:`, `:1a:`): every
/// IPv6 address and colon-separated MAC has such a pair. An escape's backslash may stand between
/// them too (`\:` is a colon), so it counts as a hex digit, and a group may take 8 raw bytes.
fn colon_group(raw: &[u8]) -> bool {
    let mut last: Option<usize> = None;
    for at in memchr::memchr_iter(b':', raw) {
        if let Some(p) = last {
            let between = &raw[p + 1..at];
            if between.len() <= 8 && between.iter().all(|&b| b.is_ascii_hexdigit() || b == b'\\') {
                return true;
            }
        }
        last = Some(at);
    }
    false
}

/// A backslash followed by a digit or `x`: an octal or hex escape (`\\` pairs skipped).
fn has_numeric_escape(raw: &[u8]) -> bool {
    let mut i = 0;
    while let Some(k) = memchr::memchr(b'\\', &raw[i..]) {
        let at = i + k;
        match raw.get(at + 1) {
            Some(b) if b.is_ascii_digit() || *b == b'x' => return true,
            _ => i = at + 2,
        }
        if i >= raw.len() {
            return false;
        }
    }
    false
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

/// Whether a digit cluster of `raw` has one of the sizes or shapes in the module header.
fn has_cluster(raw: &[u8]) -> bool {
    let n = raw.len();
    let mut i = 0;
    while let Some(start) = next_digit(raw, i) {
        i = start;
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
        if digits >= 7
            || (digits >= 6 && letter_after)
            || (dot && digits >= 4)
            || (iban && digits >= 2)
        {
            return true;
        }
        i = i.max(end);
    }
    false
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
        assert!(!may_hold(b"a\\\\101b", Kind::Phone.bit()));
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4000))]

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
    }
}
