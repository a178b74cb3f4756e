//! Backup sets and the places that keep them.
//!
//! A backup set is `NAME/STAMP/` (STAMP a UTC time such as `2026-11-22T03-00-00Z`) holding the
//! artifacts of one pass and, written last, `NAME.manifest.json`. A set without a manifest is
//! incomplete and never counts as a backup.
//!
//! A [`Store`] is a location holding sets: a local folder ([`local::LocalStore`]) or an S3 prefix
//! ([`s3::S3Store`]). The trait is small on purpose (list, create, open, delete) so that other
//! front ends (a REST service) can reuse the stores; checking sets against their manifests lives in
//! [`check`], choosing what retention deletes in [`retention`].

pub mod check;
pub mod local;
pub mod retention;
pub mod s3;

use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;

use crate::sink::{ArtifactOutput, OutputError};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{what}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    #[error("{what}: {message}")]
    Remote { what: String, message: String },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    #[error(transparent)]
    Output(#[from] OutputError),
}

/// The id of a backup set: the artifact base name and the UTC stamp of the pass.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SetId {
    pub name: String,
    pub stamp: String,
}

impl SetId {
    /// A set for a pass starting now.
    pub fn now(name: &str) -> SetId {
        SetId {
            name: name.to_string(),
            stamp: stamp_of(time::OffsetDateTime::now_utc()),
        }
    }

    /// The set one second after `self` (two passes in the same second must not share a set).
    pub fn next_after(&self) -> Option<SetId> {
        let t = parse_stamp(&self.stamp)? + time::Duration::seconds(1);
        Some(SetId {
            name: self.name.clone(),
            stamp: stamp_of(t),
        })
    }

    /// `NAME/STAMP`, the set's path relative to the store's root.
    pub fn path(&self) -> String {
        format!("{}/{}", self.name, self.stamp)
    }

    pub fn manifest_file(&self) -> String {
        format!("{}.manifest.json", self.name)
    }
}

impl std::fmt::Display for SetId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.name, self.stamp)
    }
}

const STAMP_FORMAT: &[time::format_description::FormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]-[minute]-[second]Z");

fn stamp_of(t: time::OffsetDateTime) -> String {
    t.format(STAMP_FORMAT).unwrap_or_default()
}

fn parse_stamp(s: &str) -> Option<time::OffsetDateTime> {
    time::PrimitiveDateTime::parse(s, STAMP_FORMAT)
        .ok()
        .map(|t| t.assume_utc())
}

/// Whether a folder name is a set stamp (other folders under a store's root are ignored).
pub fn is_stamp(s: &str) -> bool {
    parse_stamp(s).is_some()
}

/// Whether a string can be a set name (one path component, no hidden or partial names).
pub fn is_valid_name(s: &str) -> bool {
    !s.is_empty() && !s.contains('/') && !s.starts_with('.') && s != ".."
}

/// A set as listed: its files (final names only) and their sizes.
#[derive(Debug, Clone)]
pub struct SetListing {
    pub id: SetId,
    pub files: BTreeMap<String, u64>,
}

/// A place that holds backup sets.
pub trait Store: Send + Sync {
    /// For messages: the folder, or `s3://bucket/prefix/`.
    fn describe(&self) -> String;
    /// For messages: where one file of a set is.
    fn location(&self, set: &SetId, file: &str) -> String;
    /// Every set under the root (complete or not), oldest first.
    fn list_sets(&self) -> Result<Vec<SetListing>, StoreError>;
    /// A new file of a set: nothing is visible under its final name until it is published.
    fn create(&self, set: &SetId, file: &str) -> Result<ArtifactOutput, StoreError>;
    /// Read a file of a set from the start.
    fn open(&self, set: &SetId, file: &str) -> Result<Box<dyn Read + Send>, StoreError>;
    /// Remove a set: the manifest first (so an interrupted delete leaves an incomplete set, never a
    /// complete-looking one with missing artifacts), then the rest.
    fn delete_set(&self, set: &SetId) -> Result<(), StoreError>;
    /// The local path of a file, when the store is a folder (pg_restore reads it in place).
    fn local_path(&self, _set: &SetId, _file: &str) -> Option<PathBuf> {
        None
    }
}

