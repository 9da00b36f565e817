//! Retention on SQLite: old history rows (and their per-minute rollup), finished tasks, ticks
//! and events go, in batches, each its own short write transaction taken in this process's
//! write turn: the claims and completions waiting for the turn go between two batches.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Sqlite;
use crate::storage::rows::millis;
use crate::storage::{Doing, Pruned, Retention, StoreError};

impl Sqlite {
    /// Runs one batch of deletion, `statement` with the cut-off and the batch size, in a
    /// write transaction of its own: how many rows went.
    async fn prune_batch(
        &self,
        statement: &'static str,
        before: DateTime<Utc>,
        batch: u32,
    ) -> Result<u64, StoreError> {
        const DOING: &str = "pruning old history";
        let _turn = self.write_turn().await;
        let mut tx = self.begin(DOING).await?;
        let deleted = sqlx::query(statement)
            .bind(millis(before))
            .bind(i64::from(batch))
            .execute(&mut *tx)
            .await
            .doing(DOING)?
            .rows_affected();
        tx.commit().await.doing(DOING)?;
        Ok(deleted)
    }
}

#[async_trait]
impl Retention for Sqlite {
    /// SQLite's history is one table: nothing to prepare.
    async fn prepare_history(&self, _now: DateTime<Utc>) -> Result<u32, StoreError> {
        Ok(0)
    }

    async fn prune(&self, before: DateTime<Utc>, batch: u32) -> Result<Pruned, StoreError> {
        let executions = self
            .prune_batch(
                "DELETE FROM jobs_executions WHERE id IN \
             (SELECT id FROM jobs_executions WHERE finished_at < $1 LIMIT $2)",
                before,
                batch,
            )
            .await?;
        let tasks = self
            .prune_batch(
                "DELETE FROM jobs_tasks WHERE id IN (SELECT id FROM jobs_tasks \
             WHERE state IN ('succeeded', 'cancelled') AND finished_at < $1 LIMIT $2)",
                before,
                batch,
            )
            .await?;
        // The latest tick of each schedule stays: `catch_up = "once"` reads it.
        let ticks = self
            .prune_batch(
                "DELETE FROM jobs_ticks WHERE (schedule_id, tick_at) IN \
             (SELECT schedule_id, tick_at FROM jobs_ticks t WHERE tick_at < $1 \
                 AND tick_at < (SELECT MAX(tick_at) FROM jobs_ticks l \
                                WHERE l.schedule_id = t.schedule_id) \
              LIMIT $2)",
                before,
                batch,
            )
            .await?;
        let events = self
            .prune_batch(
                "DELETE FROM jobs_events WHERE (source, event_id, job) IN \
             (SELECT source, event_id, job FROM jobs_events WHERE received_at < $1 LIMIT $2)",
                before,
                batch,
            )
            .await?;
        // The per-minute rollup of attempts as old as the history that goes.
        self.prune_batch(
            "DELETE FROM jobs_minutes WHERE (minute, job, queue) IN \
             (SELECT minute, job, queue FROM jobs_minutes WHERE minute < $1 LIMIT $2)",
            before,
            batch,
        )
        .await?;
        // Uniqueness keys that no task holds any more.
        self.prune_batch(
            "DELETE FROM jobs_unique WHERE (job, key) IN \
             (SELECT job, key FROM jobs_unique WHERE until < $1 LIMIT $2)",
            before,
            batch,
        )
        .await?;
        Ok(Pruned {
            executions,
            tasks,
            ticks,
            events,
        })
    }
}
