//! Connection strings as libpq reads them, so that no secret in them reaches a command line, a
//! manifest or a message.
//!
//! `--dbname` takes what libpq takes: a database name, a `key=value` connection string (values
//! quoted with `'…'`, backslash escapes, spaces around `=`) or a `postgresql://` / `postgres://` URI
//! (a password in the user info or as a query parameter, percent-encoded or not). [`ConnInfo`]
//! parses all of them exactly as libpq 15 does and takes the secret parameters (`password`,
//! `sslpassword`) out:
//! - child processes (pg_dump, psql, pg_restore, createdb, dropdb) get the rest as a `key='value'`
//!   string on their command line (`/proc/PID/cmdline` is world-readable) and the password through
//!   `PGPASSWORD` in their environment (readable only by the same user). libpq gives a password in
//!   the connection string precedence over `PGPASSWORD`, and `PGPASSWORD` over a password file, so
//!   moving it there changes nothing else. `sslpassword` has no environment variable: it goes into a
//!   private service file (a 0600 file in a 0700 folder, removed with the [`ConnInfo`]) named by
//!   `PGSERVICEFILE`, with `service=pgveil` on the command line. With a service of the user's own
//!   (`service=`, `PGSERVICE`) a secret in the connection string is refused: the service's entry
//!   outranks `PGPASSWORD`, and there can be only one service;
//! - [`redact`] shows a connection string with every secret value replaced by `****`, for
//!   manifests and messages;
//! - [`ConnInfo::scrub`] removes the secret values from what a child printed (libpq echoes a
//!   connection string it cannot parse).
//!
//! A string pgveil cannot parse is an error that does not repeat the string: libpq would refuse it
//! too, and its message could carry the password.
//!
//! (Over 700 lines: ~650 of code, the two parsers following libpq's `conninfo_parse` and
//! `conninfo_uri_parse_options` step by step, and their tests; they share the parameter model and
//! the secret handling, so they stay in one file. `parse_uri` follows libpq's URI parser in one
//! function, as libpq's is, so the two can be compared line by line.)

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;

/// Parameters whose values are secrets.
const SECRET_KEYS: &[&str] = &["password", "sslpassword"];

/// What replaces a secret value.
pub const MASK: &str = "****";

/// The service pgveil's private service file defines.
const SERVICE: &str = "pgveil";

