//! What the sampled values of a column hold: for `rules init` and `rules check`, counted per
//! [`Kind`] over a table's sampled rows ([`TableSample`]), so a column whose name says nothing
//! (`recipient`, `col7`, `contact`) is still recognized by what it holds.
//!
//! Inside text the value detectors of [`crate::mask::find`] find emails, phones, cards, IBANs and
//! IP addresses (an IPv4 address counts only as a whole value or where it stands alone: the
//! `5.0.1.2` of `Mozilla/5.0.1.2` is a version, not an address). Whole values are tested here for
//! person names ([`crate::names`]), MAC addresses, geographic points (`(2.35,48.85)`, `48.85, 2.35`)
//! and national ids with a checksum (Spanish DNI/NIE, French NIR) or a strict shape (US SSN).
//! The `find` module of the masking side gains its own MAC, national id and geo detectors; these
//! small ones serve the audit until it does (they judge whole sampled values, never rewrite data).

use std::collections::{BTreeMap, HashSet};
use std::hash::{Hash, Hasher};

use super::detect::Kind;
use super::schema::TableSample;
use crate::copy::{needs_unescape, unescape_into, NULL};
use crate::mask::find::{self, Kind as FindKind};

/// What one column's sampled values hold.
#[derive(Debug, Clone, Default)]
pub struct ColumnValues {
    /// Sampled values that are not NULL.
    pub non_null: usize,
    /// Per kind: (values holding it, values that are entirely it).
    pub kinds: BTreeMap<Kind, (usize, usize)>,
    /// Values holding two different kinds inside longer text (`call +33 … or write to ann@…`).
    pub mixed: usize,
    /// Values that are free text (four words or more).
    pub prose: usize,
    /// Values that are exactly a "Given Surname" pair (a subset of the `Name` count).
    pub full_names: usize,
    /// Distinct values among the one-word names (hashes, at most [`DISTINCT_CAP`]): a handful of
    /// words repeated (colours, cities) is a category, not people's names.
    pub name_words: HashSet<u64>,
    /// Whole-value IPv4 addresses whose four parts are single digits (`5.0.1.2`): version numbers.
    pub versionish: usize,
}

/// Enough distinct one-word names to tell a name column from a category.
pub const DISTINCT_CAP: usize = 64;

impl ColumnValues {
    /// How many values hold `kind`, and how many are entirely of it.
    pub fn count(&self, kind: Kind) -> (usize, usize) {
        self.kinds.get(&kind).copied().unwrap_or((0, 0))
    }

    /// Whether the values are mostly text in which other kinds are embedded (not whole values).
    pub fn is_free_text(&self) -> bool {
        self.non_null > 0 && self.prose * 2 >= self.non_null
    }
}

/// Count what every sampled value of every column of `t` holds.
pub fn analyse(t: &TableSample) -> Vec<ColumnValues> {
    let n = t.columns.len();
    let mut out = vec![ColumnValues::default(); n];
    let mut buf = Vec::new();
    t.for_each_sampled(|i, raw| {
        if i >= n || raw == NULL {
            return;
        }
        let value: &[u8] = if needs_unescape(raw) {
            buf.clear();
            if unescape_into(raw, &mut buf).is_err() {
                return;
            }
            &buf
        } else {
            raw
        };
        observe(&mut out[i], value);
    });
    out
}

