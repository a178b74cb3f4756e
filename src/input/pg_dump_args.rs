//! pg_dump's command-line arguments read as pg_dump reads them, so that what pgveil concludes
//! about the extra arguments (after `--`) is what pg_dump will do with them.
//!
//! pg_dump parses with glibc's `getopt_long`: short options cluster (`-aZ5` is `-a -Z 5`, `-Fc` is
//! `-F c`), a required value is the rest of the cluster or the next argument (`-tx`, `-t x`,
//! `--table=x`, `--table x`), a long option may be abbreviated to any unique prefix (`--inser` is
//! `--inserts`; prefixes shared by aliases of one option, like `--no-acl`/`--no-privileges`, are not
//! ambiguous), `--` ends the options, and a non-option argument anywhere is the database (no pg_dump option
//! takes an optional value, so none is modelled).
//! [`PgDumpOptions::parse`] does the same over the options of pg_dump 15 to 18 and answers the
//! questions pgveil asks: the format, INSERT data, a snapshot of the user's own, data-only, the
//! database entries (`--create`), an output file, a database among the arguments.
//!
//! What pgveil cannot read for certain is refused: an unknown option (it may or may not take a
//! value, which changes how the rest reads) and an ambiguous abbreviation. Messages never repeat a
//! value (a connection string there may hold a password).

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Arg {
    No,
    Required,
}

/// One pg_dump option: its long name, short letter, argument, and the option it is an alias of
/// (options with one `canonical` mean the same, as getopt's equal `val`/`flag` entries do).
struct Spec {
    name: &'static str,
    short: Option<u8>,
    arg: Arg,
    canonical: &'static str,
}

const fn opt(name: &'static str, short: Option<u8>, arg: Arg) -> Spec {
    Spec {
        name,
        short,
        arg,
        canonical: name,
    }
}

const fn alias(name: &'static str, short: Option<u8>, arg: Arg, of: &'static str) -> Spec {
    Spec {
        name,
        short,
        arg,
        canonical: of,
    }
}

use Arg::{No, Required};

/// pg_dump's options, 15 to 18 (an abbreviation resolves against the newest set, where it is
/// ambiguous most often; an option an older pg_dump lacks makes that pg_dump fail by itself).
const SPECS: &[Spec] = &[
    opt("data-only", Some(b'a'), No),
    opt("blobs", Some(b'b'), No),
    alias("large-objects", Some(b'b'), No, "blobs"),
    opt("no-blobs", Some(b'B'), No),
    alias("no-large-objects", Some(b'B'), No, "no-blobs"),
    opt("clean", Some(b'c'), No),
    opt("create", Some(b'C'), No),
    opt("dbname", Some(b'd'), Required),
    opt("extension", Some(b'e'), Required),
    opt("encoding", Some(b'E'), Required),
    opt("file", Some(b'f'), Required),
    opt("format", Some(b'F'), Required),
    opt("host", Some(b'h'), Required),
    opt("jobs", Some(b'j'), Required),
    opt("schema", Some(b'n'), Required),
    opt("exclude-schema", Some(b'N'), Required),
    opt("no-owner", Some(b'O'), No),
    opt("port", Some(b'p'), Required),
    opt("no-reconnect", Some(b'R'), No),
    opt("schema-only", Some(b's'), No),
    opt("superuser", Some(b'S'), Required),
    opt("table", Some(b't'), Required),
    opt("exclude-table", Some(b'T'), Required),
    opt("username", Some(b'U'), Required),
    opt("verbose", Some(b'v'), No),
    opt("version", Some(b'V'), No),
    opt("no-password", Some(b'w'), No),
    opt("password", Some(b'W'), No),
    opt("no-privileges", Some(b'x'), No),
    alias("no-acl", Some(b'x'), No, "no-privileges"),
    opt("compress", Some(b'Z'), Required),
    opt("help", Some(b'?'), No),
    opt("column-inserts", None, No),
    alias("attribute-inserts", None, No, "column-inserts"),
    opt("binary-upgrade", None, No),
    opt("disable-dollar-quoting", None, No),
    opt("disable-triggers", None, No),
    opt("enable-row-security", None, No),
    opt("exclude-extension", None, Required),
    opt("exclude-table-and-children", None, Required),
    opt("exclude-table-data", None, Required),
    opt("exclude-table-data-and-children", None, Required),
    opt("extra-float-digits", None, Required),
    opt("filter", None, Required),
    opt("if-exists", None, No),
    opt("include-foreign-data", None, Required),
    opt("inserts", None, No),
    opt("load-via-partition-root", None, No),
    opt("lock-wait-timeout", None, Required),
    opt("no-comments", None, No),
    opt("no-data", None, No),
    opt("no-policies", None, No),
    opt("no-publications", None, No),
    opt("no-schema", None, No),
    opt("no-security-labels", None, No),
    opt("no-statistics", None, No),
    opt("no-subscriptions", None, No),
    opt("no-sync", None, No),
    opt("no-table-access-method", None, No),
    opt("no-tablespaces", None, No),
    opt("no-toast-compression", None, No),
    opt("no-unlogged-table-data", None, No),
    opt("on-conflict-do-nothing", None, No),
    opt("quote-all-identifiers", None, No),
    opt("restrict-key", None, Required),
    opt("role", None, Required),
    opt("rows-per-insert", None, Required),
    opt("section", None, Required),
    opt("sequence-data", None, No),
    opt("serializable-deferrable", None, No),
    opt("snapshot", None, Required),
    opt("statistics-only", None, No),
    opt("strict-names", None, No),
    opt("sync-method", None, Required),
    opt("table-and-children", None, Required),
    opt("use-set-session-authorization", None, No),
    opt("with-data", None, No),
    opt("with-schema", None, No),
    opt("with-statistics", None, No),
];

