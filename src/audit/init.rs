//! `rules init`: a rule file scaffolded from a schema. One exact rule per column of every table,
//! with a masker guessed from the column's name, type and sampled values ([`super::check::hints_for`]),
//! `keep` where nothing sensitive was recognized, and a comment on each rule saying why. The file sets
//! `strict = true`, so once reviewed it loads with [`crate::mask::RuleSet`] and passes `rules check`; a
//! column added later then fails the check until someone decides about it.
//!
//! (`suggest_kind` is over 100 lines: one match arm per kind, with the fallback used while a
//! generalisation masker is not in the build; the arms read best side by side.)

use std::fmt::Write;

use super::check::{column_hints, Hint};
use super::detect::Kind;
use super::schema::TableSample;
use super::values::ColumnValues;
use crate::mask::maskers::{
    constant, email, email_scan, hash, keep, name, noise, null, partial, phone, pii_scan,
};
use crate::mask::types::{class_of, TypeClass};
use crate::mask::ColumnInfo;

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

/// The generalisation maskers `rules init` proposes for quasi-identifiers, when this build has them
/// (until it does, a coarser fallback is proposed).
const GENERALISERS: [&str; 4] = ["generalize_date", "bucket", "prefix", "round_point"];

fn registered(name: &str) -> bool {
    !GENERALISERS.contains(&name) || crate::mask::maskers::lookup(name).is_some()
}

/// A rule's masker line and options.
fn masker(name: &str, options: &[(&str, toml::Value)]) -> Vec<String> {
    let mut v = vec![format!("masker = {}", toml_str(name))];
    v.extend(options.iter().map(|(k, val)| format!("{k} = {val}")));
    v
}

/// [`suggest`], with `has(masker)` telling which of the [`GENERALISERS`] exist.
fn suggest_with(
    col: &ColumnInfo,
    hints: &[Hint],
    values: &ColumnValues,
    has: &dyn Fn(&str) -> bool,
) -> (Vec<String>, String) {
    let Some(first) = hints.first() else {
        return (
            vec![keep::SPEC.rule_line()],
            format!(
                "nothing sensitive recognized ({})",
                col.type_name.as_deref().unwrap_or("type unknown")
            ),
        );
    };
    let why: Vec<String> = hints.iter().map(Hint::why).collect();
    let mut why = why.join("; ");
    let t = col.type_name.as_deref();
    let text = is_textual(t);
    let json = is_json(t);
    let found = |k: Kind| hints.iter().any(|h| h.category == k);
    // Kinds the scanners find held inside longer text (notes, documents, user agents).
    const SCANNED: [Kind; 5] = [Kind::Email, Kind::Phone, Kind::Card, Kind::Iban, Kind::Ip];
    let embedded: Vec<Kind> = hints
        .iter()
        .filter(|h| SCANNED.contains(&h.category) && (h.embedded() || json))
        .map(|h| h.category)
        .collect();
    let scan_text = (text || json) && (!embedded.is_empty() || values.mixed > 0);
    let lines: Vec<String> = if scan_text && embedded.iter().any(|k| *k != Kind::Email) {
        why.push_str(
            "; free text mixing kinds: every email, phone, card, IBAN and IP inside is replaced",
        );
        vec![pii_scan::SPEC.rule_line()]
    } else if found(Kind::Email) && (first.category == Kind::Email || !text || scan_text) {
        if text && !scan_text {
            why.push_str("; the whole value is an address");
            vec![email::SPEC.rule_line()]
        } else {
            why.push_str("; addresses inside the value are replaced");
            vec![email_scan::SPEC.rule_line()]
        }
    } else if json {
        why.push_str("; free-form document: scanned for addresses only, review by hand");
        vec![email_scan::SPEC.rule_line()]
    } else if col.unique && text && !first.category.is_quasi() {
        why.push_str("; unique/key column: keyed hash keeps values distinct and joinable");
        vec![hash::SPEC.rule_line()]
    } else {
        suggest_kind(col, first.category, values, text, has, &mut why)
    };
    (lines, why)
}

