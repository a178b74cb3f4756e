//! `noise`: move numbers and dates by a keyed pseudo-random amount within a range.
//!
//! Options (at least one):
//! - `range`: numbers move by up to ± this amount (`range = 500` on a salary);
//! - `ratio`: numbers move by up to ± this fraction of their own size (`ratio = 0.1` = ±10 %);
//!   with both, the larger bound applies;
//! - `days`: dates and timestamps move by up to ± this many whole days (the time of day and the
//!   time zone are kept).
//!
//! Numbers keep their form: an integer stays an integer, `12.50` keeps two decimals (the offset is
//! rounded to them), the sign may change only if the range allows it. Dates are the ISO forms
//! PostgreSQL prints (`2024-01-15`, `2024-01-15 10:30:00+00`); anything else (`infinity`, `NaN`,
//! exponents, BC dates) is left as it is.
//!
//! Why: aggregates, charts and ranges stay realistic while an exact salary or birth date no longer
//! identifies a person. The offset comes from HMAC(key, value): the same value moves the same way
//! in every table and run with the same key (equal values stay equal), a different key moves it
//! differently.
//!
//! ```toml
//! [[rule]]
//! table = "employees"
//! column = "birth_date"
//! masker = "noise"
//! days = 90
//! ```
//! `1984-06-02` becomes e.g. `1984-04-19`; with `range = 1000`, `52000.00` becomes e.g. `51377.42`.

use super::{Configured, MaskerSpec};
use crate::mask::key::{keyed_digest, HmacSha256, Key};
use crate::mask::source::Options;
use crate::mask::{MaskOutcome, Masker, RulesError};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub(crate) struct NoiseSpec {
    range: f64,
    ratio: f64,
    days: i64,
}

impl NoiseSpec {
    pub(crate) fn parse(opts: &mut Options<'_, '_>) -> Result<NoiseSpec, RulesError> {
        let get = |opts: &mut Options<'_, '_>, name: &str| -> Result<f64, RulesError> {
            match opts.take_number(name)? {
                None => Ok(0.0),
                Some((_, v)) if v.is_finite() && v >= 0.0 => Ok(v),
                Some((span, v)) => Err(opts.error(
                    span,
                    format!("option `{name}` of masker `noise` must be a number ≥ 0, not {v}"),
                )),
            }
        };
        let range = get(opts, "range")?;
        let ratio = get(opts, "ratio")?;
        let days = get(opts, "days")?;
        if days.fract() != 0.0 || days > 1_000_000.0 {
            return Err(opts.error(
                opts.masker_span.clone(),
                "option `days` of masker `noise` must be a whole number of days (at most 1000000)",
            ));
        }
        if range == 0.0 && ratio == 0.0 && days == 0.0 {
            return Err(opts.error(
                opts.masker_span.clone(),
                "masker `noise` needs `range`, `ratio` (numbers) or `days` (dates), greater than 0",
            ));
        }
        Ok(NoiseSpec {
            range,
            ratio,
            days: days as i64,
        })
    }
}

#[derive(Clone)]
pub struct Noise {
    mac: HmacSha256,
    spec: NoiseSpec,
}

impl Noise {
    pub(crate) fn new(key: &Key, spec: &NoiseSpec) -> Noise {
        Noise {
            mac: key.mac(),
            spec: spec.clone(),
        }
    }

    /// A keyed uniform value in [-1, 1].
    fn unit(&self, value: &[u8]) -> f64 {
        let d = keyed_digest(&self.mac, value);
        let x = u64::from_be_bytes(d[..8].try_into().expect("8 bytes"));
        (x as f64 / u64::MAX as f64) * 2.0 - 1.0
    }

    fn number(&self, value: &[u8], out: &mut Vec<u8>) -> Option<()> {
        let s = std::str::from_utf8(value).ok()?;
        let (neg, body) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (int, frac) = body.split_once('.').unwrap_or((body, ""));
        if int.is_empty() || !int.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 18 || int.len() > 20 {
            return None;
        }
        let scale = 10i128.pow(frac.len() as u32);
        let mut n: i128 = int.parse::<i128>().ok()? * scale;
        if !frac.is_empty() {
            n += frac.parse::<i128>().ok()?;
        }
        if neg {
            n = -n;
        }
        let magnitude = n.unsigned_abs() as f64 / scale as f64;
        let bound = self.spec.range.max(magnitude * self.spec.ratio);
        if bound == 0.0 {
            return None;
        }
        let offset = (self.unit(value) * bound * scale as f64).round() as i128;
        let r = n.checked_add(offset)?;
        if r < 0 {
            out.push(b'-');
        }
        let a = r.unsigned_abs();
        let sc = scale as u128;
        out.extend_from_slice((a / sc).to_string().as_bytes());
        if !frac.is_empty() {
            out.push(b'.');
            out.extend_from_slice(format!("{:0w$}", a % sc, w = frac.len()).as_bytes());
        }
        Some(())
    }

    fn date(&self, value: &[u8], out: &mut Vec<u8>) -> Option<()> {
        if self.spec.days == 0 || value.len() < 10 {
            return None;
        }
        let head = std::str::from_utf8(&value[..10]).ok()?;
        let rest = &value[10..];
        if !(rest.is_empty() || rest[0] == b' ' || rest[0] == b'T') || rest.ends_with(b" BC") {
            return None;
        }
        let b = head.as_bytes();
        if b[4] != b'-' || b[7] != b'-' {
            return None;
        }
        let year: i32 = head[..4].parse().ok()?;
        let month: u8 = head[5..7].parse().ok()?;
        let day: u8 = head[8..10].parse().ok()?;
        let date =
            time::Date::from_calendar_date(year, time::Month::try_from(month).ok()?, day).ok()?;
        let offset = (self.unit(value) * self.spec.days as f64).round() as i64;
        let shifted = date.checked_add(time::Duration::days(offset))?;
        if !(1..=9999).contains(&shifted.year()) {
            return None;
        }
        out.extend_from_slice(
            format!(
                "{:04}-{:02}-{:02}",
                shifted.year(),
                u8::from(shifted.month()),
                shifted.day()
            )
            .as_bytes(),
        );
        out.extend_from_slice(rest);
        Some(())
    }
}

impl Masker for Noise {
    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        let base = out.len();
        let looks_like_date = value.len() >= 10 && value[4] == b'-' && value[7] == b'-';
        let done = if looks_like_date {
            self.date(value, out)
        } else if self.spec.range > 0.0 || self.spec.ratio > 0.0 {
            self.number(value, out)
        } else {
            None
        };
        match done {
            Some(()) if &out[base..] != value => MaskOutcome::Value,
            _ => {
                out.truncate(base);
                MaskOutcome::Unchanged
            }
        }
    }
}

/// Registered as `noise`: options `range`, `ratio`, `days`.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "noise",
    example: "range = 10",
    options: &["range", "ratio", "days"],
    parse: |opts| Ok(Box::new(NoiseSpec::parse(opts)?)),
};

impl Configured for NoiseSpec {
    fn build(&self, key: &Key, _unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(Noise::new(key, self)))
    }
}
