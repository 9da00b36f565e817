//! Recording the ends of attempts on PostgreSQL, with their history rows.

use std::collections::HashSet;
use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

use super::{ENDS_CHANNEL, Postgres, announce_task, held_by, insert};
use crate::storage::rows::millis;
use crate::storage::{Completion, Completions, Doing, NewExecution, StoreError, TaskState};

/// Frees the uniqueness keys held by the tasks `ids` that are finished: for their job's
/// period after a success, at once after a death or a cancellation. Inside the caller's
/// transaction, after the tasks' own update.
pub(super) async fn release_keys(
    connection: &mut PgConnection,
    ids: &[i64],
) -> Result<(), StoreError> {
    if ids.is_empty() {
        return Ok(());
    }
    sqlx::query(
        "UPDATE jobs_unique SET until = CASE WHEN t.state = 'succeeded' AND jobs_unique.period_ms > 0 \
             THEN t.finished_at + jobs_unique.period_ms ELSE 0 END \
         FROM jobs_tasks t \
         WHERE jobs_unique.task_id = t.id AND t.id = ANY($1) \
           AND t.state IN ('succeeded', 'dead', 'cancelled')",
    )
    // Planned per call, as the completion itself (see below): with the ids in hand the
    // tasks are looked up by id, never through the state index.
    .persistent(false)
    .bind(ids)
    .execute(connection)
    .await
    .doing("freeing uniqueness keys")?;
    Ok(())
}

/// The counters of the per-minute rollup, in the order [`minute_rollup`] writes them.
const MINUTE_COLUMNS: &str = "minute, job, queue, succeeded, failed, dead, cancelled, snoozed, \
     duration_ms, started, waited_ms, max_waited_ms";

/// The statement that adds attempts to the per-minute rollup (`jobs_minutes`), from
/// `source`: a relation with the columns `ended` (when the attempt ended, unix
/// milliseconds), `job`, `queue`, `status`, `duration_ms`, `first` (whether it is the
/// task's first start) and `waited` (how long it waited to start, never negative). The
/// rows are grouped per minute, job and queue, and upserted in the order of that key, so
/// that concurrent batches lock the rows they share in one order and never deadlock.
fn minute_rollup(source: &str) -> String {
    format!(
        "INSERT INTO jobs_minutes ({MINUTE_COLUMNS}) \
         SELECT s.ended / 60000 * 60000, s.job, s.queue, \
             COUNT(*) FILTER (WHERE s.status = 'succeeded'), \
             COUNT(*) FILTER (WHERE s.status IN ('failed', 'panicked', 'timed_out')), \
             COUNT(*) FILTER (WHERE s.status = 'dead'), \
             COUNT(*) FILTER (WHERE s.status = 'cancelled'), \
             COUNT(*) FILTER (WHERE s.status = 'snoozed'), \
             SUM(s.duration_ms)::bigint, \
             COUNT(*) FILTER (WHERE s.first), \
             COALESCE(SUM(s.waited) FILTER (WHERE s.first), 0)::bigint, \
             COALESCE(MAX(s.waited) FILTER (WHERE s.first), 0) \
         FROM {source} s \
         GROUP BY 1, 2, 3 ORDER BY 1, 2, 3 \
         ON CONFLICT (minute, job, queue) DO UPDATE SET \
             succeeded = jobs_minutes.succeeded + EXCLUDED.succeeded, \
             failed = jobs_minutes.failed + EXCLUDED.failed, \
             dead = jobs_minutes.dead + EXCLUDED.dead, \
             cancelled = jobs_minutes.cancelled + EXCLUDED.cancelled, \
             snoozed = jobs_minutes.snoozed + EXCLUDED.snoozed, \
             duration_ms = jobs_minutes.duration_ms + EXCLUDED.duration_ms, \
             started = jobs_minutes.started + EXCLUDED.started, \
             waited_ms = jobs_minutes.waited_ms + EXCLUDED.waited_ms, \
             max_waited_ms = GREATEST(jobs_minutes.max_waited_ms, EXCLUDED.max_waited_ms)"
    )
}

/// What [`write_rows`] writes.
#[derive(Clone, Copy)]
enum Write {
    /// History rows and their counts in the rollup.
    Both,
    /// History rows only (their counts are added later in the same transaction).
    History,
    /// Counts in the rollup only.
    Rollup,
}

