//! Unit tests of each masker's output through the public rule API (a one-rule file planned for one
//! column), and properties across maskers (outputs survive COPY escaping, no address survives
//! `email_scan`, `json` keeps the rest of a document).

use super::*;

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
    assert!(
        crate::mask::maskers::name::tests_lists()
            .0
            .contains(&v.as_str()),
        "{v}"
    );
    let last = masker("masker = \"name\"\nkind = \"last\"\nlocale = \"de\"");
    let v = mask_str(&last, "Lee");
    assert!(
        crate::mask::maskers::name::tests_lists()
            .1
            .contains(&v.as_str()),
        "{v}"
    );
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
    assert_eq!(moved, 200, "values always move");
    let other = masker_with(
        "masker = \"noise\"\nrange = 100",
        col("c"),
        Key::from_bytes(b"other"),
    );
    assert_ne!(mask_str(&other, "10000.50"), mask_str(&m, "10000.50"));
    let d = mask_str(&m, "2024-02-29 10:30:00+00");
    // The time of day moves too (in whole seconds: the value shows no fraction); the zone stays.
    assert!(
        d.ends_with("+00") && d.len() == 22 && d != "2024-02-29 10:30:00+00",
        "{d}"
    );
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
