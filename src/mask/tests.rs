use super::*;
use crate::copy::{escape_into, unescape_into};
use proptest::prelude::*;

fn key() -> Key {
    Key::from_bytes(b"test key")
}

fn rules(text: &str) -> RuleSet {
    RuleSet::from_texts(&[("r.toml", text)], key()).unwrap()
}

fn err(text: &str) -> String {
    RuleSet::from_texts(&[("r.toml", text)], key())
        .unwrap_err()
        .to_string()
}

fn col(name: &str) -> ColumnInfo {
    ColumnInfo {
        name: name.into(),
        type_name: None,
        unique: false,
    }
}

fn typed(name: &str, t: &str) -> ColumnInfo {
    ColumnInfo {
        name: name.into(),
        type_name: Some(t.into()),
        unique: false,
    }
}

fn uniq(name: &str) -> ColumnInfo {
    ColumnInfo {
        name: name.into(),
        type_name: None,
        unique: true,
    }
}

/// Run a masker like the engine does on a raw (escaped) field; returns the new raw field, or `None`
/// for NULL.
fn apply(m: &Arc<dyn Masker>, raw: &[u8]) -> Option<Vec<u8>> {
    if raw == b"\\N" {
        return None;
    }
    if !m.prefilter(raw) {
        return Some(raw.to_vec());
    }
    let mut value = Vec::new();
    unescape_into(raw, &mut value).unwrap();
    let mut out = Vec::new();
    match m.mask(&value, &mut out) {
        MaskOutcome::Unchanged => {
            assert!(out.is_empty(), "Unchanged must not write");
            Some(raw.to_vec())
        }
        MaskOutcome::Null => None,
        MaskOutcome::Value => {
            let mut enc = Vec::new();
            escape_into(&out, &mut enc);
            let mut back = Vec::new();
            unescape_into(&enc, &mut back).unwrap();
            assert_eq!(back, out, "re-escaped output must round-trip");
            Some(enc)
        }
    }
}

fn mask_str(m: &Arc<dyn Masker>, value: &str) -> String {
    let mut raw = Vec::new();
    escape_into(value.as_bytes(), &mut raw);
    let out = apply(m, &raw).expect("not NULL");
    let mut v = Vec::new();
    unescape_into(&out, &mut v).unwrap();
    String::from_utf8(v).unwrap()
}

/// The masker a single-rule file gives a column.
fn masker_with(rule_body: &str, c: ColumnInfo, k: Key) -> Arc<dyn Masker> {
    let rs = RuleSet::from_texts(
        &[(
            "r.toml",
            &format!("[[rule]]\ncolumn = \"*\"\n{rule_body}\n"),
        )],
        k,
    )
    .unwrap();
    rs.plan_table("public", "t", &[c]).unwrap().columns[0]
        .clone()
        .expect("masked")
}

fn masker(rule_body: &str) -> Arc<dyn Masker> {
    masker_with(rule_body, col("c"), key())
}

// ---- loading errors -------------------------------------------------------------------------

#[test]
fn unknown_masker_names_file_and_line() {
    let e = err("strict = false\n\n[[rule]]\ncolumn = \"x\"\nmasker = \"emial\"\n");
    assert!(e.starts_with("r.toml:5: unknown masker `emial`"), "{e}");
}

#[test]
fn unknown_option_names_file_and_line() {
    let e = err("[[rule]]\ncolumn = \"x\"\nmasker = \"hash\"\nlenght = 3\n");
    assert!(e.starts_with("r.toml:4: unknown key `lenght`"), "{e}");
    assert!(e.contains("length"), "{e}");
    let e = err("[[rule]]\ncolumn = \"x\"\nmasker = \"email\"\n\nvalue = \"a\"\n");
    assert!(e.starts_with("r.toml:5: unknown key `value`"), "{e}");
}

#[test]
fn bad_regex_names_file_and_line() {
    let e = err(
        "[[rule]]\ncolumn = \"x\"\nmasker = \"regex\"\npattern = \"a(b\"\nreplacement = \"\"\n",
    );
    assert!(e.starts_with("r.toml:4: bad regex"), "{e}");
}

#[test]
fn missing_things_are_errors() {
    let e = err("\n[[rule]]\ncolumn = \"x\"\n");
    assert!(e.starts_with("r.toml:2: a rule needs `masker`"), "{e}");
    let e = err("[[rule]]\nmasker = \"keep\"\n");
    assert!(e.starts_with("r.toml:1: a rule needs `column`"), "{e}");
    let e = err("[[rule]]\ncolumn = \"x\"\nmasker = \"constant\"\n");
    assert!(
        e.starts_with("r.toml:3: masker `constant` needs the option `value`"),
        "{e}"
    );
    let e = err("[[rule]]\ncolumn = \"x\"\nmasker = \"regex\"\npattern = \"a\"\n");
    assert!(e.contains("needs the option `replacement`"), "{e}");
}

