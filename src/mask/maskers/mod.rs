//! The maskers, one module each. A rule names a masker and gives its options inline; at load the
//! options are checked and turned into a [`Spec`], which then builds the shared masker instances
//! (one for ordinary columns, one for `unique` columns).
//!
//! | masker       | options                                   | result                                      |
//! |--------------|-------------------------------------------|---------------------------------------------|
//! | `keep`       |                                           | unchanged (explicitly classified)           |
//! | `email`      |                                           | `nobody@example.com` (keyed unique form)    |
//! | `email_scan` |                                           | every address inside the value replaced     |
//! | `pii_scan`   | `kinds` (email/phone/card/iban/ip)        | every such span inside the value replaced   |
//! | `null`       |                                           | SQL NULL                                    |
//! | `constant`   | `value` (string)                          | that value                                  |
//! | `hash`       | `length` (1..=64, default 16)             | keyed HMAC-SHA256, hex                      |
//! | `name`       | `kind` (full/first/last), `locale` (en/de/fr) | a fake name picked by keyed hash        |
//! | `phone`      |                                           | digits replaced, shape kept                 |
//! | `regex`      | `pattern`, `replacement`, `contains`      | every match replaced                        |
//! | `partial`    | `keep_first`, `keep_last`, `fill`         | the middle characters replaced by `fill`    |
//! | `json`       | `paths`, `action` (+ its options)         | values at those paths replaced              |
//! | `noise`      | `range`, `ratio`, `days`                  | numbers/dates moved within the range        |

use std::sync::Arc;

use super::category::Category;
use super::key::Key;
use super::source::Options;
use super::{Masker, RulesError};

pub mod constant;
pub mod email;
pub mod email_scan;
pub mod hash;
pub mod json;
pub mod keep;
pub mod name;
pub mod noise;
pub mod null;
pub mod partial;
pub mod phone;
pub mod pii_scan;
pub mod regex;

/// The masker names, as rules spell them.
pub const MASKERS: &[&str] = &[
    "keep",
    "email",
    "email_scan",
    "pii_scan",
    "null",
    "constant",
    "hash",
    "name",
    "phone",
    "regex",
    "partial",
    "json",
    "noise",
];

/// A masker with checked options, before it is bound to a key.
#[derive(Debug, Clone)]
pub(crate) enum Spec {
    Keep,
    Email,
    EmailScan,
    /// The set of [`Kind`](super::find::Kind) bits to replace.
    PiiScan(u8),
    Null,
    Constant(Vec<u8>),
    Hash {
        length: usize,
    },
    Name(name::NameSpec),
    Phone,
    Regex(regex::RegexSpec),
    Partial(partial::PartialSpec),
    Json(json::JsonSpec),
    Noise(noise::NoiseSpec),
}

impl Spec {
    /// Check a masker's options (consuming them from `opts`; any left over is an error).
    pub(crate) fn parse(mut opts: Options<'_, '_>) -> Result<Spec, RulesError> {
        let (spec, known): (Spec, &[&str]) = match opts.masker.as_str() {
            "keep" => (Spec::Keep, &[]),
            "email" => (Spec::Email, &[]),
            "email_scan" => (Spec::EmailScan, &[]),
            "pii_scan" => (Spec::PiiScan(pii_scan::parse_kinds(&mut opts)?), &["kinds"]),
            "null" => (Spec::Null, &[]),
            "constant" => (
                Spec::Constant(opts.require_str("value")?.1.into_bytes()),
                &["value"],
            ),
            "hash" => (
                Spec::Hash {
                    length: hash::parse_length(&mut opts)?,
                },
                &["length"],
            ),
            "name" => (
                Spec::Name(name::NameSpec::parse(&mut opts)?),
                &["kind", "locale"],
            ),
            "phone" => (Spec::Phone, &[]),
            "regex" => (
                Spec::Regex(regex::RegexSpec::parse(&mut opts)?),
                &["pattern", "replacement", "contains"],
            ),
            "partial" => (
                Spec::Partial(partial::PartialSpec::parse(&mut opts)?),
                &["keep_first", "keep_last", "fill"],
            ),
            "json" => (
                Spec::Json(json::JsonSpec::parse(&mut opts)?),
                &["paths", "action", "length", "value", "kind", "locale"],
            ),
            "noise" => (
                Spec::Noise(noise::NoiseSpec::parse(&mut opts)?),
                &["range", "ratio", "days"],
            ),
            other => {
                return Err(opts.error(
                    opts.masker_span.clone(),
                    format!("unknown masker `{other}` (known: {})", MASKERS.join(", ")),
                ))
            }
        };
        opts.finish(known)?;
        Ok(spec)
    }

