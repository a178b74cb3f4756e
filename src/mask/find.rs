//! Finding personal values inside text: emails, phones, card numbers, IBANs, IP addresses.
//!
//! The `pii_scan` masker replaces what [`find`] reports; `scan` and `rules check` count it
//! ([`scan_field`]); a masker's declared output ([`super::maskers`] `produces`) is judged by it. The
//! detectors see a field as the maskers do, decoded ([`scan_field`]): most fields hold no backslash
//! and are scanned in place, the others are decoded into one reused buffer, so nothing is allocated
//! per field. (Scanning the escaped text instead would disagree with `email_scan` around
//! backslashes: the escaped `\\heidi@x.org` is the decoded `\heidi@x.org`, masked as
//! `\nobody@example.com`.) Each detector is guarded by a cheap byte test (`@` for emails, `.` for
//! IPs, enough digits for cards and phones).
//!
//! Deliberately simple heuristics: they are meant to catch the common leaks (card numbers in free
//! text), not to prove a value is harmless.
//!
//! About 700 lines with its tests: one detector per kind, which share the guards and the
//! exceptions for pgveil's own masked forms; splitting them would scatter those.
//!
//! (`find` is over 100 lines: one dispatch over the cheap guards of every kind, in priority order.)

use std::sync::OnceLock;

use super::category::Category;

/// Coordinates with fewer decimals than this are not reported as a location (about 100 m).
pub const GEO_MIN_DECIMALS: usize = 3;
use super::maskers::email_scan;

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
}

impl Kind {
    pub const ALL: [Kind; 5] = [Kind::Email, Kind::Phone, Kind::Card, Kind::Iban, Kind::Ip];

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
        }
    }

    pub fn category(self) -> Category {
        match self {
            Kind::Email => Category::Email,
            Kind::Phone => Category::Phone,
            Kind::Card | Kind::Iban => Category::Card,
            Kind::Ip => Category::Ip,
        }
    }
}

/// Call `f(category, start, end)` for every sensitive-looking value inside a (decoded) value.
/// At most one card/phone is reported per run of digits.
pub fn scan_value(raw: &[u8], mut f: impl FnMut(Category, usize, usize)) {
    find(raw, Kind::all(), |k, s, e| f(k.category(), s, e));
}

