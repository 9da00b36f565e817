//! The execution history: one row per attempt.

use std::fmt;

use chrono::{DateTime, Utc};
use job_core::Trigger;
use serde::Serialize;
use sqlx::Row;

use super::tasks::TaskRow;
use super::{Doing, Store, StoreError, instant, millis, with_pool};

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
    /// The chain the task is a step of (the id of its first task), when it is one. The
    /// first step of a chain declared in code (`#[job(then = ...)]`) is known as one only
    /// when it runs: rescued or cancelled before, its row has none.
    pub chain_id: Option<i64>,
    /// The step's number in its chain, 1 for the first.
    pub chain_step: Option<i64>,
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
            chain_id: task.chain_id,
            chain_step: task.chain_step,
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
    /// The chain the task is a step of: the id of its first task.
    pub chain_id: Option<i64>,
    /// The step's number in its chain, 1 for the first.
    pub chain_step: Option<i64>,
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

/// One history row as SQLite reads it from the JSON array of a batch.
#[derive(Serialize)]
struct JsonExecution<'a> {
    task_id: i64,
    job: &'a str,
    attempt: u32,
    trigger: &'static str,
    scheduled_at: i64,
    started_at: i64,
    finished_at: i64,
    duration_ms: i64,
    status: &'static str,
    error: Option<&'a str>,
    records_processed: Option<i64>,
    runner_id: &'a str,
    chain_id: Option<i64>,
    chain_step: Option<i64>,
}

fn duration_ms(e: &NewExecution) -> i64 {
    (e.finished_at - e.started_at).num_milliseconds().max(0)
}

fn records(e: &NewExecution) -> Option<i64> {
    e.records_processed.map(|n| n.min(i64::MAX as u64) as i64)
}

/// `UNNEST` of history rows bound as fourteen PostgreSQL arrays, `$1`..`$14`, in the
/// table's column order.
macro_rules! history_unnest {
    () => {
        "UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], $5::bigint[], $6::bigint[], \
             $7::bigint[], $8::bigint[], $9::text[], $10::text[], $11::bigint[], $12::text[], \
             $13::bigint[], $14::bigint[]) \
         AS e(task_id, job, attempt, trigger, scheduled_at, started_at, finished_at, \
             duration_ms, status, error, records_processed, runner_id, chain_id, chain_step)"
    };
}

/// Writes history rows on a connection, inside the caller's transaction: SQLite takes the
/// batch as one JSON array (read once, as JSONB), PostgreSQL as one array per column.
pub(crate) trait WriteHistory {
    async fn write_history(&mut self, rows: &[&NewExecution]) -> Result<(), StoreError>;
}

const DOING_HISTORY: &str = "writing the execution history";

impl WriteHistory for sqlx::SqliteConnection {
    async fn write_history(&mut self, rows: &[&NewExecution]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let json: Vec<JsonExecution<'_>> = rows
            .iter()
            .map(|e| JsonExecution {
                task_id: e.task_id,
                job: &e.job,
                attempt: e.attempt,
                trigger: e.trigger.as_str(),
                scheduled_at: millis(e.scheduled_at),
                started_at: millis(e.started_at),
                finished_at: millis(e.finished_at),
                duration_ms: duration_ms(e),
                status: e.status.as_str(),
                error: e.error.as_deref(),
                records_processed: records(e),
                runner_id: &e.runner_id,
                chain_id: e.chain_id,
                chain_step: e.chain_step,
            })
            .collect();
        let json = serde_json::to_string(&json).map_err(|e| StoreError::Corrupt {
            doing: DOING_HISTORY,
            detail: e.to_string(),
        })?;
        // `jsonb_each` parses the array once; each element is then read in place.
        sqlx::query(
            "INSERT INTO jobs_executions (task_id, job, attempt, trigger, scheduled_at, started_at, \
                 finished_at, duration_ms, status, error, records_processed, runner_id, chain_id, \
                 chain_step) \
             SELECT value->>'task_id', value->>'job', value->>'attempt', value->>'trigger', \
                 value->>'scheduled_at', value->>'started_at', value->>'finished_at', \
                 value->>'duration_ms', value->>'status', value->>'error', \
                 value->>'records_processed', value->>'runner_id', value->>'chain_id', \
                 value->>'chain_step' \
             FROM jsonb_each($1) ORDER BY key",
        )
        .bind(json)
        .execute(self)
        .await
        .doing(DOING_HISTORY)?;
        Ok(())
    }
}