#[test]
fn bad_values_are_errors() {
    let e = err("strict = true\nstrikt = true\n");
    assert!(e.starts_with("r.toml:2: unknown field `strikt`"), "{e}");
    let e = err("[[rule]]\ncolumn = \"x\\\\\"\nmasker = \"keep\"\n");
    assert!(e.starts_with("r.toml:2: bad glob"), "{e}");
    let e = err("[[rule]]\ncolumn = \"\"\nmasker = \"keep\"\n");
    assert!(e.starts_with("r.toml:2:"), "{e}");
    let e = err("[[rule]]\ncolumn = \"x\"\nmasker = \"hash\"\nlength = 65\n");
    assert!(e.starts_with("r.toml:4:"), "{e}");
    let e = err("[[rule]]\ncolumn = \"x\"\nmasker = \"hash\"\nlength = \"8\"\n");
    assert!(e.starts_with("r.toml:4:") && e.contains("integer"), "{e}");
    let e = err("[[rule]]\ncolumn = \"x\"\nmasker = \"name\"\nkind = \"middle\"\n");
    assert!(e.starts_with("r.toml:4:"), "{e}");
    let e = err("[[rule]]\ncolumn = \"x\"\nmasker = \"keep\"\ntypes = \"text\"\n");
    assert!(e.starts_with("r.toml:4: `types`"), "{e}");
    let e = err("[[rule]]\ncolumn = 3\nmasker = \"keep\"\n");
    assert!(e.starts_with("r.toml:2:"), "{e}");
    let e = err("[[rule]\n");
    assert!(e.starts_with("r.toml:1:"), "{e}");
}

#[test]
fn second_file_errors_name_that_file() {
    let e = RuleSet::from_texts(
        &[
            ("a.toml", "[[rule]]\ncolumn = \"x\"\nmasker = \"keep\"\n"),
            (
                "b.toml",
                "\n\n[[rule]]\ncolumn = \"x\"\nmasker = \"nope\"\n",
            ),
        ],
        key(),
    )
    .unwrap_err()
    .to_string();
    assert!(e.starts_with("b.toml:5:"), "{e}");
}

#[test]
fn load_reads_files_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("a.toml");
    let b = dir.path().join("b.toml");
    std::fs::write(&a, "[[rule]]\ncolumn = \"x\"\nmasker = \"null\"\n").unwrap();
    std::fs::write(
        &b,
        "strict = true\n[[rule]]\ncolumn = \"*\"\nmasker = \"keep\"\n",
    )
    .unwrap();
    let rs = RuleSet::load(&[a.clone(), b], key()).unwrap();
    assert!(rs.strict());
    let plan = rs.plan_table("s", "t", &[col("x"), col("y")]).unwrap();
    assert!(plan.columns[0].is_some() && plan.columns[1].is_none());
    let e = RuleSet::load(&[dir.path().join("missing.toml")], key()).unwrap_err();
    assert!(matches!(e, RulesError::Read { .. }));
}

// ---- matching -------------------------------------------------------------------------------

#[test]
fn quoted_mixed_case_names_match_exactly() {
    let rs = rules(
        "[[rule]]\nschema = \"CRM\"\ntable = \"Customer Contacts\"\ncolumn = \"E-Mail Address\"\nmasker = \"null\"\n",
    );
    let cols = [col("E-Mail Address"), col("e-mail address")];
    let plan = rs.plan_table("CRM", "Customer Contacts", &cols).unwrap();
    assert!(plan.columns[0].is_some());
    assert!(plan.columns[1].is_none());
    let plan = rs
        .plan_table("crm", "Customer Contacts", &cols[1..])
        .unwrap();
    assert!(plan.is_passthrough());
    rs.finish().unwrap();
}

#[test]
fn globs_on_schema_table_column() {
    let rs = rules(
        "[[rule]]\nschema = \"app_?\"\ntable = \"user*\"\ncolumn = \"*mail*\"\nmasker = \"null\"\n",
    );
    let cols = [col("email"), col("Mailbox"), col("id")];
    let p = rs.plan_table("app_1", "users", &cols).unwrap();
    assert_eq!(
        p.columns.iter().map(Option::is_some).collect::<Vec<_>>(),
        [true, false, false]
    );
    assert!(rs
        .plan_table("app_12", "users", &cols)
        .unwrap()
        .is_passthrough());
    assert!(rs
        .plan_table("app_1", "accounts", &cols)
        .unwrap()
        .is_passthrough());
    rs.finish().unwrap();
}

