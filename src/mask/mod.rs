//! Masking, the hot path: loading and validating rule files (TOML), planning which masker each
//! column of a table gets ([`RuleSet::plan_table`]), and the maskers themselves ([`maskers`], each
//! registered once in [`maskers::REGISTRY`]; reference with examples in `rules/README.md`), with
//! their key ([`key`]), the categories of personal data they declare ([`category`]), the value
//! detectors `pii_scan` uses ([`find`]) and the classifier of PostgreSQL type names ([`types`]).
//!
//! The tools that judge rules without masking (`rules check`/`init`, labels import, `scan`) are in
//! [`crate::audit`], which uses this module; this module never uses it.
//!
//! # Rule files
//!
//! ```toml
//! # Optional, default false. When true, every column of every table in the dump must be matched by
//! # some rule (a masker, or `keep` for "nothing to mask here"), or the run fails naming the column.
//! strict = false
//!
//! [[rule]]
//! schema = "public"          # optional, default "*"
//! table = "users"            # optional, default "*"
//! column = "email"           # required
//! masker = "email"           # required: a name in maskers::REGISTRY (keep, email, hash, …)
//! types = ["text", "citext"] # optional: only columns of these types
//! # the masker's options go inline, e.g. `value = "x"` for `constant`, `pattern`/`replacement` for `regex`
//! ```
//!
//! - **Names** are the real names, unquoted and case-sensitive: `table = "Customer Contacts"`,
//!   `column = "E-Mail Address"` match `COPY "CRM"."Customer Contacts" ("E-Mail Address")`, and
//!   `users` does not match `"Users"`. `schema`, `table` and `column` are globs: `*` matches any run of
//!   characters, `?` one character, `\*` `\?` `\\` themselves (see `glob`).
//! - **First match wins**: rules are tried in file order, files in the order given; the first rule
//!   whose schema, table, column (and types) match decides the column's masker. A column no rule
//!   matches is kept as it is (or is an error under `strict`).
//! - **`types`** compares the column's type from `CREATE TABLE`, lower-cased, without modifiers
//!   (`character varying(255)` → `character varying`, `numeric(10,2)[]` → `numeric[]`), with common
//!   aliases accepted in the rule (`varchar`, `int`, `int8`, `bool`, `timestamptz`, `_text`, …; see
//!   [`types::TypeName`]). Arrays are distinct types: list `text[]` to match `text[]` columns. A
//!   type named without a schema matches it in any schema (`citext` matches pg_dump's
//!   `public.citext`); with one, only there. A column whose type the dump did not show never
//!   matches a rule with `types` (conservative: such a rule falls through to later rules).
//! - **Exact rules**: a rule whose schema, table and column have no wildcard names one column. If that
//!   table is planned and lacks the column, planning fails (a typo must not silently leave data
//!   unmasked). A rule whose schema and table have no wildcard names a table; if that table never
//!   appears in the dump, [`RuleSet::check_coverage`] fails at the end of the pass.
//! - **`strict`** is on when any of the loaded files sets `strict = true`.
//! - **Validation** at load: unknown top-level keys, unknown rule keys or masker options, missing
//!   `column`/`masker` or a masker's required option, an unknown masker, a bad regex or glob are errors
//!   naming the file and line.
//!
//! # Keys
//!
//! Pseudonyms come from HMAC-SHA256 with a [`Key`]: see [`key`].
//!
//! # Unique columns
//!
//! [`ColumnInfo::unique`] marks columns under a primary key, a unique constraint or index, or a foreign
//! key to one. `email`, `email_scan` and the `email` action of `json` switch to a keyed form that
//! keeps distinct inputs distinct, `hash` always does; `constant`, `null`, `name`, `phone`, `partial`
//! and `noise` do not, and using them on such a column is the rule author's choice (the restore may
//! then fail on duplicates).

use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

pub mod category;
pub mod find;
mod glob;
pub mod key;
pub mod maskers;
mod source;
pub mod types;

pub use key::Key;

