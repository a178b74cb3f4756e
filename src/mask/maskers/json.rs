//! `json`: mask the values at given paths inside a json/jsonb document, leaving the rest of the
//! document byte for byte as it was (key order, spacing and number formatting included).
//!
//! Options:
//! - `paths` (required): an array of paths, `$` followed by steps: `.key`, `["key with spaces"]`,
//!   `[3]` (an array index), `[*]` or `.*` (any key or index). `$.contact.email`,
//!   `$.items[*].phone`, `$["billing address"]`. A path names the value to replace: an object or
//!   array there is replaced whole.
//! - `action`: what replaces a matched value: `"hash"` (default: a JSON string of the keyed
//!   HMAC-SHA256 hex, `length` hex digits, default 16, as the `hash` masker gives the same text),
//!   `"email"` (`"nobody@example.com"`, or the keyed `nobody+<h>@example.com` on a unique column,
//!   exactly as the `email` masker, so the pseudonym still matches the same address masked in a
//!   text column), `"name"` (a fake name, options `kind`/`locale` as the `name` masker), `"null"`
//!   (JSON `null`), `"constant"` (option `value`: any TOML value, written as JSON).
//!
//! A matched string is hashed/replaced by its decoded content, so `"a\u0040b.org"` and
//! `"a@b.org"` give the same pseudonym; other scalars by their JSON text.
//!
//! Why: documents mix harmless structure with a few personal fields; nulling the whole column loses
//! what developers need, `email_scan` only finds addresses. A value that is not valid JSON cannot be
//! checked, so it becomes SQL NULL rather than pass through unmasked (a NOT NULL column then fails
//! the restore loudly instead of leaking).
//!
//! ```toml
//! [[rule]]
//! table = "orders"
//! column = "details"
//! masker = "json"
//! paths = ["$.contact.email", "$.contact.phones[*]"]
//! action = "hash"
//! ```
//! `{"contact": {"email": "ann@x.org", "phones": ["+1 555 0100"]}, "items": [1, 2]}` becomes
//! `{"contact": {"email": "3f2a9c1e0b7d4a65", "phones": ["9b1c…"]}, "items": [1, 2]}`.
//!
//! (`Scanner::value` is over 100 lines: one JSON value's grammar — string, number, literal, object,
//! array — with the path matching at each step; split, the recursion would be harder to follow.)

use super::{categories_in, Configured, MaskerSpec};
use crate::mask::category::{Categories, Category};
use std::borrow::Cow;
use std::sync::Arc;

use crate::mask::key::{keyed_digest, push_hex, HmacSha256, Key};
use crate::mask::source::Options;
use crate::mask::{MaskOutcome, Masker, RulesError};

use super::email::push_replacement;
use super::name::{Name, NameSpec};

#[derive(Debug, Clone, PartialEq, Eq)]
enum Pat {
    Key(Vec<u8>),
    Index(usize),
    Any,
}

#[derive(Debug, Clone)]
pub(crate) enum Action {
    Hash(usize),
    Email,
    Name(NameSpec),
    Null,
    Constant(Vec<u8>),
}

#[derive(Debug, Clone)]
pub(crate) struct JsonSpec {
    paths: Vec<Vec<Pat>>,
    action: Action,
}

