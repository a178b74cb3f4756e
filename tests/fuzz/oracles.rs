//! What each fuzz target checks, beyond "no panic". Shared by the cargo-fuzz targets
//! (`tests/fuzz/fuzz_targets/*.rs`) and by `tests/it/fuzz_corpus.rs`, which replays the checked-in corpus
//! (`tests/fuzz/corpus/TARGET/*`) on stable under `cargo test`. A failed oracle panics with the reason.

#![allow(dead_code)]

use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use pgveil::dump::facts::SchemaFacts;
use pgveil::dump::{DumpReader, Entry, Preamble};
use pgveil::mask::key::Key;
use pgveil::mask::RuleSet;
use pgveil::pass::{DataView, Pass, PassOptions, SinkSpec};
use pgveil::sink::{DataBatch, SealedFile, Sink, SinkError};

/// Inputs larger than this are cut (libFuzzer's default max_len is far below; the corpus too).
const MAX_INPUT: usize = 1 << 20;

/// COPY text codec: decoding then encoding a field gives back the field's value; an encoded value
/// never holds a raw TAB, LF or CR; splitting a row gives fields that join back to the row.
pub fn copy_codec(data: &[u8]) {
    use pgveil::copy::{escape_into, for_each_field, is_null, unescape_into};
    let data = &data[..data.len().min(MAX_INPUT)];

    // Any bytes as a value: escape, then unescape, is the identity.
    let mut escaped = Vec::new();
    escape_into(data, &mut escaped);
    assert!(
        !escaped.iter().any(|b| matches!(b, b'\t' | b'\n' | b'\r')),
        "an escaped value holds a raw separator"
    );
    let mut back = Vec::new();
    unescape_into(&escaped, &mut back).expect("our own escaping decodes");
    assert_eq!(back, data, "unescape(escape(x)) != x");

    // Any bytes as rows: the fields of each row join back to it with TABs, and every field that
    // decodes re-encodes to a field that decodes to the same value.
    for row in data.split(|&b| b == b'\n') {
        let mut joined = Vec::with_capacity(row.len());
        let mut value = Vec::new();
        let mut again = Vec::new();
        let mut decoded = Vec::new();
        let n = for_each_field(row, |i, raw| {
            if i > 0 {
                joined.push(b'\t');
            }
            joined.extend_from_slice(raw);
            if is_null(raw) {
                return;
            }
            value.clear();
            if unescape_into(raw, &mut value).is_ok() {
                again.clear();
                escape_into(&value, &mut again);
                decoded.clear();
                unescape_into(&again, &mut decoded).expect("re-encoded field decodes");
                assert_eq!(
                    decoded, value,
                    "a decoded field does not survive re-encoding"
                );
            }
        });
        assert!(n >= 1);
        assert_eq!(joined, row, "fields do not join back to their row");
    }
}

/// The marker that the dump-reader corpus uses for the addresses it plants in COPY data.
const MARKER_DOMAIN: &[u8] = b"@leak.test";

/// Dump reader and engine, through a whole pass with the default rules (every email address in the
/// data is masked):
/// * the original view, concatenated, is exactly the input (the reader loses and invents nothing);
/// * **no email address that the input holds in COPY data appears in the masked output unless the
///   pass fails** — wherever the COPY sits (preamble, a second COPY in one entry, under a damaged
///   header). "COPY data" is judged here by a model independent of the reader: the lines after a line
///   that starts with `COPY ` (any case) or `\copy ` and ends with ` stdin;` (or `stdin`), up to `\.`.
pub fn dump_reader(data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT)];
    let key = Key::from_bytes(b"pgveil-fuzz-key");
    let rules = RuleSet::builtin_default(key);
    let original = Collected::default();
    let masked = Collected::default();
    let sinks = vec![
        SinkSpec {
            name: "original".into(),
            view: DataView::Original,
            sink: Box::new(original.clone()),
        },
        SinkSpec {
            name: "masked".into(),
            view: DataView::Masked,
            sink: Box::new(masked.clone()),
        },
    ];
    let options = PassOptions {
        queue_depth: 4,
        keep_large_objects: true,
        ..PassOptions::default()
    };
    let mut facts = SchemaFacts::unknown();
    let result = Pass::builder(&rules)
        .facts(&mut facts, true)
        .sinks(sinks)
        .options(options)
        .run(DumpReader::with_batch_bytes(data, 256));
    if result.is_err() {
        return; // failing is always allowed: nothing was published
    }
    let original = original.bytes();
    assert!(
        original == data,
        "the original view differs from the input ({} vs {} bytes)",
        original.len(),
        data.len()
    );
    let masked = masked.bytes();
    let left: std::collections::BTreeSet<Vec<u8>> = masked
        .split(|&b| b == b'\n')
        .flat_map(marker_addresses)
        .collect();
    for address in addresses_in_copy_data(data) {
        assert!(
            !left.contains(&address),
            "the masked output holds {:?} from the input's COPY data, and the pass succeeded",
            String::from_utf8_lossy(&address)
        );
    }
}

/// Email addresses with [`MARKER_DOMAIN`] that the input holds only on COPY data lines, by the simple
/// line model above. An address that also sits in SQL text (a mutation can copy it anywhere) is left
/// out: rules mask data, not statements.
fn addresses_in_copy_data(data: &[u8]) -> Vec<Vec<u8>> {
    let mut in_data = std::collections::BTreeSet::new();
    let mut elsewhere = std::collections::BTreeSet::new();
    let mut in_copy = false;
    for line in data.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if in_copy && line == b"\\." {
            in_copy = false;
            continue;
        }
        let found = if in_copy {
            &mut in_data
        } else {
            &mut elsewhere
        };
        for address in marker_addresses(line) {
            found.insert(address);
        }
        if !in_copy {
            let lower = line.to_ascii_lowercase();
            let trimmed = lower.trim_ascii();
            in_copy = (trimmed.starts_with(b"copy ") || trimmed.starts_with(b"\\copy "))
                && (trimmed.ends_with(b" stdin;") || trimmed.ends_with(b" stdin"));
        }
    }
    in_data.difference(&elsewhere).cloned().collect()
}