/// Count one (decoded) value.
fn observe(c: &mut ColumnValues, value: &[u8]) {
    c.non_null += 1;
    let trimmed = value.trim_ascii();
    let mut seen: Vec<(Kind, bool)> = Vec::new();
    let mut note = |k: Kind, whole: bool| match seen.iter_mut().find(|(s, _)| *s == k) {
        Some((_, w)) => *w |= whole,
        None => seen.push((k, whole)),
    };
    let lead = value.len() - value.trim_ascii_start().len();
    let whole_span = |s: usize, e: usize| s == lead && e == lead + trimmed.len();
    find::find(value, FindKind::all(), |k, s, e| {
        let whole = whole_span(s, e);
        let kind = match k {
            FindKind::Email => Kind::Email,
            FindKind::Phone => Kind::Phone,
            FindKind::Card => Kind::Card,
            FindKind::Iban => Kind::Iban,
            FindKind::Mac => Kind::Mac,
            FindKind::NationalId => Kind::NationalId,
            FindKind::Geo => Kind::Geo,
            FindKind::Ip => {
                if !whole && !ip_stands_alone(value, s, e) {
                    return;
                }
                if whole && single_digit_parts(&value[s..e]) {
                    c.versionish += 1;
                }
                Kind::Ip
            }
        };
        note(kind, whole);
    });
    if let Ok(text) = std::str::from_utf8(trimmed) {
        if is_mac(text) {
            note(Kind::Mac, true);
        }
        if is_national_phone(text) {
            note(Kind::Phone, true);
        }
        if is_geo_pair(text) {
            note(Kind::Geo, true);
        }
        if is_national_id(text) {
            note(Kind::NationalId, true);
        }
        if let Some(shape) = crate::names::shape(text) {
            note(Kind::Name, true);
            if shape == crate::names::NameShape::Full {
                c.full_names += 1;
            } else if c.name_words.len() < DISTINCT_CAP {
                let mut h = std::collections::hash_map::DefaultHasher::new();
                text.to_lowercase().hash(&mut h);
                c.name_words.insert(h.finish());
            }
        }
        if text.split_whitespace().nth(3).is_some() {
            c.prose += 1;
        }
    }
    let inside = seen.iter().filter(|(_, whole)| !whole).count();
    if inside >= 2 {
        c.mixed += 1;
    }
    for (k, whole) in seen {
        let e = c.kinds.entry(k).or_default();
        e.0 += 1;
        if whole {
            e.1 += 1;
        }
    }
}

/// `5.0.1.2`: four single-digit parts.
fn single_digit_parts(ip: &[u8]) -> bool {
    ip.split(|&b| b == b'.')
        .all(|p| p.len() == 1 && p[0].is_ascii_digit())
        && ip.iter().filter(|&&b| b == b'.').count() == 3
}