/// The statement of [`write_rows`]: rows from one array per column; history rows, and the
/// attempts added to the per-minute rollup (the task's queue and snoozes read by id).
fn history_statement(write: Write) -> String {
    let rows = "WITH e AS (\
             SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::text[], \
                 $5::bigint[], $6::bigint[], $7::bigint[], $8::bigint[], $9::text[], \
                 $10::text[], $11::bigint[], $12::text[], $13::bigint[], $14::bigint[], \
                 $15::text[], $16::text[]) \
             AS e(task_id, job, attempt, trigger, scheduled_at, started_at, finished_at, \
                 duration_ms, status, error, records, runner_id, chain_id, chain_step, \
                 result, progress))";
    let history = "INSERT INTO jobs_executions (task_id, job, attempt, trigger, scheduled_at, \
             started_at, finished_at, duration_ms, status, error, records_processed, \
             runner_id, chain_id, chain_step, result, progress) \
         SELECT * FROM e";
    let rollup = minute_rollup(
        "(SELECT e.finished_at AS ended, e.job, t.queue, e.status, e.duration_ms, \
             $17::boolean AND e.attempt = 1 \
                 AND t.snoozes - (e.status = 'snoozed')::int = 0 AS first, \
             GREATEST(e.started_at - e.scheduled_at, 0) AS waited \
         FROM e JOIN jobs_tasks t ON t.id = e.task_id)",
    );
    match write {
        Write::Both => format!("{rows}, history AS ({history}) {rollup}"),
        Write::History => format!("{rows} {history}"),
        Write::Rollup => format!("{rows} {rollup}"),
    }
}

static WRITE_BOTH: LazyLock<String> = LazyLock::new(|| history_statement(Write::Both));
static WRITE_HISTORY: LazyLock<String> = LazyLock::new(|| history_statement(Write::History));
static WRITE_ROLLUP: LazyLock<String> = LazyLock::new(|| history_statement(Write::Rollup));

/// Writes history rows and adds their attempts to the per-minute rollup, inside the
/// caller's transaction, with one statement: every history row is written here (or, for a
/// completion batch, by the same rollup inside its own statement). `ran`: whether the
/// attempts ran (`false` for the cancellation of a pending task, which never started).
pub(super) async fn write_history(
    connection: &mut PgConnection,
    rows: &[&NewExecution],
    ran: bool,
) -> Result<(), StoreError> {
    write_rows(connection, rows, ran, Write::Both).await
}

/// Writes what `write` says of `rows` inside the caller's transaction, with one statement:
/// one array per column, read with `UNNEST`.
async fn write_rows(
    connection: &mut PgConnection,
    rows: &[&NewExecution],
    ran: bool,
    write: Write,
) -> Result<(), StoreError> {
    const DOING: &str = "writing the execution history";
    if rows.is_empty() {
        return Ok(());
    }
    let n = rows.len();
    let mut task_id = Vec::with_capacity(n);
    let mut job = Vec::with_capacity(n);
    let mut attempt = Vec::with_capacity(n);
    let mut trigger = Vec::with_capacity(n);
    let mut scheduled_at = Vec::with_capacity(n);
    let mut started_at = Vec::with_capacity(n);
    let mut finished_at = Vec::with_capacity(n);
    let mut duration_ms = Vec::with_capacity(n);
    let mut status = Vec::with_capacity(n);
    let mut error = Vec::with_capacity(n);
    let mut records = Vec::with_capacity(n);
    let mut runner_id = Vec::with_capacity(n);
    let mut chain_id = Vec::with_capacity(n);
    let mut chain_step = Vec::with_capacity(n);
    let mut result = Vec::with_capacity(n);
    let mut progress = Vec::with_capacity(n);
    for e in rows {
        task_id.push(e.task_id);
        job.push(e.job.as_str());
        attempt.push(i64::from(e.attempt));
        trigger.push(e.trigger.as_str());
        scheduled_at.push(millis(e.scheduled_at));
        started_at.push(millis(e.started_at));
        finished_at.push(millis(e.finished_at));
        duration_ms.push(e.duration_ms());
        status.push(e.status.as_str());
        error.push(e.error.as_deref());
        records.push(e.records());
        runner_id.push(e.runner_id.as_str());
        chain_id.push(e.chain_id);
        chain_step.push(e.chain_step);
        result.push(e.result.as_deref());
        progress.push(e.progress.as_deref());
    }
    let statement = match write {
        Write::Both => WRITE_BOTH.as_str(),
        Write::History => WRITE_HISTORY.as_str(),
        Write::Rollup => WRITE_ROLLUP.as_str(),
    };
    sqlx::query(sqlx::AssertSqlSafe(statement))
        // Planned per call, as the completion batch: the tasks are looked up by id.
        .persistent(false)
        .bind(task_id)
        .bind(job)
        .bind(attempt)
        .bind(trigger)
        .bind(scheduled_at)
        .bind(started_at)
        .bind(finished_at)
        .bind(duration_ms)
        .bind(status)
        .bind(error)
        .bind(records)
        .bind(runner_id)
        .bind(chain_id)
        .bind(chain_step)
        .bind(result)
        .bind(progress)
        .bind(ran)
        .execute(connection)
        .await
        .doing(DOING)?;
    Ok(())
}

