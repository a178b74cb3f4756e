//! `email_scan`: find every email address anywhere inside a value and replace each one by
//! `nobody@example.com` (or, on a `unique` column, by the keyed form `nobody+<h>@example.com` of that
//! address, exactly as the `email` masker does).
//!
//! Why: addresses hide in free text, JSON documents, arrays and columns nobody thought of. Scanning
//! is safe on any type: the replacement only appears where an `@` was, and numbers, dates, UUIDs and
//! `bytea` (hex text form) never contain one. The default rules apply it to every column.
//!
//! Example: `{"to":"Ann <ann.lee@corp.example.org>","cc":["b@x.io"]}` becomes
//! `{"to":"Ann <nobody@example.com>","cc":["nobody@example.com"]}`, and the array literal
//! `{a@b.com,"c d@e.org"}` becomes `{nobody@example.com,"c nobody@example.com"}`.
//!
//! The scanner is hand-written (no regex) and runs only when the raw field contains an `@`. Around each
//! `@` it takes:
//! - the local part: the bytes `[A-Za-z0-9._%+-]` and any non-ASCII byte (whole UTF-8 sequences) to the
//!   left, not reaching into the previous address;
//! - the domain: `[A-Za-z0-9.-]` and non-ASCII bytes to the right, with trailing `.`/`-` trimmed; it must
//!   contain a dot with something before it, and its last label must be at least 2 letters or
//!   non-ASCII bytes (otherwise labels are dropped from the right until one qualifies, so
//!   `a@b.com.123` still masks `a@b.com`).
//!
//! It never consumes `{ } " , \ ' ( ) < > [ ] ; :` or whitespace, and the replacement contains none of
//! them, so JSON, array and record literals and quoting stay valid. A local part right after a JSON
//! escape (`\n`, `\t`, `\u00e9`, ...) starts after the escape, so the escape stays intact (when
//! nothing but the escape letter precedes the `@`, as in `\t@y.org`, the replacement starts at that
//! letter: it begins with `n`, and `\n` is still a valid escape). After a backslash followed by any
//! other character (`\heidi@x.org` in plain text) the whole local part is replaced.
//! Not found: quoted local parts (`"a b"@x.org`), IP-literal domains (`a@[10.0.0.1]`), and addresses
//! whose `@` is written as an escape (JSON `\u0040`).

use super::{Configured, MaskerSpec};
use crate::mask::category::{Categories, Category};
use crate::mask::key::{HmacSha256, Key};
use crate::mask::{MaskOutcome, Masker};
use std::sync::Arc;

use super::email::push_replacement;

#[inline]
fn is_local(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'%' | b'+' | b'-') || b >= 0x80
}

#[inline]
fn is_domain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-') || b >= 0x80
}

#[inline]
fn is_tld(b: u8) -> bool {
    b.is_ascii_alphabetic() || b >= 0x80
}

/// Whether `value[i]` is preceded by an odd run of backslashes.
fn escaped(value: &[u8], i: usize) -> bool {
    value[..i].iter().rev().take_while(|&&b| b == b'\\').count() % 2 == 1
}

/// The length of the valid domain at the start of `d` (all domain bytes), if any.
fn domain_len(d: &[u8]) -> Option<usize> {
    let mut n = d.len();
    loop {
        while n > 0 && matches!(d[n - 1], b'.' | b'-') {
            n -= 1;
        }
        let dot = memchr::memrchr(b'.', &d[..n])?;
        let label = &d[dot + 1..n];
        if dot > 0 && label.len() >= 2 && label.iter().all(|&b| is_tld(b)) {
            return Some(n);
        }
        if dot == 0 {
            return None;
        }
        n = dot;
    }
}

/// Call `f(start, end)` for every address in `value`, left to right, non-overlapping.
pub fn scan(value: &[u8], mut f: impl FnMut(usize, usize)) {
    let mut floor = 0;
    for at in memchr::memchr_iter(b'@', value) {
        if at < floor {
            continue;
        }
        let mut s = at;
        while s > floor && is_local(value[s - 1]) {
            s -= 1;
        }
        // A JSON escape letter right after an unescaped backslash (`\n`, `\t`, `\u00e9`, ...) is part
        // of the escape, not of the address. After any other character the backslash is just text.
        let json_escape = s > 0
            && s < at
            && value[s - 1] == b'\\'
            && !escaped(value, s - 1)
            && matches!(value[s], b'b' | b'f' | b'n' | b'r' | b't' | b'u');
        if json_escape {
            if value[s] == b'u' {
                // JSON `\uXXXX`: keep it; the address starts after it, even with an empty local part.
                s += 1;
                let mut k = 0;
                while k < 4 && s < at && value[s].is_ascii_hexdigit() {
                    s += 1;
                    k += 1;
                }
            } else if s + 1 < at {
                s += 1;
            }
            // else (`\n@y.org`): replace from the escape letter; the replacement starts with `n`,
            // so the escape stays valid (`\nobody@...`).
        } else if s >= at {
            continue;
        }
        let mut e = at + 1;
        while e < value.len() && is_domain(value[e]) {
            e += 1;
        }
        let Some(n) = domain_len(&value[at + 1..e]) else {
            continue;
        };
        let end = at + 1 + n;
        f(s, end);
        floor = end;
    }
}

#[derive(Clone)]
pub struct EmailScan {
    /// Present for `unique` columns.
    mac: Option<HmacSha256>,
}

impl EmailScan {
    pub fn new(key: &Key, unique: bool) -> EmailScan {
        EmailScan {
            mac: unique.then(|| key.mac()),
        }
    }
}

impl Masker for EmailScan {
    /// The raw field contains an `@` (pg_dump writes `@` literally, never as an escape).
    fn prefilter(&self, raw: &[u8]) -> bool {
        memchr::memchr(b'@', raw).is_some()
    }

    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        let base = out.len();
        let mut copied = 0;
        let mac = self.mac.as_ref();
        scan(value, |s, e| {
            out.extend_from_slice(&value[copied..s]);
            push_replacement(mac, &value[s..e], out);
            copied = e;
        });
        if copied == 0 && out.len() == base {
            return MaskOutcome::Unchanged;
        }
        out.extend_from_slice(&value[copied..]);
        MaskOutcome::Value
    }
}

/// Registered as `email_scan`: no options; removes addresses only.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "email_scan",
    example: "",
    options: &[],
    parse: |_| Ok(Box::new(Config)),
};

struct Config;

impl Configured for Config {
    fn build(&self, key: &Key, unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(EmailScan::new(key, unique)))
    }
    fn covers(&self) -> Categories {
        Category::Email.bit()
    }
}
