//! The PostgreSQL driver: a server shared by many runners on many machines, one file per
//! duty.
//!
//! Batches are bound as one array per column and read with `UNNEST`, in one statement per
//! batch. Leases (heartbeats, the times claims were made, their expiry) are judged on the
//! server's clock, so that runners on hosts whose clocks disagree never take over each
//! other's live claims. Tasks due now and schedule changes are announced with `NOTIFY` inside the
//! transaction that stores them, so listening runners wake when it commits.

use std::str::FromStr;

use async_trait::async_trait;
use sqlx::PgConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{Backend, ConnectOptions, Doing, Driver, Listener, StoreError, redact};

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
pub(crate) mod read;
mod retention;
mod runners;
mod running;
mod schedules;
mod ticks;

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

/// A PostgreSQL database.
pub(crate) struct Postgres {
    pool: PgPool,
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
        let pool = PgPoolOptions::new()
            .max_connections(options.pool_size.max(1))
            .acquire_timeout(options.busy_timeout)
            .connect_with(connect_options)
            .await
            .map_err(connect)?;
        Ok(Postgres { pool })
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
    }

    async fn listen(&self) -> Result<Option<Box<dyn Listener>>, StoreError> {
        Ok(Some(Box::new(
            listen::Announcements::subscribe(&self.pool).await?,
        )))
    }
}