pub use category::{Categories, Category};
use glob::Glob;
use source::{Options, RawTable, Source};
use types::TypeName;

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    /// A problem in a rule file, at a line.
    #[error("{file}:{line}: {message}")]
    At {
        file: String,
        line: usize,
        message: String,
    },
    #[error("cannot read rule file {file}")]
    Read {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read key file {file}")]
    KeyFileRead {
        file: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot use key file {file}: the key file is empty")]
    KeyFileEmpty { file: String },
    #[error("rule at {file}:{line} names column {schema}.{table}.{column}, which table {schema}.{table} does not have")]
    MissingColumn {
        file: String,
        line: usize,
        schema: String,
        table: String,
        column: String,
    },
    #[error(
        "rule at {file}:{line} names table {schema}.{table}, which does not appear in the dump"
    )]
    MissingTable {
        file: String,
        line: usize,
        schema: String,
        table: String,
    },
    #[error("{schema}.{table}.{column} is not covered by any rule (strict = true)")]
    Unclassified {
        schema: String,
        table: String,
        column: String,
    },
}

/// What the dump tells about one column of a table being planned.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: String,
    /// The column's type as written in `CREATE TABLE` (e.g. `character varying(255)`, `jsonb`, `text[]`),
    /// when the dump showed it.
    pub type_name: Option<String>,
    /// Under a PRIMARY KEY / UNIQUE constraint / unique index, or referencing one through a foreign key
    /// (then it must be masked exactly like the column it references). Maskers must keep distinct inputs
    /// distinct and stay deterministic for such columns.
    pub unique: bool,
}

impl ColumnInfo {
    /// The columns of a COPY statement, with their types and key facts as the schema shows them.
    pub fn of_copy(
        copy: &crate::dump::CopyStmt,
        facts: &crate::dump::facts::SchemaFacts,
    ) -> Vec<ColumnInfo> {
        let schema = copy.schema.as_deref().unwrap_or_default();
        copy.columns
            .iter()
            .map(|c| ColumnInfo {
                name: c.clone(),
                type_name: facts.column_type(schema, &copy.table, c),
                unique: facts.is_keyed(schema, &copy.table, c),
            })
            .collect()
    }
}

/// The result of masking one non-NULL value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskOutcome {
    /// Keep the value as it was (the engine copies the raw field, no re-encoding).
    Unchanged,
    /// Replace it by SQL NULL.
    Null,
    /// Replace it by the bytes the masker appended to `out`.
    Value,
}

/// A masker: deterministic given its key and input, shared by all worker threads.
///
/// `mask` appends to `out` only when it returns [`MaskOutcome::Value`] (the caller clears `out`
/// between values; it may also contain earlier bytes, which are left alone).
pub trait Masker: Send + Sync {
    /// A cheap test on the raw (still escaped) field: `false` means `mask` would surely return `Unchanged`.
    fn prefilter(&self, _raw: &[u8]) -> bool {
        true
    }
    /// Mask one decoded non-NULL value. NULLs are never passed: they stay NULL.
    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome;
}

/// The maskers for one table, by column position (`None` = keep), and the rules that matched the
/// table (for the pass's [`RuleCoverage`]).
#[derive(Clone, Default)]
pub struct TablePlan {
    pub columns: Vec<Option<Arc<dyn Masker>>>,
    /// The rules (by [`RuleRef::index`]) whose schema and table match this table, in order.
    pub matched_rules: Vec<usize>,
}

impl std::fmt::Debug for TablePlan {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.columns
                    .iter()
                    .map(|c| if c.is_some() { "masked" } else { "kept" }),
            )
            .finish()
    }
}

impl TablePlan {
    /// A plan that keeps all `columns` columns and matched no rule (data the masked view leaves
    /// out, which is not planned).
    pub fn keep_all(columns: usize) -> TablePlan {
        TablePlan {
            columns: vec![None; columns],
            matched_rules: Vec::new(),
        }
    }

    pub fn is_passthrough(&self) -> bool {
        self.columns.iter().all(Option::is_none)
    }
}

/// A view of one loaded rule, for reports (`rules check`, `scan`).
#[derive(Clone, Copy)]
pub struct RuleRef<'a> {
    index: usize,
    rule: &'a Rule,
}

