//! The test harness itself: a real cluster starts, fixtures load, plain dumps round-trip.

use crate::support;

use support::{cluster, restrict_free};

#[test]
fn cluster_starts_and_answers() {
    let c = cluster();
    assert_eq!(c.psql("postgres", "SELECT 1;").trim(), "1");
    let version = c.psql("postgres", "SHOW server_version_num;");
    assert!(
        version.trim().parse::<u32>().unwrap() >= 150000,
        "{version}"
    );
    // Unix socket only.
    assert_eq!(c.psql("postgres", "SHOW listen_addresses;").trim(), "");
    assert_eq!(c.psql("postgres", "SHOW fsync;").trim(), "off");
    let env = c.env();
    assert!(env.iter().any(|(k, _)| k == "PGHOST"));
    assert!(env
        .iter()
        .any(|(k, v)| k == "PGPORT" && *v == c.port().to_string()));
}

#[test]
fn create_db_is_unique_and_thread_safe() {
    let c = cluster();
    let names: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..4)
            .map(|_| s.spawn(|| c.create_db("Harness Test")))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut sorted = names.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), names.len(), "{names:?}");
    for n in &names {
        assert!(n.starts_with("harness_test_"), "{n}");
        assert_eq!(c.psql(n, "SELECT current_database();").trim(), n);
    }
}

#[test]
fn psql_fails_loudly() {
    let c = cluster();
    let r = std::panic::catch_unwind(|| c.psql("postgres", "SELECT 1; SELECT no_such_column;"));
    let err = r.expect_err("psql must panic on SQL errors");
    let msg = err.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(msg.contains("no_such_column"), "{msg}");
}

#[test]
fn fixture_loads_once_and_is_shared() {
    let c = cluster();
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(|| c.load_fixture("edge_cases"));
        let b = s.spawn(|| c.load_fixture("edge_cases"));
        (a.join().unwrap(), b.join().unwrap())
    });
    assert_eq!(a, b);
    let n = c.psql(&a, r#"SELECT count(*) FROM "CRM"."Customer Contacts";"#);
    assert!(n.trim().parse::<i64>().unwrap() > 0);
}

#[test]
fn restrict_free_drops_only_restrict_lines() {
    let dump = b"--\n\\restrict abc123\n\nSET x = 1;\nCOPY t (a) FROM stdin;\n\\\\restrict not-a-command\n\\.\n\\unrestrict abc123\n";
    assert_eq!(
        restrict_free(dump),
        b"--\n\nSET x = 1;\nCOPY t (a) FROM stdin;\n\\\\restrict not-a-command\n\\.\n".to_vec()
    );
}

/// pg_dump of a fixture restores with psql into a fresh db whose pg_dump is identical.
fn assert_round_trip(src: &str, args: &[&str]) {
    let c = cluster();
    let dump = c.pg_dump(src, args);
    let copy = c.create_db(&format!("{src}_copy"));
    c.psql_bytes(&copy, &dump);
    let again = c.pg_dump(&copy, args);
    let (a, b) = (restrict_free(&dump), restrict_free(&again));
    if a != b {
        let (sa, sb) = (String::from_utf8_lossy(&a), String::from_utf8_lossy(&b));
        let first = sa
            .lines()
            .zip(sb.lines())
            .enumerate()
            .find(|(_, (x, y))| x != y);
        panic!("round trip of {src} differs; first differing line: {first:?}");
    }
    assert_eq!(c.table_counts(src), c.table_counts(&copy));
}

#[test]
fn edge_cases_round_trips_through_plain_dump() {
    let db = cluster().load_fixture("edge_cases");
    assert_round_trip(&db, &[]);
    assert_round_trip(&db, &["--no-owner", "--no-acl"]);
}

#[test]
fn example_round_trips_through_plain_dump() {
    let db = cluster().load_fixture("example");
    assert_round_trip(&db, &["--no-owner", "--no-acl"]);
}

#[test]
fn pagila_loads_and_round_trips() {
    let db = cluster().load_pagila();
    let n = cluster().psql(&db, "SELECT count(*) FROM public.customer;");
    assert!(n.trim().parse::<i64>().unwrap() > 500, "{n}");
    assert_round_trip(&db, &["--no-owner", "--no-acl"]);
}

#[test]
fn chinook_loads_and_round_trips() {
    let db = cluster().load_chinook();
    assert_ne!(db, "chinook");
    let n = cluster().psql(&db, "SELECT count(*) FROM public.customer;");
    assert!(n.trim().parse::<i64>().unwrap() > 50, "{n}");
    assert_round_trip(&db, &["--no-owner", "--no-acl"]);
}
