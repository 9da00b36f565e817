//! Runner processes on PostgreSQL, their heartbeats, and the recovery of claims whose
//! runner died.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::complete::{release_keys, write_history};
use super::{Postgres, SERVER_NOW, announce_task};
use crate::storage::rows::{self, RUNNER_COLUMNS, millis};
use crate::storage::runner::{LOST_CLAIM_COLUMNS, LostClaim, Recovery};
use crate::storage::{
    Doing, KnownJob, NewExecution, RescuedTask, RetryPolicy, RunnerRow, Runners, StoreError,
};

#[async_trait]
impl Runners for Postgres {
    async fn known_jobs(&self) -> Result<Vec<KnownJob>, StoreError> {
        const DOING: &str = "reading the jobs the runners recorded";
        let rows = sqlx::query(
            "SELECT job, queue, priority, max_attempts, exclusive, keyed FROM jobs_known \
             ORDER BY job",
        )
        .fetch_all(&self.pool)
        .await
        .doing(DOING)?;
        rows.iter().map(rows::known_job).collect()
    }

    async fn record_jobs(&self, jobs: &[KnownJob], now: DateTime<Utc>) -> Result<(), StoreError> {
        const DOING: &str = "recording the runner's jobs";
        if jobs.is_empty() {
            return Ok(());
        }
        let n = jobs.len();
        let (mut job, mut queue, mut priority) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut max_attempts, mut exclusive, mut keyed) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        for j in jobs {
            job.push(j.job.as_str());
            queue.push(j.queue.as_str());
            priority.push(i64::from(j.priority));
            max_attempts.push(i64::from(j.max_attempts));
            exclusive.push(i64::from(j.exclusive));
            keyed.push(i64::from(j.keyed));
        }
        sqlx::query(
            "INSERT INTO jobs_known (job, queue, priority, max_attempts, exclusive, keyed, \
                 updated_at) \
             SELECT j.*, $7 FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], \
                 $5::bigint[], $6::bigint[]) AS j \
             ON CONFLICT (job) DO UPDATE SET queue = excluded.queue, \
                 priority = excluded.priority, max_attempts = excluded.max_attempts, \
                 exclusive = excluded.exclusive, keyed = excluded.keyed, \
                 updated_at = excluded.updated_at",
        )
        .bind(job)
        .bind(queue)
        .bind(priority)
        .bind(max_attempts)
        .bind(exclusive)
        .bind(keyed)
        .bind(millis(now))
        .execute(&self.pool)
        .await
        .doing(DOING)?;
        Ok(())
    }

    async fn register_runner(&self, runner: &RunnerRow) -> Result<(), StoreError> {
        const DOING: &str = "registering the runner";
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "INSERT INTO jobs_runners (id, host, pid, queues, started_at, heartbeat_at) \
             VALUES ($1, $2, $3, $4, $5, {SERVER_NOW}) \
             ON CONFLICT (id) DO UPDATE SET heartbeat_at = excluded.heartbeat_at"
        )))
        .bind(&runner.id)
        .bind(&runner.host)
        .bind(runner.pid)
        .bind(&runner.queues)
        .bind(millis(runner.started_at))
        .execute(&self.pool)
        .await
        .doing(DOING)?;
        Ok(())
    }

    /// `now` is the runner's clock; the lease is judged on the server's.
    async fn heartbeat(&self, runner: &str, _now: DateTime<Utc>) -> Result<bool, StoreError> {
        const DOING: &str = "renewing the heartbeat";
        let done = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs_runners SET heartbeat_at = {SERVER_NOW} WHERE id = $1"
        )))
        .bind(runner)
        .execute(&self.pool)
        .await
        .doing(DOING)?;
        Ok(done.rows_affected() > 0)
    }

    async fn remove_runner(&self, runner: &str) -> Result<(), StoreError> {
        const DOING: &str = "unregistering the runner";
        sqlx::query("DELETE FROM jobs_runners WHERE id = $1")
            .bind(runner)
            .execute(&self.pool)
            .await
            .doing(DOING)?;
        Ok(())
    }

    async fn runners(&self) -> Result<Vec<RunnerRow>, StoreError> {
        const DOING: &str = "listing runners";
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {RUNNER_COLUMNS} FROM jobs_runners ORDER BY started_at"
        )))
        .fetch_all(&self.pool)
        .await
        .doing(DOING)?;
        rows.iter().map(rows::runner).collect()
    }

    async fn rescue(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        rescuer: &str,
        also: Option<&str>,
        policy: &dyn RetryPolicy,
    ) -> Result<Vec<RescuedTask>, StoreError> {
        const DOING: &str = "recovering claims of stopped runners";
        let lease = i64::try_from(lease.as_millis()).unwrap_or(i64::MAX);
        let mut tx = self.begin(DOING).await?;
        // Two rescuers never handle one task: the second skips what the first locked.
        let lost = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {LOST_CLAIM_COLUMNS} \
             FROM jobs_tasks t LEFT JOIN jobs_runners r ON r.id = t.locked_by \
             WHERE t.state = 'running' \
               AND (r.heartbeat_at < {SERVER_NOW} - $1 \
                    OR (r.id IS NULL AND t.locked_at < {SERVER_NOW} - $1) \
                    OR t.locked_by = $2) \
             FOR UPDATE OF t SKIP LOCKED"
        )))
        .bind(lease)
        .bind(also.unwrap_or(""))
        .fetch_all(&mut *tx)
        .await
        .doing(DOING)?;
        let mut recovered = Vec::with_capacity(lost.len());
        for row in &lost {
            let recovery = LostClaim::read(row)?.recovery(now, also, policy);
            let moved = sqlx::query(
                "UPDATE jobs_tasks SET state = $2, run_at = $3, locked_by = NULL, \
                     locked_at = NULL, last_error = $4, finished_at = $5, \
                     cancel_requested_at = NULL \
                 WHERE id = $1 AND state = 'running' AND locked_by = $6 AND attempt = $7",
            )
            .bind(recovery.task_id)
            .bind(recovery.next_state.as_str())
            .bind(millis(recovery.retry_at.unwrap_or(now)))
            .bind(&recovery.reason)
            .bind(recovery.retry_at.is_none().then(|| millis(now)))
            .bind(&recovery.lost_by)
            .bind(i64::from(recovery.attempt))
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
            // Unmoved: finished or rescued by someone else since it was read.
            if moved.rows_affected() > 0 {
                if recovery.retry_at.is_some() {
                    announce_task(&mut tx, &recovery.execution.job).await?;
                }
                recovered.push(recovery);
            }
        }
        let history: Vec<&NewExecution> = recovered.iter().map(|r| &r.execution).collect();
        write_history(&mut tx, &history, true).await?;
        let finished: Vec<i64> = recovered
            .iter()
            .filter(|r| r.retry_at.is_none())
            .map(|r| r.task_id)
            .collect();
        release_keys(&mut tx, &finished).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM jobs_runners WHERE heartbeat_at < {SERVER_NOW} - $1 AND id <> $2"
        )))
        .bind(lease)
        .bind(rescuer)
        .execute(&mut *tx)
        .await
        .doing(DOING)?;
        tx.commit().await.doing(DOING)?;
        Ok(recovered.iter().map(Recovery::rescued).collect())
    }
}
