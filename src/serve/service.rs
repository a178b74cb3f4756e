//! The task runner of `pgveil serve`: starts tasks on threads of their own (the use-cases block),
//! each with its own [`CancelToken`] and an [`Observer`] that keeps its progress in memory and,
//! about once a second, in the [task store](super::tasks); records how each ended; keeps the
//! per-job figures that `/metrics` shows; and stops everything when the service stops.
//!
//! One backup per job runs at a time: a second trigger is refused with the running task's id
//! ([`ServiceError::Busy`]), a schedule tick is skipped and counted; likewise one scheduled
//! retention (prune) per job. Tasks on one backup set are
//! kept apart as a transfer service keeps transfers apart ([`ServiceError::SetBusy`]): a task that
//! changes the set's files (pull, delete) runs alone on it; tasks that only read it (verify,
//! restore) may run together, never beside a pull or a delete. So two pulls of one set never race
//! to write the same files, and a set is never deleted under a restore reading it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

use super::config::ServeConfig;
use super::log::{chain, Log};
use super::tasks::{Task, TaskFilter, TaskKind, TaskState, TaskStore, TaskStoreError};
use crate::cancel::CancelToken;
use crate::manifest::ManifestArtifact;
use crate::observe::{Observer, PartSent};
use crate::pass::TableReport;
use crate::store::SetId;
use crate::usecase::UseCaseError;

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error("no job named {0:?} in the configuration")]
    UnknownJob(String),
    #[error("job {job:?} is already running a {kind}: task {task}")]
    Busy {
        job: String,
        task: i64,
        kind: &'static str,
    },
    #[error("backup {backup} of job {job:?} is in use by task {task} ({kind})")]
    SetBusy {
        job: String,
        backup: String,
        task: i64,
        kind: &'static str,
    },
    #[error("the service is stopping: no new tasks")]
    Stopping,
    #[error("no task {0}")]
    NoTask(i64),
    #[error("task {0} is not running")]
    NotRunning(i64),
    #[error(transparent)]
    Store(#[from] TaskStoreError),
}

/// What a running task has done so far.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Progress {
    /// The table whose rows are being read (`schema.table`).
    pub table: Option<String>,
    pub tables_done: u64,
    pub rows: u64,
    /// Bytes of COPY text read.
    pub bytes: u64,
    /// Bytes taken from pg_dump (or the input).
    pub input_bytes: u64,
    /// Artifacts under their final name (kinds).
    pub artifacts_done: Vec<String>,
    pub upload_parts: u64,
    pub upload_bytes: u64,
}

/// Per-job figures for `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct JobMetrics {
    /// Unix time of the last successful backup's end.
    pub last_success: Option<f64>,
    pub last_duration: Option<f64>,
    /// Bytes of each artifact of the last successful backup.
    pub artifact_bytes: BTreeMap<String, u64>,
    /// Rows in the last successful backup.
    pub rows: u64,
    pub backups: u64,
    pub failures: u64,
    pub skipped_ticks: u64,
}

/// The work of a task: runs on its own thread, returns the result to store.
pub type Work =
    Box<dyn FnOnce(&TaskObserver, &CancelToken) -> Result<serde_json::Value, UseCaseError> + Send>;

struct Running {
    job: String,
    kind: TaskKind,
    cancel: CancelToken,
    progress: Arc<Mutex<Progress>>,
}

#[derive(Default)]
struct Live {
    running: HashMap<i64, Running>,
    /// The running task of each job of the kinds that run one at a time per job (backup, prune).
    one_per_job: HashMap<(String, TaskKind), i64>,
    /// The running tasks on each (job, backup set) other than the backup writing it.
    on_set: HashMap<(String, String), Vec<(i64, TaskKind)>>,
    metrics: HashMap<String, JobMetrics>,
}

/// Whether tasks of `kind` run one at a time per job.
fn one_per_job(kind: TaskKind) -> bool {
    matches!(kind, TaskKind::Backup | TaskKind::Prune)
}

/// Whether a task of `kind` changes the files of the set it names.
fn changes_set(kind: TaskKind) -> bool {
    matches!(kind, TaskKind::Pull | TaskKind::Delete)
}

