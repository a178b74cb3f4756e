//! `generalize_date`: a date or timestamp kept to its year or month (a quasi-identifier such as a
//! date of birth coarsened so it no longer singles a person out). Option `to = "year"` or
//! `"month"` (required).
//!
//! `1987-06-14` becomes `1987-01-01` (year) or `1987-06-01` (month); a timestamp keeps its
//! separator and zone suffix and goes to midnight: `1987-06-14 08:12:55.5+02` becomes
//! `1987-06-01 00:00:00+02`, which PostgreSQL reads back as a valid value of the same type. ` BC`
//! is kept; `infinity` and `-infinity` are left as they are. Anything else (not a date PostgreSQL
//! prints in its ISO style) becomes NULL: never passed through.
//!
//! ```toml
//! [[rule]]
//! table = "people"
//! column = "dob"
//! masker = "generalize_date"
//! to = "year"
//! ```

use super::{Configured, MaskerSpec};
use crate::mask::key::Key;
use crate::mask::source::Options;
use crate::mask::{MaskOutcome, Masker, RulesError};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GeneralizeDate {
    /// Keep the month (else only the year).
    month: bool,
}

fn parse(opts: &mut Options<'_, '_>) -> Result<GeneralizeDate, RulesError> {
    let (span, to) = opts.require_str("to")?;
    match to.as_str() {
        "year" => Ok(GeneralizeDate { month: false }),
        "month" => Ok(GeneralizeDate { month: true }),
        _ => Err(opts.error(
            span,
            format!(
                "option `to` of masker `generalize_date` must be \"year\" or \"month\", not {to:?}"
            ),
        )),
    }
}

impl GeneralizeDate {
    /// The generalised form of `value`, or `None` when it is not an ISO date or timestamp.
    fn generalize(&self, value: &[u8], out: &mut Vec<u8>) -> Option<()> {
        // Year: 4 digits or more, then `-MM-DD`.
        let y = value.iter().take_while(|b| b.is_ascii_digit()).count();
        if y < 4 || value.len() < y + 6 || value[y] != b'-' || value[y + 3] != b'-' {
            return None;
        }
        let two = |i: usize| {
            let d = &value[i..i + 2];
            d.iter()
                .all(u8::is_ascii_digit)
                .then(|| (d[0] - b'0') * 10 + (d[1] - b'0'))
        };
        let (month, day) = (two(y + 1)?, two(y + 4)?);
        if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
            return None;
        }
        let rest = &value[y + 6..];
        let (rest, bc) = match rest.strip_suffix(b" BC") {
            Some(r) => (r, true),
            None => (rest, false),
        };
        let zone = if rest.is_empty() {
            None
        } else {
            // `HH:MM:SS[.ffffff]` then the zone suffix (`+02`, `-03:30`) or nothing.
            let t = rest.get(1..)?;
            let shape = t.len() >= 8
                && matches!(rest[0], b' ' | b'T')
                && t[2] == b':'
                && t[5] == b':'
                && [0, 1, 3, 4, 6, 7].iter().all(|&i| t[i].is_ascii_digit());
            if !shape {
                return None;
            }
            let mut end = 8;
            if t.get(8) == Some(&b'.') {
                end += 1;
                while t.get(end).is_some_and(u8::is_ascii_digit) {
                    end += 1;
                }
            }
            let zone = &t[end..];
            if !zone
                .iter()
                .all(|&c| c.is_ascii_digit() || matches!(c, b'+' | b'-' | b':'))
            {
                return None;
            }
            Some((rest[0], zone))
        };
        out.extend_from_slice(&value[..y + 1]);
        if self.month {
            out.extend_from_slice(&value[y + 1..y + 3]);
        } else {
            out.extend_from_slice(b"01");
        }
        out.extend_from_slice(b"-01");
        if let Some((sep, zone)) = zone {
            out.push(sep);
            out.extend_from_slice(b"00:00:00");
            out.extend_from_slice(zone);
        }
        if bc {
            out.extend_from_slice(b" BC");
        }
        Some(())
    }
}

impl Masker for GeneralizeDate {
    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        if value == b"infinity" || value == b"-infinity" {
            return MaskOutcome::Unchanged;
        }
        super::rewritten(value, out, |v, o| self.generalize(v, o))
    }
}

/// Registered as `generalize_date`: option `to` (`year` or `month`).
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "generalize_date",
    example: r#"to = "year""#,
    options: &["to"],
    parse: |opts| Ok(Box::new(parse(opts)?)),
};

