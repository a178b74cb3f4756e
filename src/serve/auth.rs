//! Bearer tokens of `pgveil serve`: where they come from, and which role a presented token has.
//!
//! Tokens come from a tokens file (`[server] tokens_file`) or from the `PGVEIL_TOKENS` environment
//! variable, in one syntax: one `ROLE TOKEN` entry per line (in the variable, entries may also be
//! separated by `;`), `ROLE` being `read` (lists, status, metrics) or `admin` (also trigger,
//! delete, restore, cancel); `#` starts a comment line; blank lines are ignored. A line that is not
//! an entry is an error naming its line, without repeating it (it may hold a token). A token has
//! at least 16 characters and no white space; the same token twice is an error.
//!
//! A tokens file that its group or others may read or write is refused (like ssh's private keys):
//! `chmod 600` it, owned by the service's user.
//!
//! Only SHA-256 digests of the tokens are kept. A presented token is hashed and compared with every
//! entry's digest in constant time (`subtle`), so neither the position of a mismatch nor which
//! entry matched shows in the time taken. No token appears in `Debug` output or in an error.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use subtle::{ConditionallySelectable, ConstantTimeEq};

/// The environment variable holding tokens when there is no tokens file.
pub const TOKENS_ENV: &str = "PGVEIL_TOKENS";

/// Shortest token accepted.
pub const MIN_TOKEN_LEN: usize = 16;

/// What a token may do. `Admin` implies `Read`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Read,
    Admin,
}

impl Role {
    /// Whether a token of this role may make a call that needs `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Admin => "admin",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TokensError {
    #[error("{origin}:{line}: expected `read TOKEN` or `admin TOKEN` (the line is not shown: it may hold a token)")]
    BadLine { origin: String, line: usize },
    #[error("{origin}:{line}: unknown role (expected `read` or `admin`)")]
    UnknownRole { origin: String, line: usize },
    #[error("{origin}:{line}: token too short: at least {MIN_TOKEN_LEN} characters (e.g. `openssl rand -hex 32`)")]
    TooShort { origin: String, line: usize },
    #[error("{origin}:{line}: the same token as line {first}")]
    Duplicate {
        origin: String,
        line: usize,
        first: usize,
    },
    #[error("{origin}: no tokens in it")]
    Empty { origin: String },
    #[error("reading the tokens file {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the tokens file {} may be read or written by its group or others (mode {mode:o}): `chmod 600` it", path.display())]
    Permissions { path: PathBuf, mode: u32 },
    #[error("{TOKENS_ENV} is not valid UTF-8")]
    EnvNotUnicode,
}

/// One entry: the role and the SHA-256 of the token.
#[derive(Clone)]
struct Entry {
    role: Role,
    digest: [u8; 32],
}

/// The tokens the server accepts.
#[derive(Clone)]
pub struct Tokens {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for Tokens {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let admin = self
            .entries
            .iter()
            .filter(|e| e.role == Role::Admin)
            .count();
        write!(
            f,
            "Tokens {{ read: {}, admin: {admin} }}",
            self.entries.len() - admin
        )
    }
}

fn digest(token: &[u8]) -> [u8; 32] {
    Sha256::digest(token).into()
}

impl Tokens {
    /// Parse tokens text; `origin` names it in errors (a path, or `PGVEIL_TOKENS`). With
    /// `semicolons`, `;` separates entries as a line break does.
    pub fn parse(text: &str, origin: &str, semicolons: bool) -> Result<Tokens, TokensError> {
        let mut entries: Vec<(Entry, usize)> = Vec::new();
        let mut line_no = 0;
        for line in text.split('\n') {
            line_no += 1;
            let parts: Vec<&str> = if semicolons {
                line.split(';').collect()
            } else {
                vec![line]
            };
            for part in parts {
                let part = part.trim();
                if part.is_empty() || part.starts_with('#') {
                    continue;
                }
                let err =
                    |kind: fn(String, usize) -> TokensError| kind(origin.to_string(), line_no);
                let mut words = part.split_whitespace();
                let (Some(role), Some(token), None) = (words.next(), words.next(), words.next())
                else {
                    return Err(err(|origin, line| TokensError::BadLine { origin, line }));
                };
                let role = match role {
                    "read" => Role::Read,
                    "admin" => Role::Admin,
                    _ => {
                        return Err(err(|origin, line| TokensError::UnknownRole {
                            origin,
                            line,
                        }))
                    }
                };
                if token.chars().count() < MIN_TOKEN_LEN {
                    return Err(err(|origin, line| TokensError::TooShort { origin, line }));
                }
                let entry = Entry {
                    role,
                    digest: digest(token.as_bytes()),
                };
                if let Some((_, first)) = entries.iter().find(|(e, _)| e.digest == entry.digest) {
                    return Err(TokensError::Duplicate {
                        origin: origin.to_string(),
                        line: line_no,
                        first: *first,
                    });
                }
                entries.push((entry, line_no));
            }
        }
        if entries.is_empty() {
            return Err(TokensError::Empty {
                origin: origin.to_string(),
            });
        }
        Ok(Tokens {
            entries: entries.into_iter().map(|(e, _)| e).collect(),
        })
    }

