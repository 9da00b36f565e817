//! Tasks: enqueue, claim in batches, complete in batches, cancel, retry, list.

use std::collections::HashSet;
use std::fmt;

use chrono::{DateTime, Utc};
use job_core::Trigger;
use serde::Serialize;
use sqlx::Row;

use super::executions::{self, NewExecution};
use super::{Db, Dialect, Doing, Store, StoreError, announce, instant, millis, with_pool};

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for its `run_at` (new, delayed, or waiting to be retried).
    Pending,
    /// Claimed by a runner, which is running an attempt.
    Running,
    /// An attempt succeeded.
    Succeeded,
    /// Every attempt failed (or one failed permanently); kept until retried by hand.
    Dead,
    /// Cancelled by hand before it ran.
    Cancelled,
}

impl TaskState {
    /// Every state, in lifecycle order.
    pub const ALL: [TaskState; 5] = [
        TaskState::Pending,
        TaskState::Running,
        TaskState::Succeeded,
        TaskState::Dead,
        TaskState::Cancelled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Dead => "dead",
            TaskState::Cancelled => "cancelled",
        }
    }

    /// The state with this stored name.
    pub fn from_name(name: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task to store.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// The job's name.
    pub job: String,
    /// The queue.
    pub queue: String,
    /// The arguments, as JSON text.
    pub args: String,
    /// Higher runs first.
    pub priority: i32,
    /// Not before this instant.
    pub run_at: DateTime<Utc>,
    /// When it was first due (the tick instant for a cron task).
    pub scheduled_at: DateTime<Utc>,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// Why it exists.
    pub trigger: Trigger,
    /// At most one pending or running task of the job with this key.
    pub unique_key: Option<String>,
    /// Never run while another task of the same job is running.
    pub exclusive: bool,
}

/// A task claimed for one attempt.
#[derive(Debug, Clone)]
pub struct ClaimedTask {
    /// The task's id.
    pub id: i64,
    /// The job's name.
    pub job: String,
    /// The arguments, as JSON text.
    pub args: String,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// Why it exists.
    pub trigger: Trigger,
    /// When it was first due.
    pub scheduled_at: DateTime<Utc>,
    /// When this attempt became due.
    pub run_at: DateTime<Utc>,
    /// Its priority.
    pub priority: i32,
    /// Its place in a chain, when it is a step of one.
    pub chain: Option<ChainLink>,
}

impl ClaimedTask {
    /// Task `id`, stored from `task` and claimed for its first attempt.
    pub(super) fn first_attempt(id: i64, task: &NewTask) -> ClaimedTask {
        ClaimedTask {
            id,
            job: task.job.clone(),
            args: task.args.clone(),
            attempt: 1,
            max_attempts: task.max_attempts,
            trigger: task.trigger,
            scheduled_at: task.scheduled_at,
            run_at: task.run_at,
            priority: task.priority,
            chain: None,
        }
    }
}

/// A task's place in a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    /// The chain: the id of its first task.
    pub id: i64,
    /// The step's number, 1 for the first.
    pub step: u32,
    /// The jobs still to come after this step (a chain started at run time).
    pub rest: Vec<String>,
}

/// The next step of a chain, stored with the success of the previous one.
#[derive(Debug, Clone)]
pub struct FollowUp {
    /// The next step's task.
    pub task: NewTask,
    /// Its place in the chain.
    pub link: ChainLink,
}

/// The end of an attempt, written with its history row.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The task.
    pub task_id: i64,
    /// The attempt that ended.
    pub attempt: u32,
    /// The task's next state: `Pending` (to be retried at `retry_at`), `Succeeded` or `Dead`.
    pub next_state: TaskState,
    /// When to retry, for `Pending`.
    pub retry_at: Option<DateTime<Utc>>,
    /// The history row of the attempt.
    pub execution: NewExecution,
    /// The finished step's place in a chain: it decides how the end is written (with the
    /// next step, in one transaction), while the history row takes the chain from
    /// `execution`; the executor sets both alike.
    pub chain: Option<ChainLink>,
    /// The next step of the chain, stored in the same transaction when the attempt
    /// succeeded.
    pub follow_up: Option<FollowUp>,
}

/// A stored task, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRow {
    /// The id.
    pub id: i64,
    /// The job's name.
    pub job: String,
    /// The queue.
    pub queue: String,
    /// The state.
    pub state: TaskState,
    /// The arguments.
    pub args: serde_json::Value,
    /// Its priority.
    pub priority: i32,
    /// Not before this instant.
    pub run_at: DateTime<Utc>,
    /// When it was first due.
    pub scheduled_at: DateTime<Utc>,
    /// Attempts started.
    pub attempt: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// Why it exists.
    pub trigger: Trigger,
    /// Its uniqueness key.
    pub unique_key: Option<String>,
    /// The runner running it.
    pub locked_by: Option<String>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
    /// The chain it is a step of (the id of the chain's first task), for a chain started at
    /// run time or a step after the first.
    pub chain_id: Option<i64>,
    /// Its step's number in that chain, 1 for the first.
    pub chain_step: Option<i64>,
}

/// Which tasks to list.
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only in this state.
    pub state: Option<TaskState>,
    /// Only in this queue.
    pub queue: Option<String>,
    /// Only of this job.
    pub job: Option<String>,
    /// Only with an id below this (the cursor of the previous page).
    pub before_id: Option<i64>,
    /// At most this many (newest first).
    pub limit: u32,
}

const TASK_COLUMNS: &str = "id, job, queue, state, args, priority, run_at, scheduled_at, attempt, \
     max_attempts, trigger, unique_key, locked_by, last_error, created_at, finished_at, chain_id, \
     chain_step";

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

fn trigger_of(name: &str, doing: &'static str) -> Result<Trigger, StoreError> {
    Trigger::from_name(name).ok_or_else(|| StoreError::Corrupt {
        doing,
        detail: format!("unknown trigger `{name}`"),
    })
}

