//! Personal data by value (issue 14), against the real pgveil binary on crafted plain dumps:
//! - an honest `scan`: a finding in a masked column is a leak unless the column's masker writes
//!   look-alike values of that kind by design; a phone left by `email_scan` is a leak (exit 1);
//!   the summary separates leaks, look-alikes and findings in kept columns.

mod support;

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