#[derive(Debug, thiserror::Error)]
pub enum PgDumpArgsError {
    #[error("pg_dump has no option {0}")]
    Unknown(String),
    #[error("{given} is ambiguous among pg_dump's options ({candidates}): spell the option out")]
    Ambiguous { given: String, candidates: String },
    #[error("pg_dump's option {0} needs a value")]
    MissingValue(String),
    #[error("pg_dump's option {0} takes no value")]
    UnexpectedValue(String),
    #[error("{0} among the pg_dump arguments: give the database with pgveil's own --dbname (its password then stays off pg_dump's command line)")]
    Dbname(String),
    #[error("{0} among the pg_dump arguments: data as INSERT statements cannot be masked; pgveil masks pg_dump's default COPY format")]
    Inserts(String),
    #[error("{0} among the pg_dump arguments: pgveil reads pg_dump's plain format (it writes the custom archive itself: --output custom)")]
    Format(String),
    #[error(
        "{0} among the pg_dump arguments: pgveil reads the dump from pg_dump's standard output"
    )]
    File(String),
    #[error("{0} among the pg_dump arguments: pg_dump then prints no dump")]
    NoDump(String),
}

/// One parsed option: the spec it resolved to, how the user spelled it (without its value), and
/// its value.
#[derive(Debug, Clone)]
struct Given {
    spec: usize,
    spelled: String,
    value: Option<OsString>,
}

/// The extra pg_dump arguments, parsed.
#[derive(Debug, Clone, Default)]
pub struct PgDumpOptions {
    options: Vec<Given>,
    /// Non-option arguments (pg_dump takes one as the database).
    positional: Vec<OsString>,
}

