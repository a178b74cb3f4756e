//! `keep`: leave the column as it is.
//!
//! Why: an explicit classification. Under `strict = true` every column must be matched by some rule;
//! `keep` says "this column was looked at and holds nothing to mask". Being first-match-wins, a `keep`
//! rule placed before a catch-all (such as the default `email_scan` on `*`) exempts the column from it.
//!
//! ```toml
//! [[rule]]
//! table = "countries"
//! column = "*"
//! masker = "keep"
//! ```
//!
//! The planner turns `keep` into "no masker" for the column (the engine copies it untouched); [`Keep`]
//! exists for callers that want a masker object anyway.

use super::{Configured, MaskerSpec};
use crate::mask::category::Categories;
use crate::mask::key::Key;
use crate::mask::{MaskOutcome, Masker};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, Default)]
pub struct Keep;

impl Masker for Keep {
    fn prefilter(&self, _raw: &[u8]) -> bool {
        false
    }
    fn mask(&self, _value: &[u8], _out: &mut Vec<u8>) -> MaskOutcome {
        MaskOutcome::Unchanged
    }
}

/// Registered as `keep`: no options; the planner gets no masker (the column is copied untouched).
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "keep",
    example: "",
    options: &[],
    parse: |_| Ok(Box::new(Config)),
};

struct Config;

impl Configured for Config {
    fn build(&self, _key: &Key, _unique: bool) -> Option<Arc<dyn Masker>> {
        None
    }
    fn covers(&self) -> Categories {
        0
    }
}
