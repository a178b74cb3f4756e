//! The maskers, one module each, each registered once in [`REGISTRY`]. A rule names a masker and
//! gives its options inline; at load the masker's [`MaskerSpec`] checks the options and turns them
//! into a `Configured` masker, which declares the categories of personal data it removes and
//! produces and builds the shared masker instances (one for ordinary columns, one for `unique`
//! columns). Rule parsing, the error naming the known maskers, `rules check` and `scan` (through
//! what a rule covers and produces) and `rules init` (the names it proposes) all read the registry:
//! adding a masker is one module and one line in [`REGISTRY`].
//!
//! | masker       | options                                   | result                                      |
//! |--------------|-------------------------------------------|---------------------------------------------|
//! | `keep`       |                                           | unchanged (explicitly classified)           |
//! | `email`      |                                           | `nobody@example.com` (keyed unique form)    |
//! | `email_scan` |                                           | every address inside the value replaced     |
//! | `pii_scan`   | `kinds` (email/phone/card/iban/ip/mac/national_id/geo) | every such span inside the value replaced |
//! | `null`       |                                           | SQL NULL                                    |
//! | `constant`   | `value` (string)                          | that value                                  |
//! | `hash`       | `length` (1..=64, default 16)             | keyed HMAC-SHA256, hex                      |
//! | `name`       | `kind` (full/first/last), `locale` (en/de/fr) | a fake name picked by keyed hash        |
//! | `phone`      |                                           | digits replaced, shape kept                 |
//! | `regex`      | `pattern`, `replacement`, `contains`      | every match replaced                        |
//! | `partial`    | `keep_first`, `keep_last`, `fill`         | the middle characters replaced by `fill`    |
//! | `json`       | `paths`, `action` (+ its options)         | values at those paths replaced              |
//! | `noise`      | `range`, `ratio`, `days`                  | numbers/dates moved within the range, never 0 |
//! | `generalize_date` | `to` (year/month)                    | date/timestamp cut to its year or month     |
//! | `bucket`     | `width`                                   | number at the lower bound of its bucket     |
//! | `prefix`     | `keep`, `fill`                            | leading characters kept, the rest filled    |
//! | `round_point`| `decimals`                                | point / coordinates rounded                 |
//! | `random_between` | `from`, `to` (integers or dates)      | a keyed pick in that range                  |

use std::sync::Arc;

use super::category::{Categories, Category};
use super::key::Key;
use super::source::Options;
use super::{Masker, RulesError};

pub mod bucket;
pub mod constant;
pub mod email;
pub mod email_scan;
pub mod generalize_date;
pub mod hash;
pub mod json;
pub mod keep;
pub mod name;
pub mod noise;
pub mod null;
pub mod partial;
pub mod phone;
pub mod pii_scan;
pub mod prefix;
pub mod random_between;
pub mod regex;
pub mod round_point;

/// Every masker, in the order error messages and docs list them.
pub static REGISTRY: &[MaskerSpec] = &[
    keep::SPEC,
    email::SPEC,
    email_scan::SPEC,
    pii_scan::SPEC,
    null::SPEC,
    constant::SPEC,
    hash::SPEC,
    name::SPEC,
    phone::SPEC,
    regex::SPEC,
    partial::SPEC,
    json::SPEC,
    noise::SPEC,
    generalize_date::SPEC,
    bucket::SPEC,
    prefix::SPEC,
    round_point::SPEC,
    random_between::SPEC,
];

/// The type of a masker's option checker: it takes the options it knows from the rule (leaving the
/// others, which are then an error) and returns the configured masker.
/// The outcome of a masker that rewrites a value into `out` with `write` (`None`: a value it
/// cannot read, masked as NULL rather than passed through): what `write` appended is dropped
/// again when it equals the value, or when there is none.
pub(crate) fn rewritten(
    value: &[u8],
    out: &mut Vec<u8>,
    write: impl FnOnce(&[u8], &mut Vec<u8>) -> Option<()>,
) -> super::MaskOutcome {
    let base = out.len();
    match write(value, out) {
        Some(()) if &out[base..] == value => {
            out.truncate(base);
            super::MaskOutcome::Unchanged
        }
        Some(()) => super::MaskOutcome::Value,
        None => {
            out.truncate(base);
            super::MaskOutcome::Null
        }
    }
}

pub(crate) type ParseFn = fn(&mut Options<'_, '_>) -> Result<Box<dyn Configured>, RulesError>;

/// One masker as rules name it: its name, its options, and how to check them.
pub struct MaskerSpec {
    /// The name rules give in `masker = …`.
    pub name: &'static str,
    /// The options it accepts inline in a rule (listed in the error for an unknown option).
    pub options: &'static [&'static str],
    /// A minimal valid set of its options, as TOML lines of a rule (`""` for none): for docs and
    /// for the test that every registered masker parses.
    pub example: &'static str,
    pub(crate) parse: ParseFn,
}

impl std::fmt::Debug for MaskerSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MaskerSpec")
            .field("name", &self.name)
            .field("options", &self.options)
            .finish()
    }
}

impl MaskerSpec {
    /// The rule line choosing this masker, `masker = "name"` (for tools that write rules).
    pub fn rule_line(&self) -> String {
        format!("masker = \"{}\"", self.name)
    }
}

/// The registered masker called `name`.
pub fn lookup(name: &str) -> Option<&'static MaskerSpec> {
    REGISTRY.iter().find(|m| m.name == name)
}

/// The registered names, comma-separated (for messages).
pub fn names() -> String {
    REGISTRY
        .iter()
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(", ")
}

/// A masker with checked options, before it is bound to a key.
pub(crate) trait Configured: Send + Sync {
    /// The masker for a column (`None` keeps it as it is: `keep`). `unique` columns get a form that
    /// keeps distinct inputs distinct where the masker has one.
    fn build(&self, key: &Key, unique: bool) -> Option<Arc<dyn Masker>>;

    /// The categories of personal data this masker removes: used by `rules check` (is a
    /// sensitive-looking column really masked?) and `scan` (is a finding a leak in a masked
    /// column?). By default everything: the masker replaces the whole value, or the rule author
    /// aimed it at something specific.
    fn covers(&self) -> Categories {
        Category::all()
    }

    /// The categories this masker's *output* can look like: `scan` cannot tell such a value from a
    /// leak, so findings of these kinds in the column are not leaks. By default none.
    fn produces(&self) -> Categories {
        0
    }
}

/// A rule's masker: the registry entry it names and its checked options.
pub(crate) struct Parsed {
    pub(crate) spec: &'static MaskerSpec,
    pub(crate) configured: Box<dyn Configured>,
}

/// Check a rule's masker and options (consuming them from `opts`; any left over is an error).
pub(crate) fn parse(mut opts: Options<'_, '_>) -> Result<Parsed, RulesError> {
    let Some(spec) = lookup(&opts.masker) else {
        return Err(opts.error(
            opts.masker_span.clone(),
            format!("unknown masker `{}` (known: {})", opts.masker, names()),
        ));
    };
    let configured = (spec.parse)(&mut opts)?;
    opts.finish(spec.options)?;
    Ok(Parsed { spec, configured })
}

/// The categories the value detectors find in `text` (what a constant or a replacement text
/// written by a masker looks like to `scan`).
pub(crate) fn categories_in(text: &[u8]) -> Categories {
    let mut bits = 0;
    super::find::scan_value(text, |c, _, _| bits |= c.bit());
    bits
}