fn task_row<R>(row: &R) -> Result<TaskRow, StoreError>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    const DOING: &str = "reading a task";
    let state: String = row.try_get("state").doing(DOING)?;
    let args: String = row.try_get("args").doing(DOING)?;
    let trigger: String = row.try_get("trigger").doing(DOING)?;
    Ok(TaskRow {
        id: row.try_get("id").doing(DOING)?,
        job: row.try_get("job").doing(DOING)?,
        queue: row.try_get("queue").doing(DOING)?,
        state: TaskState::from_name(&state).ok_or_else(|| StoreError::Corrupt {
            doing: DOING,
            detail: format!("unknown state `{state}`"),
        })?,
        args: serde_json::from_str(&args).unwrap_or(serde_json::Value::String(args)),
        priority: row.try_get::<i64, _>("priority").doing(DOING)? as i32,
        run_at: instant(row.try_get("run_at").doing(DOING)?),
        scheduled_at: instant(row.try_get("scheduled_at").doing(DOING)?),
        attempt: row.try_get::<i64, _>("attempt").doing(DOING)? as u32,
        max_attempts: row.try_get::<i64, _>("max_attempts").doing(DOING)? as u32,
        trigger: trigger_of(&trigger, DOING)?,
        unique_key: row.try_get("unique_key").doing(DOING)?,
        locked_by: row.try_get("locked_by").doing(DOING)?,
        last_error: row.try_get("last_error").doing(DOING)?,
        created_at: instant(row.try_get("created_at").doing(DOING)?),
        finished_at: row
            .try_get::<Option<i64>, _>("finished_at")
            .doing(DOING)?
            .map(instant),
        chain_id: row.try_get("chain_id").doing(DOING)?,
        chain_step: row.try_get("chain_step").doing(DOING)?,
    })
}

/// Whether a completion ends the task (it is then finished when its attempt ended).
fn finished(c: &Completion) -> bool {
    matches!(c.next_state, TaskState::Succeeded | TaskState::Dead)
}

/// The end of one attempt as SQLite reads it from the JSON array of a batch.
#[derive(Serialize)]
struct JsonCompletion<'a> {
    id: i64,
    attempt: u32,
    state: &'static str,
    run_at: Option<i64>,
    error: Option<&'a str>,
    finished_at: Option<i64>,
}

/// A task without a uniqueness key as SQLite reads it from the JSON array of a batch.
#[derive(Serialize)]
struct JsonTask<'a> {
    job: &'a str,
    queue: &'a str,
    args: &'a str,
    priority: i32,
    run_at: i64,
    scheduled_at: i64,
    max_attempts: u32,
    trigger: &'static str,
    exclusive: i64,
}

/// Inserts tasks without a uniqueness key with one statement, inside the caller's
/// transaction, returning their ids (in no particular order; they ascend with the rows).
pub(super) trait InsertTasks {
    /// `announce`: jobs to announce as having a task due (PostgreSQL only; the caller
    /// announces on SQLite).
    async fn insert_plain(
        &mut self,
        tasks: &[&NewTask],
        now: DateTime<Utc>,
        announce: &[&str],
    ) -> Result<Vec<i64>, StoreError>;

    /// Inserts one task (its uniqueness key, if any, is not stored) and returns its id; the
    /// caller announces it.
    async fn insert_one(&mut self, task: &NewTask, now: DateTime<Utc>) -> Result<i64, StoreError> {
        let ids = self.insert_plain(&[task], now, &[]).await?;
        ids.first().copied().ok_or_else(|| StoreError::Corrupt {
            doing: DOING_INSERT,
            detail: "the task was not stored".into(),
        })
    }
}

const DOING_INSERT: &str = "storing tasks";

impl InsertTasks for sqlx::SqliteConnection {
    async fn insert_plain(
        &mut self,
        tasks: &[&NewTask],
        now: DateTime<Utc>,
        _announce: &[&str],
    ) -> Result<Vec<i64>, StoreError> {
        let rows: Vec<JsonTask<'_>> = tasks
            .iter()
            .map(|t| JsonTask {
                job: &t.job,
                queue: &t.queue,
                args: &t.args,
                priority: t.priority,
                run_at: millis(t.run_at),
                scheduled_at: millis(t.scheduled_at),
                max_attempts: t.max_attempts,
                trigger: t.trigger.as_str(),
                exclusive: i64::from(t.exclusive),
            })
            .collect();
        let rows = serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt {
            doing: DOING_INSERT,
            detail: e.to_string(),
        })?;
        sqlx::query(
            "INSERT INTO jobs_tasks (job, queue, args, state, priority, run_at, scheduled_at, \
                 attempt, max_attempts, trigger, exclusive, created_at) \
             SELECT value->>'job', value->>'queue', value->>'args', 'pending', value->>'priority', \
                 value->>'run_at', value->>'scheduled_at', 0, value->>'max_attempts', \
                 value->>'trigger', value->>'exclusive', $2 \
             FROM jsonb_each($1) ORDER BY key \
             RETURNING id",
        )
        .bind(rows)
        .bind(millis(now))
        .fetch_all(self)
        .await
        .doing(DOING_INSERT)?
        .iter()
        .map(|row| row.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()
        .doing(DOING_INSERT)
    }
}