impl PgDumpOptions {
    /// Parse as pg_dump's `getopt_long` does; unknown options and ambiguous abbreviations are
    /// refused (see the module header).
    pub fn parse(args: &[OsString]) -> Result<PgDumpOptions, PgDumpArgsError> {
        let mut out = PgDumpOptions::default();
        let mut i = 0;
        while i < args.len() {
            let a = args[i].as_bytes();
            i += 1;
            if a == b"--" {
                out.positional.extend(args[i..].iter().cloned());
                break;
            }
            if let Some(long) = a.strip_prefix(b"--") {
                let (name, inline) = match long.iter().position(|&b| b == b'=') {
                    Some(eq) => (&long[..eq], Some(&long[eq + 1..])),
                    None => (long, None),
                };
                let spelled = format!("--{}", String::from_utf8_lossy(name));
                let spec = resolve_long(name, &spelled)?;
                let value = match (SPECS[spec].arg, inline) {
                    (No, Some(_)) => return Err(PgDumpArgsError::UnexpectedValue(spelled)),
                    (No, None) => None,
                    (_, Some(v)) => Some(OsStr::from_bytes(v).to_os_string()),
                    (Required, None) => match args.get(i) {
                        Some(v) => {
                            i += 1;
                            Some(v.clone())
                        }
                        None => return Err(PgDumpArgsError::MissingValue(spelled)),
                    },
                };
                out.options.push(Given {
                    spec,
                    spelled,
                    value,
                });
            } else if a.len() > 1 && a[0] == b'-' {
                // A cluster of short options.
                let mut k = 1;
                while k < a.len() {
                    let c = a[k];
                    k += 1;
                    let spelled = format!("-{}", char::from(c));
                    let spec = SPECS
                        .iter()
                        .position(|s| s.short == Some(c))
                        .filter(|_| c.is_ascii())
                        .ok_or_else(|| {
                            PgDumpArgsError::Unknown(if c.is_ascii() {
                                spelled.clone()
                            } else {
                                "a non-ASCII short option".into()
                            })
                        })?;
                    let rest = &a[k..];
                    let value = match SPECS[spec].arg {
                        No => None,
                        Required if !rest.is_empty() => {
                            k = a.len();
                            Some(OsStr::from_bytes(rest).to_os_string())
                        }
                        Required => match args.get(i) {
                            Some(v) => {
                                i += 1;
                                Some(v.clone())
                            }
                            None => return Err(PgDumpArgsError::MissingValue(spelled)),
                        },
                    };
                    out.options.push(Given {
                        spec,
                        spelled,
                        value,
                    });
                }
            } else {
                // GNU getopt permutes: a non-option anywhere is an operand (`-` included).
                out.positional.push(args[i - 1].clone());
            }
        }
        Ok(out)
    }

    /// Parse and refuse what pgveil cannot work with: a database among the arguments (the
    /// connection is pgveil's own `--dbname`), INSERT data, a format other than plain, an output
    /// file, help or version instead of a dump.
    pub fn parse_for_pgveil(args: &[OsString]) -> Result<PgDumpOptions, PgDumpArgsError> {
        let options = PgDumpOptions::parse(args)?;
        if !options.positional.is_empty() {
            return Err(PgDumpArgsError::Dbname(
                "a database name (an argument that is not an option)".into(),
            ));
        }
        for g in &options.options {
            let shown = || g.shown();
            match SPECS[g.spec].canonical {
                "dbname" => return Err(PgDumpArgsError::Dbname(g.spelled.clone())),
                "inserts" | "column-inserts" | "rows-per-insert" => {
                    return Err(PgDumpArgsError::Inserts(shown()))
                }
                "format" if !is_plain(g.value.as_deref().unwrap_or_default()) => {
                    return Err(PgDumpArgsError::Format(shown()))
                }
                "file" => return Err(PgDumpArgsError::File(shown())),
                "help" | "version" => return Err(PgDumpArgsError::NoDump(shown())),
                _ => {}
            }
        }
        Ok(options)
    }

    /// Whether the option `name` (its full name, or any alias's) was given.
    pub fn has(&self, name: &str) -> bool {
        self.options.iter().any(|g| is(g, name))
    }

    /// The value of the last `name` given (pg_dump keeps the last one).
    pub fn value(&self, name: &str) -> Option<&OsStr> {
        self.options
            .iter()
            .rev()
            .find(|g| is(g, name))
            .and_then(|g| g.value.as_deref())
    }

