//! Finding personal values inside text: emails, phones, card numbers, IBANs, IP and MAC
//! addresses, national ids with a check, geographic coordinates.
//!
//! The `pii_scan` masker replaces what [`find`] reports; `scan` and `rules check` count it
//! ([`scan_field`]); a masker's declared output ([`super::maskers`] `produces`) is judged by it. The
//! detectors see a field as the maskers do, decoded ([`scan_field`]): most fields hold no backslash
//! and are scanned in place, the others are decoded into one reused buffer, so nothing is allocated
//! per field. (Scanning the escaped text instead would disagree with `email_scan` around
//! backslashes: the escaped `\\heidi@x.org` is the decoded `\heidi@x.org`, masked as
//! `\nobody@example.com`.)
//!
//! Speed: [`find`] does not run every detector over the field. Emails are looked for only where
//! there is an `@`, IPv6 addresses only around a `:`, MAC addresses only at their separators
//! (`memchr`); everything made of digits (IPv4, cards, IBANs, phones, national ids, coordinates) is
//! looked for only inside the field's *digit clusters*, found in one pass: spans of digits joined
//! by runs of ` -.(),+`, which is every byte such a value holds between its digits. A cluster with
//! fewer digits than a kind needs is skipped for that kind, so free text with a date or an order
//! number costs one pass over its bytes.
//!
//! Deliberately simple heuristics: they are meant to catch the common leaks (card numbers in free
//! text), not to prove a value is harmless. One file per family: `numbers` (cards, IBANs,
//! phones), `net` (IP, MAC), `national`, `geo`.

mod geo;
mod national;
mod net;
mod numbers;
mod prefilter;
#[cfg(test)]
mod tests;

use super::category::Category;
use super::maskers::email_scan;

pub use geo::GEO_MIN_DECIMALS;
pub use national::DNI_LETTERS;
pub use net::DOCUMENTATION_MAC;
pub use numbers::{iban_checks, luhn};
pub use prefilter::{may_hold, Prefilter};

/// Whether `s..e` of an email scan is the masked form `nobody@example.com` /
/// `nobody+<tag>@example.com`, which is not a finding.
fn is_masked_email(addr: &[u8]) -> bool {
    let Some(local) = addr.strip_suffix(b"@example.com") else {
        return false;
    };
    local == b"nobody"
        || local
            .strip_prefix(b"nobody+")
            .is_some_and(|t| !t.is_empty() && t.iter().all(u8::is_ascii_alphanumeric))
}

/// Whether the digits `s..e` are the whole tag of a keyed masked address
/// `nobody+<tag>@example.com` as email_scan would find it: the tag is 16 hex digits, which now and
/// then are all decimal and pass the Luhn check, and so look like a card number. The address must
/// start where email_scan's would (no other local-part byte before `nobody`, or a JSON-style `\n`
/// escape) and end where it would (no domain byte after `example.com`, once trailing dots and
/// dashes are trimmed as email_scan trims them).
fn inside_masked_email(raw: &[u8], s: usize, e: usize) -> bool {
    const PREFIX: &[u8] = b"nobody+";
    const SUFFIX: &[u8] = b"@example.com";
    if !raw[s..e].iter().all(u8::is_ascii_alphanumeric)
        || !raw[..s].ends_with(PREFIX)
        || !raw[e..].starts_with(SUFFIX)
    {
        return false;
    }
    let local = |b: u8| {
        b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-') || b >= 0x80
    };
    let domain = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-') || b >= 0x80;
    let start = s - PREFIX.len();
    let starts_clean = start == 0
        || !local(raw[start - 1])
        || (start >= 2 && raw[start - 1] == b'n' && raw[start - 2] == b'\\');
    let mut end = e + SUFFIX.len();
    while end < raw.len() && matches!(raw[end], b'.' | b'-') {
        end += 1;
    }
    let ends_clean = end >= raw.len() || !domain(raw[end]);
    starts_clean && ends_clean
}

/// Call `f(category)` for every sensitive-looking value inside a raw COPY field (`\N`, NULL, finds
/// nothing), decoding it into `buf` first when it holds an escape.
#[inline]
pub fn scan_field(raw: &[u8], buf: &mut Vec<u8>, mut f: impl FnMut(Category)) {
    if raw == crate::copy::NULL {
        return;
    }
    if crate::copy::needs_unescape(raw) {
        buf.clear();
        if crate::copy::unescape_into(raw, buf).is_ok() {
            scan_value(buf, |c, _, _| f(c));
            return;
        }
    }
    scan_value(raw, |c, _, _| f(c));
}