/// The statement of a completion batch (see `complete_batch`), with its attempts' counts
/// in the rollup or (`rollup` false) without.
fn complete_batch_statement(rollup: bool) -> String {
    let minutes = if rollup {
        format!(
            "minutes AS ({}), ",
            minute_rollup(
                "(SELECT ended_at AS ended, job, queue, status, duration_ms, \
                     attempt = 1 AND snoozes_before = 0 AS first, \
                     GREATEST(started_at - scheduled_at, 0) AS waited \
                 FROM applied)"
            )
        )
    } else {
        String::new()
    };
    let held = held_by("$16", Some("c.attempt"));
    format!(
        "WITH applied AS (\
                     UPDATE jobs_tasks SET state = c.state, \
                         run_at = COALESCE(c.run_at, jobs_tasks.run_at), \
                         last_error = c.error, finished_at = c.finished_at, \
                         locked_by = NULL, locked_at = NULL, \
                         attempt = jobs_tasks.attempt - c.snoozed, \
                         snoozes = jobs_tasks.snoozes + c.snoozed, \
                         progress = COALESCE(c.progress, jobs_tasks.progress), \
                         cancel_requested_at = NULL \
                     FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::bigint[], \
                         $5::text[], $6::bigint[], $7::text[], $8::text[], $9::bigint[], \
                         $10::bigint[], $11::bigint[], $12::bigint[], $13::text[], \
                         $14::bigint[], $15::text[], $17::bigint[], $18::bigint[], \
                         $19::text[], $20::text[], $21::bigint[]) \
                     AS c(id, attempt, state, run_at, error, finished_at, job, trigger, \
                         scheduled_at, started_at, ended_at, duration_ms, status, records, \
                         runner_id, chain_id, chain_step, result, progress, snoozed) \
                     WHERE jobs_tasks.id = c.id AND {held} \
                     RETURNING jobs_tasks.id, c.job, c.attempt, c.trigger, c.scheduled_at, \
                         c.started_at, c.ended_at, c.duration_ms, c.status, c.error, \
                         c.records, c.runner_id, c.chain_id, c.chain_step, c.result, c.progress, \
                         jobs_tasks.state AS done, jobs_tasks.finished_at AS done_at, \
                         jobs_tasks.awaited, jobs_tasks.queue, jobs_tasks.unique_key, \
                         jobs_tasks.snoozes - c.snoozed AS snoozes_before), \
                 released AS (\
                     UPDATE jobs_unique SET until = CASE WHEN a.done = 'succeeded' AND jobs_unique.period_ms > 0 \
                         THEN a.done_at + jobs_unique.period_ms ELSE 0 END \
                     FROM applied a \
                     WHERE a.unique_key IS NOT NULL AND jobs_unique.task_id = a.id \
                       AND a.done IN ('succeeded', 'dead', 'cancelled')), \
                 history AS (\
                     INSERT INTO jobs_executions (task_id, job, attempt, trigger, scheduled_at, \
                         started_at, finished_at, duration_ms, status, error, \
                         records_processed, runner_id, chain_id, chain_step, result, progress) \
                     SELECT id, job, attempt, trigger, scheduled_at, started_at, ended_at, \
                         duration_ms, status, error, records, runner_id, chain_id, chain_step, \
                         result, progress \
                     FROM applied), \
                 {minutes}\
                 ended AS (\
                     SELECT COUNT(pg_notify($22, id::text)) FROM applied \
                     WHERE awaited = 1 AND done <> 'pending') \
                 SELECT id FROM applied CROSS JOIN ended"
    )
}

static COMPLETE_BATCH: LazyLock<String> = LazyLock::new(|| complete_batch_statement(true));
static COMPLETE_BATCH_UNROLLED: LazyLock<String> =
    LazyLock::new(|| complete_batch_statement(false));

