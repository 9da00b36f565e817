//! Claiming due tasks on SQLite: one atomic `UPDATE .. RETURNING` per batch (SQLite has
//! one writer at a time, so two claims never see the same row as pending).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::Sqlite;
use crate::storage::rows::{self, CLAIMED_COLUMNS, instant, millis};
use crate::storage::{ClaimedTask, Claims, Doing, StoreError};

#[async_trait]
impl Claims for Sqlite {
    async fn claim(
        &self,
        job: &str,
        runner: &str,
        now: DateTime<Utc>,
        limit: u32,
        exclusive: bool,
    ) -> Result<Vec<ClaimedTask>, StoreError> {
        const DOING: &str = "claiming tasks";
        let limit = if exclusive { 1 } else { limit.max(1) };
        let _turn = self.write_turn().await;
        // The claim index gives the tasks in claiming order: the scan stops after `limit`
        // tasks, however many are pending (without `INDEXED BY`, SQLite picks the index of
        // due tasks and sorts every due task at each claim).
        // A paused queue's tasks wait (as do `claim_within`'s): asked once per claim, not per
        // task, while no queue is paused, and then of a set read once; never a join, which
        // could turn the ordered walk of the claim index into a sort of every due task.
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs_tasks SET state = 'running', attempt = attempt + 1, \
                 locked_by = $1, locked_at = $2 \
             WHERE id IN (\
                 SELECT id FROM jobs_tasks INDEXED BY jobs_tasks_claim \
                 WHERE state = 'pending' AND job = $3 AND run_at <= $2 \
                   AND NOT EXISTS (SELECT 1 FROM jobs_paused WHERE job = $3) \
                   AND (NOT EXISTS (SELECT 1 FROM jobs_queues_paused) \
                        OR jobs_tasks.queue NOT IN (SELECT queue FROM jobs_queues_paused)) \
                   AND ($5 = 0 OR NOT EXISTS (\
                       SELECT 1 FROM jobs_tasks WHERE job = $3 AND state = 'running')) \
                 ORDER BY priority DESC, run_at, id LIMIT $4) \
             RETURNING {CLAIMED_COLUMNS}"
        )))
        .bind(runner)
        .bind(millis(now))
        .bind(job)
        .bind(i64::from(limit))
        .bind(i64::from(exclusive))
        .fetch_all(&self.pool)
        .await;
        let rows = match rows {
            Ok(rows) => rows,
            // Two runners claimed an exclusive job's tasks at once: the unique index let one
            // through; for the other there is nothing to run now.
            Err(sqlx::Error::Database(e)) if exclusive && e.is_unique_violation() => Vec::new(),
            Err(e) => return Err(e).doing(DOING),
        };
        let claimed = rows.iter().map(rows::claimed).collect::<Result<_, _>>()?;
        Ok(rows::in_claiming_order(claimed))
    }

    async fn next_due(&self, job: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        const DOING: &str = "looking for the next due task";
        let next: Option<i64> =
            sqlx::query("SELECT MIN(run_at) FROM jobs_tasks WHERE state = 'pending' AND job = $1")
                .bind(job)
                .fetch_one(&self.pool)
                .await
                .doing(DOING)?
                .try_get(0)
                .doing(DOING)?;
        Ok(next.map(instant))
    }

    async fn next_due_any(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        const DOING: &str = "looking for the next due task";
        let next: Option<i64> =
            sqlx::query("SELECT MIN(run_at) FROM jobs_tasks WHERE state = 'pending'")
                .fetch_one(&self.pool)
                .await
                .doing(DOING)?
                .try_get(0)
                .doing(DOING)?;
        Ok(next.map(instant))
    }
}
