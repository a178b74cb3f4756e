//! Fail-closed `scan` and masked views (issue 11, items 10, 11, 13, 15, 16), against the real
//! pgveil binary, pg_dump, pg_restore and psql on the throwaway cluster of `tests/it/support`:
//! - a custom archive whose data block cannot be read where its TOC entry says (a damaged block
//!   id, as pg_restore reports "found unexpected block ID") is an error naming the table, never a
//!   clean report; an archive written to a pipe (offsets not set) is read sequentially;
//! - a field spanning many reads is scanned whole;
//! - pgveil's own keyed pseudonyms `nobody+<hex>@example.com` are not card findings;
//! - the masked artifacts leave out PostgreSQL Anonymizer's settings (`anon.*`, preload lists
//!   naming `anon`) and the security labels of its providers, statement by statement, and still
//!   restore with `ON_ERROR_STOP`.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Output;

use serde_json::Value;
use support::{cluster, pgveil, run, run_ok};

fn describe(out: &Output) -> String {
    format!(
        "status: {}\n--- stderr ---\n{}\n--- stdout (first 3000 bytes) ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(3000)])
    )
}

fn scan(path: &Path) -> Output {
    run(
        pgveil().args(["scan", path.to_str().unwrap(), "--json"]),
        None,
    )
}

/// (table.column, category) → values of a scan's JSON report.
fn findings(out: &Output) -> Vec<(String, String, u64)> {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", describe(out)));
    let mut f: Vec<(String, String, u64)> = v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                format!(
                    "{}.{}",
                    f["table"].as_str().unwrap(),
                    f["column"].as_str().unwrap()
                ),
                f["category"].as_str().unwrap().to_string(),
                f["values"].as_u64().unwrap(),
            )
        })
        .collect();
    f.sort();
    f
}

