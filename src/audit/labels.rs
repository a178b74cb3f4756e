//! Rules from PostgreSQL Anonymizer's security labels, for teams migrating from it.
//!
//! The extension declares masking in the schema:
//! `SECURITY LABEL FOR anon ON COLUMN public.users.email IS 'MASKED WITH FUNCTION anon.fake_email()';`
//! pg_dump prints those statements (entries of type `SECURITY LABEL`). [`labels_from_dump`] reads a
//! plain dump (a schema-only one is enough) and writes the equivalent pgveil rule file: one exact rule
//! per labelled column, with the original label in a comment. The common functions map to pgveil's
//! maskers (see [`map_label`]); a function without a faithful equivalent is an error naming the
//! column and the dump line, never a silent pass-through that would leave the column unmasked.
//! Labels of other providers and labels on roles or schemas are ignored.

use std::io::Read;

use crate::dump::ident::parse_ident;
use crate::dump::{DumpError, DumpReader, Event};
use crate::mask::maskers::{
    bucket, constant, email, generalize_date, hash, keep, name, noise, null, partial, phone,
    random_between,
};

#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error(transparent)]
    Dump(#[from] DumpError),
    /// Every label of the dump that cannot be converted, in one message.
    #[error("{} security label(s) cannot be converted:{}", .0.len(), render_refusals(.0))]
    Refused(Vec<Refusal>),
}

/// One label `import-labels` cannot convert, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct Refusal {
    pub line: u64,
    pub column: String,
    pub message: String,
}

fn render_refusals(refusals: &[Refusal]) -> String {
    refusals
        .iter()
        .map(|r| {
            format!(
                "\n  line {}: security label on {}: {}",
                r.line, r.column, r.message
            )
        })
        .collect()
}

/// One labelled column and the pgveil masker it maps to.
#[derive(Debug, Clone, PartialEq)]
pub struct LabelRule {
    pub line: u64,
    pub schema: String,
    pub table: String,
    pub column: String,
    pub label: String,
    /// TOML lines: `masker = "…"` and its options.
    pub toml: Vec<String>,
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// Split `f(a, 'b', 3)` into the function name (schema dropped, lower-cased) and its arguments as
/// written (string literals unquoted).
fn parse_call(s: &str) -> Option<(String, Vec<String>)> {
    let s = s.trim();
    let open = s.find('(')?;
    if !s.ends_with(')') {
        return None;
    }
    let name = s[..open].trim();
    let name = name.rsplit('.').next()?.trim().to_ascii_lowercase();
    let inner = &s[open + 1..s.len() - 1];
    let mut args = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut depth = 0;
    let mut chars = inner.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' if quoted && chars.peek() == Some(&'\'') => {
                chars.next();
                cur.push('\'');
            }
            '\'' => quoted = !quoted,
            '(' if !quoted => {
                depth += 1;
                cur.push(c);
            }
            ')' if !quoted => {
                depth -= 1;
                cur.push(c);
            }
            ',' if !quoted && depth == 0 => args.push(std::mem::take(&mut cur).trim().to_string()),
            c => cur.push(c),
        }
    }
    if !cur.trim().is_empty() || !args.is_empty() {
        args.push(cur.trim().to_string());
    }
    // Drop casts on literal arguments ('2 days'::interval → 2 days) and dollar quotes.
    for a in &mut args {
        if let Some((v, _)) = a.split_once("::") {
            *a = v.trim().to_string();
        }
        if a.len() >= 4 && a.starts_with("$$") && a.ends_with("$$") {
            *a = a[2..a.len() - 2].to_string();
        }
    }
    Some((name, args))
}

/// Days in an interval literal like `2 days`, `1 week`, `3 months`, `1 year` (months = 30 days,
/// years = 365).
fn interval_days(s: &str) -> Option<i64> {
    let mut it = s.split_whitespace();
    let n: i64 = it.next()?.parse().ok()?;
    let unit = it.next()?.to_ascii_lowercase();
    if it.next().is_some() {
        return None;
    }
    let per = match unit.trim_end_matches('s') {
        "day" => 1,
        "week" => 7,
        "mon" | "month" => 30,
        "year" => 365,
        _ => return None,
    };
    Some(n * per)
}

