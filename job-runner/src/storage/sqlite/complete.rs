//! Recording the ends of attempts on SQLite, with their history rows.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{Row, SqliteConnection};

use super::{Sqlite, insert, json_batch};
use crate::storage::overview::{MinuteRow, roll_up};
use crate::storage::rows::millis;
use crate::storage::{Completion, Completions, Doing, NewExecution, StoreError, TaskState};

/// The end of one attempt as SQLite reads it from the JSON array of a batch.
#[derive(Serialize)]
struct JsonCompletion<'a> {
    id: i64,
    attempt: u32,
    state: &'static str,
    run_at: Option<i64>,
    error: Option<&'a str>,
    finished_at: Option<i64>,
    snoozed: i64,
    progress: Option<&'a str>,
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
    result: Option<&'a str>,
    progress: Option<&'a str>,
}

/// Frees the uniqueness keys held by the tasks `ids` that are finished: for their job's
/// period after a success, at once after a death or a cancellation. Inside the caller's
/// transaction, after the tasks' own update.
pub(super) async fn release_keys(
    connection: &mut SqliteConnection,
    ids: &[i64],
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    // `+t.state`: without it, SQLite's planner walks the state index over every finished
    // task (a million rows in a large history, at each completion batch) instead of
    // looking the few tasks up by id.
    sqlx::query(
        "UPDATE jobs_unique SET until = CASE WHEN t.state = 'succeeded' AND jobs_unique.period_ms > 0 \
             THEN t.finished_at + jobs_unique.period_ms ELSE 0 END \
         FROM jobs_tasks t \
         WHERE t.id IN (SELECT value FROM json_each($1)) AND jobs_unique.task_id = t.id \
           AND +t.state IN ('succeeded', 'dead', 'cancelled')",
    )
    .bind(json_batch(ids, "freeing uniqueness keys")?)
    .execute(connection)
    .await
    .doing("freeing uniqueness keys")?;
    Ok(())
}

/// Writes history rows inside the caller's transaction, with one statement, and adds their
/// attempts to the per-minute rollup (`jobs_minutes`) with a second: every history row is
/// written here. `ran`: whether the attempts ran (`false` for the cancellation of a pending
/// task, which never started).
pub(super) async fn write_history(
    connection: &mut SqliteConnection,
    rows: &[&NewExecution],
    ran: bool,
) -> Result<(), StoreError> {
    write_rows(connection, rows, Some(ran)).await
}

/// Writes history rows, and with `rollup` (whether the attempts ran) adds them to the
/// per-minute rollup; without, the caller adds them itself.
async fn write_rows(
    connection: &mut SqliteConnection,
    rows: &[&NewExecution],
    rollup: Option<bool>,
) -> Result<(), StoreError> {
    const DOING: &str = "writing the execution history";
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
            duration_ms: e.duration_ms(),
            status: e.status.as_str(),
            error: e.error.as_deref(),
            records_processed: e.records(),
            runner_id: &e.runner_id,
            chain_id: e.chain_id,
            chain_step: e.chain_step,
            result: e.result.as_deref(),
            progress: e.progress.as_deref(),
        })
        .collect();
    let batch = json_batch(&json, DOING)?;
    // `jsonb_each` parses the array once; each element is then read in place.
    sqlx::query(
        "INSERT INTO jobs_executions (task_id, job, attempt, trigger, scheduled_at, started_at, \
             finished_at, duration_ms, status, error, records_processed, runner_id, chain_id, \
             chain_step, result, progress) \
         SELECT value->>'task_id', value->>'job', value->>'attempt', value->>'trigger', \
             value->>'scheduled_at', value->>'started_at', value->>'finished_at', \
             value->>'duration_ms', value->>'status', value->>'error', \
             value->>'records_processed', value->>'runner_id', value->>'chain_id', \
             value->>'chain_step', value->>'result', value->>'progress' \
         FROM jsonb_each($1) ORDER BY key",
    )
    .bind(&batch)
    .execute(&mut *connection)
    .await
    .doing(DOING)?;
    let Some(ran) = rollup else {
        return Ok(());
    };
    // Grouped per minute, job and queue (the task's, read by id), so that each row of the
    // rollup is written once per batch. A task's first start is its first attempt before
    // any snooze (`snoozes` already counts this attempt's own).
    sqlx::query(
        "INSERT INTO jobs_minutes (minute, job, queue, succeeded, failed, dead, cancelled, \
             snoozed, duration_ms, started, waited_ms, max_waited_ms) \
         SELECT s.ended / 60000 * 60000 AS m, s.job, s.queue, \
             SUM(s.status = 'succeeded'), \
             SUM(s.status IN ('failed', 'panicked', 'timed_out')), \
             SUM(s.status = 'dead'), SUM(s.status = 'cancelled'), SUM(s.status = 'snoozed'), \
             SUM(s.duration_ms), SUM(s.first), SUM(s.first * s.waited), MAX(s.first * s.waited) \
         FROM (SELECT e.value->>'finished_at' AS ended, e.value->>'job' AS job, t.queue, \
                   e.value->>'status' AS status, e.value->>'duration_ms' AS duration_ms, \
                   ($2 AND e.value->>'attempt' = 1 \
                       AND t.snoozes - (e.value->>'status' = 'snoozed') = 0) AS first, \
                   MAX(e.value->>'started_at' - e.value->>'scheduled_at', 0) AS waited \
               FROM jsonb_each($1) e JOIN jobs_tasks t ON t.id = e.value->>'task_id') s \
         WHERE true GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 \
         ON CONFLICT (minute, job, queue) DO UPDATE SET \
             succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed, \
             dead = dead + excluded.dead, cancelled = cancelled + excluded.cancelled, \
             snoozed = snoozed + excluded.snoozed, \
             duration_ms = duration_ms + excluded.duration_ms, \
             started = started + excluded.started, waited_ms = waited_ms + excluded.waited_ms, \
             max_waited_ms = MAX(max_waited_ms, excluded.max_waited_ms)",
    )
    .bind(&batch)
    .bind(ran)
    .execute(connection)
    .await
    .doing("adding attempts to the per-minute rollup")?;
    Ok(())
}