impl InsertTasks for sqlx::PgConnection {
    async fn insert_plain(
        &mut self,
        tasks: &[&NewTask],
        now: DateTime<Utc>,
        announce: &[&str],
    ) -> Result<Vec<i64>, StoreError> {
        let n = tasks.len();
        let (mut job, mut queue, mut args) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut priority, mut run_at, mut scheduled_at) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut max_attempts, mut trigger, mut exclusive) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for t in tasks {
            job.push(t.job.as_str());
            queue.push(t.queue.as_str());
            args.push(t.args.as_str());
            priority.push(i64::from(t.priority));
            run_at.push(millis(t.run_at));
            scheduled_at.push(millis(t.scheduled_at));
            max_attempts.push(i64::from(t.max_attempts));
            trigger.push(t.trigger.as_str());
            exclusive.push(i64::from(t.exclusive));
        }
        // Arrays, bound in binary: nothing to parse. UNNEST yields the rows in the arrays'
        // order. The announcements of due jobs go with the insert, in the same statement
        // (NOTIFY is delivered when the statement's transaction commits).
        sqlx::query(
            "WITH inserted AS (\
                 INSERT INTO jobs_tasks (job, queue, args, state, priority, run_at, scheduled_at, \
                     attempt, max_attempts, trigger, exclusive, created_at) \
                 SELECT job, queue, args, 'pending', priority, run_at, scheduled_at, 0, \
                     max_attempts, trigger, exclusive, $10 \
                 FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], \
                     $6::bigint[], $7::bigint[], $8::text[], $9::bigint[]) \
                 AS t(job, queue, args, priority, run_at, scheduled_at, max_attempts, trigger, \
                     exclusive) \
                 RETURNING id) \
             SELECT inserted.id FROM inserted \
             CROSS JOIN (SELECT COUNT(pg_notify($11, j)) FROM UNNEST($12::text[]) AS j) AS announced",
        )
        .bind(job)
        .bind(queue)
        .bind(args)
        .bind(priority)
        .bind(run_at)
        .bind(scheduled_at)
        .bind(max_attempts)
        .bind(trigger)
        .bind(exclusive)
        .bind(millis(now))
        .bind(super::TASKS_CHANNEL)
        .bind(announce)
        .fetch_all(self)
        .await
        .doing(DOING_INSERT)?
        .iter()
        .map(|row| row.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()
        .doing(DOING_INSERT)
    }
}

/// Stores one step of a chain inside the caller's transaction and returns its task's id:
/// `insert_step!(tx, task, chain_id, step, rest, now)`, `rest` being the steps after it.
macro_rules! insert_step {
    ($tx:expr, $task:expr, $chain_id:expr, $step:expr, $rest:expr, $now:expr) => {{
        const DOING: &str = "storing a step of a chain";
        let task: &NewTask = $task;
        let id: i64 = sqlx::query(
            "INSERT INTO jobs_tasks (job, queue, args, state, priority, run_at, scheduled_at, \
                 attempt, max_attempts, trigger, exclusive, created_at, chain_id, chain_step, \
                 chain_rest) \
             VALUES ($1, $2, $3, 'pending', $4, $5, $6, 0, $7, $8, $9, $10, $11, $12, $13) \
             RETURNING id",
        )
        .bind(&task.job)
        .bind(&task.queue)
        .bind(&task.args)
        .bind(i64::from(task.priority))
        .bind(millis(task.run_at))
        .bind(millis(task.scheduled_at))
        .bind(i64::from(task.max_attempts))
        .bind(task.trigger.as_str())
        .bind(i64::from(task.exclusive))
        .bind(millis($now))
        .bind($chain_id)
        .bind(i64::from($step))
        .bind(serde_json::to_string($rest).unwrap_or_else(|_| "[]".into()))
        .fetch_one(&mut *$tx)
        .await
        .doing(DOING)?
        .try_get(0)
        .doing(DOING)?;
        id
    }};
}

