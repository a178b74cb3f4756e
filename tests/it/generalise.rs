//! Generalisation maskers for quasi-identifiers (issue 14), against the real pgveil binary and a
//! real PostgreSQL: a table dumped with `generalize_date`, `bucket`, `prefix`, `round_point` and
//! `noise` rules restores with psql and holds the coarsened values; `noise` on timestamps and
//! dates never gives back the original.

use crate::support;

use std::path::{Path, PathBuf};

use support::{pgveil, run};

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// `pgveil dump --outputs anon` of `db` with `rules`, restored into a new database (returned).
fn dump_and_restore(db: &str, rules: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let rules = write(dir.path(), "r.toml", rules);
    let out = run(
        pgveil()
            .args(["dump", "--outputs", "anon", "--name", "g", "--dbname", db])
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
    let anon = std::fs::read(dir.path().join("g.anon.gz")).unwrap();
    let restored = support::cluster().create_db("generalise_restored");
    support::cluster().psql_bytes(&restored, &support::restrict_free(&support::gunzip(&anon)));
    restored
}

#[test]
fn generalised_columns_restore_with_the_coarse_values() {
    let c = support::cluster();
    let db = c.create_db("generalise");
    c.psql(
        &db,
        "SET TIME ZONE 'Asia/Kolkata';
         CREATE TABLE people (id int PRIMARY KEY, dob date, seen timestamptz, logged timestamp(3),
                              age int, salary numeric(10,2), postal text, home point,
                              lat numeric(9,6));
         INSERT INTO people VALUES
           (1, '1987-06-14', '2024-03-17 08:12:55.25+05:30', '2024-03-17 08:12:55.123', 37,
            52123.75, '75014', '(2.2945,48.8584)', 48.858400),
           (2, '2001-12-31', '1999-01-01 00:00:00+00', '1999-12-31 23:59:59', -3,
            -0.01, 'SW1A 1AA', '(-122.4194,37.7749)', -33.868800);",
    );
    let restored = dump_and_restore(
        &db,
        "[[rule]]\ncolumn = \"dob\"\nmasker = \"generalize_date\"\nto = \"year\"\n\n\
         [[rule]]\ncolumn = \"seen\"\nmasker = \"generalize_date\"\nto = \"month\"\n\n\
         [[rule]]\ncolumn = \"logged\"\nmasker = \"generalize_date\"\nto = \"month\"\n\n\
         [[rule]]\ncolumn = \"age\"\nmasker = \"bucket\"\nwidth = 10\n\n\
         [[rule]]\ncolumn = \"salary\"\nmasker = \"bucket\"\nwidth = 1000\n\n\
         [[rule]]\ncolumn = \"postal\"\nmasker = \"prefix\"\nkeep = 2\n\n\
         [[rule]]\ncolumn = \"home\"\nmasker = \"round_point\"\ndecimals = 1\n\n\
         [[rule]]\ncolumn = \"lat\"\nmasker = \"round_point\"\ndecimals = 2\n",
    );
    let rows = c.psql(
        &restored,
        "SET TIME ZONE 'UTC'; SELECT id, dob, seen, logged, age, salary, postal, home, lat
         FROM people ORDER BY id",
    );
    // The dump prints timestamptz in the server's zone (UTC here): the month of that instant,
    // at midnight of that zone.
    assert_eq!(
        rows.trim(),
        "\
         1|1987-01-01|2024-03-01 00:00:00+00|2024-03-01 00:00:00|30|52000.00|75000|(2.3,48.9)|48.860000\n\
         2|2001-01-01|1999-01-01 00:00:00+00|1999-12-01 00:00:00|-10|-1000.00|SW0X 0XX|(-122.4,37.8)|-33.870000"
    );
}

/// Issue 14: `dnoise(created_at, '1 day')` imported as `days = 1` left about half the timestamps
/// exactly as they were (the offset was rounded to whole days).
#[test]
fn noise_of_one_day_changes_every_timestamp_and_date() {
    let c = support::cluster();
    let db = c.create_db("generalise_noise");
    c.psql(
        &db,
        "CREATE TABLE events (id int PRIMARY KEY, at timestamptz, at0 timestamp(0), day date);
         INSERT INTO events
         SELECT i, timestamptz '2024-01-01 00:00:00+00' + i * interval '37 minutes 13.5 seconds',
                timestamp '2024-01-01 00:00:00' + i * interval '1 hour 7 seconds',
                date '2024-01-01' + i
         FROM generate_series(1, 300) AS i;",
    );
    let restored = dump_and_restore(
        &db,
        "[[rule]]\ncolumn = \"at\"\nmasker = \"noise\"\ndays = 1\n\n\
         [[rule]]\ncolumn = \"at0\"\nmasker = \"noise\"\ndays = 1\n\n\
         [[rule]]\ncolumn = \"day\"\nmasker = \"noise\"\ndays = 1\n",
    );
    // The masked rows next to the originals (same cluster, so through a copy of the originals).
    let original = c.psql(&db, "COPY events TO STDOUT");
    c.psql_bytes(
        &restored,
        format!("CREATE TABLE orig (LIKE events);\nCOPY orig FROM STDIN;\n{original}\\.\n")
            .as_bytes(),
    );
    let same = c.psql(
        &restored,
        "SELECT count(*) FILTER (WHERE e.at = o.at), count(*) FILTER (WHERE e.at0 = o.at0),
                count(*) FILTER (WHERE e.day = o.day),
                max(abs(extract(epoch FROM e.at - o.at))) <= 86400,
                max(abs(extract(epoch FROM e.at0 - o.at0))) <= 86400,
                max(abs(e.day - o.day)), count(*)
         FROM events e JOIN orig o USING (id)",
    );
    assert_eq!(same.trim(), "0|0|0|t|t|1|300");
}

/// `rules/scrub-free-text.toml` (issue 14): passes `rules check`, and a dump with it has phones,
/// addresses, cards and IPs scrubbed from text, jsonb and arrays (which restore), numbers and
/// dates untouched, and `scan` finds no leak.
#[test]
fn the_scrub_free_text_rule_set_masks_every_kind_in_text_columns() {
    let c = support::cluster();
    let db = c.create_db("scrub_free_text");
    c.psql(
        &db,
        "CREATE TABLE tickets (id int PRIMARY KEY, subject varchar(200), notes text, payload jsonb,
                               tags text[], amount numeric(10,2), opened date);
         INSERT INTO tickets
         SELECT i, format('from 10.0.0.%s', i),
                format('call +33 5 62 02 97 %s or write to ann%s@x.test, SSN 123-45-6789',
                       lpad(i::text, 2, '0'), i),
                jsonb_build_object('mac', '00:1a:2b:3c:4d:5e', 'at', '48.8584, 2.2945'),
                ARRAY['4111 1111 1111 1111', 'DE89370400440532013000'], 12.50, date '2024-01-15'
         FROM generate_series(1, 20) AS i;",
    );
    let rules = support::manifest_dir().join("rules/scrub-free-text.toml");
    let out = run(
        pgveil()
            .args(["rules", "check", "--dbname", &db])
            .arg("--rules")
            .arg(&rules),
        None,
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        pgveil()
            .args(["dump", "--outputs", "anon", "--name", "s", "--dbname", &db])
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
    let anon_path = dir.path().join("s.anon.gz");
    let anon = String::from_utf8(support::gunzip(&std::fs::read(&anon_path).unwrap())).unwrap();
    for gone in [
        "10.0.0.",
        "62 02 97",
        "@x.test",
        "123-45-6789",
        "1a:2b",
        "48.8584",
        "4111",
        "DE89",
    ] {
        assert!(!anon.contains(gone), "{gone} left in\n{anon}");
    }
    let restored = c.create_db("scrub_free_text_restored");
    c.psql_bytes(&restored, &support::restrict_free(anon.as_bytes()));
    assert_eq!(
        c.psql(
            &restored,
            "SELECT subject, notes, payload->>'mac', tags[2], amount, opened FROM tickets WHERE id = 1"
        )
        .trim_end(),
        "from 192.0.2.1|call +00 0 00 00 00 00 or write to nobody@example.com, SSN 000-00-0000|\
         00:00:5e:00:53:00|DE00000000000000000000|12.50|2024-01-15"
    );
    let out = run(
        pgveil()
            .arg("scan")
            .arg(&anon_path)
            .arg("--rules")
            .arg(&rules)
            .arg("--json"),
        None,
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["leaks"], 0, "{report}");
    assert!(out.status.success());
}

/// `scan` counts the new kinds (issue 14): MAC addresses, national ids with a check and
/// coordinate pairs in a column the rules keep are reported as kept findings of their category;
/// in a column `email_scan` masks they are leaks; `pii_scan` leaves none.
#[test]
fn scan_reports_macs_national_ids_and_coordinates() {
    let dir = tempfile::tempdir().unwrap();
    let dump = dir.path().join("d.sql");
    std::fs::write(
        &dump,
        "--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\n\
         SET standard_conforming_strings = on;\n\n\
         --\n-- Name: devices; Type: TABLE; Schema: public; Owner: -\n--\n\n\
         CREATE TABLE public.devices (\n    id integer,\n    kept text,\n    masked text,\n    scrubbed text\n);\n\n\n\
         --\n-- Data for Name: devices; Type: TABLE DATA; Schema: public; Owner: -\n--\n\n\
         COPY public.devices (id, kept, masked, scrubbed) FROM stdin;\n\
         1\tmac 00:1a:2b:3c:4d:5e\tNIR 1 85 05 78 006 084 91\tat 48.8584, 2.2945\n\
         2\tDNI 12345678Z at 48.8584, 2.2945\tmac 00-1A-2B-3C-4D-5E\tSSN 123-45-6789 mac 001a.2b3c.4d5e\n\
         \\.\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n",
    )
    .unwrap();
    let rules = dir.path().join("r.toml");
    std::fs::write(
        &rules,
        "[[rule]]\ncolumn = \"id\"\nmasker = \"keep\"\n\n[[rule]]\ncolumn = \"kept\"\nmasker = \"keep\"\n\n\
         [[rule]]\ncolumn = \"masked\"\nmasker = \"email_scan\"\n\n\
         [[rule]]\ncolumn = \"scrubbed\"\nmasker = \"pii_scan\"\n",
    )
    .unwrap();
    let scan = |artifact: &Path| {
        let out = run(
            pgveil()
                .arg("scan")
                .arg(artifact)
                .arg("--rules")
                .arg(&rules)
                .arg("--json"),
            None,
        );
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let mut found: Vec<(String, String, String)> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| {
                let s = |k: &str| f[k].as_str().unwrap().to_string();
                (s("column"), s("category"), s("verdict"))
            })
            .collect();
        found.sort();
        (out.status.code(), found)
    };
    let t = |c: &str, k: &str, v: &str| (c.to_string(), k.to_string(), v.to_string());
    let (code, found) = scan(&dump);
    assert_eq!(code, Some(1));
    assert_eq!(
        found,
        vec![
            t("kept", "geo", "kept"),
            t("kept", "mac", "kept"),
            t("kept", "national_id", "kept"),
            t("masked", "mac", "leak"),
            t("masked", "national_id", "leak"),
            t("scrubbed", "geo", "leak"),
            t("scrubbed", "mac", "leak"),
            t("scrubbed", "national_id", "leak"),
        ]
    );
    // Masked with these rules: pii_scan's column is clean, email_scan's still leaks.
    let out = run(
        pgveil()
            .arg("anonymize")
            .arg(&dump)
            .arg("--output")
            .arg(dir.path().join("d.anon.sql"))
            .arg("--rules")
            .arg(&rules),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, found) = scan(&dir.path().join("d.anon.sql"));
    assert_eq!(code, Some(1));
    assert!(found.iter().all(|f| f.0 != "scrubbed"), "{found:?}");
    assert!(found.contains(&t("masked", "mac", "leak")), "{found:?}");
}