#[derive(Debug, thiserror::Error)]
pub enum ConnInfoError {
    /// The connection string does not parse; `.0` says why without repeating any of it.
    #[error("the connection string is malformed ({0}); it is not shown here because it may hold a password")]
    Malformed(&'static str),
    /// A service's entry outranks `PGPASSWORD` (and cannot be combined with pgveil's own), so
    /// moving the secret out of the connection string would change which one applies.
    #[error("a {0} in the connection string together with a service (service= or PGSERVICE) cannot be kept off the command line of pg_dump/psql without changing which {0} applies: put it in that service's entry (or the password in PGPASSWORD or a password file)")]
    SecretWithService(&'static str),
    #[error("an sslpassword that ends in white space or holds a line break cannot be passed in a service file")]
    SslPasswordValue,
    #[error("writing a private service file for the sslpassword")]
    ServiceFile(#[source] std::io::Error),
}

/// A private service file holding `[pgveil] sslpassword=…`, removed (with its folder) on drop.
#[derive(Debug)]
struct ServiceFile {
    dir: PathBuf,
    path: PathBuf,
}

impl ServiceFile {
    fn write(sslpassword: &str) -> std::io::Result<ServiceFile> {
        use std::io::Write;
        use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
        let dir = std::env::temp_dir().join(format!(
            ".pgveil-service-{}-{:016x}",
            std::process::id(),
            rand::random::<u64>()
        ));
        std::fs::DirBuilder::new().mode(0o700).create(&dir)?;
        let file = ServiceFile {
            path: dir.join("pg_service.conf"),
            dir,
        };
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&file.path)?;
        f.write_all(format!("[{SERVICE}]\nsslpassword={sslpassword}\n").as_bytes())?;
        f.sync_all()?;
        Ok(file)
    }
}

impl Drop for ServiceFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One parameter: its key, its value (unescaped / percent-decoded) and where its value is written
/// in the original string (for [`redact`]).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Param {
    key: String,
    value: String,
    raw: std::ops::Range<usize>,
}

/// A parsed `--dbname`.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    form: Form,
    /// The secret parameters taken out, in order (a later one overrides an earlier one, as in libpq):
    /// key, value, value as written.
    secrets: Vec<(String, String, String)>,
    /// The private service file holding the sslpassword, if there is one.
    service: Option<Arc<ServiceFile>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Form {
    /// A plain database name (no `=`, no URI prefix).
    Name(String),
    /// The non-secret parameters of a connection string or URI.
    Params(Vec<(String, String)>),
}

fn uri_prefix_len(s: &str) -> usize {
    if s.starts_with("postgresql://") {
        "postgresql://".len()
    } else if s.starts_with("postgres://") {
        "postgres://".len()
    } else {
        0
    }
}

/// libpq's `isspace` (the C locale's whitespace).
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// Parse like libpq's `conninfo_parse` (keyword/value form).
fn parse_pairs(s: &str) -> Result<Vec<Param>, ConnInfoError> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i == b.len() {
            break;
        }
        let key_start = i;
        while i < b.len() && b[i] != b'=' && !is_space(b[i]) {
            i += 1;
        }
        let key = &s[key_start..i];
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i == b.len() || b[i] != b'=' {
            return Err(ConnInfoError::Malformed("a keyword without \"=\""));
        }
        i += 1;
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        let value_start = i;
        let mut value = Vec::new();
        if i < b.len() && b[i] == b'\'' {
            i += 1;
            loop {
                match b.get(i) {
                    None => return Err(ConnInfoError::Malformed("an unterminated quoted value")),
                    Some(b'\\') => {
                        i += 1;
                        if let Some(&c) = b.get(i) {
                            value.push(c);
                            i += 1;
                        }
                    }
                    Some(b'\'') => {
                        i += 1;
                        break;
                    }
                    Some(&c) => {
                        value.push(c);
                        i += 1;
                    }
                }
            }
        } else {
            while i < b.len() && !is_space(b[i]) {
                if b[i] == b'\\' {
                    i += 1;
                    if let Some(&c) = b.get(i) {
                        value.push(c);
                        i += 1;
                    }
                } else {
                    value.push(b[i]);
                    i += 1;
                }
            }
        }
        let raw = value_start..i;
        // (An unquoted value ends at a space, which libpq skips as the separator.)
        out.push(Param {
            key: key.to_string(),
            value: String::from_utf8(value)
                .map_err(|_| ConnInfoError::Malformed("a value that is not UTF-8"))?,
            raw,
        });
    }
    Ok(out)
}

/// libpq's `conninfo_uri_decode`: `%XX` escapes, `%00` forbidden.
fn uri_decode(s: &str) -> Result<String, ConnInfoError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] != b'%' {
            out.push(b[i]);
            i += 1;
            continue;
        }
        let hex = |c: Option<&u8>| c.and_then(|c| (*c as char).to_digit(16));
        match (hex(b.get(i + 1)), hex(b.get(i + 2))) {
            (Some(hi), Some(lo)) => {
                let c = (hi << 4 | lo) as u8;
                if c == 0 {
                    return Err(ConnInfoError::Malformed("a forbidden %00 in the URI"));
                }
                out.push(c);
                i += 3;
            }
            _ => {
                return Err(ConnInfoError::Malformed(
                    "an invalid percent-encoded token in the URI",
                ))
            }
        }
    }
    String::from_utf8(out).map_err(|_| ConnInfoError::Malformed("a value that is not UTF-8"))
}

