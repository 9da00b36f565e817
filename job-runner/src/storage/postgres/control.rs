//! The controls on PostgreSQL: cancel, retry, pause and resume.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

use super::complete::{release_keys, write_history};
use super::{CANCELS_CHANNEL, Postgres, announce_task, notify};
use crate::storage::rows::{self, TASK_COLUMNS, millis};
use crate::storage::{Controls, Doing, NewExecution, StoreError, Transition};

#[async_trait]
impl Controls for Postgres {
    async fn cancel(
        &self,
        id: i64,
        runner: &str,
        now: DateTime<Utc>,
    ) -> Result<Transition, StoreError> {
        const DOING: &str = "cancelling a task";
        let mut tx = self.begin(DOING).await?;
        // One conditional statement: a task claimed meanwhile is not pending any more, and
        // is left alone.
        let updated = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs_tasks SET state = 'cancelled', finished_at = $2 \
             WHERE id = $1 AND state = 'pending' RETURNING {TASK_COLUMNS}"
        )))
        .bind(id)
        .bind(millis(now))
        .fetch_optional(&mut *tx)
        .await
        .doing(DOING)?;
        let Some(updated) = updated.as_ref().map(rows::task).transpose()? else {
            // A running task is asked to stop; its runner ends it.
            let requested = sqlx::query(sqlx::AssertSqlSafe(format!(
                "UPDATE jobs_tasks SET cancel_requested_at = COALESCE(cancel_requested_at, $2) \
                 WHERE id = $1 AND state = 'running' RETURNING {TASK_COLUMNS}"
            )))
            .bind(id)
            .bind(millis(now))
            .fetch_optional(&mut *tx)
            .await
            .doing(DOING)?;
            let Some(requested) = requested.as_ref().map(rows::task).transpose()? else {
                return found(&mut tx, id).await;
            };
            notify(&mut tx, CANCELS_CHANNEL, &id.to_string(), DOING).await?;
            tx.commit().await.doing(DOING)?;
            return Ok(Transition::Applied(requested));
        };
        // A pending task never started: its cancellation counts no start.
        write_history(
            &mut tx,
            &[&NewExecution::cancelled(&updated, runner, now)],
            false,
        )
        .await?;
        release_keys(&mut tx, &[updated.id]).await?;
        tx.commit().await.doing(DOING)?;
        Ok(Transition::Applied(updated))
    }

    async fn retry(
        &self,
        id: i64,
        extra_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Transition, StoreError> {
        const DOING: &str = "retrying a task";
        let mut tx = self.begin(DOING).await?;
        // One conditional statement: of two retries at once, the second finds the task
        // pending (or already claimed again) and is refused.
        let updated = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs_tasks SET state = 'pending', run_at = $2, finished_at = NULL, \
                 max_attempts = attempt + $3 \
             WHERE id = $1 AND state IN ('dead', 'cancelled') RETURNING {TASK_COLUMNS}"
        )))
        .bind(id)
        .bind(millis(now))
        .bind(i64::from(extra_attempts.max(1)))
        .fetch_optional(&mut *tx)
        .await
        .doing(DOING)?;
        let Some(updated) = updated.as_ref().map(rows::task).transpose()? else {
            return found(&mut tx, id).await;
        };
        announce_task(&mut tx, &updated.job).await?;
        tx.commit().await.doing(DOING)?;
        Ok(Transition::Applied(updated))
    }

    async fn pause(&self, job: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        const DOING: &str = "pausing a job";
        let done = sqlx::query(
            "INSERT INTO jobs_paused (job, paused_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(job)
        .bind(millis(now))
        .execute(&self.pool)
        .await
        .doing(DOING)?;
        Ok(done.rows_affected() > 0)
    }

    async fn resume(&self, job: &str) -> Result<bool, StoreError> {
        const DOING: &str = "resuming a job";
        let done = sqlx::query("DELETE FROM jobs_paused WHERE job = $1")
            .bind(job)
            .execute(&self.pool)
            .await
            .doing(DOING)?;
        Ok(done.rows_affected() > 0)
    }

    async fn paused(&self) -> Result<Vec<String>, StoreError> {
        const DOING: &str = "listing paused jobs";
        let rows = sqlx::query("SELECT job FROM jobs_paused ORDER BY job")
            .fetch_all(&self.pool)
            .await
            .doing(DOING)?;
        rows.iter().map(|r| r.try_get(0).doing(DOING)).collect()
    }
}

/// What a refused change found: the task as it is, or nothing.
async fn found(connection: &mut PgConnection, id: i64) -> Result<Transition, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {TASK_COLUMNS} FROM jobs_tasks WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(connection)
    .await
    .doing("reading a task")?;
    Ok(match row.as_ref().map(rows::task).transpose()? {
        Some(task) => Transition::Refused(task),
        None => Transition::NotFound,
    })
}
