//! The dump reader fails closed (issue 11, items 1 and 2): COPY data is masked by the COPY statement
//! that psql would execute, wherever it sits in the stream; what cannot be attributed or parsed is an
//! error naming the line, and the custom archive never drops or writes raw a COPY it cannot place.
//!
//! Every case starts from real `pg_dump` output of a small database with e-mail addresses, edited
//! the way an attacker or an unlucky operator would, into SQL that psql restores.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

use support::{assert_no_original_emails, cluster, emails_in, gunzip, pgveil, run};

const FIXTURE: &str = r#"
CREATE TABLE public.t (id integer PRIMARY KEY, email text NOT NULL, note text);
INSERT INTO public.t SELECT i, 'user' || i || '@corp-mail.org', 'n' || i FROM generate_series(1, 300) i;
CREATE TABLE public.parent (id integer PRIMARY KEY, email text UNIQUE NOT NULL);
INSERT INTO public.parent SELECT i, 'owner' || i || '@corp-mail.org' FROM generate_series(1, 50) i;
CREATE TABLE public.child (id integer PRIMARY KEY, parent_email text NOT NULL);
INSERT INTO public.child SELECT i, 'owner' || (i % 50 + 1) || '@corp-mail.org' FROM generate_series(1, 100) i;
CREATE TABLE public.codes (code text);
INSERT INTO public.codes VALUES ('c1'), ('c2'), ('c3');
CREATE TABLE public.solo (email text);
ALTER TABLE public.child ADD CONSTRAINT child_parent_fk FOREIGN KEY (parent_email) REFERENCES public.parent (email);
CREATE FUNCTION public.f() RETURNS text LANGUAGE plpgsql AS $body$
BEGIN
RETURN '
COPY public.t (id, email, note) FROM stdin;
1	not-a-row	x
\.

--
-- Name: fake; Type: TABLE; Schema: public; Owner: -
--

';
END
$body$;
COMMENT ON TABLE public.t IS 'line one
--
-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: -
--
';
"#;

/// The fixture database (loaded once per process) and its `pg_dump --no-owner --no-acl` output.
fn fixture() -> &'static (String, String) {
    static F: OnceLock<(String, String)> = OnceLock::new();
    F.get_or_init(|| {
        let c = cluster();
        let db = c.create_db("fcreader");
        c.psql(&db, FIXTURE);
        let dump = c.pg_dump(&db, &["--no-owner", "--no-acl"]);
        (db, String::from_utf8(dump).expect("UTF-8 dump"))
    })
}

fn dump() -> &'static str {
    &fixture().1
}

fn describe(out: &Output) -> String {
    format!(
        "status: {}\n--- stderr ---\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    )
}

/// 1-based number of the first line equal to `line` (without newline), after `from` lines.
fn line_no(text: &str, line: &str, from: usize) -> usize {
    text.lines()
        .enumerate()
        .skip(from)
        .find(|(_, l)| *l == line)
        .unwrap_or_else(|| panic!("no line {line:?}"))
        .0
        + 1
}

fn write_input(dir: &Path, text: &[u8]) -> PathBuf {
    let path = dir.join("crafted.sql");
    std::fs::write(&path, text).unwrap();
    path
}

fn anonymize(input: &Path, output: &Path) -> Output {
    run(
        pgveil().arg("anonymize").arg(input).arg("-o").arg(output),
        None,
    )
}

fn dump_input(input: &Path, out_dir: &Path, outputs: &str) -> Output {
    run(
        pgveil()
            .args(["dump", "--input"])
            .arg(input)
            .arg("--out-dir")
            .arg(out_dir)
            .args(["--name", "x", "--outputs", outputs]),
        None,
    )
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Every command must fail on `text`, naming line `line`, and leave no file behind.
fn assert_fails_naming_line(text: &[u8], line: usize, what: &str) {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), text);
    let out_dir = tempfile::tempdir().unwrap();
    let target = out_dir.path().join("anon.sql");
    let out = anonymize(&input, &target);
    assert!(
        !out.status.success(),
        "{what}: anonymize succeeded\n{}",
        describe(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("line {line}")),
        "{what}: the error does not name line {line}:\n{stderr}"
    );
    for outputs in ["plain,anon", "plain,anon,custom"] {
        let out = dump_input(&input, out_dir.path(), outputs);
        assert!(
            !out.status.success(),
            "{what}: dump --input --outputs {outputs} succeeded\n{}",
            describe(&out)
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!("line {line}")),
            "{what}: dump --input does not name line {line}:\n{stderr}"
        );
    }
    assert_eq!(
        listing(out_dir.path()),
        Vec::<String>::new(),
        "{what}: files left"
    );
}

