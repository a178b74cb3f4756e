//! `pii_scan`: the free-text scrubber. Finds every kind of personal data pgveil's detectors
//! recognise ([`crate::mask::find::find`]) anywhere inside a value — free text, json/jsonb
//! (string values, never keys), arrays — and replaces each span by its kind's masked form, leaving
//! every other byte as it was. It generalises `email_scan`.
//!
//! Masked forms (none of them is found again by the detectors, so `scan` can check the result):
//! - **email**: `nobody@example.com`, or on a `unique` column the keyed `nobody+<h>@example.com`,
//!   exactly as `email_scan` does;
//! - **phone**: the shape is kept (every separator stays), preceded by `+` when it had none; the
//!   first digit becomes `0` (no country code starts with 0, so it is never a real number) and the
//!   others `0`, or on a `unique` column digits of the keyed hash of the number:
//!   `+33 5 62 02 97 93` → `+00 0 00 00 00 00`;
//! - **card** (Luhn-valid, 13–19 digits): every digit `0`, separators kept;
//! - **iban** (mod-97 valid): the country code kept, every other letter or digit `0` (check digits
//!   `00` are never valid): `FR76 3000 …` → `FR00 0000 …`;
//! - **ip**: IPv4 → `192.0.2.1` (RFC 5737), IPv6 → `2001:db8::1` (RFC 3849); on a `unique` column
//!   the last part is keyed (`192.0.2.<0-255>`, `2001:db8::<h>:<h>`);
//! - **mac**: the RFC 7042 documentation block in the same layout and case, `00:00:5e:00:53:00`
//!   (last octet keyed on a `unique` column);
//! - **national_id** (French NIR, Spanish DNI/NIE, US SSN, see [`crate::mask::find`]): digits `0`
//!   (keyed on a `unique` column, but a NIR's first digit and an SSN's area stay 0) and a DNI/NIE's
//!   letter made wrong, so the result never passes the check: `123-45-6789` → `000-00-0000`,
//!   `12345678Z` → `00000000R`;
//! - **geo** (latitude/longitude pairs): every integer digit `0` and the decimals `0` (keyed on a
//!   `unique` column): `48.8584, 2.2945` → `00.0000, 0.0000`.
//!
//! Option `kinds`: which kinds to replace (default all): `kinds = ["email", "phone"]`; known kinds
//! `email`, `phone`, `card`, `iban`, `ip`, `mac`, `national_id`, `geo`.
//!
//! Phones are recognised by shape (see `detect`): a leading `+` and a country code with 7 to 14
//! more digits (spaces, dots, dashes, parentheses allowed), `(0xx) xxx-xxxx`, or three digit groups
//! separated by spaces or dashes (`020 7946 0958`, `555-123-4567`). A bare run of digits without
//! `+` (`33562029793`), dates, times, ids and UUIDs are not phones.
//!
//! JSON: a value that starts with `{` or `[` and parses as JSON is scrubbed inside its string
//! values only; keys, numbers and structure are left alone, and so are escapes (`\n`, `\u00e9`):
//! spans never include one. Other values (text, array literals `{…}`) are scanned whole.
//!
//! Hot path: the prefilter ([`crate::mask::find::may_hold`]) rejects, on the raw field, what
//! cannot hold a finding (no `@`, no colons, no digit cluster of a size or shape any kind needs);
//! otherwise nothing is allocated unless a span is found.
//!
//! ```toml
//! [[rule]]
//! table = "tickets"
//! column = "notes"
//! masker = "pii_scan"
//! kinds = ["email", "phone", "card"]   # optional, default: all
//! ```
//! `call +33 5 62 02 97 93 or write to ann@x.test` becomes
//! `call +00 0 00 00 00 00 or write to nobody@example.com`.

use super::{Configured, MaskerSpec};
use crate::mask::category::Categories;
use crate::mask::find::{find, Kind, DNI_LETTERS, DOCUMENTATION_MAC};
use crate::mask::key::{keyed_digest, push_hex, HmacSha256, Key};
use crate::mask::source::Options;
use crate::mask::{MaskOutcome, Masker, RulesError};
use std::sync::Arc;

use super::email::push_replacement;

