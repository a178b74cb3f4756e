//! Unit tests of the reader: splitting, entries, truncation, psql's lexing.

use super::*;

pub(crate) const SAMPLE: &str = "--\n-- PostgreSQL database dump\n--\n\n\\restrict abc\n\n-- Dumped from database version 15.18\n-- Dumped by pg_dump version 15.18\n\nSET statement_timeout = 0;\nSET client_encoding = 'UTF8';\nSET standard_conforming_strings = on;\nSELECT pg_catalog.set_config('search_path', '', false);\n\n--\n-- Name: public; Type: SCHEMA; Schema: -; Owner: pg\n--\n\n-- *not* creating schema, since initdb creates it\n\n\nALTER SCHEMA public OWNER TO pg;\n\nSET default_tablespace = '';\n\nSET default_table_access_method = heap;\n\n--\n-- Name: t; Type: TABLE; Schema: public; Owner: pg\n--\n\nCREATE TABLE public.t (\n    id integer,\n    note text\n);\n\n\nALTER TABLE public.t OWNER TO pg;\n\n--\n-- Data for Name: t; Type: TABLE DATA; Schema: public; Owner: pg\n--\n\nCOPY public.t (id, note) FROM stdin;\n1\ta\\tb\n2\t\\N\n3\t-- Name: x; Type: TABLE; Schema: s; Owner: o\n\\.\n\n\n--\n-- Name: TABLE t; Type: ACL; Schema: public; Owner: pg\n--\n\nGRANT SELECT ON TABLE public.t TO PUBLIC;\n\n\n--\n-- PostgreSQL database dump complete\n--\n\n\\unrestrict abc\n\n";

fn collect(input: &[u8], batch: usize) -> Result<Vec<(String, Vec<u8>)>, DumpError> {
    let mut r = DumpReader::with_batch_bytes(input, batch);
    let mut out = Vec::new();
    while let Some(ev) = r.next_event()? {
        out.push(match ev {
            Event::Preamble(p) => ("preamble".into(), p.text),
            Event::Entry(e) => (format!("entry {}", e.header.desc), e.text),
            Event::DataBegin(e) => (format!("data {}", e.header.tag), e.text),
            Event::CopyRows { rows, .. } => ("rows".into(), rows.to_vec()),
            Event::RawData(d) => ("raw".into(), d),
            Event::DataEnd(d) => ("end".into(), d),
            Event::Trailer(t) => ("trailer".into(), t),
        });
    }
    Ok(out)
}

#[test]
fn splits_and_reassembles_exactly() {
    for batch in [1, 2, 5, 64, 1 << 20] {
        let events = collect(SAMPLE.as_bytes(), batch).unwrap();
        let joined: Vec<u8> = events.iter().flat_map(|(_, b)| b.clone()).collect();
        assert_eq!(String::from_utf8(joined).unwrap(), SAMPLE, "batch {batch}");
        let kinds: Vec<&str> = events
            .iter()
            .map(|(k, _)| k.as_str())
            .filter(|k| *k != "rows")
            .collect();
        assert_eq!(
            kinds,
            [
                "preamble",
                "entry SCHEMA",
                "entry TABLE",
                "data t",
                "end",
                "entry ACL",
                "trailer"
            ]
        );
        let rows: Vec<u8> = events
            .iter()
            .filter(|(k, _)| k == "rows")
            .flat_map(|(_, b)| b.clone())
            .collect();
        assert_eq!(
            rows,
            b"1\ta\\tb\n2\t\\N\n3\t-- Name: x; Type: TABLE; Schema: s; Owner: o\n"
        );
    }
}

#[test]
fn entry_fields_and_portable_form() {
    let mut r = DumpReader::new(SAMPLE.as_bytes());
    let mut portable = Vec::new();
    let mut tables = Vec::new();
    while let Some(ev) = r.next_event().unwrap() {
        match ev {
            Event::Preamble(p) => {
                assert_eq!(p.encoding.as_deref(), Some("UTF8"));
                assert_eq!(p.standard_conforming_strings.as_deref(), Some("on"));
                portable.extend_from_slice(&p.text);
            }
            Event::Entry(e) => {
                if e.header.desc == "TABLE" {
                    assert_eq!(e.current_tablespace.as_deref(), Some(""));
                    assert_eq!(e.current_tableam.as_deref(), Some("heap"));
                    assert_eq!(e.owner_stmt(), Some("ALTER TABLE public.t OWNER TO pg;"));
                    tables.push(e.header.tag.clone());
                }
                e.write_portable(&mut portable);
            }
            Event::DataBegin(e) => {
                assert_eq!(e.copy.as_ref().unwrap().columns, ["id", "note"]);
                e.write_portable(&mut portable);
            }
            Event::CopyRows { rows, .. } => portable.extend_from_slice(rows),
            Event::RawData(d) | Event::DataEnd(d) | Event::Trailer(d) => {
                portable.extend_from_slice(&d)
            }
        }
    }
    assert_eq!(tables, ["t"]);
    let s = String::from_utf8(portable).unwrap();
    assert!(!s.contains("OWNER TO"));
    assert!(!s.contains("GRANT"));
    assert!(s.contains("-- Name: t; Type: TABLE; Schema: public; Owner: -\n"));
}

#[test]
fn pg_dumpall_globals_are_not_taken_for_a_truncated_dump() {
    let globals = "--\n-- PostgreSQL database cluster dump\n--\n\nSET default_transaction_read_only = off;\n\nCREATE ROLE app;\n";
    let mut r = DumpReader::new(globals.as_bytes());
    let err = loop {
        match r.next_event() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("pg_dumpall output read as a dump"),
            Err(e) => break e.to_string(),
        }
    };
    assert!(err.contains("pg_dumpall"), "{err}");
}

