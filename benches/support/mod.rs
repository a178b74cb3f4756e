//! Generated benchmark data shared by the benches: COPY rows of a users-like table full of personal
//! data, rows of a pgbench_accounts-like table with none, and whole plain dumps built from both.
//!
//! The data is deterministic (a fixed-seed xorshift generator, no dependency on `rand`'s stream
//! stability) so that figures from different runs and machines compare. Values are encoded with the
//! crate's own `escape_into`, i.e. exactly as pg_dump writes them: tabs, newlines and backslashes in
//! free text and inside jsonb strings appear escaped, NULLs appear as `\N`.
//!
//! Under `cargo test --all-targets` the benches run once in criterion's test mode; [`scaled`] then
//! shrinks the data so that CI stays quick.

// Each bench includes this module and uses only part of it.
#![allow(dead_code)]

use pgveil::copy::{escape_into, NULL};

/// Whether the bench binary runs as a benchmark (`cargo bench` passes `--bench`), not as a test.
pub fn bench_mode() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// `bytes` when benchmarking, 64 KiB under `cargo test` (each bench then runs once, as a smoke test).
/// `PGVEIL_BENCH_MB` overrides the size when benchmarking.
pub fn scaled(bytes: usize) -> usize {
    if !bench_mode() {
        return 64 << 10;
    }
    match std::env::var("PGVEIL_BENCH_MB") {
        Ok(mb) => {
            mb.parse::<usize>()
                .expect("PGVEIL_BENCH_MB must be a number of MiB")
                .max(1)
                << 20
        }
        Err(_) => bytes,
    }
}

/// xorshift64*: fast, deterministic, good enough to vary test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn pick<'a, T: ?Sized>(&mut self, items: &[&'a T]) -> &'a T {
        items[self.below(items.len() as u64) as usize]
    }
    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

const FIRST: &[&str] = &[
    "Maria", "John", "Li", "Anna", "José", "Fatima", "Olga", "Ahmed", "Chloé", "Søren", "Yuki",
    "Priya", "Lukas", "Zoë", "Mateo", "Aisha", "Noah", "Émilie", "Jan", "Ngozi",
];
const LAST: &[&str] = &[
    "García",
    "Smith",
    "Wei",
    "Kowalska",
    "O'Brien",
    "Müller",
    "Nguyen",
    "Dubois",
    "Rossi",
    "Papadopoulos",
    "Johansson",
    "Tanaka",
    "Okafor",
    "van der Berg",
    "Fernández",
];
const DOMAINS: &[&str] = &[
    "example-mail.test",
    "corp.example.org",
    "mail.shop-users.test",
    "uni.example.edu",
    "bulk-mail.test",
];
const CITIES: &[&str] = &[
    "Madrid",
    "Boston",
    "Shanghai",
    "Kraków",
    "Paris",
    "Oslo",
    "Zürich",
    "Lagos",
    "São Paulo",
    "Tokyo",
];
const WORDS: &[&str] = &[
    "order", "delivery", "late", "refund", "please", "call", "back", "customer", "asked", "about",
    "invoice", "the", "package", "was", "damaged", "thanks", "contact", "support", "ticket",
    "resolved",
];