/// The masker for a column of `kind` (no scanner needed, not a key).
fn suggest_kind(
    col: &ColumnInfo,
    kind: Kind,
    values: &ColumnValues,
    text: bool,
    has: &dyn Fn(&str) -> bool,
    why: &mut String,
) -> Vec<String> {
    use toml::Value::{Integer, String as Str};
    let base = col
        .type_name
        .as_deref()
        .unwrap_or("")
        .trim_end_matches("[]")
        .to_ascii_lowercase();
    let numeric = matches!(
        class_of(col.type_name.as_deref()),
        Some(TypeClass::Integer | TypeClass::Numeric | TypeClass::Float)
    );
    let date = class_of(col.type_name.as_deref()) == Some(TypeClass::DateTime);
    match kind {
        Kind::Email => vec![email_scan::SPEC.rule_line()],
        Kind::Phone | Kind::Card | Kind::NationalId if !text => {
            why.push_str("; every digit replaced (keyed), shape kept");
            vec![phone::SPEC.rule_line()]
        }
        Kind::Phone => vec![phone::SPEC.rule_line()],
        Kind::Secret if text => {
            why.push_str("; replaced by a keyed hash (NOT NULL-safe; the original is gone)");
            vec![hash::SPEC.rule_line()]
        }
        Kind::Card | Kind::Iban | Kind::NationalId if text => {
            why.push_str("; all but the last 4 characters hidden");
            masker(
                partial::SPEC.name,
                &[("keep_first", Integer(0)), ("keep_last", Integer(4))],
            )
        }
        Kind::Name if text => {
            let lower = col.name.to_ascii_lowercase();
            let kind = if ["first", "given", "fore"].iter().any(|k| lower.contains(k)) {
                "first"
            } else if ["last", "sur", "family", "maiden"]
                .iter()
                .any(|k| lower.contains(k))
            {
                "last"
            } else if values.full_names * 2 < values.count(Kind::Name).0 {
                // Mostly one-word names in a column whose name says nothing: given names.
                "first"
            } else {
                "full"
            };
            masker(name::SPEC.name, &[("kind", Str(kind.into()))])
        }
        Kind::Username | Kind::Plate | Kind::Mac if text => {
            why.push_str("; replaced by a keyed hash (the same input gives the same output)");
            vec![hash::SPEC.rule_line()]
        }
        Kind::Mac => {
            why.push_str("; replaced by 02:00:00:00:00:00 (a locally administered address)");
            masker(
                constant::SPEC.name,
                &[("value", Str("02:00:00:00:00:00".into()))],
            )
        }
        Kind::Address if text => masker(
            constant::SPEC.name,
            &[("value", Str("1 Main Street".into()))],
        ),
        Kind::Ip => {
            why.push_str("; replaced by 192.0.2.1 (TEST-NET-1, RFC 5737)");
            masker(constant::SPEC.name, &[("value", Str("192.0.2.1".into()))])
        }
        Kind::BirthDate if has("generalize_date") && (date || text) => {
            why.push_str("; quasi-identifier: kept to its year");
            masker("generalize_date", &[("to", Str("year".into()))])
        }
        Kind::BirthDate if date => {
            why.push_str("; quasi-identifier: moved by up to 180 days (keyed noise)");
            masker(noise::SPEC.name, &[("days", Integer(180))])
        }
        Kind::Age if has("bucket") && numeric => {
            why.push_str("; quasi-identifier: put in a bucket of 10");
            masker("bucket", &[("width", Integer(10))])
        }
        Kind::Age if numeric => {
            why.push_str("; quasi-identifier: moved by up to 3 (keyed noise)");
            masker(noise::SPEC.name, &[("range", Integer(3))])
        }
        Kind::PostalCode if has("prefix") && text => {
            why.push_str("; quasi-identifier: cut to its first 2 characters");
            masker("prefix", &[("keep", Integer(2))])
        }
        Kind::PostalCode if text => masker(constant::SPEC.name, &[("value", Str("00000".into()))]),
        Kind::Geo if has("round_point") && (numeric || text || base == "point") => {
            why.push_str("; a home location singles a person out: rounded to a 0.01° grid (~1 km)");
            masker("round_point", &[("decimals", Integer(2))])
        }
        Kind::Geo if numeric => {
            why.push_str("; moved by up to 0.05° (keyed noise)");
            masker(noise::SPEC.name, &[("range", toml::Value::Float(0.05))])
        }
        Kind::City | Kind::UserAgent => {
            why.push_str(if kind == Kind::City {
                "; quasi-identifier, kept: generalise or drop it if rows single people out"
            } else {
                "; quasi-identifier (a browser fingerprint), kept: its version numbers are not IP \
                 addresses"
            });
            vec![keep::SPEC.rule_line()]
        }
        _ => {
            why.push_str("; not a text column: set to NULL (check the column is nullable)");
            vec![null::SPEC.rule_line()]
        }
    }
}

/// One exact rule for a column, with the guessed masker and a comment saying why.
pub fn rule_text(
    schema: &str,
    table: &str,
    c: &ColumnInfo,
    hints: &[Hint],
    values: &ColumnValues,
) -> String {
    rule_text_with(schema, table, c, hints, values, &registered)
}

fn rule_text_with(
    schema: &str,
    table: &str,
    c: &ColumnInfo,
    hints: &[Hint],
    values: &ColumnValues,
    has: &dyn Fn(&str) -> bool,
) -> String {
    let (lines, why) = suggest_with(c, hints, values, has);
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
    scaffold_with(tables, &registered)
}