/// A crafted dump whose COPY sits outside a TABLE DATA entry of its own (line `copy_line`):
/// the plain outputs mask it by the statement (and restore), the custom archive refuses it naming
/// the line, and `scan` of the crafted input reports the addresses.
fn assert_masked_by_statement(text: &str, copy_line: usize, what: &str) {
    let originals = emails_in(text.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), text.as_bytes());

    let target = dir.path().join("anon.sql");
    let out = anonymize(&input, &target);
    assert!(
        out.status.success(),
        "{what}: anonymize\n{}",
        describe(&out)
    );
    let anon = std::fs::read(&target).unwrap();
    assert_no_original_emails(&anon, &originals, &format!("{what}: anonymize output"));
    let c = cluster();
    let db = c.create_db("fcreader_restore");
    c.psql_bytes(&db, &anon);
    let masked = c.psql(
        &db,
        "SELECT count(*) FILTER (WHERE email LIKE 'nobody%@example.com'), count(*) FROM public.t",
    );
    let (m, n) = masked.trim().split_once('|').unwrap();
    assert_eq!(m, n, "{what}: restored rows are not all masked");
    assert!(n.parse::<u64>().unwrap() >= 300, "{what}: rows lost: {n}");
    c.drop_db(&db);

    let out_dir = tempfile::tempdir().unwrap();
    let out = dump_input(&input, out_dir.path(), "plain,anon");
    assert!(
        out.status.success(),
        "{what}: dump --input\n{}",
        describe(&out)
    );
    let anon_gz = gunzip(&std::fs::read(out_dir.path().join("x.anon.gz")).unwrap());
    assert_no_original_emails(&anon_gz, &originals, &format!("{what}: x.anon.gz"));

    let out_dir = tempfile::tempdir().unwrap();
    let out = dump_input(&input, out_dir.path(), "plain,anon,custom");
    assert!(
        !out.status.success(),
        "{what}: the custom archive took a COPY it cannot place\n{}",
        describe(&out)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("line {copy_line}")),
        "{what}: the archive's error does not name line {copy_line}:\n{stderr}"
    );
    assert_eq!(listing(out_dir.path()), Vec::<String>::new(), "{what}");

    let out = run(pgveil().arg("scan").arg(&input), None);
    assert!(
        !out.status.success(),
        "{what}: scan reports nothing for unmasked addresses\n{}",
        describe(&out)
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("public.t.email"),
        "{what}: scan\n{}",
        describe(&out)
    );
}

const DATA_HEADER: &str = "-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: -";

/// Line number of the `-- Data for Name: t` header of the real dump (the table's comment, earlier,
/// holds the same line inside a string).
fn data_header_line() -> usize {
    dump()
        .lines()
        .enumerate()
        .filter(|(_, l)| *l == DATA_HEADER)
        .last()
        .expect("a data header")
        .0
        + 1
}

/// The dump with its lines edited by `f(line_number, line) -> replacement lines`.
fn edit_lines(f: impl Fn(usize, &str) -> Vec<String>) -> String {
    let mut out = String::new();
    for (i, l) in dump().lines().enumerate() {
        for r in f(i + 1, l) {
            out.push_str(&r);
            out.push('\n');
        }
    }
    out
}