impl Store {
    /// Stores tasks in one transaction; returns each task's id and whether it already
    /// existed (a pending or running task of the same job with the same uniqueness key).
    pub async fn insert_tasks(
        &self,
        tasks: &[NewTask],
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, bool)>, StoreError> {
        const DOING: &str = "storing tasks";
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let _turn = self.write_turn().await;
        let mut due: Vec<&str> = tasks
            .iter()
            .filter(|t| t.run_at <= now)
            .map(|t| t.job.as_str())
            .collect();
        due.sort_unstable();
        due.dedup();
        // PostgreSQL, no uniqueness key: one statement (so one round trip, atomic by
        // itself) stores the tasks and announces the due ones.
        if let Db::Postgres(pool) = &self.db
            && tasks.iter().all(|t| t.unique_key.is_none())
        {
            let mut connection = pool.acquire().await.doing(DOING)?;
            let rows: Vec<&NewTask> = tasks.iter().collect();
            let mut new_ids = connection.insert_plain(&rows, now, &due).await?;
            // One statement inserts in the order of the arrays, so ids ascend with them;
            // RETURNING itself promises no order.
            new_ids.sort_unstable();
            return Ok(new_ids.into_iter().map(|id| (id, false)).collect());
        }
        with_pool!(self, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin()).await.doing(DOING)?;
            let mut ids: Vec<Option<(i64, bool)>> = vec![None; tasks.len()];
            // Tasks without a key go in with one statement; keyed ones one by one, since
            // each may resolve to an existing task.
            let plain: Vec<usize> = (0..tasks.len())
                .filter(|&i| tasks[i].unique_key.is_none())
                .collect();
            if !plain.is_empty() {
                let rows: Vec<&NewTask> = plain.iter().map(|&i| &tasks[i]).collect();
                let mut new_ids = InsertTasks::insert_plain(&mut *tx, &rows, now, &[]).await?;
                // One statement inserts in the order of the array, so ids ascend with it;
                // RETURNING itself promises no order.
                new_ids.sort_unstable();
                for (&i, id) in plain.iter().zip(new_ids) {
                    ids[i] = Some((id, false));
                }
            }
            for (i, task) in tasks.iter().enumerate() {
                let Some(key) = &task.unique_key else {
                    continue;
                };
                let inserted = sqlx::query(
                    "INSERT INTO jobs_tasks (job, queue, args, state, priority, run_at, scheduled_at, \
                         attempt, max_attempts, trigger, unique_key, exclusive, created_at) \
                     VALUES ($1, $2, $3, 'pending', $4, $5, $6, 0, $7, $8, $9, $10, $11) \
                     ON CONFLICT DO NOTHING RETURNING id",
                )
                .bind(&task.job)
                .bind(&task.queue)
                .bind(&task.args)
                .bind(i64::from(task.priority))
                .bind(millis(task.run_at))
                .bind(millis(task.scheduled_at))
                .bind(i64::from(task.max_attempts))
                .bind(task.trigger.as_str())
                .bind(key)
                .bind(i64::from(task.exclusive))
                .bind(millis(now))
                .fetch_optional(&mut *tx)
                .await
                .doing(DOING)?;
                ids[i] = Some(match inserted {
                    Some(row) => (row.try_get(0).doing(DOING)?, false),
                    None => {
                        let existing: i64 = sqlx::query(
                            "SELECT id FROM jobs_tasks WHERE job = $1 AND unique_key = $2 \
                             AND state IN ('pending', 'running')",
                        )
                        .bind(&task.job)
                        .bind(key)
                        .fetch_one(&mut *tx)
                        .await
                        .doing(DOING)?
                        .try_get(0)
                        .doing(DOING)?;
                        (existing, true)
                    }
                });
            }
            for &job in &due {
                announce!(tx, dialect, job);
            }
            tx.commit().await.doing(DOING)?;
            ids.into_iter()
                .map(|id| {
                    id.ok_or_else(|| StoreError::Corrupt {
                        doing: DOING,
                        detail: "a task was not stored".into(),
                    })
                })
                .collect()
        })
    }

    /// Claims up to `limit` due tasks of `job` for `runner`, counting their attempt.
    /// Nothing is claimed while the job is paused; an `exclusive` job gets at most one
    /// task, and none while another of its tasks runs.
    pub async fn claim(
        &self,
        job: &str,
        runner: &str,
        now: DateTime<Utc>,
        limit: u32,
        exclusive: bool,
    ) -> Result<Vec<ClaimedTask>, StoreError> {
        const DOING: &str = "claiming tasks";
        let limit = if exclusive { 1 } else { limit.max(1) };
        let _turn = self.write_turn().await;
        with_pool!(self, |pool, dialect| {
            let sql = match dialect {
                // The claim index gives the tasks in claiming order: the scan stops after
                // `limit` tasks, however many are pending (without `INDEXED BY`, SQLite
                // picks the index of due tasks and sorts every due task at each claim).
                Dialect::Sqlite => {
                    "UPDATE jobs_tasks SET state = 'running', attempt = attempt + 1, \
                         locked_by = $1, locked_at = $2 \
                     WHERE id IN (\
                         SELECT id FROM jobs_tasks INDEXED BY jobs_tasks_claim \
                         WHERE state = 'pending' AND job = $3 AND run_at <= $2 \
                           AND NOT EXISTS (SELECT 1 FROM jobs_paused WHERE job = $3) \
                           AND ($5 = 0 OR NOT EXISTS (\
                               SELECT 1 FROM jobs_tasks WHERE job = $3 AND state = 'running')) \
                         ORDER BY priority DESC, run_at, id LIMIT $4) \
                     RETURNING id, job, args, attempt, max_attempts, trigger, scheduled_at, run_at, priority, \
                         chain_id, chain_step, chain_rest"
                }
                // SKIP LOCKED: concurrent claimers take different rows instead of waiting.
                Dialect::Postgres => {
                    "UPDATE jobs_tasks SET state = 'running', attempt = attempt + 1, \
                         locked_by = $1, locked_at = $2 \
                     WHERE id IN (\
                         SELECT id FROM jobs_tasks \
                         WHERE state = 'pending' AND job = $3 AND run_at <= $2 \
                           AND NOT EXISTS (SELECT 1 FROM jobs_paused WHERE job = $3) \
                           AND ($5 = 0 OR NOT EXISTS (\
                               SELECT 1 FROM jobs_tasks WHERE job = $3 AND state = 'running')) \
                         ORDER BY priority DESC, run_at, id LIMIT $4 FOR UPDATE SKIP LOCKED) \
                     RETURNING id, job, args, attempt, max_attempts, trigger, scheduled_at, run_at, priority, \
                         chain_id, chain_step, chain_rest"
                }
            };
            let rows = sqlx::query(sql)
                .bind(runner)
                .bind(millis(now))
                .bind(job)
                .bind(i64::from(limit))
                .bind(i64::from(exclusive))
                .fetch_all(pool)
                .await;
            let rows = match rows {
                Ok(rows) => rows,
                // Two runners claimed an exclusive job's tasks at once: the unique index let
                // one through; for the other there is nothing to run now.
                Err(sqlx::Error::Database(e)) if exclusive && e.is_unique_violation() => Vec::new(),
                Err(e) => {
                    return Err(StoreError::Query {
                        doing: DOING,
                        source: e,
                    });
                }
            };
            let mut claimed = rows
                .iter()
                .map(|row| {
                    let trigger: String = row.try_get("trigger").doing(DOING)?;
                    Ok(ClaimedTask {
                        id: row.try_get("id").doing(DOING)?,
                        job: row.try_get("job").doing(DOING)?,
                        args: row.try_get("args").doing(DOING)?,
                        attempt: row.try_get::<i64, _>("attempt").doing(DOING)? as u32,
                        max_attempts: row.try_get::<i64, _>("max_attempts").doing(DOING)? as u32,
                        trigger: trigger_of(&trigger, DOING)?,
                        scheduled_at: instant(row.try_get("scheduled_at").doing(DOING)?),
                        run_at: instant(row.try_get("run_at").doing(DOING)?),
                        priority: row.try_get::<i64, _>("priority").doing(DOING)? as i32,
                        chain: chain_link(
                            row.try_get("chain_id").doing(DOING)?,
                            row.try_get("chain_step").doing(DOING)?,
                            row.try_get("chain_rest").doing(DOING)?,
                        ),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            claimed.sort_by(|a, b| {
                b.priority
                    .cmp(&a.priority)
                    .then(a.run_at.cmp(&b.run_at))
                    .then(a.id.cmp(&b.id))
            });
            Ok(claimed)
        })
    }

    /// The earliest `run_at` among pending tasks of `job`, due or not.
    pub async fn next_due(&self, job: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        const DOING: &str = "looking for the next due task";
        with_pool!(self, |pool, dialect| {
            let next: Option<i64> = sqlx::query(
                "SELECT MIN(run_at) FROM jobs_tasks WHERE state = 'pending' AND job = $1",
            )
            .bind(job)
            .fetch_one(pool)
            .await
            .doing(DOING)?
            .try_get(0)
            .doing(DOING)?;
            Ok(next.map(instant))
        })
    }

    /// Stores `task` already claimed by `runner` for its first attempt (for a run in this
    /// process, such as `job-runner exec`).
    pub async fn insert_running_task(
        &self,
        task: &NewTask,
        runner: &str,
        now: DateTime<Utc>,
    ) -> Result<ClaimedTask, StoreError> {
        const DOING: &str = "storing a task to run now";
        with_pool!(self, |pool, dialect| {
            let id: i64 = sqlx::query(
                "INSERT INTO jobs_tasks (job, queue, args, state, priority, run_at, scheduled_at, \
                     attempt, max_attempts, trigger, exclusive, locked_by, locked_at, created_at) \
                 VALUES ($1, $2, $3, 'running', $4, $5, $6, 1, $7, $8, $9, $10, $11, $11) RETURNING id",
            )
            .bind(&task.job)
            .bind(&task.queue)
            .bind(&task.args)
            .bind(i64::from(task.priority))
            .bind(millis(task.run_at))
            .bind(millis(task.scheduled_at))
            .bind(i64::from(task.max_attempts))
            .bind(task.trigger.as_str())
            .bind(i64::from(task.exclusive))
            .bind(runner)
            .bind(millis(now))
            .fetch_one(pool)
            .await
            .doing(DOING)?
            .try_get(0)
            .doing(DOING)?;
            Ok(ClaimedTask::first_attempt(id, task))
        })
    }

    /// The earliest `run_at` among all pending tasks.
    pub async fn next_due_any(&self) -> Result<Option<DateTime<Utc>>, StoreError> {
        const DOING: &str = "looking for the next due task";
        with_pool!(self, |pool, dialect| {
            let next: Option<i64> =
                sqlx::query("SELECT MIN(run_at) FROM jobs_tasks WHERE state = 'pending'")
                    .fetch_one(pool)
                    .await
                    .doing(DOING)?
                    .try_get(0)
                    .doing(DOING)?;
            Ok(next.map(instant))
        })
    }

    /// Writes the end of many attempts and their history rows. A task that `runner` no
    /// longer holds (its claim was recovered by another runner, which recorded the attempt
    /// as lost) is left alone; its id is returned. The steps of chains are written one by
    /// one, each with the next step's task in the same transaction, so that a crash never
    /// loses or doubles a step. A finished task is finished when its attempt ended; `now`
    /// is when a chain's next step is stored.
    pub async fn complete(
        &self,
        runner: &str,
        completions: &[Completion],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        let chained = |c: &Completion| c.chain.is_some() || c.follow_up.is_some();
        if !completions.iter().any(chained) {
            return self.complete_batch(runner, completions).await;
        }
        let (steps, plain): (Vec<Completion>, Vec<Completion>) =
            completions.iter().cloned().partition(|c| chained(c));
        let mut stale = self.complete_batch(runner, &plain).await?;
        for step in &steps {
            if !self.complete_step(runner, step, now).await? {
                stale.push(step.task_id);
            }
        }
        Ok(stale)
    }

    /// Writes the end of one step of a chain, its history row and the next step's task in
    /// one transaction; `false` when `runner` no longer holds the task.
    async fn complete_step(
        &self,
        runner: &str,
        c: &Completion,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        const DOING: &str = "recording a step of a chain";
        let _turn = self.write_turn().await;
        let e = &c.execution;
        with_pool!(self, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin()).await.doing(DOING)?;
            let held = sqlx::query(
                "UPDATE jobs_tasks SET state = $4, run_at = COALESCE($5, run_at), last_error = $6, \
                     finished_at = $7, locked_by = NULL, locked_at = NULL \
                 WHERE id = $1 AND attempt = $2 AND state = 'running' AND locked_by = $3",
            )
            .bind(c.task_id)
            .bind(i64::from(c.attempt))
            .bind(runner)
            .bind(c.next_state.as_str())
            .bind(c.retry_at.map(millis))
            .bind(e.error.as_deref())
            .bind(finished(c).then(|| millis(e.finished_at)))
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
            if held.rows_affected() == 0 {
                return Ok(false);
            }
            executions::insert_executions!(tx, dialect, &[e]);
            if let (TaskState::Succeeded, Some(next)) = (c.next_state, &c.follow_up) {
                let task = &next.task;
                insert_step!(
                    tx,
                    task,
                    Some(next.link.id),
                    next.link.step,
                    &next.link.rest,
                    now
                );
                announce!(tx, dialect, &task.job);
            }
            tx.commit().await.doing(DOING)?;
            Ok(true)
        })
    }

    /// Stores the first step of a chain started at run time: its task knows the steps that
    /// follow.
    pub async fn insert_chain_start(
        &self,
        task: &NewTask,
        rest: &[String],
        now: DateTime<Utc>,
    ) -> Result<i64, StoreError> {
        const DOING: &str = "storing the first step of a chain";
        let _turn = self.write_turn().await;
        with_pool!(self, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin()).await.doing(DOING)?;
            let id = insert_step!(tx, task, None::<i64>, 1_u32, rest, now);
            // The chain's id is its first task's.
            sqlx::query("UPDATE jobs_tasks SET chain_id = id WHERE id = $1")
                .bind(id)
                .execute(&mut *tx)
                .await
                .doing(DOING)?;
            if task.run_at <= now {
                announce!(tx, dialect, &task.job);
            }
            tx.commit().await.doing(DOING)?;
            Ok(id)
        })
    }

    /// The batched path of [`complete`](Store::complete): writes the end of many attempts and their history rows in one transaction. A task
    /// that `runner` no longer holds (its claim was recovered by another runner, which
    /// recorded the attempt as lost) is left alone; its id is returned.
    async fn complete_batch(
        &self,
        runner: &str,
        completions: &[Completion],
    ) -> Result<Vec<i64>, StoreError> {
        const DOING: &str = "recording finished attempts";
        if completions.is_empty() {
            return Ok(Vec::new());
        }
        let _turn = self.write_turn().await;
        let applied: HashSet<i64> = match &self.db {
            Db::Sqlite(pool) => {
                let updates: Vec<JsonCompletion<'_>> = completions
                    .iter()
                    .map(|c| JsonCompletion {
                        id: c.task_id,
                        attempt: c.attempt,
                        state: c.next_state.as_str(),
                        run_at: c.retry_at.map(millis),
                        error: c.execution.error.as_deref(),
                        finished_at: finished(c).then(|| millis(c.execution.finished_at)),
                    })
                    .collect();
                let updates = serde_json::to_string(&updates).map_err(|e| StoreError::Corrupt {
                    doing: DOING,
                    detail: e.to_string(),
                })?;
                let mut tx = pool
                    .begin_with(Dialect::Sqlite.begin())
                    .await
                    .doing(DOING)?;
                // `jsonb_each` parses the array once; each element is then read in place.
                // The unary `+` keeps SQLite from reaching the tasks through the index of
                // running tasks, which would read the whole array once per running task:
                // each element finds its task by id instead.
                let applied: HashSet<i64> = sqlx::query(
                    "UPDATE jobs_tasks SET state = c.state, \
                         run_at = COALESCE(c.run_at, jobs_tasks.run_at), \
                         last_error = c.error, finished_at = c.finished_at, \
                         locked_by = NULL, locked_at = NULL \
                     FROM (SELECT value->>'id' AS id, value->>'attempt' AS attempt, \
                               value->>'state' AS state, value->>'run_at' AS run_at, \
                               value->>'error' AS error, value->>'finished_at' AS finished_at \
                           FROM jsonb_each($1)) AS c \
                     WHERE jobs_tasks.id = c.id AND jobs_tasks.attempt = c.attempt \
                       AND +jobs_tasks.state = 'running' AND +jobs_tasks.locked_by = $2 \
                     RETURNING jobs_tasks.id",
                )
                .bind(updates)
                .bind(runner)
                .fetch_all(&mut *tx)
                .await
                .doing(DOING)?
                .iter()
                .map(|row| row.try_get::<i64, _>(0))
                .collect::<Result<_, _>>()
                .doing(DOING)?;
                // An attempt whose claim was recovered meanwhile already has its history
                // row (written by the rescue); its late end is not recorded a second time.
                let recorded: Vec<&NewExecution> = completions
                    .iter()
                    .map(|c| &c.execution)
                    .filter(|e| applied.contains(&e.task_id))
                    .collect();
                executions::insert_executions!(tx, Dialect::Sqlite, &recorded);
                tx.commit().await.doing(DOING)?;
                applied
            }
            // One statement, so one round trip: the tasks' updates and, for the tasks this
            // runner still held, their history rows (an attempt whose claim was recovered
            // meanwhile already has its history row, written by the rescue).
            Db::Postgres(pool) => {
                let n = completions.len();
                let mut id = Vec::with_capacity(n);
                let mut attempt = Vec::with_capacity(n);
                let mut state = Vec::with_capacity(n);
                let mut run_at = Vec::with_capacity(n);
                let mut error = Vec::with_capacity(n);
                let mut finished_at = Vec::with_capacity(n);
                let mut job = Vec::with_capacity(n);
                let mut trigger = Vec::with_capacity(n);
                let mut scheduled_at = Vec::with_capacity(n);
                let mut started_at = Vec::with_capacity(n);
                let mut ended_at = Vec::with_capacity(n);
                let mut duration_ms = Vec::with_capacity(n);
                let mut status = Vec::with_capacity(n);
                let mut records = Vec::with_capacity(n);
                let mut runner_id = Vec::with_capacity(n);
                let mut chain_id = Vec::with_capacity(n);
                let mut chain_step = Vec::with_capacity(n);
                for c in completions {
                    let e = &c.execution;
                    id.push(c.task_id);
                    attempt.push(i64::from(c.attempt));
                    state.push(c.next_state.as_str());
                    run_at.push(c.retry_at.map(millis));
                    error.push(e.error.as_deref());
                    finished_at.push(finished(c).then(|| millis(e.finished_at)));
                    job.push(e.job.as_str());
                    trigger.push(e.trigger.as_str());
                    scheduled_at.push(millis(e.scheduled_at));
                    started_at.push(millis(e.started_at));
                    ended_at.push(millis(e.finished_at));
                    duration_ms.push((e.finished_at - e.started_at).num_milliseconds().max(0));
                    status.push(e.status.as_str());
                    records.push(e.records_processed.map(|n| n.min(i64::MAX as u64) as i64));
                    runner_id.push(e.runner_id.as_str());
                    chain_id.push(e.chain_id);
                    chain_step.push(e.chain_step);
                }
                // The history rows come from the update's own output, so only the tasks
                // that this runner still held get one, with no second look-up. One
                // statement, one round trip, atomic.
                sqlx::query(
                    "WITH applied AS (\
                         UPDATE jobs_tasks SET state = c.state, \
                             run_at = COALESCE(c.run_at, jobs_tasks.run_at), \
                             last_error = c.error, finished_at = c.finished_at, \
                             locked_by = NULL, locked_at = NULL \
                         FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], \
                             $5::text[], $6::bigint[], $7::text[], $8::text[], $9::bigint[], \
                             $10::bigint[], $11::bigint[], $12::bigint[], $13::text[], \
                             $14::bigint[], $15::text[], $17::bigint[], $18::bigint[]) \
                         AS c(id, attempt, state, run_at, error, finished_at, job, trigger, \
                             scheduled_at, started_at, ended_at, duration_ms, status, records, \
                             runner_id, chain_id, chain_step) \
                         WHERE jobs_tasks.id = c.id AND jobs_tasks.attempt = c.attempt \
                           AND jobs_tasks.state = 'running' AND jobs_tasks.locked_by = $16 \
                         RETURNING jobs_tasks.id, c.job, c.attempt, c.trigger, c.scheduled_at, \
                             c.started_at, c.ended_at, c.duration_ms, c.status, c.error, \
                             c.records, c.runner_id, c.chain_id, c.chain_step), \
                     history AS (\
                         INSERT INTO jobs_executions (task_id, job, attempt, trigger, scheduled_at, \
                             started_at, finished_at, duration_ms, status, error, \
                             records_processed, runner_id, chain_id, chain_step) \
                         SELECT id, job, attempt, trigger, scheduled_at, started_at, ended_at, \
                             duration_ms, status, error, records, runner_id, chain_id, chain_step \
                         FROM applied) \
                     SELECT id FROM applied",
                )
                // Planned at each call with the batch in hand (an unnamed statement): a
                // plan made once for any batch, on a table without statistics yet, can
                // read the whole batch once per running task (a nested loop over UNNEST);
                // planned with the batch's real size, the join is by hash or by id.
                .persistent(false)
                .bind(id)
                .bind(attempt)
                .bind(state)
                .bind(run_at)
                .bind(error)
                .bind(finished_at)
                .bind(job)
                .bind(trigger)
                .bind(scheduled_at)
                .bind(started_at)
                .bind(ended_at)
                .bind(duration_ms)
                .bind(status)
                .bind(records)
                .bind(runner_id)
                .bind(runner)
                .bind(chain_id)
                .bind(chain_step)
                .fetch_all(pool)
                .await
                .doing(DOING)?
                .iter()
                .map(|row| row.try_get::<i64, _>(0))
                .collect::<Result<_, _>>()
                .doing(DOING)?
            }
        };
        Ok(completions
            .iter()
            .filter(|c| !applied.contains(&c.task_id))
            .map(|c| c.task_id)
            .collect())
    }

    /// Cancels a pending task: it will not run. Records a `cancelled` history row.
    pub async fn cancel(
        &self,
        id: i64,
        runner: &str,
        now: DateTime<Utc>,
    ) -> Result<TaskRow, ControlError> {
        self.transition(id, runner, now, Transition::Cancel).await
    }

    /// Makes a dead or cancelled task pending again, due now, with `extra_attempts` more
    /// attempts than it has used.
    pub async fn retry(
        &self,
        id: i64,
        extra_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<TaskRow, ControlError> {
        self.transition(id, "", now, Transition::Retry(extra_attempts))
            .await
    }

    async fn transition(
        &self,
        id: i64,
        runner: &str,
        now: DateTime<Utc>,
        transition: Transition,
    ) -> Result<TaskRow, ControlError> {
        const DOING: &str = "changing a task";
        with_pool!(self, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin()).await.doing(DOING)?;
            let current = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {TASK_COLUMNS} FROM jobs_tasks WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(&mut *tx)
            .await
            .doing(DOING)?;
            let Some(current) = current else {
                return Err(ControlError::UnknownTask(id));
            };
            let current = task_row(&current)?;
            match transition {
                Transition::Cancel => {
                    if current.state != TaskState::Pending {
                        return Err(ControlError::WrongState {
                            id,
                            state: current.state,
                            action: "cancelled",
                            allowed: "pending",
                        });
                    }
                    sqlx::query(
                        "UPDATE jobs_tasks SET state = 'cancelled', finished_at = $2 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(millis(now))
                    .execute(&mut *tx)
                    .await
                    .doing(DOING)?;
                    let execution = NewExecution::cancelled(&current, runner, now);
                    executions::insert_executions!(tx, dialect, &[&execution]);
                }
                Transition::Retry(extra) => {
                    if !matches!(current.state, TaskState::Dead | TaskState::Cancelled) {
                        return Err(ControlError::WrongState {
                            id,
                            state: current.state,
                            action: "retried",
                            allowed: "dead or cancelled",
                        });
                    }
                    sqlx::query(
                        "UPDATE jobs_tasks SET state = 'pending', run_at = $2, finished_at = NULL, \
                             max_attempts = attempt + $3 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(millis(now))
                    .bind(i64::from(extra.max(1)))
                    .execute(&mut *tx)
                    .await
                    .doing(DOING)?;
                    announce!(tx, dialect, &current.job);
                }
            }
            let updated = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {TASK_COLUMNS} FROM jobs_tasks WHERE id = $1"
            )))
            .bind(id)
            .fetch_one(&mut *tx)
            .await
            .doing(DOING)?;
            let updated = task_row(&updated)?;
            tx.commit().await.doing(DOING)?;
            Ok(updated)
        })
    }

    /// One task.
    pub async fn task(&self, id: i64) -> Result<Option<TaskRow>, StoreError> {
        const DOING: &str = "reading a task";
        with_pool!(self, |pool, dialect| {
            let row = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {TASK_COLUMNS} FROM jobs_tasks WHERE id = $1"
            )))
            .bind(id)
            .fetch_optional(pool)
            .await
            .doing(DOING)?;
            row.as_ref().map(task_row).transpose()
        })
    }

    /// Tasks matching `filter`, newest first.
    pub async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRow>, StoreError> {
        const DOING: &str = "listing tasks";
        with_pool!(self, |pool, dialect| {
            let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT {TASK_COLUMNS} FROM jobs_tasks \
                 WHERE ($1 IS NULL OR state = $1) AND ($2 IS NULL OR queue = $2) \
                   AND ($3 IS NULL OR job = $3) AND ($4 IS NULL OR id < $4) \
                 ORDER BY id DESC LIMIT $5"
            )))
            .bind(filter.state.map(TaskState::as_str))
            .bind(filter.queue.as_deref())
            .bind(filter.job.as_deref())
            .bind(filter.before_id)
            .bind(i64::from(filter.limit.max(1)))
            .fetch_all(pool)
            .await
            .doing(DOING)?;
            rows.iter().map(task_row).collect()
        })
    }

    /// The arguments of up to `limit` pending, running or dead tasks of `job`, oldest first.
    pub async fn stored_args(
        &self,
        job: &str,
        limit: u32,
    ) -> Result<Vec<(i64, serde_json::Value)>, StoreError> {
        const DOING: &str = "reading stored arguments";
        with_pool!(self, |pool, dialect| {
            let rows = sqlx::query(
                "SELECT id, args FROM jobs_tasks WHERE job = $1 AND state IN ('pending', 'running', 'dead') \
                 ORDER BY id LIMIT $2",
            )
            .bind(job)
            .bind(i64::from(limit))
            .fetch_all(pool)
            .await
            .doing(DOING)?;
            rows.iter()
                .map(|row| {
                    let args: String = row.try_get(1).doing(DOING)?;
                    let value =
                        serde_json::from_str(&args).unwrap_or(serde_json::Value::String(args));
                    Ok((row.try_get(0).doing(DOING)?, value))
                })
                .collect()
        })
    }

    /// The distinct job names that have tasks stored, with how many are pending, running or
    /// dead.
    pub async fn stored_jobs(&self) -> Result<Vec<(String, i64)>, StoreError> {
        const DOING: &str = "listing stored jobs";
        with_pool!(self, |pool, dialect| {
            let rows = sqlx::query(
                "SELECT job, SUM(CASE WHEN state IN ('pending', 'running', 'dead') THEN 1 ELSE 0 END) \
                 FROM jobs_tasks GROUP BY job ORDER BY job",
            )
            .fetch_all(pool)
            .await
            .doing(DOING)?;
            rows.iter()
                .map(|row| Ok((row.try_get(0).doing(DOING)?, row.try_get(1).doing(DOING)?)))
                .collect()
        })
    }
}