/// The addresses ending in [`MARKER_DOMAIN`] on one line.
fn marker_addresses(line: &[u8]) -> Vec<Vec<u8>> {
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(at) = memchr::memmem::find(&line[from..], MARKER_DOMAIN) {
        let at = from + at;
        let start = line[..at]
            .iter()
            .rposition(|b| !(b.is_ascii_alphanumeric() || b"._%+-".contains(b)))
            .map_or(0, |p| p + 1);
        let end = at + MARKER_DOMAIN.len();
        // `…@leak.test022` or `…@leak.test.example` is another domain, not the marker's.
        let domain_goes_on = match line.get(end) {
            Some(b) if b.is_ascii_alphanumeric() || *b == b'-' => true,
            Some(b'.') => line.get(end + 1).is_some_and(u8::is_ascii_alphanumeric),
            _ => false,
        };
        if start < at && !domain_goes_on {
            found.push(line[start..end].to_vec());
        }
        from = at + MARKER_DOMAIN.len();
    }
    found
}

/// A sink that keeps what it is given, for the oracle to read after the pass.
#[derive(Clone, Default)]
struct Collected(Arc<Mutex<Vec<u8>>>);

impl Collected {
    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
    fn push(&self, bytes: &[u8]) {
        self.0.lock().unwrap().extend_from_slice(bytes);
    }
}

impl Sink for Collected {
    fn preamble(&mut self, preamble: &Preamble) -> Result<(), SinkError> {
        self.push(&preamble.text);
        Ok(())
    }
    fn entry(&mut self, entry: &Entry) -> Result<(), SinkError> {
        self.push(&entry.text);
        Ok(())
    }
    fn data_begin(&mut self, entry: &Entry) -> Result<(), SinkError> {
        self.push(&entry.text);
        Ok(())
    }
    fn data(&mut self, batch: &DataBatch) -> Result<(), SinkError> {
        self.push(&batch.bytes);
        Ok(())
    }
    fn data_end(&mut self, tail: &[u8]) -> Result<(), SinkError> {
        self.push(tail);
        Ok(())
    }
    fn trailer(&mut self, trailer: &[u8]) -> Result<(), SinkError> {
        self.push(trailer);
        Ok(())
    }
    fn finish(self: Box<Self>) -> Result<Option<SealedFile>, SinkError> {
        Ok(None)
    }
}

/// Archive reader (`inspect`, `scan`): a hostile or damaged archive is an error, never a panic, a
/// hang or an allocation sized by a length field that the file does not back.
pub fn archive_reader(data: &[u8]) {
    let data = &data[..data.len().min(MAX_INPUT)];
    let path = scratch_file("archive.dump", data);
    if let Ok(archive) = pgveil::archive::read_archive(&path) {
        let _ = pgveil::archive::inspect(&path);
        for id in archive.blocks.keys() {
            let _ = pgveil::archive::read_table_data(&path, *id);
        }
    }
    let rules = RuleSet::builtin_default(Key::from_bytes(b"pgveil-fuzz-key"));
    let _ = pgveil::audit::scan::scan_artifact(&path, &rules);
    let _ = std::fs::remove_file(&path);
}

/// Rule files: any text loads or fails with an error; a loaded rule set plans and masks a sample
/// table without panicking, and masking is deterministic.
pub fn rule_file(data: &[u8]) {
    use pgveil::mask::ColumnInfo;
    let Ok(text) = std::str::from_utf8(&data[..data.len().min(64 << 10)]) else {
        return;
    };
    let Ok(rules) = RuleSet::from_texts(&[("fuzz.toml", text)], Key::from_bytes(b"k")) else {
        return;
    };
    let columns: Vec<ColumnInfo> = ["id", "email", "name", "phone", "data", "note"]
        .iter()
        .enumerate()
        .map(|(i, c)| ColumnInfo {
            name: c.to_string(),
            type_name: Some(if i == 4 { "jsonb" } else { "text" }.to_string()),
            unique: i < 2,
        })
        .collect();
    let Ok(plan) = rules.plan_table("public", "users", &columns) else {
        return;
    };
    let values: [&[u8]; 6] = [
        b"42",
        b"ada@leak.test",
        b"Ada Lovelace",
        b"+44 20 7946 0958",
        br#"{"email": "ada@leak.test", "n": [1, 2]}"#,
        "caf\u{e9} \\ tab\there".as_bytes(),
    ];
    for (masker, value) in plan.columns.iter().zip(values) {
        if let Some(m) = masker {
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let first = m.mask(value, &mut a);
            let second = m.mask(value, &mut b);
            assert_eq!(first, second, "a masker is not deterministic");
            assert_eq!(a, b, "a masker is not deterministic");
        }
    }
    let mut coverage = pgveil::mask::RuleCoverage::default();
    coverage.record(&plan);
    let _ = rules.check_coverage(&coverage);
}

/// A file of this thread's own, holding `data` (the caller removes it).
fn scratch_file(name: &str, data: &[u8]) -> PathBuf {
    let thread = format!("{:?}", std::thread::current().id());
    let thread: String = thread.chars().filter(char::is_ascii_digit).collect();
    let path = std::env::temp_dir().join(format!(
        "pgveil-fuzz-{}-{thread}-{name}",
        std::process::id()
    ));
    let mut f = std::fs::File::create(&path).expect("scratch file");
    f.write_all(data).expect("scratch write");
    path
}
