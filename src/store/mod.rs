//! Backup sets and the places that keep them.
//!
//! A backup set is `NAME/STAMP/` (STAMP a UTC time such as `2026-11-22T03-00-00Z`) holding the
//! artifacts of one pass and, written last, `NAME.manifest.json`. A set without a manifest is
//! incomplete and never counts as a backup.
//!
//! A pass owns its set exclusively: it [`Store::claim`]s the set before writing (a local folder is
//! created exclusively; in a bucket, which has no exclusive create, a claim object `STAMP.claim-TOKEN`
//! is written beside the set and the set is the pass's only if no other object is there afterwards), and takes the next second
//! when the set is taken. Stamps stay one-second UTC times, so they sort and select as before.
//!
//! A [`Store`] is a location holding sets: a local folder ([`local::LocalStore`]) or an S3 prefix
//! ([`s3::S3Store`]). The trait is small on purpose (list, create, open, delete) so that other
//! front ends (a REST service) can reuse the stores; what a run left unfinished (partial files,
//! spools, open multipart uploads) is listed by [`Store::pending`]; checking sets against their manifests lives in
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
    #[error("{what}")]
    Remote {
        what: String,
        #[source]
        source: s3::S3Error,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    NotFound(String),
    /// The server does not implement a request (s3s-fs has no ListMultipartUploads).
    #[error("{0}")]
    Unsupported(String),
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

pub fn parse_stamp(s: &str) -> Option<time::OffsetDateTime> {
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
    /// Bytes not yet under a final name: partial files, the parts of open multipart uploads.
    pub pending_bytes: u64,
}

/// Whether a file name in a set folder is one of the set's files (not hidden, not partial).
pub fn is_set_file(name: &str) -> bool {
    !name.is_empty() && !name.starts_with('.') && !crate::sink::output::is_partial_name(name)
}

/// Something a run left without a final name: a partial file, an archive spool, an open multipart
/// upload. Normally its run removes it; a run killed outright (SIGKILL, power loss) cannot.
#[derive(Debug, Clone)]
pub struct Pending {
    /// For messages: where it is.
    pub location: String,
    /// The set it belongs to, when it is inside one.
    pub set: Option<SetId>,
    /// Bytes written so far (for an upload: its parts, 0 where the server cannot list them).
    pub bytes: u64,
    /// When the upload started, or when the file was last written.
    pub since: std::time::SystemTime,
    pub handle: PendingHandle,
}

#[derive(Debug, Clone)]
pub enum PendingHandle {
    File(PathBuf),
    Upload { key: String, upload_id: String },
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
    /// Make `set` this pass's own: `Ok(false)` when another pass has it (or had it). `token` is
    /// unique to the pass.
    fn claim(&self, set: &SetId, token: &str) -> Result<bool, StoreError>;
    /// Give up a claim of a set that received nothing (a failed or refused pass); best effort.
    fn release(&self, set: &SetId, token: &str);
    /// The end of a pass: drop the claim marker of a set whose manifest is written; best effort.
    fn finish_claim(&self, set: &SetId, token: &str);
    /// A closure that deletes a set of this store, for the interrupt cleanup (another thread).
    fn set_remover(&self, set: &SetId) -> Box<dyn FnOnce() + Send>;
    /// What runs left without a final name under the root (see [`Pending`]).
    fn pending(&self) -> Result<Vec<Pending>, StoreError>;
    /// Remove one such thing (delete the file, abort the upload).
    fn remove_pending(&self, pending: &Pending) -> Result<(), StoreError>;
    /// Report each part of the uploads created from now on to `to` (for progress); stores that
    /// upload no parts ignore it.
    fn report_parts(&mut self, _to: crate::observe::PartSender) {}
}

/// Parse a grace period such as `24h`, `90m`, `7d`, `3600s` (`0s` for none).
pub fn parse_age(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num
        .parse()
        .map_err(|_| format!("{s:?} is not an age such as 24h, 90m, 7d or 3600s"))?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(format!("{s:?} is not an age such as 24h, 90m, 7d or 3600s")),
    };
    Ok(std::time::Duration::from_secs(n.saturating_mul(secs)))
}

/// When a set's pass started (its stamp), as a system time.
pub fn stamp_time(stamp: &str) -> Option<std::time::SystemTime> {
    let t = parse_stamp(stamp)?;
    let secs = u64::try_from(t.unix_timestamp()).ok()?;
    Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
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

    #[test]
    fn ages_parse() {
        assert_eq!(parse_age("24h").unwrap().as_secs(), 86400);
        assert_eq!(parse_age("0s").unwrap().as_secs(), 0);
        assert_eq!(parse_age("7d").unwrap().as_secs(), 7 * 86400);
        assert!(parse_age("24").is_err());
        assert!(parse_age("h").is_err());
        assert!(parse_age("1w").is_err());
    }

    #[test]
    fn set_files_exclude_claims_and_partials() {
        assert!(is_set_file("shop.gz"));
        assert!(!is_set_file(".hidden"));
        assert!(!is_set_file("shop.gz.123-0.partial"));
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
        SetListing {
            id,
            files,
            pending_bytes: 0,
        }
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