impl<'a> RuleRef<'a> {
    /// Position in the order rules are tried (0-based, across files).
    pub fn index(&self) -> usize {
        self.index
    }
    pub fn file(&self) -> &'a str {
        &self.rule.file
    }
    pub fn line(&self) -> usize {
        self.rule.line
    }
    /// `file:line`.
    pub fn location(&self) -> String {
        format!("{}:{}", self.rule.file, self.rule.line)
    }
    /// The masker's name (`keep`, `email`, …).
    pub fn masker(&self) -> &'a str {
        self.rule.masker.name
    }
    /// Whether the rule masks (anything but `keep`).
    pub fn masks(&self) -> bool {
        self.rule.plain.is_some()
    }
    /// Whether values of `category` do not survive this rule's masker: `keep` removes nothing,
    /// `email_scan` only addresses, `phone` digits (phones, cards, ids, IPs); the maskers that
    /// replace the whole value (or that the author aimed at something specific: `regex`, `json`)
    /// count as removing everything.
    pub fn covers(&self, category: Category) -> bool {
        self.rule.covers & category.bit() != 0
    }
    /// Whether this rule's masker writes values that look like `category` (fake phones, names, a
    /// constant that is an address): `scan` cannot tell those from originals.
    pub fn produces(&self, category: Category) -> bool {
        self.rule.produces & category.bit() != 0
    }
    /// Whether a value of `category` found (by `scan`) in a column this rule decides means the
    /// masking failed: the rule masks the column and its masker does not write such values by
    /// design. What a masker leaves untouched counts too: a phone in a column `email_scan` masked
    /// is a leak, since the artifact is not clean of it (whatever the rule author aimed at).
    pub fn leaks(&self, category: Category) -> bool {
        self.masks() && !self.produces(category)
    }
    /// Whether a value of `category` found in a column this rule masks may be the masker's own
    /// output (a fake phone, a constant that is an address): a look-alike, not a leak.
    pub fn look_alike(&self, category: Category) -> bool {
        self.masks() && self.produces(category)
    }
    /// The schema, table and column globs as written.
    pub fn patterns(&self) -> (String, String, String) {
        (
            self.rule.schema.pattern().to_string(),
            self.rule.table.pattern().to_string(),
            self.rule.column.pattern().to_string(),
        )
    }
    /// `(schema, table)` when the rule names one table (no wildcard in either).
    pub fn exact_table(&self) -> Option<(&'a str, &'a str)> {
        Some((self.rule.schema.literal()?, self.rule.table.literal()?))
    }
    /// The column name when the rule names exactly one column of one table.
    pub fn exact_column(&self) -> Option<&'a str> {
        self.exact_table()?;
        self.rule.column.literal()
    }
}

/// One loaded rule.
struct Rule {
    file: Arc<str>,
    line: usize,
    schema: Glob,
    table: Glob,
    column: Glob,
    /// The type names, when the rule restricts types.
    types: Option<Vec<TypeName>>,
    /// The masker for ordinary columns and for unique ones (`None` for `keep`).
    plain: Option<Arc<dyn Masker>>,
    unique: Option<Arc<dyn Masker>>,
    /// The registered masker the rule names.
    masker: &'static maskers::MaskerSpec,
    /// The [`Category`] bits this masker removes (see [`RuleRef::covers`]).
    covers: Categories,
    /// The bits its output can look like (see [`RuleRef::produces`]).
    produces: Categories,
}

impl Rule {
    fn matches_table(&self, schema: &str, table: &str) -> bool {
        self.schema.matches(schema) && self.table.matches(table)
    }

    fn matches_column(&self, column: &ColumnInfo) -> bool {
        if !self.column.matches(&column.name) {
            return false;
        }
        match (&self.types, &column.type_name) {
            (None, _) => true,
            (Some(_), None) => false,
            (Some(types), Some(t)) => {
                let t = TypeName::parse(t);
                types.iter().any(|r| t.matches(r))
            }
        }
    }

    fn masker(&self, unique: bool) -> Option<Arc<dyn Masker>> {
        if unique {
            self.unique.clone()
        } else {
            self.plain.clone()
        }
    }
}

/// Which rules matched some planned table: the pass records each [`TablePlan`] and, at its end,
/// [`RuleSet::check_coverage`] fails for a rule naming a table that never appeared. It comes back in
/// the pass's report.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleCoverage {
    /// By rule index; shorter than the rule set when the last rules matched nothing.
    matched: Vec<bool>,
}

impl RuleCoverage {
    /// Note the rules that matched a planned table.
    pub fn record(&mut self, plan: &TablePlan) {
        for &i in &plan.matched_rules {
            if self.matched.len() <= i {
                self.matched.resize(i + 1, false);
            }
            self.matched[i] = true;
        }
    }

