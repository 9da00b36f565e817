//! What the operations console's overview reads on PostgreSQL, and the pause of queues.
//!
//! The statements the overview and the queue listing run are public constants, so that a
//! test reads their plans (`EXPLAIN`) on a filled table: each reaches its rows through an
//! index, never by a scan of the tasks or of the rollup.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Postgres;
use crate::storage::overview::decode;
use crate::storage::rows::millis;
use crate::storage::{
    Doing, Holding, JobMinutes, MinuteBucket, MinuteWindow, Overview, PausedQueue, QueueCounts,
    StoreError,
};

/// The sums of the rollup's counters, named as [`counts`] reads them.
macro_rules! sums {
    () => {
        "SUM(succeeded)::bigint AS succeeded, SUM(failed)::bigint AS failed, \
         SUM(dead)::bigint AS dead, SUM(cancelled)::bigint AS cancelled, \
         SUM(snoozed)::bigint AS snoozed, SUM(duration_ms)::bigint AS duration_ms, \
         SUM(started)::bigint AS started, SUM(waited_ms)::bigint AS waited_ms, \
         MAX(max_waited_ms)::bigint AS max_waited_ms"
    };
}

/// The rollup per bucket: `$1` the window's start, `$2` its end (unix milliseconds), `$3`
/// the bucket's width, `$4` a job or NULL, `$5` a queue or NULL. A range of the primary key
/// (`minute` first).
pub const MINUTES_SQL: &str = concat!(
    "SELECT $1::bigint + (minute - $1::bigint) / $3::bigint * $3::bigint AS at, ",
    sums!(),
    " FROM jobs_minutes \
     WHERE minute >= $1::bigint AND minute < $2::bigint \
       AND ($4::text IS NULL OR job = $4::text) AND ($5::text IS NULL OR queue = $5::text) \
     GROUP BY 1 ORDER BY 1"
);

/// The rollup per job and queue: `$1` the window's start, `$2` its end, `$3` a job or
/// NULL, `$4` a queue or NULL. A range of the primary key.
pub const MINUTE_TOTALS_SQL: &str = concat!(
    "SELECT job, queue, ",
    sums!(),
    " FROM jobs_minutes \
     WHERE minute >= $1::bigint AND minute < $2::bigint \
       AND ($3::text IS NULL OR job = $3::text) AND ($4::text IS NULL OR queue = $4::text) \
     GROUP BY job, queue ORDER BY job, queue"
);

/// The unfinished tasks per queue at `$1` (unix milliseconds): through the by-state index,
/// which holds no succeeded task.
pub const QUEUE_COUNTS_SQL: &str = "SELECT queue, \
         COUNT(*) FILTER (WHERE state = 'pending') AS pending, \
         COUNT(*) FILTER (WHERE state = 'pending' AND run_at <= $1::bigint) AS due, \
         COUNT(*) FILTER (WHERE state = 'running') AS running, \
         MIN(run_at) FILTER (WHERE state = 'pending' AND run_at <= $1::bigint) AS oldest_due \
     FROM jobs_tasks WHERE state IN ('pending', 'running') GROUP BY queue ORDER BY queue";

/// The running tasks and their runners: through the index of running tasks.
pub const HOLDINGS_SQL: &str = "SELECT locked_by, id, job, attempt, locked_at FROM jobs_tasks \
     WHERE state = 'running' AND locked_by IS NOT NULL ORDER BY locked_by, id";

/// Every statement above with example parameters (a day's window, a job, a queue), for the
/// test of their plans: `(statement, parameters)`, where a parameter that reads as a number
/// is bound as a `bigint`, another as text, and `None` as NULL.
pub const OVERVIEW_QUERIES: &[(&str, &[Option<&str>])] = &[
    (
        MINUTES_SQL,
        &[Some("0"), Some("86400000"), Some("300000"), None, None],
    ),
    (
        MINUTES_SQL,
        &[Some("0"), Some("86400000"), Some("300000"), Some("a"), None],
    ),
    (
        MINUTE_TOTALS_SQL,
        &[Some("0"), Some("86400000"), None, None],
    ),
    (
        MINUTE_TOTALS_SQL,
        &[Some("0"), Some("86400000"), None, Some("default")],
    ),
    (QUEUE_COUNTS_SQL, &[Some("0")]),
    (HOLDINGS_SQL, &[]),
];

