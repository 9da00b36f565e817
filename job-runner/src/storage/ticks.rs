//! Cron ticks: each tick becomes one task across all runners.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use sqlx::{QueryBuilder, Row};

use super::tasks::{ClaimedTask, InsertTasks, NewTask};
use super::{Dialect, Doing, Store, StoreError, announce, millis, with_pool};

/// What became of a tick.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TickOutcome {
    /// This runner took the tick and stored its task.
    Enqueued(i64),
    /// Another runner took it first.
    AlreadyTaken,
    /// The job is paused: the tick is skipped.
    Paused,
    /// An exclusive job's previous run is still pending or running: the tick is skipped.
    StillRunning,
}

/// A tick to take with [`Store::take_ticks`]: the schedule, the instant, and the task it
/// stores.
#[derive(Debug, Clone)]
pub struct TickTask {
    /// The schedule's id.
    pub schedule_id: String,
    /// The tick's instant.
    pub tick_at: DateTime<Utc>,
    /// The task the tick runs.
    pub task: NewTask,
}

/// A tick taken with [`Store::take_ticks`], as [`Store::release_ticks`] gives it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenTick {
    /// The schedule's id.
    pub schedule_id: String,
    /// The tick's instant.
    pub tick_at: DateTime<Utc>,
    /// The tick's task.
    pub task_id: i64,
}

/// Appends `(id, id, ...)` to `query`, each id bound.
fn push_id_list<DB>(query: &mut QueryBuilder<DB>, ids: &[i64])
where
    DB: sqlx::Database,
    for<'q> i64: sqlx::Encode<'q, DB> + sqlx::Type<DB>,
{
    query.push("(");
    let mut listed = query.separated(", ");
    for id in ids {
        listed.push_bind(*id);
    }
    query.push(")");
}

