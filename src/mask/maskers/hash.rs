//! `hash`: replace the value by the keyed HMAC-SHA256 of it, as lowercase hex, truncated to `length`
//! hex digits (1 to 64, default 16).
//!
//! Why: a pseudonym that is deterministic (the same input and key give the same output in every table,
//! so joins and foreign keys still work) and keeps distinct inputs distinct in practice (16 hex digits
//! = 64 bits: a collision is expected only around 4 billion distinct values; raise `length` for more).
//! Without the key the original cannot be recovered by hashing a dictionary of candidates. Every
//! non-NULL value is hashed, the empty string included. The output is only valid for text-like
//! column types.
//!
//! ```toml
//! [[rule]]
//! table = "users"
//! column = "login"
//! masker = "hash"
//! length = 20
//! ```

use super::{Configured, MaskerSpec};
use crate::mask::category::{Categories, Category};
use crate::mask::key::{keyed_digest, push_hex, HmacSha256, Key};
use crate::mask::source::Options;
use crate::mask::{MaskOutcome, Masker, RulesError};
use std::sync::Arc;

pub(crate) fn parse_length(opts: &mut Options<'_, '_>) -> Result<usize, RulesError> {
    match opts.take_int("length")? {
        None => Ok(16),
        Some((_, n)) if (1..=64).contains(&n) => Ok(n as usize),
        Some((span, n)) => Err(opts.error(
            span,
            format!("option `length` of masker `hash` must be between 1 and 64, not {n}"),
        )),
    }
}

#[derive(Clone)]
pub struct Hash {
    mac: HmacSha256,
    length: usize,
}

impl Hash {
    pub fn new(key: &Key, length: usize) -> Hash {
        Hash {
            mac: key.mac(),
            length: length.clamp(1, 64),
        }
    }
}

impl Masker for Hash {
    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        let d = keyed_digest(&self.mac, value);
        push_hex(&d, self.length, out);
        MaskOutcome::Value
    }
}

/// Registered as `hash`: option `length`; hex digits now and then all decimal look like a card.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "hash",
    example: "length = 20",
    options: &["length"],
    parse: |opts| Ok(Box::new(Config(parse_length(opts)?))),
};

struct Config(usize);

impl Configured for Config {
    fn build(&self, key: &Key, _unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(Hash::new(key, self.0)))
    }
    fn produces(&self) -> Categories {
        Category::Card.bit()
    }
}
