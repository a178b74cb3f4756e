//! `partial`: keep the first `keep_first` and the last `keep_last` characters of the value and
//! replace every character in between by `fill` (default `*`). Options `keep_first`, `keep_last`
//! (integers ≥ 0, default 0), `fill` (one character). Characters are Unicode scalar values, so a
//! multi-byte character is replaced by one fill character; invalid UTF-8 is handled byte by byte.
//! A value not longer than `keep_first + keep_last` is filled entirely: otherwise a short value
//! would pass through whole.
//!
//! Why: support and reconciliation work often needs a recognizable tail (the last 4 digits of a
//! card, of an IBAN, of a phone number) while the rest must not leave the production system. The
//! length is kept, so layouts and length checks still work. Deterministic but not unique: do not use
//! it on `unique` columns (use `hash`).
//!
//! ```toml
//! [[rule]]
//! table = "payments"
//! column = "card_number"
//! masker = "partial"
//! keep_last = 4
//! ```
//! `4111 1111 1111 1234` becomes `***************1234`.

use super::{Configured, MaskerSpec};
use crate::mask::key::Key;
use crate::mask::source::Options;
use crate::mask::{MaskOutcome, Masker, RulesError};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub(crate) struct PartialSpec {
    pub(crate) keep_first: usize,
    pub(crate) keep_last: usize,
    pub(crate) fill: char,
}

impl PartialSpec {
    pub(crate) fn parse(opts: &mut Options<'_, '_>) -> Result<PartialSpec, RulesError> {
        let count = |opts: &mut Options<'_, '_>, name: &str| -> Result<usize, RulesError> {
            match opts.take_int(name)? {
                None => Ok(0),
                Some((_, n)) if (0..=1_000_000).contains(&n) => Ok(n as usize),
                Some((span, n)) => Err(opts.error(
                    span,
                    format!("option `{name}` of masker `partial` must be between 0 and 1000000, not {n}"),
                )),
            }
        };
        let keep_first = count(opts, "keep_first")?;
        let keep_last = count(opts, "keep_last")?;
        let fill = match opts.take_str("fill")? {
            None => '*',
            Some((span, f)) => {
                let mut cs = f.chars();
                match (cs.next(), cs.next()) {
                    (Some(c), None) if !matches!(c, '\t' | '\n' | '\r' | '\\') => c,
                    _ => {
                        return Err(opts.error(
                            span,
                            format!("option `fill` of masker `partial` must be one character (not a tab, newline or backslash), not {f:?}"),
                        ))
                    }
                }
            }
        };
        Ok(PartialSpec {
            keep_first,
            keep_last,
            fill,
        })
    }
}

#[derive(Debug, Clone)]
pub struct Partial {
    keep_first: usize,
    keep_last: usize,
    fill: [u8; 4],
    fill_len: usize,
}

impl Partial {
    pub(crate) fn new(spec: &PartialSpec) -> Partial {
        let mut fill = [0u8; 4];
        let fill_len = spec.fill.encode_utf8(&mut fill).len();
        Partial {
            keep_first: spec.keep_first,
            keep_last: spec.keep_last,
            fill,
            fill_len,
        }
    }
}

/// Byte offsets of character starts (whole UTF-8 sequences; a stray byte counts as one).
fn char_starts(value: &[u8]) -> impl Iterator<Item = usize> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        if i >= value.len() {
            return None;
        }
        let start = i;
        let len = match value[i] {
            b if b < 0x80 => 1,
            b if b >= 0xf0 => 4,
            b if b >= 0xe0 => 3,
            b if b >= 0xc0 => 2,
            _ => 1,
        };
        i = (i + len).min(value.len());
        // A truncated or invalid sequence: fall back to one byte.
        if value[start + 1..i].iter().any(|&b| b & 0xc0 != 0x80) {
            i = start + 1;
        }
        Some(start)
    })
}

impl Masker for Partial {
    fn prefilter(&self, raw: &[u8]) -> bool {
        !raw.is_empty()
    }
    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        if value.is_empty() {
            return MaskOutcome::Unchanged;
        }
        let starts: Vec<usize> = char_starts(value).collect();
        let n = starts.len();
        let (first, last) = if n > self.keep_first + self.keep_last {
            (self.keep_first, self.keep_last)
        } else {
            (0, 0)
        };
        let mid_start = if first < n {
            starts[first]
        } else {
            value.len()
        };
        let mid_end = if last == 0 {
            value.len()
        } else {
            starts[n - last]
        };
        out.extend_from_slice(&value[..mid_start]);
        for _ in first..n - last {
            out.extend_from_slice(&self.fill[..self.fill_len]);
        }
        out.extend_from_slice(&value[mid_end..]);
        MaskOutcome::Value
    }
}

/// Registered as `partial`: options `keep_first`, `keep_last`, `fill`.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "partial",
    example: "keep_last = 4",
    options: &["keep_first", "keep_last", "fill"],
    parse: |opts| Ok(Box::new(PartialSpec::parse(opts)?)),
};

impl Configured for PartialSpec {
    fn build(&self, _key: &Key, _unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(Partial::new(self)))
    }
}
