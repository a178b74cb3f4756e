//! `round_point`: the coordinates of a location rounded to `decimals` decimal places (a home
//! location made coarse: 2 decimals is about 1 km, 1 decimal about 10 km). Option `decimals`
//! (integer 0..=15, required).
//!
//! Takes a PostgreSQL `point` as it prints (`(2.2945,48.8584)`), a plain number (a `latitude`
//! column), or numbers separated by commas, spaces and brackets (a `lat, long` text); every number
//! is rounded (half away from zero) and everything else kept: `(2.2945,48.8584)` becomes
//! `(2.29,48.86)` with `decimals = 2`. `NaN` and `Infinity` are left as they are; a value holding
//! anything else (letters, other punctuation) becomes NULL: never passed through.
//!
//! ```toml
//! [[rule]]
//! table = "people"
//! column = "home"
//! masker = "round_point"
//! decimals = 2
//! ```

use super::{Configured, MaskerSpec};
use crate::mask::category::{Categories, Category};
use crate::mask::key::Key;
use crate::mask::source::Options;
use crate::mask::{MaskOutcome, Masker, RulesError};
use std::sync::Arc;

#[derive(Debug, Clone, Copy)]
pub struct RoundPoint {
    decimals: usize,
}

fn parse(opts: &mut Options<'_, '_>) -> Result<RoundPoint, RulesError> {
    match opts.take_int("decimals")? {
        None => Err(opts.error(
            opts.masker_span.clone(),
            "masker `round_point` needs the option `decimals` (0 to 15)",
        )),
        Some((_, n)) if (0..=15).contains(&n) => Ok(RoundPoint {
            decimals: n as usize,
        }),
        Some((span, n)) => Err(opts.error(
            span,
            format!("option `decimals` of masker `round_point` must be between 0 and 15, not {n}"),
        )),
    }
}

impl RoundPoint {
    fn round(&self, value: &[u8], out: &mut Vec<u8>) -> Option<()> {
        let number = |b: u8| b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'+' | b'e' | b'E');
        let mut i = 0;
        let mut numbers = 0;
        while i < value.len() {
            let b = value[i];
            if matches!(b, b'(' | b')' | b'[' | b']' | b'{' | b'}' | b',' | b' ') {
                out.push(b);
                i += 1;
                continue;
            }
            let start = i;
            while i < value.len() && number(value[i]) {
                i += 1;
            }
            let token = &value[start..i];
            if token.is_empty() {
                return None;
            }
            let x: f64 = std::str::from_utf8(token).ok()?.parse().ok()?;
            let p = 10f64.powi(self.decimals as i32);
            let r = (x * p).round() / p;
            if !r.is_finite() {
                return None;
            }
            // `-0.00` reads back as 0, but prints as the value it is.
            let r = if r == 0.0 { 0.0 } else { r };
            out.extend_from_slice(format!("{r:.*}", self.decimals).as_bytes());
            numbers += 1;
        }
        (numbers > 0).then_some(())
    }
}

impl Masker for RoundPoint {
    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        if matches!(value, b"NaN" | b"Infinity" | b"-Infinity") {
            return MaskOutcome::Unchanged;
        }
        super::rewritten(value, out, |v, o| self.round(v, o))
    }
}

/// Registered as `round_point`: option `decimals`.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "round_point",
    example: "decimals = 2",
    options: &["decimals"],
    parse: |opts| Ok(Box::new(parse(opts)?)),
};

impl Configured for RoundPoint {
    fn build(&self, _key: &Key, _unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(*self))
    }
    /// Rounded to as many decimals as the geo detector wants, the output still looks like a
    /// precise location to `scan`.
    fn produces(&self) -> Categories {
        if self.decimals >= crate::mask::find::GEO_MIN_DECIMALS {
            Category::Geo.bit()
        } else {
            0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(decimals: usize, v: &str) -> Option<String> {
        let mut out = Vec::new();
        match (RoundPoint { decimals }).mask(v.as_bytes(), &mut out) {
            MaskOutcome::Value => Some(String::from_utf8(out).unwrap()),
            MaskOutcome::Unchanged => Some(v.to_string()),
            MaskOutcome::Null => None,
        }
    }

    #[test]
    fn points_and_coordinates_are_rounded() {
        assert_eq!(
            apply(2, "(2.2945,48.8584)").as_deref(),
            Some("(2.29,48.86)")
        );
        assert_eq!(apply(1, "48.8584").as_deref(), Some("48.9"));
        assert_eq!(apply(0, "-122.4194").as_deref(), Some("-122"));
        assert_eq!(apply(2, "48.8584, 2.2945").as_deref(), Some("48.86, 2.29"));
        assert_eq!(apply(2, "(-0.001,1e-05)").as_deref(), Some("(0.00,0.00)"));
        assert_eq!(apply(2, "NaN").as_deref(), Some("NaN"));
        for bad in ["", "(a,b)", "48°51'N", "1;2", "(1,,)x"] {
            assert_eq!(apply(2, bad), None, "{bad}");
        }
    }
}
