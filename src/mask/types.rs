//! PostgreSQL type names: the one place that reads them. Columns' types come as pg_dump's
//! `CREATE TABLE` and `format_type()` spell them (`character varying(20)`, `numeric(10,2)`,
//! `timestamp(3) with time zone`, `text[]`, `public.citext`, `"char"`), rule authors write them in
//! `types` with the usual aliases (`varchar`, `int8`, `timestamptz`, `_text`). [`TypeName`] is
//! their normal form, compared by rules' `types`; [`TypeClass`] is a coarse class of the base type,
//! for the audit heuristics (which types cannot hold personal data, which are text or json).
//!
//! Used while planning a table, never per value.

/// A type name in normal form: lower-cased, modifiers dropped (`(255)`, `(10,2)`), blanks
/// collapsed, aliases mapped to the names pg_dump prints (`varchar` → `character varying`,
/// `int8` → `bigint`, `bpchar`/unquoted `char` → `character`, `timestamptz` → `timestamp with time
/// zone`, `interval day to second` → `interval`), arrays (`text[]`, `text[][]`, `_text`) marked
/// as such, and the schema (`public` of `public.citext`) kept apart; `pg_catalog` counts as none.
/// The quoted `"char"` (a one-byte internal type) stays distinct from `character`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeName {
    schema: Option<String>,
    base: String,
    array: bool,
}

/// What kind of values a type holds, coarsely (of an array: of its elements).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeClass {
    /// `text`, `character varying`, `character`, `citext`.
    Text,
    /// `json`, `jsonb`.
    Json,
    /// `smallint`, `integer`, `bigint`.
    Integer,
    /// `numeric` (`decimal`).
    Numeric,
    /// `real`, `double precision`.
    Float,
    Money,
    Boolean,
    /// `date`, `time`, `timestamp` (with or without time zone), `interval`.
    DateTime,
    Uuid,
    /// `bytea`.
    Binary,
    /// `inet`, `cidr`.
    Network,
    /// `tsvector`.
    TextSearch,
    /// Anything else: other built-in types, user domains, enums, composite and extension types.
    Other,
}

/// Built-in aliases, as rule authors may write them, and the name pg_dump prints.
const ALIASES: [(&str, &str); 19] = [
    ("varchar", "character varying"),
    ("char", "character"),
    ("bpchar", "character"),
    ("int", "integer"),
    ("int4", "integer"),
    ("int2", "smallint"),
    ("int8", "bigint"),
    ("bool", "boolean"),
    ("float4", "real"),
    ("float8", "double precision"),
    ("decimal", "numeric"),
    ("timestamp", "timestamp without time zone"),
    ("timestamptz", "timestamp with time zone"),
    ("time", "time without time zone"),
    ("timetz", "time with time zone"),
    ("serial", "integer"),
    ("bigserial", "bigint"),
    ("smallserial", "smallint"),
    ("varbit", "bit varying"),
];

impl TypeName {
    /// Read a type name as pg_dump, `format_type()` or a rule writes it.
    pub fn parse(t: &str) -> TypeName {
        // Lower-case, drop modifiers in parentheses, collapse blanks, glue `[`/`]` to the name.
        let mut s = String::with_capacity(t.len());
        let mut depth = 0usize;
        for c in t.chars() {
            match c {
                '(' => depth += 1,
                ')' => depth = depth.saturating_sub(1),
                _ if depth > 0 => {}
                c => s.extend(c.to_lowercase()),
            }
        }
        let mut s = s
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .replace(" [", "[")
            .replace("[ ", "[")
            .replace(" ]", "]");
        let mut array = false;
        while s.ends_with(']') {
            match s.rfind('[') {
                Some(i) => {
                    s.truncate(i);
                    s.truncate(s.trim_end().len());
                    array = true;
                }
                None => break,
            }
        }
        let (schema, mut base) = match last_dot_outside_quotes(&s) {
            Some(i) => (Some(s[..i].to_string()), s[i + 1..].to_string()),
            None => (None, s),
        };
        let schema = schema.filter(|s| s != "pg_catalog");
        // `_text` is PostgreSQL's internal name of `text[]`.
        if let Some(elem) = base.strip_prefix('_') {
            // `_char` is the array of `"char"`; `_bpchar` that of `character`.
            let elem = match elem {
                "char" => "\"char\"".to_string(),
                other => canonical(other),
            };
            if is_builtin(&elem) {
                base = elem;
                array = true;
            }
        }
        TypeName {
            schema,
            base: canonical(&base),
            array,
        }
    }

    /// The base type's name (without schema or `[]`), normalized.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn is_array(&self) -> bool {
        self.array
    }

    /// Whether a rule's `types` entry `rule` names this column type: same base, both arrays or
    /// neither, and the same schema when both name one (`citext` matches `public.citext`).
    pub fn matches(&self, rule: &TypeName) -> bool {
        self.base == rule.base
            && self.array == rule.array
            && match (&self.schema, &rule.schema) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            }
    }

    /// The class of the base type (of the elements, for an array).
    pub fn class(&self) -> TypeClass {
        match self.base.as_str() {
            "text" | "character varying" | "character" | "citext" => TypeClass::Text,
            "json" | "jsonb" => TypeClass::Json,
            "smallint" | "integer" | "bigint" => TypeClass::Integer,
            "numeric" => TypeClass::Numeric,
            "real" | "double precision" => TypeClass::Float,
            "money" => TypeClass::Money,
            "boolean" => TypeClass::Boolean,
            "date"
            | "time without time zone"
            | "time with time zone"
            | "timestamp without time zone"
            | "timestamp with time zone"
            | "interval" => TypeClass::DateTime,
            "uuid" => TypeClass::Uuid,
            "bytea" => TypeClass::Binary,
            "inet" | "cidr" => TypeClass::Network,
            "tsvector" => TypeClass::TextSearch,
            _ => TypeClass::Other,
        }
    }
}

