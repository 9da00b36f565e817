//! Reading tasks and history on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::Sqlite;
use crate::storage::rows::{
    self, CHAIN_OF_TASK, EXECUTION_COLUMNS, TASK_COLUMNS, last_executions_statement, millis,
};
use crate::storage::{
    Doing, Execution, ExecutionFilter, ExecutionStatus, Pulse, QueueStats, Reads, StoreError,
    TaskEndRow, TaskFilter, TaskLinks, TaskRow, TaskState, bind_all, listing_order,
    task_conditions,
};

#[async_trait]
impl Reads for Sqlite {
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
        // The result is that of the task's last successful attempt (a task retried by hand
        // after a success has one per success).
        let row = sqlx::query(
            "SELECT t.state, t.last_error, \
                 (SELECT e.result FROM jobs_executions e \
                  WHERE e.task_id = t.id AND e.status = 'succeeded' \
                  ORDER BY e.id DESC LIMIT 1) AS result \
             FROM jobs_tasks t WHERE t.id = $1",
        )
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
        let (statement, binds) = listing(filter);
        let query =
            sqlx::query(sqlx::AssertSqlSafe(statement)).bind(i64::from(filter.limit.max(1)));
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
        let latest_execution_id: Option<i64> =
            sqlx::query_scalar("SELECT MAX(id) FROM jobs_executions")
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
        let rows = sqlx::query(sqlx::AssertSqlSafe(history(filter)))
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

/// The statement that lists the tasks of `filter` (its limit bound first), and the values
/// of its conditions.
/// The statement of [`Reads::executions`] for `filter`. A task's attempts are few, and read
/// through the task index: the statement for any filter reads the history newest first, and
/// would go through all of it (a million rows: 70 ms) to fill a page with a task's few.
fn history(filter: &ExecutionFilter) -> String {
    let task = match filter.task_id {
        Some(_) => "task_id = $3",
        None => "$3 IS NULL",
    };
    format!(
        "SELECT {EXECUTION_COLUMNS} FROM jobs_executions \
         WHERE ($1 IS NULL OR job = $1) AND ($2 IS NULL OR status = $2) \
           AND {task} AND ($4 IS NULL OR started_at >= $4) \
           AND ($5 IS NULL OR started_at < $5) AND ($6 IS NULL OR id < $6) \
         ORDER BY id DESC LIMIT $7"
    )
}

fn listing(filter: &TaskFilter) -> (String, Vec<crate::storage::bulk::Bind>) {
    let (order, state_unindexed) = listing_order(filter);
    let (conditions, binds) = task_conditions(filter, 2, state_unindexed);
    (
        format!(
            "SELECT {TASK_COLUMNS} FROM jobs_tasks WHERE {conditions} ORDER BY {order} LIMIT $1"
        ),
        binds,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::ConnectOptions;
    use crate::storage::driver::Migrations;

    /// A task's attempts are read through the task index, not along the whole history.
    #[tokio::test]
    async fn a_tasks_attempts_are_read_through_the_task_index() {
        let sqlite = Sqlite::connect("sqlite::memory:", &ConnectOptions::default())
            .await
            .expect("an SQLite database");
        sqlite.migrate().await.expect("migrate");
        let filter = ExecutionFilter {
            task_id: Some(7),
            limit: 100,
            ..ExecutionFilter::default()
        };
        let plan: Vec<String> = sqlx::query(sqlx::AssertSqlSafe(format!(
            "EXPLAIN QUERY PLAN {}",
            history(&filter)
        )))
        .bind(None::<&str>)
        .bind(None::<&str>)
        .bind(7_i64)
        .bind(None::<i64>)
        .bind(None::<i64>)
        .bind(None::<i64>)
        .bind(100_i64)
        .fetch_all(&sqlite.pool)
        .await
        .expect("a plan")
        .iter()
        .map(|row| row.get::<String, _>("detail"))
        .collect();
        assert!(
            plan.iter()
                .any(|step| step.contains("jobs_executions_task")),
            "{plan:?}"
        );
    }

    /// A page of tasks reads the primary key newest first and stops at the page's end: it
    /// never sorts the tasks of a state (100,000 pending ones). The planner would (it fails
    /// with `+state` left out of the listing). A text search within a state is the
    /// exception: it reads that state's tasks through the state index, never the whole
    /// table.
    #[tokio::test]
    async fn a_page_of_tasks_is_read_newest_first_without_a_sort() {
        let sqlite = Sqlite::connect("sqlite::memory:", &ConnectOptions::default())
            .await
            .expect("an SQLite database");
        sqlite.migrate().await.expect("migrate");
        let now = chrono::Utc::now();
        let filters = [
            TaskFilter {
                state: Some(TaskState::Pending),
                ..TaskFilter::default()
            },
            TaskFilter {
                state: Some(TaskState::Dead),
                job: Some("a".into()),
                since: Some(now),
                before_id: Some(10),
                ..TaskFilter::default()
            },
            TaskFilter {
                queue: Some("q".into()),
                text: Some("x".into()),
                ..TaskFilter::default()
            },
        ];
        let plan = async |filter: &TaskFilter| -> Vec<String> {
            let (statement, binds) = listing(filter);
            let query = sqlx::query(sqlx::AssertSqlSafe(format!(
                "EXPLAIN QUERY PLAN {statement}"
            )))
            .bind(50_i64);
            bind_all(query, binds)
                .fetch_all(&sqlite.pool)
                .await
                .expect("a plan")
                .iter()
                .map(|row| row.get::<String, _>("detail"))
                .collect()
        };
        for filter in filters {
            let plan = plan(&filter).await;
            assert!(
                plan.iter().all(|step| !step.contains("TEMP B-TREE")),
                "{filter:?} sorts: {plan:?}"
            );
        }
        let search = TaskFilter {
            state: Some(TaskState::Dead),
            text: Some("timeout".into()),
            ..TaskFilter::default()
        };
        let plan = plan(&search).await;
        assert!(
            plan.iter().any(|step| step.contains("jobs_tasks_state")),
            "{search:?} does not read the state index: {plan:?}"
        );
    }
}
