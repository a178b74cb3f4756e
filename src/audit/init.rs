//! `rules init`: a rule file scaffolded from a schema. One exact rule per column of every table,
//! with a masker guessed from the column's name, type and sampled values ([`super::check::hints_for`]),
//! `keep` where nothing sensitive was recognized, and a comment on each rule saying why. The file sets
//! `strict = true`, so once reviewed it loads with [`crate::mask::RuleSet`] and passes `rules check`; a
//! column added later then fails the check until someone decides about it.

use std::fmt::Write;

use super::check::{hints_for, Hint};
use super::schema::TableSample;
use crate::mask::maskers::{constant, email, email_scan, hash, keep, name, null, partial, phone};
use crate::mask::types::{class_of, TypeClass};
use crate::mask::{Category, ColumnInfo};

/// A TOML basic string for `s`.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A glob that matches exactly `name` (wildcards and backslashes escaped).
fn exact_glob(name: &str) -> String {
    let mut g = String::with_capacity(name.len());
    for c in name.chars() {
        if matches!(c, '*' | '?' | '\\') {
            g.push('\\');
        }
        g.push(c);
    }
    g
}

/// Text, or a type the dump did not show (a text masker is the likely choice).
fn is_textual(type_name: Option<&str>) -> bool {
    class_of(type_name).is_none_or(|c| c == TypeClass::Text)
}

fn is_json(type_name: Option<&str>) -> bool {
    class_of(type_name) == Some(TypeClass::Json)
}

/// The masker (with options, as TOML lines) for a column and why.
fn suggest(col: &ColumnInfo, hints: &[Hint]) -> (Vec<String>, String) {
    let Some(first) = hints.first() else {
        return (
            vec![keep::SPEC.rule_line()],
            format!(
                "nothing sensitive recognized ({})",
                col.type_name.as_deref().unwrap_or("type unknown")
            ),
        );
    };
    let why: Vec<String> = hints.iter().map(|h| h.to_string()).collect();
    let mut why = format!("looks like {}", why.join(", "));
    let t = col.type_name.as_deref();
    let text = is_textual(t);
    let lines: Vec<String> = if hints.iter().any(|h| h.category == Category::Email)
        && (first.category == Category::Email || !text)
    {
        if first.by == "name" && text {
            why.push_str("; the whole value is an address");
            vec![email::SPEC.rule_line()]
        } else {
            why.push_str("; addresses inside the value are replaced");
            vec![email_scan::SPEC.rule_line()]
        }
    } else if is_json(t) {
        why.push_str("; free-form document: scanned for addresses only, review by hand");
        vec![email_scan::SPEC.rule_line()]
    } else if col.unique && text {
        why.push_str("; unique/key column: keyed hash keeps values distinct and joinable");
        vec![hash::SPEC.rule_line()]
    } else {
        match first.category {
            Category::Email => vec![email_scan::SPEC.rule_line()],
            Category::Phone | Category::Card | Category::NationalId if !text => {
                why.push_str("; every digit replaced (keyed), shape kept");
                vec![phone::SPEC.rule_line()]
            }
            Category::Phone => vec![phone::SPEC.rule_line()],
            Category::Secret if text => {
                why.push_str("; replaced by a keyed hash (NOT NULL-safe; the original is gone)");
                vec![hash::SPEC.rule_line()]
            }
            Category::Card | Category::NationalId => {
                why.push_str("; all but the last 4 characters hidden");
                vec![
                    partial::SPEC.rule_line(),
                    "keep_first = 0".into(),
                    "keep_last = 4".into(),
                ]
            }
            Category::Name if text => {
                let lower = col.name.to_ascii_lowercase();
                let kind = if ["first", "given", "fore"].iter().any(|k| lower.contains(k)) {
                    "first"
                } else if ["last", "sur", "family", "maiden"]
                    .iter()
                    .any(|k| lower.contains(k))
                {
                    "last"
                } else {
                    "full"
                };
                vec![name::SPEC.rule_line(), format!("kind = {}", toml_str(kind))]
            }
            Category::Address if text => {
                let lower = col.name.to_ascii_lowercase();
                let v = if lower.contains("zip") || lower.contains("post") {
                    "00000"
                } else {
                    "1 Main Street"
                };
                vec![
                    constant::SPEC.rule_line(),
                    format!("value = {}", toml_str(v)),
                ]
            }
            Category::Ip => {
                why.push_str("; replaced by 192.0.2.1 (TEST-NET-1, RFC 5737)");
                vec![
                    constant::SPEC.rule_line(),
                    format!("value = {}", toml_str("192.0.2.1")),
                ]
            }
            _ => {
                why.push_str("; not a text column: set to NULL (check the column is nullable)");
                vec![null::SPEC.rule_line()]
            }
        }
    };
    (lines, why)
}

/// One exact rule for a column, with the guessed masker and a comment saying why.
pub fn rule_text(schema: &str, table: &str, c: &ColumnInfo, hints: &[Hint]) -> String {
    let (lines, why) = suggest(c, hints);
    let mut s = format!("# {}: {why}\n[[rule]]\n", c.name.replace('\n', " "));
    let _ = writeln!(s, "schema = {}", toml_str(&exact_glob(schema)));
    let _ = writeln!(s, "table = {}", toml_str(&exact_glob(table)));
    let _ = writeln!(s, "column = {}", toml_str(&exact_glob(&c.name)));
    for l in lines {
        s.push_str(&l);
        s.push('\n');
    }
    s
}

/// The rule file for `tables`.
pub fn scaffold(tables: &[TableSample]) -> String {
    let mut s = String::new();
    s.push_str(
        "# pgveil rules scaffolded by `pgveil rules init`. Review every rule: the maskers are guesses\n\
         # from column names, types and a sample of values. Rules are tried in order; the first match\n\
         # wins. `strict = true`: a column no rule matches fails the dump and `pgveil rules check`.\n\n\
         strict = true\n",
    );
    for t in tables {
        let hints = hints_for(t);
        let _ = write!(
            s,
            "\n# ---- {} ({} columns, {} rows sampled)\n",
            t.qualified(),
            t.columns.len(),
            t.sample_rows
        );
        for (c, h) in t.columns.iter().zip(&hints) {
            s.push('\n');
            s.push_str(&rule_text(&t.schema, &t.table, c, h));
        }
    }
    s
}
