//! `pg_dump … | pgveil anonymize --labels-from DB`: PostgreSQL Anonymizer's security labels read
//! from the database while the dump itself arrives on stdin (which cannot be read twice).
//!
//! The test cluster has no `anon` label provider, so `SECURITY LABEL FOR anon` cannot be run; the
//! label is written into `pg_seclabel` directly (a superuser may), which is what pg_dump reads.

use std::io::Write;
use std::process::{Output, Stdio};

use crate::support::{cluster, pgveil};

/// A database whose `people.email` carries `MASKED WITH VALUE 'hidden'`.
fn labelled_db() -> String {
    let c = cluster();
    let db = c.create_db("labels_from");
    c.psql(
        &db,
        "CREATE TABLE people (id int PRIMARY KEY, email text, city text);
         INSERT INTO people SELECT g, 'person' || g || '@corp.example', 'Lyon'
           FROM generate_series(1, 25) g;
         INSERT INTO pg_seclabel
           SELECT 'people'::regclass, 'pg_class'::regclass, attnum, 'anon',
                  'MASKED WITH VALUE ''hidden'''
           FROM pg_attribute WHERE attrelid = 'people'::regclass AND attname = 'email';",
    );
    db
}

/// `pg_dump DB | pgveil anonymize ARGS`.
fn piped(db: &str, args: &[&str]) -> Output {
    let dump = cluster()
        .command("pg_dump")
        .args(["--no-owner", "--no-acl", "-d", db])
        .output()
        .unwrap();
    assert!(dump.status.success());
    let mut child = pgveil()
        .arg("anonymize")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    // A refusal may come before the whole dump is read: a broken pipe is then expected.
    let _ = stdin.write_all(&dump.stdout);
    drop(stdin);
    child.wait_with_output().unwrap()
}

#[test]
fn labels_come_from_the_database_while_the_dump_comes_from_stdin() {
    let db = labelled_db();
    let out = piped(&db, &["--labels-from", &db]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("COPY public.people"))
        .skip(1)
        .take_while(|l| *l != "\\.")
        .collect();
    assert_eq!(rows.len(), 25, "{text}");
    // The label's value replaces every address; the unlabelled city stays.
    assert!(
        rows.iter()
            .all(|r| r.split('\t').nth(1) == Some("hidden") && r.ends_with("\tLyon")),
        "{rows:?}"
    );
    assert!(!text.contains("@corp.example"), "{text}");
    // The label itself belongs to the full dump only.
    assert!(!text.contains("SECURITY LABEL"), "{text}");

    // Without --labels-from, labels on stdin are refused with the way out.
    let refused = piped(&db, &["--labels"]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("cannot be read from stdin") && err.contains("--labels-from"),
        "{err}"
    );
    assert!(refused.stdout.is_empty());
}
