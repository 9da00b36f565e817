//! Cron ticks on PostgreSQL: each tick becomes one task across all runners.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Postgres, SERVER_NOW, announce_task, insert};
use crate::storage::rows::{instant, millis};
use crate::storage::{
    ClaimedTask, Doing, NewTask, StoreError, TakenTick, TickOutcome, TickTask, Ticks,
};

#[async_trait]
impl Ticks for Postgres {
    async fn take_tick(
        &self,
        schedule_id: &str,
        tick_at: DateTime<Utc>,
        task: &NewTask,
        now: DateTime<Utc>,
    ) -> Result<TickOutcome, StoreError> {
        const DOING: &str = "taking a cron tick";
        let mut tx = self.begin(DOING).await?;
        let paused: i64 = sqlx::query("SELECT COUNT(*) FROM jobs_paused WHERE job = $1")
            .bind(&task.job)
            .fetch_one(&mut *tx)
            .await
            .doing(DOING)?
            .try_get(0)
            .doing(DOING)?;
        if paused > 0 {
            return Ok(TickOutcome::Paused);
        }
        let taken = sqlx::query(
            "INSERT INTO jobs_ticks (schedule_id, tick_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(schedule_id)
        .bind(millis(tick_at))
        .execute(&mut *tx)
        .await
        .doing(DOING)?;
        if taken.rows_affected() == 0 {
            return Ok(TickOutcome::AlreadyTaken);
        }
        if task.exclusive {
            let active: i64 = sqlx::query(
                "SELECT COUNT(*) FROM jobs_tasks WHERE job = $1 AND state IN ('pending', 'running')",
            )
            .bind(&task.job)
            .fetch_one(&mut *tx)
            .await
            .doing(DOING)?
            .try_get(0)
            .doing(DOING)?;
            if active > 0 {
                tx.commit().await.doing(DOING)?;
                return Ok(TickOutcome::StillRunning);
            }
        }
        let id = insert::insert_one(&mut tx, task, now).await?;
        sqlx::query("UPDATE jobs_ticks SET task_id = $3 WHERE schedule_id = $1 AND tick_at = $2")
            .bind(schedule_id)
            .bind(millis(tick_at))
            .bind(id)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
        if task.run_at <= now {
            announce_task(&mut tx, &task.job).await?;
        }
        tx.commit().await.doing(DOING)?;
        Ok(TickOutcome::Enqueued(id))
    }

    async fn take_ticks(
        &self,
        ticks: &[TickTask],
        runner: &str,
    ) -> Result<Option<Vec<Option<ClaimedTask>>>, StoreError> {
        const DOING: &str = "taking cron ticks";
        if ticks.is_empty()
            || ticks
                .iter()
                .any(|t| t.task.exclusive || t.task.run_at != t.tick_at)
        {
            return Ok(None);
        }
        let mut tx = self.begin(DOING).await?;
        let paused: HashSet<String> = sqlx::query_scalar("SELECT job FROM jobs_paused")
            .fetch_all(&mut *tx)
            .await
            .doing(DOING)?
            .into_iter()
            .collect();
        let taken: Vec<&TickTask> = ticks
            .iter()
            .filter(|t| !paused.contains(&t.task.job))
            .collect();
        if taken.is_empty() {
            return Ok(Some(vec![None; ticks.len()]));
        }
        let tasks: Vec<&NewTask> = taken.iter().map(|t| &t.task).collect();
        let ids = insert::insert_plain(&mut tx, &tasks, taken[0].tick_at, &[]).await?;
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs_tasks SET created_at = run_at, state = 'running', attempt = 1, \
                 locked_by = $1, locked_at = {SERVER_NOW} \
             WHERE id = ANY($2)"
        )))
        .bind(runner)
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .doing(DOING)?;
        let schedule_ids: Vec<&str> = taken.iter().map(|t| t.schedule_id.as_str()).collect();
        let tick_ats: Vec<i64> = taken.iter().map(|t| millis(t.tick_at)).collect();
        let stored = sqlx::query(
            "INSERT INTO jobs_ticks (schedule_id, tick_at, task_id) \
             SELECT * FROM UNNEST($1::text[], $2::bigint[], $3::bigint[]) ON CONFLICT DO NOTHING",
        )
        .bind(schedule_ids)
        .bind(tick_ats)
        .bind(&ids)
        .execute(&mut *tx)
        .await
        .doing(DOING)?;
        if stored.rows_affected() != ids.len() as u64 {
            tx.rollback().await.doing(DOING)?;
            return Ok(None);
        }
        tx.commit().await.doing(DOING)?;
        let mut ids = ids.into_iter();
        Ok(Some(
            ticks
                .iter()
                .map(|t| {
                    if paused.contains(&t.task.job) {
                        return None;
                    }
                    ids.next().map(|id| ClaimedTask::first_attempt(id, &t.task))
                })
                .collect(),
        ))
    }

    async fn release_ticks(
        &self,
        untaken: &[TakenTick],
        unclaimed: &[i64],
    ) -> Result<(), StoreError> {
        const DOING: &str = "giving back cron ticks";
        if untaken.is_empty() && unclaimed.is_empty() {
            return Ok(());
        }
        let mut tx = self.begin(DOING).await?;
        let untaken_ids: Vec<i64> = untaken.iter().map(|t| t.task_id).collect();
        if !untaken.is_empty() {
            // By the key: the ticks have no index on their task.
            let schedule_ids: Vec<&str> = untaken.iter().map(|t| t.schedule_id.as_str()).collect();
            let tick_ats: Vec<i64> = untaken.iter().map(|t| millis(t.tick_at)).collect();
            sqlx::query(
                "DELETE FROM jobs_ticks WHERE (schedule_id, tick_at) IN \
                 (SELECT * FROM UNNEST($1::text[], $2::bigint[]))",
            )
            .bind(schedule_ids)
            .bind(tick_ats)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
            sqlx::query(
                "DELETE FROM jobs_tasks WHERE state = 'running' AND attempt = 1 \
                 AND id = ANY($1)",
            )
            .bind(&untaken_ids)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
        }
        if !unclaimed.is_empty() {
            sqlx::query(
                "UPDATE jobs_tasks SET state = 'pending', attempt = 0, locked_by = NULL, \
                     locked_at = NULL \
                 WHERE state = 'running' AND attempt = 1 \
                   AND id = ANY($1)",
            )
            .bind(unclaimed)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
        }
        // PostgreSQL's sequences do not go back: the ids of the deleted tasks stay used.
        tx.commit().await.doing(DOING)?;
        Ok(())
    }

    async fn last_tick(&self, schedule_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        const DOING: &str = "reading the last tick";
        let last: Option<i64> =
            sqlx::query("SELECT MAX(tick_at) FROM jobs_ticks WHERE schedule_id = $1")
                .bind(schedule_id)
                .fetch_one(&self.pool)
                .await
                .doing(DOING)?
                .try_get(0)
                .doing(DOING)?;
        Ok(last.map(instant))
    }

    async fn last_ticks(&self) -> Result<Vec<(String, DateTime<Utc>)>, StoreError> {
        const DOING: &str = "reading the last ticks";
        let rows =
            sqlx::query("SELECT schedule_id, MAX(tick_at) FROM jobs_ticks GROUP BY schedule_id")
                .fetch_all(&self.pool)
                .await
                .doing(DOING)?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get(0).doing(DOING)?,
                    instant(row.try_get(1).doing(DOING)?),
                ))
            })
            .collect()
    }
}
