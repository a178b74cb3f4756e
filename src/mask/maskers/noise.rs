//! `noise`: move numbers and dates by a keyed pseudo-random amount within a range.
//!
//! Options (at least one):
//! - `range`: numbers move by up to ± this amount (`range = 500` on a salary);
//! - `ratio`: numbers move by up to ± this fraction of their own size (`ratio = 0.1` = ±10 %);
//!   with both, the larger bound applies;
//! - `days`: dates and timestamps move by up to ± this many days: a date by whole days, a timestamp
//!   by a whole number of its own last unit (seconds, or the fraction digits it shows), so the time
//!   of day moves too; the zone suffix is kept as written.
//!
//! The offset is never 0 in the value's own precision (at least one day, second, or unit of the
//! last decimal, even where the bound is smaller): no value comes back unchanged.
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

    /// A keyed offset of 1 to `units` (at least 1) units, either sign: never 0, so a value never
    /// comes back unchanged (a rounded offset of 0 did, for half the timestamps with `days = 1`).
    fn offset(&self, value: &[u8], units: u128) -> i128 {
        let d = keyed_digest(&self.mac, value);
        let x = u128::from_be_bytes(d[..16].try_into().expect("16 bytes"));
        let magnitude = 1 + (x >> 1) % units.max(1);
        let m = magnitude as i128;
        if x & 1 == 1 {
            -m
        } else {
            m
        }
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
        // In units of the value's last decimal (a bound under one unit still moves it by one).
        let units = (bound * scale as f64).floor().min(1e30) as u128;
        let r = n.checked_add(self.offset(value, units))?;
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

    /// A date moves by whole days; a timestamp by a whole number of its own last unit (seconds,
    /// or the fraction digits it shows: PostgreSQL prints no more than the column holds, so the
    /// result never needs rounding on restore), the separator and zone suffix kept as written.
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
        let days = self.spec.days as u128;
        if rest.is_empty() {
            let shifted =
                date.checked_add(time::Duration::days(self.offset(value, days) as i64))?;
            if !(1..=9999).contains(&shifted.year()) {
                return None;
            }
            push_date(shifted, out);
            return Some(());
        }
        // `HH:MM:SS`, optional `.f` (1 to 6 digits), then the zone suffix (`+00`, `-03:30`) or nothing.
        let t = &rest[1..];
        let two = |i: usize| -> Option<u8> {
            let d = t.get(i..i + 2)?;
            d.iter()
                .all(u8::is_ascii_digit)
                .then(|| (d[0] - b'0') * 10 + (d[1] - b'0'))
        };
        if t.get(2) != Some(&b':') || t.get(5) != Some(&b':') {
            return None;
        }
        let (h, mi, se) = (two(0)?, two(3)?, two(6)?);
        let mut end = 8;
        let mut digits = 0u32;
        let mut micros = 0u32;
        if t.get(8) == Some(&b'.') {
            end = 9;
            while let Some(&c) = t.get(end).filter(|c| c.is_ascii_digit()) {
                digits += 1;
                if digits > 6 {
                    return None;
                }
                micros = micros * 10 + u32::from(c - b'0');
                end += 1;
            }
            if digits == 0 {
                return None;
            }
        }
        let zone = &t[end..];
        if !zone
            .iter()
            .all(|&c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b':'))
        {
            return None;
        }
        let unit_us = 10i128.pow(6 - digits);
        let time = time::Time::from_hms_micro(h, mi, se, micros * unit_us as u32).ok()?;
        let per_day = 86_400 * 10u128.pow(digits);
        let shift_us = self.offset(value, days * per_day) * unit_us;
        let shifted = time::PrimitiveDateTime::new(date, time)
            .checked_add(time::Duration::microseconds(i64::try_from(shift_us).ok()?))?;
        if !(1..=9999).contains(&shifted.year()) {
            return None;
        }
        push_date(shifted.date(), out);
        out.push(rest[0]);
        out.extend_from_slice(
            format!(
                "{:02}:{:02}:{:02}",
                shifted.hour(),
                shifted.minute(),
                shifted.second()
            )
            .as_bytes(),
        );
        if digits > 0 {
            let frac = shifted.microsecond() / unit_us as u32;
            out.push(b'.');
            out.extend_from_slice(format!("{frac:0w$}", w = digits as usize).as_bytes());
        }
        out.extend_from_slice(zone);
        Some(())
    }
}