#[test]
fn first_match_wins() {
    let rs = rules(
        "[[rule]]\ntable = \"t\"\ncolumn = \"a\"\nmasker = \"keep\"\n\
         [[rule]]\ncolumn = \"*\"\nmasker = \"null\"\n\
         [[rule]]\ncolumn = \"b\"\nmasker = \"keep\"\n",
    );
    let p = rs.plan_table("public", "t", &[col("a"), col("b")]).unwrap();
    assert!(p.columns[0].is_none(), "keep came first");
    let mut out = Vec::new();
    assert_eq!(
        p.columns[1].as_ref().unwrap().mask(b"x", &mut out),
        MaskOutcome::Null
    );
}

#[test]
fn types_restrict_rules() {
    let rs = rules(
        "[[rule]]\ncolumn = \"*\"\ntypes = [\"varchar\", \"JSONB\", \"text[]\"]\nmasker = \"null\"\n\
         [[rule]]\ncolumn = \"*\"\nmasker = \"email_scan\"\n",
    );
    let cols = [
        typed("a", "character varying(255)"),
        typed("b", "jsonb"),
        typed("c", "text[]"),
        typed("d", "text"),
        col("e"),
        typed("f", "character varying(20)[]"),
    ];
    let p = rs.plan_table("s", "t", &cols).unwrap();
    let mut out = Vec::new();
    let outcome: Vec<MaskOutcome> = p
        .columns
        .iter()
        .map(|m| m.as_ref().unwrap().mask(b"a@b.org", &mut out))
        .collect();
    use MaskOutcome::*;
    assert_eq!(outcome, [Null, Null, Null, Value, Value, Value]);
    assert_eq!(normalize_type("Numeric(10, 2) []"), "numeric[]");
    assert_eq!(
        normalize_type("timestamp(3) with time zone"),
        "timestamp with time zone"
    );
}

#[test]
fn exact_rule_on_missing_column_errors() {
    let rs = rules("\n[[rule]]\nschema = \"public\"\ntable = \"users\"\ncolumn = \"emial\"\nmasker = \"email\"\n");
    let e = rs
        .plan_table("public", "users", &[col("id"), col("email")])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "rule at r.toml:2 names column public.users.emial, which table public.users does not have"
    );
    // Other tables are not concerned.
    rs.plan_table("public", "orders", &[col("id")]).unwrap();
    // A glob column is not exact.
    let rs = rules("[[rule]]\nschema = \"public\"\ntable = \"users\"\ncolumn = \"emial*\"\nmasker = \"email\"\n");
    rs.plan_table("public", "users", &[col("id")]).unwrap();
}

#[test]
fn finish_reports_tables_never_seen() {
    let rs = rules(
        "[[rule]]\nschema = \"public\"\ntable = \"users\"\ncolumn = \"email\"\nmasker = \"email\"\n\
         \n[[rule]]\nschema = \"public\"\ntable = \"userz\"\ncolumn = \"*\"\nmasker = \"email\"\n\
         [[rule]]\ntable = \"other\"\ncolumn = \"x\"\nmasker = \"email\"\n",
    );
    rs.plan_table("public", "users", &[col("email")]).unwrap();
    let e = rs.finish().unwrap_err().to_string();
    assert_eq!(
        e,
        "rule at r.toml:7 names table public.userz, which does not appear in the dump"
    );
    rs.plan_table("public", "userz", &[col("email")]).unwrap();
    rs.finish().unwrap();
}

#[test]
fn strict_names_the_uncovered_column() {
    let rs = rules(
        "strict = true\n[[rule]]\ntable = \"users\"\ncolumn = \"email\"\nmasker = \"email\"\n\
         [[rule]]\ntable = \"users\"\ncolumn = \"id\"\nmasker = \"keep\"\n",
    );
    assert!(rs.strict());
    rs.plan_table("public", "users", &[col("id"), col("email")])
        .unwrap();
    let e = rs
        .plan_table("public", "users", &[col("id"), col("Name"), col("x")])
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "public.users.Name is not covered by any rule (strict = true)"
    );
    // Not strict: uncovered columns are kept.
    let rs = rules("[[rule]]\ntable = \"users\"\ncolumn = \"email\"\nmasker = \"email\"\n");
    assert!(!rs.strict());
    assert!(rs
        .plan_table("public", "users", &[col("Name")])
        .unwrap()
        .is_passthrough());
}