impl Live {
    /// A task has ended (or never started): it no longer runs, holds its job or its set.
    fn forget(&mut self, task: &Task) {
        self.running.remove(&task.id);
        let key = (task.job.clone(), task.kind);
        if self.one_per_job.get(&key) == Some(&task.id) {
            self.one_per_job.remove(&key);
        }
        if let Some(set) = &task.backup {
            let key = (task.job.clone(), set.clone());
            if let Some(tasks) = self.on_set.get_mut(&key) {
                tasks.retain(|&(id, _)| id != task.id);
                if tasks.is_empty() {
                    self.on_set.remove(&key);
                }
            }
        }
    }
}

pub struct Service {
    pub config: ServeConfig,
    pub log: Log,
    store: Mutex<TaskStore>,
    live: Mutex<Live>,
    stopping: AtomicBool,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn unix_of(rfc3339: &str) -> Option<f64> {
    rfc3339
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_millisecond() as f64 / 1000.0)
}

impl Service {
    /// The service over an opened task store; the figures of each job's last successful backup
    /// are read back from it.
    pub fn new(config: ServeConfig, store: TaskStore, log: Log) -> Arc<Service> {
        let mut live = Live::default();
        for job in &config.jobs {
            let mut m = JobMetrics::default();
            if let Ok(last) = store.list(&TaskFilter {
                job: Some(job.name.clone()),
                kind: Some(TaskKind::Backup),
                state: Some(TaskState::Succeeded),
                limit: Some(1),
            }) {
                if let Some(t) = last.first() {
                    record_success(&mut m, t);
                }
            }
            live.metrics.insert(job.name.clone(), m);
        }
        Arc::new(Service {
            config,
            log,
            store: Mutex::new(store),
            live: Mutex::new(live),
            stopping: AtomicBool::new(false),
            threads: Mutex::new(Vec::new()),
        })
    }

