//! Name globs for rules: `*` matches any run of characters (also none), `?` exactly one character,
//! `\*`, `\?` and `\\` match those characters literally. Everything else matches itself,
//! case-sensitively, against the real (unquoted) name: `Customer Contacts` matches the identifier
//! `"Customer Contacts"`, and `users` does not match `"Users"`.

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tok {
    Char(char),
    Any,
    Star,
}

#[derive(Debug, Clone)]
pub(crate) struct Glob {
    toks: Vec<Tok>,
    /// The name itself when the glob has no wildcard.
    literal: Option<String>,
    /// The pattern as written (for reports).
    pattern: String,
}

impl Glob {
    pub(crate) fn parse(pattern: &str) -> Result<Glob, String> {
        if pattern.is_empty() {
            return Err("an empty name pattern matches nothing".into());
        }
        let mut toks = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            toks.push(match c {
                '*' => {
                    if toks.last() == Some(&Tok::Star) {
                        continue;
                    }
                    Tok::Star
                }
                '?' => Tok::Any,
                '\\' => match chars.next() {
                    Some(e @ ('*' | '?' | '\\')) => Tok::Char(e),
                    Some(e) => {
                        return Err(format!(
                        "bad glob {pattern:?}: `\\{e}` (only `\\*`, `\\?` and `\\\\` are escapes)"
                    ))
                    }
                    None => return Err(format!("bad glob {pattern:?}: ends with a backslash")),
                },
                c => Tok::Char(c),
            });
        }
        let literal = toks
            .iter()
            .map(|t| match t {
                Tok::Char(c) => Some(*c),
                _ => None,
            })
            .collect::<Option<String>>();
        Ok(Glob {
            toks,
            literal,
            pattern: pattern.to_string(),
        })
    }

    /// The pattern as written.
    pub(crate) fn pattern(&self) -> &str {
        &self.pattern
    }

    /// The name, when the pattern has no wildcard.
    pub(crate) fn literal(&self) -> Option<&str> {
        self.literal.as_deref()
    }

    pub(crate) fn matches(&self, name: &str) -> bool {
        if let Some(l) = &self.literal {
            return l == name;
        }
        let name: Vec<char> = name.chars().collect();
        let toks = &self.toks;
        let (mut p, mut n) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while n < name.len() {
            match toks.get(p) {
                Some(Tok::Star) => {
                    star = Some((p, n));
                    p += 1;
                }
                Some(Tok::Any) => {
                    p += 1;
                    n += 1;
                }
                Some(Tok::Char(c)) if *c == name[n] => {
                    p += 1;
                    n += 1;
                }
                _ => match star {
                    Some((sp, sn)) => {
                        p = sp + 1;
                        n = sn + 1;
                        star = Some((sp, sn + 1));
                    }
                    None => return false,
                },
            }
        }
        toks[p..].iter().all(|t| *t == Tok::Star)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, n: &str) -> bool {
        Glob::parse(p).unwrap().matches(n)
    }

    #[test]
    fn wildcards() {
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("user*", "users"));
        assert!(m("user*", "user"));
        assert!(!m("user*", "use"));
        assert!(m("*_email", "work_email"));
        assert!(!m("*_email", "email"));
        assert!(m("e?ail", "email"));
        assert!(m("e?ail", "eéail"));
        assert!(!m("e?ail", "eail"));
        assert!(m("*a*b*c", "xxaxxbxxbxc"));
        assert!(!m("*a*b*c", "xxaxxbxxbx"));
        assert!(m("E-Mail*", "E-Mail Address"));
        assert!(!m("e-mail*", "E-Mail Address"));
        assert!(m("a\\*b", "a*b"));
        assert!(!m("a\\*b", "axb"));
    }

    #[test]
    fn literals_and_errors() {
        assert_eq!(
            Glob::parse("Customer Contacts").unwrap().literal(),
            Some("Customer Contacts")
        );
        assert_eq!(Glob::parse("a\\?").unwrap().literal(), Some("a?"));
        assert_eq!(Glob::parse("a*").unwrap().literal(), None);
        assert!(Glob::parse("").is_err());
        assert!(Glob::parse("a\\").is_err());
        assert!(Glob::parse("a\\b").is_err());
    }
}
