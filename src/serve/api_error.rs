//! The errors of the HTTP API: `{"code": "...", "message": "..."}` with a stable code and the
//! status that goes with it ([`ApiError`]), from the service's errors; and the path and query
//! extractors of the handlers, whose rejections (a path segment that does not decode, a query
//! string that does not parse, a repeated parameter) are such errors too, not axum's plain text.

use axum::extract::{FromRequestParts, Path, Query};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::service::ServiceError;

/// A JSON error with a stable code.
#[derive(Debug)]
pub struct ApiError {
    pub(super) status: StatusCode,
    pub(super) code: &'static str,
    pub(super) message: String,
    /// The task in the way (409s).
    pub(super) task: Option<i64>,
}

impl ApiError {
    pub(super) fn new(
        status: StatusCode,
        code: &'static str,
        message: impl Into<String>,
    ) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
            task: None,
        }
    }

    pub(super) fn invalid(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({"code": self.code, "message": self.message});
        if let Some(t) = self.task {
            body["task"] = t.into();
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> ApiError {
        let message = e.to_string();
        match e {
            ServiceError::UnknownJob(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_job", message)
            }
            ServiceError::Busy { task, .. } => ApiError {
                task: Some(task),
                ..ApiError::new(StatusCode::CONFLICT, "job_busy", message)
            },
            ServiceError::SetBusy { task, .. } => ApiError {
                task: Some(task),
                ..ApiError::new(StatusCode::CONFLICT, "backup_busy", message)
            },
            ServiceError::Stopping => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "stopping", message)
            }
            ServiceError::NoTask(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "task_not_found", message)
            }
            ServiceError::NotRunning(_) => {
                ApiError::new(StatusCode::CONFLICT, "task_not_running", message)
            }
            ServiceError::Store(e) => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                super::log::chain(&e),
            ),
        }
    }
}

/// Path parameters; a path that does not decode names nothing: 404.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Path::<T>::from_request_parts(parts, state).await {
            Ok(Path(t)) => Ok(ApiPath(t)),
            Err(e) => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "not_found",
                e.body_text(),
            )),
        }
    }
}

/// Query parameters; a query string that does not parse: 422.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(t)) => Ok(ApiQuery(t)),
            Err(e) => Err(ApiError::invalid(e.body_text())),
        }
    }
}