/// A database with two tables of addresses (3 in `people`, 2 in `staff`).
fn people_db() -> String {
    let c = cluster();
    let db = c.create_db("fc_scan");
    c.psql(
        &db,
        "CREATE TABLE people (id int PRIMARY KEY, email text);
         INSERT INTO people VALUES (1, 'ann@corp.org'), (2, 'bob@corp.org'), (3, 'cy@corp.org');
         CREATE TABLE staff (id int PRIMARY KEY, email text);
         INSERT INTO staff VALUES (1, 'dee@corp.org'), (2, 'eve@corp.org');",
    );
    db
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Overwrite the dump id of the data block of `table` with `id` (the block starts with its type
/// byte, then the id as an Int: a sign byte and `int_size` little-endian bytes).
fn patch_block_id(path: &Path, table: &str, id: i32) -> i32 {
    let a = pgveil::archive::read_archive(path).unwrap();
    let e = a
        .entries
        .iter()
        .find(|e| e.desc == "TABLE DATA" && e.tag == table)
        .unwrap();
    let block = a.blocks[&e.dump_id];
    let mut bytes = std::fs::read(path).unwrap();
    let at = block.position as usize + 2;
    bytes[at..at + 4].copy_from_slice(&id.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
    e.dump_id
}

#[test]
fn a_block_whose_id_no_longer_matches_its_entry_is_an_error_naming_the_table() {
    let c = cluster();
    let db = people_db();
    let dir = tempfile::tempdir().unwrap();
    // Written to a file, pg_dump records each entry's data offset.
    let good = dir.path().join("good.dump");
    c.pg_dump(&db, &["-Fc", "-f", good.to_str().unwrap()]);
    let listing = run_ok(pgveil().arg("inspect").arg(&good), None, "pgveil inspect");
    assert!(
        !String::from_utf8_lossy(&listing.stdout).contains("offset not set"),
        "{}",
        String::from_utf8_lossy(&listing.stdout)
    );
    let sound = scan(&good);
    assert!(!sound.status.success(), "addresses are leaks");
    assert_eq!(
        findings(&sound),
        vec![
            ("people.email".into(), "email".into(), 3),
            ("staff.email".into(), "email".into(), 2)
        ]
    );

    // An id no entry has.
    let damaged = write(dir.path(), "damaged.dump", &std::fs::read(&good).unwrap());
    let id = patch_block_id(&damaged, "people", 30000);
    let restore = run(
        c.command("pg_restore").arg("-f").arg("-").arg(&damaged),
        None,
    );
    assert!(
        !restore.status.success()
            && String::from_utf8_lossy(&restore.stderr).contains("found unexpected block ID"),
        "pg_restore sees the damage: {}",
        describe(&restore)
    );
    let out = scan(&damaged);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        err.contains(&format!("TOC entry {id} (TABLE DATA public.people)"))
            && err.contains("damaged"),
        "{err}"
    );
    assert!(out.stdout.is_empty(), "no report: {}", describe(&out));

    // The id of another table's entry: two blocks claim it.
    let swapped = write(dir.path(), "swapped.dump", &std::fs::read(&good).unwrap());
    let staff_id = {
        let a = pgveil::archive::read_archive(&good).unwrap();
        a.entries
            .iter()
            .find(|e| e.desc == "TABLE DATA" && e.tag == "staff")
            .unwrap()
            .dump_id
    };
    patch_block_id(&swapped, "people", staff_id);
    let out = scan(&swapped);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(err.contains("TABLE DATA public.people"), "{err}");
    c.drop_db(&db);
}

#[test]
fn an_archive_written_to_a_pipe_is_scanned_and_checked_sequentially() {
    let c = cluster();
    let db = people_db();
    let dir = tempfile::tempdir().unwrap();
    // `pg_dump -Fc | cat > file`: pg_dump cannot seek back, so no entry records its offset.
    let mut dump = c.command("pg_dump");
    dump.args(["-Fc", "-d", &db]);
    let piped = run_ok(&mut dump, None, "pg_dump -Fc to a pipe").stdout;
    let piped = write(dir.path(), "piped.dump", &piped);
    let listing = run_ok(pgveil().arg("inspect").arg(&piped), None, "pgveil inspect");
    let listing = String::from_utf8_lossy(&listing.stdout);
    assert!(
        listing.contains("TABLE DATA public people") && listing.contains("offset not set"),
        "{listing}"
    );
    let out = scan(&piped);
    assert!(
        !out.status.success(),
        "addresses are leaks: {}",
        describe(&out)
    );
    assert_eq!(
        findings(&out),
        vec![
            ("people.email".into(), "email".into(), 3),
            ("staff.email".into(), "email".into(), 2)
        ]
    );
    // Damaged without offsets: still an error naming the table.
    let id = patch_block_id(&piped, "staff", 30001);
    let out = scan(&piped);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        err.contains(&format!("TOC entry {id} (TABLE DATA public.staff)")),
        "{err}"
    );
    c.drop_db(&db);
}

#[test]
fn a_field_spanning_many_reads_is_scanned_whole() {
    let c = cluster();
    let db = c.create_db("fc_scan_huge");
    // One 6 MB field (many 1 MiB buffer fills, many 4 KiB archive chunks) with an address at its
    // end, then a short row with another.
    c.psql(
        &db,
        "CREATE TABLE notes (id int, body text);
         INSERT INTO notes VALUES
           (1, repeat('lorem ipsum ', 500000) || ' write to zed@corp.org'),
           (2, 'or to amy@corp.org');",
    );
    let dir = tempfile::tempdir().unwrap();
    for (name, args) in [("z.dump", &["-Fc"][..]), ("raw.dump", &["-Fc", "-Z0"][..])] {
        let path = write(dir.path(), name, &c.pg_dump(&db, args));
        let out = scan(&path);
        assert_eq!(
            findings(&out),
            vec![("notes.body".into(), "email".into(), 2)],
            "{name}: {}",
            describe(&out)
        );
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["rows"], 2, "{name}");
    }
    c.drop_db(&db);
}

