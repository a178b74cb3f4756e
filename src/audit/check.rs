//! `rules check`: does a rule set cover every column of a schema, and does it mask what looks
//! sensitive?
//!
//! For every data column of every table ([`TableSample`]) the report names the rule that decides it
//! (first match wins, as in a dump) and what the column's name and sampled values suggest it holds.
//! It fails ([`CheckReport::ok`] is false) when
//! - a column is matched by no rule: it would leave the dump as it is without anyone having decided
//!   so (a column added after the rules were written, a quoted or mixed-case name the rule misses);
//! - a rule names a table or column (no wildcard) that does not exist (a typo, a rename).
//!
//! Warnings, which fail only when the caller asks (`--deny-warnings`):
//! - a column that looks sensitive (by name or sampled values) but whose rule does not remove that
//!   kind of data (`keep`, or `email_scan` on a phone column);
//! - a rule that decides no column (it matches nothing, or earlier rules shadow it).

use serde::Serialize;

use super::detect::{kind_from_name, Kind};
use super::schema::TableSample;
use super::values::{analyse, ColumnValues};
use crate::mask::{Category, RuleRef, RuleSet};

/// What the name or the sampled values of a column suggest.
#[derive(Debug, Clone, Serialize)]
pub struct Hint {
    pub category: Kind,
    /// `name` or `values`.
    pub by: &'static str,
    /// For `values`: how many sampled non-NULL values hold the kind, and out of how many.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled: Option<usize>,
    /// For `values`: how many of the matched values are entirely of the kind (the others hold it
    /// inside longer text).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub whole: Option<usize>,
}

impl Hint {
    /// Whether most matched values hold the kind inside longer text (free text, documents).
    pub fn embedded(&self) -> bool {
        matches!((self.matched, self.whole), (Some(m), Some(w)) if w * 2 < m)
    }

    /// Why, as a phrase: `93% of 200 sampled values are person names`, `its name suggests
    /// dates of birth`.
    pub fn why(&self) -> String {
        match (self.matched, self.sampled) {
            (Some(m), Some(s)) if s > 0 => {
                let verb = if self.embedded() { "hold" } else { "are" };
                let pct = (m * 100 + s / 2) / s;
                format!(
                    "{pct}% of {s} sampled values {verb} {}",
                    self.category.plural()
                )
            }
            _ => format!("its name suggests {}", self.category.plural()),
        }
    }
}

