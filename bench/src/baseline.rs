//! The baseline: raw apalis 1.0 on its own SQLite and PostgreSQL storage, with no SDK
//! layer, at the same pool size, concurrency and durability as the SDK.
//!
//! Set up as apalis 1.0 works best: an explicit queue, a 100 ms poll interval plus
//! apalis's own wake-ups (the SQLite update hook, PostgreSQL LISTEN/NOTIFY), a fetch batch
//! as large as the SDK's claim batch (up to the concurrency, at most 256).

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use apalis::prelude::*;
use apalis_postgres::{PostgresStorage, Pubsub};
use apalis_sqlite::SqliteStorage;
use futures_util::stream;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqliteOperation, SqlitePool, SqlitePoolOptions,
    SqliteSynchronous,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::db::Backend;
use crate::probe::Probe;

/// The poll interval of the baseline's workers.
const POLL: Duration = Duration::from_millis(100);

/// The apalis storage of one run: the queue and the pool options.
#[derive(Debug, Clone)]
pub struct Target {
    /// The backend.
    pub backend: Backend,
    /// For SQLite, the file's URL; for PostgreSQL, the server's.
    pub url: String,
    /// The queue (unique per run on PostgreSQL, whose `apalis` schema is shared).
    pub queue: String,
    /// Pooled connections.
    pub pool: u32,
    /// Tasks run at once.
    pub concurrency: u32,
}

fn sqlite_options(url: &str) -> anyhow::Result<SqliteConnectOptions> {
    // The SDK's durability: WAL with synchronous=FULL on every connection.
    Ok(SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Full)
        .busy_timeout(Duration::from_secs(30)))
}

fn config_sqlite(target: &Target) -> apalis_sqlite::Config {
    apalis_sqlite::Config::default()
        .queue(&target.queue)
        .batch_size(target.concurrency.clamp(1, 256) as usize)
}

fn config_postgres(target: &Target) -> apalis_postgres::Config {
    apalis_postgres::Config::default()
        .queue(&target.queue)
        .batch_size(target.concurrency.clamp(1, 256) as usize)
}

/// Creates apalis's tables (SQLite: in the file; PostgreSQL: its `apalis` schema) and
/// empties them of earlier runs.
pub async fn setup(target: &Target) -> anyhow::Result<()> {
    match target.backend {
        Backend::Sqlite => {
            // apalis's setup sets `synchronous=OFF` on the connection it uses: a pool of its
            // own, closed at once, keeps the workers' connections at FULL.
            let pool = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(sqlite_options(&target.url)?)
                .await?;
            SqliteStorage::setup(&pool).await?;
            pool.close().await;
        }
        Backend::Postgres => {
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .connect(&target.url)
                .await?;
            PostgresStorage::setup(&pool).await?;
            sqlx::raw_sql("TRUNCATE apalis.jobs; DELETE FROM apalis.workers")
                .execute(&pool)
                .await?;
            pool.close().await;
        }
    }
    Ok(())
}

/// An SQLite pool whose connections announce inserted tasks (apalis's update-hook
/// wake-up), as `SqliteStorage::connect_with_callback` makes, with the SDK's durability.
fn hooked_sqlite(target: &Target) -> anyhow::Result<(SqlitePool, mpsc::UnboundedReceiver<()>)> {
    let (sender, receiver) = mpsc::unbounded_channel();
    let pool = SqlitePoolOptions::new()
        .max_connections(target.pool.max(1))
        .after_connect(move |conn, _| {
            let sender = sender.clone();
            Box::pin(async move {
                let mut handle = conn.lock_handle().await?;
                handle.set_update_hook(move |event| {
                    if event.operation == SqliteOperation::Insert && event.table == "Jobs" {
                        let _ = sender.send(());
                    }
                });
                Ok(())
            })
        })
        .connect_lazy_with(sqlite_options(&target.url)?);
    Ok((pool, receiver))
}

async fn handle(index: u32, probe: Data<Arc<Probe>>) -> Result<(), BoxDynError> {
    probe.hit(index);
    Ok(())
}

/// Runs an apalis worker of the no-op handler until `stop`.
pub async fn run(
    target: &Target,
    probe: Arc<Probe>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (worker, producer) = start(target, probe, stop).await?;
    worker.await??;
    producer.close().await;
    Ok(())
}