/// Call `f(kind, start, end)` for every value of the `kinds` (a set of [`Kind::bit`]s) inside a
/// (decoded) value, kind by kind (so not in order; an IPv4 tail of an IPv6 address is reported
/// as both). pgveil's own masked forms are not reported: `nobody@example.com`, the documentation
/// IP ranges, phones after a `+0` (no country code starts with 0), all-zero card numbers and IBANs
/// with check digits `00` (never valid).
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
    // Spans of other kinds a phone-shaped match must not run into (`+33 5 62 02 97 93 10.1.2.3`).
    let mut taken: [(usize, usize); 8] = [(0, 0); 8];
    let mut n_taken = 0;
    let mut take = |s: usize, e: usize| {
        if n_taken < taken.len() {
            taken[n_taken] = (s, e);
            n_taken += 1;
        }
    };
    // An IPv4 address needs a dot between digits; prose has dots but seldom that.
    let digit_dot = || {
        memchr::memchr_iter(b'.', raw).any(|i| {
            i > 0 && raw[i - 1].is_ascii_digit() && raw.get(i + 1).is_some_and(u8::is_ascii_digit)
        })
    };
    if (want(Kind::Ip) | want(Kind::Phone)) && digit_dot() {
        scan_ipv4(raw, &mut |s, e| {
            take(s, e);
            if want(Kind::Ip) {
                f(Kind::Ip, s, e);
            }
        });
    }
    if want(Kind::Ip)
        && memchr::memchr(b':', raw).is_some_and(|i| memchr::memchr(b':', &raw[i + 1..]).is_some())
    {
        scan_ipv6(raw, &mut |s, e| f(Kind::Ip, s, e));
    }
    if kinds & (Kind::Phone.bit() | Kind::Card.bit() | Kind::Iban.bit()) == 0 {
        return;
    }
    let digits = raw.iter().filter(|b| b.is_ascii_digit()).count();
    if digits < 8 {
        return;
    }
    // IBANs and cards first; phone-shaped spans overlapping one are that one.
    if digits >= 10 {
        scan_ibans(raw, |s, e| {
            take(s, e);
            if want(Kind::Iban) {
                f(Kind::Iban, s, e);
            }
        });
    }
    if digits >= 13 {
        scan_cards(raw, |s, e| {
            // pgveil's own keyed pseudonym, not a card (nor, below, a phone).
            if inside_masked_email(raw, s, e) {
                return;
            }
            take(s, e);
            let zero = raw[s..e].iter().all(|&b| !b.is_ascii_digit() || b == b'0');
            if want(Kind::Card) && !zero {
                f(Kind::Card, s, e);
            }
        });
    }
    if !want(Kind::Phone) {
        return;
    }
    for m in phone_re().find_iter(raw) {
        let (s, mut e) = (m.start(), m.end());
        // A match starting inside a card, IBAN or IP address is part of it; one running into an
        // IP address (or, rarely, a card) after it ends before it.
        let mut cut = false;
        for &(cs, ce) in &taken[..n_taken] {
            if s < ce && cs < e {
                if cs <= s {
                    e = s;
                    break;
                }
                e = e.min(cs);
                cut = true;
            }
        }
        while e > s && !raw[e - 1].is_ascii_digit() {
            e -= 1;
        }
        if e == s {
            continue;
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
        if (8..=15).contains(&d) && !longer_after && !longer_before && !glued && !masked {
            f(Kind::Phone, s, e);
        }
    }
}