fn lower_ascii(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

fn email(rng: &mut Rng, id: u64) -> String {
    let first = lower_ascii(rng.pick(FIRST));
    let last = lower_ascii(rng.pick(LAST));
    let domain = rng.pick(DOMAINS);
    match rng.below(3) {
        0 => format!("{first}.{last}{id}@{domain}"),
        1 => format!("{}{last}+{id}@{domain}", &first[..1.min(first.len())]),
        _ => format!("{last}_{first}{id}@{domain}"),
    }
}

fn phone(rng: &mut Rng) -> String {
    match rng.below(3) {
        0 => format!(
            "+1 ({:03}) {:03}-{:04}",
            rng.below(1000),
            rng.below(1000),
            rng.below(10000)
        ),
        1 => format!("+49 {:03} {:07}", rng.below(1000), rng.below(10_000_000)),
        _ => format!("0{:09}", rng.below(1_000_000_000)),
    }
}

fn words(rng: &mut Rng, n: u64) -> String {
    let mut s = String::new();
    for i in 0..n {
        if i > 0 {
            s.push(' ');
        }
        s.push_str(rng.pick(WORDS));
    }
    s
}

/// Free text as users type it: several lines, sometimes a tab, a Windows path with backslashes,
/// sometimes an address.
fn notes(rng: &mut Rng, id: u64) -> String {
    let n = 4 + rng.below(8);
    let mut s = words(rng, n);
    if rng.chance(50) {
        s.push('\n');
        let n = 3 + rng.below(6);
        s.push_str(&words(rng, n));
    }
    if rng.chance(20) {
        s.push_str("\tref:\t");
        s.push_str(&rng.below(1_000_000).to_string());
    }
    if rng.chance(15) {
        s.push_str(" see C:\\Users\\support\\tickets\\");
        s.push_str(&id.to_string());
    }
    if rng.chance(25) {
        s.push_str("\r\nreply to ");
        s.push_str(&email(rng, id + 7));
    }
    s
}

/// A jsonb document as PostgreSQL prints it (keys sorted by length, then bytes), with addresses in
/// nested strings and a JSON-escaped newline, quote and backslash in `bio`.
fn profile(rng: &mut Rng, id: u64, email_addr: &str) -> String {
    let tags: Vec<String> = (0..rng.below(4))
        .map(|_| format!("\"{}\"", rng.pick(WORDS)))
        .collect();
    let bio = format!(
        "{}\\n{} \\\"quoted\\\" path C:\\\\tmp",
        words(rng, 3),
        words(rng, 4)
    );
    let backup = email(rng, id + 1_000_003);
    format!(
        "{{\"bio\": \"{bio}\", \"tags\": [{}], \"email\": \"{email_addr}\", \"contacts\": [{{\"kind\": \"backup\", \"email\": \"{backup}\"}}], \"newsletter\": {}}}",
        tags.join(", "),
        rng.chance(50)
    )
}

/// The columns of the generated users table, in COPY order, with their SQL types.
pub const USERS_COLUMNS: &[(&str, &str)] = &[
    ("id", "bigint NOT NULL"),
    ("email", "text NOT NULL"),
    ("full_name", "text NOT NULL"),
    ("phone", "text"),
    ("city", "text"),
    ("profile", "jsonb"),
    ("notes", "text"),
    ("created_at", "timestamp with time zone NOT NULL"),
    ("deleted_at", "timestamp with time zone"),
];

/// Decoded values of one users row (`None` = NULL), in [`USERS_COLUMNS`] order.
pub fn users_row(rng: &mut Rng, id: u64) -> Vec<Option<String>> {
    let mail = email(rng, id);
    let name = format!("{} {}", rng.pick(FIRST), rng.pick(LAST));
    let phone = rng.chance(80).then(|| phone(rng));
    let city = rng.chance(90).then(|| rng.pick(CITIES).to_string());
    let profile = rng.chance(85).then(|| profile(rng, id, &mail));
    let notes = rng.chance(60).then(|| notes(rng, id));
    let created = format!(
        "2023-{:02}-{:02} {:02}:{:02}:{:02}.{:06}+00",
        1 + rng.below(12),
        1 + rng.below(28),
        rng.below(24),
        rng.below(60),
        rng.below(60),
        rng.below(1_000_000)
    );
    let deleted = rng.chance(5).then(|| "2024-06-01 00:00:00+00".to_string());
    vec![
        Some(id.to_string()),
        Some(mail),
        Some(name),
        phone,
        city,
        profile,
        notes,
        Some(created),
        deleted,
    ]
}

/// Append one row in COPY text form (with its `\n`).
pub fn encode_row(values: &[Option<String>], out: &mut Vec<u8>) {
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b'\t');
        }
        match v {
            Some(v) => escape_into(v.as_bytes(), out),
            None => out.extend_from_slice(NULL),
        }
    }
    out.push(b'\n');
}

/// At least `bytes` of users COPY rows (whole rows, each ending in `\n`); returns the rows and count.
pub fn users_rows(bytes: usize, seed: u64) -> (Vec<u8>, u64) {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(bytes + 1024);
    let mut id = 0;
    while out.len() < bytes {
        id += 1;
        encode_row(&users_row(&mut rng, id), &mut out);
    }
    (out, id)
}