    /// The masker's name as rules spell it.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Spec::Keep => "keep",
            Spec::Email => "email",
            Spec::EmailScan => "email_scan",
            Spec::PiiScan(_) => "pii_scan",
            Spec::Null => "null",
            Spec::Constant(_) => "constant",
            Spec::Hash { .. } => "hash",
            Spec::Name(_) => "name",
            Spec::Phone => "phone",
            Spec::Regex(_) => "regex",
            Spec::Partial(_) => "partial",
            Spec::Json(_) => "json",
            Spec::Noise(_) => "noise",
        }
    }

    /// The categories of personal data this masker removes, as [`Category::bit`]s: used by
    /// `rules check` (is a sensitive-looking column really masked?) and `scan` (is a finding a leak
    /// in a masked column?).
    pub(crate) fn covers(&self) -> u8 {
        let all = Category::ALL.iter().fold(0, |a, c| a | c.bit());
        match self {
            Spec::Keep => 0,
            Spec::EmailScan => Category::Email.bit(),
            Spec::PiiScan(kinds) => super::find::Kind::ALL
                .iter()
                .filter(|k| kinds & k.bit() != 0)
                .fold(0, |a, k| a | k.category().bit()),
            // Every digit is replaced: numbers of any kind are gone, but names and addresses
            // (letters) are not, and an address's digits alone do not make it safe.
            Spec::Phone => {
                Category::Phone.bit()
                    | Category::Card.bit()
                    | Category::NationalId.bit()
                    | Category::Ip.bit()
            }
            _ => all,
        }
    }

    /// The categories this masker's *output* can look like, as [`Category::bit`]s: `scan` cannot
    /// tell such a value from a leak, so findings of these kinds in the column are not leaks.
    /// `phone` writes phone-shaped digits (which may pass for a card or an IP), `name` names, `hash`
    /// hex that is occasionally all decimal digits (a card by chance); `constant` and `regex` write
    /// whatever their text holds.
    pub(crate) fn produces(&self) -> u8 {
        let of_text = |t: &[u8]| {
            let mut bits = 0u8;
            super::find::scan_value(t, |c, _, _| bits |= c.bit());
            bits
        };
        match self {
            Spec::Phone => self.covers(),
            Spec::Name(_) => Category::Name.bit(),
            Spec::Hash { .. } => Category::Card.bit(),
            Spec::Constant(v) => of_text(v),
            Spec::Regex(r) => of_text(r.replacement()),
            Spec::Json(j) => j.produces(of_text),
            _ => 0,
        }
    }

    /// The masker for a column (`None` for `keep`).
    pub(crate) fn build(&self, key: &Key, unique: bool) -> Option<Arc<dyn Masker>> {
        Some(match self {
            Spec::Keep => return None,
            Spec::Email => Arc::new(email::Email::new(key, unique)),
            Spec::EmailScan => Arc::new(email_scan::EmailScan::new(key, unique)),
            Spec::PiiScan(kinds) => Arc::new(pii_scan::PiiScan::new(key, *kinds, unique)),
            Spec::Null => Arc::new(null::Null),
            Spec::Constant(v) => Arc::new(constant::Constant::new(v.clone())),
            Spec::Hash { length } => Arc::new(hash::Hash::new(key, *length)),
            Spec::Name(n) => Arc::new(name::Name::new(key, n)),
            Spec::Phone => Arc::new(phone::Phone::new(key)),
            Spec::Regex(r) => Arc::new(regex::Regex::new(r)),
            Spec::Partial(p) => Arc::new(partial::Partial::new(p)),
            Spec::Json(j) => Arc::new(json::Json::new(j, key, unique)),
            Spec::Noise(n) => Arc::new(noise::Noise::new(key, n)),
        })
    }
}
