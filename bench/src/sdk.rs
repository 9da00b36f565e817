//! The SDK side: a runner of the no-op job, and enqueues through the typed API.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use job_core::JobClient;
use job_runner::config::JobOverride;
use job_runner::{Config, Jobs, Runner};

use crate::probe::{BenchKeyed, BenchNoop, BenchReporting, Keyed, Probe, Workload};

/// The runner's settings for a run.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// Tasks of the no-op job one runner runs at once.
    pub concurrency: u32,
    /// Pooled connections.
    pub pool: u32,
    /// The job it runs.
    pub workload: Workload,
    /// Attempts of the job at once across every runner (per key for the keyed job), as
    /// `jobs.toml` would set it; `None`: no limit.
    pub limit: Option<u32>,
}

impl Settings {
    /// A runner of the no-op job, without limits.
    pub fn noop(concurrency: u32, pool: u32) -> Settings {
        Settings {
            concurrency,
            pool,
            workload: Workload::Noop,
            limit: None,
        }
    }
}

/// The configuration of a bench runner: defaults, `url`, `settings`, no admin server.
pub fn config(url: &str, settings: Settings) -> anyhow::Result<Config> {
    let vars: HashMap<&str, String> = HashMap::from([
        ("JOBS_DATABASE_URL", url.to_owned()),
        ("JOBS_POOL_SIZE", settings.pool.to_string()),
        ("JOBS_ADMIN_ADDR", "off".to_owned()),
    ]);
    let env = move |name: &str| vars.get(name).cloned();
    let mut config = Config::load(None, &env)?;
    config.jobs.insert(
        settings.workload.job().to_owned(),
        JobOverride {
            concurrency: Some(settings.concurrency),
            limit: settings.limit,
            ..JobOverride::default()
        },
    );
    Ok(config)
}

/// A runner of the job of `settings` on `url`, recording into `probe`.
pub async fn runner(url: &str, settings: Settings, probe: Arc<Probe>) -> anyhow::Result<Runner> {
    Ok(Runner::builder(config(url, settings)?)
        .registry(crate::probe::registry(&[settings.workload])?)
        .data(probe)
        .build()
        .await?)
}

/// Runs a runner until `stop`.
pub async fn run(
    url: &str,
    settings: Settings,
    probe: Arc<Probe>,
    stop: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    runner(url, settings, probe).await?.run_until(stop).await?;
    Ok(())
}

/// Stores no-op tasks `from..to` through the typed bulk API, `batch` per call.
pub async fn enqueue_bulk(jobs: &Jobs, from: u32, to: u32, batch: u32) -> anyhow::Result<()> {
    enqueue_bulk_of(jobs, Workload::Noop, from, to, batch, |_| 0).await
}

/// Stores tasks `from..to` of `workload` through the typed bulk API, `batch` per call;
/// task `i` of the keyed job has key `key(i)`.
pub async fn enqueue_bulk_of(
    jobs: &Jobs,
    workload: Workload,
    from: u32,
    to: u32,
    batch: u32,
    key: impl Fn(u32) -> u32,
) -> anyhow::Result<()> {
    let mut next = from;
    while next < to {
        let end = (next + batch).min(to);
        let requests = (next..end)
            .map(|index| match workload {
                Workload::Noop => BenchNoop::enqueue(jobs, index).into_request(),
                Workload::Reporting => BenchReporting::enqueue(jobs, index).into_request(),
                Workload::Keyed => BenchKeyed::enqueue(
                    jobs,
                    Keyed {
                        index,
                        key: key(index),
                    },
                )
                .into_request(),
            })
            .collect::<Result<Vec<_>, _>>()?;
        jobs.enqueue_many(requests).await?;
        next = end;
    }
    Ok(())
}

/// Stores no-op tasks `from..to` one call each; returns the time taken.
pub async fn enqueue_single(jobs: &Jobs, from: u32, to: u32) -> anyhow::Result<Duration> {
    let start = Instant::now();
    for i in from..to {
        BenchNoop::enqueue(jobs, i).await?;
    }
    Ok(start.elapsed())
}

/// A client of `url` that runs nothing (its enqueues wake no local worker): it enqueues
/// tasks of every bench job.
pub async fn client(url: &str) -> anyhow::Result<(Runner, Jobs)> {
    let runner = Runner::builder(config(url, Settings::noop(1, 4))?)
        .registry(crate::probe::registry(&[
            Workload::Noop,
            Workload::Keyed,
            Workload::Reporting,
        ])?)
        .data(Arc::new(Probe::new(0, false)))
        .build()
        .await?;
    let jobs = runner.jobs().clone();
    Ok((runner, jobs))
}

/// Stores no-op tasks `from..to` inside the application's own transactions, through a
/// connection of `pool`: one transaction per task (`batch` 1, single enqueues) or per
/// `batch` tasks (bulk); returns the time taken.
pub async fn enqueue_within(
    jobs: &Jobs,
    pool: &AppPool,
    from: u32,
    to: u32,
    batch: u32,
) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let mut next = from;
    while next < to {
        let end = (next + batch).min(to);
        match pool {
            AppPool::Sqlite(pool) => {
                let mut tx = pool.begin().await?;
                store_within(&jobs.within(&mut tx), next, end).await?;
                tx.commit().await?;
            }
            AppPool::Postgres(pool) => {
                let mut tx = pool.begin().await?;
                store_within(&jobs.within(&mut tx), next, end).await?;
                tx.commit().await?;
            }
        }
        next = end;
    }
    Ok(start.elapsed())
}

/// Stores no-op tasks `from..to` through `client`: one call for one task, one bulk call for
/// more.
async fn store_within(client: &dyn JobClient, from: u32, to: u32) -> anyhow::Result<()> {
    if to - from == 1 {
        BenchNoop::enqueue(client, from).await?;
        return Ok(());
    }
    let requests = (from..to)
        .map(|index| BenchNoop::enqueue(client, index).into_request())
        .collect::<Result<Vec<_>, _>>()?;
    client.enqueue_many(requests).await?;
    Ok(())
}

/// The application's own pool on the bench database.
pub enum AppPool {
    /// On SQLite.
    Sqlite(sqlx::SqlitePool),
    /// On PostgreSQL.
    Postgres(sqlx::PgPool),
}

impl AppPool {
    /// A pool of a few connections on `url`.
    pub async fn open(url: &str) -> anyhow::Result<AppPool> {
        Ok(if url.starts_with("sqlite:") {
            AppPool::Sqlite(
                sqlx::sqlite::SqlitePoolOptions::new()
                    .max_connections(4)
                    .connect(url)
                    .await?,
            )
        } else {
            AppPool::Postgres(
                sqlx::postgres::PgPoolOptions::new()
                    .max_connections(4)
                    .connect(url)
                    .await?,
            )
        })
    }

    /// Closes it.
    pub async fn close(&self) {
        match self {
            AppPool::Sqlite(pool) => pool.close().await,
            AppPool::Postgres(pool) => pool.close().await,
        }
    }
}
