//! PostgreSQL identifier quoting and unquoting, as `pg_dump` prints them (`fmtId`).
//!
//! A name is printed bare only when it is all lower-case letters, digits and underscores, does not start
//! with a digit and is not a keyword; otherwise it is wrapped in double quotes with `"` doubled.
//!
//! (`is_keyword` is over 100 lines: it is PostgreSQL's list of keywords that need quoting, as data.)

/// Quote `name` the way pg_dump's `fmtId` does.
pub fn quote_ident(name: &str) -> String {
    if is_bare_ident(name) {
        return name.to_string();
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

fn is_bare_ident(name: &str) -> bool {
    let mut chars = name.chars();
    match chars.next() {
        Some(c) if c.is_ascii_lowercase() || c == '_' => {}
        _ => return false,
    }
    name.chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !is_keyword(name)
}

/// Keywords that pg_dump quotes. Only the reserved and column-name keywords matter to `fmtId`;
/// unreserved ones are printed bare. The list is PostgreSQL 15's reserved, type-func-name and
/// col-name keywords.
fn is_keyword(name: &str) -> bool {
    const KEYWORDS: &[&str] = &[
        "all",
        "analyse",
        "analyze",
        "and",
        "any",
        "array",
        "as",
        "asc",
        "asymmetric",
        "authorization",
        "between",
        "bigint",
        "binary",
        "bit",
        "boolean",
        "both",
        "case",
        "cast",
        "char",
        "character",
        "check",
        "coalesce",
        "collate",
        "collation",
        "column",
        "concurrently",
        "constraint",
        "create",
        "cross",
        "current_catalog",
        "current_date",
        "current_role",
        "current_schema",
        "current_time",
        "current_timestamp",
        "current_user",
        "dec",
        "decimal",
        "default",
        "deferrable",
        "desc",
        "distinct",
        "do",
        "else",
        "end",
        "except",
        "exists",
        "extract",
        "false",
        "fetch",
        "float",
        "for",
        "foreign",
        "freeze",
        "from",
        "full",
        "grant",
        "greatest",
        "group",
        "grouping",
        "having",
        "ilike",
        "in",
        "initially",
        "inner",
        "inout",
        "int",
        "integer",
        "intersect",
        "interval",
        "into",
        "is",
        "isnull",
        "join",
        "json",
        "json_array",
        "json_arrayagg",
        "json_object",
        "json_objectagg",
        "lateral",
        "leading",
        "least",
        "left",
        "like",
        "limit",
        "localtime",
        "localtimestamp",
        "national",
        "natural",
        "nchar",
        "none",
        "normalize",
        "not",
        "notnull",
        "null",
        "nullif",
        "numeric",
        "offset",
        "on",
        "only",
        "or",
        "order",
        "out",
        "outer",
        "overlaps",
        "overlay",
        "placing",
        "position",
        "precision",
        "primary",
        "real",
        "references",
        "returning",
        "right",
        "row",
        "select",
        "session_user",
        "setof",
        "similar",
        "smallint",
        "some",
        "substring",
        "symmetric",
        "system_user",
        "table",
        "tablesample",
        "then",
        "time",
        "timestamp",
        "to",
        "trailing",
        "treat",
        "trim",
        "true",
        "union",
        "unique",
        "user",
        "using",
        "values",
        "varchar",
        "variadic",
        "verbose",
        "when",
        "where",
        "window",
        "with",
        "xmlattributes",
        "xmlconcat",
        "xmlelement",
        "xmlexists",
        "xmlforest",
        "xmlnamespaces",
        "xmlparse",
        "xmlpi",
        "xmlroot",
        "xmlserialize",
        "xmltable",
    ];
    KEYWORDS.binary_search(&name).is_ok()
}

/// Quote a schema-qualified name: `schema.table`.
pub fn quote_qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote_ident(schema), quote_ident(name))
}

/// Read one identifier at the start of `s`, bare or double-quoted. Returns the unquoted name and the
/// rest of the input. Bare identifiers are returned as written (pg_dump prints them lower-case already).
pub fn parse_ident(s: &str) -> Option<(String, &str)> {
    if let Some(rest) = s.strip_prefix('"') {
        let mut name = String::new();
        let mut iter = rest.char_indices();
        while let Some((i, c)) = iter.next() {
            if c == '"' {
                if rest[i + 1..].starts_with('"') {
                    name.push('"');
                    iter.next();
                } else {
                    return Some((name, &rest[i + 1..]));
                }
            } else {
                name.push(c);
            }
        }
        None
    } else {
        let end = s
            .char_indices()
            .find(|&(_, c)| !(c.is_alphanumeric() || c == '_' || c == '$'))
            .map(|(i, _)| i)
            .unwrap_or(s.len());
        if end == 0 {
            None
        } else {
            Some((s[..end].to_string(), &s[end..]))
        }
    }
}

/// Parse `schema.name` (either part possibly quoted). A name without a schema gets `None`.
pub fn parse_qualified(s: &str) -> Option<(Option<String>, String, &str)> {
    let (first, rest) = parse_ident(s)?;
    if let Some(after_dot) = rest.strip_prefix('.') {
        let (second, rest) = parse_ident(after_dot)?;
        Some((Some(first), second, rest))
    } else {
        Some((None, first, rest))
    }
}

/// Parse a parenthesised, comma-separated identifier list such as `(id, "E-Mail Address", "eMail")`.
/// Returns the names and the rest after the closing parenthesis.
pub fn parse_ident_list(s: &str) -> Option<(Vec<String>, &str)> {
    let mut rest = s.trim_start().strip_prefix('(')?;
    let mut names = Vec::new();
    loop {
        rest = rest.trim_start();
        if let Some(after) = rest.strip_prefix(')') {
            return Some((names, after));
        }
        let (name, after) = parse_ident(rest)?;
        names.push(name);
        rest = after.trim_start();
        if let Some(after) = rest.strip_prefix(',') {
            rest = after;
        } else if !rest.starts_with(')') {
            return None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyword_list_is_sorted_for_binary_search() {
        // is_keyword relies on binary search; an unsorted list would silently miss keywords.
        assert!(is_keyword("user") && is_keyword("all") && is_keyword("xmltable"));
        assert!(!is_keyword("email"));
    }

    #[test]
    fn quotes_like_pg_dump() {
        assert_eq!(quote_ident("customers"), "customers");
        assert_eq!(quote_ident("Order Items"), "\"Order Items\"");
        assert_eq!(quote_ident("user"), "\"user\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
        assert_eq!(quote_ident("1abc"), "\"1abc\"");
        assert_eq!(quote_ident("eMail"), "\"eMail\"");
    }

    #[test]
    fn parses_quoted_lists_and_names() {
        let (names, rest) =
            parse_ident_list("(id, \"E-Mail Address\", \"eMail\", \"a\"\"b\") FROM stdin;")
                .unwrap();
        assert_eq!(names, vec!["id", "E-Mail Address", "eMail", "a\"b"]);
        assert_eq!(rest, " FROM stdin;");
        let (schema, name, rest) = parse_qualified("\"CRM\".\"Customer Contacts\" (").unwrap();
        assert_eq!(schema.as_deref(), Some("CRM"));
        assert_eq!(name, "Customer Contacts");
        assert_eq!(rest, " (");
        for name in ["plain", "Mixed Case", "with\"quote", "user", "ünï"] {
            let quoted = quote_ident(name);
            assert_eq!(parse_ident(&quoted).unwrap().0, name);
        }
    }
}
