//! Masking rules: loading and validating rule files (TOML), matching columns to maskers, and the maskers.
//!
//! STUB: the interface the engine uses. To be filled in (see the rules work item).

use std::path::PathBuf;
use std::sync::Arc;

#[derive(Debug, thiserror::Error)]
pub enum RulesError {
    #[error("{0}")]
    Invalid(String),
}

/// What the dump tells about one column of a table being planned.
#[derive(Debug, Clone)]
pub struct ColumnInfo {
    pub name: String,
    /// The column's type as written in `CREATE TABLE` (e.g. `character varying(255)`, `jsonb`, `text[]`),
    /// when the dump showed it.
    pub type_name: Option<String>,
    /// Under a PRIMARY KEY / UNIQUE constraint / unique index, or referencing one through a foreign key
    /// (then it must be masked exactly like the column it references). Maskers must keep distinct inputs
    /// distinct and stay deterministic for such columns.
    pub unique: bool,
}

/// The result of masking one non-NULL value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaskOutcome {
    /// Keep the value as it was (the engine copies the raw field, no re-encoding).
    Unchanged,
    /// Replace it by SQL NULL.
    Null,
    /// Replace it by the bytes the masker appended to `out`.
    Value,
}

pub trait Masker: Send + Sync {
    /// A cheap test on the raw (still escaped) field: `false` means `mask` would surely return `Unchanged`.
    fn prefilter(&self, _raw: &[u8]) -> bool {
        true
    }
    /// Mask one decoded non-NULL value. NULLs are never passed: they stay NULL.
    fn mask(&self, value: &[u8], out: &mut Vec<u8>) -> MaskOutcome;
}

/// The maskers for one table, by column position (`None` = keep).
#[derive(Clone, Default)]
pub struct TablePlan {
    pub columns: Vec<Option<Arc<dyn Masker>>>,
}

impl TablePlan {
    pub fn is_passthrough(&self) -> bool {
        self.columns.iter().all(Option::is_none)
    }
}

pub struct Key;
impl Key {
    pub fn from_env_or_file(_f: Option<&std::path::Path>) -> Result<Key, RulesError> {
        Ok(Key)
    }
}

pub struct RuleSet {}

impl RuleSet {
    pub fn load(_paths: &[PathBuf], _key: Key) -> Result<RuleSet, RulesError> {
        Ok(RuleSet {})
    }
    pub fn builtin_default(_key: Key) -> RuleSet {
        RuleSet {}
    }
    pub fn plan_table(
        &self,
        _schema: &str,
        _table: &str,
        columns: &[ColumnInfo],
    ) -> Result<TablePlan, RulesError> {
        Ok(TablePlan {
            columns: vec![None; columns.len()],
        })
    }
    pub fn finish(&self) -> Result<(), RulesError> {
        Ok(())
    }
}
