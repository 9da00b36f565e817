//! Storing tasks on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

use super::{Postgres, SERVER_NOW, TASKS_CHANNEL, announce_task};
use crate::storage::rows::{chain_rest, millis};
use crate::storage::{ClaimedTask, Doing, Inserts, NewTask, StoreError};

const DOING: &str = "storing tasks";

/// Inserts tasks (their uniqueness keys, if any, are not stored) with one statement, inside
/// the caller's transaction or alone; returns their ids in the order of `tasks`. The jobs
/// in `announce` are announced as having a task due, in the same statement.
pub(super) async fn insert_plain(
    connection: &mut PgConnection,
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
    let (mut partition_key, mut trace_context) = (Vec::with_capacity(n), Vec::with_capacity(n));
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
        partition_key.push(t.partition_key.as_deref());
        trace_context.push(t.trace_context.as_deref());
    }
    // Arrays, bound in binary: nothing to parse. UNNEST yields the rows in the arrays'
    // order. The announcements of due jobs go with the insert, in the same statement
    // (NOTIFY is delivered when the statement's transaction commits).
    let mut ids: Vec<i64> = sqlx::query(
        "WITH inserted AS (\
             INSERT INTO jobs_tasks (job, queue, args, state, priority, run_at, scheduled_at, \
                 attempt, max_attempts, trigger, exclusive, created_at, partition_key, \
                 trace_context) \
             SELECT job, queue, args, 'pending', priority, run_at, scheduled_at, 0, \
                 max_attempts, trigger, exclusive, $10, partition_key, trace_context \
             FROM UNNEST($1::text[], $2::text[], $3::text[], $4::bigint[], $5::bigint[], \
                 $6::bigint[], $7::bigint[], $8::text[], $9::bigint[], $13::text[], \
                 $14::text[]) \
             AS t(job, queue, args, priority, run_at, scheduled_at, max_attempts, trigger, \
                 exclusive, partition_key, trace_context) \
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
    .bind(TASKS_CHANNEL)
    .bind(announce)
    .bind(partition_key)
    .bind(trace_context)
    .fetch_all(connection)
    .await
    .doing(DOING)?
    .iter()
    .map(|row| row.try_get::<i64, _>(0))
    .collect::<Result<_, _>>()
    .doing(DOING)?;
    // One statement inserts in the order of the arrays, so ids ascend with them; RETURNING
    // itself promises no order.
    ids.sort_unstable();
    Ok(ids)
}

/// Inserts one task (its uniqueness key, if any, is not stored) inside the caller's
/// transaction and returns its id; the caller announces it.
pub(super) async fn insert_one(
    connection: &mut PgConnection,
    task: &NewTask,
    now: DateTime<Utc>,
) -> Result<i64, StoreError> {
    let ids = insert_plain(connection, &[task], now, &[]).await?;
    ids.first().copied().ok_or_else(|| StoreError::Corrupt {
        doing: DOING,
        detail: "the task was not stored".into(),
    })
}

/// Takes uniqueness key `key` of `task`'s job for a task about to be stored, inside the
/// caller's transaction: `None` when it was free (it is held from now on), or the task that
/// holds it. The key's row is the lock: of two enqueues at once, one takes it, and the other
/// waits for its commit and finds the key held.
async fn take_key(
    connection: &mut PgConnection,
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
    connection: &mut PgConnection,
    task: &NewTask,
    key: &str,
    id: i64,
) -> Result<(), StoreError> {
    const DOING: &str = "holding a uniqueness key";
    sqlx::query(
        "WITH held AS (UPDATE jobs_unique SET task_id = $3 WHERE job = $1 AND key = $2) \
         UPDATE jobs_tasks SET unique_key = $2 WHERE id = $3",
    )
    .bind(&task.job)
    .bind(key)
    .bind(id)
    .execute(connection)
    .await
    .doing(DOING)?;
    Ok(())
}

/// Stores one step of a chain inside the caller's transaction and returns its task's id;
/// `rest` are the steps after it. The caller announces it.
pub(super) async fn insert_step(
    connection: &mut PgConnection,
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
    connection: &mut PgConnection,
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

/// Stores tasks on `connection`, all or none, and announces the jobs with a task due now:
/// alone or inside the caller's transaction (the application's own, whose commit makes
/// them visible and delivers the announcements); returns each task's id and whether it
/// already existed.
pub(crate) async fn insert_tasks_on(
    connection: &mut PgConnection,
    tasks: &[NewTask],
    now: DateTime<Utc>,
) -> Result<Vec<(i64, bool)>, StoreError> {
    use sqlx::Connection;
    if tasks.is_empty() {
        return Ok(Vec::new());
    }
    let mut due: Vec<&str> = tasks
        .iter()
        .filter(|t| t.run_at <= now)
        .map(|t| t.job.as_str())
        .collect();
    due.sort_unstable();
    due.dedup();
    // No uniqueness key, no chain: one statement (so one round trip, atomic by itself)
    // stores the tasks and announces the due ones.
    if tasks
        .iter()
        .all(|t| t.unique_key.is_none() && t.then.is_empty())
    {
        let rows: Vec<&NewTask> = tasks.iter().collect();
        let ids = insert_plain(connection, &rows, now, &due).await?;
        return Ok(ids.into_iter().map(|id| (id, false)).collect());
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
        let new_ids = insert_plain(&mut tx, &rows, now, &due).await?;
        for (&i, id) in plain.iter().zip(new_ids) {
            ids[i] = Some((id, false));
        }
    } else {
        for &job in &due {
            announce_task(&mut tx, job).await?;
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
impl Inserts for Postgres {
    async fn insert_tasks(
        &self,
        tasks: &[NewTask],
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, bool)>, StoreError> {
        if tasks.is_empty() {
            return Ok(Vec::new());
        }
        let mut connection = self.pool.acquire().await.doing(DOING)?;
        let ids = insert_tasks_on(&mut connection, tasks, now).await?;
        connection.finish().await.doing(DOING)?;
        Ok(ids)
    }

    async fn insert_running_task(
        &self,
        task: &NewTask,
        runner: &str,
        now: DateTime<Utc>,
    ) -> Result<ClaimedTask, StoreError> {
        const DOING: &str = "storing a task to run now";
        let id: i64 = sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO jobs_tasks (job, queue, args, state, priority, run_at, scheduled_at, \
                 attempt, max_attempts, trigger, exclusive, locked_by, locked_at, created_at, \
                 partition_key, trace_context) \
             VALUES ($1, $2, $3, 'running', $4, $5, $6, 1, $7, $8, $9, $10, {SERVER_NOW}, $11, \
                 $12, $13) \
             RETURNING id"
        )))
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