impl std::fmt::Display for TypeName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(s) = &self.schema {
            write!(f, "{s}.")?;
        }
        f.write_str(&self.base)?;
        if self.array {
            f.write_str("[]")?;
        }
        Ok(())
    }
}

/// The class of a type as written, `None` when the type is unknown.
pub fn class_of(type_name: Option<&str>) -> Option<TypeClass> {
    type_name.map(|t| TypeName::parse(t).class())
}

fn last_dot_outside_quotes(s: &str) -> Option<usize> {
    let mut quoted = false;
    let mut last = None;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            '.' if !quoted => last = Some(i),
            _ => {}
        }
    }
    last
}

/// The name pg_dump prints for a built-in alias; `timestamp with time zone` and such as they are.
fn canonical(base: &str) -> String {
    // `interval day to second` and the like: the fields are a modifier.
    if base.starts_with("interval ") {
        return "interval".to_string();
    }
    match ALIASES.iter().find(|(a, _)| *a == base) {
        Some((_, c)) => c.to_string(),
        None => base.to_string(),
    }
}

/// Whether `base` (canonical) is a built-in type pg_dump prints unqualified, so that `_base` is its
/// array type.
fn is_builtin(base: &str) -> bool {
    TypeName {
        schema: None,
        base: base.to_string(),
        array: false,
    }
    .class()
        != TypeClass::Other
        || ALIASES.iter().any(|(_, c)| *c == base)
        || ["name", "\"char\"", "oid", "xml", "macaddr", "point"].contains(&base)
}

#[cfg(test)]
mod tests {
    use super::TypeClass::*;
    use super::*;

    fn n(t: &str) -> String {
        TypeName::parse(t).to_string()
    }

    #[test]
    fn pg_dump_and_format_type_spellings() {
        for (written, normal, class) in [
            ("character varying(20)", "character varying", Text),
            ("Character Varying (255)", "character varying", Text),
            ("varchar(20)", "character varying", Text),
            ("character(3)", "character", Text),
            ("char", "character", Text),
            ("bpchar", "character", Text),
            ("\"char\"", "\"char\"", Other),
            ("text", "text", Text),
            ("text[]", "text[]", Text),
            ("text [ ]", "text[]", Text),
            ("_text", "text[]", Text),
            ("_varchar", "character varying[]", Text),
            ("_int4", "integer[]", Integer),
            ("integer[][]", "integer[]", Integer),
            ("integer[3]", "integer[]", Integer),
            ("numeric(10,2)", "numeric", Numeric),
            ("numeric(10,2)[]", "numeric[]", Numeric),
            ("decimal", "numeric", Numeric),
            ("int8", "bigint", Integer),
            ("double precision", "double precision", Float),
            ("float8", "double precision", Float),
            (
                "timestamp with time zone",
                "timestamp with time zone",
                DateTime,
            ),
            (
                "timestamp(3) with time zone",
                "timestamp with time zone",
                DateTime,
            ),
            ("timestamptz", "timestamp with time zone", DateTime),
            ("timestamp", "timestamp without time zone", DateTime),
            (
                "time(6) without time zone",
                "time without time zone",
                DateTime,
            ),
            ("interval day to second", "interval", DateTime),
            ("date", "date", DateTime),
            ("jsonb", "jsonb", Json),
            ("json[]", "json[]", Json),
            ("jsonpath", "jsonpath", Other),
            ("boolean", "boolean", Boolean),
            ("bool", "boolean", Boolean),
            ("uuid", "uuid", Uuid),
            ("bytea", "bytea", Binary),
            ("inet", "inet", Network),
            ("cidr[]", "cidr[]", Network),
            ("money", "money", Money),
            ("tsvector", "tsvector", TextSearch),
            ("public.citext", "public.citext", Text),
            ("citext", "citext", Text),
            ("pg_catalog.text", "text", Text),
            ("public.mood", "public.mood", Other),
            ("public.\"Mood\"[]", "public.\"mood\"[]", Other),
            ("app.\"e.mail\"", "app.\"e.mail\"", Other),
            ("public.email_address", "public.email_address", Other),
            ("_mood", "_mood", Other),
            ("_char", "\"char\"[]", Other),
            ("_bpchar", "character[]", Text),
        ] {
            let t = TypeName::parse(written);
            assert_eq!(t.to_string(), normal, "{written}");
            assert_eq!(t.class(), class, "{written}");
        }
    }

    #[test]
    fn rule_types_match_column_types() {
        let m = |column: &str, rule: &str| TypeName::parse(column).matches(&TypeName::parse(rule));
        assert!(m("character varying(255)", "varchar"));
        assert!(m("character varying(255)", "character varying(40)"));
        assert!(m("text[]", "_text"));
        assert!(!m("text[]", "text"));
        assert!(!m("text", "text[]"));
        assert!(m("public.citext", "citext"));
        assert!(m("citext", "public.citext"));
        assert!(!m("public.citext", "other.citext"));
        assert!(!m("\"char\"", "char"));
        assert!(m("character(1)", "char"));
        assert!(m("timestamp(3) with time zone", "timestamptz"));
        assert!(!m("timestamp without time zone", "timestamptz"));
        assert!(m("numeric(10,2)[]", "decimal[]"));
        assert!(m("public.\"Mood\"", "public.\"Mood\""));
        assert_eq!(n("public.Mood"), "public.mood");
    }

    #[test]
    fn unknown_types_have_no_class() {
        assert_eq!(class_of(None), None);
        assert_eq!(class_of(Some("integer")), Some(Integer));
    }
}
