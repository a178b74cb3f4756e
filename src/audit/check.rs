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

use std::collections::BTreeMap;

use serde::Serialize;

use super::detect::category_from_name;
use super::schema::TableSample;
use crate::mask::find::scan_field;
use crate::mask::{Category, RuleSet};

/// What the name or the sampled values of a column suggest.
#[derive(Debug, Clone, Serialize)]
pub struct Hint {
    pub category: Category,
    /// `name` or `values`.
    pub by: &'static str,
    /// For `values`: how many sampled non-NULL values matched, and out of how many rows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sampled: Option<usize>,
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

/// What a column's name and sampled values suggest (name first; each category once).
pub fn hints_for(t: &TableSample) -> Vec<Vec<Hint>> {
    let n = t.columns.len();
    let mut hits: Vec<BTreeMap<Category, usize>> = vec![BTreeMap::new(); n];
    let mut buf = Vec::new();
    t.for_each_sampled(|i, raw| {
        if i >= n {
            return;
        }
        let mut seen = 0;
        scan_field(raw, &mut buf, |c| {
            if seen & c.bit() == 0 {
                seen |= c.bit();
                *hits[i].entry(c).or_default() += 1;
            }
        });
    });
    t.columns
        .iter()
        .zip(hits)
        .map(|(c, hits)| {
            let mut v = Vec::new();
            let by_name = category_from_name(&c.name, c.type_name.as_deref());
            if let Some(cat) = by_name {
                v.push(Hint {
                    category: cat,
                    by: "name",
                    matched: None,
                    sampled: None,
                });
            }
            for (cat, m) in hits {
                if Some(cat) != by_name {
                    v.push(Hint {
                        category: cat,
                        by: "values",
                        matched: Some(m),
                        sampled: Some(t.sample_rows),
                    });
                }
            }
            v
        })
        .collect()
}

/// Check `rules` against `tables`.
pub fn check(rules: &RuleSet, tables: &[TableSample]) -> CheckReport {
    let mut used = vec![false; rules.rules().count()];
    let mut columns = Vec::new();
    for t in tables {
        let hints = hints_for(t);
        for (c, hints) in t.columns.iter().zip(hints) {
            let rule = rules.classify(&t.schema, &t.table, c);
            if let Some(r) = rule {
                used[r.index()] = true;
            }
            let kept_hints = hints
                .iter()
                .filter(|h| rule.is_some_and(|r| !r.covers(h.category)))
                .cloned()
                .collect();
            let suggested_rule = rule
                .is_none()
                .then(|| super::init::rule_text(&t.schema, &t.table, c, &hints));
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