/// Parse like libpq's `conninfo_uri_parse_options`.
fn parse_uri(s: &str, prefix: usize) -> Result<Vec<Param>, ConnInfoError> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut push = |key: &str, raw: std::ops::Range<usize>| -> Result<(), ConnInfoError> {
        let value = uri_decode(&s[raw.clone()])?;
        out.push(Param {
            key: key.into(),
            value,
            raw,
        });
        Ok(())
    };
    let mut p = prefix;
    // User info: up to the first '@' before any '/'.
    let mut q = p;
    while q < b.len() && b[q] != b'@' && b[q] != b'/' {
        q += 1;
    }
    if q < b.len() && b[q] == b'@' {
        let at = q;
        let user_end = s[p..at].find(':').map(|k| p + k).unwrap_or(at);
        if user_end > p {
            push("user", p..user_end)?;
        }
        if user_end < at && at > user_end + 1 {
            push("password", user_end + 1..at)?;
        }
        p = at + 1;
    }
    // Hosts and ports, separated by commas.
    let mut hosts: Vec<std::ops::Range<usize>> = Vec::new();
    let mut ports: Vec<std::ops::Range<usize>> = Vec::new();
    let mut prev: Option<u8>;
    loop {
        let host;
        if b.get(p) == Some(&b'[') {
            p += 1;
            let start = p;
            while p < b.len() && b[p] != b']' {
                p += 1;
            }
            if p == b.len() {
                return Err(ConnInfoError::Malformed(
                    "no \"]\" closing an IPv6 host address in the URI",
                ));
            }
            if p == start {
                return Err(ConnInfoError::Malformed(
                    "an empty IPv6 host address in the URI",
                ));
            }
            host = start..p;
            p += 1;
            if p < b.len() && !matches!(b[p], b':' | b'/' | b'?' | b',') {
                return Err(ConnInfoError::Malformed(
                    "an unexpected character after an IPv6 host address in the URI",
                ));
            }
        } else {
            let start = p;
            while p < b.len() && !matches!(b[p], b':' | b'/' | b'?' | b',') {
                p += 1;
            }
            host = start..p;
        }
        hosts.push(host);
        prev = b.get(p).copied();
        if prev == Some(b':') {
            p += 1;
            let start = p;
            while p < b.len() && !matches!(b[p], b'/' | b'?' | b',') {
                p += 1;
            }
            ports.push(start..p);
            prev = b.get(p).copied();
        } else {
            ports.push(p..p);
        }
        if prev != Some(b',') {
            break;
        }
        p += 1;
    }
    let join = |parts: &[std::ops::Range<usize>]| -> Result<String, ConnInfoError> {
        let decoded: Result<Vec<String>, _> =
            parts.iter().map(|r| uri_decode(&s[r.clone()])).collect();
        Ok(decoded?.join(","))
    };
    let (host_text, port_text) = (join(&hosts)?, join(&ports)?);
    let span = |parts: &[std::ops::Range<usize>]| parts[0].start..parts[parts.len() - 1].end;
    if !host_text.is_empty() {
        out.push(Param {
            key: "host".into(),
            value: host_text,
            raw: span(&hosts),
        });
    }
    if !port_text.is_empty() {
        out.push(Param {
            key: "port".into(),
            value: port_text,
            raw: span(&ports),
        });
    }
    let mut push = |key: &str, value: String, raw: std::ops::Range<usize>| {
        out.push(Param {
            key: key.into(),
            value,
            raw,
        })
    };
    if prev.is_some() && prev != Some(b'?') {
        p += 1;
        let start = p;
        while p < b.len() && b[p] != b'?' {
            p += 1;
        }
        if p > start {
            push("dbname", uri_decode(&s[start..p])?, start..p);
        }
        prev = b.get(p).copied();
    }
    if prev.is_some() {
        p += 1;
        // Query parameters: key=value, separated by '&'.
        while p < b.len() {
            let start = p;
            let mut eq = None;
            while p < b.len() && b[p] != b'&' {
                if b[p] == b'=' {
                    if eq.is_some() {
                        return Err(ConnInfoError::Malformed(
                            "an extra \"=\" in a URI query parameter",
                        ));
                    }
                    eq = Some(p);
                }
                p += 1;
            }
            let Some(eq) = eq else {
                return Err(ConnInfoError::Malformed(
                    "a URI query parameter without \"=\"",
                ));
            };
            let mut key = uri_decode(&s[start..eq])?;
            let mut value = uri_decode(&s[eq + 1..p])?;
            if key == "ssl" && value == "true" {
                key = "sslmode".into();
                value = "require".into();
            }
            push(&key, value, eq + 1..p);
            if p < b.len() {
                p += 1;
            }
        }
    }
    Ok(out)
}

