//! Stored schedules as the storage knows them.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// A stored schedule.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScheduleRow {
    /// Its id (the job's name for a schedule written in code).
    pub id: String,
    /// The job it runs.
    pub job: String,
    /// Its cron expression, when it has one.
    pub cron: Option<String>,
    /// Its rate, in milliseconds, when it has one.
    pub every_ms: Option<i64>,
    /// The zone the cron expression is read in.
    pub timezone: String,
    /// The arguments each tick passes.
    pub args: serde_json::Value,
    /// `false` while paused.
    pub enabled: bool,
    /// `skip` or `once`.
    pub catch_up: String,
    /// Written in code (`#[job(cron = ...)]`): it can be paused, not edited or removed.
    pub in_code: bool,
    /// When it was added.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}