/// A kind of value the detectors find inside text (finer than [`Category`]: an IBAN is reported
/// as a [`Category::Card`], both being payment account numbers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Kind {
    Email,
    Phone,
    Card,
    Iban,
    Ip,
    Mac,
    NationalId,
    Geo,
}

impl Kind {
    pub const ALL: [Kind; 8] = [
        Kind::Email,
        Kind::Phone,
        Kind::Card,
        Kind::Iban,
        Kind::Ip,
        Kind::Mac,
        Kind::NationalId,
        Kind::Geo,
    ];

    /// Bit for sets of kinds.
    pub fn bit(self) -> u8 {
        1 << (self as u8)
    }

    /// Every kind, as a set.
    pub fn all() -> u8 {
        Kind::ALL.iter().fold(0, |a, k| a | k.bit())
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Email => "email",
            Kind::Phone => "phone",
            Kind::Card => "card",
            Kind::Iban => "iban",
            Kind::Ip => "ip",
            Kind::Mac => "mac",
            Kind::NationalId => "national_id",
            Kind::Geo => "geo",
        }
    }

    pub fn category(self) -> Category {
        match self {
            Kind::Email => Category::Email,
            Kind::Phone => Category::Phone,
            Kind::Card | Kind::Iban => Category::Card,
            Kind::Ip => Category::Ip,
            Kind::Mac => Category::Mac,
            Kind::NationalId => Category::NationalId,
            Kind::Geo => Category::Geo,
        }
    }
}

/// Call `f(category, start, end)` for every sensitive-looking value inside a (decoded) value.
/// At most one card/phone is reported per run of digits.
pub fn scan_value(raw: &[u8], mut f: impl FnMut(Category, usize, usize)) {
    find(raw, Kind::all(), |k, s, e| f(k.category(), s, e));
}

/// Bytes that join the digits of one cluster: every byte a digit-made value (phone, card, IP,
/// coordinates, id) holds between its digits.
fn joins(b: u8) -> bool {
    matches!(b, b' ' | b'-' | b'.' | b'(' | b')' | b',' | b'+')
}

