//! `constant`: replace every non-NULL value by a fixed string (option `value`).
//!
//! Why: for columns whose contents should simply disappear while staying NOT NULL-compatible and
//! valid for their type (the value is written as-is in the column's text form, so it must be valid
//! input for that type). On a `unique` column every row gets the same value, so the restore would
//! fail on duplicates: that is the rule author's choice (use `hash` for unique columns).
//!
//! ```toml
//! [[rule]]
//! table = "users"
//! column = "address"
//! masker = "constant"
//! value = "1 Main Street"
//! ```

use super::{categories_in, Configured, MaskerSpec};
use crate::mask::category::Categories;
use crate::mask::key::Key;
use crate::mask::{MaskOutcome, Masker};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub struct Constant {
    value: Vec<u8>,
}

impl Constant {
    pub fn new(value: Vec<u8>) -> Constant {
        Constant { value }
    }
}

impl Masker for Constant {
    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        if value == self.value.as_slice() {
            return MaskOutcome::Unchanged;
        }
        out.extend_from_slice(&self.value);
        MaskOutcome::Value
    }
}

/// Registered as `constant`: option `value` (required); its output looks like whatever the value
/// holds.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "constant",
    example: r#"value = "x""#,
    options: &["value"],
    parse: |opts| Ok(Box::new(Config(opts.require_str("value")?.1.into_bytes()))),
};

struct Config(Vec<u8>);

impl Configured for Config {
    fn build(&self, _key: &Key, _unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(Constant::new(self.0.clone())))
    }
    fn produces(&self) -> Categories {
        categories_in(&self.0)
    }
}