/// Parse `kinds` (default: all), as a set of [`Kind::bit`]s.
pub(crate) fn parse_kinds(opts: &mut Options<'_, '_>) -> Result<u8, RulesError> {
    let Some((span, v)) = opts.take_value("kinds") else {
        return Ok(Kind::all());
    };
    let known = Kind::ALL.map(Kind::as_str).join(", ");
    let bad = |what: String| opts.error(span.clone(), what);
    let toml::Value::Array(items) = v else {
        return Err(bad(format!(
            "option `kinds` of masker `pii_scan` must be an array of kinds ({known})"
        )));
    };
    let mut kinds = 0u8;
    for it in &items {
        let k = it
            .as_str()
            .and_then(|s| Kind::ALL.into_iter().find(|k| k.as_str() == s));
        match k {
            Some(k) => kinds |= k.bit(),
            None => {
                return Err(bad(format!(
                    "option `kinds` of masker `pii_scan`: unknown kind {it} (known: {known})"
                )))
            }
        }
    }
    if kinds == 0 {
        return Err(bad("option `kinds` of masker `pii_scan` is empty".into()));
    }
    Ok(kinds)
}

pub struct PiiScan {
    kinds: u8,
    prefilter: crate::mask::find::Prefilter,
    /// Present for `unique` columns.
    mac: Option<HmacSha256>,
}

impl PiiScan {
    pub fn new(key: &Key, kinds: u8, unique: bool) -> PiiScan {
        PiiScan {
            kinds,
            prefilter: crate::mask::find::Prefilter::new(kinds),
            mac: unique.then(|| key.mac()),
        }
    }

    /// Append the masked form of `span`, of kind `k`.
    fn replace(&self, k: Kind, span: &[u8], out: &mut Vec<u8>) {
        match k {
            Kind::Email => push_replacement(self.mac.as_ref(), span, out),
            Kind::Phone => {
                let d = self.mac.as_ref().map(|m| keyed_digest(m, span));
                if span.first() != Some(&b'+') {
                    out.push(b'+');
                }
                let mut n = 0usize;
                for &b in span {
                    if b.is_ascii_digit() {
                        out.push(match &d {
                            Some(d) if n > 0 => b'0' + d[n % 32] % 10,
                            _ => b'0',
                        });
                        n += 1;
                    } else {
                        out.push(b);
                    }
                }
            }
            Kind::Card => out.extend(
                span.iter()
                    .map(|&b| if b.is_ascii_digit() { b'0' } else { b }),
            ),
            Kind::Iban => out.extend(span.iter().enumerate().map(|(i, &b)| {
                if i >= 2 && b.is_ascii_alphanumeric() {
                    b'0'
                } else {
                    b
                }
            })),
            Kind::Ip => {
                let v6 = span.contains(&b':');
                match (&self.mac, v6) {
                    (None, false) => out.extend_from_slice(b"192.0.2.1"),
                    (None, true) => out.extend_from_slice(b"2001:db8::1"),
                    (Some(m), false) => {
                        out.extend_from_slice(b"192.0.2.");
                        out.extend_from_slice(keyed_digest(m, span)[0].to_string().as_bytes());
                    }
                    (Some(m), true) => {
                        let d = keyed_digest(m, span);
                        out.extend_from_slice(b"2001:db8::");
                        push_hex(&d, 4, out);
                        out.push(b':');
                        push_hex(&d[2..], 4, out);
                    }
                }
            }
            Kind::Mac => {
                // RFC 7042's documentation block 00-00-5E-00-53-xx, in the span's own layout
                // and case; the last octet keyed on unique columns.
                let last = self.mac.as_ref().map_or(0, |m| keyed_digest(m, span)[0]);
                let mut nibbles = DOCUMENTATION_MAC
                    .iter()
                    .chain([&last])
                    .flat_map(|o| [o >> 4, o & 15]);
                let upper = span.iter().any(u8::is_ascii_uppercase);
                for &b in span {
                    if b.is_ascii_hexdigit() {
                        let v = nibbles.next().unwrap_or(0);
                        let c = char::from_digit(u32::from(v), 16).unwrap_or('0') as u8;
                        out.push(if upper { c.to_ascii_uppercase() } else { c });
                    } else {
                        out.push(b);
                    }
                }
            }
            Kind::NationalId => self.national_id(span, out),
            Kind::Geo => {
                // Integer digits 0 (never reported again: both integer parts 0), decimals 0 or
                // keyed; signs and separators kept.
                let d = self.mac.as_ref().map(|m| keyed_digest(m, span));
                let mut decimals = false;
                for (n, &b) in span.iter().enumerate() {
                    match b {
                        b'.' => decimals = true,
                        b',' => decimals = false,
                        _ => {}
                    }
                    out.push(match (&d, b.is_ascii_digit()) {
                        (Some(d), true) if decimals => b'0' + d[n % 32] % 10,
                        (_, true) => b'0',
                        _ => b,
                    });
                }
            }
        }
    }