/// A store location given on the command line: `s3://bucket/prefix/` or a folder.
pub fn is_s3_url(s: &str) -> bool {
    s.starts_with("s3://")
}

/// Open a location: an S3 URL (with an optional custom endpoint) or a local folder.
pub fn open_location(
    location: &str,
    endpoint_url: Option<&str>,
) -> Result<Box<dyn Store>, StoreError> {
    if is_s3_url(location) {
        Ok(Box::new(s3::S3Store::connect(location, endpoint_url)?))
    } else {
        Ok(Box::new(local::LocalStore::new(PathBuf::from(location))))
    }
}

/// Pick a set: `latest` (the newest complete one, optionally of one name), `NAME/STAMP`, or a
/// `STAMP` that only one name has.
pub fn select_set<'a>(
    sets: &'a [SetListing],
    which: &str,
    name: Option<&str>,
) -> Result<&'a SetListing, StoreError> {
    let of_name = |s: &&SetListing| name.is_none_or(|n| s.id.name == n);
    if which == "latest" {
        return sets
            .iter()
            .filter(of_name)
            .filter(|s| s.files.contains_key(&s.id.manifest_file()))
            .max_by(|a, b| a.id.stamp.cmp(&b.id.stamp).then(a.id.cmp(&b.id)))
            .ok_or_else(|| StoreError::NotFound("no complete backup set found".into()));
    }
    let found: Vec<&SetListing> = match which.split_once('/') {
        Some((n, stamp)) => sets
            .iter()
            .filter(|s| s.id.name == n && s.id.stamp == stamp)
            .collect(),
        None => sets
            .iter()
            .filter(of_name)
            .filter(|s| s.id.stamp == which)
            .collect(),
    };
    match found.as_slice() {
        [one] => Ok(one),
        [] => Err(StoreError::NotFound(format!("no backup set {which}"))),
        _ => Err(StoreError::Invalid(format!(
            "backup {which} is ambiguous: give NAME/STAMP or --name"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_round_trip_and_order() {
        let id = SetId {
            name: "shop".into(),
            stamp: "2026-11-22T03-00-59Z".into(),
        };
        assert!(is_stamp(&id.stamp));
        assert!(!is_stamp("shop.gz"));
        let next = id.next_after().unwrap();
        assert_eq!(next.stamp, "2026-11-22T03-01-00Z");
        assert!(next > id);
        assert!(is_stamp(&SetId::now("x").stamp));
    }

    fn listing(name: &str, stamp: &str, complete: bool) -> SetListing {
        let id = SetId {
            name: name.into(),
            stamp: stamp.into(),
        };
        let mut files = BTreeMap::new();
        files.insert(format!("{name}.anon.gz"), 10);
        if complete {
            files.insert(id.manifest_file(), 1);
        }
        SetListing { id, files }
    }

    #[test]
    fn latest_is_the_newest_complete_set() {
        let sets = vec![
            listing("a", "2026-11-22T03-00-00Z", true),
            listing("b", "2026-11-22T04-00-00Z", true),
            listing("a", "2026-11-22T05-00-00Z", false),
            listing("a", "2026-11-22T04-00-00Z", true),
        ];
        let pick = |which, name| select_set(&sets, which, name).map(|s| s.id.to_string());
        assert_eq!(pick("latest", Some("a")).unwrap(), "a/2026-11-22T04-00-00Z");
        assert_eq!(pick("latest", Some("b")).unwrap(), "b/2026-11-22T04-00-00Z");
        assert!(pick("latest", Some("c")).is_err());
        assert!(
            pick("2026-11-22T04-00-00Z", None).is_err(),
            "a stamp two names share is ambiguous"
        );
        assert_eq!(
            pick("2026-11-22T04-00-00Z", Some("b")).unwrap(),
            "b/2026-11-22T04-00-00Z"
        );
        assert_eq!(
            pick("a/2026-11-22T05-00-00Z", None).unwrap(),
            "a/2026-11-22T05-00-00Z"
        );
        assert!(pick("a/2026-11-22T06-00-00Z", None).is_err());
    }
}