fn scaffold_with(tables: &[TableSample], has: &dyn Fn(&str) -> bool) -> String {
    let mut s = String::new();
    s.push_str(
        "# pgveil rules scaffolded by `pgveil rules init`. Review every rule: the maskers are guesses\n\
         # from column names, types and a sample of values. Rules are tried in order; the first match\n\
         # wins. `strict = true`: a column no rule matches fails the dump and `pgveil rules check`.\n\n\
         strict = true\n",
    );
    for t in tables {
        let hints = column_hints(t);
        let _ = write!(
            s,
            "\n# ---- {} ({} columns, {} rows sampled)\n",
            t.qualified(),
            t.columns.len(),
            t.sample_rows
        );
        for (c, (h, v)) in t.columns.iter().zip(&hints) {
            s.push('\n');
            s.push_str(&rule_text_with(&t.schema, &t.table, c, h, v, has));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A table of `(column, type)` with COPY rows `rows`.
    fn table(cols: &[(&str, &str)], rows: &[&str]) -> TableSample {
        let mut sample = Vec::new();
        for r in rows {
            sample.extend_from_slice(r.as_bytes());
            sample.push(b'\n');
        }
        TableSample {
            schema: "public".into(),
            table: "people".into(),
            columns: cols
                .iter()
                .map(|(n, t)| ColumnInfo {
                    name: n.to_string(),
                    type_name: Some(t.to_string()),
                    unique: false,
                })
                .collect(),
            sample,
            sample_rows: rows.len(),
        }
    }

    /// The masker and options of each rule of a scaffold, by column.
    fn rules_of(text: &str) -> std::collections::BTreeMap<String, toml::Table> {
        let doc: toml::Table = text.parse().expect("the scaffold is TOML");
        doc["rule"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                let r = r.as_table().unwrap().clone();
                (r["column"].as_str().unwrap().to_string(), r)
            })
            .collect()
    }

    #[test]
    fn quasi_identifiers_get_generalisers_with_reasons() {
        let t = table(
            &[
                ("dob", "date"),
                ("zip", "text"),
                ("home", "point"),
                ("age", "integer"),
                ("recipient", "text"),
                ("notes", "text"),
                ("user_agent", "text"),
                ("city", "text"),
            ],
            &[
                "1984-06-02\t75011\t(2.3522,48.8566)\t41\tAnn Smith\tcall +33 5 62 02 97 93 or write to ann@mail.test\tMozilla/5.0 (X11; Linux x86_64) Firefox/120.0.1.2\tParis",
                "1990-01-15\t31000\t(1.4442,43.6047)\t33\tJürgen Müller\tno note at all today\tMozilla/5.0 (X11; Linux x86_64) Firefox/121.0.1.2\tToulouse",
                "1975-12-31\t10115\t(13.4050,52.5200)\t50\tLucía García\tring 0044 20 7946 0958 or bob@mail.test\tcurl/8.5.0.1\tBerlin",
            ],
        );
        let all = |_: &str| true;
        let text = scaffold_with(std::slice::from_ref(&t), &all);
        let rules = rules_of(&text);
        let m = |c: &str| rules[c]["masker"].as_str().unwrap().to_string();
        assert_eq!(m("dob"), "generalize_date", "{text}");
        assert_eq!(rules["dob"]["to"].as_str(), Some("year"));
        assert_eq!(m("zip"), "prefix", "{text}");
        assert_eq!(rules["zip"]["keep"].as_integer(), Some(2));
        assert_eq!(m("home"), "round_point", "{text}");
        assert_eq!(rules["home"]["decimals"].as_integer(), Some(2));
        assert_eq!(m("age"), "bucket", "{text}");
        assert_eq!(rules["age"]["width"].as_integer(), Some(10));
        assert_eq!(m("recipient"), "name", "{text}");
        assert_eq!(m("notes"), "pii_scan", "{text}");
        assert_eq!(m("user_agent"), "keep", "{text}");
        assert_eq!(m("city"), "keep", "{text}");
        // Each rule says why.
        assert!(
            text.contains("# recipient: 100% of 3 sampled values are person names"),
            "{text}"
        );
        assert!(
            text.contains("# notes: 67% of 3 sampled values hold"),
            "{text}"
        );
        assert!(
            text.contains("# dob: its name suggests dates of birth"),
            "{text}"
        );

        // Without the generalisers, the fallbacks are maskers this build has.
        let none = |n: &str| !GENERALISERS.contains(&n);
        let text = scaffold_with(std::slice::from_ref(&t), &none);
        let rules = rules_of(&text);
        for (c, r) in &rules {
            let name = r["masker"].as_str().unwrap();
            assert!(crate::mask::maskers::lookup(name).is_some(), "{c}: {name}");
        }
    }
}