    /// Read a tokens file, refusing one its group or others may read or write.
    pub fn load_file(path: &Path) -> Result<Tokens, TokensError> {
        use std::os::unix::fs::PermissionsExt;
        let read_err = |source| TokensError::Read {
            path: path.to_path_buf(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(TokensError::Permissions {
                path: path.to_path_buf(),
                mode,
            });
        }
        let text = std::fs::read_to_string(path).map_err(read_err)?;
        Tokens::parse(&text, &path.display().to_string(), false)
    }

    /// The tokens in `PGVEIL_TOKENS`, if it is set and not empty.
    pub fn from_env() -> Result<Option<Tokens>, TokensError> {
        match std::env::var(TOKENS_ENV) {
            Ok(v) if v.trim().is_empty() => Ok(None),
            Ok(v) => Tokens::parse(&v, TOKENS_ENV, true).map(Some),
            Err(std::env::VarError::NotPresent) => Ok(None),
            Err(std::env::VarError::NotUnicode(_)) => Err(TokensError::EnvNotUnicode),
        }
    }

    /// The role of a presented token (`None`: not a known token). Every entry is compared, in
    /// constant time, whatever matched; the highest role among matches wins (tokens are unique,
    /// so there is at most one).
    pub fn role_of(&self, presented: &str) -> Option<Role> {
        let presented = digest(presented.as_bytes());
        let mut found = subtle::Choice::from(0);
        let mut admin = subtle::Choice::from(0);
        for e in &self.entries {
            let hit = e.digest.ct_eq(&presented);
            found |= hit;
            admin |= hit & subtle::Choice::from(u8::from(e.role == Role::Admin));
        }
        let role = u8::conditional_select(&0, &1, admin);
        bool::from(found).then_some(if role == 1 { Role::Admin } else { Role::Read })
    }

    /// How many tokens of each role: (read, admin).
    pub fn counts(&self) -> (usize, usize) {
        let admin = self
            .entries
            .iter()
            .filter(|e| e.role == Role::Admin)
            .count();
        (self.entries.len() - admin, admin)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const R: &str = "read-token-0123456789";
    const A: &str = "admin-token-abcdefghij";

    #[test]
    fn roles_are_looked_up() {
        let text = format!("# tokens\n\nread {R}\n  admin\t{A}  \n");
        let t = Tokens::parse(&text, "tokens", false).unwrap();
        assert_eq!(t.role_of(R), Some(Role::Read));
        assert_eq!(t.role_of(A), Some(Role::Admin));
        assert_eq!(t.role_of("read-token-012345678"), None);
        assert_eq!(t.role_of(""), None);
        assert!(Role::Admin.allows(Role::Read));
        assert!(!Role::Read.allows(Role::Admin));
        assert_eq!(t.counts(), (1, 1));
    }

    #[test]
    fn the_environment_syntax_takes_semicolons() {
        let t = Tokens::parse(&format!("read {R}; admin {A};"), TOKENS_ENV, true).unwrap();
        assert_eq!(t.role_of(A), Some(Role::Admin));
        assert_eq!(t.counts(), (1, 1));
    }

    #[test]
    fn bad_lines_name_their_line_and_never_the_token() {
        let cases = [
            (format!("read {R}\nwrite {A}\n"), "tokens:2: unknown role"),
            (format!("\n\n{A}\n"), "tokens:3: expected"),
            (format!("read {R} {A}\n"), "tokens:1: expected"),
            ("admin short\n".to_string(), "tokens:1: token too short"),
            (
                format!("read {R}\n#\nadmin {R}\n"),
                "tokens:3: the same token as line 1",
            ),
            ("# nothing\n".to_string(), "tokens: no tokens"),
        ];
        for (text, want) in cases {
            let err = Tokens::parse(&text, "tokens", false)
                .unwrap_err()
                .to_string();
            assert!(err.starts_with(want), "{err:?} should start with {want:?}");
            assert!(!err.contains(R) && !err.contains(A) && !err.contains("short "));
        }
    }

    #[test]
    fn debug_shows_no_token() {
        let t = Tokens::parse(&format!("read {R}\nadmin {A}\n"), "t", false).unwrap();
        let dbg = format!("{t:?}");
        assert_eq!(dbg, "Tokens { read: 1, admin: 1 }");
    }

    #[test]
    fn a_file_open_to_others_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("tokens");
        std::fs::write(&path, format!("admin {A}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        let err = Tokens::load_file(&path).unwrap_err().to_string();
        assert!(err.contains("chmod 600"), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(
            Tokens::load_file(&path).unwrap().role_of(A),
            Some(Role::Admin)
        );
    }
}
