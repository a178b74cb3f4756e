//! The configuration file of `pgveil serve` (TOML): reading it, and every check that can be made
//! before the service starts, each failure naming `FILE:LINE`.
//!
//! The file has one `[server]` table and one `[[job]]` table per backed-up database; unknown keys
//! are refused. Relative paths (rules, key_file, out_dir, tokens_file, state) are taken relative to
//! the folder of the configuration file. Beyond the types, [`ServeConfig::load`] checks: job names
//! (unique, usable as an artifact name and in a URL), outputs, a destination (out_dir and/or
//! upload), the S3 URL, the schedule and time zone, retention counts, that rule and key files
//! exist, connection strings (parsed as libpq does, never with a password inline: passwords come
//! from `.pgpass` / `PGPASSFILE` / `PGPASSWORD` in the service's environment) and that a listen
//! address other than loopback has tokens. All problems found are reported together.
//!
//! A TOML syntax or type error stops the reading at the first one (that is what the parser gives);
//! its message is the parser's, without the line's text (it may hold a secret).
//!
//! The file is over 700 lines with its unit tests; the checks themselves are one small function per
//! group of keys (`check_server`, `check_job` and the `check_*` functions it calls).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::auth::{Tokens, TOKENS_ENV};
use super::schedule::Schedule;
use crate::input::conninfo::{self, ConnInfo};

/// The default listen address (loopback: no tokens needed).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8432";
/// The default state database.
pub const DEFAULT_STATE: &str = "/var/lib/pgveil/state.db";
/// The default time zone of schedules.
pub const DEFAULT_TIMEZONE: &str = "UTC";

/// A commented configuration that `config check` accepts (`pgveil config example`).
pub const EXAMPLE: &str = include_str!("example.toml");

/// One problem: the line it is on (1-based; `None` when the parser gave no place) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub message: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("reading the configuration {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Every problem found, one per line of the message, each as `FILE:LINE: what`.
    #[error("{}", render(path, problems))]
    Invalid {
        path: PathBuf,
        problems: Vec<Problem>,
    },
}

fn render(path: &Path, problems: &[Problem]) -> String {
    problems
        .iter()
        .map(|p| match p.line {
            Some(line) => format!("{}:{line}: {}", path.display(), p.message),
            None => format!("{}: {}", path.display(), p.message),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// An artifact a job writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    Plain,
    Anon,
    Custom,
}

impl Output {
    pub fn as_str(self) -> &'static str {
        match self {
            Output::Plain => "plain",
            Output::Anon => "anon",
            Output::Custom => "custom",
        }
    }
}

/// The rows in the custom archive: `full` (a backup) or `anon` (masked).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomData {
    Full,
    Anon,
}

impl CustomData {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomData::Full => "full",
            CustomData::Anon => "anon",
        }
    }
}

/// The checked configuration.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub path: PathBuf,
    pub server: ServerConfig,
    pub jobs: Vec<JobConfig>,
}

#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub listen: SocketAddr,
    pub tokens_file: Option<PathBuf>,
    /// The tokens in effect (from `tokens_file` or `PGVEIL_TOKENS`); `None` only on loopback.
    pub tokens: Option<Tokens>,
    pub state: PathBuf,
}

