//! `regex`: replace every match of `pattern` inside the value by `replacement` (options `pattern`,
//! `replacement`, both required; `$1`, `${name}` refer to capture groups, `$$` is a literal `$`), with
//! the syntax of the Rust `regex` crate, matching bytes (`(?-u)` is not implied: `.` matches a
//! UTF-8 character).
//!
//! Optional `contains`: a literal that every value to be masked contains (e.g. `"-"` for a pattern
//! that needs a dash). Values without it are skipped before the regex runs, which is much cheaper.
//!
//! A replacement without `$` runs allocation-free; one with capture references needs capture slots
//! for every match.
//!
//! Why: for structured identifiers the other maskers do not know (IBANs, national ids, tokens inside
//! text). Deterministic, but it does not keep distinct values distinct unless the replacement uses
//! the captures to do so.
//!
//! ```toml
//! [[rule]]
//! table = "payments"
//! column = "note"
//! masker = "regex"
//! pattern = '\b[A-Z]{2}\d{2}[A-Z0-9]{10,30}\b'
//! replacement = "XX00IBAN"
//! ```

use super::{categories_in, Configured, MaskerSpec};
use crate::mask::category::Categories;
use crate::mask::key::Key;
use memchr::memmem::Finder;
use std::sync::Arc;

use crate::copy::escape_into;
use crate::mask::source::Options;
use crate::mask::{MaskOutcome, Masker, RulesError};

#[derive(Debug, Clone)]
pub(crate) struct RegexSpec {
    re: regex::bytes::Regex,
    replacement: Vec<u8>,
    /// The `contains` literal as it appears in COPY text (escaped).
    contains_raw: Vec<u8>,
}

impl RegexSpec {
    pub(crate) fn parse(opts: &mut Options<'_, '_>) -> Result<RegexSpec, RulesError> {
        let (span, pattern) = opts.require_str("pattern")?;
        let re = regex::bytes::Regex::new(&pattern).map_err(|e| {
            opts.error(
                span,
                format!("bad regex in option `pattern` of masker `regex`: {e}"),
            )
        })?;
        let (_, replacement) = opts.require_str("replacement")?;
        let mut contains_raw = Vec::new();
        if let Some((_, c)) = opts.take_str("contains")? {
            escape_into(c.as_bytes(), &mut contains_raw);
        }
        Ok(RegexSpec {
            re,
            replacement: replacement.into_bytes(),
            contains_raw,
        })
    }
}

impl RegexSpec {
    pub(crate) fn replacement(&self) -> &[u8] {
        &self.replacement
    }
}

#[derive(Clone)]
pub struct Regex {
    re: regex::bytes::Regex,
    replacement: Vec<u8>,
    /// The replacement has no `$` (no capture expansion): use plain matches, no allocation.
    literal: bool,
    contains: Option<Finder<'static>>,
}

impl Regex {
    pub(crate) fn new(spec: &RegexSpec) -> Regex {
        Regex {
            re: spec.re.clone(),
            literal: !spec.replacement.contains(&b'$'),
            replacement: spec.replacement.clone(),
            contains: (!spec.contains_raw.is_empty())
                .then(|| Finder::new(&spec.contains_raw).into_owned()),
        }
    }
}

impl Masker for Regex {
    fn prefilter(&self, raw: &[u8]) -> bool {
        match &self.contains {
            Some(f) => f.find(raw).is_some(),
            None => true,
        }
    }

    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        let mut last = 0;
        let mut any = false;
        if self.literal {
            for m in self.re.find_iter(value) {
                out.extend_from_slice(&value[last..m.start()]);
                out.extend_from_slice(&self.replacement);
                last = m.end();
                any = true;
            }
        } else {
            for caps in self.re.captures_iter(value) {
                let m = caps.get(0).expect("group 0 always matches");
                out.extend_from_slice(&value[last..m.start()]);
                caps.expand(&self.replacement, out);
                last = m.end();
                any = true;
            }
        }
        if !any {
            return MaskOutcome::Unchanged;
        }
        out.extend_from_slice(&value[last..]);
        MaskOutcome::Value
    }
}

/// Registered as `regex`: options `pattern` (required), `replacement`, `contains`; its output looks
/// like whatever the replacement holds.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "regex",
    example: "pattern = \"[0-9]\"\nreplacement = \"0\"",
    options: &["pattern", "replacement", "contains"],
    parse: |opts| Ok(Box::new(RegexSpec::parse(opts)?)),
};

impl Configured for RegexSpec {
    fn build(&self, _key: &Key, _unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(Regex::new(self)))
    }
    fn produces(&self) -> Categories {
        categories_in(self.replacement())
    }
}
