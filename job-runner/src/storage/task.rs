//! Tasks as the storage knows them: what is stored, claimed, completed and listed.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};
use job_core::Trigger;
use serde::Serialize;

use super::NewExecution;

/// Where a task is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TaskState {
    /// Waiting for its `run_at` (new, delayed, or waiting to be retried).
    Pending,
    /// Claimed by a runner, which is running an attempt.
    Running,
    /// An attempt succeeded.
    Succeeded,
    /// Every attempt failed (or one failed permanently); kept until retried by hand.
    Dead,
    /// Cancelled by hand, before it ran or while it ran.
    Cancelled,
}

impl TaskState {
    /// Every state, in lifecycle order.
    pub const ALL: [TaskState; 5] = [
        TaskState::Pending,
        TaskState::Running,
        TaskState::Succeeded,
        TaskState::Dead,
        TaskState::Cancelled,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            TaskState::Pending => "pending",
            TaskState::Running => "running",
            TaskState::Succeeded => "succeeded",
            TaskState::Dead => "dead",
            TaskState::Cancelled => "cancelled",
        }
    }

    /// The state with this stored name.
    pub fn from_name(name: &str) -> Option<TaskState> {
        TaskState::ALL.into_iter().find(|s| s.as_str() == name)
    }
}

impl fmt::Display for TaskState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A task to store.
#[derive(Debug, Clone)]
pub struct NewTask {
    /// The job's name.
    pub job: String,
    /// The queue.
    pub queue: String,
    /// The arguments, as JSON text.
    pub args: String,
    /// Higher runs first.
    pub priority: i32,
    /// Not before this instant.
    pub run_at: DateTime<Utc>,
    /// When it was first due (the tick instant for a cron task).
    pub scheduled_at: DateTime<Utc>,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// Why it exists.
    pub trigger: Trigger,
    /// At most one task of the job with this key is pending or running (or succeeded
    /// within `unique_for`): enqueueing another returns that one.
    pub unique_key: Option<String>,
    /// How long after its success a task keeps its uniqueness key (zero: not at all).
    pub unique_for: Duration,
    /// Its key, when its job has `per` fields: limits and rates apply per key, and claims
    /// take keys in turn.
    pub partition_key: Option<String>,
    /// Never run while another task of the same job is running.
    pub exclusive: bool,
    /// The jobs that follow it, when it starts a chain at run time: each runs with the
    /// previous one's output. Empty for a task that starts none.
    pub then: Vec<String>,
    /// The trace context of the code that stored it (W3C `traceparent`, then `tracestate`
    /// after a newline when there is one): its attempts' spans continue that trace. `None`
    /// when no OpenTelemetry span was current (see [`crate::telemetry`]).
    pub trace_context: Option<String>,
}

/// A task claimed for one attempt.
#[derive(Debug, Clone)]
pub struct ClaimedTask {
    /// The task's id.
    pub id: i64,
    /// The job's name.
    pub job: String,
    /// The arguments, as JSON text.
    pub args: String,
    /// This attempt's number (1 for the first).
    pub attempt: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// Why it exists.
    pub trigger: Trigger,
    /// When it was first due.
    pub scheduled_at: DateTime<Utc>,
    /// When this attempt became due.
    pub run_at: DateTime<Utc>,
    /// Its priority.
    pub priority: i32,
    /// How many times it snoozed.
    pub snoozes: u32,
    /// Its place in a chain, when it is a step of one.
    pub chain: Option<ChainLink>,
    /// The trace context stored with the task ([`NewTask::trace_context`]).
    pub trace_context: Option<String>,
}

impl ClaimedTask {
    /// Task `id`, stored from `task` and claimed for its first attempt.
    pub(super) fn first_attempt(id: i64, task: &NewTask) -> ClaimedTask {
        ClaimedTask {
            id,
            job: task.job.clone(),
            args: task.args.clone(),
            attempt: 1,
            max_attempts: task.max_attempts,
            trigger: task.trigger,
            scheduled_at: task.scheduled_at,
            run_at: task.run_at,
            priority: task.priority,
            snoozes: 0,
            chain: None,
            trace_context: task.trace_context.clone(),
        }
    }
}

/// A task's place in a chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    /// The chain: the id of its first task.
    pub id: i64,
    /// The step's number, 1 for the first.
    pub step: u32,
    /// The jobs still to come after this step (a chain started at run time).
    pub rest: Vec<String>,
}

/// The next step of a chain, stored with the success of the previous one.
#[derive(Debug, Clone)]
pub struct FollowUp {
    /// The next step's task.
    pub task: NewTask,
    /// Its place in the chain.
    pub link: ChainLink,
}

/// The end of an attempt, written with its history row.
#[derive(Debug, Clone)]
pub struct Completion {
    /// The task.
    pub task_id: i64,
    /// The attempt that ended.
    pub attempt: u32,
    /// The task's next state: `Pending` (to be retried at `retry_at`), `Succeeded` or `Dead`.
    pub next_state: TaskState,
    /// When to retry, for `Pending`.
    pub retry_at: Option<DateTime<Utc>>,
    /// The history row of the attempt.
    pub execution: NewExecution,
    /// The attempt snoozed: it is not counted (the task's attempt number goes back by
    /// one), and the task's snoozes go up by one.
    pub snoozed: bool,
    /// The finished step's place in a chain: it decides how the end is written (with the
    /// next step, in one transaction), while the history row takes the chain from
    /// `execution`; the executor sets both alike.
    pub chain: Option<ChainLink>,
    /// The next step of the chain, stored in the same transaction when the attempt
    /// succeeded.
    pub follow_up: Option<FollowUp>,
}