/// One `[[job]]`. Connection strings hold no secret (refused at load), so `Debug` shows none.
#[derive(Debug, Clone)]
pub struct JobConfig {
    pub name: String,
    /// The line of the job's `name`, for messages.
    pub line: usize,
    pub dbname: String,
    pub rules: Vec<PathBuf>,
    pub key_file: Option<PathBuf>,
    pub labels: bool,
    pub outputs: Vec<Output>,
    pub custom_data: CustomData,
    pub out_dir: Option<PathBuf>,
    pub upload: Option<String>,
    pub endpoint_url: Option<String>,
    pub schedule: Option<Schedule>,
    pub keep_local: Option<usize>,
    pub keep_remote: Option<usize>,
    pub backup_on_start: bool,
    pub freeze_after_days: Option<u32>,
    /// When retention and freezing run besides after each backup: `retention_schedule`, or
    /// [`DEFAULT_RETENTION_SCHEDULE`] when the job keeps counts or freezes; `None` when it does
    /// neither.
    pub retention_schedule: Option<Schedule>,
    pub restore_targets: Vec<String>,
    pub pg_dump_args: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    server: Option<RawServer>,
    #[serde(default)]
    job: Vec<Spanned<RawJob>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawServer {
    listen: Option<Spanned<String>>,
    tokens_file: Option<Spanned<String>>,
    state: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJob {
    name: Spanned<String>,
    dbname: Spanned<String>,
    #[serde(default)]
    rules: Vec<Spanned<String>>,
    key_file: Option<Spanned<String>>,
    #[serde(default)]
    labels: bool,
    outputs: Option<Vec<Spanned<String>>>,
    custom_data: Option<Spanned<String>>,
    out_dir: Option<Spanned<String>>,
    upload: Option<Spanned<String>>,
    endpoint_url: Option<Spanned<String>>,
    schedule: Option<Spanned<String>>,
    timezone: Option<Spanned<String>>,
    keep_local: Option<Spanned<i64>>,
    keep_remote: Option<Spanned<i64>>,
    #[serde(default)]
    backup_on_start: bool,
    freeze_after_days: Option<Spanned<i64>>,
    retention_schedule: Option<Spanned<String>>,
    #[serde(default)]
    restore_targets: Vec<Spanned<String>>,
    #[serde(default)]
    pg_dump_args: Vec<String>,
}

/// Line numbers of byte offsets in the source.
struct Lines<'a>(&'a str);

impl Lines<'_> {
    fn of(&self, span: Range<usize>) -> usize {
        let at = span.start.min(self.0.len());
        self.0.as_bytes()[..at]
            .iter()
            .filter(|&&b| b == b'\n')
            .count()
            + 1
    }
}

/// Collects problems while the configuration is checked.
struct Check<'a> {
    lines: Lines<'a>,
    problems: Vec<Problem>,
}

impl Check<'_> {
    fn at<T>(&mut self, item: &Spanned<T>, message: String) {
        let line = self.lines.of(item.span());
        self.problems.push(Problem {
            line: Some(line),
            message,
        });
    }
}

/// serde's messages quote a value of the wrong type (`invalid type: string "…"`); that value may
/// be a secret, so it is left out.
fn scrub_value(message: &str) -> String {
    let re = regex::Regex::new(r#"(string|character) "(?:[^"\\]|\\.)*""#).expect("a valid regex");
    re.replace_all(message, "$1").into_owned()
}

impl ServeConfig {
    /// Read and check a configuration file.
    pub fn load(path: &Path) -> Result<ServeConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        ServeConfig::parse(&text, path)
    }

    /// Check configuration text; `path` names it in messages and anchors relative paths.
    pub fn parse(text: &str, path: &Path) -> Result<ServeConfig, ConfigError> {
        let invalid = |problems| ConfigError::Invalid {
            path: path.to_path_buf(),
            problems,
        };
        let lines = Lines(text);
        let raw: RawFile = toml::from_str(text).map_err(|e| {
            invalid(vec![Problem {
                line: e.span().map(|s| lines.of(s)),
                message: scrub_value(
                    &e.message()
                        .lines()
                        .map(str::trim)
                        .filter(|l| !l.is_empty())
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
            }])
        })?;
        // Absolute, so that the paths resolved against it can go into a systemd unit.
        let base = std::path::absolute(path)
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        let mut check = Check {
            lines,
            problems: Vec::new(),
        };
        let server = check_server(&mut check, raw.server, &base);
        let mut jobs = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        for job in &raw.job {
            let line = check.lines.of(job.as_ref().name.span());
            let name = job.as_ref().name.as_ref().clone();
            if let Some(first) = seen.get(&name) {
                check.at(
                    &job.as_ref().name,
                    format!(
                        "job {name:?}: a second job of this name (the first is on line {first})"
                    ),
                );
            } else {
                seen.insert(name, line);
            }
            if let Some(j) = check_job(&mut check, job.get_ref(), &base) {
                jobs.push(j);
            }
        }
        if raw.job.is_empty() {
            check.problems.push(Problem {
                line: None,
                message: "no [[job]]: the service would have nothing to back up".into(),
            });
        }
        if !check.problems.is_empty() {
            return Err(invalid(check.problems));
        }
        Ok(ServeConfig {
            path: path.to_path_buf(),
            server: server.expect("no problem means the server section was checked"),
            jobs,
        })
    }

    pub fn job(&self, name: &str) -> Option<&JobConfig> {
        self.jobs.iter().find(|j| j.name == name)
    }
}

fn resolve(base: &Path, p: &str) -> PathBuf {
    base.join(p)
}

fn check_server(
    check: &mut Check<'_>,
    raw: Option<RawServer>,
    base: &Path,
) -> Option<ServerConfig> {
    let raw = raw.unwrap_or(RawServer {
        listen: None,
        tokens_file: None,
        state: None,
    });
    let before = check.problems.len();
    let listen = match &raw.listen {
        None => Some(
            DEFAULT_LISTEN
                .parse::<SocketAddr>()
                .expect("a valid default"),
        ),
        Some(l) => match l.as_ref().parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                check.at(
                    l,
                    format!("server.listen: {:?} is not an IP address and port (e.g. \"127.0.0.1:8432\", \"[::1]:8432\", \"0.0.0.0:8432\")", l.as_ref()),
                );
                None
            }
        },
    };
    let tokens_file = raw.tokens_file.as_ref().map(|t| resolve(base, t.as_ref()));
    let mut tokens = None;
    if let (Some(t), Some(path)) = (&raw.tokens_file, &tokens_file) {
        if std::env::var_os(TOKENS_ENV).is_some_and(|v| !v.is_empty()) {
            check.at(
                t,
                format!(
                    "server.tokens_file: {TOKENS_ENV} is set too: give tokens in one place only"
                ),
            );
        }
        match Tokens::load_file(path) {
            Ok(found) => tokens = Some(found),
            Err(e) => check.at(t, format!("server.tokens_file: {}", error_chain(&e))),
        }
    } else {
        match Tokens::from_env() {
            Ok(found) => tokens = found,
            Err(e) => check.problems.push(Problem {
                line: None,
                message: error_chain(&e),
            }),
        }
    }
    if let (Some(addr), None) = (listen, &tokens) {
        if !addr.ip().is_loopback() {
            let message = format!("server.listen: {addr} is not a loopback address: it needs tokens (server.tokens_file, or {TOKENS_ENV} in the service's environment)");
            match &raw.listen {
                Some(l) => check.at(l, message),
                None => unreachable!("the default address is loopback"),
            }
        }
    }
    let state = raw
        .state
        .as_ref()
        .map(|s| resolve(base, s.as_ref()))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_STATE));
    (check.problems.len() == before).then(|| ServerConfig {
        listen: listen.expect("checked"),
        tokens_file,
        tokens,
        state,
    })
}