/// The pgveil masker for one label text (`MASKED WITH …` / `NOT MASKED`), as TOML lines.
///
/// | PostgreSQL Anonymizer                                           | pgveil                            |
/// |-----------------------------------------------------------------|-----------------------------------|
/// | `NOT MASKED`                                                    | `keep`                            |
/// | `MASKED WITH VALUE NULL`                                        | `null`                            |
/// | `MASKED WITH VALUE 'x'` (or a number)                           | `constant`, `value = "x"`         |
/// | `fake_email`, `dummy_*_email`, `pseudo_email`, `partial_email`  | `email`                           |
/// | `fake_first_name`, `dummy_first_name`, `pseudo_first_name`      | `name`, `kind = "first"`          |
/// | `fake_last_name`, `dummy_last_name`, `pseudo_last_name`         | `name`, `kind = "last"`           |
/// | `dummy_name`                                                    | `name`                            |
/// | `random_phone`, `dummy_phone_number`, `dummy_cell_number`       | `phone`                           |
/// | `hash(col)`, `digest(col, salt, algorithm)`                     | `hash` (keyed by PGVEIL_KEY)      |
/// | `partial(col, prefix, padding, suffix)`                         | `partial` (fill = padding's first character, length kept) |
/// | `noise(col, ratio)`                                             | `noise`, `ratio`                  |
/// | `dnoise(col, 'N days')`                                         | `noise`, `days`                   |
/// | `fake_address`, `random_zip`                                    | `constant` (`1 Main Street`, `00000`) |
/// | `random_date_between(d1, d2)`                                   | `random_between`, dates           |
/// | `random_int_between(i, j)`, `random_bigint_between(i, j)`       | `random_between`, integers        |
/// | `random_string(n)`                                              | `hash`, `length = n` (1–64)       |
/// | `generalize_int4range/int8range/numrange(col, step)`            | `bucket`, `width = step` (default 10) |
/// | `generalize_daterange/tsrange/tstzrange(col, 'year'/'month')`   | `generalize_date`, `to`           |
///
/// The generalisation functions return a range (`[30,40)`); pgveil keeps the column's type and
/// writes the range's lower bound, the same information. Other steps (`decade`, `day`, …) and
/// every other function are refused.
pub fn map_label(label: &str) -> Result<Vec<String>, String> {
    let l = label.trim();
    let upper = l.to_ascii_uppercase();
    if upper == "NOT MASKED" {
        return Ok(vec![keep::SPEC.rule_line()]);
    }
    if upper.starts_with("MASKED WITH VALUE ") {
        let v = l["MASKED WITH VALUE ".len()..].trim();
        let v = v.split_once("::").map(|(a, _)| a.trim()).unwrap_or(v);
        if v.eq_ignore_ascii_case("NULL") {
            return Ok(vec![null::SPEC.rule_line()]);
        }
        let value = if v.len() >= 2 && v.starts_with('\'') && v.ends_with('\'') {
            v[1..v.len() - 1].replace("''", "'")
        } else if let Some(body) = dollar_quoted(v) {
            // `$$CONFIDENTIAL$$`, the quoting PostgreSQL Anonymizer's documentation recommends
            // inside a label (which is itself a string literal).
            body.to_string()
        } else if v.parse::<f64>().is_ok() {
            v.to_string()
        } else {
            return Err(format!("cannot read the value of {label:?}"));
        };
        return Ok(vec![
            constant::SPEC.rule_line(),
            format!("value = {}", toml_str(&value)),
        ]);
    }
    if !upper.starts_with("MASKED WITH FUNCTION ") {
        return Err(format!(
            "{label:?} is not `MASKED WITH FUNCTION …`, `MASKED WITH VALUE …` or `NOT MASKED`"
        ));
    }
    let call = &l["MASKED WITH FUNCTION ".len()..];
    let (f, args) = parse_call(call).ok_or_else(|| format!("cannot read the call {call:?}"))?;
    let lines = match f.as_str() {
        "fake_email" | "dummy_free_email" | "dummy_safe_email" | "dummy_email" | "random_email"
        | "pseudo_email" | "partial_email" => vec![email::SPEC.rule_line()],
        "fake_first_name" | "dummy_first_name" | "pseudo_first_name" | "random_first_name" => {
            vec![name::SPEC.rule_line(), r#"kind = "first""#.into()]
        }
        "fake_last_name" | "dummy_last_name" | "pseudo_last_name" | "random_last_name" => {
            vec![name::SPEC.rule_line(), r#"kind = "last""#.into()]
        }
        "dummy_name" => vec![name::SPEC.rule_line()],
        "random_phone" | "dummy_phone_number" | "dummy_cell_number" => {
            vec![phone::SPEC.rule_line()]
        }
        "hash" | "digest" => vec![hash::SPEC.rule_line()],
        "partial" => {
            let [_, prefix, padding, suffix] = &args[..] else {
                return Err(format!(
                    "{call}: partial() takes (column, prefix, padding, suffix)"
                ));
            };
            let (Ok(p), Ok(s)) = (prefix.parse::<u32>(), suffix.parse::<u32>()) else {
                return Err(format!("{call}: prefix and suffix must be integers"));
            };
            let fill = padding.chars().next().unwrap_or('*');
            vec![
                partial::SPEC.rule_line(),
                format!("keep_first = {p}"),
                format!("keep_last = {s}"),
                format!("fill = {}", toml_str(&fill.to_string())),
            ]
        }
        "noise" => {
            let ratio = args
                .get(1)
                .and_then(|r| r.parse::<f64>().ok())
                .filter(|r| r.is_finite() && *r > 0.0)
                .ok_or_else(|| format!("{call}: noise() needs a positive ratio"))?;
            vec![noise::SPEC.rule_line(), format!("ratio = {ratio}")]
        }
        "dnoise" => {
            let days = args
                .get(1)
                .and_then(|i| interval_days(i))
                .filter(|d| *d > 0)
                .ok_or_else(|| {
                    format!("{call}: dnoise() needs an interval in days, weeks, months or years")
                })?;
            vec![noise::SPEC.rule_line(), format!("days = {days}")]
        }
        "fake_address" => vec![
            constant::SPEC.rule_line(),
            format!("value = {}", toml_str("1 Main Street")),
        ],
        "random_zip" => vec![
            constant::SPEC.rule_line(),
            format!("value = {}", toml_str("00000")),
        ],
        "random_date_between" => {
            let date = |k: usize| {
                let a = args.get(k)?.trim();
                let d = a.get(..10)?;
                (a.len() == 10 || a.as_bytes()[10] == b' ').then_some(d)
            };
            let (Some(from), Some(to)) = (date(0), date(1)) else {
                return Err(format!(
                    "{call}: random_date_between() needs two dates written YYYY-MM-DD"
                ));
            };
            vec![
                random_between::SPEC.rule_line(),
                format!("from = {}", toml_str(from)),
                format!("to = {}", toml_str(to)),
            ]
        }
        "random_int_between" | "random_bigint_between" => {
            let int = |k: usize| args.get(k).and_then(|a| a.trim().parse::<i64>().ok());
            let (Some(from), Some(to)) = (int(0), int(1)) else {
                return Err(format!("{call}: {f}() needs two integers"));
            };
            vec![
                random_between::SPEC.rule_line(),
                format!("from = {from}"),
                format!("to = {to}"),
            ]
        }
        "random_string" => {
            let n = args
                .first()
                .and_then(|a| a.trim().parse::<u32>().ok())
                .filter(|n| (1..=64).contains(n))
                .ok_or_else(|| format!("{call}: random_string() needs a length from 1 to 64"))?;
            vec![hash::SPEC.rule_line(), format!("length = {n}")]
        }
        "generalize_int4range" | "generalize_int8range" | "generalize_numrange" => {
            let width = match args.get(1) {
                None => 10.0,
                Some(a) => a
                    .trim()
                    .parse::<f64>()
                    .ok()
                    .filter(|w| w.is_finite() && *w > 0.0)
                    .ok_or_else(|| format!("{call}: {f}() needs a positive step"))?,
            };
            vec![bucket::SPEC.rule_line(), format!("width = {width}")]
        }
        "generalize_daterange" | "generalize_tsrange" | "generalize_tstzrange" => {
            let step = args.get(1).map_or("decade", |a| a.trim());
            match step.to_ascii_lowercase().as_str() {
                "year" | "month" => vec![
                    generalize_date::SPEC.rule_line(),
                    format!("to = {}", toml_str(&step.to_ascii_lowercase())),
                ],
                _ => {
                    return Err(format!(
                        "{call}: {f}() with step {step:?} has no pgveil equivalent (generalize_date keeps a year or a month)"
                    ))
                }
            }
        }
        other => {
            return Err(format!(
                "function {other}() has no pgveil equivalent: write a rule for this column by hand"
            ))
        }
    };
    Ok(lines)
}

/// The body of a whole dollar-quoted string (`$$…$$`, `$tag$…$tag$`), or `None`.
fn dollar_quoted(v: &str) -> Option<&str> {
    let rest = v.strip_prefix('$')?;
    let tag_len = rest.find('$')?;
    let tag = &v[..tag_len + 2];
    if !rest[..tag_len]
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_')
        || rest[..tag_len].starts_with(|c: char| c.is_ascii_digit())
    {
        return None;
    }
    let body = v.strip_prefix(tag)?.strip_suffix(tag)?;
    (!body.contains(tag)).then_some(body)
}

/// Read a `SQL string literal` at the start of `s` (`'…'` with `''`, or `E'…'` with backslash
/// escapes); returns the value and the rest.
fn sql_literal(s: &str) -> Option<(String, &str)> {
    let (e, body) = match s.strip_prefix("E'") {
        Some(b) => (true, b),
        None => (false, s.strip_prefix('\'')?),
    };
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' if e => {
                if let Some((_, n)) = chars.next() {
                    out.push(n);
                }
            }
            '\'' => {
                if chars.peek().map(|&(_, n)| n) == Some('\'') {
                    chars.next();
                    out.push('\'');
                } else {
                    return Some((out, &body[i + 1..]));
                }
            }
            c => out.push(c),
        }
    }
    None
}

