//! The schedules of `pgveil serve`: a thread per scheduled job sleeps until the next run of its
//! cron expression (in its time zone, [`super::schedule`]) and starts a backup. A tick while the
//! job's previous backup still runs is skipped and recorded (log line, `/metrics` counter). The
//! next run is always computed from now: runs missed while the service was down are not
//! replayed; `backup_on_start` asks for one run at start.

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::config::JobConfig;
use super::ops;
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

/// Start the schedules (and the backups on start). The threads end when the service stops.
pub fn start(service: &Arc<Service>) -> Vec<JoinHandle<()>> {
    let mut threads = Vec::new();
    for job in &service.config.jobs {
        if job.backup_on_start {
            trigger(service, job, "backup_on_start");
        }
        let Some(schedule) = job.schedule.clone() else {
            continue;
        };
        let name = job.name.clone();
        let task_service = service.clone();
        let job = job.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("pgveil-schedule-{}", job.name))
            .spawn(move || loop {
                let Some(next) = schedule.next_after(jiff::Timestamp::now()) else {
                    return;
                };
                // Sleep in short steps, so that a stopping service is seen at once.
                loop {
                    if task_service.is_stopping() {
                        return;
                    }
                    let left = next.timestamp().duration_since(jiff::Timestamp::now());
                    if left.is_negative() || left.is_zero() {
                        break;
                    }
                    let left = Duration::try_from(left).unwrap_or(Duration::ZERO);
                    std::thread::sleep(left.min(Duration::from_millis(200)));
                }
                trigger(&task_service, &job, "schedule");
            });
        match spawned {
            Ok(h) => threads.push(h),
            Err(e) => service
                .log
                .event("schedule not started", &e.to_string(), &[("job", &name)]),
        }
    }
    threads
}