#[test]
fn legitimate_dump_with_copy_and_headers_in_function_body_and_comment_round_trips() {
    let (db, text) = fixture();
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), text.as_bytes());
    let target = dir.path().join("anon.sql");
    let out = anonymize(&input, &target);
    assert!(out.status.success(), "anonymize\n{}", describe(&out));
    let anon = std::fs::read(&target).unwrap();
    assert_no_original_emails(&anon, &emails_in(text.as_bytes()), "anonymize output");
    let c = cluster();
    let restored = c.create_db("fcreader_legit");
    c.psql_bytes(&restored, &anon);
    let q = "SELECT md5(public.f()) || md5(obj_description('public.t'::regclass, 'pg_class')) || (SELECT count(*) FROM public.t)";
    assert_eq!(c.psql(db, q), c.psql(&restored, q));
    let out_dir = tempfile::tempdir().unwrap();
    let out = dump_input(&input, out_dir.path(), "plain,anon,custom");
    assert!(out.status.success(), "dump --input\n{}", describe(&out));
    c.drop_db(&restored);
}

/// A string opened in the preamble and closed inside a table's rows (found by the dump_reader fuzz
/// target): psql runs neither the entries nor the COPY it swallows, and their rows passed unmasked.
#[test]
fn a_string_left_open_in_the_preamble_is_an_error_naming_its_line() {
    let text = edit_lines(|_, l| {
        if l == "SET xmloption = content;" {
            vec!["SET xmloption = 'content;".to_string()]
        } else {
            vec![l.to_string()]
        }
    });
    let line = line_no(&text, "SET xmloption = 'content;", 0);
    assert_fails_naming_line(text.as_bytes(), line, "quote left open in the preamble");
}

/// A whole COPY … FROM stdin line inside a string literal: psql does not run it, so the rows after
/// it would be text that no rule masks.
#[test]
fn a_copy_line_inside_a_string_literal_is_an_error_naming_it() {
    let h = data_header_line();
    let copy = dump()
        .lines()
        .skip(h)
        .find(|l| l.starts_with("COPY "))
        .expect("a COPY line")
        .to_string();
    let text = edit_lines(|n, l| {
        if n == h - 1 {
            vec!["SELECT '".to_string(), l.to_string()]
        } else {
            vec![l.to_string()]
        }
    });
    // Close the string after the rows' end marker, so that psql would restore the rest.
    let at = text.find(&format!("\n{copy}\n")).expect("the COPY line");
    let end = at + text[at..].find("\n\\.\n").expect("its end marker") + 4;
    let text = format!("{}';\n{}", &text[..end], &text[end..]);
    let line = line_no(&text, &copy, h);
    assert_fails_naming_line(text.as_bytes(), line, "COPY line inside a string literal");
}

#[test]
fn duplicated_data_header_line_is_an_error_naming_it() {
    let h = data_header_line();
    let text = edit_lines(|n, l| {
        if n == h {
            vec![l.to_string(), l.to_string()]
        } else {
            vec![l.to_string()]
        }
    });
    assert_fails_naming_line(text.as_bytes(), h + 1, "duplicated Data for Name line");
}

#[test]
fn deleted_comment_line_above_data_header_is_an_error_naming_it() {
    let h = data_header_line();
    let text = edit_lines(|n, l| {
        if n == h - 1 {
            assert_eq!(l, "--");
            vec![]
        } else {
            vec![l.to_string()]
        }
    });
    assert_fails_naming_line(text.as_bytes(), h - 1, "deleted -- line");
}

#[test]
fn altered_comment_line_above_data_header_is_an_error_naming_it() {
    let h = data_header_line();
    let text = edit_lines(|n, l| {
        if n == h - 1 {
            vec!["-- x".to_string()]
        } else {
            vec![l.to_string()]
        }
    });
    assert_fails_naming_line(text.as_bytes(), h, "altered -- line");
}

#[test]
fn copy_without_header_block_is_masked_by_its_statement() {
    let h = data_header_line();
    let text = edit_lines(|n, l| {
        if (h - 1..=h + 1).contains(&n) {
            vec![]
        } else {
            vec![l.to_string()]
        }
    });
    let copy = line_no(&text, "COPY public.t (id, email, note) FROM stdin;", h - 3);
    assert_masked_by_statement(&text, copy, "COPY without its header block");
}