/// An error and its causes on one line (`a: b: c`).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        out.push_str(": ");
        out.push_str(&s.to_string());
        cur = s.source();
    }
    out
}

/// A job name is a set name (a folder under out_dir and the bucket prefix) and a URL path segment.
fn is_valid_job_name(name: &str) -> bool {
    crate::store::is_valid_name(name)
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Checks a connection string: it parses as libpq's, and carries no password inline.
fn check_conninfo(check: &mut Check<'_>, conn: &Spanned<String>, what: &str) -> bool {
    // `redact` changes the string exactly when it holds a secret value (password, sslpassword);
    // checked before parsing, which would write an sslpassword into a service file.
    let text = conn.as_ref();
    if conninfo::redact(text) != *text {
        check.at(
            conn,
            format!("{what}: holds a password: give it in .pgpass, PGPASSFILE or PGPASSWORD in the service's environment, not in the configuration"),
        );
        return false;
    }
    if let Err(e) = ConnInfo::parse(text) {
        check.at(conn, format!("{what}: {}", error_chain(&e)));
        return false;
    }
    true
}

fn check_count(
    check: &mut Check<'_>,
    v: &Option<Spanned<i64>>,
    what: &str,
    min: i64,
) -> Option<i64> {
    let v = v.as_ref()?;
    if *v.as_ref() < min || *v.as_ref() > i64::from(u32::MAX) {
        check.at(
            v,
            format!("{what}: must be at least {min} (is {})", v.as_ref()),
        );
        return None;
    }
    Some(*v.as_ref())
}

/// One `[[job]]`: its name and database here, the other keys in the functions it calls.
fn check_job(check: &mut Check<'_>, raw: &RawJob, base: &Path) -> Option<JobConfig> {
    let before = check.problems.len();
    let name = raw.name.as_ref().clone();
    let job = format!("job {name:?}");
    if !is_valid_job_name(&name) {
        check.at(
            &raw.name,
            format!("{job}: a job name is 1 to 64 letters, digits, '_', '-' or '.' and does not start with '.'"),
        );
    }
    check_conninfo(check, &raw.dbname, &format!("{job}: dbname"));
    if ConnInfo::parse(raw.dbname.as_ref()).is_ok()
        && conninfo::database_name(raw.dbname.as_ref()).is_none()
    {
        check.at(
            &raw.dbname,
            format!("{job}: dbname: names no database (add dbname=… or a path to the URI)"),
        );
    }
    let (rules, key_file) = check_files(check, raw, base, &job);
    let (outputs, custom_data) = check_outputs(check, raw, &job);
    let out_dir = check_places(check, raw, base, &job);
    let schedule = check_schedule(check, raw, &job);
    let (keep_local, keep_remote, freeze) = check_retention(check, raw, &job);
    let retention_schedule = check_retention_schedule(check, raw, &job);
    check_restore_targets(check, raw, &job);
    (check.problems.len() == before).then(|| JobConfig {
        name,
        line: check.lines.of(raw.name.span()),
        dbname: raw.dbname.as_ref().clone(),
        rules,
        key_file,
        labels: raw.labels,
        outputs,
        custom_data,
        out_dir,
        upload: raw.upload.as_ref().map(|u| u.as_ref().clone()),
        endpoint_url: raw.endpoint_url.as_ref().map(|e| e.as_ref().clone()),
        schedule,
        keep_local: keep_local.map(|k| k as usize),
        keep_remote: keep_remote.map(|k| k as usize),
        backup_on_start: raw.backup_on_start,
        freeze_after_days: freeze.map(|f| f as u32),
        retention_schedule,
        restore_targets: raw
            .restore_targets
            .iter()
            .map(|t| t.as_ref().clone())
            .collect(),
        pg_dump_args: raw.pg_dump_args.clone(),
    })
}

/// Rule and key files exist.
fn check_files(
    check: &mut Check<'_>,
    raw: &RawJob,
    base: &Path,
    job: &str,
) -> (Vec<PathBuf>, Option<PathBuf>) {
    let mut rules = Vec::new();
    for r in &raw.rules {
        let path = resolve(base, r.as_ref());
        if !path.is_file() {
            check.at(r, format!("{job}: rules: no such file {}", path.display()));
        }
        rules.push(path);
    }
    let key_file = raw.key_file.as_ref().map(|k| {
        let path = resolve(base, k.as_ref());
        if !path.is_file() {
            check.at(
                k,
                format!("{job}: key_file: no such file {}", path.display()),
            );
        }
        path
    });
    (rules, key_file)
}

/// `outputs` and `custom_data`.
fn check_outputs(check: &mut Check<'_>, raw: &RawJob, job: &str) -> (Vec<Output>, CustomData) {
    let mut outputs = Vec::new();
    match &raw.outputs {
        None => outputs = vec![Output::Plain, Output::Anon, Output::Custom],
        Some(list) => {
            for o in list {
                let out = match o.as_ref().as_str() {
                    "plain" => Output::Plain,
                    "anon" => Output::Anon,
                    "custom" => Output::Custom,
                    other => {
                        check.at(o, format!("{job}: outputs: {other:?} is not one of \"plain\", \"anon\", \"custom\""));
                        continue;
                    }
                };
                if outputs.contains(&out) {
                    check.at(o, format!("{job}: outputs: {:?} twice", out.as_str()));
                }
                outputs.push(out);
            }
            if list.is_empty() {
                check.at(&raw.name, format!("{job}: outputs: empty"));
            }
        }
    }
    let custom_data = match raw.custom_data.as_ref().map(|c| c.as_ref().as_str()) {
        None | Some("full") => CustomData::Full,
        Some("anon") => CustomData::Anon,
        Some(other) => {
            let c = raw.custom_data.as_ref().expect("matched Some");
            check.at(
                c,
                format!("{job}: custom_data: {other:?} is not \"full\" or \"anon\""),
            );
            CustomData::Full
        }
    };
    (outputs, custom_data)
}

/// `out_dir`, `upload`, `endpoint_url`: at least one place, a valid S3 URL.
fn check_places(check: &mut Check<'_>, raw: &RawJob, base: &Path, job: &str) -> Option<PathBuf> {
    let out_dir = raw.out_dir.as_ref().map(|o| resolve(base, o.as_ref()));
    if raw.out_dir.is_none() && raw.upload.is_none() {
        check.at(&raw.name, format!("{job}: needs out_dir, upload or both"));
    }
    if let Some(u) = &raw.upload {
        if let Err(e) = crate::store::s3::parse_url(u.as_ref()) {
            check.at(
                u,
                format!(
                    "{job}: upload: {} (expected s3://BUCKET/PREFIX/)",
                    error_chain(&e)
                ),
            );
        }
    }
    if let Some(e) = &raw.endpoint_url {
        if raw.upload.is_none() {
            check.at(e, format!("{job}: endpoint_url without upload"));
        } else if !(e.as_ref().starts_with("http://") || e.as_ref().starts_with("https://")) {
            check.at(
                e,
                format!("{job}: endpoint_url: expected an http:// or https:// URL"),
            );
        }
    }
    out_dir
}

/// `schedule` and `timezone`, each problem on its own key's line.
fn check_schedule(check: &mut Check<'_>, raw: &RawJob, job: &str) -> Option<Schedule> {
    match &raw.schedule {
        None => {
            // A zone is also the retention schedule's (given, or the default one).
            let retains = raw.retention_schedule.is_some()
                || raw.keep_local.is_some()
                || raw.keep_remote.is_some()
                || raw.freeze_after_days.is_some();
            if let (Some(tz), false) = (&raw.timezone, retains) {
                check.at(tz, format!("{job}: timezone without schedule"));
            }
            None
        }
        Some(s) => parse_schedule(check, s, raw, job, "schedule"),
    }
}

/// A cron expression of the job in its time zone; a problem on the expression's or the zone's line.
fn parse_schedule(
    check: &mut Check<'_>,
    s: &Spanned<String>,
    raw: &RawJob,
    job: &str,
    key: &str,
) -> Option<Schedule> {
    let zone = raw
        .timezone
        .as_ref()
        .map(|t| t.as_ref().as_str())
        .unwrap_or(DEFAULT_TIMEZONE);
    if let Err(e) = super::schedule::parse_cron(s.as_ref()) {
        check.at(s, format!("{job}: {key}: {e}"));
        return None;
    }
    match Schedule::new(s.as_ref(), zone) {
        Ok(sched) => Some(sched),
        Err(e @ super::schedule::ScheduleError::TimeZone { .. }) => {
            let t = raw.timezone.as_ref().expect("the default zone exists");
            check.at(t, format!("{job}: timezone: {e}"));
            None
        }
        Err(e) => {
            check.at(s, format!("{job}: {key}: {e}"));
            None
        }
    }
}

/// When retention and freezing run on their own (hourly by default, in the job's time zone), for a
/// job that keeps counts or freezes.
pub const DEFAULT_RETENTION_SCHEDULE: &str = "0 0 * * * *";

/// `retention_schedule`: given, or the default for a job with retention or freezing.
fn check_retention_schedule(check: &mut Check<'_>, raw: &RawJob, job: &str) -> Option<Schedule> {
    let retains =
        raw.keep_local.is_some() || raw.keep_remote.is_some() || raw.freeze_after_days.is_some();
    match &raw.retention_schedule {
        Some(s) if !retains => {
            check.at(
                s,
                format!("{job}: retention_schedule without keep_local, keep_remote or freeze_after_days"),
            );
            None
        }
        Some(s) => parse_schedule(check, s, raw, job, "retention_schedule"),
        None if retains => {
            let zone = raw
                .timezone
                .as_ref()
                .map(|t| t.as_ref().as_str())
                .unwrap_or(DEFAULT_TIMEZONE);
            match Schedule::new(DEFAULT_RETENTION_SCHEDULE, zone) {
                Ok(s) => Some(s),
                Err(e) => {
                    // A bad zone is reported once: by `schedule` when there is one.
                    if let (Some(t), None) = (&raw.timezone, &raw.schedule) {
                        check.at(t, format!("{job}: timezone: {e}"));
                    }
                    None
                }
            }
        }
        None => None,
    }
}

/// `keep_local`, `keep_remote`, `freeze_after_days`, and the places they need.
fn check_retention(
    check: &mut Check<'_>,
    raw: &RawJob,
    job: &str,
) -> (Option<i64>, Option<i64>, Option<i64>) {
    let keep_local = check_count(check, &raw.keep_local, &format!("{job}: keep_local"), 1);
    if let (Some(k), None) = (&raw.keep_local, &raw.out_dir) {
        check.at(k, format!("{job}: keep_local without out_dir"));
    }
    let keep_remote = check_count(check, &raw.keep_remote, &format!("{job}: keep_remote"), 1);
    if let (Some(k), None) = (&raw.keep_remote, &raw.upload) {
        check.at(k, format!("{job}: keep_remote without upload"));
    }
    let freeze = check_count(
        check,
        &raw.freeze_after_days,
        &format!("{job}: freeze_after_days"),
        0,
    );
    if let Some(f) = &raw.freeze_after_days {
        if raw.out_dir.is_none() || raw.upload.is_none() {
            check.at(f, format!("{job}: freeze_after_days needs both out_dir and upload (it frees local copies that are safe in the bucket)"));
        }
    }
    (keep_local, keep_remote, freeze)
}

/// Restore targets: connection strings without a password, naming a database other than the job's.
fn check_restore_targets(check: &mut Check<'_>, raw: &RawJob, job: &str) {
    let own = ConnInfo::parse(raw.dbname.as_ref())
        .ok()
        .and_then(|c| c.public());
    for t in &raw.restore_targets {
        let what = format!("{job}: restore_targets");
        if !check_conninfo(check, t, &what) {
            continue;
        }
        if conninfo::database_name(t.as_ref()).is_none() {
            check.at(t, format!("{what}: names no database (a restore target must name it: dbname=… or a path in the URI)"));
        } else if own.is_some() && ConnInfo::parse(t.as_ref()).ok().and_then(|c| c.public()) == own
        {
            check.at(t, format!("{what}: is the job's own database"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn problems(text: &str) -> String {
        ServeConfig::parse(text, Path::new("/etc/pgveil/p.toml"))
            .unwrap_err()
            .to_string()
    }

    const JOB: &str = "[[job]]\nname = \"shop\"\ndbname = \"shop\"\nout_dir = \"/tmp/b\"\n";

    #[test]
    fn the_example_is_accepted() {
        let c = ServeConfig::parse(EXAMPLE, Path::new("/etc/pgveil/pgveil.toml")).unwrap();
        assert_eq!(c.server.listen.to_string(), DEFAULT_LISTEN);
        assert!(!c.jobs.is_empty());
    }

    #[test]
    fn defaults() {
        let c = ServeConfig::parse(JOB, Path::new("/etc/pgveil/p.toml")).unwrap();
        assert_eq!(c.server.listen.to_string(), "127.0.0.1:8432");
        assert_eq!(c.server.state, Path::new(DEFAULT_STATE));
        let j = &c.jobs[0];
        assert_eq!(j.line, 2);
        assert_eq!(j.outputs, [Output::Plain, Output::Anon, Output::Custom]);
        assert_eq!(j.out_dir.as_deref(), Some(Path::new("/tmp/b")));
        assert!(j.schedule.is_none());
    }

    #[test]
    fn retention_runs_hourly_by_default_and_needs_something_to_keep() {
        let c = ServeConfig::parse(
            &format!("{JOB}keep_local = 3\ntimezone = \"Europe/Berlin\"\n"),
            Path::new("/etc/pgveil/p.toml"),
        )
        .unwrap();
        let r = c.jobs[0].retention_schedule.as_ref().unwrap();
        assert_eq!(r.expression(), DEFAULT_RETENTION_SCHEDULE);
        assert_eq!(r.zone_name(), "Europe/Berlin");
        let c = ServeConfig::parse(JOB, Path::new("/etc/pgveil/p.toml")).unwrap();
        assert!(c.jobs[0].retention_schedule.is_none());
        let e = problems(&format!("{JOB}retention_schedule = \"0 */5 * * * *\"\n"));
        assert!(
            e.contains("p.toml:5: job \"shop\": retention_schedule without keep_local"),
            "{e}"
        );
        let e = problems(&format!(
            "{JOB}keep_local = 2\ntimezone = \"Mars/Olympus\"\n"
        ));
        assert!(
            e.contains("p.toml:6: job \"shop\": timezone: unknown time zone"),
            "{e}"
        );
        let e = problems(&format!(
            "{JOB}keep_local = 2\nretention_schedule = \"0 3 * * *\"\n"
        ));
        assert!(
            e.contains("p.toml:6: job \"shop\": retention_schedule: "),
            "{e}"
        );
    }

    #[test]
    fn relative_paths_are_the_config_folders() {
        let c = ServeConfig::parse(
            &format!("[server]\nstate = \"state.db\"\n{JOB}"),
            Path::new("/etc/pgveil/p.toml"),
        )
        .unwrap();
        assert_eq!(c.server.state, Path::new("/etc/pgveil/state.db"));
    }

    #[test]
    fn problems_name_their_line() {
        let e = problems(&format!("{JOB}dbnme = \"x\"\n"));
        assert!(
            e.starts_with("/etc/pgveil/p.toml:5: unknown field `dbnme`"),
            "{e}"
        );
        let e = problems(&format!("{JOB}keep_local = 0\nupload = \"http://x\"\n"));
        assert!(
            e.contains("p.toml:5: job \"shop\": keep_local: must be at least 1"),
            "{e}"
        );
        assert!(e.contains("p.toml:6: job \"shop\": upload:"), "{e}");
        let e = problems(&format!("{JOB}outputs = [\"plain\", \"gz\"]\n"));
        assert!(e.contains("p.toml:5: job \"shop\": outputs: \"gz\""), "{e}");
        let e = problems(&format!("{JOB}{JOB}"));
        assert!(
            e.contains(
                "p.toml:6: job \"shop\": a second job of this name (the first is on line 2)"
            ),
            "{e}"
        );
        let e = problems("[[job]]\nname = \"a/b\"\ndbname = \"x\"\n");
        assert!(e.contains("p.toml:2: job \"a/b\": a job name is"), "{e}");
        assert!(
            e.contains("p.toml:2: job \"a/b\": needs out_dir, upload or both"),
            "{e}"
        );
        let e = problems("x = \n");
        assert_eq!(
            e,
            "/etc/pgveil/p.toml:1: invalid string; expected `\"`, `'`"
        );
        let e = problems("");
        assert_eq!(
            e,
            "/etc/pgveil/p.toml: no [[job]]: the service would have nothing to back up"
        );
    }

    #[test]
    fn secrets_are_refused_and_not_repeated() {
        for conn in [
            "postgresql://u:hunter22@h/db",
            "host=h dbname=db password=hunter22",
            "postgresql://u@h/db?sslpassword=hunter22",
        ] {
            let e = problems(&format!("{JOB}restore_targets = [\"{conn}\"]\n"));
            assert!(
                e.contains("p.toml:5: job \"shop\": restore_targets: holds a password"),
                "{e}"
            );
            assert!(!e.contains("hunter22"), "{e}");
        }
        let e = problems("[[job]]\nname = \"shop\"\nout_dir = \"/b\"\ndbname = \"postgresql://u:hunter22@h/db\"\n");
        assert!(
            e.contains("p.toml:4: job \"shop\": dbname: holds a password"),
            "{e}"
        );
        // A value of the wrong type is not quoted back.
        let e = problems(&format!("{JOB}keep_local = \"hunter22\"\n"));
        assert!(e.contains("p.toml:5:") && !e.contains("hunter22"), "{e}");
    }

    #[test]
    fn restore_targets_name_a_database_other_than_the_source() {
        let e = problems(&format!(
            "{JOB}restore_targets = [\"host=devdb\", \"shop\"]\n"
        ));
        assert!(e.contains("restore_targets: names no database"), "{e}");
        assert!(
            e.contains("restore_targets: is the job's own database"),
            "{e}"
        );
    }

    #[test]
    fn schedules_and_zones() {
        let e = problems(&format!("{JOB}schedule = \"0 3 * * *\"\n"));
        assert!(
            e.contains("p.toml:5: job \"shop\": schedule: not a cron expression"),
            "{e}"
        );
        let e = problems(&format!(
            "{JOB}schedule = \"0 0 3 * * *\"\ntimezone = \"Mars/Olympus\"\n"
        ));
        assert!(
            e.contains("p.toml:6: job \"shop\": timezone: unknown time zone \"Mars/Olympus\""),
            "{e}"
        );
        let c = ServeConfig::parse(
            &format!("{JOB}schedule = \"0 0 3 * * *\"\ntimezone = \"Europe/Berlin\"\n"),
            Path::new("/p.toml"),
        )
        .unwrap();
        assert_eq!(
            c.jobs[0].schedule.as_ref().unwrap().zone_name(),
            "Europe/Berlin"
        );
    }
}