/// Parse `$.a["b c"][0][*].*`.
fn parse_path(p: &str) -> Result<Vec<Pat>, String> {
    let b = p.as_bytes();
    if b.first() != Some(&b'$') {
        return Err(format!("path {p:?} must start with `$`"));
    }
    let mut i = 1;
    let mut out = Vec::new();
    while i < b.len() {
        match b[i] {
            b'.' => {
                let s = i + 1;
                let mut e = s;
                while e < b.len() && b[e] != b'.' && b[e] != b'[' {
                    e += 1;
                }
                if e == s {
                    return Err(format!("path {p:?}: empty key after `.`"));
                }
                let k = &b[s..e];
                out.push(if k == b"*" {
                    Pat::Any
                } else {
                    Pat::Key(k.to_vec())
                });
                i = e;
            }
            b'[' => {
                let close = b[i..]
                    .iter()
                    .position(|&c| c == b']')
                    .map(|k| i + k)
                    .ok_or_else(|| format!("path {p:?}: `[` without `]`"))?;
                let inner = &p[i + 1..close];
                out.push(if inner == "*" {
                    Pat::Any
                } else if let Ok(n) = inner.parse::<usize>() {
                    Pat::Index(n)
                } else if inner.len() >= 2
                    && ((inner.starts_with('"') && inner.ends_with('"'))
                        || (inner.starts_with('\'') && inner.ends_with('\'')))
                {
                    Pat::Key(inner.as_bytes()[1..inner.len() - 1].to_vec())
                } else {
                    return Err(format!(
                        "path {p:?}: `[{inner}]` is not an index, `*` or a quoted key"
                    ));
                });
                i = close + 1;
            }
            c => {
                return Err(format!(
                    "path {p:?}: unexpected `{}` (steps are .key, [\"key\"], [n], [*])",
                    c as char
                ))
            }
        }
    }
    if out.is_empty() {
        return Err(format!(
            "path {p:?} names the whole document: use another masker for that"
        ));
    }
    Ok(out)
}

fn toml_to_json(v: &toml::Value) -> serde_json::Value {
    match v {
        toml::Value::String(s) => serde_json::Value::String(s.clone()),
        toml::Value::Integer(i) => serde_json::Value::from(*i),
        toml::Value::Float(f) => serde_json::Value::from(*f),
        toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
        toml::Value::Datetime(d) => serde_json::Value::String(d.to_string()),
        toml::Value::Array(a) => serde_json::Value::Array(a.iter().map(toml_to_json).collect()),
        toml::Value::Table(t) => serde_json::Value::Object(
            t.iter()
                .map(|(k, v)| (k.clone(), toml_to_json(v)))
                .collect(),
        ),
    }
}

impl JsonSpec {
    /// Options taken: paths, action, length, value, kind, locale.
    pub(crate) fn parse(opts: &mut Options<'_, '_>) -> Result<JsonSpec, RulesError> {
        let (span, raw) = opts.take_value("paths").ok_or_else(|| {
            opts.error(
                opts.masker_span.clone(),
                "masker `json` needs the option `paths` (an array of paths like \"$.contact.email\")",
            )
        })?;
        let toml::Value::Array(items) = raw else {
            return Err(opts.error(
                span,
                "option `paths` of masker `json` must be an array of strings",
            ));
        };
        let mut paths = Vec::new();
        for it in &items {
            let toml::Value::String(s) = it else {
                return Err(opts.error(
                    span.clone(),
                    "option `paths` of masker `json` must be an array of strings",
                ));
            };
            paths.push(parse_path(s).map_err(|m| opts.error(span.clone(), m))?);
        }
        if paths.is_empty() {
            return Err(opts.error(span, "option `paths` of masker `json` is empty"));
        }
        let action = match opts.take_str("action")? {
            None => "hash".to_string(),
            Some((_, a)) => a,
        };
        let action = match action.as_str() {
            "hash" => Action::Hash(super::hash::parse_length(opts)?),
            "email" => Action::Email,
            "null" => Action::Null,
            "name" => Action::Name(NameSpec::parse(opts)?),
            "constant" => {
                let (_, v) = opts.take_value("value").ok_or_else(|| {
                    opts.error(
                        opts.masker_span.clone(),
                        "action `constant` of masker `json` needs the option `value`",
                    )
                })?;
                Action::Constant(toml_to_json(&v).to_string().into_bytes())
            }
            other => {
                return Err(opts.error(
                    opts.masker_span.clone(),
                    format!("option `action` of masker `json` must be hash, email, name, null or constant, not {other:?}"),
                ))
            }
        };
        Ok(JsonSpec { paths, action })
    }
}

enum Act {
    Hash(HmacSha256, usize),
    Email(Option<HmacSha256>),
    Name(Name),
    Fixed(Vec<u8>),
}