#[test]
fn second_copy_in_one_table_data_entry_is_masked_by_its_statement() {
    let h = data_header_line();
    let end = line_no(dump(), "\\.", h);
    let text = edit_lines(|n, l| {
        if n == end {
            vec![
                l.to_string(),
                String::new(),
                "COPY public.t (id, email, note) FROM stdin;".to_string(),
                "1001\textra1@corp-mail.org\tx".to_string(),
                "1002\textra2@corp-mail.org\ty".to_string(),
                "\\.".to_string(),
            ]
        } else {
            vec![l.to_string()]
        }
    });
    assert_masked_by_statement(&text, end + 2, "second COPY in one entry");
}

#[test]
fn copy_in_the_preamble_is_masked_by_its_statement() {
    let at = line_no(dump(), "SET row_security = off;", 0);
    let text = edit_lines(|n, l| {
        if n == at {
            vec![
                l.to_string(),
                String::new(),
                "CREATE TABLE public.pre (email text);".to_string(),
                "COPY public.pre (email) FROM stdin;".to_string(),
                "early1@corp-mail.org".to_string(),
                "early2@corp-mail.org".to_string(),
                "\\.".to_string(),
            ]
        } else {
            vec![l.to_string()]
        }
    });
    assert_masked_by_statement(&text, at + 3, "COPY in the preamble");
}

#[test]
fn copy_statement_in_other_case_is_folded_like_postgresql() {
    // `copy PUBLIC.T (ID, EMAIL, NOTE) from STDIN;` is the same statement to PostgreSQL.
    let text = dump().replace(
        "COPY public.t (id, email, note) FROM stdin;",
        "copy PUBLIC.T (ID, EMAIL, NOTE) from STDIN;",
    );
    let originals = emails_in(text.as_bytes());
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), text.as_bytes());
    let target = dir.path().join("anon.sql");
    let out = anonymize(&input, &target);
    assert!(out.status.success(), "anonymize\n{}", describe(&out));
    assert_no_original_emails(&std::fs::read(&target).unwrap(), &originals, "anonymize");
}

#[test]
fn psql_copy_meta_command_and_csv_copy_are_errors_naming_the_line() {
    let h = data_header_line();
    let copy = line_no(dump(), "COPY public.t (id, email, note) FROM stdin;", h);
    for (stmt, what) in [
        (
            "\\copy public.t (id, email, note) from stdin",
            "\\copy from stdin",
        ),
        (
            "COPY public.t (id, email, note) FROM stdin WITH (FORMAT csv, DELIMITER E'\\t');",
            "COPY in csv format",
        ),
        (
            "COPY public.t (id, email, note) FROM stdin (FORMAT binary);",
            "COPY in binary format",
        ),
    ] {
        // In its entry, and with the header block gone.
        let in_entry = dump().replace("COPY public.t (id, email, note) FROM stdin;", stmt);
        assert_fails_naming_line(in_entry.as_bytes(), copy, what);
        let stray = edit_lines(|n, l| {
            if (h - 1..=h + 1).contains(&n) {
                vec![]
            } else if n == copy {
                vec![stmt.to_string()]
            } else {
                vec![l.to_string()]
            }
        });
        assert_fails_naming_line(stray.as_bytes(), copy - 3, &format!("{what} (no header)"));
    }
}

#[test]
fn end_of_copy_with_carriage_return_is_an_error_naming_the_line() {
    // psql ends COPY data at `\.\r\n` too and runs what follows as SQL: here a COPY into another
    // table whose rows pgveil would otherwise take for rows of `codes` (one column, not masked).
    let copy = line_no(dump(), "COPY public.codes (code) FROM stdin;", 0);
    let text = edit_lines(|n, l| {
        if n == copy {
            vec![
                l.to_string(),
                "a1".to_string(),
                "\\.\r".to_string(),
                "COPY public.solo (email) FROM stdin;".to_string(),
                "hidden@corp-mail.org".to_string(),
            ]
        } else {
            vec![l.to_string()]
        }
    });
    assert_fails_naming_line(text.as_bytes(), copy + 2, "\\.\\r\\n inside COPY data");
}

