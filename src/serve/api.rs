//! The HTTP API of `pgveil serve` (axum): JSON under `/api/v1`, Prometheus text at `/metrics`, the
//! OpenAPI 3 document at `/api/v1/openapi.json` (kept in `openapi.json`; a test checks that its
//! paths and methods are exactly [`ROUTES`], from which the router is built).
//!
//! Every route names the role it needs; a request without a valid bearer token gets 401, a read
//! token on an admin route 403 (tokens compared in constant time by [`super::auth`]; without
//! tokens, possible on a loopback address only, every call is allowed). Errors are
//! `{"code": "...", "message": "..."}` with the stable codes of [`ApiError`]. The use-cases block,
//! so handlers run them on blocking threads or start them as tasks.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{on, MethodFilter, MethodRouter};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::json;

use super::api_error::{ApiError, ApiPath, ApiQuery};
use super::auth::Role;
use super::ops::{self, RestoreAsk, Where};
use super::service::Service;
use super::tasks::{Task, TaskFilter, TaskKind, TaskState};
use crate::usecase::RestoreKind;

/// The OpenAPI document served at `/api/v1/openapi.json`.
pub const OPENAPI: &str = include_str!("openapi.json");

type AppState = Arc<Service>;

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    Open,
    Needs(Role),
}

/// Every route: method, path (axum syntax, the same as OpenAPI's), who may call it.
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/api/v1/health", Access::Open),
    ("GET", "/api/v1/openapi.json", Access::Open),
    ("GET", "/metrics", Access::Needs(Role::Read)),
    ("GET", "/api/v1/jobs", Access::Needs(Role::Read)),
    (
        "GET",
        "/api/v1/jobs/{job}/backups",
        Access::Needs(Role::Read),
    ),
    (
        "POST",
        "/api/v1/jobs/{job}/backups",
        Access::Needs(Role::Admin),
    ),
    (
        "GET",
        "/api/v1/jobs/{job}/backups/latest",
        Access::Needs(Role::Read),
    ),
    (
        "GET",
        "/api/v1/jobs/{job}/backups/{id}",
        Access::Needs(Role::Read),
    ),
    (
        "DELETE",
        "/api/v1/jobs/{job}/backups/{id}",
        Access::Needs(Role::Admin),
    ),
    (
        "POST",
        "/api/v1/jobs/{job}/backups/{id}/restore",
        Access::Needs(Role::Admin),
    ),
    (
        "POST",
        "/api/v1/jobs/{job}/backups/{id}/pull",
        Access::Needs(Role::Admin),
    ),
    (
        "POST",
        "/api/v1/jobs/{job}/backups/{id}/verify",
        Access::Needs(Role::Admin),
    ),
    ("GET", "/api/v1/tasks", Access::Needs(Role::Read)),
    ("GET", "/api/v1/tasks/{id}", Access::Needs(Role::Read)),
    (
        "POST",
        "/api/v1/tasks/{id}/cancel",
        Access::Needs(Role::Admin),
    ),
];

fn handler(method: &str, path: &str) -> MethodRouter<AppState> {
    let filter = match method {
        "GET" => MethodFilter::GET,
        "POST" => MethodFilter::POST,
        _ => MethodFilter::DELETE,
    };
    match (method, path) {
        ("GET", "/api/v1/health") => on(filter, health),
        ("GET", "/api/v1/openapi.json") => on(filter, openapi),
        ("GET", "/metrics") => on(filter, metrics),
        ("GET", "/api/v1/jobs") => on(filter, jobs),
        ("GET", "/api/v1/jobs/{job}/backups") => on(filter, list_backups),
        ("POST", "/api/v1/jobs/{job}/backups") => on(filter, trigger),
        ("GET", "/api/v1/jobs/{job}/backups/latest") => on(filter, latest),
        ("GET", "/api/v1/jobs/{job}/backups/{id}") => on(filter, one_backup),
        ("DELETE", "/api/v1/jobs/{job}/backups/{id}") => on(filter, delete_backup),
        ("POST", "/api/v1/jobs/{job}/backups/{id}/restore") => on(filter, restore),
        ("POST", "/api/v1/jobs/{job}/backups/{id}/pull") => on(filter, pull),
        ("POST", "/api/v1/jobs/{job}/backups/{id}/verify") => on(filter, verify),
        ("GET", "/api/v1/tasks") => on(filter, tasks),
        ("GET", "/api/v1/tasks/{id}") => on(filter, one_task),
        ("POST", "/api/v1/tasks/{id}/cancel") => on(filter, cancel),
        _ => unreachable!("every route of ROUTES has a handler"),
    }
}