/// Parse `SECURITY LABEL FOR anon ON COLUMN s.t.c IS '…';` statements in an entry body.
fn labels_in(body: &str, line: u64, out: &mut Vec<LabelRule>, refused: &mut Vec<Refusal>) {
    for (k, stmt_line) in body.lines().enumerate() {
        let Some(rest) = stmt_line.strip_prefix("SECURITY LABEL FOR ") else {
            continue;
        };
        let Some((provider, rest)) = parse_ident(rest) else {
            continue;
        };
        if provider != "anon" {
            continue;
        }
        let Some(rest) = rest.trim_start().strip_prefix("ON COLUMN ") else {
            continue;
        };
        let bad = |m: &str| Refusal {
            line: line + k as u64,
            column: rest.split(" IS ").next().unwrap_or(rest).to_string(),
            message: m.to_string(),
        };
        match label_rule(rest, line + k as u64) {
            Ok(rule) => out.push(rule),
            Err(message) => refused.push(bad(&message)),
        }
    }
}

/// One `s.t.c IS '…'` (after `ON COLUMN`) as a rule, or why it cannot be one.
fn label_rule(rest: &str, line: u64) -> Result<LabelRule, String> {
    {
        let bad = |m: &str| m.to_string();
        let (schema, r) = parse_ident(rest).ok_or_else(|| bad("unreadable column name"))?;
        let r = r
            .strip_prefix('.')
            .ok_or_else(|| bad("unreadable column name"))?;
        let (table, r) = parse_ident(r).ok_or_else(|| bad("unreadable column name"))?;
        let r = r
            .strip_prefix('.')
            .ok_or_else(|| bad("unreadable column name"))?;
        let (column, r) = parse_ident(r).ok_or_else(|| bad("unreadable column name"))?;
        let r = r
            .trim_start()
            .strip_prefix("IS ")
            .ok_or_else(|| bad("no IS"))?;
        let (label, _) = sql_literal(r.trim_start()).ok_or_else(|| bad("unreadable label"))?;
        let toml = map_label(&label)?;
        Ok(LabelRule {
            line,
            schema,
            table,
            column,
            label,
            toml,
        })
    }
}