fn text_or_null(value: &Option<String>) -> Option<&str> {
    value.as_deref()
}

#[async_trait]
impl Overview for Postgres {
    async fn minutes(&self, window: &MinuteWindow) -> Result<Vec<MinuteBucket>, StoreError> {
        const DOING: &str = "reading the attempts per minute";
        let rows = sqlx::query(MINUTES_SQL)
            // Planned with the window in hand: a plan made once for any job (or none) may
            // not be the range of the key.
            .persistent(false)
            .bind(millis(window.since))
            .bind(millis(window.until))
            .bind(window.bucket_ms.max(60_000))
            .bind(text_or_null(&window.job))
            .bind(text_or_null(&window.queue))
            .fetch_all(&self.pool)
            .await
            .doing(DOING)?;
        rows.iter().map(|row| decode::bucket(row, DOING)).collect()
    }

    async fn minute_totals(&self, window: &MinuteWindow) -> Result<Vec<JobMinutes>, StoreError> {
        const DOING: &str = "reading the attempts per job";
        let rows = sqlx::query(MINUTE_TOTALS_SQL)
            .persistent(false)
            .bind(millis(window.since))
            .bind(millis(window.until))
            .bind(text_or_null(&window.job))
            .bind(text_or_null(&window.queue))
            .fetch_all(&self.pool)
            .await
            .doing(DOING)?;
        rows.iter()
            .map(|row| decode::job_minutes(row, DOING))
            .collect()
    }

    async fn queue_counts(&self, now: DateTime<Utc>) -> Result<Vec<QueueCounts>, StoreError> {
        const DOING: &str = "counting the tasks of each queue";
        let rows = sqlx::query(QUEUE_COUNTS_SQL)
            .bind(millis(now))
            .fetch_all(&self.pool)
            .await
            .doing(DOING)?;
        rows.iter()
            .map(|row| decode::queue_counts(row, DOING))
            .collect()
    }

    async fn pause_queue(&self, queue: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        const DOING: &str = "pausing a queue";
        let done = sqlx::query(
            "INSERT INTO jobs_queues_paused (queue, paused_at) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(queue)
        .bind(millis(now))
        .execute(&self.pool)
        .await
        .doing(DOING)?;
        Ok(done.rows_affected() > 0)
    }

    async fn resume_queue(&self, queue: &str) -> Result<bool, StoreError> {
        const DOING: &str = "resuming a queue";
        let done = sqlx::query("DELETE FROM jobs_queues_paused WHERE queue = $1")
            .bind(queue)
            .execute(&self.pool)
            .await
            .doing(DOING)?;
        Ok(done.rows_affected() > 0)
    }

    async fn paused_queues(&self) -> Result<Vec<PausedQueue>, StoreError> {
        const DOING: &str = "listing paused queues";
        let rows = sqlx::query("SELECT queue, paused_at FROM jobs_queues_paused ORDER BY queue")
            .fetch_all(&self.pool)
            .await
            .doing(DOING)?;
        rows.iter()
            .map(|row| decode::paused_queue(row, DOING))
            .collect()
    }

    async fn holdings(&self) -> Result<Vec<Holding>, StoreError> {
        const DOING: &str = "listing what the runners hold";
        let rows = sqlx::query(HOLDINGS_SQL)
            .fetch_all(&self.pool)
            .await
            .doing(DOING)?;
        rows.iter().map(|row| decode::holding(row, DOING)).collect()
    }
}