/// At least `bytes` of pgbench_accounts-like rows: numbers and an 84-blank filler, nothing to mask
/// (the bulk of many real databases: the maskers' prefilters must make it nearly free).
pub fn accounts_rows(bytes: usize, seed: u64) -> (Vec<u8>, u64) {
    let mut rng = Rng::new(seed);
    let mut out = Vec::with_capacity(bytes + 256);
    let filler = " ".repeat(84);
    let mut aid = 0;
    while out.len() < bytes {
        aid += 1;
        let line = format!(
            "{aid}\t{}\t{}\t{filler}\n",
            1 + aid / 100_000,
            rng.below(20_001) as i64 - 10_000
        );
        out.extend_from_slice(line.as_bytes());
    }
    (out, aid)
}

const PREAMBLE: &str = "--
-- PostgreSQL database dump
--

-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

";

fn entry(out: &mut Vec<u8>, header: &str, body: &str) {
    out.extend_from_slice(format!("--\n-- {header}\n--\n\n{body}\n\n\n").as_bytes());
}

/// A complete plain dump (as `pg_dump -Fp` writes it) of about `bytes`: half users rows, half
/// accounts rows by size, with the constraints after the data as pg_dump orders them (the users
/// email is UNIQUE, so the default rules mask it in the keyed form).
pub fn plain_dump(bytes: usize) -> Vec<u8> {
    let (users, _) = users_rows(bytes / 2, 1);
    let (accounts, _) = accounts_rows(bytes / 2, 2);
    let mut out = Vec::with_capacity(users.len() + accounts.len() + 8192);
    out.extend_from_slice(PREAMBLE.as_bytes());
    let cols: Vec<String> = USERS_COLUMNS
        .iter()
        .map(|(n, t)| format!("    {n} {t}"))
        .collect();
    entry(
        &mut out,
        "Name: users; Type: TABLE; Schema: public; Owner: app",
        &format!(
            "CREATE TABLE public.users (\n{}\n);\n\n\nALTER TABLE public.users OWNER TO app;",
            cols.join(",\n")
        ),
    );
    entry(
        &mut out,
        "Name: accounts; Type: TABLE; Schema: public; Owner: app",
        "CREATE TABLE public.accounts (\n    aid integer NOT NULL,\n    bid integer,\n    abalance integer,\n    filler character(84)\n)\nWITH (fillfactor='100');",
    );
    let names: Vec<&str> = USERS_COLUMNS.iter().map(|(n, _)| *n).collect();
    out.extend_from_slice(
        format!(
            "--\n-- Data for Name: users; Type: TABLE DATA; Schema: public; Owner: app\n--\n\nCOPY public.users ({}) FROM stdin;\n",
            names.join(", ")
        )
        .as_bytes(),
    );
    out.extend_from_slice(&users);
    out.extend_from_slice(b"\\.\n\n\n");
    out.extend_from_slice(
        b"--\n-- Data for Name: accounts; Type: TABLE DATA; Schema: public; Owner: app\n--\n\nCOPY public.accounts (aid, bid, abalance, filler) FROM stdin;\n",
    );
    out.extend_from_slice(&accounts);
    out.extend_from_slice(b"\\.\n\n\n");
    entry(
        &mut out,
        "Name: accounts accounts_pkey; Type: CONSTRAINT; Schema: public; Owner: app",
        "ALTER TABLE ONLY public.accounts\n    ADD CONSTRAINT accounts_pkey PRIMARY KEY (aid);",
    );
    entry(
        &mut out,
        "Name: users users_email_key; Type: CONSTRAINT; Schema: public; Owner: app",
        "ALTER TABLE ONLY public.users\n    ADD CONSTRAINT users_email_key UNIQUE (email);",
    );
    entry(
        &mut out,
        "Name: users users_pkey; Type: CONSTRAINT; Schema: public; Owner: app",
        "ALTER TABLE ONLY public.users\n    ADD CONSTRAINT users_pkey PRIMARY KEY (id);",
    );
    entry(
        &mut out,
        "Name: TABLE users; Type: ACL; Schema: public; Owner: app",
        "GRANT SELECT ON TABLE public.users TO reporting;",
    );
    out.extend_from_slice(b"--\n-- PostgreSQL database dump complete\n--\n\n");
    out
}
