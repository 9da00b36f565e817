//! Stored schedules on SQLite. Runners read the schedules' fingerprint again when the
//! database changes (where its file is watched: see `watch.rs`) and at every poll, and
//! reload the schedules when it differs.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Sqlite, json_batch};
use crate::storage::rows::{self, SCHEDULE_COLUMNS, millis};
use crate::storage::{Doing, ScheduleRow, Schedules, StoreError, Transition};

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

    async fn update_schedule(
        &self,
        row: &ScheduleRow,
        seen: DateTime<Utc>,
    ) -> Result<Transition<ScheduleRow>, StoreError> {
        const DOING: &str = "changing a schedule";
        let updated = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs_schedules SET job = $2, cron = $3, every_ms = $4, timezone = $5, \
                 args = $6, catch_up = $7, updated_at = $8 \
             WHERE id = $1 AND in_code = 0 AND updated_at = $9 RETURNING {SCHEDULE_COLUMNS}"
        )))
        .bind(&row.id)
        .bind(&row.job)
        .bind(&row.cron)
        .bind(row.every_ms)
        .bind(&row.timezone)
        .bind(row.args.to_string())
        .bind(&row.catch_up)
        .bind(millis(row.updated_at))
        .bind(millis(seen))
        .fetch_optional(&self.pool)
        .await
        .doing(DOING)?;
        let Some(updated) = updated.as_ref().map(rows::schedule).transpose()? else {
            return found(&self.pool, &row.id).await;
        };
        Ok(Transition::Applied(updated))
    }

    async fn set_schedule_enabled(
        &self,
        id: &str,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<ScheduleRow>, StoreError> {
        const DOING: &str = "pausing or resuming a schedule";
        // Only the flag: a change of the schedule made meanwhile stays. `updated_at` moves
        // forward even within one millisecond, so that watchers see the change.
        let updated = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs_schedules SET enabled = $2, \
                 updated_at = CASE WHEN updated_at < $3 THEN $3 ELSE updated_at + 1 END \
             WHERE id = $1 RETURNING {SCHEDULE_COLUMNS}"
        )))
        .bind(id)
        .bind(i64::from(enabled))
        .bind(millis(now))
        .fetch_optional(&self.pool)
        .await
        .doing(DOING)?;
        let updated = updated.as_ref().map(rows::schedule).transpose()?;
        Ok(updated)
    }

    async fn delete_schedule(&self, id: &str) -> Result<Transition<ScheduleRow>, StoreError> {
        const DOING: &str = "removing a schedule";
        let deleted = sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM jobs_schedules WHERE id = $1 AND in_code = 0 RETURNING {SCHEDULE_COLUMNS}"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .doing(DOING)?;
        let Some(deleted) = deleted.as_ref().map(rows::schedule).transpose()? else {
            return found(&self.pool, id).await;
        };
        Ok(Transition::Applied(deleted))
    }

    async fn sync_code_schedules(&self, rows: &[ScheduleRow]) -> Result<Vec<String>, StoreError> {
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
        // Schedules the code no longer defines go; their ticks and history stay.
        let kept: Vec<&str> = rows.iter().map(|r| r.id.as_str()).collect();
        let removed: Vec<String> = sqlx::query_scalar(
            "DELETE FROM jobs_schedules WHERE in_code = 1 \
                 AND id NOT IN (SELECT value FROM json_each($1)) RETURNING id",
        )
        .bind(json_batch(&kept, DOING)?)
        .fetch_all(&mut *tx)
        .await
        .doing(DOING)?;
        tx.commit().await.doing(DOING)?;
        Ok(removed)
    }
}

/// What a refused change found: the schedule as it is, or nothing.
async fn found(
    executor: impl sqlx::SqliteExecutor<'_>,
    id: &str,
) -> Result<Transition<ScheduleRow>, StoreError> {
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {SCHEDULE_COLUMNS} FROM jobs_schedules WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(executor)
    .await
    .doing("reading a schedule")?;
    Ok(match row.as_ref().map(rows::schedule).transpose()? {
        Some(row) => Transition::Refused(row),
        None => Transition::NotFound,
    })
}
