//! Tasks in bulk on PostgreSQL: counts, and actions in batches of ids.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

use super::complete::{release_keys, write_history};
use super::{CANCELS_CHANNEL, Postgres, announce_task};
use crate::storage::bulk::up_to;
use crate::storage::rows::{self, TASK_COLUMNS, millis};
use crate::storage::{
    Bulk, BulkAction, BulkOutcome, Doing, NewExecution, StoreError, TaskCount, TaskFilter,
    bind_all, task_conditions,
};

#[async_trait]
impl Bulk for Postgres {
    async fn count_tasks(&self, filter: &TaskFilter) -> Result<TaskCount, StoreError> {
        const DOING: &str = "counting tasks";
        let (conditions, binds) = task_conditions(filter, 1, false);
        let query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT COUNT(*), MAX(id) FROM jobs_tasks WHERE {conditions}"
        )));
        let row = bind_all(query, binds)
            .fetch_one(&self.pool)
            .await
            .doing(DOING)?;
        let count: i64 = row.try_get(0).doing(DOING)?;
        Ok(TaskCount {
            count: count.max(0) as u64,
            up_to_id: row.try_get(1).doing(DOING)?,
        })
    }

    async fn bulk_tasks(
        &self,
        action: &BulkAction<'_>,
        filter: &TaskFilter,
        up_to_id: i64,
        batch: u32,
        now: DateTime<Utc>,
    ) -> Result<BulkOutcome, StoreError> {
        const DOING: &str = "acting on tasks in bulk";
        // The matching ids first, in one read (8 bytes each in memory), newest first; then
        // each batch in its own transaction, where every statement checks the filter again,
        // so that a task that no longer matches is skipped.
        let filter = up_to(filter, up_to_id);
        let (conditions, binds) = task_conditions(&filter, 1, false);
        let query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT id FROM jobs_tasks WHERE {conditions} ORDER BY id DESC"
        )));
        let ids = bind_all(query, binds)
            .fetch_all(&self.pool)
            .await
            .doing(DOING)?
            .iter()
            .map(|row| row.try_get::<i64, _>(0).doing(DOING))
            .collect::<Result<Vec<_>, _>>()?;
        let mut outcome = BulkOutcome::default();
        for ids in ids.chunks(batch.max(1) as usize) {
            let mut tx = self.begin(DOING).await?;
            let applied = match action {
                BulkAction::Retry { extra_attempts } => {
                    let jobs: Vec<String> = sqlx::query_scalar(
                        "SELECT DISTINCT job FROM jobs_tasks WHERE id = ANY($1)",
                    )
                    .persistent(false)
                    .bind(ids)
                    .fetch_all(&mut *tx)
                    .await
                    .doing(DOING)?;
                    let mut applied = 0;
                    for job in &jobs {
                        let extra = extra_attempts(job);
                        applied += retry(&mut tx, &filter, ids, job, extra, now).await?;
                    }
                    applied
                }
                BulkAction::Cancel { runner } => cancel(&mut tx, &filter, ids, runner, now).await?,
                BulkAction::Delete => delete(&mut tx, &filter, ids).await?,
            };
            tx.commit().await.doing(DOING)?;
            outcome.add(ids.len(), applied);
        }
        Ok(outcome)
    }
}

/// Retries the dead and cancelled tasks of `job` among `ids` that still match `filter`, as
/// `Controls::retry` does one; returns how many.
async fn retry(
    tx: &mut PgConnection,
    filter: &TaskFilter,
    ids: &[i64],
    job: &str,
    extra_attempts: u32,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let (conditions, binds) = task_conditions(filter, 5, false);
    let query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE jobs_tasks SET state = 'pending', run_at = $2, finished_at = NULL, \
             max_attempts = attempt + $3 \
         WHERE id = ANY($1) AND job = $4 AND state IN ('dead', 'cancelled') AND {conditions}"
    )))
    .persistent(false)
    .bind(ids)
    .bind(millis(now))
    .bind(i64::from(extra_attempts.max(1)))
    .bind(job);
    let done = bind_all(query, binds)
        .execute(&mut *tx)
        .await
        .doing("retrying tasks in bulk")?
        .rows_affected();
    if done > 0 {
        announce_task(tx, job).await?;
    }
    Ok(done)
}

