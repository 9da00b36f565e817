//! Events from sources on SQLite: each (source, event id, job) starts at most one task.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use job_core::Event;

use super::{Sqlite, insert};
use crate::storage::rows::{self, EVENT_COLUMNS, millis};
use crate::storage::{Doing, EventOutcome, EventRow, Events, NewTask, StoreError};

#[async_trait]
impl Events for Sqlite {
    async fn record_event(
        &self,
        event: &Event,
        job: &str,
        task: Result<&NewTask, &str>,
        now: DateTime<Utc>,
    ) -> Result<EventOutcome, StoreError> {
        const DOING: &str = "recording an event";
        let fields = serde_json::Value::Object(event.fields.clone()).to_string();
        let _turn = self.write_turn().await;
        let mut tx = self.begin(DOING).await?;
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
        let id = insert::insert_one(&mut tx, task, now).await?;
        sqlx::query(
            "UPDATE jobs_events SET task_id = $4 WHERE source = $1 AND event_id = $2 AND job = $3",
        )
        .bind(&event.source)
        .bind(&event.id)
        .bind(job)
        .bind(id)
        .execute(&mut *tx)
        .await
        .doing(DOING)?;
        tx.commit().await.doing(DOING)?;
        Ok(EventOutcome::Enqueued(id))
    }

    async fn events(&self, limit: u32) -> Result<Vec<EventRow>, StoreError> {
        const DOING: &str = "listing events";
        let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT {EVENT_COLUMNS} FROM jobs_events ORDER BY received_at DESC, event_id LIMIT $1"
        )))
        .bind(i64::from(limit.max(1)))
        .fetch_all(&self.pool)
        .await
        .doing(DOING)?;
        rows.iter().map(rows::event).collect()
    }
}