/// Due tasks of one queue, for metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueStats {
    /// The queue.
    pub queue: String,
    /// Pending tasks due now.
    pub due: i64,
    /// How long the oldest of them has been due, in seconds.
    pub oldest_due_age_seconds: f64,
}

impl Store {
    /// Due pending tasks per queue (paused jobs' tasks included: they wait).
    pub async fn queue_stats(&self, now: DateTime<Utc>) -> Result<Vec<QueueStats>, StoreError> {
        const DOING: &str = "measuring queues";
        with_pool!(self, |pool, dialect| {
            let rows = sqlx::query(
                "SELECT queue, COUNT(*), MIN(run_at) FROM jobs_tasks \
                 WHERE state = 'pending' AND run_at <= $1 GROUP BY queue ORDER BY queue",
            )
            .bind(millis(now))
            .fetch_all(pool)
            .await
            .doing(DOING)?;
            rows.iter()
                .map(|row| {
                    let oldest: i64 = row.try_get(2).doing(DOING)?;
                    Ok(QueueStats {
                        queue: row.try_get(0).doing(DOING)?,
                        due: row.try_get(1).doing(DOING)?,
                        oldest_due_age_seconds: (millis(now) - oldest).max(0) as f64 / 1000.0,
                    })
                })
                .collect()
        })
    }