/// Whether the IPv4/IPv6 address at `s..e` inside a longer text stands alone: not glued to a
/// product/version token (`Mozilla/5.0.1.2`, `v1.2.3.4`, `build 10.0.19045.2`). Allocates nothing
/// (`scan` calls it in its loop).
pub fn ip_stands_alone(v: &[u8], s: usize, e: usize) -> bool {
    let before = s.checked_sub(1).map(|i| v[i]);
    let after = v.get(e).copied();
    let glued =
        |b: Option<u8>| b.is_some_and(|b| b.is_ascii_alphanumeric() || b"/._-".contains(&b));
    if glued(before) || glued(after) {
        return false;
    }
    // The word before: `version 5.0.1.2`, `v 5.0.1.2`, `build 10.0.1.2`.
    let head = v[..s].trim_ascii_end();
    let start = head
        .iter()
        .rposition(|b| b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let prev = head[start..].strip_suffix(b".").unwrap_or(&head[start..]);
    !["version", "ver", "v", "build", "release"]
        .iter()
        .any(|w| w.as_bytes().eq_ignore_ascii_case(prev))
}

/// A MAC address: six hex pairs separated by `:` or `-` (`08:00:2b:01:02:03`), or three groups of
/// four separated by `.` (`0800.2b01.0203`); not all zeros.
pub fn is_mac(s: &str) -> bool {
    let b = s.as_bytes();
    let hex = |x: &[u8]| x.iter().all(u8::is_ascii_hexdigit);
    let ok = match b.len() {
        17 => {
            let sep = b[2];
            (sep == b':' || sep == b'-')
                && b.chunks(3)
                    .all(|c| hex(&c[..2]) && (c.len() == 2 || c[2] == sep))
        }
        14 => b
            .chunks(5)
            .all(|c| hex(&c[..4]) && (c.len() == 4 || c[4] == b'.')),
        _ => false,
    };
    ok && b.iter().any(|&x| x.is_ascii_hexdigit() && x != b'0')
}

/// A phone number in national format, the whole value: a trunk `0`, then nine digits, bare or in
/// pairs separated by spaces, dots or dashes (`0612345678`, `06 12 34 56 78`, `01.23.45.67.89`).
/// (The detectors inside text want the international `+` form or separators.)
pub fn is_national_phone(s: &str) -> bool {
    let b = s.as_bytes();
    let digits: Vec<u8> = b.iter().copied().filter(u8::is_ascii_digit).collect();
    if digits.len() != 10 || digits[0] != b'0' || digits[1] == b'0' {
        return false;
    }
    if b.len() == 10 {
        return true;
    }
    // Pairs: `dd?dd?dd?dd?dd` with one separator kind.
    b.len() == 14
        && b.chunks(3)
            .all(|c| c[..2].iter().all(u8::is_ascii_digit) && (c.len() == 2 || c[2] == b[2]))
        && matches!(b[2], b' ' | b'.' | b'-')
}

/// A decimal number with at least two decimals (coordinates are written precisely; `1.5` is not).
fn coordinate(s: &str) -> Option<f64> {
    let s = s.trim();
    let (int, frac) = s.split_once('.')?;
    let int = int.strip_prefix('-').unwrap_or(int);
    if int.is_empty()
        || !int.bytes().all(|b| b.is_ascii_digit())
        || frac.len() < 2
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    s.parse().ok()
}

/// A geographic point: a PostgreSQL `point` `(x,y)` or a pair `lat, lon` / `lat lon`, both
/// coordinates written with decimals and within range (one of ±90, the other of ±180).
pub fn is_geo_pair(s: &str) -> bool {
    let inner = s
        .strip_prefix('(')
        .and_then(|x| x.strip_suffix(')'))
        .unwrap_or(s);
    let (a, b) = match inner.split_once(',') {
        Some(p) => p,
        None => match inner.split_once(' ') {
            Some(p) => p,
            None => return false,
        },
    };
    let (Some(a), Some(b)) = (coordinate(a), coordinate(b)) else {
        return false;
    };
    (a.abs() <= 90.0 && b.abs() <= 180.0) || (a.abs() <= 180.0 && b.abs() <= 90.0)
}

/// A national id number that passes its checksum (Spanish DNI/NIE, French NIR) or has the strict
/// shape of a US social security number (`123-45-6789`, no area 000/666/9xx, no zero group).
pub fn is_national_id(s: &str) -> bool {
    is_dni(s) || is_nir(s) || is_ssn(s)
}

fn is_dni(s: &str) -> bool {
    const LETTERS: &[u8] = b"TRWAGMYFPDXBNJZSQVHLCKE";
    let b: Vec<u8> = s
        .bytes()
        .filter(|&c| c != b'-' && c != b' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if b.len() != 9 {
        return false;
    }
    let (head, letter) = b.split_at(8);
    let digits: Vec<u8> = match head[0] {
        b'X' => [b'0'].iter().chain(&head[1..]).copied().collect(),
        b'Y' => [b'1'].iter().chain(&head[1..]).copied().collect(),
        b'Z' => [b'2'].iter().chain(&head[1..]).copied().collect(),
        _ => head.to_vec(),
    };
    if !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n: u64 = std::str::from_utf8(&digits).unwrap().parse().unwrap_or(0);
    n > 0 && LETTERS[(n % 23) as usize] == letter[0]
}

fn is_nir(s: &str) -> bool {
    let b: Vec<u8> = s
        .bytes()
        .filter(|&c| c != b' ')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    if b.len() != 15 || !matches!(b[0], b'1' | b'2' | b'7' | b'8') {
        return false;
    }
    // Corsica: department 2A counts as 19, 2B as 18 in the key.
    let (body, key) = b.split_at(13);
    let corsica = match &body[5..7] {
        b"2A" => Some(1_000_000),
        b"2B" => Some(2_000_000),
        _ => None,
    };
    let mut digits = body.to_vec();
    if corsica.is_some() {
        digits[5] = b'1';
        digits[6] = if &body[6..7] == b"A" { b'9' } else { b'8' };
    }
    if !digits.iter().all(u8::is_ascii_digit) || !key.iter().all(u8::is_ascii_digit) {
        return false;
    }
    let n: u64 = std::str::from_utf8(&digits).unwrap().parse().unwrap_or(0);
    let k: u64 = std::str::from_utf8(key).unwrap().parse().unwrap_or(0);
    97 - n % 97 == k
}

fn is_ssn(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 11 || b[3] != b'-' || b[6] != b'-' {
        return false;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let x = &b[r];
        x.iter()
            .all(u8::is_ascii_digit)
            .then(|| std::str::from_utf8(x).unwrap().parse().unwrap())
    };
    let (Some(area), Some(group), Some(serial)) = (num(0..3), num(4..6), num(7..11)) else {
        return false;
    };
    area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(values: &[&str]) -> ColumnValues {
        let mut c = ColumnValues::default();
        for v in values {
            observe(&mut c, v.as_bytes());
        }
        c
    }

    #[test]
    fn whole_value_detectors() {
        assert!(is_mac("08:00:2b:01:02:03") && is_mac("08-00-2B-01-02-03"));
        assert!(is_mac("0800.2b01.0203"));
        assert!(!is_mac("00:00:00:00:00:00") && !is_mac("12:30:45"));
        assert!(is_geo_pair("(2.3522,48.8566)") && is_geo_pair("48.8566, 2.3522"));
        assert!(is_geo_pair("-33.8688 151.2093"));
        assert!(!is_geo_pair("(1,2)") && !is_geo_pair("300.25, 500.75") && !is_geo_pair("1.5"));
        assert!(is_dni("12345678Z") && is_dni("X1234567L"));
        assert!(!is_dni("12345678A"));
        assert!(is_nir("2 84 12 76 451 089 93") && is_nir("184127645108946"));
        assert!(!is_nir("184127645108947"));
        assert!(is_national_phone("0612345678") && is_national_phone("06 12 34 56 78"));
        assert!(!is_national_phone("0012345678") && !is_national_phone("06 12 34 56 7"));
        assert!(is_ssn("123-45-6789") && !is_ssn("666-45-6789") && !is_ssn("123-00-6789"));
    }

    #[test]
    fn version_numbers_are_not_addresses() {
        let ua = of(&[
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 Chrome/120.0.6099.1 Safari/5.0.1.2",
            "curl/7.68.0.1",
            "Agent version 5.0.1.2 build",
        ]);
        assert_eq!(ua.count(Kind::Ip), (0, 0), "{ua:?}");
        let ip = of(&["10.1.2.3", "from 192.168.1.7 at noon", "2a02:1810::1"]);
        assert_eq!(ip.count(Kind::Ip), (3, 2), "{ip:?}");
    }

    #[test]
    fn names_and_mixed_text() {
        let c = of(&["Ann Smith", "Jürgen Müller", "García, Lucía", "Oak table"]);
        assert_eq!(c.count(Kind::Name), (3, 3));
        assert_eq!(c.full_names, 3);
        let notes = of(&[
            "call +33 5 62 02 97 93 or write to ann@mail.test please",
            "nothing to say here today",
        ]);
        assert_eq!(notes.mixed, 1);
        assert!(notes.is_free_text());
        assert_eq!(notes.count(Kind::Phone), (1, 0));
    }
}
