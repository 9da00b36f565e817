//! Retention on SQLite: old history rows (and their per-minute rollup), finished tasks, ticks
//! and events go, in batches.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Sqlite;
use crate::storage::rows::millis;
use crate::storage::{Doing, Pruned, Retention, StoreError};

#[async_trait]
impl Retention for Sqlite {
    async fn prune(&self, before: DateTime<Utc>, batch: u32) -> Result<Pruned, StoreError> {
        const DOING: &str = "pruning old history";
        let executions = sqlx::query(
            "DELETE FROM jobs_executions WHERE id IN \
             (SELECT id FROM jobs_executions WHERE finished_at < $1 LIMIT $2)",
        )
        .bind(millis(before))
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await
        .doing(DOING)?
        .rows_affected();
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
