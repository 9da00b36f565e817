//! Runner processes, their heartbeats, and the recovery of claims whose runner died.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use job_core::Trigger;
use serde::Serialize;
use sqlx::Row;

use super::executions::{self, ExecutionStatus, NewExecution};
use super::{Dialect, Doing, Store, StoreError, announce, instant, millis, with_pool};

/// A registered runner process.
#[derive(Debug, Clone, Serialize)]
pub struct RunnerRow {
    /// Its id: host, process id and a random part.
    pub id: String,
    /// Its host name.
    pub host: String,
    /// Its process id.
    pub pid: i64,
    /// The queues it runs, comma-separated (empty for all).
    pub queues: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
}

/// A task whose runner stopped heartbeating, recovered by another.
#[derive(Debug, Clone)]
pub struct RescuedTask {
    /// The task.
    pub task_id: i64,
    /// The job's name.
    pub job: String,
    /// The attempt that was lost.
    pub attempt: u32,
    /// The runner that lost it.
    pub lost_by: String,
    /// Whether the task goes back to pending (`false`: no attempt left, it is dead).
    pub retried: bool,
}

impl Store {
    /// Registers (or re-registers) a runner with a fresh heartbeat.
    pub async fn register_runner(&self, runner: &RunnerRow) -> Result<(), StoreError> {
        const DOING: &str = "registering the runner";
        with_pool!(self, |pool, dialect| {
            sqlx::query(
                "INSERT INTO jobs_runners (id, host, pid, queues, started_at, heartbeat_at) \
                 VALUES ($1, $2, $3, $4, $5, $6) \
                 ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at",
            )
            .bind(&runner.id)
            .bind(&runner.host)
            .bind(runner.pid)
            .bind(&runner.queues)
            .bind(millis(runner.started_at))
            .bind(millis(runner.heartbeat_at))
            .execute(pool)
            .await
            .doing(DOING)?;
            Ok(())
        })
    }

