//! End-to-end tests of the rules tooling against a real PostgreSQL cluster:
//! - `pgveil rules check --dbname DB | --input DUMP [--rules FILE]... [--json]` lists every data column
//!   with its deciding rule and fails naming the columns no rule covers;
//! - `pgveil rules init --dbname DB` prints a rule file that loads and passes `rules check`;
//! - `pgveil scan ARTIFACT [--rules FILE]... [--json]` finds planted values in an unmasked dump and
//!   fails, and finds none in the masked one;
//! - keyed pseudonyms: joins through masked keys keep their counts, UNIQUE masked columns restore,
//!   the same key gives the same output on every run, another key a different one.

use crate::support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use support::{cluster, pgveil, run};

fn fixture_db() -> String {
    cluster().load_fixture("rules_tools")
}

fn rules_file() -> PathBuf {
    support::fixtures_dir().join("rules_tools.toml")
}

fn describe(out: &Output) -> String {
    format!(
        "status: {}\n--- stderr ---\n{}\n--- stdout (first 3000 bytes) ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(3000)])
    )
}

fn pgveil_out(args: &[&str]) -> Output {
    run(pgveil().args(args), None)
}

fn json_of(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", describe(out)))
}

/// `(schema, table, column)` triples of a JSON array of columns.
fn triples(v: &Value) -> BTreeSet<(String, String, String)> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("schema"), s("table"), s("column"))
        })
        .collect()
}

/// The data columns of a database, straight from the catalog (generated columns carry no data).
fn catalog_columns(db: &str) -> BTreeSet<(String, String, String)> {
    cluster()
        .psql(
            db,
            "SELECT c.table_schema || '|' || c.table_name || '|' || c.column_name \
             FROM information_schema.columns c JOIN information_schema.tables t \
               USING (table_schema, table_name) \
             WHERE t.table_type = 'BASE TABLE' AND c.is_generated = 'NEVER' \
               AND c.table_schema NOT IN ('pg_catalog', 'information_schema');",
        )
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| {
            let mut p = l.splitn(3, '|').map(str::to_string);
            (p.next().unwrap(), p.next().unwrap(), p.next().unwrap())
        })
        .collect()
}

fn plain_dump_file(db: &str, dir: &Path) -> PathBuf {
    let path = dir.join("source.sql");
    std::fs::write(&path, cluster().pg_dump(db, &["--no-owner", "--no-acl"])).unwrap();
    path
}

fn line_of(file: &Path, needle: &str) -> usize {
    let text = std::fs::read_to_string(file).unwrap();
    1 + text
        .lines()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("{needle:?} not in {}", file.display()))
}