#[test]
fn builtin_default_masks_every_address() {
    let rs = RuleSet::builtin_default(key());
    assert!(!rs.strict());
    let cols = [typed("id", "integer"), typed("doc", "jsonb"), uniq("email")];
    let p = rs.plan_table("CRM", "Customer Contacts", &cols).unwrap();
    let m = |i: usize| p.columns[i].clone().unwrap();
    assert_eq!(mask_str(&m(0), "42"), "42");
    assert_eq!(
        mask_str(&m(1), r#"{"a": "x@y.org"}"#),
        r#"{"a": "nobody@example.com"}"#
    );
    let u = mask_str(&m(2), "ann@corp.org");
    assert!(
        u.starts_with("nobody+") && u.ends_with("@example.com"),
        "{u}"
    );
    rs.finish().unwrap();
    let eg = RuleSet::from_texts(
        &[("example.toml", include_str!("../../rules/example.toml"))],
        key(),
    )
    .unwrap();
    assert!(eg.strict());
}

#[test]
fn plans_are_shareable_across_threads() {
    fn check<T: Send + Sync>() {}
    check::<RuleSet>();
    check::<TablePlan>();
    check::<Key>();
}

// ---- maskers --------------------------------------------------------------------------------

#[test]
fn email_masker() {
    let m = masker("masker = \"email\"");
    assert_eq!(mask_str(&m, "ann@corp.org"), "nobody@example.com");
    assert_eq!(mask_str(&m, "not an address"), "nobody@example.com");
    assert_eq!(mask_str(&m, ""), "");
    let u1 = masker_with("masker = \"email\"", uniq("c"), key());
    let a = mask_str(&u1, "ann@corp.org");
    let b = mask_str(&u1, "bob@corp.org");
    assert_ne!(a, b);
    assert_eq!(a.len(), "nobody+@example.com".len() + 16);
    assert!(a[7..23].bytes().all(|b| b.is_ascii_hexdigit()), "{a}");
}

#[test]
fn unique_form_is_deterministic_across_tables_and_key_dependent() {
    let rs = RuleSet::builtin_default(key());
    let p1 = rs.plan_table("public", "users", &[uniq("email")]).unwrap();
    let p2 = rs
        .plan_table("sales", "orders", &[col("id"), uniq("user_email")])
        .unwrap();
    let m1 = p1.columns[0].clone().unwrap();
    let m2 = p2.columns[1].clone().unwrap();
    assert_eq!(mask_str(&m1, "ann@corp.org"), mask_str(&m2, "ann@corp.org"));
    assert_ne!(mask_str(&m1, "ann@corp.org"), mask_str(&m2, "Ann@corp.org"));
    // `email` and `email_scan` agree on whole-address values.
    let e = masker_with("masker = \"email\"", uniq("c"), key());
    assert_eq!(mask_str(&e, "ann@corp.org"), mask_str(&m1, "ann@corp.org"));
    // Another key, other pseudonyms.
    let other = RuleSet::builtin_default(Key::from_bytes(b"other key"));
    let p3 = other
        .plan_table("public", "users", &[uniq("email")])
        .unwrap();
    let m3 = p3.columns[0].clone().unwrap();
    assert_ne!(mask_str(&m1, "ann@corp.org"), mask_str(&m3, "ann@corp.org"));
}

#[test]
fn email_scan_json_arrays_and_text() {
    let m = masker("masker = \"email_scan\"");
    assert_eq!(
        mask_str(
            &m,
            r#"{"to":"Ann <ann.lee@corp.example.org>","cc":["b@x.io"],"n":1}"#
        ),
        r#"{"to":"Ann <nobody@example.com>","cc":["nobody@example.com"],"n":1}"#
    );
    assert_eq!(
        mask_str(&m, r#"{a@b.com,"c d@e.org"}"#),
        r#"{nobody@example.com,"c nobody@example.com"}"#
    );
    assert_eq!(
        mask_str(
            &m,
            "Write to ann@corp.org, bob.s+x@mail.co.uk; or (z_9%q@sub-d.example.info)."
        ),
        "Write to nobody@example.com, nobody@example.com; or (nobody@example.com)."
    );
    assert_eq!(
        mask_str(&m, "tab\tann@corp.org\nline\\x@y.org \\\\z@y.org"),
        "tab\tnobody@example.com\nline\\nobody@example.com \\\\nobody@example.com"
    );
    assert_eq!(
        mask_str(&m, r#"["\u00e9@x.fr","\t@x.fr"]"#),
        r#"["\u00e9nobody@example.com","\nobody@example.com"]"#
    );
    assert_eq!(mask_str(&m, "jörg@müller.de"), "nobody@example.com");
    assert_eq!(mask_str(&m, "a@b.com.123 x"), "nobody@example.com.123 x");
    assert_eq!(mask_str(&m, "end a@b.org."), "end nobody@example.com.");
    // JSON escapes before the local part stay intact.
    assert_eq!(
        mask_str(&m, r#"["\u00e9ric@x.fr","\nann@x.fr","\\bob@x.fr"]"#),
        r#"["\u00e9nobody@example.com","\nnobody@example.com","\\nobody@example.com"]"#
    );
    // Not addresses.
    for v in [
        "@home",
        "a@b",
        "a@b.c",
        "a@b.c1",
        "user@localhost",
        "x @ y.org",
        "@@",
        "a@.org",
    ] {
        assert_eq!(mask_str(&m, v), v);
    }
    // No `@`: the prefilter skips the value.
    assert!(!m.prefilter(b"no at sign here"));
    assert!(m.prefilter(b"a@b"));
}

#[test]
fn email_scan_never_splits_an_escaped_multibyte_character() {
    let m = masker_with("masker = \"email_scan\"", col("c"), key());
    // A backslash escape of a non-ASCII character right before the local part.
    for text in ["\\\u{4e2d}ab@example.com", "\\\u{e4}x@example.org end"] {
        let out = mask_str(&m, text);
        assert!(
            !out.contains("example.org") && !out.contains("ab@example.com"),
            "{out:?}"
        );
        assert!(out.starts_with('\\'), "{out:?}");
    }
}

#[test]
fn email_scan_backslash_in_plain_text_leaves_nothing_of_the_local_part() {
    let m = masker_with("masker = \"email_scan\"", col("c"), key());
    let out = mask_str(&m, "path C:\\heidi@example.org done");
    assert_eq!(out, "path C:\\nobody@example.com done");
    // A JSON escape before the address stays whole.
    let out = mask_str(
        &m,
        r#"{"a":"\nheidi@example.org","b":"\u00e9x@example.org"}"#,
    );
    assert_eq!(
        out,
        r#"{"a":"\nnobody@example.com","b":"\u00e9nobody@example.com"}"#
    );
}

#[test]
fn email_scan_unique_keeps_each_address_distinct() {
    let m = masker_with("masker = \"email_scan\"", uniq("c"), key());
    let out = mask_str(&m, "{a@b.com,c@d.org,a@b.com}");
    let parts: Vec<&str> = out
        .trim_matches(|c| c == '{' || c == '}')
        .split(',')
        .collect();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], parts[2]);
    assert_ne!(parts[0], parts[1]);
    assert!(parts
        .iter()
        .all(|p| p.starts_with("nobody+") && p.ends_with("@example.com")));
}

#[test]
fn null_and_constant() {
    let n = masker("masker = \"null\"");
    assert_eq!(apply(&n, b"secret"), None);
    assert_eq!(apply(&n, b"\\N"), None);
    let c = masker("masker = \"constant\"\nvalue = \"tab\\there\"");
    assert_eq!(apply(&c, b"anything"), Some(b"tab\\there".to_vec()));
    assert_eq!(mask_str(&c, ""), "tab\there");
}

#[test]
fn hash_masker() {
    let h = masker("masker = \"hash\"");
    let a = mask_str(&h, "alice");
    assert_eq!(a.len(), 16);
    assert!(a.bytes().all(|b| b.is_ascii_hexdigit()));
    assert_eq!(a, mask_str(&h, "alice"));
    assert_ne!(a, mask_str(&h, "alicf"));
    let h8 = masker("masker = \"hash\"\nlength = 7");
    assert_eq!(mask_str(&h8, "alice"), a[..7]);
    let other = masker_with("masker = \"hash\"", col("c"), Key::from_bytes(b"k2"));
    assert_ne!(mask_str(&other, "alice"), a);
    let full = masker("masker = \"hash\"\nlength = 64");
    assert_eq!(mask_str(&full, "x").len(), 64);
}

#[test]
fn name_masker() {
    let f = masker("masker = \"name\"");
    let n = mask_str(&f, "Ann Lee");
    assert_eq!(n.split(' ').count(), 2, "{n}");
    assert_eq!(n, mask_str(&f, "Ann Lee"));
    assert_eq!(mask_str(&f, ""), "");
    let first = masker("masker = \"name\"\nkind = \"first\"\nlocale = \"de\"");
    let v = mask_str(&first, "Ann");
    assert!(maskers::name::tests_lists().0.contains(&v.as_str()), "{v}");
    let last = masker("masker = \"name\"\nkind = \"last\"\nlocale = \"de\"");
    let v = mask_str(&last, "Lee");
    assert!(maskers::name::tests_lists().1.contains(&v.as_str()), "{v}");
    // Different inputs give varied names.
    let names: std::collections::HashSet<String> = (0..50)
        .map(|i| mask_str(&f, &format!("person {i}")))
        .collect();
    assert!(names.len() > 10);
}

#[test]
fn phone_masker() {
    let p = masker("masker = \"phone\"");
    let a = mask_str(&p, "+1 (555) 123-4567");
    assert_eq!(a.len(), "+1 (555) 123-4567".len());
    assert!(a.starts_with("+1 ("), "{a}");
    for (x, y) in a.bytes().zip("+1 (555) 123-4567".bytes()) {
        assert_eq!(x.is_ascii_digit(), y.is_ascii_digit());
        if !y.is_ascii_digit() {
            assert_eq!(x, y);
        }
    }
    assert_ne!(a, "+1 (555) 123-4567");
    assert_eq!(a, mask_str(&p, "+1 (555) 123-4567"));
    let b = mask_str(&p, "+4930123456");
    assert!(b.starts_with('+') && b.len() == 11);
    assert_eq!(mask_str(&p, "n/a"), "n/a");
    let long = "1".repeat(80);
    let l = mask_str(&p, &long);
    assert_eq!(l.len(), 80);
    assert!(l.bytes().all(|b| b.is_ascii_digit()));
}

#[test]
fn regex_masker() {
    let r = masker("masker = \"regex\"\npattern = '(\\d{3})-\\d{4}'\nreplacement = \"$1-0000\"");
    assert_eq!(
        mask_str(&r, "call 555-1234 or 666-9876"),
        "call 555-0000 or 666-0000"
    );
    assert_eq!(mask_str(&r, "no numbers"), "no numbers");
    let lit = masker(
        "masker = \"regex\"\npattern = 'secret'\nreplacement = \"x\\ty\"\ncontains = \"secret\"",
    );
    assert!(!lit.prefilter(b"nothing here"));
    assert!(lit.prefilter(b"a secret"));
    assert_eq!(
        mask_str(&lit, "a secret, another secret"),
        "a x\ty, another x\ty"
    );
    let tab =
        masker("masker = \"regex\"\npattern = 'a\\tb'\nreplacement = \"_\"\ncontains = \"a\\tb\"");
    assert!(
        tab.prefilter(b"xa\\tby"),
        "contains is compared in escaped form"
    );
    assert_eq!(mask_str(&tab, "xa\tby"), "x_y");
}

#[test]
fn every_masker_output_round_trips_through_copy_escaping() {
    let bodies = [
        "masker = \"email\"",
        "masker = \"email_scan\"",
        "masker = \"constant\"\nvalue = \"a\\\\b\\nc\\td\"",
        "masker = \"hash\"",
        "masker = \"name\"\nlocale = \"fr\"",
        "masker = \"phone\"",
        "masker = \"regex\"\npattern = 'x'\nreplacement = \"\\n\\\\\"",
    ];
    let values: [&[u8]; 5] = [
        b"x\\ty a@b.org",
        b"\\\\x\\n@@ q@w.er\\r",
        b"+33 1 23 45 67 89\\b",
        b"\\351t\\351@x.fr",
        b"",
    ];
    for body in bodies {
        for unique in [false, true] {
            let c = if unique { uniq("c") } else { col("c") };
            let m = masker_with(body, c, key());
            for raw in values {
                // `apply` asserts the round trip.
                let _ = apply(&m, raw);
            }
        }
    }
}

// ---- properties -----------------------------------------------------------------------------

fn address() -> impl Strategy<Value = String> {
    // The local part ends in [g-x]: a replacement's `@` follows `y` or a hex digit, so an original
    // address can only reappear in the output if it was left in place.
    (
        "[a-z0-9._%+-]{0,6}[g-x]",
        "[a-z0-9-]{1,8}(\\.[a-z0-9-]{1,5}){0,2}\\.[a-z]{2,4}",
    )
        .prop_map(|(l, d)| format!("{l}@{d}"))
}

fn piece() -> impl Strategy<Value = String> {
    prop_oneof![
        address(),
        "[ -~\t\n\u{e9}\u{4e2d}]{0,12}",
        Just("\\u00e9".to_string()),
        Just("\\".to_string()),
    ]
}

const SEPARATORS: &[char] = &[
    ' ', ',', '"', '{', '}', '[', ']', '(', ')', '<', '>', ';', ':', '\'', '\t', '\n',
];

proptest! {
    #[test]
    fn email_scan_leaves_no_original_address(
        pieces in proptest::collection::vec((piece(), 0..SEPARATORS.len() + 3), 0..8),
        unique in any::<bool>(),
    ) {
        let mut text = String::new();
        let mut addresses = Vec::new();
        for (p, s) in &pieces {
            let is_address = address_like(p);
            if is_address {
                addresses.push(p.clone());
            }
            text.push_str(p);
            // Text may run into the next piece (an address then grows to the left, or follows an
            // escape); an address is always followed by a separator, or its domain could grow.
            match SEPARATORS.get(*s) {
                Some(&c) => text.push(c),
                None if is_address => text.push(' '),
                None => {}
            }
        }
        let c = if unique { uniq("c") } else { col("c") };
        let m = masker_with("masker = \"email_scan\"", c, key());
        let out = mask_str(&m, &text);
        for a in &addresses {
            prop_assert!(!out.contains(a.as_str()), "{a:?} survives in {out:?} (from {text:?})");
        }
        // Structure is kept: the separators are all still there, in order.
        let seps = |s: &str| s.chars().filter(|c| SEPARATORS.contains(c) || *c == '\\').collect::<String>();
        prop_assert_eq!(seps(&out), seps(&text));
    }
}

/// Generated addresses (as opposed to generated text that happens to contain an `@`).
fn address_like(p: &str) -> bool {
    let Some((l, d)) = p.split_once('@') else {
        return false;
    };
    // The domain must have the shape `address()` generates; random text such as `g@.` is no address.
    let domain = regex::Regex::new(r"^[a-z0-9-]{1,8}(\.[a-z0-9-]{1,5}){0,2}\.[a-z]{2,4}$").unwrap();
    !l.is_empty()
        && l.bytes().last().is_some_and(|b| (b'g'..=b'x').contains(&b))
        && domain.is_match(d)
}

// ---- partial, json, noise -------------------------------------------------------------------

#[test]
fn partial_keeps_ends_and_length() {
    let m = masker("masker = \"partial\"\nkeep_last = 4");
    assert_eq!(mask_str(&m, "4111 1111 1111 1234"), "***************1234");
    let m = masker("masker = \"partial\"\nkeep_first = 1\nkeep_last = 1\nfill = \"x\"");
    assert_eq!(mask_str(&m, "Zoë Ünïcödé"), "Zxxxxxxxxxé");
    // Too short to keep anything: filled entirely, never passed through.
    assert_eq!(mask_str(&m, "ab"), "xx");
    assert_eq!(mask_str(&m, ""), "");
    let e = err("[[rule]]\ncolumn = \"x\"\nmasker = \"partial\"\nfill = \"ab\"\n");
    assert!(e.starts_with("r.toml:4: option `fill`"), "{e}");
}

#[test]
fn json_masks_only_the_paths_and_keeps_the_rest_byte_for_byte() {
    let m = masker(
        "masker = \"json\"\npaths = [\"$.contact.email\", \"$.phones[*]\", \"$['odd key']\"]\naction = \"email\"",
    );
    let doc = r#"{"contact": {"email": "ann@x.org", "name": "Ann"}, "phones": ["1", 2], "odd key": {"a": [1]}, "n": 1.50}"#;
    assert_eq!(
        mask_str(&m, doc),
        r#"{"contact": {"email": "nobody@example.com", "name": "Ann"}, "phones": ["nobody@example.com", "nobody@example.com"], "odd key": "nobody@example.com", "n": 1.50}"#
    );
    // No match: unchanged; not JSON: NULL (never passed through).
    assert_eq!(mask_str(&m, r#"{"contact": 1}"#), r#"{"contact": 1}"#);
    assert_eq!(apply(&m, b"{\"contact\": "), None);
    // Hash: the keyed pseudonym of the decoded string, the same as the `hash` masker gives it.
    let h = masker("masker = \"json\"\npaths = [\"$.a\"]");
    let plain_hash = masker("masker = \"hash\"");
    assert_eq!(
        mask_str(&h, r#"{"a":"x@y.org"}"#),
        format!(r#"{{"a":"{}"}}"#, mask_str(&plain_hash, "x@y.org"))
    );
    assert_eq!(
        mask_str(&h, r#"{"a":"x\u0040y.org"}"#),
        mask_str(&h, r#"{"a":"x@y.org"}"#)
    );
    let c = masker("masker = \"json\"\npaths = [\"$.a[1]\"]\naction = \"constant\"\nvalue = { redacted = true }");
    assert_eq!(mask_str(&c, r#"[{"a":[0,1,2]}]"#), r#"[{"a":[0,1,2]}]"#);
    assert_eq!(
        mask_str(&c, r#"{"a":[0,1,2]}"#),
        r#"{"a":[0,{"redacted":true},2]}"#
    );
    let e = err("[[rule]]\ncolumn = \"x\"\nmasker = \"json\"\npaths = [\"a.b\"]\n");
    assert!(
        e.starts_with("r.toml:4: path \"a.b\" must start with `$`"),
        "{e}"
    );
}

#[test]
fn noise_moves_numbers_and_dates_within_range() {
    let m = masker("masker = \"noise\"\nrange = 100\ndays = 30");
    let mut moved = 0;
    for i in 0..200 {
        let v = format!("{}.50", 10_000 + i);
        let out = mask_str(&m, &v);
        let (int, frac) = out.split_once('.').expect("keeps decimals");
        assert_eq!(frac.len(), 2, "{out}");
        let x: f64 = out.parse().unwrap();
        let orig: f64 = v.parse().unwrap();
        assert!((x - orig).abs() <= 100.0, "{v} -> {out}");
        assert!(!int.is_empty());
        moved += usize::from(out != v);
        // Deterministic for the key; another key moves differently.
        assert_eq!(mask_str(&m, &v), out);
    }
    assert!(moved > 190, "values move: {moved}");
    let other = masker_with(
        "masker = \"noise\"\nrange = 100",
        col("c"),
        Key::from_bytes(b"other"),
    );
    assert_ne!(mask_str(&other, "10000.50"), mask_str(&m, "10000.50"));
    let d = mask_str(&m, "2024-02-29 10:30:00+00");
    assert!(d.ends_with(" 10:30:00+00"), "{d}");
    let day = time::Date::from_calendar_date(
        d[..4].parse().unwrap(),
        time::Month::try_from(d[5..7].parse::<u8>().unwrap()).unwrap(),
        d[8..10].parse().unwrap(),
    )
    .unwrap();
    let orig = time::macros::date!(2024 - 02 - 29);
    assert!((day - orig).whole_days().abs() <= 30, "{d}");
    let int = mask_str(&m, "-42");
    assert!(int.parse::<i64>().is_ok(), "integers stay integers: {int}");
    assert_eq!(mask_str(&m, "infinity"), "infinity");
    assert_eq!(mask_str(&m, "NaN"), "NaN");
    let e = err("[[rule]]\ncolumn = \"x\"\nmasker = \"noise\"\n");
    assert!(e.starts_with("r.toml:3: masker `noise` needs"), "{e}");
}

/// Random JSON documents: scalars (strings with escapes and non-ASCII, integers),
/// arrays and objects whose keys are often `a`, `b` or `k"\` so paths hit at several depths.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        // (Floats are left out: serde_json's own float parsing does not always round-trip.)
        "[a-z@. \"\\\\\u{e9}\u{1F600}\n]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 40, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec(
                (
                    prop_oneof![
                        Just("a".to_string()),
                        Just("b".to_string()),
                        Just("k\"\\".to_string()),
                        "[a-z]{1,3}"
                    ],
                    inner
                ),
                0..5
            )
            .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// What the `json` masker with `paths = ["$.a", "$.b[*]", "$.*.a"]`, `action = "null"` should give.
fn expected_nulls(v: &serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    let mut v = v.clone();
    // `.*` is any key of an object or any index of an array.
    let children: Vec<&mut Value> = match &mut v {
        Value::Object(m) => m.values_mut().collect(),
        Value::Array(a) => a.iter_mut().collect(),
        _ => Vec::new(),
    };
    for child in children {
        if let Value::Object(cm) = child {
            if let Some(a) = cm.get_mut("a") {
                *a = Value::Null;
            }
        }
    }
    if let Value::Object(m) = &mut v {
        match m.get_mut("b") {
            Some(Value::Array(items)) => items.iter_mut().for_each(|i| *i = Value::Null),
            Some(Value::Object(o)) => o.values_mut().for_each(|i| *i = Value::Null),
            _ => {}
        }
        if let Some(a) = m.get_mut("a") {
            *a = Value::Null;
        }
    }
    v
}

proptest! {
    #[test]
    fn json_masker_replaces_exactly_the_paths(doc in json_value(), pretty in any::<bool>()) {
        let m = masker("masker = \"json\"\npaths = [\"$.a\", \"$.b[*]\", \"$.*.a\"]\naction = \"null\"");
        let text = if pretty {
            serde_json::to_string_pretty(&doc).unwrap()
        } else {
            serde_json::to_string(&doc).unwrap()
        };
        let out = mask_str(&m, &text);
        let parsed: serde_json::Value = serde_json::from_str(&out).expect("output is JSON");
        prop_assert_eq!(parsed, expected_nulls(&doc));
        // A document the paths do not touch comes back byte for byte.
        if expected_nulls(&doc) == doc {
            prop_assert_eq!(out, text);
        }
    }
}