impl WriteHistory for sqlx::PgConnection {
    async fn write_history(&mut self, rows: &[&NewExecution]) -> Result<(), StoreError> {
        if rows.is_empty() {
            return Ok(());
        }
        let columns = HistoryColumns::of(rows);
        sqlx::query(concat!(
            "INSERT INTO jobs_executions (task_id, job, attempt, trigger, scheduled_at, started_at, \
                 finished_at, duration_ms, status, error, records_processed, runner_id, chain_id, \
                 chain_step) \
             SELECT * FROM ",
            history_unnest!()
        ))
        .bind(columns.task_id)
        .bind(columns.job)
        .bind(columns.attempt)
        .bind(columns.trigger)
        .bind(columns.scheduled_at)
        .bind(columns.started_at)
        .bind(columns.finished_at)
        .bind(columns.duration_ms)
        .bind(columns.status)
        .bind(columns.error)
        .bind(columns.records_processed)
        .bind(columns.runner_id)
        .bind(columns.chain_id)
        .bind(columns.chain_step)
        .execute(self)
        .await
        .doing(DOING_HISTORY)?;
        Ok(())
    }
}

/// History rows as PostgreSQL arrays, one per column (see `history_unnest!`).
struct HistoryColumns {
    task_id: Vec<i64>,
    job: Vec<String>,
    attempt: Vec<i64>,
    trigger: Vec<&'static str>,
    scheduled_at: Vec<i64>,
    started_at: Vec<i64>,
    finished_at: Vec<i64>,
    duration_ms: Vec<i64>,
    status: Vec<&'static str>,
    error: Vec<Option<String>>,
    records_processed: Vec<Option<i64>>,
    runner_id: Vec<String>,
    chain_id: Vec<Option<i64>>,
    chain_step: Vec<Option<i64>>,
}

impl HistoryColumns {
    fn of(rows: &[&NewExecution]) -> HistoryColumns {
        let n = rows.len();
        let mut c = HistoryColumns {
            task_id: Vec::with_capacity(n),
            job: Vec::with_capacity(n),
            attempt: Vec::with_capacity(n),
            trigger: Vec::with_capacity(n),
            scheduled_at: Vec::with_capacity(n),
            started_at: Vec::with_capacity(n),
            finished_at: Vec::with_capacity(n),
            duration_ms: Vec::with_capacity(n),
            status: Vec::with_capacity(n),
            error: Vec::with_capacity(n),
            records_processed: Vec::with_capacity(n),
            runner_id: Vec::with_capacity(n),
            chain_id: Vec::with_capacity(n),
            chain_step: Vec::with_capacity(n),
        };
        for e in rows {
            c.task_id.push(e.task_id);
            c.job.push(e.job.clone());
            c.attempt.push(i64::from(e.attempt));
            c.trigger.push(e.trigger.as_str());
            c.scheduled_at.push(millis(e.scheduled_at));
            c.started_at.push(millis(e.started_at));
            c.finished_at.push(millis(e.finished_at));
            c.duration_ms.push(duration_ms(e));
            c.status.push(e.status.as_str());
            c.error.push(e.error.clone());
            c.records_processed.push(records(e));
            c.runner_id.push(e.runner_id.clone());
            c.chain_id.push(e.chain_id);
            c.chain_step.push(e.chain_step);
        }
        c
    }
}

/// Writes history rows inside a transaction: `insert_executions!(tx, dialect, rows)`.
macro_rules! insert_executions {
    ($tx:expr, $dialect:expr, $rows:expr) => {
        $crate::storage::executions::WriteHistory::write_history(&mut *$tx, $rows).await?
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
                     duration_ms, status, error, records_processed, runner_id, chain_id, chain_step \
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
                     duration_ms, status, error, records_processed, runner_id, chain_id, chain_step \
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
        chain_id: row.try_get("chain_id").doing(DOING)?,
        chain_step: row.try_get("chain_step").doing(DOING)?,
    })
}
