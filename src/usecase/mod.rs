//! The use-cases: [`backup`], [`anonymize`], [`restore`], [`verify`], [`pull`], [`prune`] and
//! [`list`]. Each takes a plan (a plain struct, built from command-line arguments or a
//! configuration file), an [`Observer`](crate::observe::Observer) for progress events and a
//! [`CancelToken`], and returns a report for its caller to print. The
//! command line and any other front end (a service) call exactly these; none of them prints.
//!
//! Errors are [`UseCaseError`]: each variant names what was being done and carries its cause
//! once (as its source), so a printed chain reads once.

mod anonymize;
mod backup;
mod inputs;
mod list;
mod prune;
mod pull;
mod restore;
mod set;
mod target;
mod verify;

use crate::audit::labels::LabelError;
use crate::cancel::CancelToken;
use crate::dump::DumpError;
use crate::input::conninfo::ConnInfoError;
use crate::input::SourceError;
use crate::mask::RulesError;
use crate::pass::EngineError;
use crate::restore::RestoreError;
use crate::sink::OutputError;
use crate::store::StoreError;

pub use anonymize::{anonymize, AnonymizePlan, AnonymizeReport, DatabaseInput};
pub use backup::{
    backup, ArtifactKind, BackupPlan, BackupReport, BackupSource, CustomData, Note,
    PublishedArtifact,
};
pub use inputs::{labels_rule_text, load_rules, LabelSource, RulesPlan};
pub use list::{list, ListPlan, ListReport, ListedSet};
pub use prune::{prune, PrunePlan, PruneReport, PruneStep, Retention, RetentionReport};
pub use pull::{pull, PullPlan, PullReport};
pub use restore::{restore, RestoreKind, RestorePlan, RestoreReport, RestoreTarget};
pub use set::SetRef;
pub use verify::{verify, RestoreCheck, VerifyPlan, VerifyReport};

#[derive(Debug, thiserror::Error)]
pub enum UseCaseError {
    /// The plan asks for something impossible, or the data found says no (the message says why).
    #[error("{0}")]
    Invalid(String),
    /// The cancellation token was cancelled: what the run had started is undone, nothing published.
    #[error("cancelled; nothing was published")]
    Cancelled,
    #[error("loading the masking key")]
    Key(#[source] RulesError),
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("{what}")]
    Labels {
        what: String,
        #[source]
        source: LabelError,
    },
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error(transparent)]
    ConnInfo(#[from] ConnInfoError),
    /// The direct read failed (connecting, its catalog reads).
    #[error(transparent)]
    Direct(#[from] crate::input::direct::DirectError),
    #[error("{what}")]
    Dump {
        what: String,
        #[source]
        source: DumpError,
    },
    /// The custom archive's entries could not be read before the pass (`pg_dump -Fc`'s TOC).
    #[error("reading the entries of the dump before it runs")]
    Announce(#[source] crate::archive::SkeletonError),
    /// The pass failed (not cancelled); its sinks discarded their partial artifacts.
    #[error("the pass failed; nothing was published")]
    Pass(#[source] Box<EngineError>),
    #[error("{what}")]
    PassOf {
        what: String,
        #[source]
        source: Box<EngineError>,
    },
    /// The input ended badly (pg_dump's exit status) after the pass.
    #[error("nothing was published")]
    SourceEnd(#[source] SourceError),
    #[error("{what}")]
    Store {
        what: String,
        #[source]
        source: StoreError,
    },
    /// A store error whose message names the object already.
    #[error(transparent)]
    StoreBare(#[from] StoreError),
    #[error("{what}")]
    Output {
        what: String,
        #[source]
        source: OutputError,
    },
    /// An output error whose message names the file already.
    #[error(transparent)]
    OutputBare(#[from] OutputError),
    /// A sink that could not start (its message names the artifact).
    #[error(transparent)]
    Sink(#[from] crate::sink::SinkError),
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}")]
    Restore {
        what: String,
        #[source]
        source: RestoreError,
    },
    /// A restore error whose message names the program and artifact already.
    #[error(transparent)]
    RestoreBare(#[from] RestoreError),
    #[error("writing the manifest")]
    Manifest(#[from] serde_json::Error),
    /// A restore failed and the database `--create` made for it was dropped again.
    #[error("the database {db} that --create made was dropped again")]
    CreatedDropped {
        db: String,
        #[source]
        source: Box<UseCaseError>,
    },
    /// A restore failed and the database `--create` made for it could not be dropped.
    #[error("the database {db} that --create made could not be dropped ({drop_error}); it may hold part of the restore")]
    CreatedKept {
        db: String,
        drop_error: RestoreError,
        #[source]
        source: Box<UseCaseError>,
    },
}

impl UseCaseError {
    pub(crate) fn store(what: impl Into<String>, source: StoreError) -> UseCaseError {
        UseCaseError::Store {
            what: what.into(),
            source,
        }
    }

    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> UseCaseError {
        UseCaseError::Io {
            what: what.into(),
            source,
        }
    }
}

/// `Err(Cancelled)` once the token is cancelled: the use-cases call it between their steps.
pub(crate) fn check_cancel(cancel: &CancelToken) -> Result<(), UseCaseError> {
    if cancel.is_cancelled() {
        Err(UseCaseError::Cancelled)
    } else {
        Ok(())
    }
}

/// Run the pass over `source` into `sinks`, telling `observer` what it reads and (`parts`) the
/// upload parts stored meanwhile.
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_observed_pass(
    source: &mut crate::input::Source,
    rules: &crate::mask::RuleSet,
    facts: &mut inputs::Facts,
    sinks: Vec<crate::pass::SinkSpec>,
    keep_large_objects: bool,
    observer: &dyn crate::observe::Observer,
    cancel: &CancelToken,
    parts: Option<&PartReceiver>,
) -> Result<crate::pass::PassReport, EngineError> {
    let counter = source.bytes_read();
    let reader = ObservedReader {
        inner: source.reader(),
        counter: &counter,
        observer,
        parts,
    };
    let result = crate::pass::Pass::builder(rules)
        .facts(&mut facts.facts, facts.learn_during_pass)
        .sinks(sinks)
        .options(crate::pass::PassOptions {
            keep_large_objects,
            database_entries: facts.database_entries.clone(),
            ..crate::pass::PassOptions::default()
        })
        .observer(observer)
        .cancel(cancel)
        .run(crate::dump::DumpReader::new(reader));
    if let Some(parts) = parts {
        tell_parts(parts, observer);
    }
    observer.pass_finished();
    result
}

pub(crate) type PartReceiver = crossbeam_channel::Receiver<crate::observe::PartSent>;

/// Tell the observer of the upload parts stored since the last call.
pub(crate) fn tell_parts(parts: &PartReceiver, observer: &dyn crate::observe::Observer) {
    for part in parts.try_iter() {
        observer.upload_part(&part);
    }
}

/// Reads through, telling the observer how many input bytes the source has taken so far (and the
/// upload parts stored meanwhile: the sink threads cannot call the observer themselves).
struct ObservedReader<'a> {
    inner: &'a mut (dyn std::io::Read + Send),
    counter: &'a std::sync::atomic::AtomicU64,
    observer: &'a dyn crate::observe::Observer,
    parts: Option<&'a PartReceiver>,
}

impl std::io::Read for ObservedReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.observer
            .input_read(self.counter.load(std::sync::atomic::Ordering::Relaxed));
        if let Some(parts) = self.parts {
            tell_parts(parts, self.observer);
        }
        Ok(n)
    }
}
