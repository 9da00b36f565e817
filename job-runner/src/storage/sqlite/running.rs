//! What runners write and read about running attempts on SQLite: progress, and requests
//! to cancel.

use async_trait::async_trait;
use sqlx::Row;

use super::{Sqlite, json_batch};
use crate::storage::{Doing, Listener, Running, StoreError};

#[async_trait]
impl Running for Sqlite {
    async fn report_progress(
        &self,
        runner: &str,
        progress: &[(i64, String)],
    ) -> Result<(), StoreError> {
        const DOING: &str = "writing the progress of running tasks";
        if progress.is_empty() {
            return Ok(());
        }
        #[derive(serde::Serialize)]
        struct Report<'a> {
            id: i64,
            progress: &'a str,
        }
        let batch: Vec<Report<'_>> = progress
            .iter()
            .map(|(id, progress)| Report { id: *id, progress })
            .collect();
        let _turn = self.write_turn().await;
        sqlx::query(
            "UPDATE jobs_tasks SET progress = p.progress \
             FROM (SELECT value->>'id' AS id, value->>'progress' AS progress \
                   FROM jsonb_each($1)) AS p \
             WHERE jobs_tasks.id = p.id AND +jobs_tasks.state = 'running' \
               AND +jobs_tasks.locked_by = $2",
        )
        .bind(json_batch(&batch, DOING)?)
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

    /// A caller polls on SQLite: a watch of the file would wake it at every commit.
    async fn listen_ends(&self) -> Result<Option<Box<dyn Listener>>, StoreError> {
        Ok(None)
    }

    async fn await_end(&self, _id: i64) -> Result<(), StoreError> {
        Ok(())
    }
}