    pub fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::SeqCst)
    }

    /// Start `work` as a task of `kind` for `job`.
    pub fn start(
        self: &Arc<Self>,
        job: &str,
        kind: TaskKind,
        backup: Option<&str>,
        work: Work,
    ) -> Result<Task, ServiceError> {
        if self.config.job(job).is_none() {
            return Err(ServiceError::UnknownJob(job.to_string()));
        }
        let mut live = lock(&self.live);
        if self.is_stopping() {
            return Err(ServiceError::Stopping);
        }
        let job_key = one_per_job(kind).then(|| (job.to_string(), kind));
        if let Some(&task) = job_key.as_ref().and_then(|k| live.one_per_job.get(k)) {
            return Err(ServiceError::Busy {
                job: job.to_string(),
                task,
                kind: kind.as_str(),
            });
        }
        let set_key = backup
            .filter(|_| !one_per_job(kind))
            .map(|b| (job.to_string(), b.to_string()));
        if let Some(key) = &set_key {
            let in_use = live.on_set.get(key).map_or(&[][..], Vec::as_slice);
            if let Some(&(task, other)) = in_use
                .iter()
                .find(|&&(_, other)| changes_set(kind) || changes_set(other))
            {
                return Err(ServiceError::SetBusy {
                    job: key.0.clone(),
                    backup: key.1.clone(),
                    task,
                    kind: other.as_str(),
                });
            }
        }
        let task = lock(&self.store).create(job, kind, backup)?;
        let cancel = CancelToken::new();
        let progress = Arc::new(Mutex::new(Progress::default()));
        live.running.insert(
            task.id,
            Running {
                job: job.to_string(),
                kind,
                cancel: cancel.clone(),
                progress: progress.clone(),
            },
        );
        if let Some(key) = job_key {
            live.one_per_job.insert(key, task.id);
        }
        if let Some(key) = set_key {
            live.on_set.entry(key).or_default().push((task.id, kind));
        }
        drop(live);
        self.task_log(&task, "queued", "");
        let service = self.clone();
        let t = task.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("pgveil-task-{}", task.id))
            .spawn(move || service.run(t, work, cancel, progress));
        let handle = match spawned {
            Ok(h) => h,
            Err(e) => {
                let why = format!("no thread for the task: {e}");
                lock(&self.live).forget(&task);
                lock(&self.store).finish(
                    task.id,
                    TaskState::Failed,
                    &serde_json::Value::Null,
                    Some(&why),
                )?;
                return self.task(task.id);
            }
        };
        let mut threads = lock(&self.threads);
        threads.retain(|h| !h.is_finished());
        threads.push(handle);
        Ok(task)
    }

    fn run(
        self: Arc<Self>,
        task: Task,
        work: Work,
        cancel: CancelToken,
        progress: Arc<Mutex<Progress>>,
    ) {
        if let Err(e) = lock(&self.store).set_running(task.id) {
            self.log.event("store", &chain(&e), &[]);
        }
        self.task_log(&task, "started", "");
        let observer = TaskObserver {
            service: self.clone(),
            id: task.id,
            progress: progress.clone(),
            flushed: Mutex::new(Instant::now()),
        };
        let started = Instant::now();
        let outcome =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| work(&observer, &cancel)));
        let seconds = started.elapsed().as_secs_f64();
        let (state, result, error) = match outcome {
            Ok(Ok(result)) => (TaskState::Succeeded, result, None),
            Ok(Err(e)) if matches!(e, UseCaseError::Cancelled) || cancel.is_cancelled() => {
                let why = if self.is_stopping() {
                    "cancelled: the service is stopping"
                } else {
                    "cancelled"
                };
                (
                    TaskState::Cancelled,
                    serde_json::Value::Null,
                    Some(match e {
                        UseCaseError::Cancelled => format!("{why}; nothing was published"),
                        e => format!("{why}; {}", chain(&e)),
                    }),
                )
            }
            Ok(Err(e)) => (TaskState::Failed, serde_json::Value::Null, Some(chain(&e))),
            Err(_) => (
                TaskState::Failed,
                serde_json::Value::Null,
                Some("the task panicked".to_string()),
            ),
        };
        let progress_now = serde_json::to_value(&*lock(&progress)).unwrap_or_default();
        let finished = {
            let mut store = lock(&self.store);
            let _ = store.set_progress(task.id, &progress_now);
            let _ = store.finish(task.id, state, &result, error.as_deref());
            store.get(task.id).ok().flatten()
        };
        {
            let mut live = lock(&self.live);
            live.forget(&task);
            if task.kind == TaskKind::Backup {
                let m = live.metrics.entry(task.job.clone()).or_default();
                match (state, &finished) {
                    (TaskState::Succeeded, Some(t)) => record_success(m, t),
                    (TaskState::Failed, _) => m.failures += 1,
                    _ => {}
                }
            }
        }
        let how = format!("{} after {seconds:.1}s", state.as_str());
        let task = finished.unwrap_or(task);
        self.task_log(
            &task,
            "finished",
            &error.map_or(how.clone(), |e| format!("{how}: {e}")),
        );
    }

    /// A log line about a task.
    pub fn task_log(&self, task: &Task, event: &str, message: &str) {
        let id = task.id.to_string();
        let mut fields = vec![
            ("task", id.as_str()),
            ("job", task.job.as_str()),
            ("kind", task.kind.as_str()),
        ];
        if let Some(b) = &task.backup {
            fields.push(("backup", b));
        }
        self.log.event(&format!("task {event}"), message, &fields);
    }

    /// A schedule tick found the job's backup still running: skipped, counted and logged.
    pub fn tick_skipped(&self, job: &str, running: i64) {
        lock(&self.live)
            .metrics
            .entry(job.to_string())
            .or_default()
            .skipped_ticks += 1;
        let task = running.to_string();
        self.log.event(
            "tick skipped",
            "the previous backup is still running",
            &[("job", job), ("task", &task)],
        );
    }

    /// A task with its live progress when it runs.
    pub fn task(&self, id: i64) -> Result<Task, ServiceError> {
        let mut task = lock(&self.store).get(id)?.ok_or(ServiceError::NoTask(id))?;
        self.overlay(&mut task);
        Ok(task)
    }

    pub fn tasks(&self, filter: &TaskFilter) -> Result<Vec<Task>, ServiceError> {
        let mut tasks = lock(&self.store).list(filter)?;
        for t in &mut tasks {
            self.overlay(t);
        }
        Ok(tasks)
    }

    fn overlay(&self, task: &mut Task) {
        if task.state.is_final() {
            return;
        }
        if let Some(r) = lock(&self.live).running.get(&task.id) {
            task.progress = serde_json::to_value(&*lock(&r.progress)).unwrap_or_default();
        }
    }

    /// Ask a running task to stop.
    pub fn cancel(&self, id: i64) -> Result<Task, ServiceError> {
        let cancelled = lock(&self.live).running.get(&id).map(|r| r.cancel.cancel());
        let task = self.task(id)?;
        match cancelled {
            Some(()) => {
                self.task_log(&task, "cancel asked", "");
                Ok(task)
            }
            None => Err(ServiceError::NotRunning(id)),
        }
    }

    /// The running backup task of `job`, if any.
    pub fn running_backup(&self, job: &str) -> Option<i64> {
        lock(&self.live)
            .one_per_job
            .get(&(job.to_string(), TaskKind::Backup))
            .copied()
    }

    /// Running tasks per job.
    pub fn running_counts(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for r in lock(&self.live).running.values() {
            *counts.entry(r.job.clone()).or_default() += 1;
        }
        counts
    }

    pub fn running_ids(&self) -> Vec<(i64, TaskKind)> {
        lock(&self.live)
            .running
            .iter()
            .map(|(id, r)| (*id, r.kind))
            .collect()
    }

    pub fn metrics(&self) -> HashMap<String, JobMetrics> {
        lock(&self.live).metrics.clone()
    }

    /// Stop: refuse new tasks, cancel the running ones, wait for their threads. A task still
    /// running after `grace` waits on a child process that delivers nothing (a pg_dump waiting
    /// for a lock, a long psql): the children are killed, and the tasks end cancelled.
    pub fn stop(&self, grace: Duration) {
        self.begin_stop();
        let deadline = Instant::now() + grace;
        let mut terminated = false;
        while lock(&self.threads).iter().any(|h| !h.is_finished()) {
            if !terminated && Instant::now() >= deadline {
                terminated = true;
                let n = crate::interrupt::kill_children();
                self.log.event(
                    "stopping",
                    &format!(
                        "tasks still running after {}s: {n} child processes killed",
                        grace.as_secs()
                    ),
                    &[],
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let threads = std::mem::take(&mut *lock(&self.threads));
        for h in threads {
            let _ = h.join();
        }
    }

    /// Mark the service as stopping without waiting (the schedulers see it).
    pub fn begin_stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for r in lock(&self.live).running.values() {
            r.cancel.cancel();
        }
    }

    fn save_progress(&self, id: i64, progress: &Progress) {
        let value = serde_json::to_value(progress).unwrap_or_default();
        let _ = lock(&self.store).set_progress(id, &value);
    }

    fn save_backup(&self, id: i64, set: &SetId) {
        let _ = lock(&self.store).set_backup(id, &set.stamp);
    }
}

fn record_success(m: &mut JobMetrics, t: &Task) {
    m.backups += 1;
    m.last_success = t.finished.as_deref().and_then(unix_of);
    m.last_duration = t.result["seconds"].as_f64();
    m.rows = t.result["rows"].as_u64().unwrap_or(0);
    m.artifact_bytes.clear();
    if let Some(arts) = t.result["artifacts"].as_array() {
        for a in arts {
            if let (Some(k), Some(b)) = (a["kind"].as_str(), a["bytes"].as_u64()) {
                m.artifact_bytes.insert(k.to_string(), b);
            }
        }
    }
}

/// Keeps a task's progress; writes it to the store at most about once a second.
pub struct TaskObserver {
    service: Arc<Service>,
    id: i64,
    progress: Arc<Mutex<Progress>>,
    flushed: Mutex<Instant>,
}

impl TaskObserver {
    fn update(&self, f: impl FnOnce(&mut Progress)) {
        let mut p = lock(&self.progress);
        f(&mut p);
        let mut flushed = lock(&self.flushed);
        if flushed.elapsed() >= Duration::from_secs(1) {
            *flushed = Instant::now();
            let snapshot = p.clone();
            drop(p);
            self.service.save_progress(self.id, &snapshot);
        }
    }
}

impl Observer for TaskObserver {
    fn set_claimed(&self, set: &SetId) {
        self.service.save_backup(self.id, set);
        let task = self.service.task(self.id);
        if let Ok(t) = task {
            self.service.task_log(&t, "set claimed", &set.to_string());
        }
    }
    fn input_read(&self, total_bytes: u64) {
        self.update(|p| p.input_bytes = total_bytes);
    }
    fn table_started(&self, table: &str) {
        self.update(|p| p.table = Some(table.to_string()));
    }
    fn rows(&self, rows: u64, bytes: u64) {
        self.update(|p| {
            p.rows += rows;
            p.bytes += bytes;
        });
    }
    fn table_finished(&self, _table: &TableReport) {
        self.update(|p| p.tables_done += 1);
    }
    fn pass_finished(&self) {
        self.update(|p| p.table = None);
    }
    fn artifact_published(&self, artifact: &ManifestArtifact, _location: &str) {
        self.update(|p| p.artifacts_done.push(artifact.kind.clone()));
    }
    fn upload_part(&self, part: &PartSent) {
        self.update(|p| {
            p.upload_parts += 1;
            p.upload_bytes += part.bytes;
        });
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::sync::mpsc;

    use super::*;

    fn service(dir: &Path) -> Arc<Service> {
        let config = ServeConfig::parse(
            "[[job]]\nname = \"shop\"\ndbname = \"shop\"\nout_dir = \"b\"\n",
            &dir.join("p.toml"),
        )
        .unwrap();
        let (store, _) = TaskStore::open(&dir.join("state.db")).unwrap();
        Service::new(config, store, Log::default())
    }

    /// Work that runs until its sender is dropped.
    fn held() -> (mpsc::Sender<()>, Work) {
        let (tx, rx) = mpsc::channel::<()>();
        let work: Work = Box::new(move |_, _| {
            let _ = rx.recv();
            Ok(serde_json::Value::Null)
        });
        (tx, work)
    }

    fn start(
        s: &Arc<Service>,
        kind: TaskKind,
        set: &str,
    ) -> (Result<Task, ServiceError>, mpsc::Sender<()>) {
        let (tx, work) = held();
        (s.start("shop", kind, Some(set), work), tx)
    }

    fn wait_gone(s: &Service, id: i64) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while s.running_ids().iter().any(|&(t, _)| t == id) {
            assert!(Instant::now() < deadline, "task {id} did not end");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    #[test]
    fn a_pull_or_delete_runs_alone_on_its_set() {
        let dir = tempfile::tempdir().unwrap();
        let s = service(dir.path());
        let (first, release_first) = start(&s, TaskKind::Pull, "20260101T000000Z");
        let first = first.unwrap();
        for kind in [
            TaskKind::Pull,
            TaskKind::Verify,
            TaskKind::Restore,
            TaskKind::Delete,
        ] {
            match start(&s, kind, "20260101T000000Z").0 {
                Err(ServiceError::SetBusy { task, kind: k, .. }) => {
                    assert_eq!((task, k), (first.id, "pull"), "{kind:?}")
                }
                other => panic!("{kind:?} beside a pull: {other:?}"),
            }
        }
        // Another set is free; readers share a set, and keep a writer out.
        let (other, _r1) = start(&s, TaskKind::Pull, "20260102T000000Z");
        other.unwrap();
        let (verify, _r2) = start(&s, TaskKind::Verify, "20260103T000000Z");
        let verify = verify.unwrap();
        let (restore, _r3) = start(&s, TaskKind::Restore, "20260103T000000Z");
        restore.unwrap();
        match start(&s, TaskKind::Delete, "20260103T000000Z").0 {
            Err(ServiceError::SetBusy { task, .. }) => assert!(task >= verify.id),
            other => panic!("a delete beside readers: {other:?}"),
        }
        // Once the first pull has ended, its set is free again.
        drop(release_first);
        wait_gone(&s, first.id);
        let (again, _r4) = start(&s, TaskKind::Pull, "20260101T000000Z");
        again.unwrap();
        s.begin_stop();
    }
}
