//! Reading stored rows, the same way on every backend: the job tables hold only integers
//! and text (times are unix milliseconds), so one decoder of each row serves them all.

use chrono::{DateTime, TimeZone, Utc};
use job_core::Trigger;
use sqlx::Row;

use super::{
    ChainLink, ChainStep, ClaimedTask, Doing, EventRow, Execution, ExecutionStatus, KnownJob,
    LimitOverride, RunnerRow, ScheduleRow, StoreError, TaskEndRow, TaskRow, TaskState,
};

/// Unix milliseconds of an instant, as stored.
pub(crate) fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

/// The instant of stored unix milliseconds.
pub(crate) fn instant(millis: i64) -> DateTime<Utc> {
    Utc.timestamp_millis_opt(millis)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// A row of any backend, read by column name as the job tables' two types.
pub(crate) trait Columns {
    /// An integer column.
    fn int(&self, column: &str, doing: &'static str) -> Result<i64, StoreError>;
    /// An integer column that may be NULL.
    fn opt_int(&self, column: &str, doing: &'static str) -> Result<Option<i64>, StoreError>;
    /// A text column.
    fn text(&self, column: &str, doing: &'static str) -> Result<String, StoreError>;
    /// A text column that may be NULL.
    fn opt_text(&self, column: &str, doing: &'static str) -> Result<Option<String>, StoreError>;
}

impl<R> Columns for R
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    fn int(&self, column: &str, doing: &'static str) -> Result<i64, StoreError> {
        self.try_get(column).doing(doing)
    }

    fn opt_int(&self, column: &str, doing: &'static str) -> Result<Option<i64>, StoreError> {
        self.try_get(column).doing(doing)
    }

    fn text(&self, column: &str, doing: &'static str) -> Result<String, StoreError> {
        self.try_get(column).doing(doing)
    }

    fn opt_text(&self, column: &str, doing: &'static str) -> Result<Option<String>, StoreError> {
        self.try_get(column).doing(doing)
    }
}

/// Stored JSON text as a value (text that is not JSON is kept as a string).
pub(crate) fn json(text: String) -> serde_json::Value {
    serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text))
}

fn corrupt(doing: &'static str, detail: String) -> StoreError {
    StoreError::Corrupt { doing, detail }
}

fn trigger(row: &impl Columns, doing: &'static str) -> Result<Trigger, StoreError> {
    let name = row.text("trigger", doing)?;
    Trigger::from_name(&name).ok_or_else(|| corrupt(doing, format!("unknown trigger `{name}`")))
}

/// The columns [`task`] reads.
pub(crate) const TASK_COLUMNS: &str = "id, job, queue, state, args, priority, run_at, \
     scheduled_at, attempt, max_attempts, trigger, unique_key, locked_by, last_error, \
     created_at, finished_at, chain_id, chain_step, progress, snoozes, cancel_requested_at";

/// A stored task, from [`TASK_COLUMNS`].
pub(crate) fn task(row: &impl Columns) -> Result<TaskRow, StoreError> {
    const DOING: &str = "reading a task";
    let state = row.text("state", DOING)?;
    Ok(TaskRow {
        id: row.int("id", DOING)?,
        job: row.text("job", DOING)?,
        queue: row.text("queue", DOING)?,
        state: TaskState::from_name(&state)
            .ok_or_else(|| corrupt(DOING, format!("unknown state `{state}`")))?,
        args: json(row.text("args", DOING)?),
        priority: row.int("priority", DOING)? as i32,
        run_at: instant(row.int("run_at", DOING)?),
        scheduled_at: instant(row.int("scheduled_at", DOING)?),
        attempt: row.int("attempt", DOING)? as u32,
        max_attempts: row.int("max_attempts", DOING)? as u32,
        trigger: trigger(row, DOING)?,
        unique_key: row.opt_text("unique_key", DOING)?,
        locked_by: row.opt_text("locked_by", DOING)?,
        last_error: row.opt_text("last_error", DOING)?,
        created_at: instant(row.int("created_at", DOING)?),
        finished_at: row.opt_int("finished_at", DOING)?.map(instant),
        chain_id: row.opt_int("chain_id", DOING)?,
        chain_step: row.opt_int("chain_step", DOING)?,
        progress: row.opt_text("progress", DOING)?.map(json),
        snoozes: row.int("snoozes", DOING)? as u32,
        cancel_requested_at: row.opt_int("cancel_requested_at", DOING)?.map(instant),
    })
}

/// How a task ended, from its `state`, `last_error` and `result` columns.
pub(crate) fn task_end(row: &impl Columns) -> Result<TaskEndRow, StoreError> {
    const DOING: &str = "reading how a task ended";
    let state = row.text("state", DOING)?;
    Ok(TaskEndRow {
        state: TaskState::from_name(&state)
            .ok_or_else(|| corrupt(DOING, format!("unknown state `{state}`")))?,
        last_error: row.opt_text("last_error", DOING)?,
        result: row.opt_text("result", DOING)?,
    })
}

/// A job the runners recorded, from `jobs_known`.
pub(crate) fn known_job(row: &impl Columns) -> Result<KnownJob, StoreError> {
    const DOING: &str = "reading the jobs the runners recorded";
    Ok(KnownJob {
        job: row.text("job", DOING)?,
        queue: row.text("queue", DOING)?,
        priority: row.int("priority", DOING)? as i32,
        max_attempts: row.int("max_attempts", DOING)? as u32,
        exclusive: row.int("exclusive", DOING)? != 0,
        keyed: row.int("keyed", DOING)? != 0,
    })
}

/// The columns [`claimed`] reads.
pub(crate) const CLAIMED_COLUMNS: &str = "id, job, args, attempt, max_attempts, trigger, \
     scheduled_at, run_at, priority, chain_id, chain_step, chain_rest, snoozes, trace_context";

/// A task claimed for an attempt, from [`CLAIMED_COLUMNS`].
pub(crate) fn claimed(row: &impl Columns) -> Result<ClaimedTask, StoreError> {
    const DOING: &str = "claiming tasks";
    Ok(ClaimedTask {
        id: row.int("id", DOING)?,
        job: row.text("job", DOING)?,
        args: row.text("args", DOING)?,
        attempt: row.int("attempt", DOING)? as u32,
        max_attempts: row.int("max_attempts", DOING)? as u32,
        trigger: trigger(row, DOING)?,
        scheduled_at: instant(row.int("scheduled_at", DOING)?),
        run_at: instant(row.int("run_at", DOING)?),
        priority: row.int("priority", DOING)? as i32,
        snoozes: row.int("snoozes", DOING)? as u32,
        chain: chain_link(
            row.opt_int("chain_id", DOING)?,
            row.opt_int("chain_step", DOING)?,
            row.opt_text("chain_rest", DOING)?,
        ),
        trace_context: row.opt_text("trace_context", DOING)?,
    })
}

/// Claimed tasks in claiming order: priority, then due time, then id (`RETURNING` itself
/// promises no order).
pub(crate) fn in_claiming_order(mut tasks: Vec<ClaimedTask>) -> Vec<ClaimedTask> {
    tasks.sort_by(|a, b| {
        b.priority
            .cmp(&a.priority)
            .then(a.run_at.cmp(&b.run_at))
            .then(a.id.cmp(&b.id))
    });
    tasks
}

/// A chain link from its stored columns.
fn chain_link(id: Option<i64>, step: Option<i64>, rest: Option<String>) -> Option<ChainLink> {
    Some(ChainLink {
        id: id?,
        step: step.unwrap_or(1) as u32,
        rest: rest
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default(),
    })
}

/// The steps after a chain's step, as stored (a JSON array of job names).
pub(crate) fn chain_rest(rest: &[String]) -> String {
    serde_json::to_string(rest).unwrap_or_else(|_| "[]".into())
}

/// The columns [`execution`] reads.
pub(crate) const EXECUTION_COLUMNS: &str = "id, job, task_id, attempt, trigger, scheduled_at, \
     started_at, finished_at, duration_ms, status, error, records_processed, runner_id, \
     chain_id, chain_step, result, progress";

/// The latest history row of each job, the same statement on every backend: the job names
/// one index step each (a loose scan of the `(job, id)` index), then each job's latest row;
/// a `GROUP BY` would read every history row's entry.
pub(crate) fn last_executions_statement() -> String {
    format!(
        "WITH RECURSIVE names(job) AS (\
             SELECT MIN(job) FROM jobs_executions \
             UNION ALL \
             SELECT (SELECT MIN(job) FROM jobs_executions WHERE job > names.job) \
             FROM names WHERE names.job IS NOT NULL) \
         SELECT {EXECUTION_COLUMNS} FROM jobs_executions WHERE id IN (\
             SELECT (SELECT MAX(id) FROM jobs_executions e WHERE e.job = names.job) \
             FROM names WHERE names.job IS NOT NULL)"
    )
}

/// Every step of task `$1`'s chain (a chain's id is its first task's, which may not hold it
/// itself), the same statement on every backend: two reads joined, each through its own
/// index (the primary key, the chained tasks' index), where an OR of the two makes SQLite
/// scan the table.
pub(crate) const CHAIN_OF_TASK: &str = "SELECT id, COALESCE(chain_step, 1) AS step, job, state FROM jobs_tasks \
     WHERE id = (SELECT COALESCE(chain_id, id) FROM jobs_tasks WHERE id = $1) \
     UNION \
     SELECT id, COALESCE(chain_step, 1) AS step, job, state FROM jobs_tasks \
     WHERE chain_id = (SELECT COALESCE(chain_id, id) FROM jobs_tasks WHERE id = $1) \
     ORDER BY step, id";

/// A history row, from [`EXECUTION_COLUMNS`].
pub(crate) fn execution(row: &impl Columns) -> Result<Execution, StoreError> {
    const DOING: &str = "reading the execution history";
    let status = row.text("status", DOING)?;
    Ok(Execution {
        id: row.int("id", DOING)?,
        job: row.text("job", DOING)?,
        task_id: row.int("task_id", DOING)?,
        attempt: row.int("attempt", DOING)? as u32,
        trigger: trigger(row, DOING)?,
        scheduled_at: instant(row.int("scheduled_at", DOING)?),
        started_at: instant(row.int("started_at", DOING)?),
        finished_at: instant(row.int("finished_at", DOING)?),
        duration_ms: row.int("duration_ms", DOING)?,
        status: ExecutionStatus::from_name(&status)
            .ok_or_else(|| corrupt(DOING, format!("unknown status `{status}`")))?,
        error: row.opt_text("error", DOING)?,
        records_processed: row.opt_int("records_processed", DOING)?,
        runner_id: row.text("runner_id", DOING)?,
        chain_id: row.opt_int("chain_id", DOING)?,
        chain_step: row.opt_int("chain_step", DOING)?,
        result: row.opt_text("result", DOING)?.map(json),
        progress: row.opt_text("progress", DOING)?.map(json),
    })
}

/// The columns [`schedule`] reads.
pub(crate) const SCHEDULE_COLUMNS: &str = "id, job, cron, every_ms, timezone, args, enabled, \
     catch_up, in_code, created_at, updated_at";

/// A stored schedule, from [`SCHEDULE_COLUMNS`].
pub(crate) fn schedule(row: &impl Columns) -> Result<ScheduleRow, StoreError> {
    const DOING: &str = "reading a schedule";
    Ok(ScheduleRow {
        id: row.text("id", DOING)?,
        job: row.text("job", DOING)?,
        cron: row.opt_text("cron", DOING)?,
        every_ms: row.opt_int("every_ms", DOING)?,
        timezone: row.text("timezone", DOING)?,
        args: json(row.text("args", DOING)?),
        enabled: row.int("enabled", DOING)? != 0,
        catch_up: row.text("catch_up", DOING)?,
        in_code: row.int("in_code", DOING)? != 0,
        created_at: instant(row.int("created_at", DOING)?),
        updated_at: instant(row.int("updated_at", DOING)?),
    })
}

/// The columns [`runner`] reads.
pub(crate) const RUNNER_COLUMNS: &str = "id, host, pid, queues, started_at, heartbeat_at";

/// A registered runner, from [`RUNNER_COLUMNS`].
pub(crate) fn runner(row: &impl Columns) -> Result<RunnerRow, StoreError> {
    const DOING: &str = "listing runners";
    Ok(RunnerRow {
        id: row.text("id", DOING)?,
        host: row.text("host", DOING)?,
        pid: row.int("pid", DOING)?,
        queues: row.text("queues", DOING)?,
        started_at: instant(row.int("started_at", DOING)?),
        heartbeat_at: instant(row.int("heartbeat_at", DOING)?),
    })
}

/// The columns [`event`] reads.
pub(crate) const EVENT_COLUMNS: &str =
    "source, event_id, job, kind, fields, task_id, error, received_at";

/// A recorded event, from [`EVENT_COLUMNS`].
pub(crate) fn event(row: &impl Columns) -> Result<EventRow, StoreError> {
    const DOING: &str = "listing events";
    let fields = row.text("fields", DOING)?;
    Ok(EventRow {
        source: row.text("source", DOING)?,
        event_id: row.text("event_id", DOING)?,
        job: row.text("job", DOING)?,
        kind: row.text("kind", DOING)?,
        fields: serde_json::from_str(&fields).unwrap_or(serde_json::Value::Null),
        task_id: row.opt_int("task_id", DOING)?,
        error: row.opt_text("error", DOING)?,
        received_at: instant(row.int("received_at", DOING)?),
    })
}

/// A job's run-time limits, from `job, concurrency, rate_count, rate_window_ms, updated_at`.
pub(crate) fn limit_override(row: &impl Columns) -> Result<LimitOverride, StoreError> {
    const DOING: &str = "listing run-time limits";
    let count = |column: &str| -> Result<Option<u32>, StoreError> {
        Ok(row
            .opt_int(column, DOING)?
            .map(|n| u32::try_from(n.max(0)).unwrap_or(u32::MAX)))
    };
    Ok(LimitOverride {
        job: row.text("job", DOING)?,
        concurrency: count("concurrency")?,
        rate_count: count("rate_count")?,
        rate_window_ms: row.opt_int("rate_window_ms", DOING)?,
        updated_at: instant(row.int("updated_at", DOING)?),
    })
}

/// A step of a chain, from its `id`, `step`, `job` and `state` columns.
pub(crate) fn chain_step(row: &impl Columns) -> Result<ChainStep, StoreError> {
    const DOING: &str = "reading a chain's step";
    let state = row.text("state", DOING)?;
    Ok(ChainStep {
        task_id: row.int("id", DOING)?,
        step: row.int("step", DOING)?,
        job: row.text("job", DOING)?,
        state: TaskState::from_name(&state)
            .ok_or_else(|| corrupt(DOING, format!("unknown state `{state}`")))?,
    })
}

/// A count of one state, from the `state` and `n` columns; `None` for a state this runner
/// does not know (a newer runner's).
pub(crate) fn state_count(row: &impl Columns) -> Result<Option<(TaskState, i64)>, StoreError> {
    const DOING: &str = "counting tasks by state";
    let state = row.text("state", DOING)?;
    match TaskState::from_name(&state) {
        Some(state) => Ok(Some((state, row.int("n", DOING)?))),
        None => Ok(None),
    }
}

/// The tick that stored a task, from the `schedule_id` and `tick_at` columns.
pub(crate) fn tick_link(row: &impl Columns) -> Result<(String, DateTime<Utc>), StoreError> {
    const DOING: &str = "reading a task's tick";
    Ok((
        row.text("schedule_id", DOING)?,
        instant(row.int("tick_at", DOING)?),
    ))
}

/// The event that stored a task, from the `source` and `event_id` columns.
pub(crate) fn event_link(row: &impl Columns) -> Result<(String, String), StoreError> {
    const DOING: &str = "reading a task's event";
    Ok((row.text("source", DOING)?, row.text("event_id", DOING)?))
}
