//! Enqueueing inside the application's own transaction: the task exists if and only if the
//! transaction commits.

use job_core::{BoxFuture, EnqueueError, EnqueueRequest, Enqueued, JobClient};
use tokio::sync::Mutex;

use crate::client::{Jobs, enqueued, the_one};
use crate::storage::{Backend, NewTask, StoreError};

mod sealed {
    pub trait Sealed {}
    impl Sealed for sqlx::PgConnection {}
    impl Sealed for sqlx::SqliteConnection {}
    impl<DB: sqlx::Database> Sealed for sqlx::Transaction<'_, DB> where DB::Connection: Sealed {}
}

/// A connection of the application's own (sqlx's PostgreSQL or SQLite connection, or a
/// transaction on one) on which tasks can be stored: see [`Jobs::within`].
pub trait AppConnection: sealed::Sealed + Send {
    /// Which backend the connection is to.
    fn backend(&self) -> Backend;

    /// Stores `tasks` on the connection, inside its transaction if it is in one.
    #[doc(hidden)]
    fn store_tasks<'a>(
        &'a mut self,
        tasks: &'a [NewTask],
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'a, Result<Vec<(i64, bool)>, StoreError>>;
}

impl AppConnection for sqlx::PgConnection {
    fn backend(&self) -> Backend {
        Backend::Postgres
    }

    fn store_tasks<'a>(
        &'a mut self,
        tasks: &'a [NewTask],
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'a, Result<Vec<(i64, bool)>, StoreError>> {
        Box::pin(crate::storage::postgres::insert::insert_tasks_on(
            self, tasks, now,
        ))
    }
}

impl AppConnection for sqlx::SqliteConnection {
    fn backend(&self) -> Backend {
        Backend::Sqlite
    }

    fn store_tasks<'a>(
        &'a mut self,
        tasks: &'a [NewTask],
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'a, Result<Vec<(i64, bool)>, StoreError>> {
        Box::pin(crate::storage::sqlite::insert::insert_tasks_on(
            self, tasks, now,
        ))
    }
}

/// A transaction is its connection, in a transaction.
impl<DB: sqlx::Database> AppConnection for sqlx::Transaction<'_, DB>
where
    DB::Connection: AppConnection,
{
    fn backend(&self) -> Backend {
        (**self).backend()
    }

    fn store_tasks<'a>(
        &'a mut self,
        tasks: &'a [NewTask],
        now: chrono::DateTime<chrono::Utc>,
    ) -> BoxFuture<'a, Result<Vec<(i64, bool)>, StoreError>> {
        (**self).store_tasks(tasks, now)
    }
}

/// A client that stores tasks in the application's own transaction, checked against the
/// jobs as [`Jobs`] checks them; made by [`Jobs::within`].
///
/// A task stored through it exists only if the transaction commits: rolled back, it leaves
/// no task and wakes no runner. On PostgreSQL the runners are told in the same transaction,
/// so they wake when it commits.
pub struct Within<'t, C: AppConnection> {
    jobs: &'t Jobs,
    connection: Mutex<&'t mut C>,
}

impl Jobs {
    /// A client that enqueues on `connection`, inside the application's transaction:
    ///
    /// ```no_run
    /// # use job_core::prelude::*;
    /// # #[derive(serde::Serialize, serde::Deserialize)] struct Request { id: i64 }
    /// # #[job] async fn transfer_document(r: Request) -> JobResult { Ok(Outcome::none()) }
    /// # async fn demo(pool: sqlx::PgPool, jobs: job_runner::Jobs) -> Result<(), Box<dyn std::error::Error>> {
    /// let mut tx = pool.begin().await?;
    /// sqlx::query("INSERT INTO transfers (id) VALUES (42)").execute(&mut *tx).await?;
    /// let task = TransferDocument::enqueue(&jobs.within(&mut tx), Request { id: 42 }).await?;
    /// tx.commit().await?; // the transfer row and its task, or neither
    /// # Ok(()) }
    /// ```
    ///
    /// The connection must be to the runners' database (the tables are found by the
    /// connection's search path on PostgreSQL); one of the other backend is refused.
    pub fn within<'t, C: AppConnection>(&'t self, connection: &'t mut C) -> Within<'t, C> {
        Within {
            jobs: self,
            connection: Mutex::new(connection),
        }
    }
}

impl<C: AppConnection> Within<'_, C> {
    async fn store(&self, requests: Vec<EnqueueRequest>) -> Result<Vec<Enqueued>, EnqueueError> {
        self.jobs
            .traced_enqueue(requests, async |tasks, now| self.insert(tasks, now).await)
            .await
    }

    /// Stores `tasks` on the connection, inside its transaction.
    async fn insert(
        &self,
        tasks: Vec<NewTask>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<Vec<Enqueued>, EnqueueError> {
        let mut connection = self.connection.lock().await;
        let theirs = connection.backend();
        let ours = self.jobs.store().backend();
        if theirs != ours {
            return Err(EnqueueError::InvalidOptions(format!(
                "the runners' database is {ours}, and the connection given to `within` is to {theirs}: pass a connection to the runners' database"
            )));
        }
        let ids = connection
            .store_tasks(&tasks, now)
            .await
            .map_err(|e| EnqueueError::Storage(Box::new(e)))?;
        Ok(enqueued(ids))
    }
}

impl<C: AppConnection> JobClient for Within<'_, C> {
    fn enqueue(&self, request: EnqueueRequest) -> BoxFuture<'_, Result<Enqueued, EnqueueError>> {
        Box::pin(async move { the_one(self.store(vec![request]).await?) })
    }

    fn enqueue_many(
        &self,
        requests: Vec<EnqueueRequest>,
    ) -> BoxFuture<'_, Result<Vec<Enqueued>, EnqueueError>> {
        Box::pin(self.store(requests))
    }
}
