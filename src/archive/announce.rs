//! What is known of a dump before its pass: every entry in order, data entries marked — from a
//! pre-scan of an input file, or built for a database from dumps of the same snapshot. With it
//! the archive writer lays out the whole TOC before the first data block and streams the blocks
//! (see [`super::writer`]); the pass must then show exactly these entries, or it fails.

use std::io::Read;

use crate::dump::anon_policy::{AnonPolicy, MaskedEntry};
use crate::dump::{DumpError, DumpReader, Entry, Event};

/// The entries a dump will show, in order (see the module doc).
#[derive(Debug, Clone, Default)]
pub struct Announced {
    /// Each entry and whether it has a data part (TABLE DATA, BLOBS).
    pub entries: Vec<(Entry, bool)>,
    /// What announced them, for messages (e.g. "the pre-scan of dump.sql").
    pub source: String,
}

impl Announced {
    pub fn new(source: impl Into<String>) -> Announced {
        Announced {
            entries: Vec::new(),
            source: source.into(),
        }
    }

    /// Record one event of the scan (entries and the starts of data parts; the data is skipped).
    pub fn observe(&mut self, event: &Event<'_>) {
        match event {
            Event::Entry(e) => self.entries.push((e.clone(), false)),
            Event::DataBegin(e) => self.entries.push((e.clone(), true)),
            _ => {}
        }
    }

    /// Scan a whole plain dump.
    pub fn scan<R: Read>(src: R, source: impl Into<String>) -> Result<Announced, DumpError> {
        let mut announced = Announced::new(source);
        let mut reader = DumpReader::new(src);
        while let Some(event) = reader.next_event()? {
            announced.observe(&event);
        }
        Ok(announced)
    }

    /// What the masked view of the pass will show of these entries: the pass's policy
    /// ([`AnonPolicy::seeded`] with the same database entries) applied in the same order.
    pub fn masked(&self, database_entries: &[Entry]) -> Announced {
        let mut policy = AnonPolicy::seeded(database_entries);
        let mut entries = Vec::with_capacity(self.entries.len());
        for (entry, data) in &self.entries {
            if *data {
                if !policy.excludes_data(entry) {
                    entries.push((entry.clone(), true));
                }
                continue;
            }
            match policy.masked_entry(entry) {
                MaskedEntry::Same => entries.push((entry.clone(), false)),
                MaskedEntry::LeftOut => {}
                // Scrubbing is unkeyed and deterministic: the pass scrubs the same text the same way.
                MaskedEntry::Rewritten(m) | MaskedEntry::Scrubbed(m) => entries.push((*m, false)),
            }
        }
        Announced {
            entries,
            source: self.source.clone(),
        }
    }
}
