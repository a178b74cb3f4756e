//! What a pass needs before it starts: the rules (rule files, the masking key, and the rules
//! converted from PostgreSQL Anonymizer's security labels) and the schema facts (unique and
//! foreign-key columns, the database's own entries).

use std::path::{Path, PathBuf};

use super::UseCaseError;
use crate::archive::Announced;
use crate::audit::labels::{labels_from_dump, render_rules};
use crate::dump::facts::SchemaFacts;
use crate::dump::{DumpReader, Entry, Event};
use crate::input::{redact_password, PgDumpArgs, Source};
use crate::mask::{Key, RuleSet, DEFAULT_RULES};

/// Which rules mask the data.
#[derive(Debug, Clone, Default)]
pub struct RulesPlan {
    /// Rule files (TOML), in order; none = the shipped default rules.
    pub files: Vec<PathBuf>,
    /// The secret key for keyed pseudonyms (default: `$PGVEIL_KEY`, else a random per-run key).
    pub key_file: Option<PathBuf>,
}

/// Load the rules: `labels` (`(name, TOML text)`, see [`labels_rule_text`]) first when given,
/// then the rule files or, without any, the default rules. Returns the rule set and the names of
/// its sources (for the manifest).
pub fn load_rules(
    plan: &RulesPlan,
    labels: Option<(String, String)>,
) -> Result<(RuleSet, Vec<String>), UseCaseError> {
    let key = Key::from_env_or_file(plan.key_file.as_deref()).map_err(UseCaseError::Key)?;
    let Some(labels) = labels else {
        if plan.files.is_empty() {
            return Ok((
                RuleSet::builtin_default(key),
                vec!["builtin:default".into()],
            ));
        }
        let names = plan.files.iter().map(|p| p.display().to_string()).collect();
        return Ok((RuleSet::load(&plan.files, key)?, names));
    };
    let mut texts = vec![labels];
    if plan.files.is_empty() {
        texts.push(("rules/default.toml (built in)".into(), DEFAULT_RULES.into()));
    }
    for p in &plan.files {
        let t = std::fs::read_to_string(p)
            .map_err(|e| UseCaseError::io(format!("reading rule file {}", p.display()), e))?;
        texts.push((p.display().to_string(), t));
    }
    let names = texts.iter().map(|(n, _)| n.clone()).collect();
    let refs: Vec<(&str, &str)> = texts
        .iter()
        .map(|(f, t)| (f.as_str(), t.as_str()))
        .collect();
    Ok((RuleSet::from_texts(&refs, key)?, names))
}