// ------------------------------------------------------------------------------------------------
// Item 2: garbage in a header line
// ------------------------------------------------------------------------------------------------

const FK_HEADER: &str =
    "-- Name: child child_parent_fk; Type: FK CONSTRAINT; Schema: public; Owner: -";

#[test]
fn the_fixture_with_its_foreign_key_restores_masked() {
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), dump().as_bytes());
    let target = dir.path().join("anon.sql");
    let out = anonymize(&input, &target);
    assert!(out.status.success(), "anonymize\n{}", describe(&out));
    let c = cluster();
    let db = c.create_db("fcreader_fk");
    c.psql_bytes(&db, &std::fs::read(&target).unwrap());
    c.drop_db(&db);
}

#[test]
fn nul_byte_in_a_header_line_is_an_error_naming_it() {
    let line = line_no(dump(), FK_HEADER, 0);
    let text = dump().replace(
        FK_HEADER,
        &FK_HEADER.replace("FK CONSTRAINT", "FK CONS\0TRAINT"),
    );
    assert_fails_naming_line(text.as_bytes(), line, "NUL in Type: FK CONSTRAINT");
}

#[test]
fn garbage_in_a_header_line_is_an_error_naming_it() {
    let line = line_no(dump(), FK_HEADER, 0);
    for bad in [
        FK_HEADER.replace("FK CONSTRAINT", "FK C0NSTRAINT"),
        FK_HEADER.replace("; Schema: ", "; Schema; "),
        FK_HEADER.replace("; Type: ", "; Type:"),
    ] {
        let text = dump().replace(FK_HEADER, &bad);
        assert_fails_naming_line(text.as_bytes(), line, &bad);
    }
}

#[test]
fn copy_naming_another_table_than_its_entry_cannot_go_into_the_archive() {
    // Both tables have one column: psql loads the rows into `solo`, so they are masked as
    // `solo.email`; the archive would restore them through its entry for `codes`: refused.
    let header = "-- Data for Name: codes; Type: TABLE DATA; Schema: public; Owner: -";
    let h = line_no(dump(), header, 0);
    let text = dump().replace(
        "COPY public.codes (code) FROM stdin;\nc1\nc2\nc3\n",
        "COPY public.solo (email) FROM stdin;\nx1@corp-mail.org\nx2@corp-mail.org\nx3@corp-mail.org\n",
    );
    assert!(text.contains("x1@corp-mail.org"));
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), text.as_bytes());
    let out_dir = tempfile::tempdir().unwrap();
    let out = dump_input(&input, out_dir.path(), "plain,anon,custom");
    assert!(!out.status.success(), "archive took it\n{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("line {h}")), "{stderr}");
    assert_eq!(listing(out_dir.path()), Vec::<String>::new());
    let out = dump_input(&input, out_dir.path(), "plain,anon");
    assert!(out.status.success(), "plain outputs\n{}", describe(&out));
    let anon = gunzip(&std::fs::read(out_dir.path().join("x.anon.gz")).unwrap());
    assert_no_original_emails(&anon, &emails_in(text.as_bytes()), "x.anon.gz");
}

// ------------------------------------------------------------------------------------------------
// Item 12: memory for one huge field
// ------------------------------------------------------------------------------------------------

