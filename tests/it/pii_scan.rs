//! Personal data by value (issue 14), against the real pgveil binary on crafted plain dumps:
//! - an honest `scan`: a finding in a masked column is a leak unless the column's masker writes
//!   look-alike values of that kind by design; a phone left by `email_scan` is a leak (exit 1);
//!   the summary separates leaks, look-alikes and findings in kept columns;
//! - the `pii_scan` masker scrubs phones, addresses, cards and IPs from free text, jsonb values and
//!   arrays in a real dump, which restores, and `scan` finds no leak in it (with `email_scan`
//!   instead, it reports each kind left as a leak).

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use support::{pgveil, run};

fn describe(out: &Output) -> String {
    format!(
        "status: {}\n--- stderr ---\n{}\n--- stdout (first 3000 bytes) ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(3000)])
    )
}

/// A plain dump (as pg_dump writes it) of one table `public.contacts` with the given columns
/// (all `text`) and rows (tab-separated COPY text).
fn plain_dump(columns: &[&str], rows: &[&str]) -> String {
    let mut s = String::from(
        "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n\
         SET standard_conforming_strings = on;\n\n\
         --\n-- Name: contacts; Type: TABLE; Schema: public; Owner: -\n--\n\n\
         CREATE TABLE public.contacts (\n",
    );
    let defs: Vec<String> = columns.iter().map(|c| format!("    {c} text")).collect();
    s.push_str(&defs.join(",\n"));
    s.push_str("\n);\n\n\n--\n-- Data for Name: contacts; Type: TABLE DATA; Schema: public; Owner: -\n--\n\n");
    s.push_str(&format!(
        "COPY public.contacts ({}) FROM stdin;\n",
        columns.join(", ")
    ));
    for r in rows {
        s.push_str(r);
        s.push('\n');
    }
    s.push_str("\\.\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n");
    s
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn scan(artifact: &Path, rules: &Path, json: bool) -> Output {
    let mut cmd = pgveil();
    cmd.arg("scan").arg(artifact).arg("--rules").arg(rules);
    if json {
        cmd.arg("--json");
    }
    run(&mut cmd, None)
}

/// `(column, category) → (values, verdict)` of a scan's JSON report.
fn verdicts(out: &Output) -> Vec<(String, String, u64, String)> {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", describe(out)));
    let mut f: Vec<_> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["column"].as_str().unwrap().to_string(),
                f["category"].as_str().unwrap().to_string(),
                f["values"].as_u64().unwrap(),
                f["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    f.sort();
    f
}

const NOTE: &str = "call +33 5 62 02 97 93 or write to ann@x.test";

#[test]
fn a_phone_left_in_a_column_email_scan_masked_is_a_leak() {
    let dir = tempfile::tempdir().unwrap();
    // The anonymized form of a notes column masked by email_scan: the address is gone, the phone
    // is still there.
    let masked_note = NOTE.replace("ann@x.test", "nobody@example.com");
    let dump = write(
        dir.path(),
        "c.anon.sql",
        &plain_dump(
            &["id", "notes"],
            &[&format!("1\t{masked_note}"), "2\tnothing here"],
        ),
    );
    let rules = write(
        dir.path(),
        "r.toml",
        "[[rule]]\ncolumn = \"notes\"\nmasker = \"email_scan\"\n\n\
         [[rule]]\ncolumn = \"id\"\nmasker = \"keep\"\n",
    );
    let out = scan(&dump, &rules, true);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert_eq!(
        verdicts(&out),
        vec![("notes".into(), "phone".into(), 1, "leak".into())]
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["leaks"], 1);
    let text = scan(&dump, &rules, false);
    assert_eq!(text.status.code(), Some(1));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("LEAK") && stdout.contains("1 leak(s), 0 look-alike(s), 0 in kept columns"),
        "{stdout}"
    );
    let stderr = String::from_utf8_lossy(&text.stderr);
    assert!(stderr.contains("public.contacts.notes (phone)"), "{stderr}");
    // The report names places, never values.
    assert!(
        !stdout.contains("62 02") && !stderr.contains("62 02"),
        "{stdout}{stderr}"
    );
}

#[test]
fn the_summary_separates_leaks_look_alikes_and_kept_columns() {
    let dir = tempfile::tempdir().unwrap();
    let dump = write(
        dir.path(),
        "c.anon.sql",
        &plain_dump(
            &["id", "phone", "memo", "ip", "card"],
            &[
                // `phone` writes phones and the constant of `ip` is an address (look-alikes),
                // `memo` is kept, `card` should have been nulled (a leak).
                "1\t+44 20 7946 1234\tcall +44 20 7946 0958\t10.1.2.3\t4111 1111 1111 1111",
                "2\t+44 20 7946 9876\t\\N\t10.1.2.3\t\\N",
            ],
        ),
    );
    let rules = write(
        dir.path(),
        "r.toml",
        "[[rule]]\ncolumn = \"phone\"\nmasker = \"phone\"\n\n\
         [[rule]]\ncolumn = \"memo\"\nmasker = \"keep\"\n\n\
         [[rule]]\ncolumn = \"ip\"\nmasker = \"constant\"\nvalue = \"10.1.2.3\"\n\n\
         [[rule]]\ncolumn = \"card\"\nmasker = \"null\"\n",
    );
    let out = scan(&dump, &rules, true);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let v = |c: &str, k: &str, n: u64, verdict: &str| (c.into(), k.into(), n, verdict.into());
    assert_eq!(
        verdicts(&out),
        vec![
            v("card", "card", 1, "leak"),
            v("ip", "ip", 2, "look_alike"),
            v("memo", "phone", 1, "kept"),
            v("phone", "phone", 2, "look_alike"),
        ]
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&report["leaks"], &report["look_alikes"], &report["kept"]),
        (&Value::from(1), &Value::from(2), &Value::from(1))
    );
    let text = scan(&dump, &rules, false);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("4 finding(s): 1 leak(s), 2 look-alike(s), 1 in kept columns"),
        "{stdout}"
    );
}