/// IBANs (ISO 13616): two capital letters, two check digits and 11 to 30 letters or digits, in
/// one run or in groups separated by single spaces (`FR76 3000 6000 0112 3456 7890 189`), not
/// touching other letters or digits, whose mod-97 check (ISO 7064) gives 1. A run that goes on
/// past the IBAN's length is cut back to the longest prefix that checks, so a word after a
/// grouped IBAN does not hide it.
fn scan_ibans(raw: &[u8], mut f: impl FnMut(usize, usize)) {
    let mut i = 0;
    while i + 4 <= raw.len() {
        let start_ok = raw[i].is_ascii_uppercase()
            && raw[i + 1].is_ascii_uppercase()
            && raw[i + 2].is_ascii_digit()
            && raw[i + 3].is_ascii_digit()
            && (i == 0 || !raw[i - 1].is_ascii_alphanumeric());
        if !start_ok {
            i += 1;
            continue;
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
        let mut found = None;
        for len in (15..=n).rev() {
            let end = ends[len - 1];
            let bounded = end >= raw.len() || !raw[end].is_ascii_alphanumeric();
            // A cut inside a group is not an IBAN's end (groups are separated by spaces).
            if bounded && iban_checks(&chars[..len]) {
                found = Some(end);
                break;
            }
        }
        match found {
            Some(end) => {
                f(i, end);
                i = end;
            }
            None => i += 1,
        }
    }
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
/// (`2024-01-15`) have too few digits; IPs use dots, which only the `+` form allows.
fn phone_re() -> &'static regex::bytes::Regex {
    static RE: OnceLock<regex::bytes::Regex> = OnceLock::new();
    RE.get_or_init(|| {
        regex::bytes::Regex::new(
            r"(?x)
            (?:\+\d[\d\ ().\-]{6,20}\d)
            | (?:\(\d{2,5}\)\ ?\d{2,4}[\ \-]?\d{3,5}\b)
            | (?:\b\d{2,5}[\ \-]\d{3,4}[\ \-]\d{3,5}\b)",
        )
        .expect("valid phone regex")
    })
}

/// Runs of 13 to 19 digits, single spaces or dashes allowed between digits, not touching other
/// digits or letters, whose Luhn check digit is valid.
fn scan_cards(raw: &[u8], mut f: impl FnMut(usize, usize)) {
    let mut i = 0;
    while i < raw.len() {
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

/// Dotted quads `a.b.c.d` (each 0..=255, no leading zeros beyond one digit), not part of a longer
/// dotted number (`1.2.3.4.5`, `120.0.1.2.3`) or word, nor a version after a product token
/// (`Firefox/121.0.1.2`).
fn scan_ipv4(raw: &[u8], f: &mut impl FnMut(usize, usize)) {
    let mut i = 0;
    while i < raw.len() {
        // After a letter or digit, or a product token's `/` (`Chrome/120.0.1.2`, `curl/7.68.0.1`):
        // a version, not an address (a URL's `//10.1.2.3` still is one).
        let version_slash = i > 1 && raw[i - 1] == b'/' && raw[i - 2].is_ascii_alphanumeric();
        if !raw[i].is_ascii_digit()
            || (i > 0 && (raw[i - 1].is_ascii_alphanumeric() || raw[i - 1] == b'.'))
            || version_slash
        {
            i += 1;
            continue;
        }
        let start = i;
        let mut j = i;
        let mut ok = true;
        for part in 0..4 {
            let s = j;
            while j < raw.len() && raw[j].is_ascii_digit() && j - s < 4 {
                j += 1;
            }
            let len = j - s;
            if len == 0 || len > 3 || (len > 1 && raw[s] == b'0') {
                ok = false;
                break;
            }
            let v: u32 = raw[s..j]
                .iter()
                .fold(0, |a, &b| a * 10 + u32::from(b - b'0'));
            if v > 255 {
                ok = false;
                break;
            }
            if part < 3 {
                if j < raw.len() && raw[j] == b'.' {
                    j += 1;
                } else {
                    ok = false;
                    break;
                }
            }
        }
        let bounded = j >= raw.len()
            || !(raw[j].is_ascii_alphanumeric()
                || (raw[j] == b'.' && raw.get(j + 1).is_some_and(u8::is_ascii_digit)));
        if ok && bounded && !is_documentation_ip(&raw[start..j]) {
            f(start, j);
            i = j;
        } else {
            i = start + 1;
            while i < raw.len() && raw[i].is_ascii_digit() {
                i += 1;
            }
        }
    }
}

/// IPv6 addresses: runs of hex digits, colons and dots (an embedded IPv4 tail) with two colons or
/// more, not touching letters, digits or colons, that `Ipv6Addr` accepts. Times (`10:30:00`) and MAC
/// addresses (six groups, no `::`) are not addresses; neither are `::`, `::1` and the RFC 3849
/// documentation prefix `2001:db8::/32`, which masking may write.
fn scan_ipv6(raw: &[u8], f: &mut impl FnMut(usize, usize)) {
    let part = |b: u8| b.is_ascii_hexdigit() || b == b':' || b == b'.';
    let mut i = 0;
    while i < raw.len() {
        if !part(raw[i]) {
            i += 1;
            continue;
        }
        let start = i;
        while i < raw.len() && part(raw[i]) {
            i += 1;
        }
        // A sentence may end right after the address.
        let mut end = i;
        while end > start && raw[end - 1] == b'.' {
            end -= 1;
        }
        let touches_word = (start > 0 && raw[start - 1].is_ascii_alphanumeric())
            || (i < raw.len() && raw[i].is_ascii_alphanumeric());
        let colons = raw[start..end].iter().filter(|&&b| b == b':').count();
        if touches_word || colons < 2 {
            continue;
        }
        let Some(addr) = std::str::from_utf8(&raw[start..end])
            .ok()
            .and_then(|t| t.parse::<std::net::Ipv6Addr>().ok())
        else {
            continue;
        };
        let seg = addr.segments();
        let documentation = seg[0] == 0x2001 && seg[1] == 0x0db8;
        if !(addr.is_unspecified() || addr.is_loopback() || documentation) {
            f(start, end);
        }
    }
}

/// RFC 5737 documentation ranges (TEST-NET-1/2/3), the IP analogue of `example.com`: what masking
/// writes, never a real host.
fn is_documentation_ip(ip: &[u8]) -> bool {
    ip.starts_with(b"192.0.2.") || ip.starts_with(b"198.51.100.") || ip.starts_with(b"203.0.113.")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(raw: &str) -> Vec<(Category, String)> {
        let mut v = Vec::new();
        scan_value(raw.as_bytes(), |c, s, e| v.push((c, raw[s..e].to_string())));
        v
    }

    #[test]
    fn values() {
        use Category::*;
        assert_eq!(
            found("mail ann@x.org now"),
            vec![(Email, "ann@x.org".into())]
        );
        assert!(found("nobody@example.com").is_empty());
        assert!(found("{nobody+0a1b2c@example.com}").is_empty());
        assert!(found("nobody+0123456789abcdef@example.com").is_empty());
        // A keyed tag of 16 decimal digits passing the Luhn check (1 in ~20,000 pseudonyms).
        assert!(luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
        for masked in [
            "nobody+4111111111111111@example.com",
            "{nobody+4111111111111111@example.com,x}",
            "mail nobody+4111111111111111@example.com.",
            "\\nnobody+4111111111111111@example.com",
        ] {
            assert!(found(masked).is_empty(), "{masked}: {:?}", found(masked));
        }
        // The same digits in anything but the masked form are still a card.
        for card in [
            "xnobody+4111111111111111@example.com",
            "nobody+4111111111111111@example.com.evil.org",
            "nobody+4111111111111111@example.co",
            "nobody-4111111111111111@example.com",
            "nobody+4111-1111-1111-1111@example.com",
        ] {
            assert!(
                found(card).iter().any(|(c, _)| *c == Card),
                "{card}: {:?}",
                found(card)
            );
        }
        assert_eq!(
            found("paid with 4111 1111 1111 1111."),
            vec![(Card, "4111 1111 1111 1111".into())]
        );
        // A wrong check digit is not a card (and has too many digits for a phone).
        assert!(found("4111 1111 1111 1112").is_empty());
        assert_eq!(
            found("from 192.168.1.20,"),
            vec![(Ip, "192.168.1.20".into())]
        );
        assert!(found("version 1.2.3.4.5").is_empty());
        for ua in [
            "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0.1.2",
            "Chrome/120.0.6099.109 Safari/537.36",
            "MyApp/5.0.1.2 (iOS 17.1.2)",
            "curl/7.68.0.1",
            "v5.0.1.2",
        ] {
            assert!(found(ua).is_empty(), "{ua}: {:?}", found(ua));
        }
        assert_eq!(
            found("http://192.168.1.20/admin"),
            vec![(Ip, "192.168.1.20".into())]
        );
        assert!(found("300.1.1.1").is_empty());
        assert!(found("192.0.2.1").is_empty());
        assert_eq!(
            found("login from 2a02:1810:4d02:e500::1d4c."),
            vec![(Ip, "2a02:1810:4d02:e500::1d4c".into())]
        );
        assert_eq!(
            found("fe80::1ff:fe23:4567:890a,"),
            vec![(Ip, "fe80::1ff:fe23:4567:890a".into())]
        );
        // The IPv4 tail is reported once, as part of the IPv6 address and as an IPv4 address.
        assert!(found("::ffff:10.1.2.3").contains(&(Ip, "::ffff:10.1.2.3".into())));
        for not_an_address in [
            "10:30:00",
            "at 2024-01-15 10:30:00+00:00",
            "00:1a:2b:3c:4d:5e",
            "::",
            "::1",
            "2001:db8::17",
            "ab::cd::ef",
            "key:value:pair",
        ] {
            assert!(
                found(not_an_address).iter().all(|(c, _)| *c != Ip),
                "{not_an_address}: {:?}",
                found(not_an_address)
            );
        }
        assert_eq!(
            found("call +44 20 7946 0958 today"),
            vec![(Phone, "+44 20 7946 0958".into())]
        );
        assert_eq!(found("555-123-4567"), vec![(Phone, "555-123-4567".into())]);
        assert!(found("2024-01-15 10:30:00+00").is_empty());
        assert!(found("12345678").is_empty());
        assert!(found("550e8400-e29b-41d4-a716-446655440000").is_empty());
        let mut buf = Vec::new();
        let mut n = 0;
        scan_field(b"\\N", &mut buf, |_| n += 1);
        // The escaped text `\\heidi@x.org` is `\heidi@x.org`, as email_scan sees it.
        scan_field(b"bcc:\\\\heidi@x.org", &mut buf, |_| n += 1);
        assert_eq!(n, 1);
        scan_field(b"bcc:\\\\nobody@example.com", &mut buf, |_| n += 1);
        assert_eq!(
            n, 1,
            "what email_scan writes after a backslash is not a finding"
        );
    }

    #[test]
    fn ibans_and_masked_forms() {
        use Category::*;
        assert_eq!(
            found("pay to FR76 3000 6000 0112 3456 7890 189 now"),
            vec![(Card, "FR76 3000 6000 0112 3456 7890 189".into())]
        );
        assert_eq!(
            found("DE89370400440532013000."),
            vec![(Card, "DE89370400440532013000".into())]
        );
        assert_eq!(
            found("GB82 WEST 1234 5698 7654 32"),
            vec![(Card, "GB82 WEST 1234 5698 7654 32".into())]
        );
        // A wrong check, a word around it, pgveil's masked forms: not found.
        for not_found in [
            "FR76 3000 6000 0112 3456 7890 188",
            "XDE89370400440532013000",
            "FR00 0000 0000 0000 0000 0000 000",
            "0000 0000 0000 0000",
            "+00 0 00 00 00 00",
            "+000-000-0000",
            "+(000) 0000 0000",
        ] {
            assert!(
                found(not_found).is_empty(),
                "{not_found}: {:?}",
                found(not_found)
            );
        }
        // A phone running into an IP address ends before it.
        assert_eq!(
            found("+33 5 62 02 97 93 10.1.2.3"),
            vec![(Ip, "10.1.2.3".into()), (Phone, "+33 5 62 02 97 93".into())]
        );
        assert!(iban_checks(b"DE89370400440532013000"));
        assert!(!iban_checks(b"DE88370400440532013000"));
    }

    #[test]
    fn luhn_digits() {
        assert!(luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]));
        assert!(!luhn(&[4, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2]));
    }

    proptest::proptest! {
        #[test]
        fn any_bytes_give_spans_inside_the_field(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..200)) {
            scan_value(&raw, |c, s, e| {
                assert!(s < e && e <= raw.len(), "{c} {s}..{e} of {}", raw.len());
            });
        }

        #[test]
        fn planted_cards_are_found(
            digits in proptest::collection::vec(0u8..10, 12..18),
            sep in proptest::prop_oneof![proptest::strategy::Just(""), proptest::strategy::Just(" "), proptest::strategy::Just("-")],
        ) {
            // Complete the number with its Luhn check digit, then group it by 4.
            let check = (0..10u8).find(|c| {
                let mut d = digits.clone();
                d.push(*c);
                luhn(&d)
            }).unwrap();
            let mut all = digits.clone();
            all.push(check);
            let text: Vec<String> = all.chunks(4).map(|g| g.iter().map(|d| (b'0' + d) as char).collect()).collect();
            let card = text.join(sep);
            let field = format!("paid with {card}, thanks");
            let mut cards = Vec::new();
            scan_value(field.as_bytes(), |c, s, e| if c == Category::Card { cards.push(field[s..e].to_string()) });
            proptest::prop_assert_eq!(cards, vec![card]);
        }
    }
}
