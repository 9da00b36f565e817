//! Events taken: each (source, event id, job) starts at most one task.

use chrono::{DateTime, Utc};
use job_core::Event;
use serde::Serialize;
use sqlx::Row;

use super::tasks::{InsertTasks, NewTask};
use super::{Doing, Store, StoreError, announce, instant, millis, with_pool};

/// What became of an event for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EventOutcome {
    /// The job's task was stored.
    Enqueued(i64),
    /// The event's fields do not fit the job: recorded with the error, no task.
    Refused,
    /// The event was taken before (a second delivery): nothing changed.
    Duplicate,
}

/// A recorded event, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct EventRow {
    /// The source.
    pub source: String,
    /// The event's id within the source.
    pub event_id: String,
    /// The job it started (or would have).
    pub job: String,
    /// What happened.
    pub kind: String,
    /// What it carried.
    pub fields: serde_json::Value,
    /// The task it started.
    pub task_id: Option<i64>,
    /// Why it started none.
    pub error: Option<String>,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
}

impl Store {
    /// Records `event` for `job` and stores `task` for it in the same transaction, unless
    /// the event was taken before; `task` is the error text when the fields do not fit.
    pub async fn record_event(
        &self,
        event: &Event,
        job: &str,
        task: Result<&NewTask, &str>,
        now: DateTime<Utc>,
    ) -> Result<EventOutcome, StoreError> {
        const DOING: &str = "recording an event";
        let _turn = self.write_turn().await;
        let fields = serde_json::Value::Object(event.fields.clone()).to_string();
        with_pool!(self, |pool, dialect| {
            let mut tx = pool.begin_with(dialect.begin()).await.doing(DOING)?;
            let taken = sqlx::query(
                "INSERT INTO jobs_events (source, event_id, job, kind, fields, error, received_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING",
            )
            .bind(&event.source)
            .bind(&event.id)
            .bind(job)
            .bind(&event.kind)
            .bind(&fields)
            .bind(task.err())
            .bind(millis(now))
            .execute(&mut *tx)
            .await
            .doing(DOING)?;
            if taken.rows_affected() == 0 {
                return Ok(EventOutcome::Duplicate);
            }
            let Ok(task) = task else {
                tx.commit().await.doing(DOING)?;
                return Ok(EventOutcome::Refused);
            };
            let id = InsertTasks::insert_one(&mut *tx, task, now).await?;
            sqlx::query("UPDATE jobs_events SET task_id = $4 WHERE source = $1 AND event_id = $2 AND job = $3")
                .bind(&event.source)
                .bind(&event.id)
                .bind(job)
                .bind(id)
                .execute(&mut *tx)
                .await
                .doing(DOING)?;
            announce!(tx, dialect, &task.job);
            tx.commit().await.doing(DOING)?;
            Ok(EventOutcome::Enqueued(id))
        })
    }

    /// The latest recorded events, newest first.
    pub async fn events(&self, limit: u32) -> Result<Vec<EventRow>, StoreError> {
        const DOING: &str = "listing events";
        with_pool!(self, |pool, dialect| {
            let rows = sqlx::query(
                "SELECT source, event_id, job, kind, fields, task_id, error, received_at \
                 FROM jobs_events ORDER BY received_at DESC, event_id LIMIT $1",
            )
            .bind(i64::from(limit.max(1)))
            .fetch_all(pool)
            .await
            .doing(DOING)?;
            rows.iter()
                .map(|row| {
                    let fields: String = row.try_get("fields").doing(DOING)?;
                    Ok(EventRow {
                        source: row.try_get("source").doing(DOING)?,
                        event_id: row.try_get("event_id").doing(DOING)?,
                        job: row.try_get("job").doing(DOING)?,
                        kind: row.try_get("kind").doing(DOING)?,
                        fields: serde_json::from_str(&fields).unwrap_or(serde_json::Value::Null),
                        task_id: row.try_get("task_id").doing(DOING)?,
                        error: row.try_get("error").doing(DOING)?,
                        received_at: instant(row.try_get("received_at").doing(DOING)?),
                    })
                })
                .collect()
        })
    }
}