/// The router over `service`.
pub fn router(service: AppState) -> Router {
    let mut router = Router::new();
    for &(method, path, access) in ROUTES {
        let route = handler(method, path).route_layer(middleware::from_fn_with_state(
            (service.clone(), access),
            authorize,
        ));
        router = router.route(path, route);
    }
    router
        .merge(super::dashboard::routes())
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "not_found", "no such route") })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "this route does not take that method",
            )
        })
        .with_state(service)
}

type ApiResult = Result<Response, ApiError>;

async fn authorize(
    State((service, access)): State<(AppState, Access)>,
    request: Request,
    next: Next,
) -> Response {
    let Access::Needs(needed) = access else {
        return next.run(request).await;
    };
    let Some(tokens) = &service.config.server.tokens else {
        return next.run(request).await;
    };
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim);
    match presented.and_then(|t| tokens.role_of(t)) {
        None => {
            let mut r = ApiError::new(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "a valid bearer token is required (Authorization: Bearer TOKEN)",
            )
            .into_response();
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                "Bearer".parse().expect("a header value"),
            );
            r
        }
        Some(role) if !role.allows(needed) => ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            format!("this call needs an {} token", needed.as_str()),
        )
        .into_response(),
        Some(_) => next.run(request).await,
    }
}

/// Run blocking work off the async threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.unwrap_or_else(|_| {
        Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the request's work panicked",
        ))
    })
}

fn job_of<'a>(service: &'a Service, job: &str) -> Result<&'a super::config::JobConfig, ApiError> {
    service.config.job(job).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_job",
            format!("no job named {job:?} in the configuration"),
        )
    })
}

fn storage_error(e: crate::usecase::UseCaseError) -> ApiError {
    ApiError::new(
        StatusCode::BAD_GATEWAY,
        "storage_error",
        super::log::chain(&e),
    )
}

async fn health() -> Response {
    Json(json!({"status": "ok", "version": env!("CARGO_PKG_VERSION")})).into_response()
}

async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], OPENAPI).into_response()
}

async fn metrics(State(service): State<AppState>) -> Response {
    let text = super::metrics::render(&service);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response()
}

async fn jobs(State(service): State<AppState>) -> ApiResult {
    let s = service.clone();
    let jobs = blocking(move || {
        let now = jiff::Timestamp::now();
        let mut out = Vec::new();
        for job in &s.config.jobs {
            let last = s
                .tasks(&TaskFilter {
                    job: Some(job.name.clone()),
                    kind: Some(TaskKind::Backup),
                    limit: Some(10),
                    ..TaskFilter::default()
                })?
                .into_iter()
                .find(|t| t.state.is_final());
            out.push(json!({
                "name": job.name,
                "schedule": job.schedule.as_ref().map(|s| json!({
                    "cron": s.expression(),
                    "timezone": s.zone_name(),
                })),
                "next_runs": job.schedule.as_ref().map_or_else(Vec::new, |s| {
                    s.next_runs(now, 3).iter().map(|z| z.timestamp().to_string()).collect()
                }),
                "backup_on_start": job.backup_on_start,
                "outputs": job.outputs.iter().map(|o| o.as_str()).collect::<Vec<_>>(),
                "local": job.out_dir.is_some(),
                "remote": job.upload.is_some(),
                "keep_local": job.keep_local,
                "keep_remote": job.keep_remote,
                "restore_targets": job.restore_targets.iter()
                    .map(|t| crate::input::conninfo::database_name(t))
                    .collect::<Vec<_>>(),
                "running": s.running_backup(&job.name),
                "last": last.map(|t| json!({
                    "task": t.id, "state": t.state, "backup": t.backup,
                    "finished": t.finished, "error": t.error,
                })),
            }));
        }
        Ok::<_, ApiError>(out)
    })
    .await?;
    Ok(Json(json!({ "jobs": jobs })).into_response())
}