    /// A national id's masked form, which fails its check: digits 0 (keyed on unique columns, the
    /// first one always 0: no NIR starts with 0, no SSN area is 000), a DNI/NIE letter replaced by
    /// the letter after the right one.
    fn national_id(&self, span: &[u8], out: &mut Vec<u8>) {
        let base = out.len();
        let d = self.mac.as_ref().map(|m| keyed_digest(m, span));
        let ssn = span.len() == 11 && span[3] == b'-';
        let mut n = 0usize;
        for &b in span {
            out.push(if b.is_ascii_digit() {
                n += 1;
                match &d {
                    // The SSN's area stays 000.
                    Some(d) if n > 1 && !(ssn && n <= 3) => b'0' + d[n % 32] % 10,
                    _ => b'0',
                }
            } else {
                b
            });
        }
        // DNI/NIE: the check letter is the last byte; recompute it on the new number, then take
        // the next one.
        let masked = &mut out[base..];
        if let Some(&last) = masked.last() {
            if last.is_ascii_uppercase() && !ssn {
                let prefix = match masked[0] {
                    b'Y' => 1,
                    b'Z' => 2,
                    _ => 0,
                };
                let number = masked
                    .iter()
                    .filter(|b| b.is_ascii_digit())
                    .fold(prefix, |a: u32, &b| a * 10 + u32::from(b - b'0'));
                let len = masked.len();
                masked[len - 1] = DNI_LETTERS[((number + 1) % 23) as usize];
            }
        }
    }

    /// Collect the spans of `text` (offset by `base`) into `spans`: emails over the whole text,
    /// the other kinds between JSON escapes when `json` (so no span includes one).
    fn collect(&self, text: &[u8], base: usize, json: bool, spans: &mut Vec<(usize, usize, Kind)>) {
        let mut push = |k: Kind, s: usize, e: usize| spans.push((base + s, base + e, k));
        if !json || memchr::memchr(b'\\', text).is_none() {
            find(text, self.kinds, &mut push);
            return;
        }
        find(text, self.kinds & Kind::Email.bit(), &mut push);
        let others = self.kinds & !Kind::Email.bit();
        let mut seg = 0;
        let mut i = 0;
        while let Some(off) = memchr::memchr(b'\\', &text[i..]) {
            let at = i + off;
            find(&text[seg..at], others, |k, s, e| push(k, seg + s, seg + e));
            // The escape: `\uXXXX` or `\` and one character.
            let len = if text.get(at + 1) == Some(&b'u') {
                6
            } else {
                2
            };
            i = (at + len).min(text.len());
            seg = i;
        }
        find(&text[seg..], others, |k, s, e| push(k, seg + s, seg + e));
    }
}

/// The spans of the string values (not keys) of a JSON document, as `(content start, end)`;
/// `None` when `value` is not JSON.
fn json_strings(value: &[u8], mut f: impl FnMut(usize, usize)) -> Option<()> {
    serde_json::from_slice::<serde::de::IgnoredAny>(value).ok()?;
    // Valid JSON: every `"` outside a string opens one; a string followed by `:` is a key.
    let mut i = 0;
    while let Some(off) = memchr::memchr(b'"', &value[i..]) {
        let start = i + off + 1;
        let mut j = start;
        loop {
            let k = j + memchr::memchr2(b'"', b'\\', &value[j..])?;
            if value[k] == b'\\' {
                j = k + 2;
            } else {
                j = k;
                break;
            }
        }
        let end = j;
        i = end + 1;
        let next = value[i..]
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        if next != Some(&b':') {
            f(start, end);
        }
    }
    Some(())
}

