//! `email`: replace the whole value (a column that holds one address) by `nobody@example.com`.
//!
//! Why: `example.com` is reserved (RFC 2606), so masked data can never mail a real person, and the
//! value stays a syntactically valid address for application checks. On a `unique` column (PRIMARY
//! KEY, UNIQUE, unique index, or a foreign key to one) every row would collide, so there the value
//! becomes `nobody+<h>@example.com`, `<h>` being the first 16 hex digits of HMAC-SHA256(key, value):
//! deterministic (a referencing column masked the same way still matches) and distinct for distinct
//! inputs in practice. The hash is over the exact bytes, so on a `citext` column `A@x.org` and
//! `a@x.org` get different pseudonyms (they cannot both be present there anyway). This is the same
//! pseudonym `email_scan` gives the same address, so the two maskers can be mixed across a foreign key.
//! The empty string stays empty.
//!
//! ```toml
//! [[rule]]
//! table = "users"
//! column = "email"
//! masker = "email"
//! ```

use super::{Configured, MaskerSpec};
use crate::mask::key::{keyed_digest, push_hex, HmacSha256, Key};
use crate::mask::{MaskOutcome, Masker};
use std::sync::Arc;

/// The replacement address.
pub const NOBODY: &[u8] = b"nobody@example.com";

/// Append the replacement for `address`: plain, or keyed unique form.
#[inline]
pub(crate) fn push_replacement(mac: Option<&HmacSha256>, address: &[u8], out: &mut Vec<u8>) {
    match mac {
        None => out.extend_from_slice(NOBODY),
        Some(mac) => {
            let d = keyed_digest(mac, address);
            out.extend_from_slice(b"nobody+");
            push_hex(&d, 16, out);
            out.extend_from_slice(b"@example.com");
        }
    }
}

#[derive(Clone)]
pub struct Email {
    /// Present for `unique` columns.
    mac: Option<HmacSha256>,
}

impl Email {
    pub fn new(key: &Key, unique: bool) -> Email {
        Email {
            mac: unique.then(|| key.mac()),
        }
    }
}

impl Masker for Email {
    fn prefilter(&self, raw: &[u8]) -> bool {
        !raw.is_empty()
    }
    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        if value.is_empty() {
            return MaskOutcome::Unchanged;
        }
        push_replacement(self.mac.as_ref(), value, out);
        MaskOutcome::Value
    }
}

/// Registered as `email`: no options.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "email",
    example: "",
    options: &[],
    parse: |_| Ok(Box::new(Config)),
};

struct Config;

impl Configured for Config {
    fn build(&self, key: &Key, unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(Email::new(key, unique)))
    }
}
