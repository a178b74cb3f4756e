//! `null`: replace every non-NULL value by SQL NULL.
//!
//! Why: the simplest way to drop a column's contents while keeping the schema. The column must be
//! nullable in the target, or the restore fails: that is the rule author's choice.
//!
//! ```toml
//! [[rule]]
//! table = "users"
//! column = "password_hash"
//! masker = "null"
//! ```

use super::{Configured, MaskerSpec};
use crate::mask::key::Key;
use crate::mask::{MaskOutcome, Masker};
use std::sync::Arc;

#[derive(Debug, Clone, Copy, Default)]
pub struct Null;

impl Masker for Null {
    fn mask(&self, _value: &[u8], _out: &mut Vec<u8>) -> MaskOutcome {
        MaskOutcome::Null
    }
}

/// Registered as `null`: no options.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "null",
    example: "",
    options: &[],
    parse: |_| Ok(Box::new(Null)),
};

impl Configured for Null {
    fn build(&self, _key: &Key, _unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(Null))
    }
}