/// A stored task, for listings.
#[derive(Debug, Clone, Serialize)]
pub struct TaskRow {
    /// The id.
    pub id: i64,
    /// The job's name.
    pub job: String,
    /// The queue.
    pub queue: String,
    /// The state.
    pub state: TaskState,
    /// The arguments.
    pub args: serde_json::Value,
    /// Its priority.
    pub priority: i32,
    /// Not before this instant.
    pub run_at: DateTime<Utc>,
    /// When it was first due.
    pub scheduled_at: DateTime<Utc>,
    /// Attempts started.
    pub attempt: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// Why it exists.
    pub trigger: Trigger,
    /// Its uniqueness key.
    pub unique_key: Option<String>,
    /// The runner running it.
    pub locked_by: Option<String>,
    /// The last failure's message.
    pub last_error: Option<String>,
    /// When it was stored.
    pub created_at: DateTime<Utc>,
    /// When it reached a final state.
    pub finished_at: Option<DateTime<Utc>>,
    /// The chain it is a step of (the id of the chain's first task), for a chain started at
    /// run time or a step after the first.
    pub chain_id: Option<i64>,
    /// Its step's number in that chain, 1 for the first.
    pub chain_step: Option<i64>,
    /// The progress its running (or last) attempt reported: `done`, `total` and `meta`.
    pub progress: Option<serde_json::Value>,
    /// How many times it snoozed.
    pub snoozes: u32,
    /// When it was asked to stop while running (it ends `cancelled` soon after).
    pub cancel_requested_at: Option<DateTime<Utc>>,
}

/// How a task ended, as [`Reads::task_end`](super::Reads::task_end) reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskEndRow {
    /// Its state.
    pub state: TaskState,
    /// Its last error.
    pub last_error: Option<String>,
    /// What its successful attempt returned (JSON text), for a succeeded task.
    pub result: Option<String>,
}

/// Which tasks to list, count or act on in bulk.
///
/// `since` and `until` apply to a task's last change: when it finished for a finished task
/// (succeeded, dead or cancelled), else when it was stored (pending or running).
#[derive(Debug, Clone, Default)]
pub struct TaskFilter {
    /// Only in this state.
    pub state: Option<TaskState>,
    /// Only in this queue.
    pub queue: Option<String>,
    /// Only of this job.
    pub job: Option<String>,
    /// Only tasks whose last change (`finished_at`, else `created_at`) is at or after this.
    pub since: Option<DateTime<Utc>>,
    /// Only tasks whose last change (`finished_at`, else `created_at`) is before this.
    pub until: Option<DateTime<Utc>>,
    /// Only tasks whose arguments' JSON text holds this text, case-insensitively (ASCII
    /// letters only on SQLite).
    pub text: Option<String>,
    /// Only with an id below this (the cursor of the previous page).
    pub before_id: Option<i64>,
    /// At most this many (newest first); counts and bulk actions ignore it.
    pub limit: u32,
}

impl Completion {
    /// Whether this end finishes the task (it is then finished when its attempt ended).
    pub(crate) fn finishes(&self) -> bool {
        matches!(
            self.next_state,
            TaskState::Succeeded | TaskState::Dead | TaskState::Cancelled
        )
    }

    /// Whether this is the end of a step of a chain (written one by one, each with the
    /// next step's task).
    pub(crate) fn is_chain_step(&self) -> bool {
        self.chain.is_some() || self.follow_up.is_some()
    }
}

/// Due tasks of one queue, for metrics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QueueStats {
    /// The queue.
    pub queue: String,
    /// Pending tasks due now.
    pub due: i64,
    /// How long the oldest of them has been due, in seconds.
    pub oldest_due_age_seconds: f64,
}

/// What a guarded change of one row found (see `Controls::cancel`, `Controls::retry` and
/// `Schedules::update_schedule`): the change is one conditional statement, so a row that
/// moved on meanwhile is never overwritten.
#[derive(Debug, Clone)]
pub enum Transition<T = TaskRow> {
    /// The row was changed; this is it afterwards.
    Applied(T),
    /// The row was in a state where the change makes no sense; this is it as found.
    Refused(T),
    /// No row has this id.
    NotFound,
}

/// A failed attempt, as a [`RetryPolicy`] sees it.
#[derive(Debug, Clone)]
pub struct FailedAttempt<'a> {
    /// The job's name.
    pub job: &'a str,
    /// The task.
    pub task_id: i64,
    /// The attempt that failed (1 for the first).
    pub attempt: u32,
    /// Attempts allowed in all.
    pub max_attempts: u32,
    /// Why it failed: a permanent error is never retried, and the error may choose its own
    /// delay ([`JobError::retry_in`](job_core::JobError::retry_in)). An attempt lost with its
    /// runner, timed out or panicked has an error that says so.
    pub error: &'a job_core::JobError,
    /// When it failed.
    pub at: DateTime<Utc>,
}

/// Decides what becomes of a task after a failed attempt: the instant it runs again, or
/// `None` when it is dead. One policy serves the attempts that end with an error and the
/// attempts lost with their runner (see `Runners::rescue`).
pub trait RetryPolicy: Send + Sync {
    /// When `failed`'s task runs again, if ever.
    fn retry_at(&self, failed: &FailedAttempt<'_>) -> Option<DateTime<Utc>>;
}