/// A database whose `tickets.notes` mixes phones and addresses in free text, `tickets.payload`
/// holds them in jsonb, and `tickets.tags` in an array.
fn tickets_db() -> String {
    let c = support::cluster();
    let db = c.create_db("pii_scan");
    c.psql(
        &db,
        "CREATE TABLE tickets (id int PRIMARY KEY, notes text, payload jsonb, tags text[]);
         INSERT INTO tickets
         SELECT i,
                format('call +33 5 62 02 97 %s or write to ann%s@x.test', lpad(i::text, 2, '0'), i),
                jsonb_build_object('contact', format('+44 20 7946 %s', lpad(i::text, 4, '0')),
                                   'seen', format('from 10.0.0.%s', i)),
                ARRAY[format('bob%s@y.test', i), '4111 1111 1111 1111']
         FROM generate_series(1, 40) AS i;",
    );
    db
}

/// `pgveil dump --outputs anon` of `db` with `rules`; returns NAME.anon.gz's path.
fn anon_dump(db: &str, rules: &Path, dir: &Path) -> PathBuf {
    let out = run(
        pgveil()
            .args(["dump", "--outputs", "anon", "--name", "t", "--dbname", db])
            .arg("--out-dir")
            .arg(dir)
            .arg("--rules")
            .arg(rules),
        None,
    );
    assert!(out.status.success(), "{}", describe(&out));
    dir.join("t.anon.gz")
}