/// Cancels the pending tasks among `ids` that still match `filter` and asks the running
/// ones to stop, as `Controls::cancel` does one; returns how many.
async fn cancel(
    tx: &mut PgConnection,
    filter: &TaskFilter,
    ids: &[i64],
    runner: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    const DOING: &str = "cancelling tasks in bulk";
    let (conditions, binds) = task_conditions(filter, 3, false);
    let query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE jobs_tasks SET state = 'cancelled', finished_at = $2 \
         WHERE id = ANY($1) AND state = 'pending' AND {conditions} RETURNING {TASK_COLUMNS}"
    )))
    .persistent(false)
    .bind(ids)
    .bind(millis(now));
    let cancelled = bind_all(query, binds)
        .fetch_all(&mut *tx)
        .await
        .doing(DOING)?
        .iter()
        .map(rows::task)
        .collect::<Result<Vec<_>, _>>()?;
    let history: Vec<NewExecution> = cancelled
        .iter()
        .map(|task| NewExecution::cancelled(task, runner, now))
        .collect();
    // Pending tasks never started: their cancellations count no start.
    write_history(tx, &history.iter().collect::<Vec<_>>(), false).await?;
    let cancelled_ids: Vec<i64> = cancelled.iter().map(|task| task.id).collect();
    release_keys(tx, &cancelled_ids).await?;
    // The running ones are asked to stop, and their runners told at once.
    let (conditions, binds) = task_conditions(filter, 3, false);
    let query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE jobs_tasks SET cancel_requested_at = COALESCE(cancel_requested_at, $2) \
         WHERE id = ANY($1) AND state = 'running' AND {conditions} RETURNING id"
    )))
    .persistent(false)
    .bind(ids)
    .bind(millis(now));
    let requested = bind_all(query, binds)
        .fetch_all(&mut *tx)
        .await
        .doing(DOING)?
        .iter()
        .map(|row| row.try_get::<i64, _>(0).doing(DOING))
        .collect::<Result<Vec<_>, _>>()?;
    if !requested.is_empty() {
        sqlx::query("SELECT pg_notify($1, id::text) FROM UNNEST($2::bigint[]) AS id")
            .bind(CANCELS_CHANNEL)
            .bind(&requested)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
    }
    Ok((cancelled.len() + requested.len()) as u64)
}

/// Deletes the finished tasks among `ids` that still match `filter`, and releases the
/// uniqueness keys they hold (the cleaner leaves their history rows, and so does this);
/// returns how many.
async fn delete(
    tx: &mut PgConnection,
    filter: &TaskFilter,
    ids: &[i64],
) -> Result<u64, StoreError> {
    const DOING: &str = "deleting tasks in bulk";
    let (conditions, binds) = task_conditions(filter, 2, false);
    let query = sqlx::query(sqlx::AssertSqlSafe(format!(
        "DELETE FROM jobs_tasks WHERE id = ANY($1) \
           AND state IN ('succeeded', 'dead', 'cancelled') AND {conditions} RETURNING id"
    )))
    .persistent(false)
    .bind(ids);
    let deleted = bind_all(query, binds)
        .fetch_all(&mut *tx)
        .await
        .doing(DOING)?
        .iter()
        .map(|row| row.try_get::<i64, _>(0).doing(DOING))
        .collect::<Result<Vec<_>, _>>()?;
    if !deleted.is_empty() {
        sqlx::query("DELETE FROM jobs_unique WHERE task_id = ANY($1)")
            .bind(&deleted)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
    }
    Ok(deleted.len() as u64)
}