/// Wait (briefly) until a backup task has claimed its set or ended: the 202 names the backup.
async fn wait_for_set(service: &Service, id: i64) -> Result<Task, ApiError> {
    for _ in 0..200 {
        let t = service.task(id)?;
        if t.backup.is_some() || t.state.is_final() {
            return Ok(t);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(service.task(id)?)
}

async fn trigger(State(service): State<AppState>, ApiPath(job): ApiPath<String>) -> ApiResult {
    let config = job_of(&service, &job)?.clone();
    let task = service.start(
        &job,
        TaskKind::Backup,
        None,
        Box::new(move |observer, cancel| ops::run_backup(&config, observer, cancel)),
    )?;
    let task = wait_for_set(&service, task.id).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"task": task.id, "backup": task.backup, "state": task.state})),
    )
        .into_response())
}

async fn backups_of(service: &AppState, job: &str) -> Result<Vec<ops::BackupView>, ApiError> {
    let config = job_of(service, job)?.clone();
    blocking(move || ops::list_backups(&config).map_err(storage_error)).await
}

async fn list_backups(State(service): State<AppState>, ApiPath(job): ApiPath<String>) -> ApiResult {
    let backups = backups_of(&service, &job).await?;
    Ok(Json(json!({ "backups": backups })).into_response())
}

async fn latest(State(service): State<AppState>, ApiPath(job): ApiPath<String>) -> ApiResult {
    let backups = backups_of(&service, &job).await?;
    match backups.into_iter().rev().find(|b| b.state == "complete") {
        Some(b) => Ok(Json(b).into_response()),
        None => Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "backup_not_found",
            format!("job {job:?} has no complete backup"),
        )),
    }
}

/// The backups of a job and the one named `id` (404 when there is none).
async fn find_backup(
    service: &AppState,
    job: &str,
    id: &str,
) -> Result<(Vec<ops::BackupView>, ops::BackupView), ApiError> {
    let not_found = || {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "backup_not_found",
            format!("job {job:?} has no backup {id:?}"),
        )
    };
    if !ops::valid_backup_id(id) {
        return Err(not_found());
    }
    let backups = backups_of(service, job).await?;
    let b = backups
        .iter()
        .find(|b| b.id == id)
        .cloned()
        .ok_or_else(not_found)?;
    Ok((backups, b))
}

async fn one_backup(
    State(service): State<AppState>,
    ApiPath((job, id)): ApiPath<(String, String)>,
) -> ApiResult {
    let (_, b) = find_backup(&service, &job, &id).await?;
    Ok(Json(b).into_response())
}

#[derive(Deserialize)]
struct WhereQuery {
    #[serde(rename = "where")]
    place: Option<String>,
}