/// Every `anon` column label of a plain dump, mapped to pgveil maskers.
pub fn labels_from_dump<R: Read>(src: R) -> Result<Vec<LabelRule>, LabelError> {
    let mut reader = DumpReader::new(src);
    let mut rules = Vec::new();
    let mut refused = Vec::new();
    while let Some(event) = reader.next_event()? {
        if let Event::Entry(e) = event {
            if e.header.desc != "SECURITY LABEL" {
                continue;
            }
            let before_body = e.text[..e.body_range.start]
                .iter()
                .skip(e.name_line_range.start)
                .filter(|&&b| b == b'\n')
                .count() as u64;
            let body = String::from_utf8_lossy(e.body()).into_owned();
            labels_in(&body, e.line + before_body, &mut rules, &mut refused);
        }
    }
    if !refused.is_empty() {
        return Err(LabelError::Refused(refused));
    }
    Ok(rules)
}

/// The rule file for `labels` (`source` names where they came from, for the header comment).
pub fn render_rules(labels: &[LabelRule], source: &str) -> String {
    let esc = |s: &str| {
        let mut g = String::new();
        for c in s.chars() {
            if matches!(c, '*' | '?' | '\\') {
                g.push('\\');
            }
            g.push(c);
        }
        toml_str(&g)
    };
    let mut s = format!(
        "# pgveil rules imported from PostgreSQL Anonymizer security labels in {}.\n\
         # Only labelled columns are here: load this file before your other rules\n\
         # (e.g. --rules this.toml --rules rules/default.toml).\n",
        source.replace('\n', " ")
    );
    for l in labels {
        s.push_str(&format!(
            "\n# line {}: {}\n[[rule]]\nschema = {}\ntable = {}\ncolumn = {}\n",
            l.line,
            l.label.replace('\n', " "),
            esc(&l.schema),
            esc(&l.table),
            esc(&l.column)
        ));
        for t in &l.toml {
            s.push_str(t);
            s.push('\n');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_common_functions_and_rejects_unknown_ones() {
        let ok = |l: &str| map_label(l).unwrap().join("\n");
        assert_eq!(
            ok("MASKED WITH FUNCTION anon.fake_email()"),
            r#"masker = "email""#
        );
        assert_eq!(
            ok("MASKED WITH VALUE 'CONFIDENTIAL' "),
            "masker = \"constant\"\nvalue = \"CONFIDENTIAL\""
        );
        assert_eq!(ok("MASKED WITH VALUE NULL"), r#"masker = "null""#);
        assert_eq!(
            ok("MASKED WITH FUNCTION anon.partial(card, 0, $$#$$, 4)"),
            "masker = \"partial\"\nkeep_first = 0\nkeep_last = 4\nfill = \"#\""
        );
        assert_eq!(
            ok("MASKED WITH FUNCTION anon.partial(phone, 2, 'XXXX', 4)"),
            "masker = \"partial\"\nkeep_first = 2\nkeep_last = 4\nfill = \"X\""
        );
        assert_eq!(
            ok("MASKED WITH FUNCTION anon.dnoise(birth, '2 weeks'::interval)"),
            "masker = \"noise\"\ndays = 14"
        );
        assert_eq!(
            ok("MASKED WITH FUNCTION anon.noise(salary, 0.1)"),
            "masker = \"noise\"\nratio = 0.1"
        );
        assert_eq!(
            ok("MASKED WITH FUNCTION anon.random_date_between('1950-01-01'::DATE, '2005-12-31 00:00:00'::TIMESTAMP)"),
            "masker = \"random_between\"\nfrom = \"1950-01-01\"\nto = \"2005-12-31\""
        );
        assert_eq!(
            ok("MASKED WITH FUNCTION anon.random_int_between(18, 99)"),
            "masker = \"random_between\"\nfrom = 18\nto = 99"
        );
        assert_eq!(
            ok("MASKED WITH FUNCTION anon.random_string(12)"),
            "masker = \"hash\"\nlength = 12"
        );
        assert_eq!(
            ok("MASKED WITH FUNCTION anon.generalize_int4range(age, 5)"),
            "masker = \"bucket\"\nwidth = 5"
        );
        assert_eq!(
            ok("MASKED WITH FUNCTION anon.generalize_numrange(salary)"),
            "masker = \"bucket\"\nwidth = 10"
        );
        assert_eq!(
            ok("MASKED WITH FUNCTION anon.generalize_daterange(dob, 'year')"),
            "masker = \"generalize_date\"\nto = \"year\""
        );
        for refused in [
            "MASKED WITH FUNCTION anon.generalize_daterange(dob, 'decade')",
            "MASKED WITH FUNCTION anon.generalize_tsrange(dob)",
            "MASKED WITH FUNCTION anon.random_date_between(a, b)",
            "MASKED WITH FUNCTION anon.random_date()",
            "MASKED WITH FUNCTION anon.random_string(100)",
        ] {
            assert!(map_label(refused).is_err(), "{refused}");
        }
        // Every mapping is a valid rule.
        for label in [
            "MASKED WITH FUNCTION anon.random_date_between('1950-01-01', '2005-12-31')",
            "MASKED WITH FUNCTION anon.generalize_int4range(age, 5)",
            "MASKED WITH FUNCTION anon.generalize_tstzrange(at, 'month')",
        ] {
            let rule = format!("[[rule]]\ncolumn = \"c\"\n{}\n", ok(label));
            crate::mask::RuleSet::from_texts(
                &[("r.toml", &rule)],
                crate::mask::Key::from_bytes(b"k"),
            )
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        }
        assert!(map_label("MASKED WITH FUNCTION anon.fake_iban()")
            .unwrap_err()
            .contains("fake_iban() has no pgveil equivalent"));
        assert!(map_label("MASKED WITH FUNCTION md5(x").is_err());
    }

    #[test]
    fn reads_statements_with_quoted_names() {
        let mut v = Vec::new();
        let mut refused = Vec::new();
        labels_in(
            "SECURITY LABEL FOR anon ON COLUMN \"CRM\".\"Contacts\".\"E-Mail\" IS 'MASKED WITH FUNCTION anon.pseudo_email(\"E-Mail\", ''salt'')';\n",
            10,
            &mut v,
            &mut refused,
        );
        assert!(refused.is_empty(), "{refused:?}");
        assert_eq!(
            (
                v[0].schema.as_str(),
                v[0].table.as_str(),
                v[0].column.as_str()
            ),
            ("CRM", "Contacts", "E-Mail")
        );
        assert_eq!(v[0].line, 10);
        assert_eq!(v[0].toml, vec![r#"masker = "email""#.to_string()]);
    }

    #[test]
    fn every_refusal_of_a_run_is_reported_together() {
        let dump = crate::dump::reader::tests::SAMPLE.replace(
            "GRANT SELECT ON TABLE public.t TO PUBLIC;\n",
            "GRANT SELECT ON TABLE public.t TO PUBLIC;\n\n\n--\n-- Name: COLUMN t.note; Type: SECURITY LABEL; Schema: public; Owner: pg\n--\n\n\
             SECURITY LABEL FOR anon ON COLUMN public.t.note IS 'MASKED WITH FUNCTION anon.lorem_ipsum()';\n\
             SECURITY LABEL FOR anon ON COLUMN public.t.id IS 'MASKED WITH VALUE $$CONFIDENTIAL$$';\n\
             SECURITY LABEL FOR anon ON COLUMN public.t.other IS 'MASKED WITH FUNCTION anon.fake_iban()';\n",
        );
        let e = labels_from_dump(dump.as_bytes()).unwrap_err();
        let LabelError::Refused(refused) = &e else {
            panic!("{e}");
        };
        let columns: Vec<&str> = refused.iter().map(|r| r.column.as_str()).collect();
        assert_eq!(columns, ["public.t.note", "public.t.other"]);
        let text = e.to_string();
        assert!(
            text.starts_with("2 security label(s) cannot be converted:"),
            "{text}"
        );
        assert!(
            text.contains("lorem_ipsum()") && text.contains("fake_iban()"),
            "{text}"
        );
        assert!(refused[0].line < refused[1].line);
    }

    #[test]
    fn a_dollar_quoted_value_is_a_constant() {
        assert_eq!(
            map_label("MASKED WITH VALUE $$CONFIDENTIAL$$").unwrap(),
            vec![
                r#"masker = "constant""#.to_string(),
                r#"value = "CONFIDENTIAL""#.to_string()
            ]
        );
        assert_eq!(
            map_label("MASKED WITH VALUE $v$it's $x$v$").unwrap()[1],
            r#"value = "it's $x""#
        );
        assert!(map_label("MASKED WITH VALUE $$a$$b$$").is_err());
    }
}