/// Adds `rows` (in their key's order) to the per-minute rollup, inside the caller's
/// transaction, with one statement.
async fn write_minutes(
    connection: &mut SqliteConnection,
    rows: &[MinuteRow],
) -> Result<(), StoreError> {
    const DOING: &str = "adding attempts to the per-minute rollup";
    if rows.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "INSERT INTO jobs_minutes (minute, job, queue, succeeded, failed, dead, cancelled, \
             snoozed, duration_ms, started, waited_ms, max_waited_ms) \
         SELECT value->>'minute', value->>'job', value->>'queue', value->>'succeeded', \
             value->>'failed', value->>'dead', value->>'cancelled', value->>'snoozed', \
             value->>'duration_ms', value->>'started', value->>'waited_ms', \
             value->>'max_waited_ms' \
         FROM jsonb_each($1) WHERE true ORDER BY key \
         ON CONFLICT (minute, job, queue) DO UPDATE SET \
             succeeded = succeeded + excluded.succeeded, failed = failed + excluded.failed, \
             dead = dead + excluded.dead, cancelled = cancelled + excluded.cancelled, \
             snoozed = snoozed + excluded.snoozed, \
             duration_ms = duration_ms + excluded.duration_ms, \
             started = started + excluded.started, waited_ms = waited_ms + excluded.waited_ms, \
             max_waited_ms = MAX(max_waited_ms, excluded.max_waited_ms)",
    )
    .bind(json_batch(rows, DOING)?)
    .execute(connection)
    .await
    .doing(DOING)?;
    Ok(())
}