/// The position of the first ASCII digit at or after `i`. Eight bytes at a time (SWAR): a byte is
/// a digit when its high nibble is 3 and its low nibble plus 6 does not carry; free text has few
/// digits, so this is most of the work on a field without findings.
#[inline]
fn next_digit(raw: &[u8], mut i: usize) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    while i + 8 <= raw.len() {
        let v = u64::from_le_bytes(raw[i..i + 8].try_into().expect("8 bytes"));
        // Zero exactly in the bytes that are digits.
        let not_digit =
            ((v & (0xf0 * LO)) ^ (0x30 * LO)) | (((v & (0x0f * LO)) + 0x06 * LO) & (0x10 * LO));
        // The lowest zero byte's flag is exact (higher ones may be false positives).
        let zero = not_digit.wrapping_sub(LO) & !not_digit & HI;
        if zero != 0 {
            return Some(i + (zero.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    raw[i..].iter().position(u8::is_ascii_digit).map(|k| i + k)
}

/// A digit cluster: `start..end` from its first to past its last digit, and its digit count.
#[derive(Clone, Copy, Default)]
struct Cluster {
    start: usize,
    end: usize,
    digits: usize,
    dot: bool,
}

/// Call `f` for every digit cluster of `raw` with at least `min` digits, in order.
#[inline]
fn clusters(raw: &[u8], min: usize, mut f: impl FnMut(Cluster)) {
    let mut i = 0;
    let n = raw.len();
    while i < n {
        match next_digit(raw, i) {
            Some(k) => i = k,
            None => return,
        }
        let mut c = Cluster {
            start: i,
            end: i,
            digits: 0,
            dot: false,
        };
        while i < n {
            let b = raw[i];
            if b.is_ascii_digit() {
                c.digits += 1;
                i += 1;
                c.end = i;
            } else if joins(b) {
                c.dot |= b == b'.';
                i += 1;
            } else {
                break;
            }
        }
        if c.digits >= min {
            f(c);
        }
        i = c.end.max(i);
    }
}

/// Spans already claimed by another kind, which a phone-shaped match must not run into
/// (`+33 5 62 02 97 93 10.1.2.3`). Beyond its capacity, spans are not remembered (a phone overlap
/// is then reported twice, never missed).
struct Taken {
    spans: [(usize, usize); 16],
    n: usize,
}

impl Taken {
    fn add(&mut self, s: usize, e: usize) {
        if self.n < self.spans.len() {
            self.spans[self.n] = (s, e);
            self.n += 1;
        }
    }
}

/// Call `f(kind, start, end)` for every value of the `kinds` (a set of [`Kind::bit`]s) inside a
/// (decoded) value, kind by kind (so not in order; an IPv4 tail of an IPv6 address is reported
/// as both). pgveil's own masked forms are not reported: `nobody@example.com`, the documentation
/// IP and MAC ranges, phones after a `+0` (no country code starts with 0), all-zero card numbers,
/// IBANs with check digits `00`, national ids failing their check, coordinates `0.…, 0.…`.
pub fn find(raw: &[u8], kinds: u8, mut f: impl FnMut(Kind, usize, usize)) {
    if raw.is_empty() {
        return;
    }
    let want = |k: Kind| kinds & k.bit() != 0;
    if want(Kind::Email) && memchr::memchr(b'@', raw).is_some() {
        email_scan::scan(raw, |s, e| {
            // email_scan masks `\heidi@x.org` as `\nobody@example.com`, where the scanner then
            // reads `\n` as an escape: the `n` belongs to the masked form.
            let after_n_escape = s >= 2 && raw[s - 1] == b'n' && raw[s - 2] == b'\\';
            let masked =
                is_masked_email(&raw[s..e]) || (after_n_escape && is_masked_email(&raw[s - 1..e]));
            if !masked {
                f(Kind::Email, s, e);
            }
        });
    }
    let mut taken = Taken {
        spans: [(0, 0); 16],
        n: 0,
    };
    // IPv6 addresses and colon-separated MAC addresses have two colons or more ("ref: 12" has one).
    let colons =
        memchr::memchr(b':', raw).is_some_and(|i| memchr::memchr(b':', &raw[i + 1..]).is_some());
    if want(Kind::Ip) && colons {
        net::scan_ipv6(raw, &mut |s, e| f(Kind::Ip, s, e));
    }
    if want(Kind::Mac) || want(Kind::Phone) {
        net::scan_macs(raw, colons, &mut |s, e| {
            taken.add(s, e);
            if want(Kind::Mac) {
                f(Kind::Mac, s, e);
            }
        });
    }
    let digit_kinds = Kind::Phone.bit()
        | Kind::Card.bit()
        | Kind::Iban.bit()
        | Kind::Ip.bit()
        | Kind::NationalId.bit()
        | Kind::Geo.bit();
    if kinds & digit_kinds == 0 {
        return;
    }
    let mut phones: [Cluster; 8] = Default::default();
    let mut n_phones = 0;
    let mut phones_overflow = false;
    // Two digits: an IBAN's check digits (`GB82 WEST …`); every other kind needs 4 or more.
    clusters(raw, 2, |c| {
        if c.dot && c.digits >= 4 && (want(Kind::Ip) || want(Kind::Phone)) {
            net::scan_ipv4(raw, c.start, c.end, &mut |s, e| {
                taken.add(s, e);
                if want(Kind::Ip) {
                    f(Kind::Ip, s, e);
                }
            });
        }
        if c.dot && c.digits >= 2 * (GEO_MIN_DECIMALS + 1) && (want(Kind::Geo) || want(Kind::Phone))
        {
            let mut i = c.start.saturating_sub(1);
            while i < c.end {
                match geo::geo_at(raw, i) {
                    Some(e) => {
                        taken.add(i, e);
                        if want(Kind::Geo) {
                            f(Kind::Geo, i, e);
                        }
                        i = e;
                    }
                    None => i += 1,
                }
            }
        }
        // An IBAN's check digits start a cluster, right after its two capital letters.
        if c.start >= 2
            && raw[c.start - 2].is_ascii_uppercase()
            && raw[c.start - 1].is_ascii_uppercase()
        {
            if let Some(e) = numbers::iban_at(raw, c.start - 2) {
                taken.add(c.start - 2, e);
                if want(Kind::Iban) {
                    f(Kind::Iban, c.start - 2, e);
                }
            }
        }
        if c.digits >= 13 {
            numbers::scan_cards(raw, c.start, c.end, |s, e| {
                // pgveil's own keyed pseudonym, not a card (nor, below, a phone).
                if inside_masked_email(raw, s, e) {
                    return;
                }
                taken.add(s, e);
                let zero = raw[s..e].iter().all(|&b| !b.is_ascii_digit() || b == b'0');
                if want(Kind::Card) && !zero {
                    f(Kind::Card, s, e);
                }
            });
        }
        // (A Corsican NIR's first cluster, `2 90 03 2` before `A`, has 6 digits.)
        if c.digits >= 6 && (want(Kind::NationalId) || want(Kind::Phone)) {
            national_ids(raw, c, &mut |s, e| {
                taken.add(s, e);
                if want(Kind::NationalId) {
                    f(Kind::NationalId, s, e);
                }
            });
        }
        if c.digits >= 8 && want(Kind::Phone) {
            if n_phones < phones.len() {
                phones[n_phones] = c;
                n_phones += 1;
            } else {
                phones_overflow = true;
            }
        }
    });
    if !want(Kind::Phone) {
        return;
    }
    let taken = &taken.spans[..taken.n];
    let mut phone_in = |c: Cluster| {
        // The window: the cluster, the `+` or `(` before it and the whole character before that
        // (for `\b`), and the character after it.
        let mut ws = c.start.saturating_sub(2);
        while ws > 0 && raw[ws] & 0xc0 == 0x80 {
            ws -= 1;
        }
        let mut we = (c.end + 1).min(raw.len());
        while we < raw.len() && raw[we] & 0xc0 == 0x80 {
            we += 1;
        }
        for m in numbers::phone_re().find_iter(&raw[ws..we]) {
            if let Some((s, e)) = phone_span(raw, ws + m.start(), ws + m.end(), taken) {
                f(Kind::Phone, s, e);
            }
        }
    };
    if phones_overflow {
        clusters(raw, 8, phone_in);
    } else {
        phones[..n_phones].iter().for_each(|&c| phone_in(c));
    }
}

/// National ids in cluster `c`: a NIR starting it (or any group in it: `n° 1 85 …`), a DNI/NIE
/// around a run of 7 or 8 digits, an SSN at any group of 3.
fn national_ids(raw: &[u8], c: Cluster, f: &mut impl FnMut(usize, usize)) {
    let mut i = c.start;
    while i < c.end {
        let group_start = raw[i].is_ascii_digit() && (i == 0 || !raw[i - 1].is_ascii_digit());
        if !group_start {
            i += 1;
            continue;
        }
        let found = national::nir_at(raw, i)
            .or_else(|| national::ssn_at(raw, i))
            .map(|e| (i, e))
            .or_else(|| national::dni_at(raw, i).map(|e| (i, e)))
            .or_else(|| {
                (i > 0 && matches!(raw[i - 1], b'X' | b'Y' | b'Z'))
                    .then(|| national::dni_at(raw, i - 1).map(|e| (i - 1, e)))
                    .flatten()
            })
            .or_else(|| {
                (i > 1 && raw[i - 1] == b'-' && matches!(raw[i - 2], b'X' | b'Y' | b'Z'))
                    .then(|| national::dni_at(raw, i - 2).map(|e| (i - 2, e)))
                    .flatten()
            });
        match found {
            Some((s, e)) => {
                f(s, e);
                i = e;
            }
            None => i += 1,
        }
    }
}

/// A phone-shaped match `s..e` as a phone span, or `None`: a match starting inside a card, IBAN,
/// IP address or other span taken is part of it; one running into one after it ends before it.
fn phone_span(
    raw: &[u8],
    s: usize,
    mut e: usize,
    taken: &[(usize, usize)],
) -> Option<(usize, usize)> {
    let mut cut = false;
    for &(cs, ce) in taken {
        if s < ce && cs < e {
            if cs <= s {
                return None;
            }
            e = e.min(cs);
            cut = true;
        }
    }
    while e > s && !raw[e - 1].is_ascii_digit() {
        e -= 1;
    }
    if e == s {
        return None;
    }
    // Part of a longer run of digit groups (a card with a bad check digit, an account
    // number): not a phone.
    let sep = |b: u8| b == b' ' || b == b'-';
    let longer_after = !cut && e + 1 < raw.len() && sep(raw[e]) && raw[e + 1].is_ascii_digit();
    let longer_before = s >= 2 && sep(raw[s - 1]) && raw[s - 2].is_ascii_digit();
    // `+` inside a word (`nobody+0123456789abcdef@example.com`) is no country code.
    let glued = s > 0 && raw[s] == b'+' && raw[s - 1].is_ascii_alphanumeric();
    // pgveil's masked form: `+` then a first digit 0, which no country code has.
    let plus = raw[s] == b'+' || (s > 0 && raw[s - 1] == b'+');
    let first_zero = raw[s..e].iter().find(|b| b.is_ascii_digit()) == Some(&b'0');
    let masked = plus && first_zero;
    let d = raw[s..e].iter().filter(|b| b.is_ascii_digit()).count();
    ((8..=15).contains(&d) && !longer_after && !longer_before && !glued && !masked)
        .then_some((s, e))
}
