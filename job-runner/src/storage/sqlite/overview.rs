//! What the operations console's overview reads on SQLite, and the pause of queues.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Sqlite;
use crate::storage::overview::decode;
use crate::storage::rows::millis;
use crate::storage::{
    Doing, Holding, JobMinutes, MinuteBucket, MinuteWindow, Overview, PausedQueue, QueueCounts,
    StoreError,
};

/// The sums of the rollup's counters, named as [`counts`] reads them.
macro_rules! sums {
    () => {
        "SUM(succeeded) AS succeeded, SUM(failed) AS failed, SUM(dead) AS dead, \
         SUM(cancelled) AS cancelled, SUM(snoozed) AS snoozed, \
         SUM(duration_ms) AS duration_ms, SUM(started) AS started, \
         SUM(waited_ms) AS waited_ms, MAX(max_waited_ms) AS max_waited_ms"
    };
}

/// The rollup per bucket: `$1` the window's start, `$2` its end (unix milliseconds), `$3`
/// the bucket's width, `$4` a job or NULL, `$5` a queue or NULL. A range of the primary key
/// (`minute` first).
const MINUTES_SQL: &str = concat!(
    "SELECT $1 + (minute - $1) / $3 * $3 AS at, ",
    sums!(),
    " FROM jobs_minutes \
     WHERE minute >= $1 AND minute < $2 \
       AND ($4 IS NULL OR job = $4) AND ($5 IS NULL OR queue = $5) \
     GROUP BY 1 ORDER BY 1"
);

/// The rollup per job and queue: `$1` the window's start, `$2` its end, `$3` a job or
/// NULL, `$4` a queue or NULL. A range of the primary key.
const MINUTE_TOTALS_SQL: &str = concat!(
    "SELECT job, queue, ",
    sums!(),
    " FROM jobs_minutes \
     WHERE minute >= $1 AND minute < $2 \
       AND ($3 IS NULL OR job = $3) AND ($4 IS NULL OR queue = $4) \
     GROUP BY job, queue ORDER BY job, queue"
);

/// The unfinished tasks per queue at `$1` (unix milliseconds): through the by-state index,
/// which holds no succeeded task.
const QUEUE_COUNTS_SQL: &str = "SELECT queue, \
         SUM(state = 'pending') AS pending, \
         SUM(state = 'pending' AND run_at <= $1) AS due, \
         SUM(state = 'running') AS running, \
         MIN(CASE WHEN state = 'pending' AND run_at <= $1 THEN run_at END) AS oldest_due \
     FROM jobs_tasks WHERE state IN ('pending', 'running') GROUP BY queue ORDER BY queue";

/// The running tasks and their runners: through the index of running tasks.
const HOLDINGS_SQL: &str = "SELECT locked_by, id, job, attempt, locked_at FROM jobs_tasks \
     WHERE state = 'running' AND locked_by IS NOT NULL ORDER BY locked_by, id";

fn text_or_null(value: &Option<String>) -> Option<&str> {
    value.as_deref()
}

#[async_trait]
impl Overview for Sqlite {
    async fn minutes(&self, window: &MinuteWindow) -> Result<Vec<MinuteBucket>, StoreError> {
        const DOING: &str = "reading the attempts per minute";
        let rows = sqlx::query(MINUTES_SQL)
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
