//! Durable storage of tasks, history, runners, pauses and ticks.
//!
//! One code path serves every backend: each operation is written once against a pool
//! (the `with_pool!` macro expands it for each backend's pool type), and the few
//! statements whose SQL differs between backends come from `Dialect`.
//!
//! apalis's own SQL storages are not used for the task table: they acknowledge each task
//! in its own transaction, keep no per-attempt history, have no durable backoff and lose
//! track of timeouts and panics (see `APALIS-NOTES.md`). This storage claims tasks in
//! batches, writes acknowledgements and history rows together in one transaction, and
//! takes every instant from the runner's clock, so that a virtual clock drives it fully.
//! apalis still runs the workers, over `TaskSource` (in `executor`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

mod controls;
mod events;
pub(crate) mod executions;
mod migrate;
mod runners;
mod schedules;
mod tasks;
mod ticks;

pub use events::{EventOutcome, EventRow};
pub use executions::{Execution, ExecutionFilter, ExecutionStatus, NewExecution};
pub use runners::{RescuedTask, RunnerRow};
pub(crate) use schedules::SCHEDULES_CHANNEL;
pub use schedules::ScheduleRow;
pub use tasks::{
    ChainLink, ClaimedTask, Completion, ControlError, FollowUp, NewTask, QueueStats, TaskFilter,
    TaskRow, TaskState,
};
pub use ticks::{TakenTick, TickOutcome, TickTask};

/// Expands `$body` once per backend, with `$pool` bound to that backend's pool and
/// `$dialect` to its [`Dialect`].
macro_rules! with_pool {
    ($store:expr, |$pool:ident, $dialect:ident| $body:expr) => {
        match &$store.db {
            $crate::storage::Db::Sqlite($pool) => {
                #[allow(unused_variables)]
                let $dialect = $crate::storage::Dialect::Sqlite;
                $body
            }
            $crate::storage::Db::Postgres($pool) => {
                #[allow(unused_variables)]
                let $dialect = $crate::storage::Dialect::Postgres;
                $body
            }
        }
    };
}
pub(crate) use with_pool;

/// The connected database.
#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// The SQL variant a statement is written in, where backends differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// The statement that opens a write transaction. SQLite's `IMMEDIATE` takes the write
    /// lock at once, so that a transaction never fails to upgrade a read lock.
    pub(crate) fn begin(self) -> &'static str {
        match self {
            Dialect::Sqlite => "BEGIN IMMEDIATE",
            Dialect::Postgres => "BEGIN",
        }
    }
}

/// The channel on which PostgreSQL announces tasks that are due (payload: the job's name).
pub(crate) const TASKS_CHANNEL: &str = "jobs_tasks";

/// Announces, inside a transaction, that `job` has a task due now: on PostgreSQL every
/// listening runner wakes that job's workers when the transaction commits. SQLite runners
/// see it at their next poll.
macro_rules! announce {
    ($tx:expr, $dialect:expr, $job:expr) => {
        if $dialect == $crate::storage::Dialect::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind($crate::storage::TASKS_CHANNEL)
                .bind($job)
                .execute(&mut *$tx)
                .await
                .doing("announcing a due task")?;
        }
    };
}
pub(crate) use announce;

/// Which kind of database a URL names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// An SQLite file (the default: `jobs.db`).
    Sqlite,
    /// A PostgreSQL server.
    Postgres,
}

impl fmt::Display for Backend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Backend::Sqlite => "SQLite",
            Backend::Postgres => "PostgreSQL",
        })
    }
}

/// How durable SQLite commits are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SqliteDurability {
    /// `synchronous=FULL`: a committed transaction survives a power loss (the default).
    #[default]
    Full,
    /// `synchronous=NORMAL`: the database stays consistent after a power loss, but the last
    /// commits before it may be lost. Faster.
    Normal,
    /// `synchronous=OFF`: for throwaway databases only (simulations, benchmarks of the
    /// storage itself): an OS crash may corrupt the file.
    Off,
}

/// Connection settings.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    /// Largest number of pooled connections.
    pub pool_size: u32,
    /// SQLite only: how durable commits are.
    pub sqlite_durability: SqliteDurability,
    /// How long a statement waits for a lock or a connection before failing.
    pub busy_timeout: Duration,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            pool_size: 8,
            sqlite_durability: SqliteDurability::Full,
            busy_timeout: Duration::from_secs(30),
        }
    }
}

/// A storage failure, with what was being done.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database URL is not one this runner understands.
    #[error(
        "unsupported database URL `{0}`: use `sqlite://PATH` (or a file path) for SQLite, or `postgres://USER@HOST/DB` for PostgreSQL"
    )]
    UnsupportedUrl(String),
    /// The database could not be opened.
    #[error("cannot open database `{url}`: {source}")]
    Connect {
        /// The URL, without its password.
        url: String,
        /// What the driver reported.
        #[source]
        source: sqlx::Error,
    },
    /// The database's schema is newer than this runner.
    #[error(
        "the database's schema is at version {found}, newer than this runner knows ({known}): upgrade the runner before running it against this database"
    )]
    SchemaTooNew {
        /// The version in the database.
        found: i64,
        /// The newest version this runner knows.
        known: i64,
    },
    /// The database's schema has not been created.
    #[error(
        "the database has no job tables yet: run `job-runner migrate` (or `job-runner run`, which migrates at start)"
    )]
    NotMigrated,
    /// A statement failed.
    #[error("database error while {doing}: {source}")]
    Query {
        /// What was being done.
        doing: &'static str,
        /// What the driver reported.
        #[source]
        source: sqlx::Error,
    },
    /// A stored value could not be read.
    #[error("unreadable stored value while {doing}: {detail}")]
    Corrupt {
        /// What was being done.
        doing: &'static str,
        /// What is wrong.
        detail: String,
    },
}