    /// Whether rule `index` matched some recorded table.
    pub fn matched(&self, index: usize) -> bool {
        self.matched.get(index).copied().unwrap_or(false)
    }
}

/// Loaded rules, ready to plan tables. Immutable once loaded and shared by reference across
/// threads: planning is a pure function of the rules and the table; what a pass learns about the
/// rules (their [`RuleCoverage`]) is the pass's own.
pub struct RuleSet {
    rules: Vec<Rule>,
    strict: bool,
}

impl std::fmt::Debug for RuleSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleSet")
            .field("rules", &self.rules.len())
            .field("strict", &self.strict)
            .finish()
    }
}

/// The built-in rules used when no rule file is given.
pub const DEFAULT_RULES: &str = include_str!("../../rules/default.toml");
const DEFAULT_RULES_NAME: &str = "rules/default.toml (built in)";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    strict: Option<bool>,
    #[serde(default)]
    rule: Vec<Spanned<RawTable>>,
}

impl RuleSet {
    /// Load rule files, in order (the first matching rule across all files wins).
    pub fn load(paths: &[PathBuf], key: Key) -> Result<RuleSet, RulesError> {
        let mut texts = Vec::with_capacity(paths.len());
        for p in paths {
            let file = p.display().to_string();
            let text = std::fs::read_to_string(p).map_err(|e| RulesError::Read {
                file: file.clone(),
                source: e,
            })?;
            texts.push((file, text));
        }
        let refs: Vec<(&str, &str)> = texts
            .iter()
            .map(|(f, t)| (f.as_str(), t.as_str()))
            .collect();
        RuleSet::from_texts(&refs, key)
    }

    /// The shipped default rules (`rules/default.toml`, embedded).
    pub fn builtin_default(key: Key) -> RuleSet {
        RuleSet::from_texts(&[(DEFAULT_RULES_NAME, DEFAULT_RULES)], key)
            .expect("the built-in default rules are valid")
    }

    /// Load rules from `(file name, TOML text)` pairs, in order.
    pub fn from_texts(files: &[(&str, &str)], key: Key) -> Result<RuleSet, RulesError> {
        let mut rules = Vec::new();
        let mut strict = false;
        for (file, text) in files {
            let src = Source { file, text };
            let raw: RawFile = toml::from_str(text).map_err(|e| {
                let line = e.span().map(|s| src.line(s.start)).unwrap_or(1);
                RulesError::At {
                    file: file.to_string(),
                    line,
                    message: e.message().trim_end().to_string(),
                }
            })?;
            strict |= raw.strict.unwrap_or(false);
            let file: Arc<str> = Arc::from(*file);
            for table in raw.rule {
                rules.push(parse_rule(&src, &file, table, &key)?);
            }
        }
        Ok(RuleSet { rules, strict })
    }

    /// Whether every column must be covered by some rule.
    pub fn strict(&self) -> bool {
        self.strict
    }

    /// Choose the masker of each column of `schema.table` (real, unquoted names).
    ///
    /// Fails when an exact rule names a column the table does not have, or, under `strict`, for the
    /// first column no rule matches.
    pub fn plan_table(
        &self,
        schema: &str,
        table: &str,
        columns: &[ColumnInfo],
    ) -> Result<TablePlan, RulesError> {
        let matched_rules: Vec<usize> = (0..self.rules.len())
            .filter(|&i| self.rules[i].matches_table(schema, table))
            .collect();
        let applicable: Vec<&Rule> = matched_rules.iter().map(|&i| &self.rules[i]).collect();
        for r in &applicable {
            if let Some(col) = r.column.literal() {
                if r.schema.literal().is_some()
                    && r.table.literal().is_some()
                    && !columns.iter().any(|c| c.name == col)
                {
                    return Err(RulesError::MissingColumn {
                        file: r.file.to_string(),
                        line: r.line,
                        schema: schema.to_string(),
                        table: table.to_string(),
                        column: col.to_string(),
                    });
                }
            }
        }
        let mut plan = Vec::with_capacity(columns.len());
        for c in columns {
            match applicable.iter().find(|r| r.matches_column(c)) {
                Some(r) => plan.push(r.masker(c.unique)),
                None if self.strict => {
                    return Err(RulesError::Unclassified {
                        schema: schema.to_string(),
                        table: table.to_string(),
                        column: c.name.clone(),
                    })
                }
                None => plan.push(None),
            }
        }
        Ok(TablePlan {
            columns: plan,
            matched_rules,
        })
    }

