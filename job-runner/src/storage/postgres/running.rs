//! What runners write and read about running attempts on PostgreSQL: progress, and requests
//! to cancel.

use async_trait::async_trait;
use sqlx::Row;

use super::{Postgres, held_by, listen};
use crate::storage::{Doing, Listener, Running, StoreError};

#[async_trait]
impl Running for Postgres {
    async fn report_progress(
        &self,
        runner: &str,
        progress: &[(i64, String)],
    ) -> Result<(), StoreError> {
        const DOING: &str = "writing the progress of running tasks";
        if progress.is_empty() {
            return Ok(());
        }
        let (ids, texts): (Vec<i64>, Vec<&str>) = progress
            .iter()
            .map(|(id, text)| (*id, text.as_str()))
            .unzip();
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "UPDATE jobs_tasks SET progress = p.progress \
             FROM UNNEST($1::bigint[], $2::text[]) AS p(id, progress) \
             WHERE jobs_tasks.id = p.id AND {}",
            held_by("$3", None)
        )))
        // Planned with the batch in hand (see the completion's statement).
        .persistent(false)
        .bind(ids)
        .bind(texts)
        .bind(runner)
        .execute(&self.pool)
        .await
        .doing(DOING)?;
        Ok(())
    }

    async fn cancel_requests(&self, runner: &str) -> Result<Vec<i64>, StoreError> {
        const DOING: &str = "reading requests to cancel running tasks";
        let rows = sqlx::query(
            "SELECT id FROM jobs_tasks WHERE state = 'running' AND locked_by = $1 \
               AND cancel_requested_at IS NOT NULL",
        )
        .bind(runner)
        .fetch_all(&self.pool)
        .await
        .doing(DOING)?;
        rows.iter().map(|row| row.try_get(0).doing(DOING)).collect()
    }

    async fn listen_ends(&self) -> Result<Option<Box<dyn Listener>>, StoreError> {
        let Some(listen) = &self.listen else {
            return Ok(None);
        };
        Ok(Some(Box::new(listen::Announcements::ends(listen).await?)))
    }

    async fn await_end(&self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE jobs_tasks SET awaited = 1 WHERE id = $1 AND awaited = 0")
            .bind(id)
            .execute(&self.pool)
            .await
            .doing("marking a task as awaited")?;
        Ok(())
    }
}
