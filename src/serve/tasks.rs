//! The task store of `pgveil serve`: every task (a backup, restore, verify, pull or delete) with its
//! state, times, progress, result and error, in SQLite (`[server] state`), so that the task list
//! survives a restart.
//!
//! Opening the store is the service's start: a task still `queued` or `running` in it belonged to
//! a service that died (or was killed) without finishing it, so it becomes `interrupted`. Its
//! backup set, if it had claimed one, has no manifest: it lists as incomplete, never counts as a
//! backup, and retention / `pgveil backups prune` remove it as they remove every incomplete set.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

#[derive(Debug, thiserror::Error)]
pub enum TaskStoreError {
    #[error("opening the task store {path}")]
    Open {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("creating the folder of the task store {path}")]
    Folder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("task store")]
    Sql(#[from] rusqlite::Error),
}

/// What a task does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    Backup,
    Restore,
    Verify,
    Pull,
    Delete,
    /// Retention and freezing on their own schedule.
    Prune,
}

impl TaskKind {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskKind::Backup => "backup",
            TaskKind::Restore => "restore",
            TaskKind::Verify => "verify",
            TaskKind::Pull => "pull",
            TaskKind::Delete => "delete",
            TaskKind::Prune => "prune",
        }
    }

    pub fn parse(s: &str) -> Option<TaskKind> {
        [
            TaskKind::Backup,
            TaskKind::Restore,
            TaskKind::Verify,
            TaskKind::Pull,
            TaskKind::Delete,
            TaskKind::Prune,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskState {
    Queued,
    Running,
    Succeeded,
    Failed,
    /// Stopped through its cancellation token (the cancel endpoint, or the service stopping).
    Cancelled,
    /// Running or queued when the service died: found so at the next start.
    Interrupted,
}

impl TaskState {
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Queued => "queued",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Failed => "failed",
            TaskState::Cancelled => "cancelled",
            TaskState::Interrupted => "interrupted",
        }
    }

    pub fn parse(s: &str) -> Option<TaskState> {
        [
            TaskState::Queued,
            TaskState::Running,
            TaskState::Succeeded,
            TaskState::Failed,
            TaskState::Cancelled,
            TaskState::Interrupted,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    pub fn is_final(self) -> bool {
        !matches!(self, TaskState::Queued | TaskState::Running)
    }
}

/// A task as stored and as the API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct Task {
    pub id: i64,
    pub job: String,
    pub kind: TaskKind,
    pub state: TaskState,
    /// The backup set's id (its stamp) the task works on; for a backup, once it claimed its set.
    pub backup: Option<String>,
    pub created: String,
    pub started: Option<String>,
    pub finished: Option<String>,
    pub progress: serde_json::Value,
    pub result: serde_json::Value,
    pub error: Option<String>,
}

/// Which tasks to list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    pub job: Option<String>,
    pub kind: Option<TaskKind>,
    pub state: Option<TaskState>,
    pub limit: Option<usize>,
}

pub struct TaskStore {
    conn: Connection,
}

/// Now, RFC 3339 in UTC.
pub fn now() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Millisecond)
        .map_or_else(|_| jiff::Timestamp::now().to_string(), |t| t.to_string())
}