    /// The dump reads a snapshot of its own choosing (`--snapshot`), or takes its own
    /// (`--serializable-deferrable`: PostgreSQL lets no READ ONLY DEFERRABLE transaction import one).
    pub fn takes_own_snapshot(&self) -> bool {
        self.has("snapshot") || self.has("serializable-deferrable")
    }

    /// The dump has the entries about the database itself (`--create`).
    pub fn creates_database(&self) -> bool {
        self.has("create")
    }

    /// The dump is restricted to (a part of) the data: `--data-only`, `--no-schema`, `--section`.
    pub fn restricted_to_data(&self) -> bool {
        self.has("data-only") || self.has("no-schema") || self.has("section")
    }

    /// The canonical long names of the options given, in order (for the direct read's check of
    /// what it can honour).
    pub fn canonical_names(&self) -> Vec<&'static str> {
        self.options
            .iter()
            .map(|g| SPECS[g.spec].canonical)
            .collect()
    }

    /// The options (every one spelled `--name[=value]`) without those named (or their aliases).
    pub fn to_args_without(&self, names: &[&str]) -> Vec<OsString> {
        let mut out = Vec::with_capacity(self.options.len() + self.positional.len());
        for g in self
            .options
            .iter()
            .filter(|g| !names.iter().any(|n| is(g, n)))
        {
            let mut a = format!("--{}", SPECS[g.spec].name).into_bytes();
            if let Some(v) = &g.value {
                a.push(b'=');
                a.extend_from_slice(v.as_bytes());
            }
            out.push(OsString::from_vec(a));
        }
        if !self.positional.is_empty() {
            out.push("--".into());
            out.extend(self.positional.iter().cloned());
        }
        out
    }

    /// Every option, spelled `--name[=value]`.
    pub fn to_args(&self) -> Vec<OsString> {
        self.to_args_without(&[])
    }
}

impl Given {
    /// How the user wrote it, and what it means, without the value (`-Fc (--format)`).
    fn shown(&self) -> String {
        let name = SPECS[self.spec].name;
        if self.spelled == format!("--{name}") {
            self.spelled.clone()
        } else {
            format!("{} (--{name})", self.spelled)
        }
    }
}

fn is(g: &Given, name: &str) -> bool {
    let spec = &SPECS[g.spec];
    spec.name == name || spec.canonical == name
}

/// pg_dump's `parseArchiveFormat`: `p`/`plain` in any case.
fn is_plain(format: &OsStr) -> bool {
    let f = format.as_bytes();
    f.eq_ignore_ascii_case(b"p") || f.eq_ignore_ascii_case(b"plain")
}