impl Masker for PiiScan {
    /// What [`crate::mask::find::may_hold`] says of the raw field.
    fn prefilter(&self, raw: &[u8]) -> bool {
        self.prefilter.may_hold(raw)
    }

    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        let mut spans: Vec<(usize, usize, Kind)> = Vec::new();
        let first = value
            .iter()
            .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
        let json = matches!(first, Some(b'{' | b'['))
            && json_strings(value, |s, e| {
                self.collect(&value[s..e], s, true, &mut spans);
            })
            .is_some();
        if !json {
            spans.clear();
            self.collect(value, 0, false, &mut spans);
        }
        if spans.is_empty() {
            return MaskOutcome::Unchanged;
        }
        // In order; of overlapping spans the first (the longest of those starting together) wins,
        // e.g. an IPv6 address over its IPv4 tail, an email over digits in its local part.
        spans.sort_unstable_by_key(|&(s, e, _)| (s, std::cmp::Reverse(e)));
        let mut copied = 0;
        for (s, e, k) in spans {
            if s < copied {
                continue;
            }
            out.extend_from_slice(&value[copied..s]);
            self.replace(k, &value[s..e], out);
            copied = e;
        }
        out.extend_from_slice(&value[copied..]);
        MaskOutcome::Value
    }
}

/// Registered as `pii_scan`: option `kinds`; removes the categories of the kinds it replaces.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "pii_scan",
    example: r#"kinds = ["email", "phone", "mac", "national_id", "geo"]"#,
    options: &["kinds"],
    parse: |opts| Ok(Box::new(Config(parse_kinds(opts)?))),
};

/// The set of [`Kind::bit`]s to replace.
struct Config(u8);

