//! Which backup sets retention deletes: a pure decision over checked sets, no I/O, so the rules are
//! tested exhaustively and `--dry-run` prints exactly what a real run does.
//!
//! Rules, per set name:
//! - only verified sets (manifest present, artifacts match it) count; incomplete or damaged sets are
//!   neither counted nor deleted (a pass may still be running; a damaged set is for a human);
//! - the newest `keep` verified sets stay, and the newest verified set always stays (even `keep 0`);
//! - a local set is freed only when the same set is verified in the bucket, if a bucket is
//!   configured (the hot copy goes only once the cold copy is known good);
//! - remote sets are deleted only by `keep_remote`.

use std::collections::{BTreeMap, BTreeSet};

use super::check::SetCheck;
use super::SetId;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RetentionPlan {
    pub delete_local: Vec<SetId>,
    pub delete_remote: Vec<SetId>,
    /// Local sets past `keep_local` that stay because the bucket has no verified copy.
    pub kept_not_uploaded: Vec<SetId>,
}

/// The verified sets beyond the newest `keep` of each name (never the newest one).
fn beyond(sets: &[SetCheck], keep: usize) -> Vec<SetId> {
    let mut by_name: BTreeMap<&str, Vec<&SetId>> = BTreeMap::new();
    for s in sets.iter().filter(|s| s.is_verified()) {
        by_name.entry(&s.id.name).or_default().push(&s.id);
    }
    let mut out = Vec::new();
    for (_, mut ids) in by_name {
        ids.sort_by(|a, b| b.stamp.cmp(&a.stamp));
        out.extend(ids.into_iter().skip(keep.max(1)).cloned());
    }
    out.sort();
    out
}

/// Decide. `remote` is `None` when no bucket is configured.
pub fn plan(
    local: &[SetCheck],
    remote: Option<&[SetCheck]>,
    keep_local: Option<usize>,
    keep_remote: Option<usize>,
) -> RetentionPlan {
    let mut plan = RetentionPlan::default();
    if let Some(keep) = keep_local {
        let verified_remote: Option<BTreeSet<&SetId>> = remote.map(|r| {
            r.iter()
                .filter(|s| s.is_verified())
                .map(|s| &s.id)
                .collect()
        });
        for id in beyond(local, keep) {
            match &verified_remote {
                Some(v) if !v.contains(&id) => plan.kept_not_uploaded.push(id),
                _ => plan.delete_local.push(id),
            }
        }
    }
    if let (Some(keep), Some(remote)) = (keep_remote, remote) {
        plan.delete_remote = beyond(remote, keep);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::check::SetState;

    fn set(name: &str, sec: u32, state: SetState) -> SetCheck {
        SetCheck {
            id: SetId {
                name: name.into(),
                stamp: format!("2026-11-22T03-00-{sec:02}Z"),
            },
            state,
            manifest: None,
            bytes: 0,
        }
    }

    fn ok(name: &str, sec: u32) -> SetCheck {
        set(name, sec, SetState::Verified)
    }

    fn secs(ids: &[SetId]) -> Vec<String> {
        ids.iter().map(|i| i.to_string()).collect()
    }

    #[test]
    fn keeps_the_newest_verified_sets_per_name() {
        let local = vec![ok("a", 1), ok("a", 2), ok("a", 3), ok("b", 1)];
        let p = plan(&local, None, Some(2), None);
        assert_eq!(secs(&p.delete_local), ["a/2026-11-22T03-00-01Z"]);
        assert!(p.delete_remote.is_empty());
    }

    #[test]
    fn incomplete_and_damaged_sets_neither_count_nor_go() {
        let local = vec![
            ok("a", 1),
            ok("a", 2),
            set("a", 3, SetState::Incomplete),
            set("a", 4, SetState::Damaged("x".into())),
        ];
        let p = plan(&local, None, Some(1), None);
        assert_eq!(secs(&p.delete_local), ["a/2026-11-22T03-00-01Z"]);
    }

    #[test]
    fn the_newest_verified_set_survives_keep_zero() {
        let local = vec![ok("a", 1), ok("a", 2), set("a", 3, SetState::Incomplete)];
        let p = plan(&local, Some(&[ok("a", 1), ok("a", 2)]), Some(0), Some(0));
        assert_eq!(secs(&p.delete_local), ["a/2026-11-22T03-00-01Z"]);
        assert_eq!(secs(&p.delete_remote), ["a/2026-11-22T03-00-01Z"]);
    }

    #[test]
    fn local_sets_go_only_when_verified_in_the_bucket() {
        let local = vec![ok("a", 1), ok("a", 2), ok("a", 3)];
        let remote = vec![ok("a", 2), set("a", 1, SetState::Damaged("bad".into()))];
        let p = plan(&local, Some(&remote), Some(1), None);
        assert_eq!(secs(&p.delete_local), ["a/2026-11-22T03-00-02Z"]);
        assert_eq!(secs(&p.kept_not_uploaded), ["a/2026-11-22T03-00-01Z"]);
        assert!(
            p.delete_remote.is_empty(),
            "remote deletes only with keep_remote"
        );
    }
}
