//! The dashboard of `pgveil serve`: one static page at `/` (HTML, a script and a style sheet, built
//! into the binary; no build step) that reads and drives the REST API with the token the user
//! types. It shows the jobs with their next run and last result, each job's backups with sizes and
//! where they are, the tasks with live progress, and buttons for back up now, verify and pull.
//!
//! The page itself holds no data, so it needs no token; every call it makes does. It is served with
//! a strict Content-Security-Policy (scripts, styles and requests from this origin only, no
//! framing), and the script writes what the API returns as text, never as HTML, so a job name or an
//! error message cannot inject markup. The token stays in the tab's `sessionStorage`.

use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

const PAGE: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/dashboard.js");
const STYLE: &str = include_str!("dashboard/dashboard.css");

/// The paths of the dashboard (outside `/api/v1`, so not in the OpenAPI document).
pub const PATHS: &[&str] = &["/", "/dashboard.js", "/dashboard.css"];

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
                 img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
            ),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (header::REFERRER_POLICY, "no-referrer"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The dashboard's routes.
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route(
            "/",
            get(|| async { asset("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/dashboard.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }),
        )
        .route(
            "/dashboard.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE) }),
        )
}