/// Where PostgreSQL Anonymizer's `SECURITY LABEL FOR anon` statements are read from.
pub enum LabelSource<'a> {
    /// A plain dump file (`.gz` detected; not stdin, which cannot be read twice).
    Input(&'a Path),
    /// The schema-only dump of a database.
    Database(Option<&'a str>),
}

/// The security labels of a schema as a rule file: `(name for messages, TOML text)`. No label at
/// all is an error: the caller asked for them.
pub fn labels_rule_text(source: LabelSource<'_>) -> Result<(String, String), UseCaseError> {
    let (labels, name) = match source {
        LabelSource::Input(path) if path == Path::new("-") => {
            return Err(UseCaseError::Invalid(
                "security labels cannot be read from stdin (it is read once, for the data): give the dump as a file, or the database that holds the labels with --labels-from".into(),
            ))
        }
        LabelSource::Input(path) => {
            let mut src = Source::open_input(path)?;
            let labels = labels_from_dump(src.reader()).map_err(|source| UseCaseError::Labels {
                what: format!("reading security labels in {}", src.description()),
                source,
            })?;
            src.finish()?;
            (labels, path.display().to_string())
        }
        LabelSource::Database(dbname) => {
            let pg = PgDumpArgs {
                dbname: dbname.map(str::to_string),
                schema_only: true,
                ..PgDumpArgs::default()
            };
            let bytes = pg.run_to_vec()?;
            let labels = labels_from_dump(&bytes[..]).map_err(|source| UseCaseError::Labels {
                what: "reading security labels in the schema-only dump".into(),
                source,
            })?;
            let name = dbname
                .map(redact_password)
                .unwrap_or_else(|| "the default database".into());
            (labels, name)
        }
    };
    if labels.is_empty() {
        return Err(UseCaseError::Invalid(format!(
            "no `SECURITY LABEL FOR anon ON COLUMN` statement found in {name}"
        )));
    }
    let text = render_rules(&labels, &name);
    Ok((format!("security labels of {name}"), text))
}

/// Where the unique / foreign-key facts come from, and whether they must be learnt during the pass.
pub(crate) struct Facts {
    pub facts: SchemaFacts,
    pub learn_during_pass: bool,
    pub description: &'static str,
    /// The entries about the database itself (CREATE DATABASE with its encoding and locale, its
    /// properties, comment and ACL) when the input lacks them, for the custom archive: pg_dump puts
    /// them in every custom archive, where `pg_restore -C` uses them.
    pub database_entries: Vec<Entry>,
    /// Every entry the pass will show, when known before it: the custom archive is then streamed
    /// instead of spooled.
    pub announced: Option<Announced>,
}

/// Facts for a file input: a quick pre-scan of the file (the constraints follow the data in a dump).
pub(crate) fn facts_for_input(path: &Path) -> Result<Facts, UseCaseError> {
    if path == Path::new("-") {
        return Ok(Facts {
            facts: SchemaFacts::unknown(),
            learn_during_pass: true,
            description: "unknown (stdin): every masked column treated as unique",
            database_entries: Vec::new(),
            announced: None,
        });
    }
    // One read: the facts, and every entry (the data skipped) for the custom archive's TOC.
    let mut src = Source::open_input(path)?;
    let mut facts = SchemaFacts::new();
    let mut announced = Announced::new(format!("the pre-scan of {}", path.display()));
    let mut reader = DumpReader::new(src.reader());
    let read_err = |source| UseCaseError::Dump {
        what: format!("reading {}", path.display()),
        source,
    };
    while let Some(event) = reader.next_event().map_err(read_err)? {
        if let Event::Entry(e) = &event {
            facts.observe(e);
        }
        announced.observe(&event);
    }
    Ok(Facts {
        facts,
        learn_during_pass: false,
        description: "complete (pre-scan of the input)",
        database_entries: Vec::new(),
        announced: Some(announced),
    })
}

/// Facts for a spawned pg_dump: a schema-only dump of the same database first. It is taken with
/// `--create` (unless the data dump has that option itself, and so its own database entries, or is
/// restricted to the data), which adds the entries about the database exactly as this server's
/// pg_dump writes them.
pub(crate) fn facts_for_database(args: &PgDumpArgs) -> Result<Facts, UseCaseError> {
    let options = args.options()?;
    let input_has_database = options.creates_database();
    // The facts need the whole schema even when the dump itself is restricted to the data
    // (`--data-only`, `--section=data`): those options (and `--disable-triggers`, which needs
    // `--data-only`) stay off the schema-only dump, as does compression (`-Z`), since it is read
    // here as text. Data-only dumps have no database entries either.
    let restricted = options.restricted_to_data();
    let extra = options.to_args_without(&[
        "data-only",
        "no-schema",
        "section",
        "compress",
        "disable-triggers",
    ]);
    let with_database_entries = !input_has_database && !restricted;
    let mut schema = PgDumpArgs {
        schema_only: true,
        extra,
        ..args.clone()
    };
    if with_database_entries {
        schema.extra.push("--create".into());
    }
    let bytes = schema.run_to_vec()?;
    read_schema_facts(&bytes, with_database_entries, "complete (schema-only dump)")
}

/// Facts from the schema a direct read took from its snapshot (pre-data and post-data).
pub(crate) fn facts_from_schema(schema: &[u8]) -> Result<Facts, UseCaseError> {
    read_schema_facts(schema, false, "complete (the direct read's schema)")
}

/// One read of a schema dump: the facts, and the entries about the database if asked for.
fn read_schema_facts(
    bytes: &[u8],
    with_database_entries: bool,
    description: &'static str,
) -> Result<Facts, UseCaseError> {
    let mut facts = SchemaFacts::new();
    let mut database_entries = Vec::new();
    let mut reader = DumpReader::new(bytes);
    let read_err = |source| UseCaseError::Dump {
        what: "reading the schema-only dump".into(),
        source,
    };
    while let Some(event) = reader.next_event().map_err(read_err)? {
        if let Event::Entry(e) = event {
            facts.observe(&e);
            if with_database_entries && e.is_about_database() {
                database_entries.push(e);
            }
        }
    }
    Ok(Facts {
        facts,
        learn_during_pass: false,
        description,
        database_entries,
        announced: None,
    })
}
