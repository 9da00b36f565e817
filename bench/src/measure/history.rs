//! `bench history`: the drain beside a large history, against the same drain beside an
//! empty one, and one retention pass over that history.
//!
//! The history is `N` rows of finished attempts spread over the 30 days before today, filled
//! with one `INSERT ... SELECT` (on PostgreSQL the days have their partitions, as the
//! cleaner makes them day after day, so the rows land in 30 of them). The drains alternate
//! between the two databases, `runs` times each; the retention pass then prunes
//! everything older than 7 days, the cleaner's loop of batches, and is timed.

use std::time::Instant;

use chrono::{TimeDelta, Utc};

use crate::child::System;
use crate::db::{Backend, Db, Place};
use crate::report::median;
use crate::scenarios::{BULK_BATCH, Bench, Drain, Flow};
use crate::sdk;

/// Days of history before today.
const DAYS: i64 = 30;
/// The retention period of the timed pass, in days.
const KEEP_DAYS: i64 = 7;
/// Rows per statement of the pass, as the runner's cleaner does.
const PRUNE_BATCH: u32 = 5000;

/// What `bench history` measured.
pub struct HistoryFigures {
    /// Seconds to fill the history (on PostgreSQL, with its `VACUUM ANALYZE`).
    pub fill_seconds: f64,
    /// Each drain's rate beside an empty history, tasks per second.
    pub empty: Vec<f64>,
    /// Each drain's rate beside the full history.
    pub full: Vec<f64>,
    /// History rows the retention pass removed.
    pub pruned: u64,
    /// Seconds the pass took.
    pub prune_seconds: f64,
    /// Seconds its first call took (on PostgreSQL, the one that drops the old days).
    pub first_call_seconds: f64,
    /// Statements (`prune` calls) the pass took.
    pub prune_calls: u32,
}

impl HistoryFigures {
    /// The median rate beside the full history over the one beside an empty one.
    pub fn ratio(&self) -> f64 {
        median(&self.full) / median(&self.empty).max(f64::MIN_POSITIVE)
    }
}

/// Measures the drain of `jobs` tasks at `concurrency` beside `history` rows and beside
/// none, `runs` times each, then one retention pass.
pub async fn history(
    bench: &Bench,
    backend: Backend,
    history: u64,
    jobs: u32,
    concurrency: u32,
    runs: u32,
) -> anyhow::Result<HistoryFigures> {
    let empty = Db::fresh(backend, &bench.place).await?;
    let full = Db::fresh(backend, &bench.place).await?;
    let result = measure(
        bench,
        backend,
        &empty,
        &full,
        history,
        jobs,
        concurrency,
        runs,
    )
    .await;
    empty.remove().await;
    full.remove().await;
    result
}

#[allow(clippy::too_many_arguments)]
async fn measure(
    bench: &Bench,
    backend: Backend,
    empty: &Db,
    full: &Db,
    history: u64,
    jobs: u32,
    concurrency: u32,
    runs: u32,
) -> anyhow::Result<HistoryFigures> {
    for db in [empty, full] {
        prepare_days(db).await?;
    }
    let start = Instant::now();
    fill(full, backend, history).await?;
    let fill_seconds = start.elapsed().as_secs_f64();
    eprintln!("history: {history} rows filled in {fill_seconds:.1} s");
    let drain = Drain {
        system: System::Sdk,
        backend,
        concurrency,
        jobs,
        processes: 1,
        flow: Flow::default(),
    };
    let mut figures = HistoryFigures {
        fill_seconds,
        empty: Vec::new(),
        full: Vec::new(),
        pruned: 0,
        prune_seconds: 0.0,
        first_call_seconds: 0.0,
        prune_calls: 0,
    };
    for run in 0..runs {
        for (name, db) in [("empty", empty), ("full", full)] {
            let rate = drain_once(bench, db, &drain).await?;
            eprintln!(
                "history: run {} beside the {name} history: {rate:.0} tasks/s",
                run + 1
            );
            if name == "empty" {
                figures.empty.push(rate);
            } else {
                figures.full.push(rate);
            }
        }
    }
    let (client, _) = sdk::client(&full.url).await?;
    let store = client.store();
    let before = Utc::now() - TimeDelta::days(KEEP_DAYS);
    let start = Instant::now();
    loop {
        let pruned = store.prune(before, PRUNE_BATCH).await?;
        figures.pruned += pruned.executions;
        figures.prune_calls += 1;
        if figures.prune_calls == 1 {
            figures.first_call_seconds = start.elapsed().as_secs_f64();
        }
        if !pruned.filled(PRUNE_BATCH) {
            break;
        }
    }
    figures.prune_seconds = start.elapsed().as_secs_f64();
    store.close().await;
    Ok(figures)
}

