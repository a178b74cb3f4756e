//! `prefix`: keep the first `keep` characters of a value (a postal code cut to its area) and
//! replace every later letter or digit by a filler, keeping the length and the separators. Options
//! `keep` (integer ≥ 0, required) and `fill` (one character; by default a digit becomes `0` and a
//! letter `X`, so `75014` → `75000` stays a well-formed code).
//!
//! `keep = 2`: `75014` becomes `75000`, `SW1A 1AA` becomes `SW0X 0XX`, `02139-4307` becomes
//! `02000-0000`. Characters are Unicode scalar values.
//!
//! ```toml
//! [[rule]]
//! table = "people"
//! column = "postal_code"
//! masker = "prefix"
//! keep = 2
//! ```

use super::{Configured, MaskerSpec};
use crate::mask::key::Key;
use crate::mask::source::Options;
use crate::mask::{MaskOutcome, Masker, RulesError};
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
pub struct Prefix {
    keep: usize,
    /// `None`: digits → `0`, letters → `X`.
    fill: Option<char>,
}

fn parse(opts: &mut Options<'_, '_>) -> Result<Prefix, RulesError> {
    let keep = match opts.take_int("keep")? {
        None => {
            return Err(opts.error(
                opts.masker_span.clone(),
                "masker `prefix` needs the option `keep` (the number of leading characters kept)",
            ))
        }
        Some((_, n)) if (0..=1_000_000).contains(&n) => n as usize,
        Some((span, n)) => {
            return Err(opts.error(
                span,
                format!("option `keep` of masker `prefix` must be between 0 and 1000000, not {n}"),
            ))
        }
    };
    let fill = match opts.take_str("fill")? {
        None => None,
        Some((span, f)) => {
            let mut cs = f.chars();
            match (cs.next(), cs.next()) {
                (Some(c), None) if !c.is_control() && c != '\\' => Some(c),
                _ => {
                    return Err(opts.error(
                        span,
                        format!("option `fill` of masker `prefix` must be one character (not a control character or backslash), not {f:?}"),
                    ))
                }
            }
        }
    };
    Ok(Prefix { keep, fill })
}

impl Masker for Prefix {
    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        let text = String::from_utf8_lossy(value);
        let mut changed = false;
        let mut buf = [0u8; 4];
        for (i, c) in text.chars().enumerate() {
            let r = if i < self.keep || !c.is_alphanumeric() {
                c
            } else {
                match self.fill {
                    Some(f) => f,
                    None if c.is_ascii_digit() => '0',
                    None => 'X',
                }
            };
            changed |= r != c;
            out.extend_from_slice(r.encode_utf8(&mut buf).as_bytes());
        }
        if changed {
            MaskOutcome::Value
        } else {
            MaskOutcome::Unchanged
        }
    }
}

/// Registered as `prefix`: options `keep`, `fill`.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "prefix",
    example: "keep = 2",
    options: &["keep", "fill"],
    parse: |opts| Ok(Box::new(parse(opts)?)),
};

impl Configured for Prefix {
    fn build(&self, _key: &Key, _unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(keep: usize, fill: Option<char>, v: &str) -> String {
        let mut out = Vec::new();
        match (Prefix { keep, fill }).mask(v.as_bytes(), &mut out) {
            MaskOutcome::Value => String::from_utf8(out).unwrap(),
            _ => v.to_string(),
        }
    }

    #[test]
    fn postal_codes_keep_their_prefix_and_length() {
        assert_eq!(apply(2, None, "75014"), "75000");
        assert_eq!(apply(2, None, "SW1A 1AA"), "SW0X 0XX");
        assert_eq!(apply(3, None, "02139-4307"), "02100-0000");
        assert_eq!(apply(1, Some('*'), "H3Z 2Y7"), "H** ***");
        assert_eq!(apply(2, None, "Zürich"), "ZüXXXX");
        assert_eq!(apply(5, None, "75014"), "75014");
        assert_eq!(apply(0, None, ""), "");
    }
}
