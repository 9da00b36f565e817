//! Flow control as the storage knows it: the limits a claim obeys, the limits set at run
//! time, and what the limits hold back.
//!
//! Limits are enforced inside the claim's transaction, so they hold for any number of
//! runners: claims of a limited job are serialized (on PostgreSQL by a transaction-scoped
//! advisory lock of the job, and of its queue when the queue has a limit; SQLite has one
//! writer at a time), count what runs and what started within the rate's window, and take
//! no more than that leaves.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Serialize;

/// The limits a claim of one job obeys. With none of them, and no key, a job is claimed
/// as fast as its runners' slots allow (`Claims::claim`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Limits {
    /// At most this many attempts at once across all runners (per key when `per_key`).
    pub concurrency: Option<u32>,
    /// At most this many attempts start in any window of this length (per key when
    /// `per_key`).
    pub rate: Option<(u32, Duration)>,
    /// Whether tasks have keys (the job's `per` fields): the limits apply per key, and
    /// claims take keys in turn.
    pub per_key: bool,
    /// The limit of the job's queue, shared by all its jobs.
    pub queue: Option<QueueLimit>,
}

/// At most `limit` attempts at once across all runners of the jobs of `queue` together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueLimit {
    /// The queue.
    pub queue: String,
    /// Its limit.
    pub limit: u32,
}

impl Limits {
    /// Whether a claim must look at anything beyond due tasks.
    pub fn any(&self) -> bool {
        self.concurrency.is_some() || self.rate.is_some() || self.per_key || self.queue.is_some()
    }

    /// The length rate windows are counted over: the rate's window and a margin of a
    /// second, so that no window of attempt *starts* (a few milliseconds after their claim)
    /// holds more than the rate allows.
    pub fn rate_window(&self) -> Option<(u32, Duration)> {
        self.rate
            .map(|(count, window)| (count, window + Duration::from_secs(1)))
    }
}

/// Limits set on a job or a queue at run time (CLI, admin API): they replace its own until
/// cleared. `None` means no limit of that kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LimitOverride {
    /// The job, or the queue written `queue:NAME` (see [`LimitOverride::queue_key`]; job
    /// names are identifiers, so the two cannot be confused).
    pub job: String,
    /// At most this many attempts at once.
    pub concurrency: Option<u32>,
    /// At most this many attempts start in any window of `rate_window_ms`.
    pub rate_count: Option<u32>,
    /// The rate's window, in milliseconds.
    pub rate_window_ms: Option<i64>,
    /// When it was set.
    pub updated_at: DateTime<Utc>,
}

impl LimitOverride {
    /// The key under which a queue's limits are stored.
    pub fn queue_key(queue: &str) -> String {
        format!("queue:{queue}")
    }

    /// The queue these limits are set on, if they are a queue's.
    pub fn queue(&self) -> Option<&str> {
        self.job.strip_prefix("queue:")
    }
}

/// What a job's limits hold back now.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct FlowState {
    /// Attempts running now.
    pub running: i64,
    /// Attempts started within the rate's window (with its margin).
    pub started_in_window: i64,
    /// Due pending tasks.
    pub waiting: i64,
    /// The keys with the most due pending tasks, with how many of their attempts run.
    pub keys: Vec<KeyState>,
}

/// One key of a job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyState {
    /// The key (canonical JSON of the job's `per` fields; empty for tasks without one).
    pub key: String,
    /// Its due pending tasks.
    pub waiting: i64,
    /// Its attempts running now.
    pub running: i64,
}