#[test]
fn pii_scan_scrubs_free_text_json_and_arrays_and_scan_agrees() {
    let db = tickets_db();
    let dir = tempfile::tempdir().unwrap();
    let rules = write(
        dir.path(),
        "r.toml",
        "[[rule]]\ncolumn = \"id\"\nmasker = \"keep\"\n\n\
         [[rule]]\ncolumn = \"*\"\nmasker = \"pii_scan\"\n",
    );
    let anon = anon_dump(&db, &rules, dir.path());
    let text = String::from_utf8(support::gunzip(&std::fs::read(&anon).unwrap())).unwrap();
    for gone in ["62 02 97", "7946", "@x.test", "@y.test", "4111", "10.0.0."] {
        assert!(!text.contains(gone), "{gone} left in\n{text}");
    }
    // Everything else byte for byte.
    let row1 = text.lines().find(|l| l.starts_with("1\t")).expect("row 1");
    assert_eq!(
        row1,
        "1\tcall +00 0 00 00 00 00 or write to nobody@example.com\t\
         {\"seen\": \"from 192.0.2.1\", \"contact\": \"+00 00 0000 0000\"}\t\
         {nobody@example.com,\"0000 0000 0000 0000\"}"
    );
    // The masked dump restores (jsonb and arrays still valid) and scan finds no leak.
    let restored = support::cluster().create_db("pii_scan_restored");
    support::cluster().psql_bytes(
        &restored,
        &support::restrict_free(&support::gunzip(&std::fs::read(&anon).unwrap())),
    );
    assert_eq!(
        support::cluster()
            .psql(
                &restored,
                "SELECT count(*) FROM tickets WHERE notes LIKE '%+00 0 00%'"
            )
            .trim(),
        "40"
    );
    let out = scan(&anon, &rules, true);
    assert!(out.status.success(), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["leaks"], 0, "{report}");
    // With email_scan instead, the phones, cards and IPs stay, and scan says so.
    let email_rules = write(
        dir.path(),
        "e.toml",
        "[[rule]]\ncolumn = \"id\"\nmasker = \"keep\"\n\n\
         [[rule]]\ncolumn = \"*\"\nmasker = \"email_scan\"\n",
    );
    let dir2 = tempfile::tempdir().unwrap();
    let anon2 = anon_dump(&db, &email_rules, dir2.path());
    let out = scan(&anon2, &email_rules, true);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let leaks: Vec<_> = verdicts(&out)
        .into_iter()
        .filter(|v| v.3 == "leak")
        .map(|v| (v.0, v.1))
        .collect();
    let s = |a: &str, b: &str| (a.to_string(), b.to_string());
    assert_eq!(
        leaks,
        vec![
            s("notes", "phone"),
            s("payload", "ip"),
            s("payload", "phone"),
            s("tags", "card"),
        ]
    );
}

/// User agents carry version strings (`Chrome/120.0.6099.109`, `Firefox/121.0.1.2`): not IP
/// addresses, for `rules init`, `rules check` and `scan` alike; an address in a URL still is.
#[test]
fn version_strings_in_user_agents_are_not_ip_addresses() {
    let dir = tempfile::tempdir().unwrap();
    let dump = write(
        dir.path(),
        "ua.sql",
        &plain_dump(
            &["id", "user_agent", "client"],
            &[
                "1\tMozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.6099.109 Safari/537.36\tfrom 10.1.2.3",
                "2\tMozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0.1.2\thttp://192.168.1.20/admin",
                "3\tMyApp/5.0.1.2 (iOS 17.1.2)\tfrom 10.1.2.4",
                "4\tcurl/7.68.0.1\tfrom 10.1.2.5",
            ],
        ),
    );
    let init = run(pgveil().args(["rules", "init", "--input"]).arg(&dump), None);
    assert!(init.status.success(), "{}", describe(&init));
    let scaffold = String::from_utf8(init.stdout.clone()).unwrap();
    let rule_of = |column: &str| {
        let at = scaffold
            .find(&format!("column = \"{column}\""))
            .unwrap_or_else(|| panic!("{column} in\n{scaffold}"));
        scaffold[at..]
            .lines()
            .nth(1)
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(rule_of("user_agent"), "masker = \"keep\"", "{scaffold}");
    assert_ne!(rule_of("client"), "masker = \"keep\"", "{scaffold}");
    // rules check: keeping the user agents raises no warning.
    let rules = write(
        dir.path(),
        "r.toml",
        "[[rule]]\ncolumn = \"client\"\nmasker = \"pii_scan\"\n\n\
         [[rule]]\ncolumn = \"*\"\nmasker = \"keep\"\n",
    );
    let check = run(
        pgveil()
            .args(["rules", "check", "--deny-warnings", "--input"])
            .arg(&dump)
            .arg("--rules")
            .arg(&rules),
        None,
    );
    assert!(check.status.success(), "{}", describe(&check));
    // scan: the addresses of `client` are found, nothing in `user_agent`.
    let out = scan(&dump, &rules, true);
    let columns: Vec<(String, String)> = verdicts(&out).into_iter().map(|v| (v.0, v.1)).collect();
    assert_eq!(
        columns,
        vec![("client".into(), "ip".into())],
        "{}",
        describe(&out)
    );
}
