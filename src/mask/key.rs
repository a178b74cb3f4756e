//! The secret key for keyed hashing (HMAC-SHA256).
//!
//! Every pseudonym (`hash`, the unique form of `email`/`email_scan`, `name`, `phone`) is derived from
//! HMAC-SHA256(key, value). With a fixed key, pseudonyms are stable across runs and across tables (so
//! foreign keys still join after masking); without one, [`Key::random`] gives a per-run key, so
//! pseudonyms are consistent within one dump but cannot be reversed by hashing a dictionary of
//! candidate values with a known key.
//!
//! The key is never printed: `Debug` shows `Key(****)`.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use super::RulesError;

/// The environment variable holding the key.
pub const KEY_ENV: &str = "PGVEIL_KEY";

pub(crate) type HmacSha256 = Hmac<Sha256>;

/// A secret for keyed hashing.
#[derive(Clone)]
pub struct Key {
    bytes: Arc<[u8]>,
    random: bool,
}

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Key(****)")
    }
}

impl Key {
    /// A key from raw bytes (any length; HMAC accepts every length).
    pub fn from_bytes(bytes: &[u8]) -> Key {
        Key {
            bytes: bytes.into(),
            random: false,
        }
    }

    /// A fresh random 32-byte key for this run only.
    pub fn random() -> Key {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        Key {
            bytes: bytes[..].into(),
            random: true,
        }
    }

    /// The key from `key_file` when given (its contents, trimmed of surrounding whitespace), else from
    /// the `PGVEIL_KEY` environment variable when set and non-empty, else [`Key::random`].
    /// An explicitly given key file that cannot be read or is empty is an error.
    pub fn from_env_or_file(key_file: Option<&Path>) -> Result<Key, RulesError> {
        if let Some(path) = key_file {
            let text = std::fs::read(path).map_err(|e| RulesError::KeyFileRead {
                file: path.display().to_string(),
                source: e,
            })?;
            let trimmed = text.trim_ascii();
            if trimmed.is_empty() {
                return Err(RulesError::KeyFileEmpty {
                    file: path.display().to_string(),
                });
            }
            return Ok(Key::from_bytes(trimmed));
        }
        match std::env::var_os(KEY_ENV) {
            Some(v) if !v.is_empty() => Ok(Key::from_bytes(v.as_encoded_bytes())),
            _ => Ok(Key::random()),
        }
    }

    /// Whether this is a per-run random key (pseudonyms will differ between runs).
    pub fn is_random(&self) -> bool {
        self.random
    }

    /// A keyed MAC ready to be cloned per value (cloning copies the prepared state, no allocation).
    pub(crate) fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.bytes).expect("HMAC accepts keys of any length")
    }
}

/// HMAC(key, value) with a prepared MAC state.
#[inline]
pub(crate) fn keyed_digest(mac: &HmacSha256, value: &[u8]) -> [u8; 32] {
    let mut m = mac.clone();
    m.update(value);
    m.finalize().into_bytes().into()
}

const HEX: &[u8; 16] = b"0123456789abcdef";

/// Append the first `n` lowercase hex digits of `digest` to `out`.
#[inline]
pub(crate) fn push_hex(digest: &[u8], n: usize, out: &mut Vec<u8>) {
    for i in 0..n {
        let b = digest[i / 2];
        let nib = if i % 2 == 0 { b >> 4 } else { b & 0x0f };
        out.push(HEX[nib as usize]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_key() {
        let k = Key::from_bytes(b"very secret");
        assert_eq!(format!("{k:?}"), "Key(****)");
        assert!(!format!("{k:?}").contains("secret"));
    }

    #[test]
    fn key_file_is_trimmed_and_wins() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("k");
        std::fs::write(&p, "  abc\n").unwrap();
        let k = Key::from_env_or_file(Some(&p)).unwrap();
        assert!(!k.is_random());
        assert_eq!(
            keyed_digest(&k.mac(), b"x"),
            keyed_digest(&Key::from_bytes(b"abc").mac(), b"x")
        );
        std::fs::write(&p, "\n").unwrap();
        assert!(Key::from_env_or_file(Some(&p)).is_err());
        assert!(Key::from_env_or_file(Some(&dir.path().join("missing"))).is_err());
    }

    #[test]
    fn random_keys_differ() {
        let (a, b) = (Key::random(), Key::random());
        assert!(a.is_random());
        assert_ne!(keyed_digest(&a.mac(), b"x"), keyed_digest(&b.mac(), b"x"));
    }

    #[test]
    fn hex_prefix() {
        let mut out = Vec::new();
        push_hex(&[0xab, 0xcd, 0xef], 5, &mut out);
        assert_eq!(out, b"abcde");
    }
}
