//! The execution history: one row per attempt.

use std::fmt;

use chrono::{DateTime, Utc};
use job_core::Trigger;
use serde::Serialize;
use serde_json::json;
use sqlx::Row;

use super::tasks::TaskRow;
use super::{Dialect, Doing, Store, StoreError, instant, millis, with_pool};

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// It returned `Ok`.
    Succeeded,
    /// It returned an error; the task will be retried.
    Failed,
    /// It panicked; the task will be retried.
    Panicked,
    /// It ran past the job's timeout; the task will be retried.
    TimedOut,
    /// It failed and no attempt is left (or the failure was permanent): the task is dead.
    Dead,
    /// The task was cancelled before it ran.
    Cancelled,
}

impl ExecutionStatus {
    /// Every status.
    pub const ALL: [ExecutionStatus; 6] = [
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::Panicked,
        ExecutionStatus::TimedOut,
        ExecutionStatus::Dead,
        ExecutionStatus::Cancelled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Panicked => "panicked",
            ExecutionStatus::TimedOut => "timed_out",
            ExecutionStatus::Dead => "dead",
            ExecutionStatus::Cancelled => "cancelled",
        }
    }

    /// The status with this stored name.
    pub fn from_name(name: &str) -> Option<ExecutionStatus> {
        ExecutionStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A history row to write.
#[derive(Debug, Clone)]
pub struct NewExecution {
    /// The task.
    pub task_id: i64,
    /// The job's name.
    pub job: String,
    /// The attempt's number.
    pub attempt: u32,
    /// Why the task exists.
    pub trigger: Trigger,
    /// When the task was first due.
    pub scheduled_at: DateTime<Utc>,
    /// When the attempt started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How it ended.
    pub status: ExecutionStatus,
    /// The failure's message.
    pub error: Option<String>,
    /// Records processed, when the job said.
    pub records_processed: Option<u64>,
    /// The runner that ran it.
    pub runner_id: String,
}

impl NewExecution {
    /// The row that records a cancellation.
    pub(crate) fn cancelled(task: &TaskRow, runner: &str, now: DateTime<Utc>) -> NewExecution {
        NewExecution {
            task_id: task.id,
            job: task.job.clone(),
            attempt: task.attempt,
            trigger: task.trigger,
            scheduled_at: task.scheduled_at,
            started_at: now,
            finished_at: now,
            status: ExecutionStatus::Cancelled,
            error: None,
            records_processed: None,
            runner_id: runner.to_owned(),
        }
    }
}

/// A history row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Execution {
    /// The row's id (rows are numbered in the order they were written).
    pub id: i64,
    /// The job's name.
    pub job: String,
    /// The task.
    pub task_id: i64,
    /// The attempt's number (1 for the first).
    pub attempt: u32,
    /// Why the task exists: `cron`, `enqueue`, `manual`, ...
    pub trigger: Trigger,
    /// When the task was first due.
    pub scheduled_at: DateTime<Utc>,
    /// When the attempt started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How long it ran, in milliseconds.
    pub duration_ms: i64,
    /// How it ended.
    pub status: ExecutionStatus,
    /// The failure's message.
    pub error: Option<String>,
    /// Records processed, when the job said.
    pub records_processed: Option<i64>,
    /// The runner that ran it.
    pub runner_id: String,
}

/// Which history rows to read.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    /// Only of this job.
    pub job: Option<String>,
    /// Only with this status.
    pub status: Option<ExecutionStatus>,
    /// Only of this task.
    pub task_id: Option<i64>,
    /// Only attempts that started at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only attempts that started before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Only rows with an id below this (the cursor of the previous page).
    pub before_id: Option<i64>,
    /// At most this many, newest first.
    pub limit: u32,
}

/// The statement and its one parameter (the rows as a JSON array) that write history rows;
/// `None` for no rows. Callers run it inside their own transaction.
pub(super) fn insert_statement(
    dialect: Dialect,
    rows: &[&NewExecution],
) -> Option<(&'static str, String)> {
    if rows.is_empty() {
        return None;
    }
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|e| {
            json!({
                "task_id": e.task_id, "job": e.job, "attempt": e.attempt,
                "trigger": e.trigger.as_str(), "scheduled_at": millis(e.scheduled_at),
                "started_at": millis(e.started_at), "finished_at": millis(e.finished_at),
                "duration_ms": (e.finished_at - e.started_at).num_milliseconds().max(0),
                "status": e.status.as_str(), "error": e.error,
                "records_processed": e.records_processed.map(|n| n.min(i64::MAX as u64) as i64),
                "runner_id": e.runner_id,
            })
        })
        .collect();
    let sql = match dialect {
        Dialect::Sqlite => {
            "INSERT INTO jobs_executions (task_id, job, attempt, trigger, scheduled_at, started_at, \
                 finished_at, duration_ms, status, error, records_processed, runner_id) \
             SELECT value->>'task_id', value->>'job', value->>'attempt', value->>'trigger', \
                 value->>'scheduled_at', value->>'started_at', value->>'finished_at', \
                 value->>'duration_ms', value->>'status', value->>'error', \
                 value->>'records_processed', value->>'runner_id' \
             FROM json_each($1) ORDER BY key"
        }
        Dialect::Postgres => {
            "INSERT INTO jobs_executions (task_id, job, attempt, trigger, scheduled_at, started_at, \
                 finished_at, duration_ms, status, error, records_processed, runner_id) \
             SELECT task_id, job, attempt, trigger, scheduled_at, started_at, finished_at, \
                 duration_ms, status, error, records_processed, runner_id \
             FROM jsonb_to_recordset($1::jsonb) AS e(task_id bigint, job text, attempt bigint, \
                 trigger text, scheduled_at bigint, started_at bigint, finished_at bigint, \
                 duration_ms bigint, status text, error text, records_processed bigint, runner_id text)"
        }
    };
    Some((sql, serde_json::Value::Array(rows).to_string()))
}

