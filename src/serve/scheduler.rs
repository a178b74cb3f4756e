//! The schedules of `pgveil serve`: a thread per schedule sleeps until the next run of its cron
//! expression (in its job's time zone, [`super::schedule`]) and starts a backup, or the job's
//! retention (`retention_schedule`). A backup tick while the job's previous backup still runs is
//! skipped and recorded (log line, `/metrics` counter); a retention tick while the job's backup
//! or retention runs is skipped with a log line. The next run is always computed from now: runs
//! missed while the service was down are not replayed; `backup_on_start` asks for one run at start.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::config::JobConfig;
use super::ops;
use super::schedule::Schedule;
use super::service::{Service, ServiceError};
use super::tasks::TaskKind;

/// Start a backup of `job` for `why` (a tick, the start); a running one skips it.
pub fn trigger(service: &Arc<Service>, job: &JobConfig, why: &str) {
    let config = job.clone();
    match service.start(
        &job.name,
        TaskKind::Backup,
        None,
        Box::new(move |observer, cancel| ops::run_backup(&config, observer, cancel)),
    ) {
        Ok(task) => service.task_log(&task, "triggered", why),
        Err(ServiceError::Busy { task, .. }) => service.tick_skipped(&job.name, task),
        Err(ServiceError::Stopping) => {}
        Err(e) => service.log.event(
            "trigger failed",
            &super::log::chain(&e),
            &[("job", &job.name)],
        ),
    }
}

/// Start the job's scheduled retention unless its backup (or a previous retention) runs: the
/// skip is logged; the next tick tries again.
pub fn trigger_retention(service: &Arc<Service>, job: &JobConfig) {
    if let Some(task) = service.running_backup(&job.name) {
        service.log.event(
            "retention skipped",
            &format!("the job's backup runs: task {task}"),
            &[("job", &job.name)],
        );
        return;
    }
    let config = job.clone();
    match service.start(
        &job.name,
        TaskKind::Prune,
        None,
        Box::new(move |_, cancel| ops::run_retention(&config, cancel)),
    ) {
        Ok(task) => service.task_log(&task, "triggered", "retention_schedule"),
        Err(ServiceError::Stopping) => {}
        Err(e) => service.log.event(
            "retention skipped",
            &super::log::chain(&e),
            &[("job", &job.name)],
        ),
    }
}

/// A thread that runs `tick` at each time of `schedule` until the service stops.
fn every(
    service: &Arc<Service>,
    thread: String,
    schedule: Schedule,
    tick: impl Fn() + Send + 'static,
) -> std::io::Result<JoinHandle<()>> {
    let service = service.clone();
    std::thread::Builder::new()
        .name(thread)
        .spawn(move || loop {
            let Some(next) = schedule.next_after(jiff::Timestamp::now()) else {
                return;
            };
            // Sleep in short steps, so that a stopping service is seen at once.
            loop {
                if service.is_stopping() {
                    return;
                }
                let left = next.timestamp().duration_since(jiff::Timestamp::now());
                if left.is_negative() || left.is_zero() {
                    break;
                }
                let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
                std::thread::sleep(left.min(Duration::from_millis(200)));
            }
            tick();
        })
}

/// Start the schedules of backups and of retention (and the backups on start). The threads end
/// when the service stops.
pub fn start(service: &Arc<Service>) -> Vec<JoinHandle<()>> {
    let mut threads = Vec::new();
    for job in &service.config.jobs {
        if job.backup_on_start {
            trigger(service, job, "backup_on_start");
        }
        if let Some(schedule) = job.schedule.clone() {
            let (s, j) = (service.clone(), job.clone());
            let spawned = every(
                service,
                format!("pgveil-schedule-{}", job.name),
                schedule,
                move || trigger(&s, &j, "schedule"),
            );
            match spawned {
                Ok(h) => threads.push(h),
                Err(e) => service.log.event(
                    "schedule not started",
                    &e.to_string(),
                    &[("job", &job.name)],
                ),
            }
        }
        if let Some(schedule) = job.retention_schedule.clone() {
            let (s, j) = (service.clone(), job.clone());
            let spawned = every(
                service,
                format!("pgveil-retention-{}", job.name),
                schedule,
                move || trigger_retention(&s, &j),
            );
            match spawned {
                Ok(h) => threads.push(h),
                Err(e) => service.log.event(
                    "retention schedule not started",
                    &e.to_string(),
                    &[("job", &job.name)],
                ),
            }
        }
    }
    threads
}
