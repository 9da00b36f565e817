//! The controls on SQLite: cancel, retry, pause and resume.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Sqlite, complete::write_history};
use crate::storage::rows::{self, TASK_COLUMNS, millis};
use crate::storage::{Controls, Doing, NewExecution, StoreError, TaskState, Transition};

#[async_trait]
impl Controls for Sqlite {
    async fn cancel(
        &self,
        id: i64,
        runner: &str,
        now: DateTime<Utc>,
    ) -> Result<Transition, StoreError> {
        const DOING: &str = "cancelling a task";
        let _turn = self.write_turn().await;
        let mut tx = self.begin(DOING).await?;
        let current = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM jobs_tasks WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .doing(DOING)?;
        let Some(current) = current.as_ref().map(rows::task).transpose()? else {
            return Ok(Transition::NotFound);
        };
        if current.state != TaskState::Pending {
            return Ok(Transition::Refused(current));
        }
        let updated = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs_tasks SET state = 'cancelled', finished_at = $2 WHERE id = $1 \
             RETURNING {TASK_COLUMNS}"
        )))
        .bind(id)
        .bind(millis(now))
        .fetch_one(&mut *tx)
        .await
        .doing(DOING)?;
        let updated = rows::task(&updated)?;
        write_history(&mut tx, &[&NewExecution::cancelled(&updated, runner, now)]).await?;
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
        let _turn = self.write_turn().await;
        let mut tx = self.begin(DOING).await?;
        let current = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM jobs_tasks WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await
        .doing(DOING)?;
        let Some(current) = current.as_ref().map(rows::task).transpose()? else {
            return Ok(Transition::NotFound);
        };
        if !matches!(current.state, TaskState::Dead | TaskState::Cancelled) {
            return Ok(Transition::Refused(current));
        }
        let updated = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs_tasks SET state = 'pending', run_at = $2, finished_at = NULL, \
                 max_attempts = attempt + $3 WHERE id = $1 \
             RETURNING {TASK_COLUMNS}"
        )))
        .bind(id)
        .bind(millis(now))
        .bind(i64::from(extra_attempts.max(1)))
        .fetch_one(&mut *tx)
        .await
        .doing(DOING)?;
        let updated = rows::task(&updated)?;
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
