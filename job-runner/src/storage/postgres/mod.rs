//! The PostgreSQL driver: a server shared by many runners on many machines, one file per
//! duty.
//!
//! Batches are bound as one array per column and read with `UNNEST`, in one statement per
//! batch. Leases (heartbeats, the times claims were made, their expiry) are judged on the
//! server's clock, so that runners on hosts whose clocks disagree never take over each
//! other's live claims. Tasks due now and schedule changes are announced with `NOTIFY` inside the
//! transaction that stores them, so listening runners wake when it commits. The connections
//! may go through a pooler in transaction mode (PgBouncer): see `pool.rs`.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{Backend, ConnectOptions, Doing, Driver, Listener, PoolMode, StoreError, redact};

mod bulk;
mod claim;
mod complete;
mod control;
mod events;
mod flow;
pub(crate) mod insert;
mod listen;
mod migrate;
pub(crate) mod overview;
mod pool;
pub(crate) mod read;
mod retention;
mod runners;
mod running;
mod schedules;
mod ticks;
mod upkeep;

/// The channel on which tasks that are due are announced (payload: the job's name).
const TASKS_CHANNEL: &str = "jobs_tasks";

/// The channel on which schedule changes are announced (payload: the schedule's id).
const SCHEDULES_CHANNEL: &str = "jobs_schedules";

/// The channel on which the id of a running task asked to stop is announced.
const CANCELS_CHANNEL: &str = "jobs_cancels";

/// The channel on which the id of a task that ended is announced, for the tasks a caller
/// waits for (`awaited`).
const ENDS_CHANNEL: &str = "jobs_ended";

/// The database server's clock, in unix milliseconds: leases are judged on it, never on
/// the clocks of the runners' hosts, which may disagree.
const SERVER_NOW: &str = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint";

/// The condition that a task of a batch updated by id is still running, held by `runner`
/// (and, given `attempt`, in that attempt). Written as one `CASE`, which the planner cannot
/// split: so it looks each task up by its primary key and checks the rest there, whatever
/// its statistics say. As plain conditions, they let it choose the partial index of
/// running tasks, whose bitmap scan reads every entry since the last vacuum, the dead ones
/// of ended tasks too (measured: a completion batch at 112 ms, 10,000 pages read, in a
/// drain of 1,000,000 tasks; by id, a few hundred pages); or, where the statistics say that
/// no task is running yet, a nested loop that reads the whole batch once per running task
/// (240 ms for a batch of 400).
fn held_by(runner: &str, attempt: Option<&str>) -> String {
    let attempt = attempt
        .map(|attempt| format!(" AND jobs_tasks.attempt = {attempt}"))
        .unwrap_or_default();
    format!(
        "CASE WHEN jobs_tasks.state = 'running' AND jobs_tasks.locked_by = {runner}{attempt} \
         THEN true ELSE false END"
    )
}

/// A PostgreSQL database.
pub(crate) struct Postgres {
    pool: pool::Pool,
    /// The connections that LISTEN: the pool's own, a direct connection's of their own
    /// (`listen_url`), or none (a pooler in transaction mode and no `listen_url`).
    listen: Option<PgPool>,
}

impl Postgres {
    /// Connects to the server at `url`.
    pub(super) async fn connect(
        url: &str,
        options: &ConnectOptions,
    ) -> Result<Postgres, StoreError> {
        let connect = |source| StoreError::Connect {
            url: redact(url),
            source,
        };
        let connect_options = PgConnectOptions::from_str(url).map_err(connect)?;
        let inner = PgPoolOptions::new()
            .max_connections(options.pool_size.max(1))
            .acquire_timeout(options.busy_timeout)
            .connect_with(pool::options(connect_options.clone(), options.pool_mode))
            .await
            .map_err(|source| {
                // PgBouncer's "unsupported startup parameter: options": say what to do.
                let refused = source.to_string().contains("startup parameter");
                if refused && connect_options.get_options().is_some() {
                    StoreError::PoolerOptions {
                        url: redact(url),
                        problem: source.to_string(),
                    }
                } else {
                    connect(source)
                }
            })?;
        let pool = pool::Pool::new(inner.clone(), options.pool_mode);
        pool::check_options(&pool, &connect_options, &redact(url)).await?;
        let listen = match (&options.listen_url, options.pool_mode) {
            (Some(listen_url), _) => {
                let listen_options = PgConnectOptions::from_str(listen_url).map_err(|source| {
                    StoreError::Connect {
                        url: redact(listen_url),
                        source,
                    }
                })?;
                // One connection for the runner's announcements, one for the ends of the
                // tasks its callers await; opened when first listened on, and kept.
                Some(
                    PgPoolOptions::new()
                        .max_connections(2)
                        .acquire_timeout(options.busy_timeout)
                        .max_lifetime(None)
                        .idle_timeout(None)
                        .connect_lazy_with(listen_options),
                )
            }
            (None, PoolMode::Session) => Some(inner),
            (None, PoolMode::Transaction) => None,
        };
        Ok(Postgres { pool, listen })
    }

    /// Opens a transaction.
    async fn begin(
        &self,
        doing: &'static str,
    ) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, StoreError> {
        self.pool.begin().await.doing(doing)
    }
}

/// Announces, inside a transaction, that `job` has a task due now: every listening runner
/// wakes that job's workers when the transaction commits.
async fn announce_task(connection: &mut PgConnection, job: &str) -> Result<(), StoreError> {
    notify(connection, TASKS_CHANNEL, job, "announcing a due task").await
}

/// Announces, inside a transaction, that schedule `id` changed.
async fn announce_schedule(connection: &mut PgConnection, id: &str) -> Result<(), StoreError> {
    notify(
        connection,
        SCHEDULES_CHANNEL,
        id,
        "announcing a schedule change",
    )
    .await
}

async fn notify(
    connection: &mut PgConnection,
    channel: &str,
    payload: &str,
    doing: &'static str,
) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(channel)
        .bind(payload)
        .execute(connection)
        .await
        .doing(doing)?;
    Ok(())
}

#[async_trait]
impl Driver for Postgres {
    fn backend(&self) -> Backend {
        Backend::Postgres
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
        if let Some(listen) = &self.listen {
            listen.close().await;
        }
    }

    async fn listen(&self) -> Result<Option<Box<dyn Listener>>, StoreError> {
        let Some(listen) = &self.listen else {
            tracing::info!(
                "no LISTEN through a pooler in transaction mode, and no listen_url: polling for tasks stored by other processes"
            );
            return Ok(None);
        };
        Ok(Some(Box::new(
            listen::Announcements::subscribe(listen).await?,
        )))
    }
}
