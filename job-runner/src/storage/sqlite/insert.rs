//! Storing tasks on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Row, SqliteConnection};

use super::{Sqlite, json_batch};
use crate::storage::rows::{chain_rest, millis};
use crate::storage::{ClaimedTask, Doing, Inserts, NewTask, StoreError};

const DOING: &str = "storing tasks";

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
    partition_key: Option<&'a str>,
    /// Left out when there is none (most tasks, when traces are not exported): a missing
    /// key reads as NULL.
    #[serde(skip_serializing_if = "Option::is_none")]
    trace_context: Option<&'a str>,
}

/// Inserts tasks (their uniqueness keys, if any, are not stored) with one statement, inside
/// the caller's transaction; returns their ids in the order of `tasks`.
pub(super) async fn insert_plain(
    connection: &mut SqliteConnection,
    tasks: &[&NewTask],
    now: DateTime<Utc>,
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
            partition_key: t.partition_key.as_deref(),
            trace_context: t.trace_context.as_deref(),
        })
        .collect();
    let mut ids: Vec<i64> = sqlx::query(
        "INSERT INTO jobs_tasks (job, queue, args, state, priority, run_at, scheduled_at, \
             attempt, max_attempts, trigger, exclusive, created_at, partition_key, \
             trace_context) \
         SELECT value->>'job', value->>'queue', value->>'args', 'pending', value->>'priority', \
             value->>'run_at', value->>'scheduled_at', 0, value->>'max_attempts', \
             value->>'trigger', value->>'exclusive', $2, value->>'partition_key', \
             value->>'trace_context' \
         FROM jsonb_each($1) ORDER BY key \
         RETURNING id",
    )
    .bind(json_batch(&rows, DOING)?)
    .bind(millis(now))
    .fetch_all(connection)
    .await
    .doing(DOING)?
    .iter()
    .map(|row| row.try_get::<i64, _>(0))
    .collect::<Result<_, _>>()
    .doing(DOING)?;
    // One statement inserts in the order of the array, so ids ascend with it; RETURNING
    // itself promises no order.
    ids.sort_unstable();
    Ok(ids)
}

/// Inserts one task (its uniqueness key, if any, is not stored) inside the caller's
/// transaction and returns its id.
pub(super) async fn insert_one(
    connection: &mut SqliteConnection,
    task: &NewTask,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let ids = insert_plain(connection, &[task], now).await?;
    ids.first().copied().ok_or_else(|| StoreError::Corrupt {
        doing: DOING,
        detail: "the task was not stored".into(),
    })
}

/// Takes uniqueness key `key` of `task`'s job for a task about to be stored, inside the
/// caller's transaction: `None` when it was free (it is held from now on), or the task that
/// holds it. The key's row is the lock: of two enqueues at once, one takes it.
async fn take_key(
    connection: &mut SqliteConnection,
    task: &NewTask,
    key: &str,
    now: DateTime<Utc>,
) -> Result<Option<i64>, StoreError> {
    const DOING: &str = "taking a uniqueness key";
    let taken = sqlx::query(
        "INSERT INTO jobs_unique (job, key, task_id, until, period_ms) VALUES ($1, $2, NULL, $3, $4) \
         ON CONFLICT (job, key) DO UPDATE SET task_id = NULL, until = excluded.until, \
             period_ms = excluded.period_ms \
         WHERE jobs_unique.until <= $5",
    )
    .bind(&task.job)
    .bind(key)
    .bind(i64::MAX)
    .bind(i64::try_from(task.unique_for.as_millis()).unwrap_or(i64::MAX))
    .bind(millis(now))
    .execute(&mut *connection)
    .await
    .doing(DOING)?;
    if taken.rows_affected() > 0 {
        return Ok(None);
    }
    let holder: Option<i64> =
        sqlx::query_scalar("SELECT task_id FROM jobs_unique WHERE job = $1 AND key = $2")
            .bind(&task.job)
            .bind(key)
            .fetch_one(connection)
            .await
            .doing(DOING)?;
    holder.map(Some).ok_or_else(|| StoreError::Corrupt {
        doing: DOING,
        detail: format!(
            "uniqueness key `{key}` of job `{}` is held by no task",
            task.job
        ),
    })
}

/// Records that task `id` holds the key taken for it, and the key on the task.
async fn hold_key(
    connection: &mut SqliteConnection,
    task: &NewTask,
    key: &str,
    id: i64,
) -> Result<(), StoreError> {
    const DOING: &str = "holding a uniqueness key";
    sqlx::query("UPDATE jobs_unique SET task_id = $3 WHERE job = $1 AND key = $2")
        .bind(&task.job)
        .bind(key)
        .bind(id)
        .execute(&mut *connection)
        .await
        .doing(DOING)?;
    sqlx::query("UPDATE jobs_tasks SET unique_key = $2 WHERE id = $1")
        .bind(id)
        .bind(key)
        .execute(connection)
        .await
        .doing(DOING)?;
    Ok(())
}

