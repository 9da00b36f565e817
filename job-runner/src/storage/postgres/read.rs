//! Reading tasks and history on PostgreSQL.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::Postgres;
use crate::storage::rows::{
    self, CHAIN_OF_TASK, EXECUTION_COLUMNS, TASK_COLUMNS, last_executions_statement, millis,
};
use crate::storage::{
    Doing, Execution, ExecutionFilter, ExecutionStatus, Pulse, QueueStats, Reads, StoreError,
    TaskEndRow, TaskFilter, TaskLinks, TaskRow, TaskState, bind_all, listing_order,
    task_conditions,
};

/// How a task ended: its state, last error and the result of its last successful attempt
/// (a task retried by hand after a success has one per success).
const TASK_END_SQL: &str = "SELECT t.state, t.last_error, \
         (SELECT e.result FROM jobs_executions e \
          WHERE e.task_id = t.id AND e.status = 'succeeded' \
          ORDER BY e.id DESC LIMIT 1) AS result \
     FROM jobs_tasks t WHERE t.id = $1";

/// The id of the newest history row.
const LATEST_EXECUTION_SQL: &str = "SELECT MAX(id) FROM jobs_executions";

/// History rows by job, status, task, start and id, newest first (each parameter cast to
/// its type, so that a NULL of any type reads as "any").
fn executions_statement() -> String {
    format!(
        "SELECT {EXECUTION_COLUMNS} FROM jobs_executions \
         WHERE ($1::TEXT IS NULL OR job = $1::TEXT) \
           AND ($2::TEXT IS NULL OR status = $2::TEXT) \
           AND ($3::BIGINT IS NULL OR task_id = $3::BIGINT) \
           AND ($4::BIGINT IS NULL OR started_at >= $4::BIGINT) \
           AND ($5::BIGINT IS NULL OR started_at < $5::BIGINT) \
           AND ($6::BIGINT IS NULL OR id < $6::BIGINT) \
         ORDER BY id DESC LIMIT $7"
    )
}

/// Every statement that reads the history (partitioned by day of `finished_at`, so that an
/// id names no partition: each must reach its rows through the partitions' indexes) with
/// example parameters, for the test of their plans: `(statement, parameters)`, as
/// [`OVERVIEW_QUERIES`](super::overview::OVERVIEW_QUERIES).
pub fn history_queries() -> Vec<(String, Vec<Option<&'static str>>)> {
    vec![
        (TASK_END_SQL.to_owned(), vec![Some("7")]),
        (LATEST_EXECUTION_SQL.to_owned(), vec![]),
        (last_executions_statement(), vec![]),
        (
            executions_statement(),
            vec![None, None, None, None, None, None, Some("50")],
        ),
        (
            executions_statement(),
            vec![
                Some("job3"),
                None,
                None,
                None,
                None,
                Some("40000"),
                Some("50"),
            ],
        ),
        (
            executions_statement(),
            vec![None, None, Some("7"), None, None, None, Some("50")],
        ),
    ]
}