fn push_date(d: time::Date, out: &mut Vec<u8>) {
    out.extend_from_slice(
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()).as_bytes(),
    );
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

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(range: f64, ratio: f64, days: i64) -> Noise {
        Noise::new(&Key::from_bytes(b"k"), &NoiseSpec { range, ratio, days })
    }

    fn apply(m: &Noise, v: &str) -> String {
        let mut out = Vec::new();
        match m.mask(v.as_bytes(), &mut out) {
            MaskOutcome::Value => String::from_utf8(out).unwrap(),
            _ => v.to_string(),
        }
    }

    /// Issue 14: `dnoise(created_at, '1 day')` imported as `days = 1` rounded its offset to whole
    /// days and left about half the timestamps unchanged.
    #[test]
    fn one_day_of_noise_never_gives_back_a_timestamp_or_date() {
        let m = noise(0.0, 0.0, 1);
        let mut max_secs = 0i64;
        for i in 0..2000 {
            let ts = format!(
                "2024-03-{:02} {:02}:{:02}:{:02}+00",
                1 + i % 28,
                i % 24,
                i % 60,
                i % 59
            );
            let out = apply(&m, &ts);
            assert_ne!(out, ts);
            assert!(
                out.ends_with("+00") && out.len() == ts.len(),
                "{ts} → {out}"
            );
            let parse = |s: &str| {
                time::PrimitiveDateTime::parse(
                    &s[..19],
                    time::macros::format_description!(
                        "[year]-[month]-[day] [hour]:[minute]:[second]"
                    ),
                )
                .unwrap()
            };
            let d = (parse(&out) - parse(&ts)).whole_seconds();
            assert!(d != 0 && d.abs() <= 86_400, "{ts} → {out}");
            max_secs = max_secs.max(d.abs());
            let date = format!("2024-{:02}-{:02}", 1 + i % 12, 1 + i % 28);
            assert_ne!(apply(&m, &date), date);
        }
        assert!(max_secs > 80_000, "the whole range is used: {max_secs}");
    }

    #[test]
    fn timestamps_keep_their_precision_and_zone_syntax() {
        let m = noise(0.0, 0.0, 2);
        for (v, frac) in [
            ("2024-01-15 10:30:00.123456+05:30", Some(6)),
            ("2024-01-15T10:30:00.5", Some(1)),
            ("2024-01-15 10:30:00-03", None),
            ("2024-01-15 10:30:00", None),
        ] {
            let out = apply(&m, v);
            assert_ne!(out, v);
            assert_eq!(out.len(), v.len(), "{v} → {out}");
            assert_eq!(out.as_bytes()[10], v.as_bytes()[10]);
            let f = out[11..]
                .split_once('.')
                .map(|(_, f)| f.bytes().take_while(u8::is_ascii_digit).count());
            assert_eq!(f, frac, "{v} → {out}");
        }
        // Not a timestamp it knows: left alone.
        assert_eq!(apply(&m, "2024-01-15 10:30"), "2024-01-15 10:30");
    }

    #[test]
    fn numbers_never_come_back_unchanged() {
        let m = noise(1.0, 0.0, 0);
        for i in 0..500 {
            let v = i.to_string();
            let out: i64 = apply(&m, &v).parse().unwrap();
            assert!(out != i && (out - i).abs() <= 1, "{i} → {out}");
        }
        // A bound under one unit of the last decimal still moves the value by one unit.
        let m = noise(0.0, 0.01, 0);
        assert!(["2", "4"].contains(&apply(&m, "3").as_str()));
    }
}
