//! Durable storage of tasks, history, runners, pauses, ticks, events and schedules.
//!
//! A [`Store`] is a connected [`Driver`]: the operations are the driver's traits (one per
//! duty, in [`driver`]), and each backend implements all of them in its own module, one
//! file per duty (`sqlite/`, `postgres/`). Each backend module holds every statement it
//! runs, even where the text matches the other backend's: a reader (or the author of a new
//! backend) sees one backend whole, and the conformance suite (`tests/storage.rs`), which
//! calls every driver method on every backend, keeps them in step. What is shared is what
//! does not touch SQL: the types here, and the decoding of stored rows (`rows.rs`).
//!
//! apalis's own SQL storages are not used for the task table: they acknowledge each task
//! in its own transaction, keep no per-attempt history, have no durable backoff and lose
//! track of timeouts and panics. This storage claims tasks in batches, writes
//! acknowledgements and history rows together in one transaction, and takes every instant
//! from the runner's clock, so that a virtual clock drives it fully. apalis still runs the
//! workers, over `TaskSource` (in `executor`).
//!
//! ```no_run
//! # async fn demo() -> Result<(), job_runner::storage::StoreError> {
//! use job_runner::storage::{ConnectOptions, Store, TaskFilter, TaskState};
//!
//! let store = Store::connect("sqlite://jobs.db", &ConnectOptions::default()).await?;
//! store.migrate().await?;
//! let filter = TaskFilter { state: Some(TaskState::Dead), limit: 10, ..Default::default() };
//! for task in store.tasks(&filter).await? {
//!     println!("{} {} {:?}", task.id, task.job, task.last_error);
//! }
//! # Ok(()) }
//! ```

use std::fmt;
use std::ops::Deref;
use std::sync::Arc;
use std::time::Duration;

pub(crate) mod bulk;
pub mod driver;
mod error;
mod event;
mod execution;
mod flow;
mod migrations;
mod overview;
pub(crate) mod postgres;
pub(crate) mod rows;
mod runner;
mod schedule;
pub(crate) mod sqlite;
mod task;
pub mod text;
mod tick;

pub use bulk::{BULK_BATCH, BulkAction, BulkOutcome, ChainStep, Pulse, TaskCount, TaskLinks};
pub(crate) use bulk::{bind_all, listing_order, task_conditions};
pub use driver::{
    Bulk, Claims, Completions, Controls, Driver, Events, Flow, Inserts, Listener, Migrations,
    Overview, Reads, Retention, Runners, Running, Schedules, Ticks, Upkeep,
};
pub(crate) use error::Doing;
pub use error::StoreError;
pub use event::{EventOutcome, EventRow};
pub use execution::{AttemptOf, Execution, ExecutionFilter, ExecutionStatus, NewExecution};
pub use flow::{FlowState, KeyState, LimitOverride, Limits, QueueLimit};
pub use overview::{
    Holding, JobMinutes, MinuteBucket, MinuteCounts, MinuteWindow, PausedQueue, QueueCounts,
};
/// The statements of the overview on PostgreSQL, for the test of their plans.
#[doc(hidden)]
pub use postgres::overview::OVERVIEW_QUERIES as POSTGRES_OVERVIEW_QUERIES;
/// The statements that read the history on PostgreSQL, for the test of their plans.
#[doc(hidden)]
pub use postgres::read::history_queries as postgres_history_queries;
pub use runner::{KnownJob, RescuedTask, RunnerRow};
pub use schedule::ScheduleRow;
pub use task::{
    ChainLink, ClaimedTask, Completion, FailedAttempt, FollowUp, NewTask, QueueStats, RetryPolicy,
    TaskEndRow, TaskFilter, TaskRow, TaskState, Transition,
};
pub use tick::{TakenTick, TickOutcome, TickTask};

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

/// PostgreSQL only: how the pooler between the runner and the server (PgBouncer, say)
/// hands out server connections, in PgBouncer's words (its `pool_mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolMode {
    /// Each connection is a server connection of its own for as long as it lives: the
    /// server itself, or a pooler in session mode (the default).
    #[default]
    Session,
    /// A pooler in transaction mode (PgBouncer's `pool_mode = transaction`): a server
    /// connection is lent for one transaction at a time, so nothing may outlive one. Every
    /// statement then runs in a transaction, is prepared again each time (no named
    /// statement is reused), and LISTEN needs a direct connection of its own
    /// ([`ConnectOptions::listen_url`]), without which the runner polls.
    Transaction,
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
    /// PostgreSQL only: how the pooler in front of the server, if any, pools.
    pub pool_mode: PoolMode,
    /// PostgreSQL only: the URL of a direct connection to the same database for LISTEN
    /// (`None`: LISTEN on a connection of the database URL's, or, with
    /// [`PoolMode::Transaction`], no LISTEN at all: the runner polls).
    pub listen_url: Option<String>,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        ConnectOptions {
            pool_size: 8,
            sqlite_durability: SqliteDurability::Full,
            busy_timeout: Duration::from_secs(30),
            pool_mode: PoolMode::Session,
            listen_url: None,
        }
    }
}

/// How many days ahead of now [`Retention::prepare_history`] prepares (the runners'
/// cleaner calls it at start and then every hour).
pub const HISTORY_DAYS_AHEAD: u32 = 8;

/// What one pass of [`Retention::prune`] deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// History rows.
    pub executions: u64,
    /// Finished tasks.
    pub tasks: u64,
    /// Cron ticks.
    pub ticks: u64,
    /// Events taken.
    pub events: u64,
}

impl Pruned {
    /// Whether any kind filled the batch of `batch` rows (there may be more to delete).
    pub fn filled(&self, batch: u32) -> bool {
        let batch = u64::from(batch);
        [self.executions, self.tasks, self.ticks, self.events]
            .iter()
            .any(|&n| n >= batch)
    }
}

/// Something another process announced (see [`Driver::listen`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Announcement {
    /// A task of this job is due now.
    TaskDue(String),
    /// The schedule with this id was added, changed or removed.
    SchedulesChanged(String),
    /// The running task with this id was asked to stop.
    CancelRequested(i64),
    /// The awaited task with this id ended (see [`Running::await_end`]).
    TaskEnded(i64),
    /// The subscription was interrupted: announcements may have been missed, so look at
    /// everything once.
    Missed,
    /// The database changed, and what changed is not known (SQLite: a process committed,
    /// this one included): look at everything once.
    Changed,
}

/// The job database: a connected driver, whose operations (the driver's traits) are
/// called on it directly.
#[derive(Clone)]
pub struct Store {
    driver: Arc<dyn Driver>,
    /// The URL, without its password.
    url: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend())
            .field("url", &self.url)
            .finish()
    }
}

impl Deref for Store {
    type Target = dyn Driver;

    fn deref(&self) -> &(dyn Driver + 'static) {
        &*self.driver
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
        let driver: Arc<dyn Driver> = match Store::backend_of(url)? {
            Backend::Sqlite => Arc::new(sqlite::Sqlite::connect(url, options).await?),
            Backend::Postgres => Arc::new(postgres::Postgres::connect(url, options).await?),
        };
        let url = match driver.backend() {
            Backend::Sqlite => sqlite::url_of(url),
            Backend::Postgres => redact(url),
        };
        Ok(Store { driver, url })
    }

    /// The URL, without a password, for logs.
    pub fn display_url(&self) -> String {
        self.url.clone()
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