#[test]
fn check_names_exactly_the_uncovered_column() {
    let db = fixture_db();
    let dir = tempfile::tempdir().unwrap();
    let dump = plain_dump_file(&db, dir.path());
    let rules = rules_file();
    let expected: BTreeSet<_> = [(
        "CRM".to_string(),
        "Contacts".to_string(),
        "Secret Note".to_string(),
    )]
    .into();
    let wrong_rule_line = line_of(&rules, r#"column = "secret note""#) - 3;
    let schema_only = dir.path().join("schema.sql");
    std::fs::write(&schema_only, cluster().pg_dump(&db, &["--schema-only"])).unwrap();
    for source in [
        ["--dbname", db.as_str()],
        ["--input", dump.to_str().unwrap()],
        ["--input", schema_only.to_str().unwrap()],
    ] {
        let out = pgveil_out(&[
            "rules",
            "check",
            source[0],
            source[1],
            "--rules",
            rules.to_str().unwrap(),
            "--json",
        ]);
        assert!(
            !out.status.success(),
            "check must fail ({source:?})\n{}",
            describe(&out)
        );
        let report = json_of(&out);
        assert_eq!(report["ok"], Value::Bool(false));
        assert_eq!(
            triples(&report["unclassified"]),
            expected,
            "{source:?}: unclassified columns"
        );
        // The diff comes with a rule to add, naming the column exactly.
        let suggested = report["unclassified"][0]["suggested_rule"]
            .as_str()
            .unwrap();
        assert!(
            suggested.contains(r#"column = "Secret Note""#) && suggested.contains("masker = "),
            "{suggested}"
        );
        // Every data column is listed once (the generated column is not data).
        assert_eq!(
            triples(&report["columns"]),
            catalog_columns(&db),
            "{source:?}: listed columns"
        );
        // The mistyped exact rule is reported as naming a missing column, at its line.
        let missing: Vec<&str> = report["missing"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["rule"].as_str().unwrap())
            .collect();
        assert_eq!(
            missing,
            vec![format!("{}:{wrong_rule_line}", rules.display())],
            "{source:?}"
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(r#""CRM"."Contacts"."Secret Note""#),
            "stderr names the column: {stderr}"
        );
    }

    // Fixed rules (the real name, explicitly kept) pass, in text mode too.
    let fixed = dir.path().join("fixed.toml");
    let text = std::fs::read_to_string(&rules)
        .unwrap()
        .replace(r#"column = "secret note""#, r#"column = "Secret Note""#);
    std::fs::write(&fixed, text).unwrap();
    let out = pgveil_out(&[
        "rules",
        "check",
        "--dbname",
        &db,
        "--rules",
        fixed.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(r#""CRM"."Contacts"."Secret Note""#) && stdout.contains("null"),
        "{stdout}"
    );
}

#[test]
fn check_flags_sensitive_columns_that_are_kept_and_unused_rules() {
    let db = fixture_db();
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("lax.toml");
    std::fs::write(
        &rules,
        r#"
[[rule]]
table = "orders"
column = "note"
masker = "keep"

[[rule]]
table = "no_such_*"
column = "*"
masker = "null"

[[rule]]
column = "*"
masker = "email_scan"
"#,
    )
    .unwrap();
    let args = [
        "rules",
        "check",
        "--dbname",
        &db,
        "--rules",
        rules.to_str().unwrap(),
        "--json",
    ];
    let out = pgveil_out(&args);
    // Everything is covered: warnings only.
    assert!(out.status.success(), "{}", describe(&out));
    let report = json_of(&out);
    let kept: BTreeMap<String, BTreeSet<String>> = report["sensitive_kept"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let cats = c["kept_hints"]
                .as_array()
                .unwrap()
                .iter()
                .map(|h| h["category"].as_str().unwrap().to_string())
                .collect();
            (
                format!(
                    "{}.{}",
                    c["table"].as_str().unwrap(),
                    c["column"].as_str().unwrap()
                ),
                cats,
            )
        })
        .collect();
    // Kept outright although sampled values hold addresses and phone numbers.
    assert_eq!(
        kept.get("orders.note"),
        Some(&["email".to_string()].into()),
        "{kept:?}"
    );
    // email_scan does not remove phones, names, cards or IPs.
    assert!(kept["users.phone"].contains("phone"), "{kept:?}");
    assert!(kept["users.first_name"].contains("name"), "{kept:?}");
    assert!(kept["accounts.card_number"].contains("card"), "{kept:?}");
    assert!(kept["accounts.last_ip"].contains("ip"), "{kept:?}");
    assert!(kept["sessions.user_agent"].contains("ip"), "{kept:?}");
    // Columns whose addresses email_scan removes are not flagged.
    assert!(!kept.contains_key("users.email"), "{kept:?}");
    assert!(!kept.contains_key("orders.details"), "{kept:?}");
    let unused: Vec<&str> = report["unused_rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["table"].as_str().unwrap())
        .collect();
    assert_eq!(unused, vec!["no_such_*"]);

    let mut deny: Vec<&str> = args.to_vec();
    deny.push("--deny-warnings");
    assert!(!pgveil_out(&deny).status.success());
}

#[test]
fn init_scaffold_loads_and_passes_check() {
    let db = fixture_db();
    let dir = tempfile::tempdir().unwrap();
    let out = pgveil_out(&["rules", "init", "--dbname", &db]);
    assert!(out.status.success(), "{}", describe(&out));
    let path = dir.path().join("init.toml");
    std::fs::write(&path, &out.stdout).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let check = pgveil_out(&[
        "rules",
        "check",
        "--dbname",
        &db,
        "--rules",
        path.to_str().unwrap(),
        "--json",
        "--deny-warnings",
    ]);
    assert!(
        check.status.success(),
        "scaffold must pass check\n{}\n--- scaffold ---\n{text}",
        describe(&check)
    );
    let report = json_of(&check);
    let masker = |table: &str, column: &str| -> String {
        report["columns"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["table"] == table && c["column"] == column)
            .and_then(|c| c["masker"].as_str())
            .unwrap_or_else(|| panic!("{table}.{column} not in report"))
            .to_string()
    };
    // Guesses from names, types and values; keys get keyed forms.
    assert_eq!(masker("users", "email"), "email");
    assert_eq!(masker("users", "phone"), "phone");
    assert_eq!(masker("users", "first_name"), "name");
    assert_eq!(masker("orders", "note"), "email_scan");
    assert_eq!(masker("orders", "details"), "email_scan");
    assert_eq!(masker("Contacts", "E-Mail"), "email");
    assert_eq!(masker("orders", "placed_at"), "keep");
    assert_eq!(masker("users", "id"), "keep");
    assert_ne!(masker("accounts", "card_number"), "keep");
    assert_ne!(masker("accounts", "last_ip"), "keep");

    // The scaffold drives a real masked dump that restores.
    let out_dir = tempfile::tempdir().unwrap();
    let dump = pgveil_out(&[
        "dump",
        "--dbname",
        &db,
        "--out-dir",
        out_dir.path().to_str().unwrap(),
        "--name",
        "init",
        "--outputs",
        "anon",
        "--rules",
        path.to_str().unwrap(),
    ]);
    assert!(dump.status.success(), "{}", describe(&dump));
    let anon = support::gunzip(&std::fs::read(out_dir.path().join("init.anon.gz")).unwrap());
    let restored = cluster().create_db("init_restore");
    cluster().psql_bytes(&restored, &anon);
    assert_eq!(
        cluster().table_counts(&restored),
        cluster().table_counts(&db)
    );
}

/// `(table.column, category) → values` of a scan report.
fn findings(report: &Value) -> BTreeMap<(String, String), u64> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                (
                    format!(
                        "{}.{}",
                        f["table"].as_str().unwrap(),
                        f["column"].as_str().unwrap()
                    ),
                    f["category"].as_str().unwrap().to_string(),
                ),
                f["values"].as_u64().unwrap(),
            )
        })
        .collect()
}

fn count(db: &str, sql: &str) -> u64 {
    cluster().psql(db, sql).trim().parse().unwrap()
}

#[test]
fn scan_finds_planted_values_before_masking_and_none_after() {
    let db = fixture_db();
    let dir = tempfile::tempdir().unwrap();
    let dump = plain_dump_file(&db, dir.path());
    let out = pgveil_out(&["scan", dump.to_str().unwrap(), "--json"]);
    assert!(
        !out.status.success(),
        "unmasked emails are leaks under the default rules\n{}",
        describe(&out)
    );
    let report = json_of(&out);
    let found = findings(&report);
    let expect = |k: (&str, &str), sql: &str| {
        let want = count(&db, sql);
        assert!(want > 0, "fixture plants {k:?}");
        assert_eq!(
            found.get(&(k.0.to_string(), k.1.to_string())),
            Some(&want),
            "{k:?} in {found:?}"
        );
    };
    expect(("users.email", "email"), "SELECT count(*) FROM users");
    expect(
        ("orders.note", "email"),
        "SELECT count(*) FROM orders WHERE note LIKE '%@%'",
    );
    expect(
        ("orders.details", "email"),
        "SELECT count(*) FROM orders WHERE details::text LIKE '%@%'",
    );
    expect(
        ("orders.cc", "email"),
        "SELECT count(*) FROM orders WHERE cardinality(cc) > 0",
    );
    expect(
        ("accounts.card_number", "card"),
        "SELECT count(*) FROM accounts WHERE card_number IS NOT NULL",
    );
    expect(
        ("accounts.last_ip", "ip"),
        "SELECT count(*) FROM accounts WHERE last_ip IS NOT NULL",
    );
    expect(
        ("users.phone", "phone"),
        "SELECT count(*) FROM users WHERE phone IS NOT NULL",
    );
    // pg_dump's own custom format (zlib-compressed data blocks) reads the same.
    let fc = dir.path().join("source.dump");
    std::fs::write(&fc, cluster().pg_dump(&db, &["-Fc"])).unwrap();
    let out_fc = pgveil_out(&["scan", fc.to_str().unwrap(), "--json"]);
    assert!(!out_fc.status.success());
    assert_eq!(findings(&json_of(&out_fc)), found, "pg_dump -Fc vs plain");
    // No value is printed, only places.
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("shop.test"), "{text}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("public.orders.cc (email)"), "{stderr}");

    // The three artifacts of a masked dump with the fixture's rules (fixed: the real column name).
    let rules = fixed_rules(dir.path());
    let out_dir = dir.path().join("out");
    let d = pgveil_out(&[
        "dump",
        "--dbname",
        &db,
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--name",
        "shop",
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert!(d.status.success(), "{}", describe(&d));
    // The key never reaches an artifact, the manifest or the output.
    for entry in std::fs::read_dir(&out_dir).unwrap() {
        let path = entry.unwrap().path();
        let mut bytes = std::fs::read(&path).unwrap();
        if path.extension().is_some_and(|e| e == "gz") {
            bytes = support::gunzip(&bytes);
        }
        let key = support::TEST_KEY.as_bytes();
        assert!(
            !bytes.windows(key.len()).any(|w| w == key),
            "key found in {}",
            path.display()
        );
    }
    let all_output = [d.stdout.as_slice(), d.stderr.as_slice()].concat();
    assert!(!String::from_utf8_lossy(&all_output).contains(support::TEST_KEY));
    let scan = |file: &str| {
        let out = pgveil_out(&[
            "scan",
            out_dir.join(file).to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--json",
        ]);
        (out.status.success(), json_of(&out), out)
    };
    let (ok, anon, out) = scan("shop.anon.gz");
    assert!(ok, "{}", describe(&out));
    let anon_found = findings(&anon);
    assert!(
        anon_found.keys().all(|(_, cat)| cat != "email"),
        "no email survives masking: {anon_found:?}"
    );
    assert!(
        !anon_found.contains_key(&("accounts.card_number".into(), "card".into())),
        "{anon_found:?}"
    );
    assert_eq!(anon["leaks"], 0);
    assert!(anon["rows"].as_u64().unwrap() > 0);
    // The full artifacts are not clean; the custom archive reads the same data as the plain one.
    let (ok_plain, plain, _) = scan("shop.gz");
    let (ok_custom, custom, _) = scan("shop.dump");
    assert!(!ok_plain && !ok_custom);
    assert_eq!(findings(&plain), findings(&custom));
    assert_eq!(custom["format"], "custom");
    assert_eq!(
        found.get(&("users.email".into(), "email".into())),
        findings(&custom).get(&("users.email".into(), "email".into()))
    );
}

/// The fixture's rules with the slip fixed, written into `dir`.
fn fixed_rules(dir: &Path) -> PathBuf {
    let rules = dir.join("fixed.toml");
    std::fs::write(
        &rules,
        std::fs::read_to_string(rules_file())
            .unwrap()
            .replace(r#"column = "secret note""#, r#"column = "Secret Note""#),
    )
    .unwrap();
    rules
}

/// `pgveil dump --outputs anon` of `db` with `key`; returns the anonymized SQL (restrict lines dropped).
fn anon_dump(db: &str, rules: &Path, key: &str) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        pgveil()
            .env("PGVEIL_KEY", key)
            .args(["dump", "--outputs", "anon", "--name", "k", "--dbname", db])
            .arg("--out-dir")
            .arg(dir.path())
            .arg("--rules")
            .arg(rules),
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    support::restrict_free(&support::gunzip(
        &std::fs::read(dir.path().join("k.anon.gz")).unwrap(),
    ))
}

fn values(db: &str, sql: &str) -> Vec<String> {
    cluster()
        .psql(db, sql)
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn masked_keys_join_unique_columns_restore_and_the_key_decides_the_output() {
    let db = fixture_db();
    let dir = tempfile::tempdir().unwrap();
    let rules = fixed_rules(dir.path());
    const JOINS: [&str; 2] = [
        "SELECT count(*) FROM users u JOIN orders o ON o.user_email = u.email",
        "SELECT count(*) FROM accounts a JOIN sessions s ON s.login = a.login",
    ];
    let source_joins: Vec<u64> = JOINS.iter().map(|q| count(&db, q)).collect();
    assert!(source_joins.iter().all(|&n| n > 0));

    let a1 = anon_dump(&db, &rules, "key-A");
    let a2 = anon_dump(&db, &rules, "key-A");
    let b = anon_dump(&db, &rules, "key-B");
    assert!(
        a1 == a2,
        "same key, same input: byte-identical masked dumps"
    );

    let mut restored = Vec::new();
    for (name, dump) in [("key_a", &a1), ("key_b", &b)] {
        // psql with ON_ERROR_STOP: UNIQUE and FOREIGN KEY constraints are created after the data
        // and would fail the restore on a duplicate or dangling masked value.
        let r = cluster().create_db(name);
        cluster().psql_bytes(&r, dump);
        let joins: Vec<u64> = JOINS.iter().map(|q| count(&r, q)).collect();
        assert_eq!(joins, source_joins, "{name}: joins through masked keys");
        assert_eq!(
            count(&r, "SELECT count(DISTINCT email) FROM users"),
            count(&db, "SELECT count(*) FROM users"),
            "{name}: distinct addresses (including two differing only by case) stay distinct"
        );
        let originals: BTreeSet<String> = values(&db, "SELECT email FROM users")
            .into_iter()
            .chain(values(&db, "SELECT login FROM accounts"))
            .collect();
        let masked: BTreeSet<String> = values(&r, "SELECT email FROM users")
            .into_iter()
            .chain(values(&r, "SELECT login FROM accounts"))
            .collect();
        assert!(
            originals.is_disjoint(&masked),
            "{name}: no original key survives"
        );
        restored.push(r);
    }
    // A different key gives different pseudonyms for every key value.
    for q in [
        "SELECT email FROM users ORDER BY id",
        "SELECT login FROM sessions ORDER BY id",
    ] {
        let (va, vb) = (values(&restored[0], q), values(&restored[1], q));
        assert_eq!(va.len(), vb.len());
        assert!(
            va.iter().zip(&vb).all(|(x, y)| x != y),
            "{q}: key A and key B agree somewhere"
        );
    }
}

/// A plain dump of the fixture with PostgreSQL Anonymizer's column labels added the way pg_dump
/// prints them (the test cluster has no `anon` provider, so they cannot come from a real database).
fn dump_with_labels(db: &str, labels: &[(&str, &str, &str)]) -> Vec<u8> {
    let dump = String::from_utf8(cluster().pg_dump(db, &["--no-owner", "--no-acl"])).unwrap();
    let mut entries = String::new();
    for (schema, target, label) in labels {
        let tag = target.split_once('.').map(|(_, c)| c).unwrap_or(target);
        entries.push_str(&format!(
            "--\n-- Name: COLUMN {tag}; Type: SECURITY LABEL; Schema: {schema}; Owner: -\n--\n\n\
             SECURITY LABEL FOR anon ON COLUMN {target} IS '{}';\n\n\n",
            label.replace('\'', "''")
        ));
    }
    let at = dump.find("--\n-- Data for Name: ").expect("data entries");
    let mut out = dump[..at].to_string();
    out.push_str(&entries);
    out.push_str(&dump[at..]);
    out.into_bytes()
}

/// `table.column → masker` for the columns decided by rules whose location starts with `prefix`.
fn decided_by(report: &Value, prefix: &str) -> BTreeMap<String, String> {
    report["columns"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["rule"].as_str().is_some_and(|r| r.starts_with(prefix)))
        .map(|c| {
            (
                format!(
                    "{}.{}",
                    c["table"].as_str().unwrap(),
                    c["column"].as_str().unwrap()
                ),
                c["masker"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[test]
fn security_labels_become_rules_and_unknown_functions_are_errors() {
    let db = fixture_db();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("labelled.sql");
    std::fs::write(
        &input,
        dump_with_labels(
            &db,
            &[
                (
                    "public",
                    "public.users.email",
                    "MASKED WITH FUNCTION anon.fake_email()",
                ),
                (
                    "public",
                    "public.users.first_name",
                    "MASKED WITH FUNCTION anon.pseudo_first_name(first_name, 'salt')",
                ),
                (
                    "public",
                    "public.users.phone",
                    "MASKED WITH FUNCTION anon.partial(phone, 3, $$*$$, 2)",
                ),
                (
                    "public",
                    "public.orders.placed_at",
                    "MASKED WITH FUNCTION anon.dnoise(placed_at, '3 days'::interval)",
                ),
                (
                    "CRM",
                    r#""CRM"."Contacts"."Secret Note""#,
                    "MASKED WITH VALUE NULL",
                ),
                ("public", "public.users.city", "NOT MASKED"),
            ],
        ),
    )
    .unwrap();
    let out = pgveil_out(&["rules", "import-labels", "--input", input.to_str().unwrap()]);
    assert!(out.status.success(), "{}", describe(&out));
    let labels = dir.path().join("labels.toml");
    std::fs::write(&labels, &out.stdout).unwrap();

    // The imported rules, ahead of the defaults, decide the labelled columns.
    let check = pgveil_out(&[
        "rules",
        "check",
        "--input",
        input.to_str().unwrap(),
        "--rules",
        labels.to_str().unwrap(),
        "--rules",
        support::manifest_dir()
            .join("rules/default.toml")
            .to_str()
            .unwrap(),
        "--json",
    ]);
    assert!(check.status.success(), "{}", describe(&check));
    let report = json_of(&check);
    let expected = BTreeMap::from([
        ("Contacts.Secret Note".to_string(), "null".to_string()),
        ("orders.placed_at".into(), "noise".into()),
        ("users.city".into(), "keep".into()),
        ("users.email".into(), "email".into()),
        ("users.first_name".into(), "name".into()),
        ("users.phone".into(), "partial".into()),
    ]);
    assert_eq!(decided_by(&report, labels.to_str().unwrap()), expected);
    // The same straight from the dump's labels, with `rules check --labels`.
    let direct = pgveil_out(&[
        "rules",
        "check",
        "--input",
        input.to_str().unwrap(),
        "--labels",
        "--json",
    ]);
    assert!(direct.status.success(), "{}", describe(&direct));
    assert_eq!(
        decided_by(&json_of(&direct), "security labels of "),
        expected
    );

    // Masking with them: restore (without the label statements: no `anon` provider here) and look.
    let anon = pgveil_out(&[
        "anonymize",
        input.to_str().unwrap(),
        "--rules",
        labels.to_str().unwrap(),
        "--rules",
        support::manifest_dir()
            .join("rules/default.toml")
            .to_str()
            .unwrap(),
    ]);
    assert!(anon.status.success(), "{}", describe(&anon));
    let sql: Vec<u8> = String::from_utf8(anon.stdout)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("SECURITY LABEL FOR anon"))
        .flat_map(|l| format!("{l}\n").into_bytes())
        .collect();
    let r = cluster().create_db("labels_restore");
    cluster().psql_bytes(&r, &support::restrict_free(&sql));
    assert_eq!(
        count(&r, r#"SELECT count("Secret Note") FROM "CRM"."Contacts""#),
        0
    );
    let phones = values(
        &r,
        "SELECT phone FROM users WHERE phone IS NOT NULL ORDER BY id",
    );
    let orig_phones = values(
        &db,
        "SELECT phone FROM users WHERE phone IS NOT NULL ORDER BY id",
    );
    assert_eq!(phones.len(), orig_phones.len());
    for (m, o) in phones.iter().zip(&orig_phones) {
        let n = o.chars().count();
        let want: String = o
            .chars()
            .take(3)
            .chain("*".repeat(n - 5).chars())
            .chain(o.chars().skip(n - 2))
            .collect();
        assert_eq!(m, &want);
    }
    let shifted = values(
        &r,
        "SELECT extract(epoch FROM placed_at)::bigint FROM orders ORDER BY id",
    );
    let original = values(
        &db,
        "SELECT extract(epoch FROM placed_at)::bigint FROM orders ORDER BY id",
    );
    let diffs: Vec<i64> = shifted
        .iter()
        .zip(&original)
        .map(|(a, b)| a.parse::<i64>().unwrap() - b.parse::<i64>().unwrap())
        .collect();
    // Moved within the range, in the column's own precision (not whole days: issue 14), and
    // never by 0.
    assert!(
        diffs.iter().all(|d| d.abs() <= 3 * 86_400 && *d != 0),
        "{diffs:?}"
    );
    assert!(diffs.iter().any(|d| d % 86_400 != 0), "{diffs:?}");

    // A function without a pgveil equivalent fails the import, naming the column and the line.
    let bad = dir.path().join("bad.sql");
    std::fs::write(
        &bad,
        dump_with_labels(
            &db,
            &[(
                "public",
                "public.accounts.card_number",
                "MASKED WITH FUNCTION anon.fake_iban()",
            )],
        ),
    )
    .unwrap();
    let out = pgveil_out(&["rules", "import-labels", "--input", bad.to_str().unwrap()]);
    assert!(!out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let line = line_of(&bad, "SECURITY LABEL FOR anon");
    assert!(
        stderr.contains(&format!(
            "line {line}: security label on public.accounts.card_number"
        )) && stderr.contains("fake_iban"),
        "{stderr}"
    );
}

#[test]
fn init_scaffold_of_pagila_drives_a_dump_that_restores() {
    scaffold_dump_restore_scan(&cluster().load_pagila(), "customer", "email");
}

#[test]
fn init_scaffold_of_chinook_drives_a_dump_that_restores() {
    scaffold_dump_restore_scan(&cluster().load_chinook(), "customer", "email");
}

/// `rules init` → `rules check` → `dump` with the scaffold → restore → same row counts, the email
/// column of `table` fully masked, and `scan` finds no leak.
fn scaffold_dump_restore_scan(db: &str, table: &str, email: &str) {
    let db = db.to_string();
    let dir = tempfile::tempdir().unwrap();
    let out = pgveil_out(&["rules", "init", "--dbname", &db]);
    assert!(out.status.success(), "{}", describe(&out));
    let rules = dir.path().join("pagila.toml");
    std::fs::write(&rules, &out.stdout).unwrap();
    let check = pgveil_out(&[
        "rules",
        "check",
        "--dbname",
        &db,
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert!(check.status.success(), "{}", describe(&check));
    let d = pgveil_out(&[
        "dump",
        "--dbname",
        &db,
        "--outputs",
        "anon",
        "--name",
        "p",
        "--out-dir",
        dir.path().to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert!(d.status.success(), "{}", describe(&d));
    let anon_path = dir.path().join("p.anon.gz");
    let anon = support::gunzip(&std::fs::read(&anon_path).unwrap());
    let r = cluster().create_db("pagila_init");
    cluster().psql_bytes(&r, &support::restrict_free(&anon));
    assert_eq!(cluster().table_counts(&r), cluster().table_counts(&db));
    // The scaffold masked the addresses, and scan agrees the artifact is clean.
    assert_eq!(
        count(
            &r,
            &format!("SELECT count(*) FROM {table} WHERE {email} NOT LIKE 'nobody%@example.com'")
        ),
        0
    );
    assert!(count(&r, &format!("SELECT count({email}) FROM {table}")) > 0);
    let scan = pgveil_out(&[
        "scan",
        anon_path.to_str().unwrap(),
        "--rules",
        rules.to_str().unwrap(),
    ]);
    assert!(scan.status.success(), "{}", describe(&scan));
}

#[test]
fn scan_of_edge_cases_finds_every_address_and_none_after_default_masking() {
    let db = cluster().load_fixture("edge_cases");
    let dir = tempfile::tempdir().unwrap();
    let d = pgveil_out(&[
        "dump",
        "--dbname",
        &db,
        "--out-dir",
        dir.path().to_str().unwrap(),
        "--name",
        "e",
    ]);
    assert!(d.status.success(), "{}", describe(&d));
    let plain = dir.path().join("e.gz");
    let out = pgveil_out(&["scan", plain.to_str().unwrap(), "--json"]);
    assert!(!out.status.success(), "{}", describe(&out));
    let report = json_of(&out);
    let tables_with_addresses: BTreeSet<String> = findings(&report)
        .keys()
        .filter(|(_, c)| c == "email")
        .map(|(t, _)| t.split('.').next().unwrap().to_string())
        .collect();
    // The custom archive holds the same data: the same findings.
    let custom = pgveil_out(&[
        "scan",
        dir.path().join("e.dump").to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(findings(&json_of(&custom)), findings(&report));
    // Quoted, mixed-case tables and partitions included.
    for t in [
        "Customer Contacts",
        "users",
        "orders",
        "events_2023",
        "events_2024",
    ] {
        assert!(
            tables_with_addresses.contains(t),
            "{t} in {tables_with_addresses:?}"
        );
    }
    let out = pgveil_out(&[
        "scan",
        dir.path().join("e.anon.gz").to_str().unwrap(),
        "--json",
    ]);
    // The default rules mask addresses only: the people's names stay, and scan reports them as
    // leaks of the columns email_scan masked (exit 1). No address is left.
    let report = json_of(&out);
    let f = findings(&report);
    assert!(f.keys().all(|(_, c)| c != "email"), "{f:?}");
    let leaks: BTreeSet<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["verdict"] == "leak")
        .map(|f| f["category"].as_str().unwrap())
        .collect();
    assert_eq!(leaks, BTreeSet::from(["name"]), "{}", describe(&out));
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
}

/// `dump --labels` and `anonymize --labels` mask as the dump's security labels say, ahead of the
/// default rules; without `--labels` the labels are ignored; stdin cannot give them.
#[test]
fn dump_and_anonymize_apply_security_labels() {
    let db = fixture_db();
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("labelled.sql");
    std::fs::write(
        &input,
        dump_with_labels(
            &db,
            &[
                ("public", "public.users.city", "MASKED WITH VALUE NULL"),
                (
                    "public",
                    "public.users.last_name",
                    "MASKED WITH VALUE 'Doe'",
                ),
            ],
        ),
    )
    .unwrap();
    let restored_cities = |anon: &[u8], label: &str| {
        let target = cluster().create_db(label);
        // The masked output holds no label (they would need PostgreSQL Anonymizer's provider): it
        // restores as it is, stopping at the first error.
        assert!(!String::from_utf8_lossy(anon).contains("SECURITY LABEL"));
        cluster().psql_bytes(&target, anon);
        let v = values(&target, "SELECT DISTINCT coalesce(city, '<null>') || '|' || last_name FROM public.users ORDER BY 1");
        cluster().drop_db(&target);
        v
    };

    let dump = |extra: &[&str], name: &str| {
        let out = run(
            pgveil()
                .args(["dump", "--outputs", "anon", "--name", name, "--input"])
                .arg(&input)
                .arg("--out-dir")
                .arg(dir.path())
                .args(extra),
            None,
        );
        assert!(out.status.success(), "{}", describe(&out));
        support::gunzip(&std::fs::read(dir.path().join(format!("{name}.anon.gz"))).unwrap())
    };
    let labelled = dump(&["--labels"], "with");
    assert_eq!(
        restored_cities(&labelled, "labels_on"),
        vec!["<null>|Doe".to_string()]
    );
    // The default rules still apply to the other columns.
    assert!(!String::from_utf8_lossy(&labelled).contains("@shop.test"));
    let plain = dump(&[], "without");
    assert!(restored_cities(&plain, "labels_off").len() > 1);

    let out = run(pgveil().arg("anonymize").arg(&input).arg("--labels"), None);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        restored_cities(&out.stdout, "labels_filter"),
        vec!["<null>|Doe".to_string()]
    );
    let out = run(
        pgveil().args(["anonymize", "-", "--labels"]),
        Some(&std::fs::read(&input).unwrap()),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stdin"),
        "{}",
        describe(&out)
    );
}

/// A database that uses PostgreSQL Anonymizer: pg_dump writes the `anon` extension, its security
/// labels (the masking policy) and the saved data of its configuration tables, among them
/// `anon.secret`, the salt of its hashing functions. The full artifacts keep all of it; the masked
/// ones leave it out (as the extension's own anonymous dumps do), so they restore, stopping at the
/// first error, on a server without the extension, and carry neither the policy nor the salt.
#[test]
fn masked_artifacts_leave_out_postgresql_anonymizer_and_its_secret() {
    let db = fixture_db();
    let dir = tempfile::tempdir().unwrap();
    let labelled = String::from_utf8(dump_with_labels(
        &db,
        &[("public", "public.users.city", "MASKED WITH VALUE NULL")],
    ))
    .unwrap();
    // The entries pg_dump writes for the extension, where it writes them: the extension among the
    // first pre-data entries, its configuration data first among the data.
    let extension =
        "--\n-- Name: anon; Type: SCHEMA; Schema: -; Owner: -\n--\n\nCREATE SCHEMA anon;\n\n\n\
        --\n-- Name: anon; Type: EXTENSION; Schema: -; Owner: -\n--\n\n\
        CREATE EXTENSION IF NOT EXISTS anon WITH SCHEMA anon;\n\n\n\
        --\n-- Name: EXTENSION anon; Type: COMMENT; Schema: -; Owner: \n--\n\n\
        COMMENT ON EXTENSION anon IS 'Data anonymization tools';\n\n\n";
    let config_data = "--\n-- Data for Name: secret; Type: TABLE DATA; Schema: anon; Owner: -\n--\n\n\
        COPY anon.secret (param, value) FROM stdin;\nsalt\tpepper-7f3a9c\nalgorithm\tsha512\n\\.\n\n\n";
    let first_entry = labelled.find("--\n-- Name: ").unwrap();
    let first_data = labelled.find("--\n-- Data for Name: ").unwrap();
    let input = [
        &labelled[..first_entry],
        extension,
        &labelled[first_entry..first_data],
        config_data,
        &labelled[first_data..],
    ]
    .concat();
    let input_path = dir.path().join("with-anon.sql");
    std::fs::write(&input_path, &input).unwrap();
    let policy_markers = [
        "CREATE EXTENSION IF NOT EXISTS anon",
        "COMMENT ON EXTENSION anon",
        "SECURITY LABEL FOR anon",
        "pepper-7f3a9c",
    ];

    let out_dir = dir.path().join("out");
    let d = pgveil_out(&[
        "dump",
        "--input",
        input_path.to_str().unwrap(),
        "--out-dir",
        out_dir.to_str().unwrap(),
        "--name",
        "shop",
    ]);
    assert!(d.status.success(), "{}", describe(&d));
    let full = support::gunzip(&std::fs::read(out_dir.join("shop.gz")).unwrap());
    let masked = support::gunzip(&std::fs::read(out_dir.join("shop.anon.gz")).unwrap());
    let (full, masked) = (
        String::from_utf8_lossy(&full),
        String::from_utf8_lossy(&masked),
    );
    for marker in policy_markers {
        assert!(full.contains(marker), "the full artifact keeps {marker:?}");
        assert!(
            !masked.contains(marker),
            "the masked artifact leaves out {marker:?}"
        );
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out_dir.join("shop.manifest.json")).unwrap())
            .unwrap();
    // The extension, its comment, the one label, the configuration data.
    assert_eq!(manifest["left_out_of_masked"], 4, "{manifest}");

    let target = cluster().create_db("anon_free");
    cluster().psql_bytes(&target, masked.as_bytes());
    assert_eq!(
        cluster().table_counts(&target),
        cluster().table_counts(&db),
        "every table of the source, every row"
    );
    cluster().drop_db(&target);

    // The custom archive with masked data leaves out the same entries and restores with
    // --exit-on-error; with full data it lists them all.
    let listing = |archive: &Path| {
        let out = support::run_ok(
            cluster().command("pg_restore").arg("-l").arg(archive),
            None,
            "pg_restore -l",
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let full_listing = listing(&out_dir.join("shop.dump"));
    for item in [
        "EXTENSION - anon",
        "COMMENT - EXTENSION anon",
        "SECURITY LABEL public COLUMN users.city",
        "TABLE DATA anon secret",
    ] {
        assert!(full_listing.contains(item), "{item} in\n{full_listing}");
    }
    let anon_dir = dir.path().join("anon-archive");
    let d = pgveil_out(&[
        "dump",
        "--input",
        input_path.to_str().unwrap(),
        "--outputs",
        "custom",
        "--custom-data",
        "anon",
        "--out-dir",
        anon_dir.to_str().unwrap(),
        "--name",
        "shop",
    ]);
    assert!(d.status.success(), "{}", describe(&d));
    let anon_archive = anon_dir.join("shop.dump");
    let anon_listing = listing(&anon_archive);
    for item in ["EXTENSION", "SECURITY LABEL", "anon secret"] {
        assert!(!anon_listing.contains(item), "{item} in\n{anon_listing}");
    }
    let target = cluster().create_db("anon_free_archive");
    support::run_ok(
        cluster()
            .command("pg_restore")
            .args(["--exit-on-error", "-d", &target])
            .arg(&anon_archive),
        None,
        "pg_restore --exit-on-error",
    );
    assert_eq!(cluster().table_counts(&target), cluster().table_counts(&db));
    cluster().drop_db(&target);
}

/// A rule naming a table (no wildcard) that the dump does not hold fails the dump at the end of the
/// pass, naming the rule's file and line and the table, and publishes nothing; the same rule set
/// passes once the table is there. Each pass judges its own coverage: the rule set keeps no state
/// between the two runs of one process (checked in `mask::tests`), and here across processes.
#[test]
fn dump_fails_naming_a_rule_whose_table_never_appears() {
    let c = cluster();
    let db = c.create_db("rules_missing_table");
    c.psql(
        &db,
        "CREATE TABLE public.users (id int PRIMARY KEY, email text);\
         INSERT INTO public.users VALUES (1, 'ann@corp.example.org');",
    );
    let dump = c.pg_dump(&db, &[]);
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("r.toml");
    let dump_with = |rules_text: &str, name: &str| {
        std::fs::write(&rules, rules_text).unwrap();
        let out_dir = dir.path().join(name);
        std::fs::create_dir(&out_dir).unwrap();
        let out = run(
            pgveil()
                .args(["dump", "--input", "-", "--name", name, "--out-dir"])
                .arg(&out_dir)
                .arg("--rules")
                .arg(&rules),
            Some(&dump),
        );
        let files: Vec<String> = std::fs::read_dir(&out_dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        (out, files)
    };
    let (out, files) = dump_with(
        "[[rule]]\nschema = \"public\"\ntable = \"users\"\ncolumn = \"email\"\nmasker = \"email\"\n\n\
         [[rule]]\nschema = \"public\"\ntable = \"userz\"\ncolumn = \"*\"\nmasker = \"null\"\n",
        "typo",
    );
    assert!(!out.status.success(), "succeeded\n{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!(
            "rule at {}:7 names table public.userz, which does not appear in the dump",
            rules.display()
        )),
        "{}",
        describe(&out)
    );
    assert!(files.is_empty(), "published {files:?}");
    let (out, files) = dump_with(
        "[[rule]]\nschema = \"public\"\ntable = \"users\"\ncolumn = \"email\"\nmasker = \"email\"\n",
        "fixed",
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(files.iter().any(|f| f == "fixed.anon.gz"), "{files:?}");
    c.drop_db(&db);
}