/// Writes the end of many attempts that are not steps of chains, and their history rows,
/// with one statement; returns the ids of the tasks `runner` no longer held. Their counts
/// go to the rollup in the same statement, unless `rollup` is false (the caller adds them
/// later in its transaction).
async fn complete_batch(
    connection: &mut PgConnection,
    runner: &str,
    completions: &[&Completion],
    rollup: bool,
) -> Result<Vec<i64>, StoreError> {
    const DOING: &str = "recording finished attempts";
    if completions.is_empty() {
        return Ok(Vec::new());
    }
    // One statement, so one round trip: the tasks' updates and, for the tasks this
    // runner still held, their history rows (an attempt whose claim was recovered
    // meanwhile already has its history row, written by the rescue).
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
    let mut result = Vec::with_capacity(n);
    let mut progress = Vec::with_capacity(n);
    let mut snoozed = Vec::with_capacity(n);
    for c in completions {
        let e = &c.execution;
        id.push(c.task_id);
        attempt.push(i64::from(c.attempt));
        state.push(c.next_state.as_str());
        run_at.push(c.retry_at.map(millis));
        error.push(e.error.as_deref());
        finished_at.push(c.finishes().then(|| millis(e.finished_at)));
        job.push(e.job.as_str());
        trigger.push(e.trigger.as_str());
        scheduled_at.push(millis(e.scheduled_at));
        started_at.push(millis(e.started_at));
        ended_at.push(millis(e.finished_at));
        duration_ms.push(e.duration_ms());
        status.push(e.status.as_str());
        records.push(e.records());
        runner_id.push(e.runner_id.as_str());
        chain_id.push(e.chain_id);
        chain_step.push(e.chain_step);
        result.push(e.result.as_deref());
        progress.push(e.progress.as_deref());
        snoozed.push(i64::from(c.snoozed));
    }
    // The history rows come from the update's own output, so only the tasks
    // that this runner still held get one, with no second look-up, and so do their
    // counts in the per-minute rollup; the ends of the tasks a caller waits for are
    // announced (none: no NOTIFY at all). One statement, one round trip, atomic.
    let statement = if rollup {
        COMPLETE_BATCH.as_str()
    } else {
        COMPLETE_BATCH_UNROLLED.as_str()
    };
    let applied: HashSet<i64> = sqlx::query(sqlx::AssertSqlSafe(statement))
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
        .bind(result)
        .bind(progress)
        .bind(snoozed)
        .bind(ENDS_CHANNEL)
        .fetch_all(connection)
        .await
        .doing(DOING)?
        .iter()
        .map(|row| row.try_get::<i64, _>(0))
        .collect::<Result<_, _>>()
        .doing(DOING)?;

    Ok(completions
        .iter()
        .filter(|c| !applied.contains(&c.task_id))
        .map(|c| c.task_id)
        .collect())
}

/// Writes the end of one step of a chain, its history row and the next step's task, inside
/// the caller's transaction (which adds the attempt to the rollup); `false` when `runner`
/// no longer holds the task.
async fn complete_step(
    connection: &mut PgConnection,
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
    write_rows(&mut *connection, &[e], true, Write::History).await?;
    if let (TaskState::Succeeded, Some(next)) = (c.next_state, &c.follow_up) {
        let link = &next.link;
        insert::insert_step(
            &mut *connection,
            &next.task,
            Some(link.id),
            link.step,
            &link.rest,
            now,
        )
        .await?;
        announce_task(connection, &next.task.job).await?;
    }
    Ok(true)
}

#[async_trait]
impl Completions for Postgres {
    async fn complete(
        &self,
        runner: &str,
        completions: &[Completion],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError> {
        const DOING: &str = "recording finished attempts";
        let (steps, plain): (Vec<&Completion>, Vec<&Completion>) =
            completions.iter().partition(|c| c.is_chain_step());
        // Without chain steps, one statement: atomic by itself, one round trip.
        if steps.is_empty() {
            let mut connection = self.pool.acquire().await.doing(DOING)?;
            let stale = complete_batch(&mut connection, runner, &plain, true).await?;
            connection.finish().await.doing(DOING)?;
            return Ok(stale);
        }
        // With them, one transaction, all or nothing: a failure leaves every end to be
        // written again. The attempts go to the rollup with one statement at the end, in
        // the rollup's key order, as every other writer does: two such transactions never
        // lock the rollup's rows in opposite orders.
        let mut tx = self.begin(DOING).await?;
        let mut stale = complete_batch(&mut tx, runner, &plain, false).await?;
        for step in steps {
            if !complete_step(&mut tx, runner, step, now).await? {
                stale.push(step.task_id);
            }
        }
        let recorded: Vec<&NewExecution> = completions
            .iter()
            .filter(|c| !stale.contains(&c.task_id))
            .map(|c| &c.execution)
            .collect();
        write_rows(&mut tx, &recorded, true, Write::Rollup).await?;
        tx.commit().await.doing(DOING)?;
        Ok(stale)
    }
}
