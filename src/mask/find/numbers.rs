//! Payment numbers and phones inside text: IBANs (mod-97), card numbers (Luhn) and phone shapes.
//! Each detector works at a candidate position or over a range of the field that the dispatcher
//! ([`super::find`]) picked, and looks at the whole field for its boundaries.

use std::sync::OnceLock;

/// The end of the IBAN starting at `i` (ISO 13616): two capital letters, two check digits and 11
/// to 30 letters or digits, in one run or in groups separated by single spaces
/// (`FR76 3000 6000 0112 3456 7890 189`), not touching other letters or digits, whose mod-97 check
/// (ISO 7064) gives 1. A run that goes on past the IBAN's length is cut back to the longest prefix
/// that checks, so a word after a grouped IBAN does not hide it.
pub(super) fn iban_at(raw: &[u8], i: usize) -> Option<usize> {
    let start_ok = i + 4 <= raw.len()
        && raw[i].is_ascii_uppercase()
        && raw[i + 1].is_ascii_uppercase()
        && raw[i + 2].is_ascii_digit()
        && raw[i + 3].is_ascii_digit()
        && (i == 0 || !raw[i - 1].is_ascii_alphanumeric());
    if !start_ok {
        return None;
    }
    // The alphanumeric characters (at most 34), and where each ends.
    let mut chars = [0u8; 34];
    let mut ends = [0usize; 34];
    let mut n = 0;
    let mut j = i;
    while j < raw.len() && n < 34 {
        let b = raw[j];
        if b.is_ascii_digit() || b.is_ascii_uppercase() {
            chars[n] = b;
            n += 1;
            j += 1;
            ends[n - 1] = j;
        } else if b == b' '
            && j + 1 < raw.len()
            && (raw[j + 1].is_ascii_digit() || raw[j + 1].is_ascii_uppercase())
        {
            j += 1;
        } else {
            break;
        }
    }
    (15..=n).rev().find_map(|len| {
        let end = ends[len - 1];
        let bounded = end >= raw.len() || !raw[end].is_ascii_alphanumeric();
        // A cut inside a group is not an IBAN's end (groups are separated by spaces).
        (bounded && iban_checks(&chars[..len])).then_some(end)
    })
}

/// The ISO 7064 mod-97 check of an IBAN's characters: the first four moved to the end, letters
/// as 10..35, the number modulo 97 is 1.
pub fn iban_checks(chars: &[u8]) -> bool {
    if chars.len() < 5 {
        return false;
    }
    let mut r: u32 = 0;
    for &b in chars[4..].iter().chain(&chars[..4]) {
        let v = match b {
            b'0'..=b'9' => u32::from(b - b'0'),
            b'A'..=b'Z' => u32::from(b - b'A') + 10,
            _ => return false,
        };
        r = if v >= 10 {
            (r * 100 + v) % 97
        } else {
            (r * 10 + v) % 97
        };
    }
    r == 1
}

/// Phone shapes: `+` and a country code with 7+ more digits (separators allowed), `(0xx) xxx-xxxx`,
/// or three digit groups separated by spaces or dashes (`020 7946 0000`, `555-123-4567`). Dates
/// (`2024-01-15`) have too few digits; IPs use dots, which only the `+` form allows. Every byte a
/// match spans between its digits is one of ` ().-` (the dispatcher relies on it).
pub(super) fn phone_re() -> &'static regex::bytes::Regex {
    static RE: OnceLock<regex::bytes::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        regex::bytes::Regex::new(
            r"(?x)
            (?:\+[0-9][0-9\ ().\-]{6,20}[0-9])
            | (?:\([0-9]{2,5}\)\ ?[0-9]{2,4}[\ \-]?[0-9]{3,5}\b)
            | (?:\b[0-9]{2,5}[\ \-][0-9]{3,4}[\ \-][0-9]{3,5}\b)",
        )
        .expect("valid phone regex")
    })
}

/// Runs of 13 to 19 digits starting in `from..to`, single spaces or dashes allowed between
/// digits, not touching other digits or letters, whose Luhn check digit is valid.
pub(super) fn scan_cards(raw: &[u8], from: usize, to: usize, mut f: impl FnMut(usize, usize)) {
    let mut i = from;
    while i < to {
        if !raw[i].is_ascii_digit() || (i > 0 && raw[i - 1].is_ascii_alphanumeric()) {
            i += 1;
            continue;
        }
        let start = i;
        let mut end = i;
        let mut digits = [0u8; 19];
        let mut n = 0usize;
        let mut too_long = false;
        let mut j = i;
        while j < raw.len() {
            let b = raw[j];
            if b.is_ascii_digit() {
                if n == 19 {
                    too_long = true;
                    break;
                }
                digits[n] = b - b'0';
                n += 1;
                j += 1;
                end = j;
            } else if (b == b' ' || b == b'-') && j + 1 < raw.len() && raw[j + 1].is_ascii_digit() {
                j += 1;
            } else {
                break;
            }
        }
        let bounded = end >= raw.len() || !raw[end].is_ascii_alphanumeric();
        if !too_long && bounded && (13..=19).contains(&n) && luhn(&digits[..n]) {
            f(start, end);
        }
        // Skip the whole run (including an over-long one).
        i = end.max(i + 1);
        while i < raw.len() && raw[i].is_ascii_digit() {
            i += 1;
        }
    }
}

/// The Luhn checksum (ISO/IEC 7812): valid when the sum is a multiple of 10.
pub fn luhn(digits: &[u8]) -> bool {
    let mut sum = 0u32;
    for (k, &d) in digits.iter().rev().enumerate() {
        let mut v = u32::from(d);
        if k % 2 == 1 {
            v *= 2;
            if v > 9 {
                v -= 9;
            }
        }
        sum += v;
    }
    sum.is_multiple_of(10)
}
