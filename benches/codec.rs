//! The COPY text codec on generated users rows (emails, names, jsonb, free text with escaped tabs,
//! newlines and backslashes, NULLs): splitting rows into fields, decoding fields, encoding values.
//! Throughput is bytes of COPY text (for `escape`, bytes of decoded values).
//!
//! `cargo bench --bench codec` (add `-- --measurement-time 3` for a quick look).

mod support;

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pgveil::copy;

fn rows(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    data.split(|&b| b == b'\n').filter(|r| !r.is_empty())
}

fn codec(c: &mut Criterion) {
    let (data, _) = support::users_rows(support::scaled(8 << 20), 42);
    // Decoded non-NULL values, for the escape bench.
    let mut values = Vec::new();
    for row in rows(&data) {
        copy::for_each_field(row, |_, raw| {
            if !copy::is_null(raw) {
                let mut v = Vec::new();
                copy::unescape_into(raw, &mut v).expect("generated rows are valid");
                values.push(v);
            }
        });
    }
    let value_bytes: usize = values.iter().map(Vec::len).sum();

    let mut g = c.benchmark_group("codec");
    g.throughput(Throughput::Bytes(data.len() as u64));

    // What the engine does to every row of every table (masked or not): find the row ends, check
    // them, split the fields.
    g.bench_function("split_rows_and_fields", |b| {
        b.iter(|| {
            let mut fields = 0usize;
            for row in rows(black_box(&data)) {
                copy::check_row_end(row).unwrap();
                fields += copy::for_each_field(row, |_, f| {
                    black_box(f);
                });
            }
            fields
        })
    });

    // Decoding every field: an upper bound, since the engine decodes only fields a masker looks at.
    g.bench_function("unescape_all_fields", |b| {
        let mut buf = Vec::with_capacity(64 << 10);
        b.iter(|| {
            for row in rows(black_box(&data)) {
                copy::for_each_field(row, |_, raw| {
                    if !copy::is_null(raw) {
                        buf.clear();
                        copy::unescape_into(raw, &mut buf).unwrap();
                        black_box(&buf);
                    }
                });
            }
        })
    });

    g.throughput(Throughput::Bytes(value_bytes as u64));
    g.bench_function("escape_all_values", |b| {
        let mut out = Vec::with_capacity(data.len() + 1024);
        b.iter(|| {
            out.clear();
            for v in black_box(&values) {
                copy::escape_into(v, &mut out);
                out.push(b'\t');
            }
            out.len()
        })
    });
    g.finish();
}

criterion_group!(benches, codec);
criterion_main!(benches);
