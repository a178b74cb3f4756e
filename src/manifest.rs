//! The manifest written beside the artifacts of one backup (`NAME.manifest.json`): what produced it,
//! from what, when, each artifact's size and SHA-256, and per-table rows, bytes and throughput. It is written last,
//! so a backup set without a manifest is incomplete.

use serde::{Deserialize, Serialize};

use crate::pass::TableReport;
use crate::sink::ArtifactInfo;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub pgveil_version: String,
    pub name: String,
    /// What was read (a file, stdin, or `pg_dump <db>` with any password redacted).
    pub source: String,
    pub server_version: Option<String>,
    pub pg_dump_version: Option<String>,
    pub started_at: String,
    pub finished_at: String,
    /// The rule files used (`builtin:default` for the shipped set).
    pub rules: Vec<String>,
    /// Whether key facts (unique / foreign-key columns) were known to the maskers.
    pub schema_facts: String,
    /// For the custom archive: `full` or `anon` data.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    pub artifacts: Vec<ManifestArtifact>,
    pub tables: Vec<ManifestTable>,
    /// Large objects in the dump, and what the masked artifacts hold of them (`emptied`, `kept`).
    #[serde(default)]
    pub large_objects: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub large_objects_in_anon: Option<String>,
    /// Entries of PostgreSQL Anonymizer's own (the `anon` extension, its security labels, the data of
    /// its configuration tables) that the full artifacts hold and the masked ones leave out.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub left_out_of_masked: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestArtifact {
    /// `plain`, `anon` or `custom`.
    pub kind: String,
    #[serde(flatten)]
    pub info: ArtifactInfo,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestTable {
    pub schema: String,
    pub table: String,
    pub rows: u64,
    pub bytes: u64,
    pub masked_columns: Vec<String>,
    /// Wall time of the table's data in the pass, and its throughput (COPY text, MB/s).
    #[serde(default)]
    pub seconds: f64,
    #[serde(default)]
    pub mb_per_s: f64,
}

impl From<&TableReport> for ManifestTable {
    fn from(t: &TableReport) -> Self {
        ManifestTable {
            schema: t.schema.clone(),
            table: t.table.clone(),
            rows: t.rows,
            bytes: t.bytes,
            masked_columns: t.masked_columns.clone(),
            seconds: (t.seconds * 1e6).round() / 1e6,
            mb_per_s: (t.mb_per_second() * 10.0).round() / 10.0,
        }
    }
}

/// Now, as RFC 3339 UTC.
pub fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