/// Parse a connection string into its parameters (`None` for a plain database name).
fn parse_params(conn: &str) -> Result<Option<Vec<Param>>, ConnInfoError> {
    let prefix = uri_prefix_len(conn);
    if prefix > 0 {
        parse_uri(conn, prefix).map(Some)
    } else if conn.contains('=') {
        parse_pairs(conn).map(Some)
    } else {
        Ok(None)
    }
}

fn is_secret(key: &str) -> bool {
    SECRET_KEYS.iter().any(|k| key.eq_ignore_ascii_case(k))
}

/// `conn` with every secret value replaced by `****` (the form kept as written), for manifests and
/// messages. A string that does not parse is not shown at all.
pub fn redact(conn: &str) -> String {
    match parse_params(conn) {
        Ok(None) => conn.to_string(),
        Ok(Some(params)) => {
            let mut out = String::with_capacity(conn.len());
            let mut at = 0;
            for p in params.iter().filter(|p| is_secret(&p.key)) {
                if p.raw.start < at {
                    continue;
                }
                out.push_str(&conn[at..p.raw.start]);
                out.push_str(MASK);
                at = p.raw.end;
            }
            out.push_str(&conn[at..]);
            out
        }
        Err(_) => "(a connection string that does not parse; not shown)".into(),
    }
}

/// The database a connection string names (`dbname`, or the plain name), without side effects.
pub fn database_name(conn: &str) -> Option<String> {
    match parse_params(conn).ok()? {
        None => Some(conn.to_string()),
        Some(params) => params
            .into_iter()
            .rev()
            .find(|p| p.key == "dbname")
            .map(|p| p.value),
    }
}