    /// The rule that decides `column` of `schema.table` (first match wins), without planning.
    pub fn classify(&self, schema: &str, table: &str, column: &ColumnInfo) -> Option<RuleRef<'_>> {
        self.rules
            .iter()
            .enumerate()
            .find(|(_, r)| r.matches_table(schema, table) && r.matches_column(column))
            .map(|(i, r)| RuleRef { index: i, rule: r })
    }

    /// Every rule, in the order they are tried.
    pub fn rules(&self) -> impl Iterator<Item = RuleRef<'_>> {
        self.rules
            .iter()
            .enumerate()
            .map(|(i, r)| RuleRef { index: i, rule: r })
    }

    /// At the end of a pass, given the coverage it recorded: fail for the first rule that names a
    /// table (no wildcard in its schema and table) which never appeared.
    pub fn check_coverage(&self, coverage: &RuleCoverage) -> Result<(), RulesError> {
        for (i, r) in self.rules.iter().enumerate() {
            if let (Some(schema), Some(table)) = (r.schema.literal(), r.table.literal()) {
                if !coverage.matched(i) {
                    return Err(RulesError::MissingTable {
                        file: r.file.to_string(),
                        line: r.line,
                        schema: schema.to_string(),
                        table: table.to_string(),
                    });
                }
            }
        }
        Ok(())
    }
}

fn parse_rule(
    src: &Source<'_>,
    file: &Arc<str>,
    table: Spanned<RawTable>,
    key: &Key,
) -> Result<Rule, RulesError> {
    let rule_span = table.span();
    let mut map = table.into_inner();
    let mut take = |name: &str| {
        let k = map.keys().find(|k| k.get_ref() == name)?.clone();
        map.remove(&k).map(|v| (k, v))
    };
    let glob = |name: &str, v: Option<(Spanned<String>, Spanned<toml::Value>)>, default: &str| {
        let Some((_, v)) = v else {
            return Glob::parse(default).map_err(|m| src.error(rule_span.clone(), m));
        };
        match v.get_ref() {
            toml::Value::String(s) => Glob::parse(s).map_err(|m| src.error(v.span(), m)),
            other => Err(src.error(
                v.span(),
                format!("`{name}` must be a string, not {}", other.type_str()),
            )),
        }
    };
    let schema = glob("schema", take("schema"), "*")?;
    let table_g = glob("table", take("table"), "*")?;
    let column = match take("column") {
        Some(v) => glob("column", Some(v), "*")?,
        None => return Err(src.error(rule_span, "a rule needs `column` (a name or glob)")),
    };
    let (masker_span, masker) = match take("masker") {
        Some((_, v)) => {
            let span = v.span();
            match v.into_inner() {
                toml::Value::String(s) => (span, s),
                other => {
                    return Err(src.error(
                        span,
                        format!("`masker` must be a string, not {}", other.type_str()),
                    ))
                }
            }
        }
        None => {
            return Err(src.error(
                rule_span,
                format!("a rule needs `masker` (one of: {})", maskers::names()),
            ))
        }
    };
    let types = match take("types") {
        None => None,
        Some((_, v)) => {
            let span = v.span();
            let bad = || {
                src.error(
                    span.clone(),
                    "`types` must be a non-empty array of type names (strings)",
                )
            };
            let toml::Value::Array(items) = v.into_inner() else {
                return Err(bad());
            };
            if items.is_empty() {
                return Err(bad());
            }
            let mut types = Vec::new();
            for i in items {
                let toml::Value::String(s) = i else {
                    return Err(bad());
                };
                types.push(TypeName::parse(&s));
            }
            Some(types)
        }
    };
    let masker = maskers::parse(Options {
        src,
        masker_span,
        masker,
        map,
    })?;
    Ok(Rule {
        file: file.clone(),
        line: src.line(rule_span.start),
        schema,
        table: table_g,
        column,
        types,
        plain: masker.configured.build(key, false),
        unique: masker.configured.build(key, true),
        masker: masker.spec,
        covers: masker.configured.covers(),
        produces: masker.configured.produces(),
    })
}

#[cfg(test)]
mod tests;
