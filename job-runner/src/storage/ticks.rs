//! Cron ticks: each tick becomes one task across all runners.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::tasks::{InsertTasks, NewTask};
use super::{Doing, Store, StoreError, announce, millis, with_pool};

/// What became of a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickOutcome {
    /// This runner took the tick and stored its task.
    Enqueued(i64),
    /// Another runner took it first.
    AlreadyTaken,
    /// The job is paused: the tick is skipped.
    Paused,
    /// An exclusive job's previous run is still pending or running: the tick is skipped.
    StillRunning,
}

impl Store {
    /// Takes the tick `tick_at` of `schedule_id` and stores `task` for it, all in one
    /// transaction; the tick's key (schedule, instant) is unique, so exactly one runner
    /// stores its task.
    pub async fn take_tick(
        &self,
        schedule_id: &str,
        tick_at: DateTime<Utc>,
        task: &NewTask,
        now: DateTime<Utc>,
    ) -> Result<TickOutcome, StoreError> {
        const DOING: &str = "taking a cron tick";
        let _turn = self.write_turn().await;
        with_pool!(self, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin()).await.doing(DOING)?;
            let paused: i64 = sqlx::query("SELECT COUNT(*) FROM jobs_paused WHERE job = $1")
                .bind(&task.job)
                .fetch_one(&mut *tx)
                .await
                .doing(DOING)?
                .try_get(0)
                .doing(DOING)?;
            if paused > 0 {
                return Ok(TickOutcome::Paused);
            }
            let taken = sqlx::query(
                "INSERT INTO jobs_ticks (schedule_id, tick_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(schedule_id)
            .bind(millis(tick_at))
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
            if taken.rows_affected() == 0 {
                return Ok(TickOutcome::AlreadyTaken);
            }
            if task.exclusive {
                let active: i64 = sqlx::query(
                    "SELECT COUNT(*) FROM jobs_tasks WHERE job = $1 AND state IN ('pending', 'running')",
                )
                .bind(&task.job)
                .fetch_one(&mut *tx)
                .await
                .doing(DOING)?
                .try_get(0)
                .doing(DOING)?;
                if active > 0 {
                    tx.commit().await.doing(DOING)?;
                    return Ok(TickOutcome::StillRunning);
                }
            }
            let id = InsertTasks::insert_one(&mut *tx, task, now).await?;
            sqlx::query(
                "UPDATE jobs_ticks SET task_id = $3 WHERE schedule_id = $1 AND tick_at = $2",
            )
            .bind(schedule_id)
            .bind(millis(tick_at))
            .bind(id)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
            if task.run_at <= now {
                announce!(tx, dialect, &task.job);
            }
            tx.commit().await.doing(DOING)?;
            Ok(TickOutcome::Enqueued(id))
        })
    }

    /// The latest tick taken of `schedule_id`, if any (and not yet pruned).
    pub async fn last_tick(&self, schedule_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        const DOING: &str = "reading the last tick";
        with_pool!(self, |pool, dialect| {
            let last: Option<i64> =
                sqlx::query("SELECT MAX(tick_at) FROM jobs_ticks WHERE schedule_id = $1")
                    .bind(schedule_id)
                    .fetch_one(pool)
                    .await
                    .doing(DOING)?
                    .try_get(0)
                    .doing(DOING)?;
            Ok(last.map(super::instant))
        })
    }

    /// Deletes history rows, finished tasks and ticks older than `before`, in batches of
    /// `batch`; returns how many history rows and tasks went. Dead tasks stay.
    pub async fn prune(&self, before: DateTime<Utc>, batch: u32) -> Result<(u64, u64), StoreError> {
        const DOING: &str = "pruning old history";
        with_pool!(self, |pool, dialect| {
            let executions = sqlx::query(
                "DELETE FROM jobs_executions WHERE id IN \
                 (SELECT id FROM jobs_executions WHERE finished_at < $1 LIMIT $2)",
            )
            .bind(millis(before))
            .bind(i64::from(batch))
            .execute(pool)
            .await
            .doing(DOING)?
            .rows_affected();
            let tasks = sqlx::query(
                "DELETE FROM jobs_tasks WHERE id IN (SELECT id FROM jobs_tasks \
                 WHERE state IN ('succeeded', 'cancelled') AND finished_at < $1 LIMIT $2)",
            )
            .bind(millis(before))
            .bind(i64::from(batch))
            .execute(pool)
            .await
            .doing(DOING)?
            .rows_affected();
            sqlx::query(
                "DELETE FROM jobs_ticks WHERE (schedule_id, tick_at) IN \
                 (SELECT schedule_id, tick_at FROM jobs_ticks WHERE tick_at < $1 LIMIT $2)",
            )
            .bind(millis(before))
            .bind(i64::from(batch))
            .execute(pool)
            .await
            .doing(DOING)?;
            Ok((executions, tasks))
        })
    }
}