impl std::fmt::Display for Hint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.matched, self.sampled) {
            (Some(m), Some(s)) => write!(f, "{} ({m} of {s} sampled values)", self.category),
            _ => write!(f, "{} (by its name)", self.category),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ColumnCheck {
    pub schema: String,
    pub table: String,
    pub column: String,
    #[serde(rename = "type")]
    pub type_name: Option<String>,
    pub unique: bool,
    /// `file:line` of the deciding rule; `None` = not covered.
    pub rule: Option<String>,
    pub masker: Option<String>,
    pub hints: Vec<Hint>,
    /// Hints whose category the deciding masker does not remove.
    pub kept_hints: Vec<Hint>,
    /// For a column no rule covers: a rule to add (as `rules init` would write it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suggested_rule: Option<String>,
}

impl ColumnCheck {
    /// `schema.table.column` with SQL quoting where needed.
    pub fn qualified(&self) -> String {
        format!(
            "{}.{}",
            crate::dump::ident::quote_qualified(&self.schema, &self.table),
            crate::dump::ident::quote_ident(&self.column)
        )
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleIssue {
    /// `file:line`.
    pub rule: String,
    pub masker: String,
    pub schema: String,
    pub table: String,
    pub column: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// No unclassified column and no rule naming something missing.
    pub ok: bool,
    pub strict: bool,
    pub tables: usize,
    pub columns: Vec<ColumnCheck>,
    /// The diff a CI job cares about: columns no rule covers (`schema`, `table`, `column`).
    pub unclassified: Vec<ColumnCheck>,
    /// Rules that name a table or column the schema does not have (errors).
    pub missing: Vec<RuleIssue>,
    /// Columns that look sensitive but are kept (warnings).
    pub sensitive_kept: Vec<ColumnCheck>,
    /// Rules that decide no column (warnings).
    pub unused_rules: Vec<RuleIssue>,
}

impl CheckReport {
    pub fn warnings(&self) -> usize {
        self.sensitive_kept.len() + self.unused_rules.len()
    }
}

/// Whether sampled values show `kind` clearly enough to hint at it. What the value detectors find
/// by pattern and checksum (emails, phones, cards, IBANs, IPs) counts from one value; what a whole
/// value merely resembles (a dictionary name, a coordinate pair, an id with a 1-in-23 check letter)
/// must be common in the column.
fn shown(kind: Kind, v: &ColumnValues) -> bool {
    let (m, _) = v.count(kind);
    let n = v.non_null;
    match kind {
        // Full names count on their own; one-word names only when they are many different words
        // (a few colours or cities repeated are also "names": `Rose`, `Austin`).
        Kind::Name => {
            n >= 3
                && (v.full_names * 10 >= n * 3
                    || (m * 10 >= n * 6 && v.name_words.len() >= DISTINCT_NAME_WORDS))
        }
        Kind::Geo => n >= 3 && m * 2 >= n,
        Kind::Mac | Kind::NationalId => m * 10 >= n * 3,
        // One number in ten passes the Luhn check by chance: a column of whole numbers (barcodes,
        // ISBNs) holds cards only if most do; inside text one card is a finding.
        Kind::Card => {
            let (_, whole) = v.count(kind);
            m > 0 && (whole * 2 < m || m * 2 >= n)
        }
        // A column of `5.0.1.2` holds versions, not addresses.
        Kind::Ip => m > 0 && v.versionish * 10 < m * 9,
        _ => m > 0,
    }
}

/// How many different one-word names make a column of names (see [`shown`]).
const DISTINCT_NAME_WORDS: usize = 20;

/// What a column's name and sampled values suggest (name first, then values by how many matched;
/// each kind once), with the counts of the sampled values.
pub fn column_hints(t: &TableSample) -> Vec<(Vec<Hint>, ColumnValues)> {
    let values = analyse(t);
    t.columns
        .iter()
        .zip(values)
        .map(|(c, vals)| {
            let mut v = Vec::new();
            let by_name = kind_from_name(&c.name, c.type_name.as_deref());
            if let Some(kind) = by_name {
                v.push(Hint {
                    category: kind,
                    by: "name",
                    matched: None,
                    sampled: None,
                    whole: None,
                });
            }
            let mut by_values: Vec<Hint> = vals
                .kinds
                .iter()
                .filter(|(k, _)| Some(**k) != by_name && shown(**k, &vals))
                .map(|(k, (m, w))| Hint {
                    category: *k,
                    by: "values",
                    matched: Some(*m),
                    sampled: Some(vals.non_null),
                    whole: Some(*w),
                })
                .collect();
            by_values.sort_by_key(|h| std::cmp::Reverse(h.matched));
            v.extend(by_values);
            (v, vals)
        })
        .collect()
}

/// What a column's name and sampled values suggest (see [`column_hints`]).
pub fn hints_for(t: &TableSample) -> Vec<Vec<Hint>> {
    column_hints(t).into_iter().map(|(h, _)| h).collect()
}

/// Whether the values of `kind` do not survive `rule`'s masker.
fn kept_by(rule: RuleRef<'_>, kind: Kind) -> bool {
    match kind.category() {
        Some(c) => !rule.covers(c),
        // Kinds no masker declares: only a masker that removes everything removes them.
        None => !Category::ALL.iter().all(|&c| rule.covers(c)),
    }
}

/// Check `rules` against `tables`.
pub fn check(rules: &RuleSet, tables: &[TableSample]) -> CheckReport {
    let mut used = vec![false; rules.rules().count()];
    let mut columns = Vec::new();
    for t in tables {
        let hints = column_hints(t);
        for (c, (hints, vals)) in t.columns.iter().zip(hints) {
            let rule = rules.classify(&t.schema, &t.table, c);
            if let Some(r) = rule {
                used[r.index()] = true;
            }
            let kept_hints = hints
                .iter()
                .filter(|h| {
                    h.category.warns_when_kept() && rule.is_some_and(|r| kept_by(r, h.category))
                })
                .cloned()
                .collect();
            let suggested_rule = rule
                .is_none()
                .then(|| super::init::rule_text(&t.schema, &t.table, c, &hints, &vals));
            columns.push(ColumnCheck {
                schema: t.schema.clone(),
                table: t.table.clone(),
                column: c.name.clone(),
                type_name: c.type_name.clone(),
                unique: c.unique,
                rule: rule.map(|r| r.location()),
                masker: rule.map(|r| r.masker().to_string()),
                hints,
                kept_hints,
                suggested_rule,
            });
        }
    }
    let mut missing = Vec::new();
    let mut unused_rules = Vec::new();
    for r in rules.rules() {
        let (schema, table, column) = r.patterns();
        let issue = |message: String| RuleIssue {
            rule: r.location(),
            masker: r.masker().to_string(),
            schema: schema.clone(),
            table: table.clone(),
            column: column.clone(),
            message,
        };
        if let Some((s, tb)) = r.exact_table() {
            match tables.iter().find(|t| t.schema == s && t.table == tb) {
                None => {
                    missing.push(issue(format!(
                        "table {s}.{tb} does not exist (or holds no data)"
                    )));
                    continue;
                }
                Some(t) => {
                    if let Some(col) = r.exact_column() {
                        if !t.columns.iter().any(|c| c.name == col) {
                            missing.push(issue(format!(
                                "table {s}.{tb} has no column {col:?} (or it is generated)"
                            )));
                            continue;
                        }
                    }
                }
            }
        }
        if !used[r.index()] {
            unused_rules.push(issue(
                "decides no column (it matches nothing, or earlier rules take its columns)"
                    .to_string(),
            ));
        }
    }
    let unclassified: Vec<ColumnCheck> = columns
        .iter()
        .filter(|c| c.rule.is_none())
        .cloned()
        .collect();
    let sensitive_kept = columns
        .iter()
        .filter(|c| !c.kept_hints.is_empty())
        .cloned()
        .collect();
    CheckReport {
        ok: unclassified.is_empty() && missing.is_empty(),
        strict: rules.strict(),
        tables: tables.len(),
        columns,
        unclassified,
        missing,
        sensitive_kept,
        unused_rules,
    }
}

/// The human-readable report: one line per column, then errors and warnings.
pub fn render(report: &CheckReport) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let width = report
        .columns
        .iter()
        .map(|c| c.qualified().chars().count())
        .max()
        .unwrap_or(0);
    let twidth = report
        .columns
        .iter()
        .map(|c| c.type_name.as_deref().unwrap_or("?").chars().count())
        .max()
        .unwrap_or(0);
    for c in &report.columns {
        let decided = match (&c.masker, &c.rule) {
            (Some(m), Some(r)) => format!("{m:<10} {r}"),
            _ => "NOT COVERED".to_string(),
        };
        let _ = write!(
            s,
            "{:<width$}  {:<twidth$}  {decided}",
            c.qualified(),
            c.type_name.as_deref().unwrap_or("?"),
        );
        if !c.hints.is_empty() {
            let h: Vec<String> = c.hints.iter().map(|h| h.to_string()).collect();
            let _ = write!(s, "  [looks like {}]", h.join(", "));
        }
        s.push('\n');
    }
    for c in &report.unclassified {
        let _ = writeln!(
            s,
            "error: {} is not covered by any rule (add a masker, or `keep` it explicitly)",
            c.qualified()
        );
    }
    if report
        .unclassified
        .iter()
        .any(|c| c.suggested_rule.is_some())
    {
        s.push_str("suggested rules for the uncovered columns (review before use):\n");
        for c in &report.unclassified {
            if let Some(r) = &c.suggested_rule {
                s.push('\n');
                s.push_str(r);
            }
        }
        s.push('\n');
    }
    for m in &report.missing {
        let _ = writeln!(s, "error: rule at {}: {}", m.rule, m.message);
    }
    for c in &report.sensitive_kept {
        let h: Vec<String> = c.kept_hints.iter().map(|h| h.to_string()).collect();
        let _ = writeln!(
            s,
            "warning: {} looks like {} but rule {} ({}) keeps it",
            c.qualified(),
            h.join(", "),
            c.rule.as_deref().unwrap_or("-"),
            c.masker.as_deref().unwrap_or("-"),
        );
    }
    for u in &report.unused_rules {
        let _ = writeln!(
            s,
            "warning: rule at {} (schema {:?}, table {:?}, column {:?}, masker {}) {}",
            u.rule, u.schema, u.table, u.column, u.masker, u.message
        );
    }
    if !report.strict {
        s.push_str(
            "note: no loaded rule file sets `strict = true`: `pgveil dump` would keep a column no rule \
             covers without failing\n",
        );
    }
    let _ = writeln!(
        s,
        "{} tables, {} columns: {} not covered, {} rule errors, {} warnings",
        report.tables,
        report.columns.len(),
        report.unclassified.len(),
        report.missing.len(),
        report.warnings()
    );
    s
}
