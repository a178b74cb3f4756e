//! `phone`: replace the digits of a phone number by digits derived from the keyed hash of the whole
//! value, keeping its shape.
//!
//! Every non-digit byte stays where it is (`+`, spaces, dashes, dots, parentheses, `ext.`), and so does
//! an international country code: when the value starts with `+` followed by 1 to 3 digits and then a
//! non-digit (`+44 20 7946 0000`, `+1-555-…`), those digits are kept, since they only tell the country
//! and keep the number plausible for validation. A value written without separators (`+4420…`) has no
//! visible country code boundary, so all of its digits are replaced. A value with no digit is left
//! unchanged; so is any text around the digits.
//!
//! Deterministic (same input and key, same output), but numbers of the same shape can collide
//! (10^n possibilities for n replaced digits): do not use it on `unique` columns (use `hash`).
//!
//! ```toml
//! [[rule]]
//! column = "*phone*"
//! masker = "phone"
//! ```
//! `+1 (555) 123-4567` becomes e.g. `+1 (803) 912-0456`.

use super::{Configured, MaskerSpec};
use crate::mask::category::{Categories, Category};
use crate::mask::key::{keyed_digest, HmacSha256, Key};
use crate::mask::{MaskOutcome, Masker};
use std::sync::Arc;

#[derive(Clone)]
pub struct Phone {
    mac: HmacSha256,
}

impl Phone {
    pub fn new(key: &Key) -> Phone {
        Phone { mac: key.mac() }
    }
}

/// How many leading bytes (`+` and a 1–3 digit country code followed by a non-digit) to keep.
fn kept_prefix(value: &[u8]) -> usize {
    if value.first() != Some(&b'+') {
        return 0;
    }
    let digits = value[1..].iter().take_while(|b| b.is_ascii_digit()).count();
    if (1..=3).contains(&digits) && value.len() > 1 + digits {
        1 + digits
    } else {
        1
    }
}

impl Masker for Phone {
    fn prefilter(&self, raw: &[u8]) -> bool {
        raw.iter().any(u8::is_ascii_digit)
    }
    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        let keep = kept_prefix(value);
        if !value[keep..].iter().any(u8::is_ascii_digit) {
            return MaskOutcome::Unchanged;
        }
        let mut digest = keyed_digest(&self.mac, value);
        let mut used = 0;
        out.extend_from_slice(&value[..keep]);
        for &b in &value[keep..] {
            if b.is_ascii_digit() {
                if used == digest.len() {
                    // More than 32 digits: extend the stream by hashing the previous block.
                    digest = keyed_digest(&self.mac, &digest);
                    used = 0;
                }
                out.push(b'0' + digest[used] % 10);
                used += 1;
            } else {
                out.push(b);
            }
        }
        MaskOutcome::Value
    }
}

/// Registered as `phone`: no options. Every digit is replaced: numbers of any kind are gone, but
/// names and addresses (letters) are not, and an address's digits alone do not make it safe. It
/// writes phone-shaped digits, which may pass for any of those numbers.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "phone",
    example: "",
    options: &[],
    parse: |_| Ok(Box::new(Config)),
};

struct Config;

impl Configured for Config {
    fn build(&self, key: &Key, _unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(Phone::new(key)))
    }
    fn covers(&self) -> Categories {
        Category::Phone.bit()
            | Category::Card.bit()
            | Category::NationalId.bit()
            | Category::Ip.bit()
    }
    fn produces(&self) -> Categories {
        self.covers()
    }
}