impl Configured for Config {
    fn build(&self, key: &Key, unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(PiiScan::new(key, self.0, unique)))
    }
    fn covers(&self) -> Categories {
        Kind::ALL
            .iter()
            .filter(|k| self.0 & k.bit() != 0)
            .fold(0, |a, k| a | k.category().bit())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_with(kinds: u8, unique: bool, v: &str) -> String {
        let m = PiiScan::new(&Key::from_bytes(b"k"), kinds, unique);
        let mut out = Vec::new();
        match m.mask(v.as_bytes(), &mut out) {
            MaskOutcome::Unchanged => v.to_string(),
            MaskOutcome::Value => String::from_utf8(out).unwrap(),
            MaskOutcome::Null => panic!("pii_scan never nulls"),
        }
    }

    fn mask(v: &str) -> String {
        mask_with(Kind::all(), false, v)
    }

    /// Nothing the detectors would report is left.
    fn clean(v: &str) -> bool {
        let mut n = 0;
        find(v.as_bytes(), Kind::all(), |_, _, _| n += 1);
        n == 0
    }

    #[test]
    fn each_kind_is_replaced_and_the_rest_kept() {
        assert_eq!(
            mask("call +33 5 62 02 97 93 or write to ann@x.test"),
            "call +00 0 00 00 00 00 or write to nobody@example.com"
        );
        assert_eq!(mask("+33562029793"), "+00000000000");
        assert_eq!(mask("office: 555-123-4567."), "office: +000-000-0000.");
        assert_eq!(mask("(020) 7946 0958"), "+(000) 0000 0000");
        assert_eq!(
            mask("paid with 4111 1111 1111 1111, thanks"),
            "paid with 0000 0000 0000 0000, thanks"
        );
        assert_eq!(
            mask("IBAN FR76 3000 6000 0112 3456 7890 189 ok"),
            "IBAN FR00 0000 0000 0000 0000 0000 000 ok"
        );
        assert_eq!(mask("DE89370400440532013000"), "DE00000000000000000000");
        assert_eq!(mask("from 10.1.2.3, then"), "from 192.0.2.1, then");
        assert_eq!(mask("via 2a02:1810:4d02:e500::1d4c."), "via 2001:db8::1.");
        assert_eq!(mask("mac 00-1A-2B-3C-4D-5E ok"), "mac 00-00-5E-00-53-00 ok");
        assert_eq!(mask("mac 001a.2b3c.4d5e"), "mac 0000.5e00.5300");
        assert_eq!(mask("SSN 123-45-6789."), "SSN 000-00-0000.");
        assert_eq!(mask("DNI 12345678Z"), "DNI 00000000R");
        assert_eq!(mask("NIE X-1234567-L"), "NIE X-0000000-R");
        assert_eq!(
            mask("NIR 2 90 03 2A 004 012 34"),
            "NIR 0 00 00 0A 000 000 00"
        );
        assert_eq!(mask("at 48.8584, -2.2945."), "at 00.0000, -0.0000.");
        for v in [
            "call +33 5 62 02 97 93 or write to ann@x.test",
            "DE89370400440532013000",
            "00:1a:2b:3c:4d:5e 1 85 05 78 006 084 91 X1234567L (2.2945,48.8584)",
            "4111-1111-1111-1111",
        ] {
            assert!(clean(&mask(v)), "{v} → {}", mask(v));
        }
    }

    #[test]
    fn plain_numbers_dates_and_ids_are_not_touched() {
        for v in [
            "order 12345678 shipped 2024-01-15 10:30:00+00",
            "550e8400-e29b-41d4-a716-446655440000",
            "4111 1111 1111 1112",
            "FR76 3000 6000 0112 3456 7890 188",
            "version 1.2.3.4.5",
            "192.0.2.1 and +00 0 00 00 00 00",
            "no digits at all",
        ] {
            assert_eq!(mask(v), v);
        }
    }

    #[test]
    fn kinds_choose_what_is_replaced() {
        let v = "ann@x.test +33 5 62 02 97 93 10.1.2.3";
        assert_eq!(
            mask_with(Kind::Email.bit(), false, v),
            "nobody@example.com +33 5 62 02 97 93 10.1.2.3"
        );
        assert_eq!(
            mask_with(Kind::Phone.bit() | Kind::Ip.bit(), false, v),
            "ann@x.test +00 0 00 00 00 00 192.0.2.1"
        );
    }

    #[test]
    fn unique_columns_get_keyed_forms() {
        for v in [
            "00:1a:2b:3c:4d:5e",
            "123-45-6789",
            "12345678Z",
            "Y7654321G",
            "1 85 05 78 006 084 91",
            "48.8584, 2.2945",
        ] {
            let m = mask_with(Kind::all(), true, v);
            assert!(m != v && m.len() == v.len() && clean(&m), "{v} → {m}");
        }
        let a = mask_with(Kind::all(), true, "ann@x.test +33 5 62 02 97 93 10.1.2.3");
        let b = mask_with(Kind::all(), true, "ann@x.test +33 5 62 02 97 94 10.1.2.4");
        assert_ne!(a, b);
        assert!(a.starts_with("nobody+") && a.contains(" +0"), "{a}");
        assert!(clean(&a), "{a}");
        assert_eq!(
            a,
            mask_with(Kind::all(), true, "ann@x.test +33 5 62 02 97 93 10.1.2.3")
        );
    }

    #[test]
    fn json_values_are_scrubbed_keys_and_escapes_kept() {
        assert_eq!(
            mask(
                r#"{"10.1.2.3": "seen 10.1.2.3", "ann@x.test": ["+33 5 62 02 97 93", 4111111111111111]}"#
            ),
            r#"{"10.1.2.3": "seen 192.0.2.1", "ann@x.test": ["+00 0 00 00 00 00", 4111111111111111]}"#
        );
        assert_eq!(
            mask(r#"{"note": "line\n+33 5 62 02 97 93\tcall \u00e9 ann@x.test\"x"}"#),
            r#"{"note": "line\n+00 0 00 00 00 00\tcall \u00e9 nobody@example.com\"x"}"#
        );
        assert_eq!(mask(r#"["a\n10.1.2.3"]"#), r#"["a\n192.0.2.1"]"#);
        // Not JSON (an array literal): scanned whole.
        assert_eq!(
            mask(r#"{ann@x.test,"+33 5 62 02 97 93"}"#),
            r#"{nobody@example.com,"+00 0 00 00 00 00"}"#
        );
    }
}