/// Starts an apalis worker of the no-op handler, running until `stop`, and a producer
/// on the same pool (so that, on SQLite, its inserts wake the worker through the update
/// hook, as apalis's in-process set-up does).
pub async fn start(
    target: &Target,
    probe: Arc<Probe>,
    stop: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<(JoinHandle<anyhow::Result<()>>, Producer)> {
    let name = format!("bench-{}", std::process::id());
    let signal = async move {
        stop.await;
        Ok::<(), WorkerError>(())
    };
    let concurrency = target.concurrency as usize;
    Ok(match target.backend {
        Backend::Sqlite => {
            let (pool, mut inserted) = hooked_sqlite(target)?;
            let wake = stream::poll_fn(move |cx| inserted.poll_recv(cx));
            let backend = SqliteStorage::<u32>::new(&pool)
                .with_config(config_sqlite(target))
                .poll_with_strategy(Strategy::new().stream(wake).interval(POLL));
            let worker = WorkerBuilder::new(name)
                .backend(backend)
                .concurrency(concurrency)
                .data(probe)
                .build(handle);
            let task = tokio::spawn(async move {
                worker.run_until(signal).await?;
                Ok(())
            });
            let storage = SqliteStorage::new(&pool).with_config(config_sqlite(target));
            (task, Producer::Sqlite(storage, pool))
        }
        Backend::Postgres => {
            let pool = PgPoolOptions::new()
                .max_connections(target.pool.max(1))
                .connect(&target.url)
                .await?;
            let backend = PostgresStorage::<u32>::new(&pool)
                .with_config(config_postgres(target))
                .poll_with_strategy(
                    Strategy::new()
                        .stream(Pubsub::new(pool.clone(), target.queue.clone()))
                        .interval(POLL),
                );
            let worker = WorkerBuilder::new(name)
                .backend(backend)
                .concurrency(concurrency)
                .data(probe)
                .build(handle);
            let task = tokio::spawn(async move {
                worker.run_until(signal).await?;
                Ok(())
            });
            let storage = PostgresStorage::new(&pool).with_config(config_postgres(target));
            (task, Producer::Postgres(storage, pool))
        }
    })
}

/// A producer: pushes tasks into the queue.
pub enum Producer {
    /// SQLite.
    Sqlite(SqliteStorage<u32>, SqlitePool),
    /// PostgreSQL.
    Postgres(PostgresStorage<u32>, sqlx::PgPool),
}

impl Producer {
    /// A producer of the target's queue, on a pool of its own.
    pub async fn open(target: &Target) -> anyhow::Result<Producer> {
        Ok(match target.backend {
            Backend::Sqlite => {
                let pool = SqlitePoolOptions::new()
                    .max_connections(target.pool.max(1))
                    .connect_with(sqlite_options(&target.url)?)
                    .await?;
                let storage = SqliteStorage::new(&pool).with_config(config_sqlite(target));
                Producer::Sqlite(storage, pool)
            }
            Backend::Postgres => {
                let pool = PgPoolOptions::new()
                    .max_connections(target.pool.max(1))
                    .connect(&target.url)
                    .await?;
                let storage = PostgresStorage::new(&pool).with_config(config_postgres(target));
                Producer::Postgres(storage, pool)
            }
        })
    }

    /// Pushes one task.
    pub async fn push(&mut self, index: u32) -> anyhow::Result<()> {
        match self {
            Producer::Sqlite(storage, _) => storage.push(index).await?,
            Producer::Postgres(storage, _) => storage.push(index).await?,
        }
        Ok(())
    }

    /// Pushes tasks `from..to` in bulk pushes of `batch`.
    pub async fn push_bulk(&mut self, from: u32, to: u32, batch: u32) -> anyhow::Result<()> {
        let mut next = from;
        while next < to {
            let end = (next + batch).min(to);
            let tasks: Vec<u32> = (next..end).collect();
            match self {
                Producer::Sqlite(storage, _) => storage.push_bulk(tasks).await?,
                Producer::Postgres(storage, _) => storage.push_bulk(tasks).await?,
            }
            next = end;
        }
        Ok(())
    }

    /// Pushes tasks `from..to` one push each; returns the time taken.
    pub async fn push_single(&mut self, from: u32, to: u32) -> anyhow::Result<Duration> {
        let start = Instant::now();
        for i in from..to {
            self.push(i).await?;
        }
        Ok(start.elapsed())
    }

    /// Closes the pool.
    pub async fn close(self) {
        match self {
            Producer::Sqlite(_, pool) => pool.close().await,
            Producer::Postgres(_, pool) => pool.close().await,
        }
    }
}

/// SQL that counts the queue's finished tasks and all its tasks.
pub fn done_query(target: &Target) -> String {
    let table = match target.backend {
        Backend::Sqlite => "Jobs",
        Backend::Postgres => "apalis.jobs",
    };
    format!(
        "SELECT CAST(SUM(CASE WHEN status = 'Done' THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(COUNT(*) AS BIGINT), CAST(COALESCE(MAX(attempts), 0) AS BIGINT) \
         FROM {table} WHERE job_type = '{}'",
        target.queue
    )
}
