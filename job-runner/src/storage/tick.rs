//! Cron ticks as the storage knows them.

use chrono::{DateTime, Utc};

use super::NewTask;

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

/// A tick to take with [`Ticks::take_ticks`](super::Ticks::take_ticks): the schedule, the instant, and the task it
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

/// A tick taken with [`Ticks::take_ticks`](super::Ticks::take_ticks), as [`Ticks::release_ticks`](super::Ticks::release_ticks) gives it back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TakenTick {
    /// The schedule's id.
    pub schedule_id: String,
    /// The tick's instant.
    pub tick_at: DateTime<Utc>,
    /// The tick's task.
    pub task_id: i64,
}
