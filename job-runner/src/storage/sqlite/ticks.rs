//! Cron ticks on SQLite: each tick becomes one task across all runners.

use std::collections::HashSet;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::Row;

use super::{Sqlite, insert, json_batch};
use crate::storage::rows::{instant, millis};
use crate::storage::{
    ClaimedTask, Doing, NewTask, StoreError, TakenTick, TickOutcome, TickTask, Ticks,
};

/// A tick as SQLite reads it from the JSON array of a batch.
#[derive(Serialize)]
struct JsonTick<'a> {
    schedule_id: &'a str,
    tick_at: i64,
    task_id: i64,
}

#[async_trait]
impl Ticks for Sqlite {
    async fn take_tick(
        &self,
        schedule_id: &str,
        tick_at: DateTime<Utc>,
        task: &NewTask,
        now: DateTime<Utc>,
    ) -> Result<TickOutcome, StoreError> {
        const DOING: &str = "taking a cron tick";
        let _turn = self.write_turn().await;
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
        let _turn = self.write_turn().await;
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
        let ids = insert::insert_plain(&mut tx, &tasks, taken[0].tick_at).await?;
        sqlx::query(
            "UPDATE jobs_tasks SET created_at = run_at, state = 'running', attempt = 1, \
                 locked_by = $1, locked_at = run_at \
             WHERE id IN (SELECT value FROM json_each($2))",
        )
        .bind(runner)
        .bind(json_batch(&ids, DOING)?)
        .execute(&mut *tx)
        .await
        .doing(DOING)?;
        let rows: Vec<JsonTick<'_>> = taken
            .iter()
            .zip(&ids)
            .map(|(tick, id)| JsonTick {
                schedule_id: &tick.schedule_id,
                tick_at: millis(tick.tick_at),
                task_id: *id,
            })
            .collect();
        let stored = sqlx::query(
            "INSERT INTO jobs_ticks (schedule_id, tick_at, task_id) \
             SELECT value->>'schedule_id', value->>'tick_at', value->>'task_id' \
             FROM jsonb_each($1) WHERE true ON CONFLICT DO NOTHING",
        )
        .bind(json_batch(&rows, DOING)?)
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
        let _turn = self.write_turn().await;
        let mut tx = self.begin(DOING).await?;
        let untaken_ids: Vec<i64> = untaken.iter().map(|t| t.task_id).collect();
        if !untaken.is_empty() {
            // By the key: the ticks have no index on their task.
            let keys: Vec<JsonTick<'_>> = untaken
                .iter()
                .map(|t| JsonTick {
                    schedule_id: &t.schedule_id,
                    tick_at: millis(t.tick_at),
                    task_id: t.task_id,
                })
                .collect();
            sqlx::query(
                "DELETE FROM jobs_ticks WHERE (schedule_id, tick_at) IN \
                 (SELECT value->>'schedule_id', value->>'tick_at' FROM jsonb_each($1))",
            )
            .bind(json_batch(&keys, DOING)?)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
            sqlx::query(
                "DELETE FROM jobs_tasks WHERE state = 'running' AND attempt = 1 \
                 AND id IN (SELECT value FROM json_each($1))",
            )
            .bind(json_batch(&untaken_ids, DOING)?)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
        }
        if !unclaimed.is_empty() {
            sqlx::query(
                "UPDATE jobs_tasks SET state = 'pending', attempt = 0, locked_by = NULL, \
                     locked_at = NULL \
                 WHERE state = 'running' AND attempt = 1 \
                   AND id IN (SELECT value FROM json_each($1))",
            )
            .bind(json_batch(unclaimed, DOING)?)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
        }
        // The ids of the deleted tasks are handed out again when they were the last stored.
        if let (Some(first), Some(last)) = (untaken_ids.iter().min(), untaken_ids.iter().max()) {
            sqlx::query(
                "UPDATE sqlite_sequence SET seq = $1 WHERE name = 'jobs_tasks' AND seq = $2 \
                 AND NOT EXISTS (SELECT 1 FROM jobs_tasks WHERE id > $1)",
            )
            .bind(first - 1)
            .bind(last)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
        }
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