impl Configured for GeneralizeDate {
    fn build(&self, _key: &Key, _unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(*self))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(month: bool, v: &str) -> Option<String> {
        let mut out = Vec::new();
        match (GeneralizeDate { month }).mask(v.as_bytes(), &mut out) {
            MaskOutcome::Value => Some(String::from_utf8(out).unwrap()),
            MaskOutcome::Unchanged => Some(v.to_string()),
            MaskOutcome::Null => None,
        }
    }

    #[test]
    fn dates_and_timestamps_keep_their_year_or_month() {
        let y = |v| apply(false, v);
        let m = |v| apply(true, v);
        assert_eq!(y("1987-06-14").as_deref(), Some("1987-01-01"));
        assert_eq!(m("1987-06-14").as_deref(), Some("1987-06-01"));
        assert_eq!(
            m("1987-06-14 08:12:55.5+02").as_deref(),
            Some("1987-06-01 00:00:00+02")
        );
        assert_eq!(
            y("1987-06-14T08:12:55-03:30").as_deref(),
            Some("1987-01-01T00:00:00-03:30")
        );
        assert_eq!(
            y("1987-06-14 08:12:55").as_deref(),
            Some("1987-01-01 00:00:00")
        );
        assert_eq!(y("0044-03-15 BC").as_deref(), Some("0044-01-01 BC"));
        assert_eq!(y("12021-06-14").as_deref(), Some("12021-01-01"));
        assert_eq!(y("infinity").as_deref(), Some("infinity"));
        assert_eq!(y("-infinity").as_deref(), Some("-infinity"));
        // Not a date: NULL, never passed through.
        for bad in [
            "14/06/1987",
            "1987-13-01",
            "1987-06-14 8:12",
            "June 1987",
            "",
        ] {
            assert_eq!(y(bad), None, "{bad}");
        }
    }
}

/// The options of the generalisation maskers (`generalize_date`, `bucket`, `prefix`,
/// `round_point`) and of `random_between` are checked when rules load (`rules check`, `dump`):
/// each bad or missing option is an error naming the line.
#[cfg(test)]
mod option_checks {
    fn err(rule: &str) -> String {
        let text = format!("[[rule]]\ncolumn = \"c\"\n{rule}\n");
        crate::mask::RuleSet::from_texts(&[("r.toml", &text)], crate::mask::Key::from_bytes(b"k"))
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    }

    #[test]
    fn bad_options_are_errors_naming_the_line() {
        for (rule, want) in [
            (
                "masker = \"generalize_date\"",
                "r.toml:3: masker `generalize_date` needs the option `to`",
            ),
            (
                "masker = \"generalize_date\"\nto = \"week\"",
                "r.toml:4: option `to` of masker `generalize_date` must be \"year\" or \"month\"",
            ),
            (
                "masker = \"bucket\"",
                "r.toml:3: masker `bucket` needs the option `width`",
            ),
            (
                "masker = \"bucket\"\nwidth = 0",
                "r.toml:4: option `width` of masker `bucket` must be a number greater than 0",
            ),
            (
                "masker = \"bucket\"\nwidth = \"10\"",
                "r.toml:4: option `width` of masker `bucket` must be a number",
            ),
            (
                "masker = \"prefix\"",
                "r.toml:3: masker `prefix` needs the option `keep`",
            ),
            (
                "masker = \"prefix\"\nkeep = -1",
                "r.toml:4: option `keep` of masker `prefix` must be between 0",
            ),
            (
                "masker = \"prefix\"\nkeep = 2\nfill = \"ab\"",
                "r.toml:5: option `fill` of masker `prefix` must be one character",
            ),
            (
                "masker = \"round_point\"\ndecimals = 16",
                "r.toml:4: option `decimals` of masker `round_point` must be between 0 and 15",
            ),
            (
                "masker = \"round_point\"",
                "r.toml:3: masker `round_point` needs the option `decimals`",
            ),
            (
                "masker = \"random_between\"\nfrom = 5\nto = 1",
                "r.toml:4: masker `random_between` needs `from` and `to`",
            ),
            (
                "masker = \"random_between\"\nfrom = \"2000-01-01\"\nto = 3",
                "r.toml:4: masker `random_between` needs `from` and `to`",
            ),
            (
                "masker = \"bucket\"\nwidth = 5\nkeep = 1",
                "r.toml:5: unknown key `keep`",
            ),
        ] {
            let e = err(rule);
            assert!(e.starts_with(want), "{rule}:\n{e}\nwanted: {want}");
        }
        assert_eq!(err("masker = \"prefix\"\nkeep = 3\nfill = \"*\""), "");
    }
}