/// A plain dump of one table `big (id, email, note)` whose first row's `note` is `field` bytes of
/// word-like text (compressible about as well as prose) with escaped newlines and an address: the
/// worst case, a field that is decoded, masked (changed) and escaped again.
fn dump_with_huge_field(field: usize) -> Vec<u8> {
    let mut out = b"--\n-- PostgreSQL database dump\n--\n\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n--\n-- Name: big; Type: TABLE; Schema: public; Owner: -\n--\n\nCREATE TABLE public.big (\n    id integer,\n    email text,\n    note text\n);\n\n\n--\n-- Data for Name: big; Type: TABLE DATA; Schema: public; Owner: -\n--\n\nCOPY public.big (id, email, note) FROM stdin;\n1\talice@corp-mail.org\tcontact carol@corp-mail.org ".to_vec();
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let start = out.len();
    let mut next = || {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        state >> 33
    };
    while out.len() - start < field {
        let len = 2 + next() as usize % 8;
        for _ in 0..len {
            out.push(b'a' + (next() % 26) as u8);
        }
        if next() % 16 == 0 {
            out.extend_from_slice(b"\\n");
        }
        out.push(b' ');
    }
    out.truncate(start + field);
    if out.last() == Some(&b'\\') {
        out.pop();
        out.push(b'x');
    }
    out.extend_from_slice(
        b"\n2\tbob@corp-mail.org\tshort\n\\.\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n",
    );
    out
}

/// Peak RSS in bytes of `pgveil dump --input` (all three artifacts) of `dump`.
fn peak_rss_of_dump_input(dump: &[u8]) -> u64 {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("big.sql");
    std::fs::write(&input, dump).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let out = run(
        std::process::Command::new("/usr/bin/time")
            .args(["-f", "peak %M"])
            .arg(
                std::env::var_os("PGVEIL_BIN")
                    .unwrap_or_else(|| env!("CARGO_BIN_EXE_pgveil").into()),
            )
            .args(["dump", "--input"])
            .arg(&input)
            .arg("--out-dir")
            .arg(&out_dir)
            .args(["--name", "big"])
            .env("PGVEIL_KEY", support::TEST_KEY),
        None,
    );
    assert!(out.status.success(), "dump --input\n{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let kb: u64 = stderr
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("peak "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no peak RSS in:\n{stderr}"));
    kb * 1024
}

#[test]
fn one_huge_field_needs_at_most_three_times_its_size() {
    const FIELD: usize = 60 << 20;
    let base = peak_rss_of_dump_input(&dump_with_huge_field(1 << 10));
    let peak = peak_rss_of_dump_input(&dump_with_huge_field(FIELD));
    let mb = |b: u64| b as f64 / (1 << 20) as f64;
    eprintln!(
        "one {} MB field: peak RSS {:.0} MB, {:.0} MB over a tiny dump's {:.0} MB ({:.2}× the field)",
        FIELD >> 20,
        mb(peak),
        mb(peak.saturating_sub(base)),
        mb(base),
        peak.saturating_sub(base) as f64 / FIELD as f64
    );
    // The constant: what a tiny dump needs, and 16 MiB for buffers that do not grow with the
    // field (batches in flight, compressor state, page granularity).
    assert!(
        peak <= base + 3 * FIELD as u64 + (16 << 20),
        "peak RSS {:.0} MB exceeds 3× the {} MB field + 16 MB over the {:.0} MB of a tiny dump",
        mb(peak),
        FIELD >> 20,
        mb(base)
    );
}

#[test]
fn foreign_key_in_a_form_pgveil_does_not_parse_still_restores() {
    // psql runs the statement however it is spelled; facts that cannot read it must not treat
    // the referencing column as unkeyed (masked to one constant, it would break the key).
    let stmt = "ALTER TABLE ONLY public.child\n    ADD CONSTRAINT child_parent_fk FOREIGN KEY";
    let stmt = if dump().contains(stmt) {
        stmt.to_string()
    } else {
        stmt.replace("ONLY ", "")
    };
    assert!(dump().contains(&stmt), "no FK statement in the dump");
    let text = dump().replace(&stmt, &stmt.to_lowercase().replace("\n    ", "\n  "));
    let dir = tempfile::tempdir().unwrap();
    let input = write_input(dir.path(), text.as_bytes());
    let target = dir.path().join("anon.sql");
    let out = anonymize(&input, &target);
    assert!(out.status.success(), "anonymize\n{}", describe(&out));
    let c = cluster();
    let db = c.create_db("fcreader_fk2");
    c.psql_bytes(&db, &std::fs::read(&target).unwrap());
    c.drop_db(&db);
}