/// Adds what was being done to a driver error: `.doing("claiming tasks")?`.
pub(crate) trait Doing<T> {
    fn doing(self, doing: &'static str) -> Result<T, StoreError>;
}

impl<T> Doing<T> for Result<T, sqlx::Error> {
    fn doing(self, doing: &'static str) -> Result<T, StoreError> {
        self.map_err(|source| StoreError::Query { doing, source })
    }
}

/// The job database: tasks, history, runners, pauses and ticks.
#[derive(Clone)]
pub struct Store {
    pub(crate) db: Db,
    url: String,
    /// SQLite admits one writer at a time, and a connection that finds the write lock taken
    /// sleeps in its busy handler (1 ms, 2 ms, 5 ms... up to 100 ms) before it tries again.
    /// The hot writes of one process (claims, completions, enqueues) take this gate first,
    /// so that they queue here and follow each other at once; the busy handler is left to
    /// other processes.
    writer: Arc<tokio::sync::Mutex<()>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store").field("url", &self.url).finish()
    }
}

impl Store {
    /// Which backend a URL selects.
    pub fn backend_of(url: &str) -> Result<Backend, StoreError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Backend::Postgres)
        } else if url.starts_with("sqlite:") || !url.contains("://") {
            Ok(Backend::Sqlite)
        } else {
            Err(StoreError::UnsupportedUrl(redact(url)))
        }
    }

    /// Opens the database at `url` (creating an SQLite file if missing). Does not migrate.
    pub async fn connect(url: &str, options: &ConnectOptions) -> Result<Store, StoreError> {
        match Store::backend_of(url)? {
            Backend::Sqlite => {
                let url = if url.starts_with("sqlite:") {
                    url.to_owned()
                } else {
                    format!("sqlite://{url}")
                };
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
                Ok(Store {
                    db: Db::Sqlite(pool),
                    url,
                    writer: Arc::default(),
                })
            }
            Backend::Postgres => {
                let connect = |source| StoreError::Connect {
                    url: redact(url),
                    source,
                };
                let connect_options = PgConnectOptions::from_str(url).map_err(connect)?;
                let pool = PgPoolOptions::new()
                    .max_connections(options.pool_size.max(1))
                    .acquire_timeout(options.busy_timeout)
                    .connect_with(connect_options)
                    .await
                    .map_err(connect)?;
                Ok(Store {
                    db: Db::Postgres(pool),
                    url: url.to_owned(),
                    writer: Arc::default(),
                })
            }
        }
    }

    /// Waits for this process's turn to write, on SQLite (see `writer`); nothing to wait
    /// for on PostgreSQL, whose writers do not exclude each other.
    pub(crate) async fn write_turn(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        match self.db {
            Db::Sqlite(_) => Some(self.writer.lock().await),
            Db::Postgres(_) => None,
        }
    }

    /// The URL, without a password, for logs.
    pub fn display_url(&self) -> String {
        redact(&self.url)
    }

    /// Which backend this is.
    pub fn backend(&self) -> Backend {
        match self.db {
            Db::Sqlite(_) => Backend::Sqlite,
            Db::Postgres(_) => Backend::Postgres,
        }
    }

    /// Creates or upgrades the job tables; safe to run from several runners at once.
    pub async fn migrate(&self) -> Result<(), StoreError> {
        migrate::run(self).await
    }

    /// Fails with [`StoreError::NotMigrated`] or [`StoreError::SchemaTooNew`] unless the
    /// schema is exactly what this runner expects; for commands that must not migrate.
    pub async fn check_schema(&self) -> Result<(), StoreError> {
        migrate::check(self).await
    }

    /// Closes every pooled connection.
    pub async fn close(&self) {
        with_pool!(self, |pool, dialect| pool.close().await)
    }
}

/// A URL with its password replaced by `***`.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let credentials = &url[scheme + 3..at];
            match credentials.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Unix milliseconds of an instant.
pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// The instant of stored unix milliseconds.
pub(crate) fn instant(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_select_backends_and_hide_passwords() {
        assert_eq!(Store::backend_of("jobs.db").unwrap(), Backend::Sqlite);
        assert_eq!(
            Store::backend_of("sqlite://jobs.db").unwrap(),
            Backend::Sqlite
        );
        assert_eq!(
            Store::backend_of("postgres://u:p@h/db").unwrap(),
            Backend::Postgres
        );
        assert!(Store::backend_of("mysql://h/db").is_err());
        assert_eq!(redact("postgres://u:secret@h/db"), "postgres://u:***@h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
        assert_eq!(redact("sqlite://jobs.db"), "sqlite://jobs.db");
    }
}
