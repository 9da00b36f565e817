//! Flow control on PostgreSQL: claims within limits (those of one job serialized by a
//! transaction-scoped advisory lock of the job), and the limits set at run time.

use std::collections::BTreeMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Row};

use super::{Postgres, SERVER_NOW};
use crate::storage::rows::{self, CLAIMED_COLUMNS, millis};
use crate::storage::{
    ClaimedTask, Doing, Flow, FlowState, KeyState, LimitOverride, Limits, StoreError,
};

const DOING: &str = "claiming tasks within limits";

/// The unix milliseconds from which starts count against `limits`' rate at `now`.
fn window_start(limits: &Limits, now: DateTime<Utc>) -> Option<i64> {
    limits.rate_window().map(|(_, window)| {
        millis(now).saturating_sub(i64::try_from(window.as_millis()).unwrap_or(i64::MAX))
    })
}

/// How many more attempts of `job` the job-wide limits let start now (keys apart).
async fn room(
    connection: &mut PgConnection,
    job: &str,
    limits: &Limits,
    since: Option<i64>,
) -> Result<i64, StoreError> {
    let mut room = i64::MAX;
    if limits.per_key {
        return Ok(room);
    }
    if let Some(limit) = limits.concurrency {
        let running: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM jobs_tasks WHERE job = $1 AND state = 'running'",
        )
        .bind(job)
        .fetch_one(&mut *connection)
        .await
        .doing(DOING)?;
        room = room.min(i64::from(limit) - running);
    }
    if let (Some((count, _)), Some(since)) = (limits.rate_window(), since) {
        let started: i64 = sqlx::query_scalar(
            "SELECT COALESCE(SUM(n), 0)::bigint FROM jobs_rate \
             WHERE job = $1 AND key = '' AND started_at > $2",
        )
        .bind(job)
        .bind(since)
        .fetch_one(connection)
        .await
        .doing(DOING)?;
        room = room.min(i64::from(count) - started);
    }
    Ok(room)
}

/// How many more attempts its queue's limit lets start now, all the queue's jobs together.
async fn queue_room(connection: &mut PgConnection, limits: &Limits) -> Result<i64, StoreError> {
    let Some(queue) = &limits.queue else {
        return Ok(i64::MAX);
    };
    let running: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM jobs_tasks WHERE queue = $1 AND state = 'running'",
    )
    .bind(&queue.queue)
    .fetch_one(connection)
    .await
    .doing(DOING)?;
    Ok(i64::from(queue.limit) - running)
}

/// A claim under concurrency limits alone (the job's, its queue's), without keys or rate,
/// inside `tx`, which holds the limits' locks: one statement, whose batch is cut to the
/// room the limits leave, then the commit.
async fn claim_capped(
    mut tx: sqlx::Transaction<'static, sqlx::Postgres>,
    job: &str,
    runner: &str,
    now: DateTime<Utc>,
    limit: u32,
    limits: &Limits,
) -> Result<Vec<ClaimedTask>, StoreError> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "UPDATE jobs_tasks SET state = 'running', attempt = attempt + 1, \
             locked_by = $1, locked_at = {SERVER_NOW} \
         WHERE state = 'pending' AND id IN (\
             SELECT id FROM jobs_tasks \
             WHERE state = 'pending' AND job = $3 AND run_at <= $2 \
               AND NOT EXISTS (SELECT 1 FROM jobs_paused WHERE job = $3) \
               AND (NOT EXISTS (SELECT 1 FROM jobs_queues_paused) \
                    OR jobs_tasks.queue NOT IN (SELECT queue FROM jobs_queues_paused)) \
             ORDER BY priority DESC, run_at, id \
             LIMIT GREATEST(0, LEAST($4, \
                 CASE WHEN $5::bigint IS NULL THEN $4 ELSE $5 - (\
                     SELECT COUNT(*) FROM jobs_tasks WHERE job = $3 AND state = 'running') END, \
                 CASE WHEN $6::bigint IS NULL THEN $4 ELSE $6 - (\
                     SELECT COUNT(*) FROM jobs_tasks WHERE queue = $7 AND state = 'running') END))) \
         RETURNING {CLAIMED_COLUMNS}"
    )))
    // Planned per call, as the claim of chosen ids below.
    .persistent(false)
    .bind(runner)
    .bind(millis(now))
    .bind(job)
    .bind(i64::from(limit.max(1)))
    .bind(limits.concurrency.map(i64::from))
    .bind(limits.queue.as_ref().map(|q| i64::from(q.limit)))
    .bind(limits.queue.as_ref().map(|q| q.queue.as_str()))
    .fetch_all(&mut *tx)
    .await
    .doing(DOING)?;
    tx.commit().await.doing(DOING)?;
    let claimed = rows.iter().map(rows::claimed).collect::<Result<_, _>>()?;
    Ok(rows::in_claiming_order(claimed))
}