    /// Renews a runner's heartbeat; `false` when its row is gone (another runner declared it
    /// dead and recovered its claims).
    pub async fn heartbeat(&self, runner: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        const DOING: &str = "renewing the heartbeat";
        with_pool!(self, |pool, dialect| {
            let done = sqlx::query("UPDATE jobs_runners SET heartbeat_at = $2 WHERE id = $1")
                .bind(runner)
                .bind(millis(now))
                .execute(pool)
                .await
                .doing(DOING)?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Removes a runner that stops cleanly.
    pub async fn remove_runner(&self, runner: &str) -> Result<(), StoreError> {
        const DOING: &str = "unregistering the runner";
        with_pool!(self, |pool, dialect| {
            sqlx::query("DELETE FROM jobs_runners WHERE id = $1")
                .bind(runner)
                .execute(pool)
                .await
                .doing(DOING)?;
            Ok(())
        })
    }

    /// The registered runners.
    pub async fn runners(&self) -> Result<Vec<RunnerRow>, StoreError> {
        const DOING: &str = "listing runners";
        with_pool!(self, |pool, dialect| {
            let rows = sqlx::query(
                "SELECT id, host, pid, queues, started_at, heartbeat_at FROM jobs_runners ORDER BY started_at",
            )
            .fetch_all(pool)
            .await
            .doing(DOING)?;
            rows.iter()
                .map(|row| {
                    Ok(RunnerRow {
                        id: row.try_get("id").doing(DOING)?,
                        host: row.try_get("host").doing(DOING)?,
                        pid: row.try_get("pid").doing(DOING)?,
                        queues: row.try_get("queues").doing(DOING)?,
                        started_at: instant(row.try_get("started_at").doing(DOING)?),
                        heartbeat_at: instant(row.try_get("heartbeat_at").doing(DOING)?),
                    })
                })
                .collect()
        })
    }

    /// Recovers the claims of runners whose heartbeat is older than `lease` (or that are
    /// not registered at all), and of `also` (a runner giving up its own claims at
    /// shutdown). Each lost attempt counts: the task goes back to pending, due now, if it
    /// has attempts left, and is dead otherwise; a history row records the loss. Stale
    /// runners are unregistered.
    pub async fn rescue(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        rescuer: &str,
        also: Option<&str>,
    ) -> Result<Vec<RescuedTask>, StoreError> {
        const DOING: &str = "recovering claims of stopped runners";
        let stale_before = millis(now - TimeDelta::from_std(lease).unwrap_or(TimeDelta::MAX));
        with_pool!(self, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin()).await.doing(DOING)?;
            let sql = match dialect {
                Dialect::Sqlite => {
                    "SELECT t.id, t.job, t.attempt, t.max_attempts, t.trigger, t.scheduled_at, \
                         t.locked_at, t.locked_by, t.chain_id, t.chain_step, r.heartbeat_at \
                     FROM jobs_tasks t LEFT JOIN jobs_runners r ON r.id = t.locked_by \
                     WHERE t.state = 'running' \
                       AND (r.id IS NULL OR r.heartbeat_at < $1 OR t.locked_by = $2)"
                }
                // Two rescuers never handle one task: the second skips what the first locked.
                Dialect::Postgres => {
                    "SELECT t.id, t.job, t.attempt, t.max_attempts, t.trigger, t.scheduled_at, \
                         t.locked_at, t.locked_by, t.chain_id, t.chain_step, r.heartbeat_at \
                     FROM jobs_tasks t LEFT JOIN jobs_runners r ON r.id = t.locked_by \
                     WHERE t.state = 'running' \
                       AND (r.id IS NULL OR r.heartbeat_at < $1 OR t.locked_by = $2) \
                     FOR UPDATE OF t SKIP LOCKED"
                }
            };
            let rows = sqlx::query(sql)
                .bind(stale_before)
                .bind(also.unwrap_or(""))
                .fetch_all(&mut *tx)
                .await
                .doing(DOING)?;
            let mut rescued = Vec::with_capacity(rows.len());
            let mut history = Vec::with_capacity(rows.len());
            for row in &rows {
                let task_id: i64 = row.try_get("id").doing(DOING)?;
                let attempt = row.try_get::<i64, _>("attempt").doing(DOING)? as u32;
                let max_attempts = row.try_get::<i64, _>("max_attempts").doing(DOING)? as u32;
                let lost_by: String = row
                    .try_get::<Option<String>, _>("locked_by")
                    .doing(DOING)?
                    .unwrap_or_default();
                let last_seen: Option<i64> = row.try_get("heartbeat_at").doing(DOING)?;
                let retried = attempt < max_attempts;
                let reason = if also == Some(lost_by.as_str()) {
                    format!(
                        "interrupted: runner {lost_by} shut down before attempt {attempt} finished"
                    )
                } else {
                    match last_seen {
                        Some(seen) => format!(
                            "lost: runner {lost_by} stopped heartbeating (last seen {}); attempt {attempt} did not finish",
                            instant(seen).to_rfc3339()
                        ),
                        None => format!(
                            "lost: runner {lost_by} is gone; attempt {attempt} did not finish"
                        ),
                    }
                };
                let moved = sqlx::query(
                    "UPDATE jobs_tasks SET state = $2, run_at = $3, locked_by = NULL, locked_at = NULL, \
                         last_error = $4, finished_at = $5 \
                     WHERE id = $1 AND state = 'running' AND locked_by = $6 AND attempt = $7",
                )
                .bind(task_id)
                .bind(if retried { "pending" } else { "dead" })
                .bind(millis(now))
                .bind(&reason)
                .bind((!retried).then(|| millis(now)))
                .bind(&lost_by)
                .bind(i64::from(attempt))
                .execute(&mut *tx)
                .await
                .doing(DOING)?;
                if moved.rows_affected() == 0 {
                    // Finished or rescued by someone else since it was read.
                    continue;
                }
                if retried {
                    announce!(tx, dialect, row.try_get::<String, _>("job").doing(DOING)?);
                }
                let trigger: String = row.try_get("trigger").doing(DOING)?;
                let locked_at: Option<i64> = row.try_get("locked_at").doing(DOING)?;
                history.push(NewExecution {
                    task_id,
                    job: row.try_get("job").doing(DOING)?,
                    attempt,
                    trigger: Trigger::from_name(&trigger).unwrap_or(Trigger::Enqueue),
                    scheduled_at: instant(row.try_get("scheduled_at").doing(DOING)?),
                    started_at: locked_at.map_or(now, instant),
                    finished_at: now,
                    status: if retried {
                        ExecutionStatus::Failed
                    } else {
                        ExecutionStatus::Dead
                    },
                    error: Some(reason),
                    records_processed: None,
                    runner_id: lost_by.clone(),
                    chain_id: row.try_get("chain_id").doing(DOING)?,
                    chain_step: row.try_get("chain_step").doing(DOING)?,
                });
                rescued.push(RescuedTask {
                    task_id,
                    job: row.try_get("job").doing(DOING)?,
                    attempt,
                    lost_by,
                    retried,
                });
            }
            let refs: Vec<&NewExecution> = history.iter().collect();
            executions::insert_executions!(tx, dialect, &refs);
            sqlx::query("DELETE FROM jobs_runners WHERE heartbeat_at < $1 AND id <> $2")
                .bind(stale_before)
                .bind(rescuer)
                .execute(&mut *tx)
                .await
                .doing(DOING)?;
            tx.commit().await.doing(DOING)?;
            Ok(rescued)
        })
    }
}
