//! `bucket`: a number put at the lower bound of its bucket of `width` (a quasi-identifier such as
//! an age, a salary or a house number made coarse). Option `width` (a number > 0, required).
//!
//! `width = 10`: `37` becomes `30`, `-3` becomes `-10`, `52123.75` becomes `52120.00` (the value's
//! decimals are kept; a width with more decimals than the value adds them, so use such a width on
//! `numeric` columns only). Computed in exact decimal arithmetic. `NaN`, `Infinity` and
//! `-Infinity` are left as they are; a float with an exponent (`1.5e+20`) is bucketed in floating
//! point; anything else becomes NULL: never passed through.
//!
//! When a bucket still holds a single person (one employee in the top salary band), `noise` (keyed,
//! never zero) blurs the value instead of grouping it.
//!
//! ```toml
//! [[rule]]
//! table = "people"
//! column = "age"
//! masker = "bucket"
//! width = 10
//! ```

use super::{Configured, MaskerSpec};
use crate::mask::key::Key;
use crate::mask::source::Options;
use crate::mask::{MaskOutcome, Masker, RulesError};
use std::sync::Arc;

/// A decimal `digits × 10^-scale`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decimal {
    digits: i128,
    scale: u32,
}

/// Parse `[-+]digits[.digits]` (at most 30 integer and 18 fraction digits).
fn decimal(s: &[u8]) -> Option<Decimal> {
    let (neg, body) = match s.first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let dot = body.iter().position(|&b| b == b'.');
    let (int, frac) = match dot {
        Some(i) => (&body[..i], &body[i + 1..]),
        None => (body, &b""[..]),
    };
    if (int.is_empty() && frac.is_empty())
        || int.len() > 30
        || frac.len() > 18
        || !int.iter().chain(frac).all(u8::is_ascii_digit)
        || (dot.is_some() && frac.is_empty())
    {
        return None;
    }
    let digits = int
        .iter()
        .chain(frac)
        .fold(0i128, |a, &b| a * 10 + i128::from(b - b'0'));
    Some(Decimal {
        digits: if neg { -digits } else { digits },
        scale: frac.len() as u32,
    })
}

#[derive(Debug, Clone, Copy)]
pub struct Bucket {
    width: Decimal,
    width_f: f64,
}

fn parse(opts: &mut Options<'_, '_>) -> Result<Bucket, RulesError> {
    let bad =
        "option `width` of masker `bucket` must be a number greater than 0 (at most 18 decimals)";
    let Some((span, w)) = opts.take_number("width")? else {
        return Err(opts.error(
            opts.masker_span.clone(),
            "masker `bucket` needs the option `width` (a number greater than 0)",
        ));
    };
    // The shortest decimal that reads back as `w` (`0.1`, not its binary expansion).
    let width = (w.is_finite() && w > 0.0 && w < 1e30)
        .then(|| decimal(w.to_string().as_bytes()))
        .flatten()
        .filter(|d| d.digits > 0);
    match width {
        Some(width) => Ok(Bucket { width, width_f: w }),
        None => Err(opts.error(span, format!("{bad}, not {w}"))),
    }
}

impl Bucket {
    fn bucket(&self, value: &[u8], out: &mut Vec<u8>) -> Option<()> {
        if value.iter().any(|&b| b == b'e' || b == b'E') {
            let v: f64 = std::str::from_utf8(value).ok()?.parse().ok()?;
            let lower = (v / self.width_f).floor() * self.width_f;
            if !lower.is_finite() {
                return None;
            }
            out.extend_from_slice(lower.to_string().as_bytes());
            return Some(());
        }
        let v = decimal(value)?;
        let scale = v.scale.max(self.width.scale);
        let up = |d: Decimal| d.digits.checked_mul(10i128.checked_pow(scale - d.scale)?);
        let (x, w) = (up(v)?, up(self.width)?);
        let lower = x.div_euclid(w).checked_mul(w)?;
        if lower < 0 {
            out.push(b'-');
        }
        let a = lower.unsigned_abs();
        let sc = 10u128.pow(scale);
        out.extend_from_slice((a / sc).to_string().as_bytes());
        if scale > 0 {
            out.push(b'.');
            out.extend_from_slice(format!("{:0w$}", a % sc, w = scale as usize).as_bytes());
        }
        Some(())
    }
}

impl Masker for Bucket {
    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        if matches!(value, b"NaN" | b"Infinity" | b"-Infinity") {
            return MaskOutcome::Unchanged;
        }
        super::rewritten(value, out, |v, o| self.bucket(v, o))
    }
}

/// Registered as `bucket`: option `width`.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "bucket",
    example: "width = 10",
    options: &["width"],
    parse: |opts| Ok(Box::new(parse(opts)?)),
};

impl Configured for Bucket {
    fn build(&self, _key: &Key, _unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(width: f64, v: &str) -> Option<String> {
        let m = Bucket {
            width: decimal(width.to_string().as_bytes()).unwrap(),
            width_f: width,
        };
        let mut out = Vec::new();
        match m.mask(v.as_bytes(), &mut out) {
            MaskOutcome::Value => Some(String::from_utf8(out).unwrap()),
            MaskOutcome::Unchanged => Some(v.to_string()),
            MaskOutcome::Null => None,
        }
    }

    #[test]
    fn numbers_go_to_the_lower_bound_of_their_bucket() {
        assert_eq!(apply(10.0, "37").as_deref(), Some("30"));
        assert_eq!(apply(10.0, "30").as_deref(), Some("30"));
        assert_eq!(apply(10.0, "-3").as_deref(), Some("-10"));
        assert_eq!(apply(10.0, "0").as_deref(), Some("0"));
        assert_eq!(apply(1000.0, "52123.75").as_deref(), Some("52000.00"));
        assert_eq!(apply(0.5, "3.74").as_deref(), Some("3.50"));
        assert_eq!(apply(0.1, "3").as_deref(), Some("3.0"));
        assert_eq!(apply(5.0, "+12").as_deref(), Some("10"));
        assert_eq!(
            apply(10.0, "1.5e+20").as_deref(),
            Some("150000000000000000000")
        );
        assert_eq!(apply(10.0, "NaN").as_deref(), Some("NaN"));
        assert_eq!(apply(10.0, "-Infinity").as_deref(), Some("-Infinity"));
        for bad in ["", "abc", "1.", "1,5", "12 ", "--1"] {
            assert_eq!(apply(10.0, bad), None, "{bad}");
        }
    }
}