impl TaskStore {
    /// Open (or create) the store; tasks left `queued`/`running` become `interrupted`. Returns the
    /// store and the ids of the tasks so marked.
    pub fn open(path: &Path) -> Result<(TaskStore, Vec<i64>), TaskStoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| TaskStoreError::Folder {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path).map_err(|source| TaskStoreError::Open {
            path: path.display().to_string(),
            source,
        })?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL;
             PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS tasks (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                job TEXT NOT NULL,
                kind TEXT NOT NULL,
                state TEXT NOT NULL,
                backup TEXT,
                created TEXT NOT NULL,
                started TEXT,
                finished TEXT,
                progress TEXT NOT NULL DEFAULT '{}',
                result TEXT NOT NULL DEFAULT 'null',
                error TEXT
             );
             CREATE INDEX IF NOT EXISTS tasks_job ON tasks(job, kind, id);",
        )?;
        let mut store = TaskStore { conn };
        let stale: Vec<i64> = store
            .list(&TaskFilter::default())?
            .into_iter()
            .filter(|t| !t.state.is_final())
            .map(|t| t.id)
            .collect();
        for &id in &stale {
            store.finish(
                id,
                TaskState::Interrupted,
                &serde_json::Value::Null,
                Some("the service stopped while the task ran (its backup set, if any, is incomplete and never counts)"),
            )?;
        }
        store
            .conn
            .execute_batch("PRAGMA wal_checkpoint(PASSIVE);")?;
        Ok((store, stale))
    }

    /// A new task, `queued`.
    pub fn create(
        &mut self,
        job: &str,
        kind: TaskKind,
        backup: Option<&str>,
    ) -> Result<Task, TaskStoreError> {
        self.conn.execute(
            "INSERT INTO tasks (job, kind, state, backup, created) VALUES (?1, ?2, 'queued', ?3, ?4)",
            params![job, kind.as_str(), backup, now()],
        )?;
        let id = self.conn.last_insert_rowid();
        Ok(self.get(id)?.expect("the task just inserted"))
    }

    pub fn set_running(&mut self, id: i64) -> Result<(), TaskStoreError> {
        self.conn.execute(
            "UPDATE tasks SET state = 'running', started = ?2 WHERE id = ?1",
            params![id, now()],
        )?;
        Ok(())
    }

    pub fn set_backup(&mut self, id: i64, backup: &str) -> Result<(), TaskStoreError> {
        self.conn.execute(
            "UPDATE tasks SET backup = ?2 WHERE id = ?1",
            params![id, backup],
        )?;
        Ok(())
    }

    pub fn set_progress(
        &mut self,
        id: i64,
        progress: &serde_json::Value,
    ) -> Result<(), TaskStoreError> {
        self.conn.execute(
            "UPDATE tasks SET progress = ?2 WHERE id = ?1",
            params![id, progress.to_string()],
        )?;
        Ok(())
    }

    pub fn finish(
        &mut self,
        id: i64,
        state: TaskState,
        result: &serde_json::Value,
        error: Option<&str>,
    ) -> Result<(), TaskStoreError> {
        self.conn.execute(
            "UPDATE tasks SET state = ?2, finished = ?3, result = ?4, error = ?5 WHERE id = ?1",
            params![id, state.as_str(), now(), result.to_string(), error],
        )?;
        Ok(())
    }

    pub fn get(&self, id: i64) -> Result<Option<Task>, TaskStoreError> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM tasks WHERE id = ?1"),
                params![id],
                row_to_task,
            )
            .optional()?)
    }

    /// Tasks matching `filter`, newest first.
    pub fn list(&self, filter: &TaskFilter) -> Result<Vec<Task>, TaskStoreError> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {COLUMNS} FROM tasks
             WHERE (?1 IS NULL OR job = ?1) AND (?2 IS NULL OR kind = ?2) AND (?3 IS NULL OR state = ?3)
             ORDER BY id DESC LIMIT ?4"
        ))?;
        let limit = filter.limit.map_or(-1, |l| l as i64);
        let rows = stmt.query_map(
            params![
                filter.job,
                filter.kind.map(TaskKind::as_str),
                filter.state.map(TaskState::as_str),
                limit
            ],
            row_to_task,
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

const COLUMNS: &str =
    "id, job, kind, state, backup, created, started, finished, progress, result, error";

fn row_to_task(row: &rusqlite::Row<'_>) -> rusqlite::Result<Task> {
    let kind: String = row.get(2)?;
    let state: String = row.get(3)?;
    let progress: String = row.get(8)?;
    let result: String = row.get(9)?;
    Ok(Task {
        id: row.get(0)?,
        job: row.get(1)?,
        kind: TaskKind::parse(&kind).unwrap_or(TaskKind::Backup),
        state: TaskState::parse(&state).unwrap_or(TaskState::Interrupted),
        backup: row.get(4)?,
        created: row.get(5)?,
        started: row.get(6)?,
        finished: row.get(7)?,
        progress: serde_json::from_str(&progress).unwrap_or(serde_json::Value::Null),
        result: serde_json::from_str(&result).unwrap_or(serde_json::Value::Null),
        error: row.get(10)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_left_running_are_interrupted_at_the_next_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/state.db");
        let (mut store, stale) = TaskStore::open(&path).unwrap();
        assert!(stale.is_empty());
        let a = store.create("shop", TaskKind::Backup, None).unwrap();
        store.set_running(a.id).unwrap();
        let b = store.create("shop", TaskKind::Verify, Some("x")).unwrap();
        store
            .finish(
                b.id,
                TaskState::Succeeded,
                &serde_json::json!({"ok": 1}),
                None,
            )
            .unwrap();
        drop(store);
        let (store, stale) = TaskStore::open(&path).unwrap();
        assert_eq!(stale, vec![a.id]);
        assert_eq!(
            store.get(a.id).unwrap().unwrap().state,
            TaskState::Interrupted
        );
        let b = store.get(b.id).unwrap().unwrap();
        assert_eq!(b.state, TaskState::Succeeded);
        assert_eq!(b.result["ok"], 1);
        let only = store
            .list(&TaskFilter {
                kind: Some(TaskKind::Verify),
                ..TaskFilter::default()
            })
            .unwrap();
        assert_eq!(only.len(), 1);
    }
}