pub struct Json {
    paths: Vec<Vec<Pat>>,
    act: Act,
}

impl Json {
    pub(crate) fn new(spec: &JsonSpec, key: &Key, unique: bool) -> Json {
        let act = match &spec.action {
            Action::Hash(n) => Act::Hash(key.mac(), *n),
            Action::Email => Act::Email(unique.then(|| key.mac())),
            Action::Name(n) => Act::Name(Name::new(key, n)),
            Action::Null => Act::Fixed(b"null".to_vec()),
            Action::Constant(v) => Act::Fixed(v.clone()),
        };
        Json {
            paths: spec.paths.clone(),
            act,
        }
    }

    /// The replacement JSON text for the matched value `v` (its exact source text).
    fn replace(&self, v: &[u8], out: &mut Vec<u8>) {
        let content: Cow<'_, [u8]> = if v.first() == Some(&b'"') {
            if memchr::memchr(b'\\', v).is_some() {
                match serde_json::from_slice::<String>(v) {
                    Ok(s) => Cow::Owned(s.into_bytes()),
                    Err(_) => Cow::Borrowed(&v[1..v.len() - 1]),
                }
            } else {
                Cow::Borrowed(&v[1..v.len() - 1])
            }
        } else {
            Cow::Borrowed(v)
        };
        match &self.act {
            Act::Fixed(t) => out.extend_from_slice(t),
            Act::Hash(mac, n) => {
                out.push(b'"');
                push_hex(&keyed_digest(mac, &content), *n, out);
                out.push(b'"');
            }
            Act::Email(mac) => {
                out.push(b'"');
                push_replacement(mac.as_ref(), &content, out);
                out.push(b'"');
            }
            Act::Name(name) => {
                let mut tmp = Vec::new();
                if name.mask(&content, &mut tmp) == MaskOutcome::Unchanged {
                    tmp.extend_from_slice(&content);
                }
                let s = String::from_utf8_lossy(&tmp);
                out.extend_from_slice(
                    serde_json::to_string(s.as_ref())
                        .expect("a string serializes")
                        .as_bytes(),
                );
            }
        }
    }
}

/// A path step of the document being walked.
enum Step<'a> {
    Key(Cow<'a, [u8]>),
    Index(usize),
}

