//! Stored schedules on SQLite. Runners see changes at their next poll of the schedules'
//! fingerprint.

use async_trait::async_trait;
use sqlx::Row;

use super::Sqlite;
use crate::storage::rows::{self, SCHEDULE_COLUMNS, millis};
use crate::storage::{Doing, ScheduleRow, Schedules, StoreError};

#[async_trait]
impl Schedules for Sqlite {
    async fn schedules(&self) -> Result<Vec<ScheduleRow>, StoreError> {
        const DOING: &str = "listing schedules";
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SCHEDULE_COLUMNS} FROM jobs_schedules ORDER BY id"
        )))
        .fetch_all(&self.pool)
        .await
        .doing(DOING)?;
        rows.iter().map(rows::schedule).collect()
    }

    async fn schedule(&self, id: &str) -> Result<Option<ScheduleRow>, StoreError> {
        const DOING: &str = "reading a schedule";
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {SCHEDULE_COLUMNS} FROM jobs_schedules WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .doing(DOING)?;
        row.as_ref().map(rows::schedule).transpose()
    }

    async fn schedules_fingerprint(&self) -> Result<(i64, i64), StoreError> {
        const DOING: &str = "watching schedules";
        let row = sqlx::query("SELECT COUNT(*), COALESCE(MAX(updated_at), 0) FROM jobs_schedules")
            .fetch_one(&self.pool)
            .await
            .doing(DOING)?;
        Ok((row.try_get(0).doing(DOING)?, row.try_get(1).doing(DOING)?))
    }

    async fn insert_schedule(&self, row: &ScheduleRow) -> Result<bool, StoreError> {
        const DOING: &str = "adding a schedule";
        let done = sqlx::query(
            "INSERT INTO jobs_schedules (id, job, cron, every_ms, timezone, args, enabled, \
                 catch_up, in_code, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) ON CONFLICT DO NOTHING",
        )
        .bind(&row.id)
        .bind(&row.job)
        .bind(&row.cron)
        .bind(row.every_ms)
        .bind(&row.timezone)
        .bind(row.args.to_string())
        .bind(i64::from(row.enabled))
        .bind(&row.catch_up)
        .bind(i64::from(row.in_code))
        .bind(millis(row.updated_at))
        .execute(&self.pool)
        .await
        .doing(DOING)?;
        Ok(done.rows_affected() > 0)
    }

    async fn update_schedule(&self, row: &ScheduleRow) -> Result<bool, StoreError> {
        const DOING: &str = "changing a schedule";
        let done = sqlx::query(
            "UPDATE jobs_schedules SET job = $2, cron = $3, every_ms = $4, timezone = $5, \
                 args = $6, enabled = $7, catch_up = $8, updated_at = $9 WHERE id = $1",
        )
        .bind(&row.id)
        .bind(&row.job)
        .bind(&row.cron)
        .bind(row.every_ms)
        .bind(&row.timezone)
        .bind(row.args.to_string())
        .bind(i64::from(row.enabled))
        .bind(&row.catch_up)
        .bind(millis(row.updated_at))
        .execute(&self.pool)
        .await
        .doing(DOING)?;
        Ok(done.rows_affected() > 0)
    }

    async fn delete_schedule(&self, id: &str) -> Result<bool, StoreError> {
        const DOING: &str = "removing a schedule";
        let done = sqlx::query("DELETE FROM jobs_schedules WHERE id = $1")
            .bind(id)
            .execute(&self.pool)
            .await
            .doing(DOING)?;
        Ok(done.rows_affected() > 0)
    }

    async fn sync_code_schedules(&self, rows: &[ScheduleRow]) -> Result<(), StoreError> {
        const DOING: &str = "writing the schedules defined in code";
        let mut tx = self.begin(DOING).await?;
        for row in rows {
            sqlx::query(
                "INSERT INTO jobs_schedules (id, job, cron, every_ms, timezone, args, enabled, \
                     catch_up, in_code, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, 'null', 1, $6, 1, $7, $7) \
                 ON CONFLICT (id) DO UPDATE SET job = excluded.job, cron = excluded.cron, \
                     every_ms = excluded.every_ms, timezone = excluded.timezone, \
                     catch_up = excluded.catch_up, updated_at = excluded.updated_at \
                 WHERE jobs_schedules.in_code = 1 AND (jobs_schedules.job <> excluded.job \
                     OR jobs_schedules.cron IS DISTINCT FROM excluded.cron \
                     OR jobs_schedules.every_ms IS DISTINCT FROM excluded.every_ms \
                     OR jobs_schedules.timezone <> excluded.timezone \
                     OR jobs_schedules.catch_up <> excluded.catch_up)",
            )
            .bind(&row.id)
            .bind(&row.job)
            .bind(&row.cron)
            .bind(row.every_ms)
            .bind(&row.timezone)
            .bind(&row.catch_up)
            .bind(millis(row.updated_at))
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
        }
        tx.commit().await.doing(DOING)?;
        Ok(())
    }
}
