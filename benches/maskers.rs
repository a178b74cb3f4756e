//! Each masker on the column of generated data it is meant for, driven the way the engine drives it:
//! the cheap prefilter on the raw field, then decode, mask and re-encode only when it may change.
//! Maskers are built through the public rule API (a one-rule TOML file, `RuleSet::plan_table`), so
//! the bench follows whatever the rules decide (e.g. the keyed form on unique columns).
//! Throughput is bytes of the raw (COPY text) column.
//!
//! `cargo bench --bench maskers` (add a filter such as `email_scan` to run some of them).

mod support;

use std::hint::black_box;
use std::rc::Rc;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pgveil::copy;
use pgveil::mask::{ColumnInfo, Key, MaskOutcome, Masker, RuleSet};

/// The masker a single rule (`masker = …` plus options) gives to a text column.
fn masker(rule: &str, unique: bool) -> Arc<dyn Masker> {
    let text = format!("[[rule]]\ncolumn = \"v\"\n{rule}\n");
    let rules = RuleSet::from_texts(&[("bench.toml", &text)], Key::from_bytes(b"bench key"))
        .expect("valid bench rule");
    let plan = rules
        .plan_table(
            "public",
            "t",
            &[ColumnInfo {
                name: "v".into(),
                type_name: Some("text".into()),
                unique,
            }],
        )
        .expect("plannable");
    plan.columns[0].clone().expect("a masker, not keep")
}

/// The raw fields of column `index` of every row (NULLs included: the engine skips them too).
fn column(data: &[u8], index: Option<usize>) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for row in data.split(|&b| b == b'\n').filter(|r| !r.is_empty()) {
        copy::for_each_field(row, |i, raw| {
            if index.is_none() || index == Some(i) {
                out.push(raw.to_vec());
            }
        });
    }
    out
}

/// The fields in which no detector finds anything (free text without personal data).
fn without_findings(fields: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    fields
        .into_iter()
        .filter(|raw| {
            let mut decoded = Vec::new();
            if copy::is_null(raw) || copy::unescape_into(raw, &mut decoded).is_err() {
                return true;
            }
            let mut found = false;
            pgveil::mask::find::scan_value(&decoded, |_, _, _| found = true);
            !found
        })
        .collect()
}

fn column_index(name: &str) -> usize {
    support::USERS_COLUMNS
        .iter()
        .position(|(n, _)| *n == name)
        .expect("a users column")
}

/// Mask every field as the engine's batch loop does; returns the output size.
fn mask_fields(
    m: &dyn Masker,
    fields: &[Vec<u8>],
    decoded: &mut Vec<u8>,
    masked: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> usize {
    out.clear();
    for raw in fields {
        if copy::is_null(raw) || !m.prefilter(raw) {
            out.extend_from_slice(raw);
            continue;
        }
        decoded.clear();
        copy::unescape_into(raw, decoded).expect("valid field");
        masked.clear();
        match m.mask(decoded, masked) {
            MaskOutcome::Unchanged => out.extend_from_slice(raw),
            MaskOutcome::Null => out.extend_from_slice(copy::NULL),
            MaskOutcome::Value => copy::escape_into(masked, out),
        }
    }
    out.len()
}

/// The raw fields of a column, shared where two benches compare on the same ones.
type Fields = Rc<Vec<Vec<u8>>>;

fn maskers(c: &mut Criterion) {
    let (users, _) = support::users_rows(support::scaled(8 << 20), 7);
    let (accounts, _) = support::accounts_rows(support::scaled(4 << 20), 8);
    let col = |name: &str| column(&users, Some(column_index(name)));
    // One set of fields for both scanners compared on text without findings, so that where the
    // allocator put each field does not differ between them.
    let notes_no_findings = Rc::new(without_findings(col("notes")));

    // (bench id, rule, unique column, fields)
    let cases: Vec<(&str, &str, bool, Fields)> = vec![
        (
            "email/email",
            "masker = \"email\"",
            false,
            Rc::new(col("email")),
        ),
        (
            "email_unique/email",
            "masker = \"email\"",
            true,
            Rc::new(col("email")),
        ),
        // The default rules apply email_scan everywhere; users.email is UNIQUE, hence keyed.
        (
            "email_scan_unique/email",
            "masker = \"email_scan\"",
            true,
            Rc::new(col("email")),
        ),
        (
            "email_scan/profile_jsonb",
            "masker = \"email_scan\"",
            false,
            Rc::new(col("profile")),
        ),
        (
            "email_scan/notes_text",
            "masker = \"email_scan\"",
            false,
            Rc::new(col("notes")),
        ),
        // No '@' anywhere: the prefilter alone decides (the common case in a real database).
        (
            "email_scan/accounts_no_at",
            "masker = \"email_scan\"",
            false,
            Rc::new(column(&accounts, None)),
        ),
        // The free-text scrubber next to email_scan: on the same notes, on the notes in which no
        // detector finds anything (the target: within 2x of email_scan there), on accounts.
        (
            "pii_scan/notes_text",
            "masker = \"pii_scan\"",
            false,
            Rc::new(col("notes")),
        ),
        (
            "email_scan/notes_no_findings",
            "masker = \"email_scan\"",
            false,
            Rc::clone(&notes_no_findings),
        ),
        (
            "pii_scan/notes_no_findings",
            "masker = \"pii_scan\"",
            false,
            notes_no_findings,
        ),
        (
            "pii_scan/accounts",
            "masker = \"pii_scan\"",
            false,
            Rc::new(column(&accounts, None)),
        ),
        (
            "name/full_name",
            "masker = \"name\"\nkind = \"full\"",
            false,
            Rc::new(col("full_name")),
        ),
        (
            "phone/phone",
            "masker = \"phone\"",
            false,
            Rc::new(col("phone")),
        ),
        (
            "hash/email",
            "masker = \"hash\"\nlength = 20",
            true,
            Rc::new(col("email")),
        ),
        (
            "regex/notes_text",
            "masker = \"regex\"\npattern = '\\d{4,}'\nreplacement = \"0000\"",
            false,
            Rc::new(col("notes")),
        ),
        (
            "constant/city",
            "masker = \"constant\"\nvalue = \"Springfield\"",
            false,
            Rc::new(col("city")),
        ),
    ];

    let mut g = c.benchmark_group("maskers");
    let (mut decoded, mut masked, mut out) = (Vec::new(), Vec::new(), Vec::new());
    for (id, rule, unique, fields) in &cases {
        let m = masker(rule, *unique);
        let bytes: usize = fields.iter().map(Vec::len).sum();
        g.throughput(Throughput::Bytes(bytes as u64));
        g.bench_function(*id, |b| {
            b.iter(|| mask_fields(&*m, black_box(fields), &mut decoded, &mut masked, &mut out))
        });
    }
    g.finish();
}

criterion_group!(benches, maskers);
criterion_main!(benches);