/// Writes history rows inside a transaction: `insert_executions!(tx, dialect, rows)`.
macro_rules! insert_executions {
    ($tx:expr, $dialect:expr, $rows:expr) => {
        if let Some((sql, rows)) = $crate::storage::executions::insert_statement($dialect, $rows) {
            sqlx::query(sql)
                .bind(rows)
                .execute(&mut *$tx)
                .await
                .doing("writing the execution history")?;
        }
    };
}
pub(crate) use insert_executions;

impl Store {
    /// History rows matching `filter`, newest first.
    pub async fn executions(&self, filter: &ExecutionFilter) -> Result<Vec<Execution>, StoreError> {
        const DOING: &str = "reading the execution history";
        with_pool!(self, |pool, dialect| {
            let rows = sqlx::query(
                "SELECT id, job, task_id, attempt, trigger, scheduled_at, started_at, finished_at, \
                     duration_ms, status, error, records_processed, runner_id \
                 FROM jobs_executions \
                 WHERE ($1 IS NULL OR job = $1) AND ($2 IS NULL OR status = $2) \
                   AND ($3 IS NULL OR task_id = $3) AND ($4 IS NULL OR started_at >= $4) \
                   AND ($5 IS NULL OR started_at < $5) AND ($6 IS NULL OR id < $6) \
                 ORDER BY id DESC LIMIT $7",
            )
            .bind(filter.job.as_deref())
            .bind(filter.status.map(ExecutionStatus::as_str))
            .bind(filter.task_id)
            .bind(filter.since.map(millis))
            .bind(filter.until.map(millis))
            .bind(filter.before_id)
            .bind(i64::from(filter.limit.max(1)))
            .fetch_all(pool)
            .await
            .doing(DOING)?;
            rows.iter().map(execution_row).collect()
        })
    }

    /// The latest history row of each job.
    pub async fn last_executions(&self) -> Result<Vec<Execution>, StoreError> {
        const DOING: &str = "reading the last executions";
        with_pool!(self, |pool, dialect| {
            let rows = sqlx::query(
                "SELECT id, job, task_id, attempt, trigger, scheduled_at, started_at, finished_at, \
                     duration_ms, status, error, records_processed, runner_id \
                 FROM jobs_executions \
                 WHERE id IN (SELECT MAX(id) FROM jobs_executions GROUP BY job)",
            )
            .fetch_all(pool)
            .await
            .doing(DOING)?;
            rows.iter().map(execution_row).collect()
        })
    }
}

fn execution_row<R>(row: &R) -> Result<Execution, StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    const DOING: &str = "reading the execution history";
    let status: String = row.try_get("status").doing(DOING)?;
    let trigger: String = row.try_get("trigger").doing(DOING)?;
    Ok(Execution {
        id: row.try_get("id").doing(DOING)?,
        job: row.try_get("job").doing(DOING)?,
        task_id: row.try_get("task_id").doing(DOING)?,
        attempt: row.try_get::<i64, _>("attempt").doing(DOING)? as u32,
        trigger: Trigger::from_name(&trigger).ok_or_else(|| StoreError::Corrupt {
            doing: DOING,
            detail: format!("unknown trigger `{trigger}`"),
        })?,
        scheduled_at: instant(row.try_get("scheduled_at").doing(DOING)?),
        started_at: instant(row.try_get("started_at").doing(DOING)?),
        finished_at: instant(row.try_get("finished_at").doing(DOING)?),
        duration_ms: row.try_get("duration_ms").doing(DOING)?,
        status: ExecutionStatus::from_name(&status).ok_or_else(|| StoreError::Corrupt {
            doing: DOING,
            detail: format!("unknown status `{status}`"),
        })?,
        error: row.try_get("error").doing(DOING)?,
        records_processed: row.try_get("records_processed").doing(DOING)?,
        runner_id: row.try_get("runner_id").doing(DOING)?,
    })
}