/// The schema; on PostgreSQL, the partitions of the days of the history, as a database whose runners'
/// cleaner made them day after day holds them: the partition of the history from before
/// partitioning, empty on a fresh database, goes (a prune with the cut-off at its end), and
/// the days are made. Nothing on SQLite.
async fn prepare_days(db: &Db) -> anyhow::Result<()> {
    // The client migrates the database.
    let (client, _) = sdk::client(&db.url).await?;
    let store = client.store();
    if db.backend != Backend::Postgres {
        store.close().await;
        return Ok(());
    }
    let now = Utc::now();
    let tomorrow = now.date_naive().succ_opt().unwrap_or(now.date_naive());
    let end_of_today = tomorrow
        .and_hms_opt(0, 0, 0)
        .map(|t| t.and_utc())
        .unwrap_or(now);
    store.prune(end_of_today, 1).await?;
    let mut day = -DAYS;
    while day <= 0 {
        store.prepare_history(now + TimeDelta::days(day)).await?;
        day += 8;
    }
    store.close().await;
    Ok(())
}

/// `rows` history rows of tasks that no longer exist (negative task ids, below every drained
/// task's), finished evenly over the [`DAYS`] days before today.
async fn fill(db: &Db, backend: Backend, rows: u64) -> anyhow::Result<()> {
    let today = Utc::now().timestamp_millis() / 86_400_000 * 86_400_000;
    let first = today - DAYS * 86_400_000;
    let step = (DAYS * 86_400_000) / i64::try_from(rows.max(1))?;
    let series = match backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {rows}) \
             SELECT n FROM g"
        ),
        Backend::Postgres => format!("SELECT n FROM generate_series(1, {rows}) AS g(n)"),
    };
    let mut conn = db.connect().await?;
    conn.execute(&format!(
        "INSERT INTO jobs_executions (task_id, job, attempt, trigger, scheduled_at, started_at, \
             finished_at, duration_ms, status, error, records_processed, runner_id) \
         SELECT -n, 'bench_noop', 1, 'enqueue', t - 2, t - 1, t, 1, 'succeeded', NULL, NULL, \
             'bench-fill' \
         FROM (SELECT n, {first} + CAST(n AS BIGINT) * {step} AS t FROM ({series}) AS g) AS s"
    ))
    .await?;
    if backend == Backend::Postgres {
        // What autovacuum does on a database that has been running.
        conn.execute("VACUUM ANALYZE jobs_executions").await?;
    }
    conn.close().await;
    Ok(())
}

/// Enqueues `drain.jobs` no-op tasks and drains them: the rate.
async fn drain_once(bench: &Bench, db: &Db, drain: &Drain) -> anyhow::Result<f64> {
    let mut conn = db.connect().await?;
    let floor = conn
        .row("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM jobs_tasks")
        .await?[0];
    conn.close().await;
    let (client, jobs) = sdk::client(&db.url).await?;
    let start = Instant::now();
    sdk::enqueue_bulk(&jobs, 0, drain.jobs, BULK_BATCH).await?;
    let enqueue_rate = f64::from(drain.jobs) / start.elapsed().as_secs_f64();
    client.store().close().await;
    Ok(bench
        .run_sdk_drain(db, drain, floor, enqueue_rate)
        .await?
        .rate)
}

/// Where a history run's databases go.
pub fn place(postgres: &str) -> anyhow::Result<(Place, std::path::PathBuf)> {
    let work = std::env::temp_dir().join(format!("bench-history-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    Ok((
        Place {
            work: work.clone(),
            postgres: postgres.to_owned(),
        },
        work,
    ))
}