/// The spec `--name` means: an exact name, else the one option (up to aliases) it is a prefix of.
fn resolve_long(name: &[u8], spelled: &str) -> Result<usize, PgDumpArgsError> {
    if let Some(i) = SPECS.iter().position(|s| s.name.as_bytes() == name) {
        return Ok(i);
    }
    let matches: Vec<usize> = (0..SPECS.len())
        .filter(|&i| !name.is_empty() && SPECS[i].name.as_bytes().starts_with(name))
        .collect();
    let Some(&first) = matches.first() else {
        return Err(PgDumpArgsError::Unknown(spelled.to_string()));
    };
    let same = |i: &usize| {
        SPECS[*i].canonical == SPECS[first].canonical && SPECS[*i].arg == SPECS[first].arg
    };
    if matches.iter().all(same) {
        Ok(first)
    } else {
        Err(PgDumpArgsError::Ambiguous {
            given: spelled.to_string(),
            candidates: matches
                .iter()
                .map(|&i| format!("--{}", SPECS[i].name))
                .collect::<Vec<_>>()
                .join(", "),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<OsString> {
        a.iter().map(OsString::from).collect()
    }

    fn parse(a: &[&str]) -> PgDumpOptions {
        PgDumpOptions::parse(&args(a)).unwrap_or_else(|e| panic!("{a:?}: {e}"))
    }

    fn refused(a: &[&str]) -> PgDumpArgsError {
        match PgDumpOptions::parse_for_pgveil(&args(a)) {
            Ok(o) => panic!("{a:?} accepted: {o:?}"),
            Err(e) => e,
        }
    }

    fn rendered(a: &[&str]) -> Vec<String> {
        parse(a)
            .to_args()
            .into_iter()
            .map(|s| s.into_string().unwrap())
            .collect()
    }

    #[test]
    fn short_options_cluster_and_take_the_rest_as_a_value() {
        assert_eq!(rendered(&["-aZ5"]), ["--data-only", "--compress=5"]);
        assert_eq!(rendered(&["-Fp"]), ["--format=p"]);
        assert_eq!(rendered(&["-F", "p"]), ["--format=p"]);
        assert_eq!(rendered(&["-tx"]), ["--table=x"]);
        assert_eq!(rendered(&["-t", "x"]), ["--table=x"]);
        assert_eq!(
            rendered(&["-t", "-a"]),
            ["--table=-a"],
            "a required value may start with -"
        );
        assert_eq!(
            rendered(&["-vOx"]),
            ["--verbose", "--no-owner", "--no-privileges"]
        );
        assert_eq!(
            rendered(&["-n", "app", "-Ct", "s.t"]),
            ["--schema=app", "--create", "--table=s.t"]
        );
        assert!(matches!(
            PgDumpOptions::parse(&args(&["-t"])),
            Err(PgDumpArgsError::MissingValue(f)) if f == "-t"
        ));
        assert!(matches!(
            PgDumpOptions::parse(&args(&["-aq"])),
            Err(PgDumpArgsError::Unknown(f)) if f == "-q"
        ));
    }

    #[test]
    fn long_options_take_values_inline_or_next_and_abbreviate_to_unique_prefixes() {
        assert_eq!(rendered(&["--table=x"]), ["--table=x"]);
        assert_eq!(rendered(&["--table", "x"]), ["--table=x"]);
        assert_eq!(rendered(&["--table="]), ["--table="]);
        // An exact name wins over the longer names it begins.
        assert_eq!(
            rendered(&["--table", "x", "--exclude-table-data=y"]),
            ["--table=x", "--exclude-table-data=y"]
        );
        assert_eq!(rendered(&["--inser"]), ["--inserts"]);
        assert_eq!(rendered(&["--sn", "0A-1"]), ["--snapshot=0A-1"]);
        assert_eq!(rendered(&["--serial"]), ["--serializable-deferrable"]);
        assert_eq!(rendered(&["--form=c"]), ["--format=c"]);
        assert_eq!(rendered(&["--cr"]), ["--create"]);
        assert_eq!(rendered(&["--data"]), ["--data-only"]);
        // Aliases of one option share their prefixes.
        assert_eq!(rendered(&["--attr"]), ["--attribute-inserts"]);
        assert_eq!(rendered(&["--no-ac"]), ["--no-acl"]);
        for ambiguous in ["--c", "--in", "--no-p", "--exclude-table-d", "--no-t"] {
            assert!(
                matches!(
                    PgDumpOptions::parse(&args(&[ambiguous])),
                    Err(PgDumpArgsError::Ambiguous { .. })
                ),
                "{ambiguous}"
            );
        }
        assert!(matches!(
            PgDumpOptions::parse(&args(&["--create=yes"])),
            Err(PgDumpArgsError::UnexpectedValue(_))
        ));
        assert!(matches!(
            PgDumpOptions::parse(&args(&["--section"])),
            Err(PgDumpArgsError::MissingValue(_))
        ));
        assert!(matches!(
            PgDumpOptions::parse(&args(&["--tables-of-x"])),
            Err(PgDumpArgsError::Unknown(_))
        ));
    }

    #[test]
    fn double_dash_ends_the_options_and_operands_may_come_anywhere() {
        let o = parse(&["-a", "shop", "--", "-Fc"]);
        assert!(o.has("data-only") && !o.has("format"));
        assert_eq!(o.positional, args(&["shop", "-Fc"]));
        assert!(matches!(
            refused(&["-a", "shop"]),
            PgDumpArgsError::Dbname(_)
        ));
        assert!(matches!(
            refused(&["--", "postgresql://u:pw@h/db"]),
            PgDumpArgsError::Dbname(_)
        ));
    }

    /// Each misleading spelling is refused exactly as its long spelling. The old checks compared
    /// whole arguments or their first letters: a connection string as `--dbn=…`, `-xd …` or an
    /// operand reached pg_dump's command line; `--inserts`, `-f` and `-Fc` were left to pg_dump and
    /// the reader (an output file left pgveil an empty stream).
    #[test]
    fn misleading_spellings_are_refused_as_their_long_spelling() {
        for a in [
            &["--inserts"][..],
            &["--inser"],
            &["--column-inserts"],
            &["--col"],
            &["--attribute-inserts"],
            &["--rows-per-insert=10"],
            &["--rows", "5"],
            &["-a", "--inserts"],
        ] {
            assert!(matches!(refused(a), PgDumpArgsError::Inserts(_)), "{a:?}");
        }
        for a in [
            &["--format=c"][..],
            &["-Fc"],
            &["-F", "d"],
            &["--form=t"],
            &["-aFc"],
            &["--format", "custom"],
            &["-Fa"],
        ] {
            assert!(matches!(refused(a), PgDumpArgsError::Format(_)), "{a:?}");
        }
        for a in [
            &["-Fp"][..],
            &["--format=PLAIN"],
            &["-F", "P"],
            &["--format=plain"],
        ] {
            PgDumpOptions::parse_for_pgveil(&args(a)).unwrap_or_else(|e| panic!("{a:?}: {e}"));
        }
        for a in [
            &["-f", "out.sql"][..],
            &["-fout.sql"],
            &["--file=x"],
            &["--file", "x"],
            &["-af", "x"],
        ] {
            assert!(matches!(refused(a), PgDumpArgsError::File(_)), "{a:?}");
        }
        for a in [
            &["-d", "postgresql://u:pw@h/db"][..],
            &["--dbname=host=h password=pw"],
            &["-dpostgresql://u:pw@h/db"],
            &["--dbname", "x"],
            &["--dbn=host=h password=pw"],
            &["-xd", "pw"],
            &["shop"],
        ] {
            let e = refused(a);
            assert!(matches!(e, PgDumpArgsError::Dbname(_)), "{a:?}");
            assert!(!e.to_string().contains("pw"), "{e}");
        }
        for a in [
            &["-V"][..],
            &["--version"],
            &["--help"],
            &["-?"],
            &["--vers"],
        ] {
            assert!(matches!(refused(a), PgDumpArgsError::NoDump(_)), "{a:?}");
        }
        // The message says what the spelling meant.
        assert_eq!(
            refused(&["-aFc"]).to_string(),
            "-F (--format) among the pg_dump arguments: pgveil reads pg_dump's plain format (it writes the custom archive itself: --output custom)"
        );
    }

    #[test]
    fn the_questions_pgveil_asks() {
        let o = parse(&["-aZ5", "-C"]);
        assert!(o.restricted_to_data() && o.creates_database() && !o.takes_own_snapshot());
        assert_eq!(o.value("compress"), Some(OsStr::new("5")));
        assert!(parse(&["--sec", "data"]).restricted_to_data());
        assert!(parse(&["--snapshot=00000003-1"]).takes_own_snapshot());
        assert!(parse(&["--ser"]).takes_own_snapshot());
        assert!(
            !parse(&["-t", "--snapshot"]).takes_own_snapshot(),
            "a value, not an option"
        );
        assert!(parse(&["--cre"]).creates_database());
        // The schema-only dump's arguments: the data restrictions and compression left out.
        let schema = parse(&[
            "-aZ5",
            "-n",
            "app",
            "--disable-triggers",
            "--section",
            "data",
            "-C",
        ])
        .to_args_without(&["data-only", "section", "compress", "disable-triggers"]);
        assert_eq!(schema, args(&["--schema=app", "--create"]));
    }
}
