//! Tasks in bulk on SQLite: counts, and actions in batches of ids.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{Row, SqliteConnection};

use super::complete::{release_keys, write_history};
use super::{Sqlite, json_batch};
use crate::storage::bulk::{Batch, first_cursor};
use crate::storage::rows::{self, TASK_COLUMNS, millis};
use crate::storage::{
    Bulk, BulkAction, BulkOutcome, Doing, NewExecution, StoreError, TaskCount, TaskFilter,
    bind_all, task_conditions,
};

#[async_trait]
impl Bulk for Sqlite {
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
        let mut outcome = BulkOutcome::default();
        let mut cursor = first_cursor(filter, up_to_id);
        loop {
            let page = TaskFilter {
                before_id: Some(cursor),
                ..filter.clone()
            };
            let (conditions, binds) = task_conditions(&page, 2, true);
            let query = sqlx::query(sqlx::AssertSqlSafe(format!(
                "SELECT id, job FROM jobs_tasks WHERE {conditions} ORDER BY id DESC LIMIT $1"
            )))
            .bind(i64::from(batch.max(1)));
            let found = bind_all(query, binds)
                .fetch_all(&self.pool)
                .await
                .doing(DOING)?;
            let Batch { ids, jobs } = Batch::of(&found)?;
            let Some(&lowest) = ids.last() else {
                return Ok(outcome);
            };
            let _turn = self.write_turn().await;
            let mut tx = self.begin(DOING).await?;
            let applied = match action {
                BulkAction::Retry { extra_attempts } => {
                    let mut applied = 0;
                    for (job, ids) in &jobs {
                        applied += retry(&mut tx, ids, extra_attempts(job), now).await?;
                    }
                    applied
                }
                BulkAction::Cancel { runner } => cancel(&mut tx, &ids, runner, now).await?,
                BulkAction::Delete => delete(&mut tx, &ids).await?,
            };
            tx.commit().await.doing(DOING)?;
            outcome.add(ids.len(), applied);
            if ids.len() < batch.max(1) as usize {
                return Ok(outcome);
            }
            cursor = lowest;
        }
    }
}

/// Retries the dead and cancelled tasks among `ids` (all of `job`), as `Controls::retry`
/// does one; returns how many.
async fn retry(
    tx: &mut SqliteConnection,
    ids: &[i64],
    extra_attempts: u32,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "UPDATE jobs_tasks SET state = 'pending', run_at = $2, finished_at = NULL, \
             max_attempts = attempt + $3 \
         WHERE id IN (SELECT value FROM json_each($1)) AND +state IN ('dead', 'cancelled')",
    )
    .bind(json_batch(ids, "retrying tasks in bulk")?)
    .bind(millis(now))
    .bind(i64::from(extra_attempts.max(1)))
    .execute(&mut *tx)
    .await
    .doing("retrying tasks in bulk")?
    .rows_affected();
    Ok(done)
}

/// Cancels the pending tasks among `ids` and asks the running ones to stop, as
/// `Controls::cancel` does one; returns how many.
async fn cancel(
    tx: &mut SqliteConnection,
    ids: &[i64],
    runner: &str,
    now: DateTime<Utc>,
) -> Result<u64, StoreError> {
    const DOING: &str = "cancelling tasks in bulk";
    let cancelled = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE jobs_tasks SET state = 'cancelled', finished_at = $2 \
         WHERE id IN (SELECT value FROM json_each($1)) AND +state = 'pending' \
         RETURNING {TASK_COLUMNS}"
    )))
    .bind(json_batch(ids, DOING)?)
    .bind(millis(now))
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
    write_history(tx, &history.iter().collect::<Vec<_>>()).await?;
    let cancelled_ids: Vec<i64> = cancelled.iter().map(|task| task.id).collect();
    release_keys(tx, &cancelled_ids).await?;
    // The running ones are asked to stop.
    let requested = sqlx::query(
        "UPDATE jobs_tasks SET cancel_requested_at = COALESCE(cancel_requested_at, $2) \
         WHERE id IN (SELECT value FROM json_each($1)) AND +state = 'running'",
    )
    .bind(json_batch(ids, DOING)?)
    .bind(millis(now))
    .execute(&mut *tx)
    .await
    .doing(DOING)?
    .rows_affected();
    Ok(cancelled.len() as u64 + requested)
}

/// Deletes the finished tasks among `ids`, and releases the uniqueness keys they hold (the
/// cleaner leaves their history rows, and so does this); returns how many.
async fn delete(tx: &mut SqliteConnection, ids: &[i64]) -> Result<u64, StoreError> {
    const DOING: &str = "deleting tasks in bulk";
    let deleted: Vec<i64> = sqlx::query_scalar(
        "DELETE FROM jobs_tasks \
         WHERE id IN (SELECT value FROM json_each($1)) \
           AND +state IN ('succeeded', 'dead', 'cancelled') RETURNING id",
    )
    .bind(json_batch(ids, DOING)?)
    .fetch_all(&mut *tx)
    .await
    .doing(DOING)?;
    if !deleted.is_empty() {
        sqlx::query("DELETE FROM jobs_unique WHERE task_id IN (SELECT value FROM json_each($1))")
            .bind(json_batch(&deleted, DOING)?)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
    }
    Ok(deleted.len() as u64)
}
