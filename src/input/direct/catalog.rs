//! Synchronous catalog reads over pgveil's own client, for callers without a runtime of their own
//! (`rules check/init --dbname`): one connection made by the direct read's code ([`super::connect`]:
//! conninfo, `PG*` variables, password file, `sslmode`), statements run on it, and `COPY … TO
//! STDOUT` output read whole. Where the client cannot honour the connection the opening is
//! [`DirectError::Unsupported`], and the caller reads through psql instead.

use futures_util::StreamExt;
use tokio_postgres::Client;

use super::{connect, DirectError};
use crate::input::conninfo::ConnInfo;

/// One connection and the single-threaded runtime its I/O runs on while a call waits.
pub struct CatalogSession {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl CatalogSession {
    /// Connect to `dbname` (a name, conninfo or URI; `None`: the `PG*` defaults). A failure carries
    /// the target and the server's (or the network's) own message.
    pub fn open(dbname: Option<&str>) -> Result<CatalogSession, DirectError> {
        let conn = ConnInfo::parse_opt(dbname)?;
        let target = connect::target(conn.as_ref())?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(DirectError::Runtime)?;
        let client = runtime.block_on(connect::connect(&target))?;
        Ok(CatalogSession { runtime, client })
    }

    /// Run `sql` (any number of statements, no result read); `what` names it in an error.
    pub fn execute(&self, sql: &str, what: &str) -> Result<(), DirectError> {
        self.runtime
            .block_on(self.client.batch_execute(sql))
            .map_err(|source| DirectError::Query {
                what: what.to_string(),
                source,
            })
    }

    /// The whole output of `copy` (a `COPY … TO STDOUT` statement), as the server sent it.
    pub fn copy_out(&self, copy: &str, what: &str) -> Result<Vec<u8>, DirectError> {
        let failed = |source| DirectError::Query {
            what: what.to_string(),
            source,
        };
        self.runtime.block_on(async {
            let stream = self.client.copy_out(copy).await.map_err(failed)?;
            let mut stream = std::pin::pin!(stream);
            let mut out = Vec::new();
            while let Some(chunk) = stream.next().await {
                out.extend_from_slice(&chunk.map_err(failed)?);
            }
            Ok(out)
        })
    }
}
