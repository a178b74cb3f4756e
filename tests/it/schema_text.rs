//! Personal data in the schema text (issue 14), against the real pgveil binary and PostgreSQL: the
//! masked artifacts (NAME.anon.gz and the masked archive) have email addresses and phones scrubbed
//! from COMMENT text, and only there (a function body, a default and a constraint keep theirs);
//! both restore; `scan` reports what remains in the schema text, a finding in a comment as a leak.

use crate::support;

use std::path::Path;

use serde_json::Value;
use support::{pgveil, run};

fn scan_json(artifact: &Path, rules: &Path) -> (Option<i32>, Value) {
    let out = run(
        pgveil()
            .arg("scan")
            .arg(artifact)
            .arg("--rules")
            .arg(rules)
            .arg("--json"),
        None,
    );
    let v = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out.status.code(), v)
}

/// `(entry, category, in_comment)` of a scan's schema findings.
fn schema_findings(report: &Value) -> Vec<(String, String, bool)> {
    let mut v: Vec<_> = report["schema"]
        .as_array()
        .expect("schema findings")
        .iter()
        .map(|f| {
            (
                f["entry"].as_str().unwrap().to_string(),
                f["category"].as_str().unwrap().to_string(),
                f["in_comment"].as_bool().unwrap(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn comments_are_scrubbed_in_the_masked_artifacts_and_nothing_else() {
    let c = support::cluster();
    let db = c.create_db("schema_text");
    c.psql(
        &db,
        "CREATE TABLE staff (id int PRIMARY KEY,
                             email text DEFAULT 'ops@corp.example'
                                   CHECK (email <> 'root@corp.example'));
         INSERT INTO staff VALUES (1, 'ann@x.org');
         CREATE FUNCTION helpdesk() RETURNS text LANGUAGE sql AS $$SELECT 'fn@corp.example'$$;
         COMMENT ON TABLE staff IS 'data owner: dpo@corp.example, call +33 5 62 02 97 93';
         COMMENT ON COLUMN staff.email IS E'O''Brien\\'s list: bob@y.org\\nno phone';
         COMMENT ON FUNCTION helpdesk() IS 'plain text, 2024';",
    );
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("r.toml");
    std::fs::write(
        &rules,
        "[[rule]]\ncolumn = \"id\"\nmasker = \"keep\"\n\n[[rule]]\ncolumn = \"email\"\nmasker = \"email\"\n",
    )
    .unwrap();
    let out = run(
        pgveil()
            .args([
                "dump",
                "--name",
                "s",
                "--custom-data",
                "anon",
                "--dbname",
                &db,
            ])
            .arg("--out-dir")
            .arg(dir.path())
            .arg("--rules")
            .arg(&rules),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let anon = String::from_utf8(support::gunzip(
        &std::fs::read(dir.path().join("s.anon.gz")).unwrap(),
    ))
    .unwrap();
    let full = String::from_utf8(support::gunzip(
        &std::fs::read(dir.path().join("s.gz")).unwrap(),
    ))
    .unwrap();
    for gone in ["dpo@corp.example", "62 02 97", "bob@y.org"] {
        assert!(
            !anon.contains(gone),
            "{gone} left in the masked dump:\n{anon}"
        );
        assert!(full.contains(gone), "the full dump keeps {gone}");
    }
    // Function bodies, defaults and constraints keep their meaning.
    for kept in [
        "ops@corp.example",
        "root@corp.example",
        "fn@corp.example",
        "plain text, 2024",
    ] {
        assert!(
            anon.contains(kept),
            "{kept} missing from the masked dump:\n{anon}"
        );
    }
    let expected = "data owner: nobody@example.com, call +00 0 00 00 00 00|O'Brien's list: nobody@example.com\nno phone";
    let comments = "SELECT obj_description('staff'::regclass, 'pg_class') || '|' || col_description('staff'::regclass, 2)";

    // Both masked artifacts restore, with the scrubbed comments.
    let restored = c.create_db("schema_text_anon");
    c.psql_bytes(&restored, &support::restrict_free(anon.as_bytes()));
    assert_eq!(c.psql(&restored, comments).trim_end(), expected);
    let from_archive = c.create_db("schema_text_archive");
    let out = run(
        c.command("pg_restore")
            .args(["--no-owner", "-d", &from_archive])
            .arg(dir.path().join("s.dump")),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(c.psql(&from_archive, comments).trim_end(), expected);

    // scan: the masked artifacts have nothing left in comments; the rest is reported as kept.
    for artifact in ["s.anon.gz", "s.dump"] {
        let (code, report) = scan_json(&dir.path().join(artifact), &rules);
        assert_eq!(code, Some(0), "{artifact}: {report}");
        let found = schema_findings(&report);
        assert!(found.iter().all(|f| !f.2), "{artifact}: {found:?}");
        assert!(
            found.contains(&("FUNCTION helpdesk()".into(), "email".into(), false)),
            "{artifact}: {found:?}"
        );
        assert!(
            found.contains(&("TABLE staff".into(), "email".into(), false)),
            "{artifact}: {found:?}"
        );
    }
    // The full dump's comments are leaks for a masked artifact: scan says so and exits 1.
    let (code, report) = scan_json(&dir.path().join("s.gz"), &rules);
    assert_eq!(code, Some(1), "{report}");
    let in_comments: Vec<_> = schema_findings(&report)
        .into_iter()
        .filter(|f| f.2)
        .collect();
    assert_eq!(
        in_comments,
        vec![
            ("COMMENT COLUMN staff.email".into(), "email".into(), true),
            ("COMMENT TABLE staff".into(), "email".into(), true),
            ("COMMENT TABLE staff".into(), "phone".into(), true),
        ]
    );
}
