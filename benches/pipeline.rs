//! The whole pass (`pass::Pass`: reader → batches masked on the rayon pool → sinks) over a
//! generated plain dump held in memory: half PII-rich users rows, half pgbench_accounts-like rows.
//! Throughput is bytes of the input dump.
//!
//! * `anonymize_discard`: the default rules, masked view, into a sink that drops the bytes: what
//!   `pgveil anonymize` costs without I/O (issue #4's target: ≥ 500 MB/s on 2 cores).
//! * `keep_all_discard`: rules that keep every column: the reader and row checks alone, the floor.
//! * `dump_three_artifacts`: what `pgveil dump` writes with its default options: `NAME.gz`,
//!   `NAME.anon.gz` and the custom archive `NAME.dump`, as files in a temporary folder.
//!
//! `cargo bench --bench pipeline`; `PGVEIL_BENCH_MB=64 cargo bench --bench pipeline` for a larger
//! input (default 32 MiB).

mod support;

use std::hint::black_box;
use std::path::Path;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use pgveil::archive::{ArchiveOptions, ArchiveSink};
use pgveil::dump::facts::SchemaFacts;
use pgveil::dump::{DumpReader, Entry, Preamble};
use pgveil::mask::{Key, RuleSet};
use pgveil::pass::{DataView, Pass, SinkSpec};
use pgveil::sink::plain::PlainSink;
use pgveil::sink::{DataBatch, SealedFile, Sink, SinkError};

/// A sink that only counts what it receives: the pass without output I/O.
#[derive(Default)]
struct Discard {
    bytes: u64,
}

impl Sink for Discard {
    fn preamble(&mut self, p: &Preamble) -> Result<(), SinkError> {
        self.bytes += p.text.len() as u64;
        Ok(())
    }
    fn entry(&mut self, e: &Entry) -> Result<(), SinkError> {
        self.bytes += e.text.len() as u64;
        Ok(())
    }
    fn data_begin(&mut self, e: &Entry) -> Result<(), SinkError> {
        self.bytes += e.text.len() as u64;
        Ok(())
    }
    fn data(&mut self, batch: &DataBatch) -> Result<(), SinkError> {
        self.bytes += black_box(&batch.bytes).len() as u64;
        Ok(())
    }
    fn data_end(&mut self, tail: &[u8]) -> Result<(), SinkError> {
        self.bytes += tail.len() as u64;
        Ok(())
    }
    fn trailer(&mut self, t: &[u8]) -> Result<(), SinkError> {
        self.bytes += t.len() as u64;
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Option<SealedFile>, SinkError> {
        black_box(self.bytes);
        Ok(None)
    }
}

/// Schema facts as `pgveil anonymize` gets them for a file: a pre-scan of the whole dump.
fn facts_of(dump: &[u8]) -> SchemaFacts {
    SchemaFacts::from_dump(dump).expect("the generated dump is valid")
}

fn pass(dump: &[u8], rules: &RuleSet, facts: &SchemaFacts, sinks: Vec<SinkSpec>) {
    let mut facts = facts.clone();
    let report = Pass::builder(rules)
        .facts(&mut facts, false)
        .sinks(sinks)
        .run(DumpReader::new(dump))
        .expect("the pass succeeds");
    // Publishing renames the partial files: part of what `pgveil dump` does.
    for (_, sealed) in report.artifacts {
        if let Some(s) = sealed {
            s.publish().expect("publish");
        }
    }
}

fn discard(view: DataView) -> Vec<SinkSpec> {
    vec![SinkSpec {
        name: "discard".into(),
        view,
        sink: Box::<Discard>::default(),
    }]
}

/// The artifacts and levels of `pgveil dump` with its default options (`--compress-level 5`,
/// `--custom-compression 5`).
fn three_artifacts(dir: &Path) -> Vec<SinkSpec> {
    let plain = PlainSink::gzip_file(&dir.join("bench.gz"), 5, true).expect("plain sink");
    let anon = PlainSink::gzip_file(&dir.join("bench.anon.gz"), 5, true).expect("anon sink");
    let archive = ArchiveSink::create(
        &dir.join("bench.dump"),
        ArchiveOptions {
            dbname: "bench".into(),
            compression: 5,
            spool_dir: dir.to_path_buf(),
            database_entries: Vec::new(),
            announced: None,
        },
    )
    .expect("archive sink");
    vec![
        SinkSpec {
            name: "bench.gz".into(),
            view: DataView::Original,
            sink: Box::new(plain),
        },
        SinkSpec {
            name: "bench.anon.gz".into(),
            view: DataView::Masked,
            sink: Box::new(anon),
        },
        SinkSpec {
            name: "bench.dump".into(),
            view: DataView::Original,
            sink: Box::new(archive),
        },
    ]
}

fn pipeline(c: &mut Criterion) {
    let dump = support::plain_dump(support::scaled(32 << 20));
    let facts = facts_of(&dump);
    let key = || Key::from_bytes(b"bench key");
    let default_rules = RuleSet::builtin_default(key());
    let keep_all = RuleSet::from_texts(
        &[("keep.toml", "[[rule]]\ncolumn = \"*\"\nmasker = \"keep\"\n")],
        key(),
    )
    .expect("valid rules");

    // The bench measures the real work only if the generated dump parses and gets masked: check once.
    let dir = tempfile::tempdir().expect("temp dir");
    let out = dir.path().join("check.sql");
    let sink = PlainSink::file(&out, false).expect("file sink");
    pass(
        &dump,
        &default_rules,
        &facts,
        vec![SinkSpec {
            name: "check".into(),
            view: DataView::Masked,
            sink: Box::new(sink),
        }],
    );
    let masked = std::fs::read(&out).expect("read back");
    assert!(masked.len() > dump.len() / 2 && masked.windows(7).any(|w| w == b"nobody+"));
    assert!(!masked.windows(18).any(|w| w == b"@example-mail.test"));

    let mut g = c.benchmark_group("pipeline");
    g.throughput(Throughput::Bytes(dump.len() as u64));
    // Each iteration is a whole pass over tens of MiB: ten samples are plenty.
    g.sample_size(10);

    g.bench_function("anonymize_discard", |b| {
        b.iter(|| pass(&dump, &default_rules, &facts, discard(DataView::Masked)))
    });
    g.bench_function("keep_all_discard", |b| {
        b.iter(|| pass(&dump, &keep_all, &facts, discard(DataView::Masked)))
    });
    g.bench_function("dump_three_artifacts", |b| {
        b.iter(|| pass(&dump, &default_rules, &facts, three_artifacts(dir.path())))
    });
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
