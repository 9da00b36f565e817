//! Events from sources as the storage knows them.

use chrono::{DateTime, Utc};
use serde::Serialize;

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