impl Store {
    /// Takes the tick `tick_at` of `schedule_id` and stores `task` for it, all in one
    /// transaction; the tick's key (schedule, instant) is unique, so exactly one runner
    /// stores its task.
    pub async fn take_tick(
        &self,
        schedule_id: &str,
        tick_at: DateTime<Utc>,
        task: &NewTask,
        now: DateTime<Utc>,
    ) -> Result<TickOutcome, StoreError> {
        const DOING: &str = "taking a cron tick";
        let _turn = self.write_turn().await;
        with_pool!(self, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin()).await.doing(DOING)?;
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
            let id = InsertTasks::insert_one(&mut *tx, task, now).await?;
            sqlx::query(
                "UPDATE jobs_ticks SET task_id = $3 WHERE schedule_id = $1 AND tick_at = $2",
            )
            .bind(schedule_id)
            .bind(millis(tick_at))
            .bind(id)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
            if task.run_at <= now {
                announce!(tx, dialect, &task.job);
            }
            tx.commit().await.doing(DOING)?;
            Ok(TickOutcome::Enqueued(id))
        })
    }

    /// Takes many ticks in one transaction, each as [`take_tick`](Store::take_tick) would at
    /// the tick's own instant (its task's `created_at` is the tick), and claims their tasks
    /// for `runner`'s first attempt. Returns each tick's claimed task, or `None` for the
    /// ticks of paused jobs, which are skipped.
    ///
    /// All or nothing: when one of the ticks was already taken, belongs to an exclusive job
    /// (whose ticks depend on the end of its previous run) or has a task that does not run
    /// at its tick, nothing is stored and the answer is `Ok(None)`: take those ticks one by
    /// one with `take_tick`. Built for a simulation's quiet stretches, where nothing else
    /// runs between the ticks.
    pub async fn take_ticks(
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
        with_pool!(self, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin()).await.doing(DOING)?;
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
            let mut ids =
                InsertTasks::insert_plain(&mut *tx, &tasks, taken[0].tick_at, &[]).await?;
            // One statement inserts in the order of its rows, so ids ascend with them.
            ids.sort_unstable();
            let mut claim = QueryBuilder::new(
                "UPDATE jobs_tasks SET created_at = run_at, state = 'running', attempt = 1, locked_by = ",
            );
            claim
                .push_bind(runner)
                .push(", locked_at = run_at WHERE id IN ");
            push_id_list(&mut claim, &ids);
            claim.build().execute(&mut *tx).await.doing(DOING)?;
            let mut insert =
                QueryBuilder::new("INSERT INTO jobs_ticks (schedule_id, tick_at, task_id) ");
            insert.push_values(taken.iter().zip(&ids), |mut row, (tick, id)| {
                row.push_bind(tick.schedule_id.as_str())
                    .push_bind(millis(tick.tick_at))
                    .push_bind(*id);
            });
            insert.push(" ON CONFLICT DO NOTHING");
            let stored = insert.build().execute(&mut *tx).await.doing(DOING)?;
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
        })
    }

    /// Undoes part of a [`take_ticks`](Store::take_ticks) whose tasks have not run: the
    /// `untaken` ticks are given back (their tasks and ticks deleted, so that the ticks can
    /// be taken again; on SQLite, when their tasks were the last ones stored, the ids are
    /// handed out again, as if the ticks had never been taken; PostgreSQL's sequences do
    /// not go back), and the `unclaimed` tasks go back to pending, their ticks still taken.
    /// Only tasks still claimed and never run are touched.
    pub async fn release_ticks(
        &self,
        untaken: &[TakenTick],
        unclaimed: &[i64],
    ) -> Result<(), StoreError> {
        const DOING: &str = "giving back cron ticks";
        if untaken.is_empty() && unclaimed.is_empty() {
            return Ok(());
        }
        let _turn = self.write_turn().await;
        with_pool!(self, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin()).await.doing(DOING)?;
            if !untaken.is_empty() {
                // By the key: the ticks have no index on their task.
                let mut ticks =
                    QueryBuilder::new("DELETE FROM jobs_ticks WHERE (schedule_id, tick_at) IN (");
                ticks.push_values(untaken, |mut row, tick| {
                    row.push_bind(tick.schedule_id.as_str())
                        .push_bind(millis(tick.tick_at));
                });
                ticks.push(")");
                ticks.build().execute(&mut *tx).await.doing(DOING)?;
            }
            let untaken_ids: Vec<i64> = untaken.iter().map(|t| t.task_id).collect();
            for (statement, ids) in [
                (
                    "DELETE FROM jobs_tasks WHERE state = 'running' AND attempt = 1 AND id IN ",
                    untaken_ids.as_slice(),
                ),
                (
                    "UPDATE jobs_tasks SET state = 'pending', attempt = 0, locked_by = NULL, \
                     locked_at = NULL WHERE state = 'running' AND attempt = 1 AND id IN ",
                    unclaimed,
                ),
            ] {
                if ids.is_empty() {
                    continue;
                }
                let mut query = QueryBuilder::new(statement);
                push_id_list(&mut query, ids);
                query.build().execute(&mut *tx).await.doing(DOING)?;
            }
            if dialect == Dialect::Sqlite
                && let (Some(first), Some(last)) =
                    (untaken_ids.iter().min(), untaken_ids.iter().max())
            {
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
        })
    }

    /// The latest tick taken of `schedule_id`, if any (and not yet pruned).
    pub async fn last_tick(&self, schedule_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        const DOING: &str = "reading the last tick";
        with_pool!(self, |pool, dialect| {
            let last: Option<i64> =
                sqlx::query("SELECT MAX(tick_at) FROM jobs_ticks WHERE schedule_id = $1")
                    .bind(schedule_id)
                    .fetch_one(pool)
                    .await
                    .doing(DOING)?
                    .try_get(0)
                    .doing(DOING)?;
            Ok(last.map(super::instant))
        })
    }

    /// Deletes history rows, finished tasks and ticks older than `before`, in batches of
    /// `batch`; returns how many history rows and tasks went. Dead tasks stay.
    pub async fn prune(&self, before: DateTime<Utc>, batch: u32) -> Result<(u64, u64), StoreError> {
        const DOING: &str = "pruning old history";
        with_pool!(self, |pool, dialect| {
            let executions = sqlx::query(
                "DELETE FROM jobs_executions WHERE id IN \
                 (SELECT id FROM jobs_executions WHERE finished_at < $1 LIMIT $2)",
            )
            .bind(millis(before))
            .bind(i64::from(batch))
            .execute(pool)
            .await
            .doing(DOING)?
            .rows_affected();
            let tasks = sqlx::query(
                "DELETE FROM jobs_tasks WHERE id IN (SELECT id FROM jobs_tasks \
                 WHERE state IN ('succeeded', 'cancelled') AND finished_at < $1 LIMIT $2)",
            )
            .bind(millis(before))
            .bind(i64::from(batch))
            .execute(pool)
            .await
            .doing(DOING)?
            .rows_affected();
            sqlx::query(
                "DELETE FROM jobs_ticks WHERE (schedule_id, tick_at) IN \
                 (SELECT schedule_id, tick_at FROM jobs_ticks WHERE tick_at < $1 LIMIT $2)",
            )
            .bind(millis(before))
            .bind(i64::from(batch))
            .execute(pool)
            .await
            .doing(DOING)?;
            Ok((executions, tasks))
        })
    }
}
