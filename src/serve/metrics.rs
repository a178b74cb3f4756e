//! `/metrics`: the service's figures in Prometheus's text format, per job: the last successful
//! backup's end time, duration, rows and bytes per artifact; backups, failures and skipped
//! schedule ticks since the service started (the last success is read back from the task store);
//! the tasks running now.

use std::fmt::Write;

use super::service::Service;

fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics text.
pub fn render(service: &Service) -> String {
    let metrics = service.metrics();
    let running = service.running_counts();
    let mut out = String::new();
    let mut family = |name: &str, kind: &str, help: &str, rows: Vec<(String, String)>| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (labels, value) in rows {
            let _ = writeln!(out, "{name}{{{labels}}} {value}");
        }
    };
    let jobs: Vec<&str> = service
        .config
        .jobs
        .iter()
        .map(|j| j.name.as_str())
        .collect();
    let per_job = |f: &dyn Fn(&super::service::JobMetrics) -> Option<String>| {
        jobs.iter()
            .filter_map(|j| {
                let m = metrics.get(*j).cloned().unwrap_or_default();
                f(&m).map(|v| (format!("job=\"{}\"", label(j)), v))
            })
            .collect::<Vec<_>>()
    };
    family(
        "pgveil_last_success_timestamp_seconds",
        "gauge",
        "End of the last successful backup (Unix time).",
        per_job(&|m| m.last_success.map(|v| format!("{v:.3}"))),
    );
    family(
        "pgveil_last_duration_seconds",
        "gauge",
        "Duration of the last successful backup.",
        per_job(&|m| m.last_duration.map(|v| format!("{v:.3}"))),
    );
    family(
        "pgveil_last_rows",
        "gauge",
        "Rows in the last successful backup.",
        per_job(&|m| m.last_success.map(|_| m.rows.to_string())),
    );
    let mut bytes = Vec::new();
    for j in &jobs {
        if let Some(m) = metrics.get(*j) {
            for (kind, b) in &m.artifact_bytes {
                bytes.push((
                    format!("job=\"{}\",artifact=\"{}\"", label(j), label(kind)),
                    b.to_string(),
                ));
            }
        }
    }
    family(
        "pgveil_last_artifact_bytes",
        "gauge",
        "Bytes of each artifact of the last successful backup.",
        bytes,
    );
    family(
        "pgveil_backups_total",
        "counter",
        "Successful backups.",
        per_job(&|m| Some(m.backups.to_string())),
    );
    family(
        "pgveil_backup_failures_total",
        "counter",
        "Failed backups since the service started.",
        per_job(&|m| Some(m.failures.to_string())),
    );
    family(
        "pgveil_skipped_ticks_total",
        "counter",
        "Schedule ticks skipped because the job's previous backup was still running.",
        per_job(&|m| Some(m.skipped_ticks.to_string())),
    );
    family(
        "pgveil_running_tasks",
        "gauge",
        "Tasks running now.",
        jobs.iter()
            .map(|j| {
                (
                    format!("job=\"{}\"", label(j)),
                    running.get(*j).copied().unwrap_or(0).to_string(),
                )
            })
            .collect(),
    );
    out
}