async fn delete_backup(
    State(service): State<AppState>,
    ApiPath((job, id)): ApiPath<(String, String)>,
    ApiQuery(q): ApiQuery<WhereQuery>,
) -> ApiResult {
    let place = match q.place.as_deref() {
        None => Where::Both,
        Some(p) => Where::parse(p)
            .ok_or_else(|| ApiError::invalid("where must be local, remote or both"))?,
    };
    find_backup(&service, &job, &id).await?;
    if let Some(task) = service.running_backup(&job) {
        if service.task(task)?.backup.as_deref() == Some(id.as_str()) {
            return Err(ApiError {
                task: Some(task),
                ..ApiError::new(
                    StatusCode::CONFLICT,
                    "job_busy",
                    format!("backup {id} is being written by task {task}"),
                )
            });
        }
    }
    let config = job_of(&service, &job)?.clone();
    let set = id.clone();
    let task = service.start(
        &job,
        TaskKind::Delete,
        Some(&id),
        Box::new(move |_, cancel| ops::run_delete(&config, &set, place, cancel)),
    )?;
    let mut task = service.task(task.id)?;
    while !task.state.is_final() {
        tokio::time::sleep(Duration::from_millis(25)).await;
        task = service.task(task.id)?;
    }
    let status = if task.state == TaskState::Succeeded {
        StatusCode::OK
    } else {
        StatusCode::BAD_GATEWAY
    };
    Ok((status, Json(task)).into_response())
}

fn parse_body<T: for<'de> Deserialize<'de> + Default>(body: &Bytes) -> Result<T, ApiError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(body).map_err(|e| ApiError::invalid(format!("request body: {e}")))
}

/// The most parallel pg_restore jobs a restore may ask for.
const MAX_RESTORE_JOBS: u32 = 64;

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RestoreBody {
    target: Option<String>,
    artifact: Option<String>,
    #[serde(default)]
    tables: Vec<String>,
    #[serde(default)]
    create: bool,
    jobs: Option<u32>,
}

/// A complete backup to read: where from (the folder when complete there, else the bucket).
async fn complete_source(service: &AppState, job: &str, id: &str) -> Result<String, ApiError> {
    let (backups, b) = find_backup(service, job, id).await?;
    if b.state != "complete" {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "backup_not_complete",
            format!("backup {id} is {}", b.state),
        ));
    }
    ops::source_of(job_of(service, job)?, &backups, id).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "backup_not_found",
            "no location holds it",
        )
    })
}

fn accepted(task: Task) -> ApiResult {
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"task": task.id, "backup": task.backup, "state": task.state})),
    )
        .into_response())
}

async fn restore(
    State(service): State<AppState>,
    ApiPath((job, id)): ApiPath<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body: RestoreBody = parse_body(&body)?;
    let config = job_of(&service, &job)?.clone();
    let asked = body.target.ok_or_else(|| {
        ApiError::invalid("target is required (one of the job's restore_targets)")
    })?;
    let target = ops::restore_target(&config, &asked).ok_or_else(|| {
        ApiError::new(
            StatusCode::FORBIDDEN,
            "restore_target_not_allowed",
            format!(
                "{:?} is not one of job {job:?}'s restore_targets",
                crate::input::conninfo::database_name(&asked).unwrap_or_default()
            ),
        )
    })?;
    let kind = match body.artifact.as_deref().unwrap_or("anon") {
        "anon" => RestoreKind::Anon,
        "plain" => RestoreKind::Plain,
        "custom" => RestoreKind::Custom,
        _ => return Err(ApiError::invalid("artifact must be anon, plain or custom")),
    };
    if body
        .jobs
        .is_some_and(|j| !(1..=MAX_RESTORE_JOBS).contains(&j))
    {
        return Err(ApiError::invalid(format!(
            "jobs must be 1 to {MAX_RESTORE_JOBS}"
        )));
    }
    if kind != RestoreKind::Custom && (!body.tables.is_empty() || body.jobs.is_some()) {
        return Err(ApiError::invalid(
            "tables and jobs need the custom artifact (pg_restore)",
        ));
    }
    let ask = RestoreAsk {
        target: target.to_string(),
        kind,
        tables: body.tables,
        create: body.create,
        jobs: body.jobs,
    };
    let location = complete_source(&service, &job, &id).await?;
    let set = id.clone();
    let task = service.start(
        &job,
        TaskKind::Restore,
        Some(&id),
        Box::new(move |_, cancel| ops::run_restore(&config, location, &set, &ask, cancel)),
    )?;
    accepted(task)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    #[serde(default)]
    restore_check: bool,
}

