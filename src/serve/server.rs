//! Running `pgveil serve`: open the task store (tasks left running become `interrupted`), bind
//! the listen address, start the schedules and the API, and stop gracefully on SIGINT/SIGTERM:
//! no new requests or tasks, every running task cancelled through its token (partial files
//! removed, uploads aborted, nothing published), recorded as `cancelled`, then return (exit 0).
//! Tasks still running after [`STOP_GRACE`] have their child processes killed.

use std::sync::Arc;

use super::config::ServeConfig;
use super::log::{chain, Log};
use super::service::Service;
use super::tasks::{TaskStore, TaskStoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Store(#[from] TaskStoreError),
    #[error("listening on {addr}")]
    Bind {
        addr: std::net::SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the HTTP runtime")]
    Runtime(#[source] std::io::Error),
    #[error("serving HTTP")]
    Http(#[source] std::io::Error),
}

/// How long a stopping service waits for its cancelled tasks before it terminates their child
/// processes (a pg_dump waiting for a lock sees no cancellation until it delivers data).
pub const STOP_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Run the service until a signal stops it.
pub fn serve(config: ServeConfig, log: Log) -> Result<(), ServeError> {
    let (store, interrupted) = TaskStore::open(&config.server.state)?;
    for id in &interrupted {
        log.event(
            "task interrupted",
            "it was running when the service stopped; its backup set (if any) is incomplete",
            &[("task", &id.to_string())],
        );
    }
    let addr = config.server.listen;
    let listener =
        std::net::TcpListener::bind(addr).map_err(|source| ServeError::Bind { addr, source })?;
    listener
        .set_nonblocking(true)
        .map_err(|source| ServeError::Bind { addr, source })?;
    let service = Service::new(config, store, log);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("pgveil-http")
        .build()
        .map_err(ServeError::Runtime)?;
    let stop = Arc::new(tokio::sync::Notify::new());
    {
        let service = service.clone();
        let stop = stop.clone();
        crate::interrupt::on_signal(Box::new(move |sig| {
            service
                .log
                .event("stopping", &format!("{sig} received"), &[]);
            service.begin_stop();
            stop.notify_one();
        }));
    }
    let (tokens_read, tokens_admin) = service
        .config
        .server
        .tokens
        .as_ref()
        .map_or((0, 0), |t| t.counts());
    log.event(
        "listening",
        &format!("http://{addr}/api/v1"),
        &[
            ("jobs", &service.config.jobs.len().to_string()),
            ("read_tokens", &tokens_read.to_string()),
            ("admin_tokens", &tokens_admin.to_string()),
        ],
    );
    let schedules = super::scheduler::start(&service);
    let app = super::api::router(service.clone());
    let served = runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { stop.notified().await })
            .await
    });
    if let Err(e) = &served {
        log.event("http error", &chain(e), &[]);
    }
    service.stop(STOP_GRACE);
    for s in schedules {
        let _ = s.join();
    }
    runtime.shutdown_timeout(std::time::Duration::from_secs(2));
    log.event("stopped", "every task ended", &[]);
    served.map_err(ServeError::Http)
}
