//! Retention on PostgreSQL: the history is partitioned by day of `finished_at` (migration
//! 8), so old history goes a whole partition at a time (detached and dropped: no dead rows,
//! no vacuum), and only the partition that straddles the cut-off, and the default one, lose
//! rows one by one, in batches. Finished tasks, ticks, events and the per-minute rollup go
//! in batches.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::Postgres;
use crate::storage::rows::millis;
use crate::storage::{Doing, HISTORY_DAYS_AHEAD, Pruned, Retention, StoreError};

impl Postgres {
    /// Drops the history partitions whose every row finished before `before`, and deletes
    /// at most `batch` of the older rows of the partitions that straddle it (and of the
    /// default one): how many rows went.
    async fn prune_history(&self, before: i64, batch: u32) -> Result<u64, StoreError> {
        const DOING: &str = "pruning old history";
        let partitions = sqlx::query(
            "SELECT partition::text, hi FROM jobs_executions_partitions \
             WHERE is_default OR lo IS NULL OR lo < $1 ORDER BY hi NULLS LAST",
        )
        .bind(before)
        .fetch_all(&self.pool)
        .await
        .doing(DOING)?;
        let mut pruned = 0;
        let mut left = u64::from(batch);
        for row in &partitions {
            // Quoted by PostgreSQL (`regclass::text`).
            let partition: String = row.try_get(0).doing(DOING)?;
            let hi: Option<i64> = row.try_get(1).doing(DOING)?;
            if hi.is_some_and(|hi| hi <= before) {
                let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT COUNT(*) FROM {partition}"
                )))
                .fetch_one(&self.pool)
                .await
                .doing(DOING)?;
                // Detaching locks the whole history for a moment: rather than queue the
                // runners' completions behind a long read, give up and try at the next pass.
                let mut tx = self.begin(DOING).await?;
                sqlx::query("SET LOCAL lock_timeout = '1s'")
                    .execute(&mut *tx)
                    .await
                    .doing(DOING)?;
                sqlx::query("SELECT jobs_executions_drop($1::regclass)")
                    .bind(&partition)
                    .execute(&mut *tx)
                    .await
                    .doing(DOING)?;
                tx.commit().await.doing(DOING)?;
                pruned += u64::try_from(rows).unwrap_or(0);
            } else if left > 0 {
                let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DELETE FROM {partition} WHERE id IN \
                     (SELECT id FROM {partition} WHERE finished_at < $1 LIMIT $2)"
                )))
                .bind(before)
                .bind(i64::try_from(left).unwrap_or(i64::MAX))
                .execute(&self.pool)
                .await
                .doing(DOING)?
                .rows_affected();
                left -= deleted.min(left);
                pruned += deleted;
            }
        }
        Ok(pruned)
    }
}

#[async_trait]
impl Retention for Postgres {
    async fn prepare_history(&self, now: DateTime<Utc>) -> Result<u32, StoreError> {
        let created: i32 = sqlx::query_scalar("SELECT jobs_executions_add_days($1, $2)")
            .bind(millis(now))
            .bind(i32::try_from(HISTORY_DAYS_AHEAD).unwrap_or(i32::MAX))
            .fetch_one(&self.pool)
            .await
            .doing("creating the history's partitions for the days ahead")?;
        Ok(u32::try_from(created).unwrap_or(0))
    }

    async fn prune(&self, before: DateTime<Utc>, batch: u32) -> Result<Pruned, StoreError> {
        const DOING: &str = "pruning old history";
        let executions = self.prune_history(millis(before), batch).await?;
        let tasks = sqlx::query(
            "DELETE FROM jobs_tasks WHERE id IN (SELECT id FROM jobs_tasks \
             WHERE state IN ('succeeded', 'cancelled') AND finished_at < $1 LIMIT $2)",
        )
        .bind(millis(before))
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await
        .doing(DOING)?
        .rows_affected();
        // The latest tick of each schedule stays: `catch_up = "once"` reads it.
        let ticks = sqlx::query(
            "DELETE FROM jobs_ticks WHERE (schedule_id, tick_at) IN \
             (SELECT schedule_id, tick_at FROM jobs_ticks t WHERE tick_at < $1 \
                 AND tick_at < (SELECT MAX(tick_at) FROM jobs_ticks l \
                                WHERE l.schedule_id = t.schedule_id) \
              LIMIT $2)",
        )
        .bind(millis(before))
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await
        .doing(DOING)?
        .rows_affected();
        let events = sqlx::query(
            "DELETE FROM jobs_events WHERE (source, event_id, job) IN \
             (SELECT source, event_id, job FROM jobs_events WHERE received_at < $1 LIMIT $2)",
        )
        .bind(millis(before))
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await
        .doing(DOING)?
        .rows_affected();
        // The per-minute rollup of attempts as old as the history that goes.
        sqlx::query(
            "DELETE FROM jobs_minutes WHERE (minute, job, queue) IN \
             (SELECT minute, job, queue FROM jobs_minutes WHERE minute < $1 LIMIT $2)",
        )
        .bind(millis(before))
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await
        .doing(DOING)?;
        // Uniqueness keys that no task holds any more.
        sqlx::query(
            "DELETE FROM jobs_unique WHERE (job, key) IN \
             (SELECT job, key FROM jobs_unique WHERE until < $1 LIMIT $2)",
        )
        .bind(millis(before))
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await
        .doing(DOING)?;
        Ok(Pruned {
            executions,
            tasks,
            ticks,
            events,
        })
    }
}