fn matches(pat: &[Pat], path: &[Step<'_>]) -> bool {
    pat.len() == path.len()
        && pat.iter().zip(path).all(|(p, s)| match (p, s) {
            (Pat::Any, _) => true,
            (Pat::Key(k), Step::Key(n)) => k.as_slice() == n.as_ref(),
            (Pat::Index(i), Step::Index(j)) => i == j,
            _ => false,
        })
}

/// A minimal JSON walker: records the spans of values whose path matches.
struct Walker<'a, 'p> {
    s: &'a [u8],
    i: usize,
    paths: &'p [Vec<Pat>],
    hits: Vec<(usize, usize)>,
    /// The longest path: deeper values need no matching.
    max_depth: usize,
    /// > 0 while walking inside a value that is replaced whole or too deep to match: only validate.
    skipping: usize,
}

impl<'a> Walker<'a, '_> {
    fn ws(&mut self) {
        while self.i < self.s.len() && matches!(self.s[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn string(&mut self) -> Option<(usize, usize)> {
        let start = self.i;
        if self.s.get(self.i) != Some(&b'"') {
            return None;
        }
        self.i += 1;
        loop {
            let off = memchr::memchr2(b'"', b'\\', &self.s[self.i..])?;
            self.i += off;
            if self.s[self.i] == b'\\' {
                self.i += 2;
            } else {
                self.i += 1;
                return Some((start, self.i));
            }
        }
    }

    fn value(&mut self, path: &mut Vec<Step<'a>>) -> Option<()> {
        self.ws();
        let start = self.i;
        let hit =
            self.skipping == 0 && !path.is_empty() && self.paths.iter().any(|p| matches(p, path));
        let descend = self.skipping == 0 && !hit && path.len() < self.max_depth;
        match *self.s.get(self.i)? {
            b'{' => {
                self.i += 1;
                self.ws();
                if self.s.get(self.i) == Some(&b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        let (ks, ke) = self.string()?;
                        self.ws();
                        if self.s.get(self.i) != Some(&b':') {
                            return None;
                        }
                        self.i += 1;
                        let raw = &self.s[ks + 1..ke - 1];
                        let key: Cow<'a, [u8]> = if descend && memchr::memchr(b'\\', raw).is_some()
                        {
                            Cow::Owned(
                                serde_json::from_slice::<String>(&self.s[ks..ke])
                                    .ok()?
                                    .into_bytes(),
                            )
                        } else {
                            Cow::Borrowed(raw)
                        };
                        path.push(Step::Key(key));
                        if descend {
                            self.value(path)?;
                        } else {
                            self.skip_value(path)?;
                        }
                        path.pop();
                        self.ws();
                        match self.s.get(self.i)? {
                            b',' => self.i += 1,
                            b'}' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
            }
            b'[' => {
                self.i += 1;
                self.ws();
                if self.s.get(self.i) == Some(&b']') {
                    self.i += 1;
                } else {
                    let mut n = 0;
                    loop {
                        path.push(Step::Index(n));
                        if descend {
                            self.value(path)?;
                        } else {
                            self.skip_value(path)?;
                        }
                        path.pop();
                        n += 1;
                        self.ws();
                        match self.s.get(self.i)? {
                            b',' => self.i += 1,
                            b']' => {
                                self.i += 1;
                                break;
                            }
                            _ => return None,
                        }
                    }
                }
            }
            b'"' => {
                self.string()?;
            }
            _ => {
                while self.i < self.s.len()
                    && !matches!(
                        self.s[self.i],
                        b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r'
                    )
                {
                    self.i += 1;
                }
                let tok = &self.s[start..self.i];
                let scalar = matches!(tok, b"true" | b"false" | b"null")
                    || serde_json::from_slice::<serde_json::Number>(tok).is_ok();
                if !scalar {
                    return None;
                }
            }
        }
        if hit {
            self.hits.push((start, self.i));
        }
        Some(())
    }

    /// Walk a value without matching inside it (still validating it).
    fn skip_value(&mut self, path: &mut Vec<Step<'a>>) -> Option<()> {
        self.skipping += 1;
        let r = self.value(path);
        self.skipping -= 1;
        r
    }
}

impl Masker for Json {
    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome {
        let mut w = Walker {
            s: value,
            i: 0,
            paths: &self.paths,
            hits: Vec::new(),
            max_depth: self.paths.iter().map(Vec::len).max().unwrap_or(0),
            skipping: 0,
        };
        let mut path = Vec::new();
        let ok = w.value(&mut path).is_some() && {
            w.ws();
            w.i == value.len()
        };
        if !ok {
            return MaskOutcome::Null;
        }
        if w.hits.is_empty() {
            return MaskOutcome::Unchanged;
        }
        let mut copied = 0;
        for (s, e) in w.hits {
            out.extend_from_slice(&value[copied..s]);
            self.replace(&value[s..e], out);
            copied = e;
        }
        out.extend_from_slice(&value[copied..]);
        MaskOutcome::Value
    }
}

/// Registered as `json`: options `paths`, `action` and the action's own options.
pub(crate) const SPEC: MaskerSpec = MaskerSpec {
    name: "json",
    example: r#"paths = ["$.contact.email"]"#,
    options: &["paths", "action", "length", "value", "kind", "locale"],
    parse: |opts| Ok(Box::new(JsonSpec::parse(opts)?)),
};

impl Configured for JsonSpec {
    fn build(&self, key: &Key, unique: bool) -> Option<Arc<dyn Masker>> {
        Some(Arc::new(Json::new(self, key, unique)))
    }
    fn produces(&self) -> Categories {
        match &self.action {
            Action::Hash(_) => Category::Card.bit(),
            Action::Name(_) => Category::Name.bit(),
            Action::Constant(v) => categories_in(v),
            Action::Email | Action::Null => 0,
        }
    }
}