async fn verify(
    State(service): State<AppState>,
    ApiPath((job, id)): ApiPath<(String, String)>,
    body: Bytes,
) -> ApiResult {
    let body: VerifyBody = parse_body(&body)?;
    let config = job_of(&service, &job)?.clone();
    let location = complete_source(&service, &job, &id).await?;
    let set = id.clone();
    let task = service.start(
        &job,
        TaskKind::Verify,
        Some(&id),
        Box::new(move |_, cancel| {
            ops::run_verify(&config, location, &set, body.restore_check, cancel)
        }),
    )?;
    accepted(task)
}

async fn pull(
    State(service): State<AppState>,
    ApiPath((job, id)): ApiPath<(String, String)>,
) -> ApiResult {
    let config = job_of(&service, &job)?.clone();
    if config.upload.is_none() || config.out_dir.is_none() {
        // The request is well formed; the job's configuration is what cannot serve it.
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "not_configured",
            format!("job {job:?} needs both out_dir and upload to pull"),
        ));
    }
    find_backup(&service, &job, &id).await?;
    let set = id.clone();
    let task = service.start(
        &job,
        TaskKind::Pull,
        Some(&id),
        Box::new(move |observer, cancel| ops::run_pull(&config, &set, observer, cancel)),
    )?;
    accepted(task)
}

/// The most tasks one listing returns.
const MAX_TASKS: usize = 1000;

#[derive(Deserialize)]
struct TaskQuery {
    job: Option<String>,
    kind: Option<String>,
    state: Option<String>,
    limit: Option<usize>,
}

async fn tasks(State(service): State<AppState>, ApiQuery(q): ApiQuery<TaskQuery>) -> ApiResult {
    let kind = match q.kind.as_deref() {
        None => None,
        Some(k) => Some(TaskKind::parse(k).ok_or_else(|| {
            ApiError::invalid("kind must be backup, restore, verify, pull, delete or prune")
        })?),
    };
    let state = match q.state.as_deref() {
        None => None,
        Some(s) => Some(TaskState::parse(s).ok_or_else(|| {
            ApiError::invalid(
                "state must be queued, running, succeeded, failed, cancelled or interrupted",
            )
        })?),
    };
    if q.limit.is_some_and(|l| l > MAX_TASKS) {
        return Err(ApiError::invalid(format!(
            "limit must be at most {MAX_TASKS}"
        )));
    }
    let filter = TaskFilter {
        job: q.job,
        kind,
        state,
        limit: Some(q.limit.unwrap_or(100)),
    };
    let s = service.clone();
    let tasks = blocking(move || Ok(s.tasks(&filter)?)).await?;
    Ok(Json(json!({ "tasks": tasks })).into_response())
}

async fn one_task(State(service): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult {
    let id = task_id(&id)?;
    Ok(Json(service.task(id)?).into_response())
}

async fn cancel(State(service): State<AppState>, ApiPath(id): ApiPath<String>) -> ApiResult {
    let id = task_id(&id)?;
    let task = service.cancel(id)?;
    Ok((StatusCode::ACCEPTED, Json(task)).into_response())
}

fn task_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "task_not_found",
            format!("no task {id:?}"),
        )
    })
}

/// `Method` names of [`ROUTES`], for the OpenAPI check.
pub fn route_set() -> std::collections::BTreeSet<(String, String)> {
    ROUTES
        .iter()
        .map(|(m, p, _)| (m.to_lowercase(), (*p).to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_openapi_document_lists_exactly_the_routes() {
        let doc: serde_json::Value = serde_json::from_str(super::OPENAPI).unwrap();
        let mut documented = std::collections::BTreeSet::new();
        for (path, item) in doc["paths"].as_object().unwrap() {
            for method in item.as_object().unwrap().keys() {
                if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                    documented.insert((method.clone(), path.clone()));
                }
            }
        }
        assert_eq!(documented, super::route_set());
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    }
}