/// Quote a value for a `key='value'` connection string.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('\'');
    for c in value.chars() {
        if c == '\'' || c == '\\' {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('\'');
    out
}

impl ConnInfo {
    /// Parse a `--dbname` as libpq would, taking the secrets out.
    pub fn parse(conn: &str) -> Result<ConnInfo, ConnInfoError> {
        let Some(params) = parse_params(conn)? else {
            return Ok(ConnInfo {
                form: Form::Name(conn.to_string()),
                secrets: Vec::new(),
                service: None,
            });
        };
        let mut secrets = Vec::new();
        let mut public = Vec::new();
        for p in params {
            if is_secret(&p.key) && !SECRET_KEYS.contains(&p.key.as_str()) {
                // libpq knows no `PASSWORD`; refused here before it reaches a command line.
                return Err(ConnInfoError::Malformed("an unknown keyword"));
            }
            if is_secret(&p.key) {
                secrets.push((p.key, p.value, conn[p.raw].to_string()));
            } else {
                public.push((p.key, p.value));
            }
        }
        let last = |key: &str| {
            secrets
                .iter()
                .rev()
                .find(|(k, _, _)| k == key)
                .map(|(_, v, _)| v.as_str())
                .filter(|v| !v.is_empty())
        };
        let with_service = public.iter().any(|(k, _)| k == "service")
            || std::env::var_os("PGSERVICE").is_some_and(|s| !s.is_empty());
        for key in SECRET_KEYS {
            if with_service && last(key).is_some() {
                return Err(ConnInfoError::SecretWithService(key));
            }
        }
        let service = match last("sslpassword") {
            None => None,
            Some(v)
                if v.contains(['\n', '\r']) || v.ends_with(|c: char| c.is_ascii_whitespace()) =>
            {
                return Err(ConnInfoError::SslPasswordValue)
            }
            Some(v) => Some(Arc::new(
                ServiceFile::write(v).map_err(ConnInfoError::ServiceFile)?,
            )),
        };
        Ok(ConnInfo {
            form: Form::Params(public),
            secrets,
            service,
        })
    }

    /// Parse an optional `--dbname` (`None`: libpq's defaults, nothing to pass).
    pub fn parse_opt(conn: Option<&str>) -> Result<Option<ConnInfo>, ConnInfoError> {
        conn.map(ConnInfo::parse).transpose()
    }

    /// A plain database name.
    pub fn name(db: &str) -> ConnInfo {
        ConnInfo {
            form: Form::Name(db.to_string()),
            secrets: Vec::new(),
            service: None,
        }
    }

    /// What goes on a command line: the connection string without its secrets (`None` when there
    /// is nothing to say, e.g. a URI with only a password).
    pub fn public(&self) -> Option<String> {
        match &self.form {
            Form::Name(n) => Some(n.clone()),
            Form::Params(ps) if ps.is_empty() => None,
            Form::Params(ps) => Some(
                ps.iter()
                    .map(|(k, v)| format!("{k}={}", quote(v)))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        }
    }

    /// The parameters other than the secrets, as `(key, value)` in the order given (a later one
    /// overrides an earlier one); a plain database name is `dbname`. For pgveil's own client
    /// ([`super::direct`]).
    pub fn params(&self) -> Vec<(&str, &str)> {
        match &self.form {
            Form::Name(n) => vec![("dbname", n.as_str())],
            Form::Params(ps) => ps.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect(),
        }
    }

    /// The password given in the connection string (the last one, as libpq takes it), if not empty.
    pub fn given_password(&self) -> Option<&str> {
        self.password().filter(|p| !p.is_empty())
    }

    /// Whether the connection string gave an `sslpassword`.
    pub fn has_sslpassword(&self) -> bool {
        self.secrets.iter().any(|(k, _, _)| k == "sslpassword")
    }

    /// The password (the last one given, as libpq takes it).
    fn password(&self) -> Option<&str> {
        self.secrets
            .iter()
            .rev()
            .find(|(k, _, _)| k == "password")
            .map(|(_, v, _)| v.as_str())
    }

    /// Give `cmd` this connection: `FLAG PUBLIC` as arguments, the password as `PGPASSWORD`, an
    /// sslpassword through the private service file (`PGSERVICEFILE`, `service=pgveil`).
    pub fn apply(&self, cmd: &mut Command, flag: &str) {
        let public = match (&self.service, self.public()) {
            (None, public) => public,
            (Some(file), public) => {
                cmd.env("PGSERVICEFILE", &file.path);
                let service = format!("service={}", quote(SERVICE));
                Some(match public {
                    Some(p) => format!("{p} {service}"),
                    None => service,
                })
            }
        };
        if let Some(public) = public {
            cmd.arg(flag).arg(public);
        }
        // libpq ignores an empty password in a connection string; so must we.
        if let Some(pw) = self.password().filter(|p| !p.is_empty()) {
            cmd.env("PGPASSWORD", pw);
        }
    }

    /// The database this connection names, if it names one (`dbname`, or the plain name).
    pub fn dbname(&self) -> Option<&str> {
        match &self.form {
            Form::Name(n) => Some(n),
            Form::Params(ps) => ps
                .iter()
                .rev()
                .find(|(k, _)| k == "dbname")
                .map(|(_, v)| v.as_str()),
        }
    }

    /// The same connection to another database (e.g. the maintenance database for `createdb`).
    pub fn with_dbname(&self, db: &str) -> ConnInfo {
        let mut ps = match &self.form {
            Form::Name(_) => Vec::new(),
            Form::Params(ps) => ps.clone(),
        };
        ps.retain(|(k, _)| k != "dbname");
        ps.push(("dbname".into(), db.into()));
        ConnInfo {
            form: Form::Params(ps),
            secrets: self.secrets.clone(),
            service: self.service.clone(),
        }
    }

    /// Whether this is a plain database name (no connection parameters at all).
    pub fn is_plain_name(&self) -> bool {
        matches!(self.form, Form::Name(_))
    }

    /// `text` (e.g. a child's stderr) with every secret value, as given and as decoded, replaced.
    pub fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        let mut needles: Vec<&str> = self
            .secrets
            .iter()
            .flat_map(|(_, v, raw)| [v.as_str(), raw.as_str()])
            .filter(|s| !s.is_empty())
            .collect();
        // Longest first, so that a secret containing another is replaced whole.
        needles.sort_by_key(|s| std::cmp::Reverse(s.len()));
        for n in needles {
            out = out.replace(n, MASK);
        }
        out
    }

    /// How to show this connection in a message.
    pub fn describe(&self) -> String {
        self.public()
            .unwrap_or_else(|| "the default database".into())
    }
}

/// [`ConnInfo::scrub`] for an optional connection.
pub fn scrub(conn: Option<&ConnInfo>, text: &str) -> String {
    match conn {
        Some(c) => c.scrub(text),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "s3cr3t";

    fn pw(conn: &str) -> Option<String> {
        ConnInfo::parse(conn)
            .unwrap()
            .password()
            .map(str::to_string)
    }

    fn public(conn: &str) -> String {
        ConnInfo::parse(conn).unwrap().public().unwrap_or_default()
    }

    /// Every form libpq accepts: the secret is taken out, redacted, and the rest kept.
    #[test]
    fn every_password_form_is_taken_out_and_redacted() {
        let cases: &[(&str, &str)] = &[
            ("password=s3cr3t host=h dbname=db", "s3cr3t"),
            ("host=h password = s3cr3t dbname=db", "s3cr3t"),
            ("host=h password =s3cr3t dbname=db", "s3cr3t"),
            ("host=h password=\ts3cr3t\tdbname=db", "s3cr3t"),
            ("host=h password='a b\\'c' dbname=db", "a b'c"),
            ("host=h password='' dbname=db", ""),
            ("host=h password=s3\\ cr\\'t dbname=db", "s3 cr't"),
            ("host=h dbname=db password='s3cr3t'", "s3cr3t"),
            ("postgresql://u:s3cr3t@h/db", "s3cr3t"),
            ("postgres://u:s3cr3t@h:5432/db?sslmode=disable", "s3cr3t"),
            ("postgresql://u:s3%63r3t@h/db", "s3cr3t"),
            ("postgresql://u:p%40ss%3Aw%2Fd@h/db", "p@ss:w/d"),
            ("postgresql://u:s3:cr?3t@h/db", "s3:cr?3t"),
            ("postgresql://u@h/db?password=s3cr3t", "s3cr3t"),
            (
                "postgresql://u@h/db?sslmode=disable&password=s3cr3t&application_name=x",
                "s3cr3t",
            ),
            ("postgresql://h/db?pass%77ord=s3cr3t", "s3cr3t"),
            ("postgresql://u@h/db?password=s3%20cr%2B3t", "s3 cr+3t"),
            ("postgresql:///db?host=/tmp&password=s3cr3t", "s3cr3t"),
            ("postgresql://u:first@h/db?password=s3cr3t", "s3cr3t"),
            ("postgresql://u:s3cr3t@[::1]:5432,h2:5433/db", "s3cr3t"),
        ];
        for (conn, secret) in cases {
            assert_eq!(pw(conn).as_deref(), Some(*secret), "{conn}");
            let shown = redact(conn);
            let conn_info = ConnInfo::parse(conn).unwrap();
            let argv = conn_info.public().unwrap_or_default();
            if !secret.is_empty() {
                for text in [&shown, &argv] {
                    assert!(!text.contains(secret), "{conn} -> {text}");
                    // Nor any piece of the secret as written (percent-encoded).
                    assert!(
                        !text.contains("s3%63r3t") && !text.contains("3t"),
                        "{conn} -> {text}"
                    );
                }
                assert!(shown.contains(MASK), "{conn} -> {shown}");
            }
            assert!(!argv.contains("password"), "{conn} -> {argv}");
            // The rest stays: host and database.
            assert!(argv.contains("dbname='db'"), "{conn} -> {argv}");
            assert!(shown.contains("db"), "{conn} -> {shown}");
        }
    }

    #[test]
    fn the_rest_of_a_uri_becomes_keywords() {
        assert_eq!(
            public("postgresql://u:pw@[::1]:5432,h2:5433/my%20db?sslmode=require&ssl=true"),
            "user='u' host='::1,h2' port='5432,5433' dbname='my db' sslmode='require' sslmode='require'"
        );
        assert_eq!(
            public("postgresql:///db?host=/tmp/s%20k"),
            "dbname='db' host='/tmp/s k'"
        );
        assert_eq!(public("postgresql://"), "");
        assert_eq!(public("host=h dbname='a\\'b'"), "host='h' dbname='a\\'b'");
        assert_eq!(public("shop"), "shop");
        // A user name may look like a path: "u/x@h" has its '/' before the '@': no user info.
        assert_eq!(public("postgresql://h/d@b"), "host='h' dbname='d@b'");
    }

    #[test]
    fn sslpassword_is_redacted_and_goes_into_a_private_service_file() {
        use std::os::unix::fs::PermissionsExt;
        let conn = "host=h sslpassword='k e y' dbname=db";
        assert_eq!(redact(conn), "host=h sslpassword=**** dbname=db");
        let c = ConnInfo::parse(conn).unwrap();
        let mut cmd = Command::new("true");
        c.apply(&mut cmd, "-d");
        let args: Vec<_> = cmd
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(args, ["-d", "host='h' dbname='db' service='pgveil'"]);
        let file = cmd
            .get_envs()
            .find(|(k, _)| *k == "PGSERVICEFILE")
            .and_then(|(_, v)| v)
            .map(PathBuf::from)
            .unwrap();
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "[pgveil]\nsslpassword=k e y\n"
        );
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&file), 0o600);
        assert_eq!(mode(file.parent().unwrap()), 0o700);
        let copy = c.clone();
        drop(c);
        assert!(file.exists(), "a clone keeps the file");
        drop(copy);
        assert!(!file.exists() && !file.parent().unwrap().exists());
        // Impossible with a service of the user's own, or a value a service file cannot hold.
        assert!(matches!(
            ConnInfo::parse("service=prod sslpassword=k"),
            Err(ConnInfoError::SecretWithService("sslpassword"))
        ));
        assert!(matches!(
            ConnInfo::parse("postgresql://u:pw@h/db?service=prod"),
            Err(ConnInfoError::SecretWithService("password"))
        ));
        assert!(matches!(
            ConnInfo::parse("host=h sslpassword='k '"),
            Err(ConnInfoError::SslPasswordValue)
        ));
        assert_eq!(
            redact("postgresql://h/db?sslpassword=k3y&sslmode=require"),
            "postgresql://h/db?sslpassword=****&sslmode=require"
        );
    }

    #[test]
    fn redaction_keeps_the_form() {
        assert_eq!(
            redact("postgresql://u:s3cr3t@h/db"),
            "postgresql://u:****@h/db"
        );
        assert_eq!(
            redact("postgresql://u@h/db?password=s3cr3t&sslmode=disable"),
            "postgresql://u@h/db?password=****&sslmode=disable"
        );
        assert_eq!(
            redact("host=h password = 's3 cr3t'"),
            "host=h password = ****"
        );
        assert_eq!(redact("host=h password=s3cr3t"), "host=h password=****");
        assert_eq!(redact("shop"), "shop");
    }

    /// What libpq refuses is refused here too, without repeating the string.
    #[test]
    fn malformed_strings_are_errors_that_do_not_echo() {
        for conn in [
            "host=h password='s3cr3t",
            "host=h s3cr3t",
            "postgresql://u:s3cr3t@[::1/db",
            "postgresql://u:s3cr3t@[]/db",
            "postgresql://u:s3cr3t@[::1]x/db",
            "postgresql://u:s3cr3t%zz@h/db",
            "postgresql://u:s3cr3t%00@h/db",
            "postgresql://u@h/db?password",
            "postgresql://u@h/db?password=s3=cr3t",
        ] {
            let err = ConnInfo::parse(conn).unwrap_err().to_string();
            assert!(
                !err.contains(SECRET) && !err.contains("s3cr3t"),
                "{conn}: {err}"
            );
            assert!(!redact(conn).contains("s3cr3t"), "{conn}");
        }
    }

    #[test]
    fn scrub_removes_the_secret_as_given_and_as_decoded() {
        let c = ConnInfo::parse("postgresql://u:s3%63r3t@h/db").unwrap();
        assert_eq!(
            c.scrub("bad: \"postgresql://u:s3%63r3t@h/db\" (s3cr3t)"),
            "bad: \"postgresql://u:****@h/db\" (****)"
        );
    }

    #[test]
    fn dbname_and_maintenance_database() {
        let c = ConnInfo::parse("postgresql://u:pw@h/shop").unwrap();
        assert_eq!(c.dbname(), Some("shop"));
        assert!(c.service.is_none());
        let m = c.with_dbname("postgres");
        assert_eq!(m.public().unwrap(), "user='u' host='h' dbname='postgres'");
        assert_eq!(m.password(), Some("pw"));
        assert_eq!(ConnInfo::parse("shop").unwrap().dbname(), Some("shop"));
    }
}