#[test]
fn keyed_pseudonyms_that_look_like_card_numbers_are_not_findings() {
    let c = cluster();
    let db = c.create_db("fc_scan_card");
    // 4111111111111111 passes the Luhn check: a keyed tag of 16 decimal digits does now and then.
    c.psql(
        &db,
        "CREATE TABLE members (id int, email text UNIQUE, note text);
         INSERT INTO members VALUES
           (1, 'nobody+4111111111111111@example.com', 'mail nobody+4111111111111111@example.com.'),
           (2, 'nobody+0123456789abcdef@example.com', 'paid with 4111 1111 1111 1111');",
    );
    let dir = tempfile::tempdir().unwrap();
    let plain = write(dir.path(), "members.sql", &c.pg_dump(&db, &[]));
    let fc = write(dir.path(), "members.dump", &c.pg_dump(&db, &["-Fc"]));
    for path in [plain, fc] {
        let out = scan(&path);
        assert_eq!(
            findings(&out),
            vec![("members.note".into(), "card".into(), 1)],
            "only the real card number: {}",
            describe(&out)
        );
    }
    c.drop_db(&db);
}

/// `pg_restore -C -f -` of an archive: the SQL it would run.
fn restore_script(archive: &Path) -> String {
    let out = run_ok(
        cluster()
            .command("pg_restore")
            .args(["-C", "-f", "-"])
            .arg(archive),
        None,
        "pg_restore -C -f -",
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn the_masked_archive_leaves_out_the_extension_settings_of_the_database() {
    let c = cluster();
    let db = people_db();
    let role = c.unique_name("fc_scan_role");
    c.psql(
        &db,
        &format!(
            "CREATE ROLE {role};
             ALTER DATABASE {db} SET \"anon.salt\" TO 'pepper;salt';
             ALTER DATABASE {db} SET \"anon.masking_policies\" TO 'devtests';
             ALTER DATABASE {db} SET work_mem TO '8MB';
             ALTER ROLE {role} IN DATABASE {db} SET \"anon.salt\" TO 'role salt';
             ALTER ROLE {role} IN DATABASE {db} SET search_path TO 'public';"
        ),
    );
    let dir = tempfile::tempdir().unwrap();
    let dump = |custom_data: &str| {
        let out_dir = dir.path().join(custom_data);
        run_ok(
            pgveil().args([
                "dump",
                "--dbname",
                &db,
                "--out-dir",
                out_dir.to_str().unwrap(),
                "--name",
                "shop",
                "--outputs",
                "custom",
                "--custom-data",
                custom_data,
            ]),
            None,
            "pgveil dump",
        );
        restore_script(&out_dir.join("shop.dump"))
    };
    let masked = dump("anon");
    assert!(!masked.contains("anon."), "{masked}");
    assert!(!masked.contains("salt"), "{masked}");
    assert!(
        masked.contains(&format!("ALTER DATABASE {db} SET work_mem TO '8MB';"))
            && masked.contains(&format!(
                "ALTER ROLE {role} IN DATABASE {db} SET search_path TO 'public';"
            )),
        "other settings stay: {masked}"
    );
    let full = dump("full");
    assert!(
        full.contains(&format!(
            "ALTER DATABASE {db} SET \"anon.salt\" TO 'pepper;salt';"
        )) && full.contains(&format!(
            "ALTER ROLE {role} IN DATABASE {db} SET \"anon.salt\" TO 'role salt';"
        )),
        "the full archive is a backup: {full}"
    );
    c.drop_db(&db);
    c.psql("postgres", &format!("DROP ROLE {role}"));
}

/// pg_dump's header block of an entry.
fn header(name: &str, desc: &str, schema: &str) -> String {
    format!("--\n-- Name: {name}; Type: {desc}; Schema: {schema}; Owner: postgres\n--\n\n")
}

#[test]
fn the_masked_artifacts_of_a_plain_dump_leave_out_the_extension_settings_and_its_providers_labels()
{
    let c = cluster();
    let db = people_db();
    c.psql(
        &db,
        &format!(
            "ALTER DATABASE {db} SET \"anon.salt\" TO 'pepper;salt';
             ALTER DATABASE {db} SET \"anon.masking_policies\" TO 'devtests';
             ALTER DATABASE {db} SET work_mem TO '8MB';"
        ),
    );
    let original = String::from_utf8(c.pg_dump(&db, &["--create"])).unwrap();
    c.drop_db(&db);
    // What PostgreSQL Anonymizer adds, which no server without it can hold: a preload setting
    // (a database naming a missing library cannot be connected to) and the labels of its
    // providers, several in one entry as pg_dump writes them (a label is a literal that may
    // hold `;` and newlines; the entry does not start with `anon`'s label).
    let work_mem = format!("ALTER DATABASE {db} SET work_mem TO '8MB';\n");
    assert!(original.contains(&work_mem), "{original}");
    let preload =
        format!("ALTER DATABASE {db} SET session_preload_libraries TO 'anon', 'auto_explain';\n");
    let labels = format!(
        "{}SECURITY LABEL FOR k_anonymity ON COLUMN public.people.email IS 'INDIRECT IDENTIFIER';\n\
         SECURITY LABEL FOR anon ON COLUMN public.people.email IS 'MASKED WITH VALUE ''x;\n\
         SECURITY LABEL FOR sepgsql ON TABLE t IS ''y''';\n\
         SECURITY LABEL FOR devtests ON COLUMN public.people.email IS \
         'MASKED WITH FUNCTION anon.fake_email()';\n\n\n",
        header("COLUMN people.email", "SECURITY LABEL", "public")
    );
    let data = "--\n-- Data for Name: people; Type: TABLE DATA;";
    assert!(original.contains(data));
    let crafted = original
        .replacen(&work_mem, &format!("{work_mem}{preload}"), 1)
        .replacen(data, &format!("{labels}{data}"), 1);
    let dir = tempfile::tempdir().unwrap();
    let input = write(dir.path(), "crafted.sql", crafted.as_bytes());
    let out_dir = dir.path().join("out");
    run_ok(
        pgveil().args([
            "dump",
            "--input",
            input.to_str().unwrap(),
            "--out-dir",
            out_dir.to_str().unwrap(),
            "--name",
            "shop",
            "--custom-data",
            "anon",
        ]),
        None,
        "pgveil dump --input",
    );
    let read = |f: &str| {
        String::from_utf8(support::gunzip(&std::fs::read(out_dir.join(f)).unwrap())).unwrap()
    };
    let full = read("shop.gz");
    let masked = read("shop.anon.gz");
    let archive = restore_script(&out_dir.join("shop.dump"));
    for gone in [
        "SECURITY LABEL",
        "k_anonymity",
        "INDIRECT IDENTIFIER",
        "anon.salt",
        "anon.masking_policies",
        "session_preload_libraries",
    ] {
        assert!(full.contains(gone), "the full dump keeps {gone}");
        assert!(
            !masked.contains(gone),
            "the masked dump has {gone}:\n{masked}"
        );
        assert!(
            !archive.contains(gone),
            "the masked archive has {gone}:\n{archive}"
        );
    }
    assert!(masked.contains(&work_mem), "{masked}");
    assert!(archive.contains(&work_mem), "{archive}");
    // The masked dump restores on a server without the extension (it creates the database).
    c.psql_bytes("postgres", masked.as_bytes());
    let settings = c.psql(
        "postgres",
        &format!(
            "SELECT array_to_string(setconfig, ',') FROM pg_db_role_setting s \
             JOIN pg_database d ON d.oid = s.setdatabase WHERE d.datname = '{db}'"
        ),
    );
    assert_eq!(settings.trim(), "work_mem=8MB");
    assert_eq!(c.psql(&db, "SELECT count(*) FROM people").trim(), "3");
    // The full one does not restore here: it preloads `anon`, and its labels need the providers.
    c.drop_db(&db);
    let restore = run(
        c.command("psql").args([
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            "postgres",
            "-f",
            "-",
        ]),
        Some(full.as_bytes()),
    );
    assert!(!restore.status.success(), "{}", describe(&restore));
    c.drop_db(&db);
}
