//! The SQLite driver: an embedded file in WAL mode, one file per duty.
//!
//! Runners hear of other processes' commits through a watch of the database's folder
//! (inotify, Linux only; see `watch.rs`); elsewhere, and for a database in memory, they
//! find other processes' tasks at their poll.
//!
//! Batches are passed to SQLite as one JSON array per statement, read once as JSONB
//! (`jsonb_each`), since SQLite has no array parameters.

use std::str::FromStr;
use std::sync::Arc;

use async_trait::async_trait;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

use super::{Backend, ConnectOptions, Doing, Driver, Listener, SqliteDurability, StoreError};

mod bulk;
mod claim;
mod complete;
mod control;
mod events;
mod flow;
pub(crate) mod insert;
mod migrate;
mod overview;
mod read;
mod retention;
mod runners;
mod running;
mod schedules;
mod ticks;
mod upkeep;
#[cfg(target_os = "linux")]
mod watch;

/// The statement that opens a write transaction: `IMMEDIATE` takes the write lock at once,
/// so that a transaction never fails to upgrade a read lock.
const BEGIN: &str = "BEGIN IMMEDIATE";

/// An SQLite database.
pub(crate) struct Sqlite {
    pool: SqlitePool,
    /// SQLite admits one writer at a time, and a connection that finds the write lock taken
    /// sleeps in its busy handler (1 ms, 2 ms, 5 ms... up to 100 ms) before it tries again.
    /// The hot writes of one process (claims, completions, enqueues) take this gate first,
    /// so that they queue here and follow each other at once; the busy handler is left to
    /// other processes.
    writer: Arc<tokio::sync::Mutex<()>>,
}

/// `url` as an SQLite URL: a bare path is a file.
pub(super) fn url_of(url: &str) -> String {
    if url.starts_with("sqlite:") {
        url.to_owned()
    } else {
        format!("sqlite://{url}")
    }
}

impl Sqlite {
    /// Opens (or creates) the database file at `url`.
    pub(super) async fn connect(url: &str, options: &ConnectOptions) -> Result<Sqlite, StoreError> {
        let url = url_of(url);
        let connect = |source| StoreError::Connect {
            url: url.clone(),
            source,
        };
        let synchronous = match options.sqlite_durability {
            SqliteDurability::Full => SqliteSynchronous::Full,
            SqliteDurability::Normal => SqliteSynchronous::Normal,
            SqliteDurability::Off => SqliteSynchronous::Off,
        };
        // Applied by sqlx to every connection it opens, not just the first.
        let connect_options = SqliteConnectOptions::from_str(&url)
            .map_err(connect)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(synchronous)
            .busy_timeout(options.busy_timeout)
            .foreign_keys(true)
            .pragma("temp_store", "memory");
        let pool = SqlitePoolOptions::new()
            .max_connections(options.pool_size.max(1))
            .acquire_timeout(options.busy_timeout)
            .connect_with(connect_options)
            .await
            .map_err(connect)?;
        Ok(Sqlite {
            pool,
            writer: Arc::default(),
        })
    }

    /// Waits for this process's turn to write (see `writer`).
    async fn write_turn(&self) -> tokio::sync::MutexGuard<'_, ()> {
        self.writer.lock().await
    }

    /// The database file's path, as SQLite opened it; `None` for a database in memory.
    #[cfg(target_os = "linux")]
    async fn file(&self) -> Result<Option<std::path::PathBuf>, StoreError> {
        let file: String =
            sqlx::query_scalar("SELECT file FROM pragma_database_list WHERE name = 'main'")
                .fetch_optional(&self.pool)
                .await
                .doing("finding the database file")?
                .unwrap_or_default();
        if file.is_empty() {
            return Ok(None);
        }
        // The folder's real path: the log is created next to the file SQLite opened.
        let path = std::path::PathBuf::from(file);
        Ok(Some(std::fs::canonicalize(&path).unwrap_or(path)))
    }

    /// Opens a write transaction.
    async fn begin(
        &self,
        doing: &'static str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>, StoreError> {
        self.pool.begin_with(BEGIN).await.doing(doing)
    }
}

#[async_trait]
impl Driver for Sqlite {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    async fn ping(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .doing("reaching the database")?;
        Ok(())
    }

    async fn close(&self) {
        self.pool.close().await;
    }

    /// Every commit to the database file, as [`Announcement::Changed`](super::Announcement)
    /// (Linux); `None` for a database in memory, on other systems, and when the system
    /// refuses the watch (its limit of inotify watches reached: said once, and runners
    /// poll).
    #[cfg(target_os = "linux")]
    async fn listen(&self) -> Result<Option<Box<dyn Listener>>, StoreError> {
        let Some(path) = self.file().await? else {
            return Ok(None);
        };
        match watch::Changes::watch(&path) {
            Ok(changes) => Ok(Some(Box::new(changes))),
            Err(error) => {
                tracing::warn!(%error, "tasks stored by other processes are found at the poll");
                Ok(None)
            }
        }
    }

    /// SQLite has no announcements across processes here: runners poll.
    #[cfg(not(target_os = "linux"))]
    async fn listen(&self) -> Result<Option<Box<dyn Listener>>, StoreError> {
        Ok(None)
    }
}

/// Serializes a batch as the JSON array a statement reads with `jsonb_each`.
fn json_batch<T: serde::Serialize>(rows: &[T], doing: &'static str) -> Result<String, StoreError> {
    serde_json::to_string(rows).map_err(|e| StoreError::Corrupt {
        doing,
        detail: e.to_string(),
    })
}
