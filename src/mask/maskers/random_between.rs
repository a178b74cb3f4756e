//! `random_between`: replace a value by a keyed pseudo-random integer or date within a fixed range,
//! independent of the original (PostgreSQL Anonymizer's `random_int_between` and
//! `random_date_between`). Options `from` and `to` (required, inclusive): both integers, or both
//! dates as `"YYYY-MM-DD"` strings, `from` ≤ `to`.
//!
//! The pick comes from HMAC(key, value): the same value gets the same pick in every table and run
//! with the same key (equal values stay equal, as a join needs), but nothing of the original is
//! kept. A date is written `YYYY-MM-DD`, which PostgreSQL also reads into a timestamp column
//! (at midnight).
//!
//! ```toml
//! [[rule]]
//! table = "people"
//! column = "birth_date"
//! masker = "random_between"
//! from = "1950-01-01"
//! to = "2005-12-31"
//! ```

use super::{Configured, MaskerSpec};
use crate::mask::key::{keyed_digest, HmacSha256, Key};
use crate::mask::source::Options;
use crate::mask::{MaskOutcome, Masker, RulesError};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Range {
    Int(i64, i64),
    /// Julian day numbers.
    Date(i32, i32),
}

#[derive(Debug, Clone, Copy)]
struct Spec(Range);

fn parse_date(s: &str) -> Option<time::Date> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let month = time::Month::try_from(s[5..7].parse::<u8>().ok()?).ok()?;
    time::Date::from_calendar_date(s[..4].parse().ok()?, month, s[8..10].parse().ok()?).ok()
}

fn parse(opts: &mut Options<'_, '_>) -> Result<Spec, RulesError> {
    let usage = "masker `random_between` needs `from` and `to`: both integers, or both dates as \"YYYY-MM-DD\", from ≤ to";
    let (Some((span, from)), Some((_, to))) = (opts.take_value("from"), opts.take_value("to"))
    else {
        return Err(opts.error(opts.masker_span.clone(), usage));
    };
    let range = match (&from, &to) {
        (toml::Value::Integer(a), toml::Value::Integer(b)) if a <= b => Some(Range::Int(*a, *b)),
        (toml::Value::String(a), toml::Value::String(b)) => match (parse_date(a), parse_date(b)) {
            (Some(a), Some(b)) if a <= b => Some(Range::Date(a.to_julian_day(), b.to_julian_day())),
            _ => None,
        },
        _ => None,
    };
    match range {
        Some(r) => Ok(Spec(r)),
        None => Err(opts.error(span, format!("{usage}, not {from} and {to}"))),
    }
}

pub struct RandomBetween {
    mac: HmacSha256,
    range: Range,
}

impl RandomBetween {
    /// A keyed pick in `lo..=hi`.
    fn pick(&self, value: &[u8], lo: i64, hi: i64) -> i64 {
        let d = keyed_digest(&self.mac, value);
        let x = u128::from_be_bytes(d[..16].try_into().expect("16 bytes"));
        let span = (i128::from(hi) - i128::from(lo) + 1) as u128;
        (i128::from(lo) + (x % span) as i128) as i64
    }
}

impl Masker for RandomBetween {
    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        match self.range {
            Range::Int(lo, hi) => {
                out.extend_from_slice(self.pick(value, lo, hi).to_string().as_bytes());
            }
            Range::Date(lo, hi) => {
                let day = self.pick(value, i64::from(lo), i64::from(hi)) as i32;
                let d = time::Date::from_julian_day(day).expect("inside the checked range");
                out.extend_from_slice(
                    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day()).as_bytes(),
                );
            }
        }
        MaskOutcome::Value
    }
}

/// Registered as `random_between`: options `from`, `to`.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "random_between",
    example: "from = 1\nto = 100",
    options: &["from", "to"],
    parse: |opts| Ok(Box::new(parse(opts)?)),
};

impl Configured for Spec {
    fn build(&self, key: &Key, _unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(RandomBetween {
            mac: key.mac(),
            range: self.0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(range: Range, v: &str) -> String {
        let m = RandomBetween {
            mac: Key::from_bytes(b"k").mac(),
            range,
        };
        let mut out = Vec::new();
        m.mask(v.as_bytes(), &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn picks_stay_in_the_range_and_are_keyed() {
        let lo = parse_date("2000-02-27").unwrap().to_julian_day();
        let hi = parse_date("2000-03-02").unwrap().to_julian_day();
        let mut seen = std::collections::BTreeSet::new();
        for i in 0..200 {
            let d = apply(Range::Date(lo, hi), &format!("1987-01-{:02}", 1 + i % 28));
            let j = parse_date(&d).unwrap().to_julian_day();
            assert!((lo..=hi).contains(&j), "{d}");
            seen.insert(d);
            let n: i64 = apply(Range::Int(-3, 3), &i.to_string()).parse().unwrap();
            assert!((-3..=3).contains(&n));
        }
        assert_eq!(seen.len(), 5, "every day of the range is picked: {seen:?}");
        assert_eq!(apply(Range::Int(5, 5), "anything"), "5");
        assert_eq!(apply(Range::Int(0, 9), "x"), apply(Range::Int(0, 9), "x"));
    }
}