#[async_trait]
impl Reads for Postgres {
    async fn task(&self, id: i64) -> Result<Option<TaskRow>, StoreError> {
        const DOING: &str = "reading a task";
        let row = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM jobs_tasks WHERE id = $1"
        )))
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .doing(DOING)?;
        row.as_ref().map(rows::task).transpose()
    }

    async fn task_end(&self, id: i64) -> Result<Option<TaskEndRow>, StoreError> {
        const DOING: &str = "reading how a task ended";
        let row = sqlx::query(TASK_END_SQL)
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .doing(DOING)?;
        row.as_ref().map(rows::task_end).transpose()
    }

    async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRow>, StoreError> {
        const DOING: &str = "listing tasks";
        // Newest first by id: the primary key read backwards, or the matching rows of one
        // state read through its index and sorted (never the whole table).
        let (conditions, binds) = task_conditions(filter, 2, false);
        let (order, _) = listing_order(filter);
        let query = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {TASK_COLUMNS} FROM jobs_tasks WHERE {conditions} ORDER BY {order} LIMIT $1"
        )))
        .bind(i64::from(filter.limit.max(1)));
        let rows = bind_all(query, binds)
            .fetch_all(&self.pool)
            .await
            .doing(DOING)?;
        rows.iter().map(rows::task).collect()
    }

    async fn task_links(&self, id: i64) -> Result<TaskLinks, StoreError> {
        const DOING: &str = "reading a task's links";
        let chain = sqlx::query(CHAIN_OF_TASK)
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .doing(DOING)?;
        let mut chain = chain
            .iter()
            .map(rows::chain_step)
            .collect::<Result<Vec<_>, StoreError>>()?;
        if chain.len() < 2 {
            // A task alone: no chain.
            chain.clear();
        }
        let tick =
            sqlx::query("SELECT schedule_id, tick_at FROM jobs_ticks WHERE task_id = $1 LIMIT 1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .doing(DOING)?;
        let event =
            sqlx::query("SELECT source, event_id FROM jobs_events WHERE task_id = $1 LIMIT 1")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .doing(DOING)?;
        Ok(TaskLinks {
            chain,
            tick: tick.as_ref().map(rows::tick_link).transpose()?,
            event: event.as_ref().map(rows::event_link).transpose()?,
        })
    }

    async fn pulse(&self) -> Result<Pulse, StoreError> {
        const DOING: &str = "reading the tasks' pulse";
        // The states an operator watches, never the succeeded ones: those are most of a
        // table that has run for a while, and counting them is a scan (the by-state index
        // leaves them out); a success shows as a new latest history row.
        let counts = sqlx::query(
            "SELECT state, COUNT(*) AS n FROM jobs_tasks \
             WHERE state IN ('pending', 'running', 'dead', 'cancelled') GROUP BY state",
        )
        .fetch_all(&self.pool)
        .await
        .doing(DOING)?;
        let counts = counts
            .iter()
            .filter_map(|row| rows::state_count(row).transpose())
            .collect::<Result<Vec<_>, StoreError>>()?;
        let latest_execution_id: Option<i64> = sqlx::query_scalar(LATEST_EXECUTION_SQL)
            .fetch_one(&self.pool)
            .await
            .doing(DOING)?;
        let paused_queues: Vec<String> =
            sqlx::query_scalar("SELECT queue FROM jobs_queues_paused ORDER BY queue")
                .fetch_all(&self.pool)
                .await
                .doing(DOING)?;
        Ok(Pulse {
            counts,
            latest_execution_id,
            paused_queues,
        })
    }

    async fn stored_args(
        &self,
        job: &str,
        limit: u32,
    ) -> Result<Vec<(i64, serde_json::Value)>, StoreError> {
        const DOING: &str = "reading stored arguments";
        let rows = sqlx::query(
            "SELECT id, args FROM jobs_tasks WHERE job = $1 \
             AND state IN ('pending', 'running', 'dead') ORDER BY id LIMIT $2",
        )
        .bind(job)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await
        .doing(DOING)?;
        rows.iter()
            .map(|row| {
                let args: String = row.try_get(1).doing(DOING)?;
                Ok((row.try_get(0).doing(DOING)?, rows::json(args)))
            })
            .collect()
    }

    async fn stored_jobs(&self) -> Result<Vec<(String, i64)>, StoreError> {
        const DOING: &str = "listing stored jobs";
        let rows = sqlx::query(
            "SELECT job, SUM(CASE WHEN state IN ('pending', 'running', 'dead') THEN 1 ELSE 0 END) \
             FROM jobs_tasks GROUP BY job ORDER BY job",
        )
        .fetch_all(&self.pool)
        .await
        .doing(DOING)?;
        rows.iter()
            .map(|row| Ok((row.try_get(0).doing(DOING)?, row.try_get(1).doing(DOING)?)))
            .collect()
    }

    async fn queue_stats(&self, now: DateTime<Utc>) -> Result<Vec<QueueStats>, StoreError> {
        const DOING: &str = "measuring queues";
        let rows = sqlx::query(
            "SELECT queue, COUNT(*), MIN(run_at) FROM jobs_tasks \
             WHERE state = 'pending' AND run_at <= $1 GROUP BY queue ORDER BY queue",
        )
        .bind(millis(now))
        .fetch_all(&self.pool)
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
    }

    async fn task_counts(&self, state: TaskState) -> Result<Vec<(String, i64)>, StoreError> {
        const DOING: &str = "counting tasks by job";
        let rows = sqlx::query(
            "SELECT job, COUNT(*) FROM jobs_tasks WHERE state = $1 GROUP BY job ORDER BY job",
        )
        .bind(state.as_str())
        .fetch_all(&self.pool)
        .await
        .doing(DOING)?;
        rows.iter()
            .map(|row| Ok((row.try_get(0).doing(DOING)?, row.try_get(1).doing(DOING)?)))
            .collect()
    }

    async fn executions(&self, filter: &ExecutionFilter) -> Result<Vec<Execution>, StoreError> {
        const DOING: &str = "reading the execution history";
        let rows = sqlx::query(sqlx::AssertSqlSafe(executions_statement()))
            .bind(filter.job.as_deref())
            .bind(filter.status.map(ExecutionStatus::as_str))
            .bind(filter.task_id)
            .bind(filter.since.map(millis))
            .bind(filter.until.map(millis))
            .bind(filter.before_id)
            .bind(i64::from(filter.limit.max(1)))
            .fetch_all(&self.pool)
            .await
            .doing(DOING)?;
        rows.iter().map(rows::execution).collect()
    }

    async fn last_executions(&self) -> Result<Vec<Execution>, StoreError> {
        const DOING: &str = "reading the last executions";
        let rows = sqlx::query(sqlx::AssertSqlSafe(last_executions_statement()))
            .fetch_all(&self.pool)
            .await
            .doing(DOING)?;
        rows.iter().map(rows::execution).collect()
    }
}