/// Writes the end of many attempts that are not steps of chains, and their history rows,
/// inside the caller's transaction; returns the ids of the tasks `runner` no longer held.
async fn complete_batch(
    connection: &mut SqliteConnection,
    runner: &str,
    completions: &[&Completion],
) -> Result<Vec<i64>, StoreError> {
    const DOING: &str = "recording finished attempts";
    if completions.is_empty() {
        return Ok(Vec::new());
    }
    let updates: Vec<JsonCompletion<'_>> = completions
        .iter()
        .map(|c| JsonCompletion {
            id: c.task_id,
            attempt: c.attempt,
            state: c.next_state.as_str(),
            run_at: c.retry_at.map(millis),
            error: c.execution.error.as_deref(),
            finished_at: c.finishes().then(|| millis(c.execution.finished_at)),
            snoozed: i64::from(c.snoozed),
            progress: c.execution.progress.as_deref(),
        })
        .collect();
    let updates = json_batch(&updates, DOING)?;
    // `jsonb_each` parses the array once; each element is then read in place. The unary
    // `+` keeps SQLite from reaching the tasks through the index of running tasks, which
    // would read the whole array once per running task: each element finds its task by
    // id instead.
    let applied: HashMap<i64, (String, i64)> = sqlx::query(
        "UPDATE jobs_tasks SET state = c.state, \
                 run_at = COALESCE(c.run_at, jobs_tasks.run_at), \
                 last_error = c.error, finished_at = c.finished_at, \
                 locked_by = NULL, locked_at = NULL, \
                 attempt = jobs_tasks.attempt - c.snoozed, \
                 snoozes = jobs_tasks.snoozes + c.snoozed, \
                 progress = COALESCE(c.progress, jobs_tasks.progress), \
                 cancel_requested_at = NULL \
             FROM (SELECT value->>'id' AS id, value->>'attempt' AS attempt, \
                       value->>'state' AS state, value->>'run_at' AS run_at, \
                       value->>'error' AS error, value->>'finished_at' AS finished_at, \
                       value->>'snoozed' AS snoozed, value->>'progress' AS progress \
                   FROM jsonb_each($1)) AS c \
             WHERE jobs_tasks.id = c.id AND jobs_tasks.attempt = c.attempt \
               AND +jobs_tasks.state = 'running' AND +jobs_tasks.locked_by = $2 \
             RETURNING jobs_tasks.id, jobs_tasks.queue, jobs_tasks.snoozes",
    )
    .bind(updates)
    .bind(runner)
    .fetch_all(&mut *connection)
    .await
    .doing(DOING)?
    .iter()
    .map(|row| Ok((row.try_get(0)?, (row.try_get(1)?, row.try_get(2)?))))
    .collect::<Result<_, sqlx::Error>>()
    .doing(DOING)?;
    // An attempt whose claim was recovered meanwhile already has its history row
    // (written by the rescue); its late end is not recorded a second time.
    let recorded: Vec<&NewExecution> = completions
        .iter()
        .map(|c| &c.execution)
        .filter(|e| applied.contains_key(&e.task_id))
        .collect();
    write_rows(&mut *connection, &recorded, None).await?;
    // The rollup from what the update returned (each task's queue, and its snoozes, this
    // attempt's own included): summed here, it is one small upsert, with no second read of
    // the batch.
    let minutes = roll_up(completions.iter().filter_map(|c| {
        let (queue, snoozes) = applied.get(&c.task_id)?;
        let first = c.attempt == 1 && *snoozes - i64::from(c.snoozed) == 0;
        Some((&c.execution, queue.as_str(), first))
    }));
    write_minutes(&mut *connection, &minutes).await?;
    let finished: Vec<i64> = completions
        .iter()
        .filter(|c| c.finishes() && applied.contains_key(&c.task_id))
        .map(|c| c.task_id)
        .collect();
    release_keys(connection, &finished).await?;
    Ok(completions
        .iter()
        .filter(|c| !applied.contains_key(&c.task_id))
        .map(|c| c.task_id)
        .collect())
}

/// Writes the end of one step of a chain, its history row and the next step's task, inside
/// the caller's transaction; `false` when `runner` no longer holds the task.
async fn complete_step(
    connection: &mut SqliteConnection,
    runner: &str,
    c: &Completion,
    now: DateTime<Utc>,
) -> Result<bool, StoreError> {
    const DOING: &str = "recording a step of a chain";
    let e = &c.execution;
    let held = sqlx::query(
        "UPDATE jobs_tasks SET state = $4, run_at = COALESCE($5, run_at), last_error = $6, \
                 finished_at = $7, locked_by = NULL, locked_at = NULL, \
                 attempt = attempt - $8, snoozes = snoozes + $8, \
                 progress = COALESCE($9, progress), cancel_requested_at = NULL \
             WHERE id = $1 AND attempt = $2 AND state = 'running' AND locked_by = $3",
    )
    .bind(c.task_id)
    .bind(i64::from(c.attempt))
    .bind(runner)
    .bind(c.next_state.as_str())
    .bind(c.retry_at.map(millis))
    .bind(e.error.as_deref())
    .bind(c.finishes().then(|| millis(e.finished_at)))
    .bind(i64::from(c.snoozed))
    .bind(e.progress.as_deref())
    .execute(&mut *connection)
    .await
    .doing(DOING)?;
    if held.rows_affected() == 0 {
        return Ok(false);
    }
    write_history(&mut *connection, &[e], true).await?;
    if let (TaskState::Succeeded, Some(next)) = (c.next_state, &c.follow_up) {
        let link = &next.link;
        insert::insert_step(
            connection,
            &next.task,
            Some(link.id),
            link.step,
            &link.rest,
            now,
        )
        .await?;
    }
    Ok(true)
}

#[async_trait]
impl Completions for Sqlite {
    async fn complete(
        &self,
        runner: &str,
        completions: &[Completion],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        const DOING: &str = "recording finished attempts";
        let (steps, plain): (Vec<&Completion>, Vec<&Completion>) =
            completions.iter().partition(|c| c.is_chain_step());
        // One transaction, all or nothing: a failure leaves every end to be written again.
        let _turn = self.write_turn().await;
        let mut tx = self.begin(DOING).await?;
        let mut stale = complete_batch(&mut tx, runner, &plain).await?;
        for step in steps {
            if !complete_step(&mut tx, runner, step, now).await? {
                stale.push(step.task_id);
            }
        }
        tx.commit().await.doing(DOING)?;
        Ok(stale)
    }
}
