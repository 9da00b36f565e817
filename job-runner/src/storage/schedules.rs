//! Stored schedules: the one place every tick comes from.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{Doing, Store, StoreError, instant, millis, with_pool};

/// The channel on which PostgreSQL announces schedule changes.
pub(crate) const SCHEDULES_CHANNEL: &str = "jobs_schedules";

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleRow {
    /// Its id (the job's name for a schedule written in code).
    pub id: String,
    /// The job it runs.
    pub job: String,
    /// Its cron expression, when it has one.
    pub cron: Option<String>,
    /// Its rate, in milliseconds, when it has one.
    pub every_ms: Option<i64>,
    /// The zone the cron expression is read in.
    pub timezone: String,
    /// The arguments each tick passes.
    pub args: serde_json::Value,
    /// `false` while paused.
    pub enabled: bool,
    /// `skip` or `once`.
    pub catch_up: String,
    /// Written in code (`#[job(cron = ...)]`): it can be paused, not edited or removed.
    pub in_code: bool,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, job, cron, every_ms, timezone, args, enabled, catch_up, in_code, created_at, updated_at";

fn row_of<R>(row: &R) -> Result<ScheduleRow, StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    const DOING: &str = "reading a schedule";
    let args: String = row.try_get("args").doing(DOING)?;
    Ok(ScheduleRow {
        id: row.try_get("id").doing(DOING)?,
        job: row.try_get("job").doing(DOING)?,
        cron: row.try_get("cron").doing(DOING)?,
        every_ms: row.try_get("every_ms").doing(DOING)?,
        timezone: row.try_get("timezone").doing(DOING)?,
        args: serde_json::from_str(&args).unwrap_or(serde_json::Value::String(args)),
        enabled: row.try_get::<i64, _>("enabled").doing(DOING)? != 0,
        catch_up: row.try_get("catch_up").doing(DOING)?,
        in_code: row.try_get::<i64, _>("in_code").doing(DOING)? != 0,
        created_at: instant(row.try_get("created_at").doing(DOING)?),
        updated_at: instant(row.try_get("updated_at").doing(DOING)?),
    })
}

/// Announces a schedule change on PostgreSQL (runners reload their schedules at once).
macro_rules! announce_schedules {
    ($tx:expr, $dialect:expr, $id:expr) => {
        if $dialect == super::Dialect::Postgres {
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(SCHEDULES_CHANNEL)
                .bind($id)
                .execute(&mut *$tx)
                .await
                .doing("announcing a schedule change")?;
        }
    };
}

impl Store {
    /// Every stored schedule, by id.
    pub async fn schedules(&self) -> Result<Vec<ScheduleRow>, StoreError> {
        const DOING: &str = "listing schedules";
        with_pool!(self, |pool, dialect| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM jobs_schedules ORDER BY id"
            )))
            .fetch_all(pool)
            .await
            .doing(DOING)?;
            rows.iter().map(row_of).collect()
        })
    }

    /// One schedule.
    pub async fn schedule(&self, id: &str) -> Result<Option<ScheduleRow>, StoreError> {
        const DOING: &str = "reading a schedule";
        with_pool!(self, |pool, dialect| {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {COLUMNS} FROM jobs_schedules WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await
            .doing(DOING)?;
            row.as_ref().map(row_of).transpose()
        })
    }

    /// A cheap fingerprint of the schedules: it changes whenever one is added, changed,
    /// paused, resumed or removed.
    pub async fn schedules_fingerprint(&self) -> Result<(i64, i64), StoreError> {
        const DOING: &str = "watching schedules";
        with_pool!(self, |pool, dialect| {
            let row =
                sqlx::query("SELECT COUNT(*), COALESCE(MAX(updated_at), 0) FROM jobs_schedules")
                    .fetch_one(pool)
                    .await
                    .doing(DOING)?;
            Ok((row.try_get(0).doing(DOING)?, row.try_get(1).doing(DOING)?))
        })
    }

    /// Stores a new schedule; `false` when its id is taken.
    pub async fn insert_schedule(&self, row: &ScheduleRow) -> Result<bool, StoreError> {
        const DOING: &str = "adding a schedule";
        with_pool!(self, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin()).await.doing(DOING)?;
            let done = sqlx::query(
                "INSERT INTO jobs_schedules (id, job, cron, every_ms, timezone, args, enabled, catch_up, \
                     in_code, created_at, updated_at) \
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
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
            announce_schedules!(tx, dialect, &row.id);
            tx.commit().await.doing(DOING)?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Replaces what a schedule does (not its id, `in_code` or creation time); `false` when
    /// no schedule has this id.
    pub async fn update_schedule(&self, row: &ScheduleRow) -> Result<bool, StoreError> {
        const DOING: &str = "changing a schedule";
        with_pool!(self, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin()).await.doing(DOING)?;
            let done = sqlx::query(
                "UPDATE jobs_schedules SET job = $2, cron = $3, every_ms = $4, timezone = $5, args = $6, \
                     enabled = $7, catch_up = $8, updated_at = $9 WHERE id = $1",
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
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
            announce_schedules!(tx, dialect, &row.id);
            tx.commit().await.doing(DOING)?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Removes a schedule (its history stays); `false` when no schedule has this id.
    pub async fn delete_schedule(&self, id: &str) -> Result<bool, StoreError> {
        const DOING: &str = "removing a schedule";
        with_pool!(self, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin()).await.doing(DOING)?;
            let done = sqlx::query("DELETE FROM jobs_schedules WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .doing(DOING)?;
            announce_schedules!(tx, dialect, id);
            tx.commit().await.doing(DOING)?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Writes the schedules defined in code (`in_code`), leaving their pause state alone;
    /// a schedule added at run time with the same id is left alone too.
    pub async fn sync_code_schedules(&self, rows: &[ScheduleRow]) -> Result<(), StoreError> {
        const DOING: &str = "writing the schedules defined in code";
        with_pool!(self, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin()).await.doing(DOING)?;
            for row in rows {
                let done = sqlx::query(
                    "INSERT INTO jobs_schedules (id, job, cron, every_ms, timezone, args, enabled, catch_up, \
                         in_code, created_at, updated_at) \
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
                if done.rows_affected() > 0 {
                    announce_schedules!(tx, dialect, &row.id);
                }
            }
            tx.commit().await.doing(DOING)?;
            Ok(())
        })
    }

    /// The latest tick taken of each schedule.
    pub async fn last_ticks(&self) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        const DOING: &str = "reading the last ticks";
        with_pool!(self, |pool, dialect| {
            let rows = sqlx::query(
                "SELECT schedule_id, MAX(tick_at) FROM jobs_ticks GROUP BY schedule_id",
            )
            .fetch_all(pool)
            .await
            .doing(DOING)?;
            rows.iter()
                .map(|row| {
                    Ok((
                        row.try_get(0).doing(DOING)?,
                        instant(row.try_get(1).doing(DOING)?),
                    ))
                })
                .collect()
        })
    }
}