#[test]
fn truncation_is_an_error_everywhere() {
    let full = SAMPLE.as_bytes();
    for cut in 1..full.len() - 1 {
        // Cutting inside the trailer's last blank lines is still a complete dump.
        let tail = &SAMPLE[cut..];
        if tail.trim_start_matches('\n').is_empty()
            || tail.starts_with("\n\\unrestrict")
            || SAMPLE[..cut].ends_with("\\unrestrict abc\n")
        {
            continue;
        }
        if cut > SAMPLE.find("-- PostgreSQL database dump complete").unwrap() {
            continue;
        }
        assert!(
            collect(&full[..cut], 7).is_err(),
            "cut at {cut} was accepted"
        );
    }
}

/// A source that hands out at most `chunk` bytes per read, to put read boundaries anywhere.
struct Chunked<'a> {
    data: &'a [u8],
    chunk: usize,
}

impl Read for Chunked<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.chunk.min(buf.len()).min(self.data.len());
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

proptest::proptest! {
    #[test]
    fn read_boundaries_anywhere_give_the_same_events(chunk in 1usize..97, batch in 1usize..200) {
        let expected = collect(SAMPLE.as_bytes(), 1 << 20).unwrap();
        let expected_rows: Vec<u8> = expected.iter().filter(|(k, _)| k == "rows").flat_map(|(_, b)| b.clone()).collect();
        let mut r = DumpReader::with_batch_bytes(Chunked { data: SAMPLE.as_bytes(), chunk }, batch);
        let mut got = Vec::new();
        let mut rows = Vec::new();
        while let Some(ev) = r.next_event().unwrap() {
            match ev {
                Event::CopyRows { rows: r, .. } => rows.extend_from_slice(r),
                Event::Preamble(p) => got.push(("preamble".to_string(), p.text)),
                Event::Entry(e) => got.push((format!("entry {}", e.header.desc), e.text)),
                Event::DataBegin(e) => got.push((format!("data {}", e.header.tag), e.text)),
                Event::RawData(d) => got.push(("raw".into(), d)),
                Event::DataEnd(d) => got.push(("end".into(), d)),
                Event::Trailer(t) => got.push(("trailer".into(), t)),
            }
        }
        let expected_other: Vec<(String, Vec<u8>)> = expected.into_iter().filter(|(k, _)| k != "rows").collect();
        proptest::prop_assert_eq!(got, expected_other);
        proptest::prop_assert_eq!(rows, expected_rows);
    }
}

#[test]
fn lexes_like_psql_and_fails_closed() {
    // A function body holding a header and a COPY is one statement.
    let body = SAMPLE.replace(
        "ALTER TABLE public.t OWNER TO pg;\n",
        "ALTER TABLE public.t OWNER TO pg;\nCREATE FUNCTION f() AS $x$\n--\n-- Name: y; Type: TABLE; Schema: s; Owner: o\n--\n\nCOPY public.t (id) FROM stdin;\n$x$;\n",
    );
    let kinds: Vec<String> = collect(body.as_bytes(), 7)
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .filter(|k| k != "rows")
        .collect();
    assert_eq!(
        kinds
            .iter()
            .filter(|k| k.starts_with("entry TABLE"))
            .count(),
        1
    );
    // A COPY in an entry's body is a stray data entry, masked by its statement.
    let stray = SAMPLE.replace(
        "ALTER TABLE public.t OWNER TO pg;\n",
        "ALTER TABLE public.t OWNER TO pg;\nCOPY public.t (id, note) FROM stdin;\n9\tx\n\\.\n",
    );
    let mut r = DumpReader::new(stray.as_bytes());
    let mut strays = Vec::new();
    while let Some(ev) = r.next_event().unwrap() {
        if let Event::DataBegin(e) = ev {
            strays.push((e.stray, e.line, String::from_utf8(e.text).unwrap()));
        }
    }
    assert!(strays[0].0);
    assert_eq!(strays[0].2, "COPY public.t (id, note) FROM stdin;\n");
    assert!(!strays[1].0);
    for (bad, what) in [
        (
            "SET client_encoding = 'UTF8';",
            "SET client_encoding = 'SJIS';",
        ),
        ("Type: ACL;", "Type: AC\0L;"),
        ("Type: ACL;", "Type: ACLX;"),
        (
            "SELECT pg_catalog.set_config",
            "SELECT 'a\\'; SELECT pg_catalog.set_config",
        ),
        (
            "COPY public.t (id, note) FROM stdin;",
            "COPY t (id, note) FROM stdin;",
        ),
        ("\n\\.\n", "\n\\.\r\n\\.\n"),
    ] {
        let input = SAMPLE.replace(bad, what);
        assert_ne!(input, SAMPLE);
        assert!(
            collect(input.as_bytes(), 10).is_err(),
            "{what} was accepted"
        );
    }
}

#[test]
fn rejects_custom_format_and_inserts() {
    assert!(matches!(
        collect(b"PGDMP\x01\x0e", 10),
        Err(DumpError::CustomFormat)
    ));
    let inserts = SAMPLE.replace(
        "COPY public.t (id, note) FROM stdin;",
        "INSERT INTO public.t VALUES (1, 'a');",
    );
    assert!(matches!(
        collect(inserts.as_bytes(), 10),
        Err(DumpError::NotCopyData { .. })
    ));
    let unterminated = SAMPLE.replace("\\.\n", "");
    assert!(collect(unterminated.as_bytes(), 10).is_err());
}