#[async_trait]
impl Flow for Postgres {
    async fn claim_within(
        &self,
        job: &str,
        runner: &str,
        now: DateTime<Utc>,
        limit: u32,
        limits: &Limits,
    ) -> Result<Vec<ClaimedTask>, StoreError> {
        let since = window_start(limits, now);
        let mut tx = self.begin(DOING).await?;
        // One claim of this job at a time, across runners: the counts below stay true
        // until this transaction commits.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('jobs_flow:' || $1, 0))")
            .bind(job)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
        // And one claim of any job of a limited queue at a time.
        if let Some(queue) = &limits.queue {
            sqlx::query(
                "SELECT pg_advisory_xact_lock(hashtextextended('jobs_flow_queue:' || $1, 0))",
            )
            .bind(&queue.queue)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
        }
        if !limits.per_key && limits.rate.is_none() {
            return claim_capped(tx, job, runner, now, limit, limits).await;
        }
        let take = room(&mut tx, job, limits, since)
            .await?
            .min(queue_room(&mut tx, limits).await?)
            .min(i64::from(limit.max(1)));
        if take <= 0 {
            return Ok(Vec::new());
        }
        let picked = if limits.per_key {
            // Keys in turn: the first due task of each key, then the second of each...,
            // counting the attempts each key has running, so that a claim of one slot goes
            // to the key with the fewest in flight, not to the oldest backlog again; a key
            // takes no more than its running attempts and its starts in the window leave.
            // The keys are found one after another by seeking the keyed index, and only
            // each key's first `take` due tasks are ranked: the work grows with the keys,
            // not with the tasks pending.
            sqlx::query(
                "WITH RECURSIVE keys(k) AS (\
                     (SELECT partition_key FROM jobs_tasks \
                      WHERE job = $1 AND state = 'pending' AND partition_key IS NOT NULL \
                      ORDER BY partition_key LIMIT 1) \
                     UNION ALL \
                     SELECT (SELECT t.partition_key FROM jobs_tasks t \
                             WHERE t.job = $1 AND t.state = 'pending' AND t.partition_key > keys.k \
                             ORDER BY t.partition_key LIMIT 1) \
                     FROM keys WHERE keys.k IS NOT NULL), \
                 running AS (\
                     SELECT COALESCE(partition_key, '') AS k, COUNT(*) AS n FROM jobs_tasks \
                     WHERE job = $1 AND state = 'running' GROUP BY 1), \
                 started AS (\
                     SELECT key AS k, SUM(n) AS n FROM jobs_rate \
                     WHERE job = $1 AND $5::bigint IS NOT NULL AND started_at > $5 GROUP BY key), \
                 firsts AS (\
                     SELECT c.id, keys.k, c.priority, c.run_at FROM keys CROSS JOIN LATERAL (\
                         SELECT id, priority, run_at FROM jobs_tasks \
                         WHERE job = $1 AND state = 'pending' AND partition_key = keys.k \
                           AND run_at <= $2 \
                           AND (NOT EXISTS (SELECT 1 FROM jobs_queues_paused) \
                                OR jobs_tasks.queue NOT IN (SELECT queue FROM jobs_queues_paused)) \
                         ORDER BY priority DESC, run_at, id LIMIT $6) c \
                     UNION ALL \
                     SELECT * FROM (\
                         SELECT id, '' AS k, priority, run_at FROM jobs_tasks \
                         WHERE job = $1 AND state = 'pending' AND partition_key IS NULL \
                           AND run_at <= $2 \
                           AND (NOT EXISTS (SELECT 1 FROM jobs_queues_paused) \
                                OR jobs_tasks.queue NOT IN (SELECT queue FROM jobs_queues_paused)) \
                         ORDER BY priority DESC, run_at, id LIMIT $6) unkeyed), \
                 ranked AS (\
                     SELECT id, k, priority, run_at, \
                         ROW_NUMBER() OVER (PARTITION BY k ORDER BY priority DESC, run_at, id) AS rn \
                     FROM firsts) \
                 SELECT r.id, r.k FROM ranked r \
                     LEFT JOIN running u ON u.k = r.k LEFT JOIN started w ON w.k = r.k \
                 WHERE NOT EXISTS (SELECT 1 FROM jobs_paused WHERE job = $1) \
                   AND ($3::bigint IS NULL OR r.rn <= $3 - COALESCE(u.n, 0)) \
                   AND ($4::bigint IS NULL OR r.rn <= $4 - COALESCE(w.n, 0)) \
                 ORDER BY COALESCE(u.n, 0) + r.rn, r.priority DESC, r.run_at, r.id \
                 LIMIT $6",
            )
            .bind(job)
            .bind(millis(now))
            .bind(limits.concurrency.map(i64::from))
            .bind(limits.rate_window().map(|(count, _)| i64::from(count)))
            .bind(since)
            .bind(take)
            .fetch_all(&mut *tx)
            .await
            .doing(DOING)?
        } else {
            // No keys: the claim index gives the tasks in claiming order, and the scan stops
            // after `take` of them, however many are pending.
            sqlx::query(
                "SELECT id, '' FROM jobs_tasks \
                 WHERE state = 'pending' AND job = $1 AND run_at <= $2 \
                   AND NOT EXISTS (SELECT 1 FROM jobs_paused WHERE job = $1) \
                   AND (NOT EXISTS (SELECT 1 FROM jobs_queues_paused) \
                        OR jobs_tasks.queue NOT IN (SELECT queue FROM jobs_queues_paused)) \
                 ORDER BY priority DESC, run_at, id LIMIT $3",
            )
            .bind(job)
            .bind(millis(now))
            .bind(take)
            .fetch_all(&mut *tx)
            .await
            .doing(DOING)?
        };
        if picked.is_empty() {
            return Ok(Vec::new());
        }
        let mut ids = Vec::with_capacity(picked.len());
        let mut per_key: BTreeMap<String, i64> = BTreeMap::new();
        for row in &picked {
            ids.push(row.try_get::<i64, _>(0).doing(DOING)?);
            let key: String = row.try_get(1).doing(DOING)?;
            *per_key
                .entry(if limits.per_key { key } else { String::new() })
                .or_default() += 1;
        }
        let claimed = sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs_tasks SET state = 'running', attempt = attempt + 1, \
                 locked_by = $1, locked_at = {SERVER_NOW} \
             WHERE state = 'pending' AND id = ANY($2) \
             RETURNING {CLAIMED_COLUMNS}"
        )))
        // Planned at each call with the ids in hand (an unnamed statement): a plan made
        // once, on a table without statistics yet, walked the state index over every
        // pending task instead of looking the ids up (a drain under a limit of 1,000 ran
        // at 5,000 to 14,000 tasks a second from one run to the next; 17,000 planned so).
        .persistent(false)
        .bind(runner)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await
        .doing(DOING)?;
        if let Some(since) = since {
            let (keys, counts): (Vec<&str>, Vec<i64>) =
                per_key.iter().map(|(k, n)| (k.as_str(), *n)).unzip();
            sqlx::query(
                "INSERT INTO jobs_rate (job, key, started_at, n) \
                 SELECT $1, k, $2, n FROM UNNEST($3::text[], $4::bigint[]) AS c(k, n)",
            )
            .bind(job)
            .bind(millis(now))
            .bind(keys)
            .bind(counts)
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
            sqlx::query("DELETE FROM jobs_rate WHERE job = $1 AND started_at <= $2")
                .bind(job)
                .bind(since)
                .execute(&mut *tx)
                .await
                .doing(DOING)?;
        }
        tx.commit().await.doing(DOING)?;
        let claimed = claimed
            .iter()
            .map(rows::claimed)
            .collect::<Result<_, _>>()?;
        Ok(rows::in_claiming_order(claimed))
    }

    async fn limit_overrides(&self) -> Result<Vec<LimitOverride>, StoreError> {
        const DOING: &str = "listing run-time limits";
        let rows = sqlx::query(
            "SELECT job, concurrency, rate_count, rate_window_ms, updated_at FROM jobs_limits \
             ORDER BY job",
        )
        .fetch_all(&self.pool)
        .await
        .doing(DOING)?;
        rows.iter().map(rows::limit_override).collect()
    }

    async fn set_limit_override(&self, row: &LimitOverride) -> Result<(), StoreError> {
        const DOING: &str = "setting run-time limits";
        sqlx::query(
            "INSERT INTO jobs_limits (job, concurrency, rate_count, rate_window_ms, updated_at) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (job) DO UPDATE SET concurrency = excluded.concurrency, \
                 rate_count = excluded.rate_count, rate_window_ms = excluded.rate_window_ms, \
                 updated_at = excluded.updated_at",
        )
        .bind(&row.job)
        .bind(row.concurrency.map(i64::from))
        .bind(row.rate_count.map(i64::from))
        .bind(row.rate_window_ms)
        .bind(millis(row.updated_at))
        .execute(&self.pool)
        .await
        .doing(DOING)?;
        Ok(())
    }

    async fn clear_limit_override(&self, job: &str) -> Result<bool, StoreError> {
        const DOING: &str = "clearing run-time limits";
        let done = sqlx::query("DELETE FROM jobs_limits WHERE job = $1")
            .bind(job)
            .execute(&self.pool)
            .await
            .doing(DOING)?;
        Ok(done.rows_affected() > 0)
    }

    async fn flow_state(
        &self,
        job: &str,
        now: DateTime<Utc>,
        limits: &Limits,
        top: u32,
    ) -> Result<FlowState, StoreError> {
        const DOING: &str = "reading what limits hold back";
        let since = window_start(limits, now);
        let row = sqlx::query(
            "SELECT \
                 (SELECT COUNT(*) FROM jobs_tasks WHERE job = $1 AND state = 'running'), \
                 (SELECT COALESCE(SUM(n), 0)::bigint FROM jobs_rate \
                  WHERE job = $1 AND $3::bigint IS NOT NULL AND started_at > $3), \
                 (SELECT COUNT(*) FROM jobs_tasks \
                  WHERE job = $1 AND state = 'pending' AND run_at <= $2)",
        )
        .bind(job)
        .bind(millis(now))
        .bind(since)
        .fetch_one(&self.pool)
        .await
        .doing(DOING)?;
        let keys = sqlx::query(
            "SELECT COALESCE(partition_key, '') AS k, \
                 SUM(CASE WHEN state = 'pending' AND run_at <= $2 THEN 1 ELSE 0 END)::bigint \
                     AS waiting, \
                 SUM(CASE WHEN state = 'running' THEN 1 ELSE 0 END)::bigint AS running \
             FROM jobs_tasks WHERE job = $1 AND state IN ('pending', 'running') \
             GROUP BY 1 HAVING SUM(CASE WHEN state = 'pending' AND run_at <= $2 THEN 1 ELSE 0 END) > 0 \
             ORDER BY waiting DESC, k LIMIT $3",
        )
        .bind(job)
        .bind(millis(now))
        .bind(i64::from(top))
        .fetch_all(&self.pool)
        .await
        .doing(DOING)?;
        Ok(FlowState {
            running: row.try_get(0).doing(DOING)?,
            started_in_window: row.try_get(1).doing(DOING)?,
            waiting: row.try_get(2).doing(DOING)?,
            keys: keys
                .iter()
                .map(|row| {
                    Ok(KeyState {
                        key: row.try_get(0).doing(DOING)?,
                        waiting: row.try_get(1).doing(DOING)?,
                        running: row.try_get(2).doing(DOING)?,
                    })
                })
                .collect::<Result<_, StoreError>>()?,
        })
    }
}