/// Stores one step of a chain inside the caller's transaction and returns its task's id;
/// `rest` are the steps after it.
pub(super) async fn insert_step(
    connection: &mut SqliteConnection,
    task: &NewTask,
    chain_id: Option<i64>,
    step: u32,
    rest: &[String],
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    const DOING: &str = "storing a step of a chain";
    sqlx::query(
        "INSERT INTO jobs_tasks (job, queue, args, state, priority, run_at, scheduled_at, \
             attempt, max_attempts, trigger, exclusive, created_at, chain_id, chain_step, \
             chain_rest, partition_key, trace_context) \
         VALUES ($1, $2, $3, 'pending', $4, $5, $6, 0, $7, $8, $9, $10, $11, $12, $13, $14, \
             $15) \
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
    .bind(millis(now))
    .bind(chain_id)
    .bind(i64::from(step))
    .bind(chain_rest(rest))
    .bind(task.partition_key.as_deref())
    .bind(task.trace_context.as_deref())
    .fetch_one(connection)
    .await
    .doing(DOING)?
    .try_get(0)
    .doing(DOING)
}

/// Stores the first step of a chain started at run time inside the caller's transaction:
/// its task knows the steps that follow, and the chain's id is its own.
async fn start_chain(
    connection: &mut SqliteConnection,
    task: &NewTask,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let id = insert_step(&mut *connection, task, None, 1, &task.then, now).await?;
    sqlx::query("UPDATE jobs_tasks SET chain_id = id WHERE id = $1")
        .bind(id)
        .execute(connection)
        .await
        .doing("storing the first step of a chain")?;
    Ok(id)
}

/// Stores tasks in one transaction on `connection`, all or none: a transaction of its own,
/// or a savepoint inside the caller's (the application's own transaction, whose commit
/// makes them visible); returns each task's id and whether it already existed.
pub(crate) async fn insert_tasks_on(
    connection: &mut SqliteConnection,
    tasks: &[NewTask],
    now: DateTime<Utc>,
) -> Result<Vec<(i64, bool)>, StoreError> {
    use sqlx::Connection;
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let mut tx = connection.begin().await.doing(DOING)?;
    let mut ids: Vec<Option<(i64, bool)>> = vec![None; tasks.len()];
    // Tasks without a key go in with one statement; keyed ones one by one, since each
    // may resolve to an existing task.
    let plain: Vec<usize> = (0..tasks.len())
        .filter(|&i| tasks[i].unique_key.is_none() && tasks[i].then.is_empty())
        .collect();
    if !plain.is_empty() {
        let rows: Vec<&NewTask> = plain.iter().map(|&i| &tasks[i]).collect();
        let new_ids = insert_plain(&mut tx, &rows, now).await?;
        for (&i, id) in plain.iter().zip(new_ids) {
            ids[i] = Some((id, false));
        }
    }
    for (i, task) in tasks.iter().enumerate() {
        if !task.then.is_empty() {
            ids[i] = Some((start_chain(&mut tx, task, now).await?, false));
            continue;
        }
        let Some(key) = &task.unique_key else {
            continue;
        };
        ids[i] = Some(match take_key(&mut tx, task, key, now).await? {
            Some(existing) => (existing, true),
            None => {
                let id = insert_one(&mut tx, task, now).await?;
                hold_key(&mut tx, task, key, id).await?;
                (id, false)
            }
        });
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
}

#[async_trait]
impl Inserts for Sqlite {
    async fn insert_tasks(
        &self,
        tasks: &[NewTask],
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, bool)>, StoreError> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let _turn = self.write_turn().await;
        let mut connection = self.pool.acquire().await.doing(DOING)?;
        insert_tasks_on(&mut connection, tasks, now).await
    }

    async fn insert_running_task(
        &self,
        task: &NewTask,
        runner: &str,
        now: DateTime<Utc>,
    ) -> Result<ClaimedTask, StoreError> {
        const DOING: &str = "storing a task to run now";
        let id: i64 = sqlx::query(
            "INSERT INTO jobs_tasks (job, queue, args, state, priority, run_at, scheduled_at, \
                 attempt, max_attempts, trigger, exclusive, locked_by, locked_at, created_at, \
                 partition_key, trace_context) \
             VALUES ($1, $2, $3, 'running', $4, $5, $6, 1, $7, $8, $9, $10, $11, $11, $12, \
                 $13) \
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
        .bind(runner)
        .bind(millis(now))
        .bind(task.partition_key.as_deref())
        .bind(task.trace_context.as_deref())
        .fetch_one(&self.pool)
        .await
        .doing(DOING)?
        .try_get(0)
        .doing(DOING)?;
        Ok(ClaimedTask::first_attempt(id, task))
    }
}
