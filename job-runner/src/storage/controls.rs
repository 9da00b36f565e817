//! Pause and resume, stored so that every runner obeys.

use chrono::{DateTime, Utc};
use sqlx::Row;

use super::{Doing, Store, StoreError, millis, with_pool};

impl Store {
    /// Pauses `job`: its ticks are skipped and its tasks held. `false` if it was paused.
    pub async fn pause(&self, job: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
        const DOING: &str = "pausing a job";
        with_pool!(self, |pool, dialect| {
            let done = sqlx::query(
                "INSERT INTO jobs_paused (job, paused_at) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(job)
            .bind(millis(now))
            .execute(pool)
            .await
            .doing(DOING)?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// Resumes `job`. `false` if it was not paused.
    pub async fn resume(&self, job: &str) -> Result<bool, StoreError> {
        const DOING: &str = "resuming a job";
        with_pool!(self, |pool, dialect| {
            let done = sqlx::query("DELETE FROM jobs_paused WHERE job = $1")
                .bind(job)
                .execute(pool)
                .await
                .doing(DOING)?;
            Ok(done.rows_affected() > 0)
        })
    }

    /// The paused jobs.
    pub async fn paused(&self) -> Result<Vec<String>, StoreError> {
        const DOING: &str = "listing paused jobs";
        with_pool!(self, |pool, dialect| {
            let rows = sqlx::query("SELECT job FROM jobs_paused ORDER BY job")
                .fetch_all(pool)
                .await
                .doing(DOING)?;
            rows.iter().map(|r| r.try_get(0).doing(DOING)).collect()
        })
    }
}
