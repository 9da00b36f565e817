//! Retention on SQLite: old history rows, finished tasks and ticks go, in batches.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::Sqlite;
use crate::storage::rows::millis;
use crate::storage::{Doing, Retention, StoreError};

#[async_trait]
impl Retention for Sqlite {
    async fn prune(&self, before: DateTime<Utc>, batch: u32) -> Result<(u64, u64), StoreError> {
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
        sqlx::query(
            "DELETE FROM jobs_ticks WHERE (schedule_id, tick_at) IN \
             (SELECT schedule_id, tick_at FROM jobs_ticks WHERE tick_at < $1 LIMIT $2)",
        )
        .bind(millis(before))
        .bind(i64::from(batch))
        .execute(&self.pool)
        .await
        .doing(DOING)?;
        Ok((executions, tasks))
    }
}