    /// Dead tasks per job.
    pub async fn dead_counts(&self) -> Result<Vec<(String, i64)>, StoreError> {
        const DOING: &str = "counting dead tasks";
        with_pool!(self, |pool, dialect| {
            let rows = sqlx::query(
                "SELECT job, COUNT(*) FROM jobs_tasks WHERE state = 'dead' GROUP BY job ORDER BY job",
            )
            .fetch_all(pool)
            .await
            .doing(DOING)?;
            rows.iter()
                .map(|row| Ok((row.try_get(0).doing(DOING)?, row.try_get(1).doing(DOING)?)))
                .collect()
        })
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), StoreError> {
        with_pool!(self, |pool, dialect| {
            sqlx::query("SELECT 1")
                .execute(pool)
                .await
                .doing("reaching the database")?;
            Ok(())
        })
    }
}

enum Transition {
    Cancel,
    Retry(u32),
}

/// Why a control action was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No task has this id.
    #[error("no task has id {0}; `job-runner history` shows task ids")]
    UnknownTask(i64),
    /// The task is in a state where the action makes no sense.
    #[error("task {id} is {state}: only {allowed} tasks can be {action}")]
    WrongState {
        /// The task.
        id: i64,
        /// Its state.
        state: TaskState,
        /// What was asked, as a past participle (`cancelled`).
        action: &'static str,
        /// The states where it is allowed.
        allowed: &'static str,
    },
    /// No job has this name.
    #[error("no job named `{0}` is registered; `job-runner list` shows the registered jobs")]
    UnknownJob(String),
    /// The arguments do not fit the job.
    #[error(transparent)]
    InvalidArgs(#[from] job_core::InvalidArgs),
    /// The task could not be enqueued.
    #[error("{0}")]
    Enqueue(String),
    /// The storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
