//! The execution history as the storage knows it: one row per attempt.

use std::fmt;

use chrono::{DateTime, Utc};
use job_core::Trigger;
use serde::Serialize;

use super::TaskRow;
use super::text::storable;

/// How an attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    /// It returned `Ok`.
    Succeeded,
    /// It returned an error; the task will be retried.
    Failed,
    /// It panicked; the task will be retried.
    Panicked,
    /// It ran past the job's timeout; the task will be retried.
    TimedOut,
    /// It failed and no attempt is left (or the failure was permanent): the task is dead.
    Dead,
    /// The task was cancelled: before it ran, or while it ran (the attempt was stopped).
    Cancelled,
    /// It asked to run again later ([`Outcome::snooze`](job_core::Outcome::snooze)); not
    /// counted as an attempt.
    Snoozed,
}

impl ExecutionStatus {
    /// Every status.
    pub const ALL: [ExecutionStatus; 7] = [
        ExecutionStatus::Succeeded,
        ExecutionStatus::Failed,
        ExecutionStatus::Panicked,
        ExecutionStatus::TimedOut,
        ExecutionStatus::Dead,
        ExecutionStatus::Cancelled,
        ExecutionStatus::Snoozed,
    ];

    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Succeeded => "succeeded",
            ExecutionStatus::Failed => "failed",
            ExecutionStatus::Panicked => "panicked",
            ExecutionStatus::TimedOut => "timed_out",
            ExecutionStatus::Dead => "dead",
            ExecutionStatus::Cancelled => "cancelled",
            ExecutionStatus::Snoozed => "snoozed",
        }
    }

    /// The status with this stored name.
    pub fn from_name(name: &str) -> Option<ExecutionStatus> {
        ExecutionStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == name)
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A history row to write.
#[derive(Debug, Clone)]
pub struct NewExecution {
    /// The task.
    pub task_id: i64,
    /// The job's name.
    pub job: String,
    /// The attempt's number.
    pub attempt: u32,
    /// Why the task exists.
    pub trigger: Trigger,
    /// When the task was first due.
    pub scheduled_at: DateTime<Utc>,
    /// When the attempt started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How it ended.
    pub status: ExecutionStatus,
    /// The failure's message.
    pub error: Option<String>,
    /// Records processed, when the job said.
    pub records_processed: Option<u64>,
    /// The runner that ran it.
    pub runner_id: String,
    /// The chain the task is a step of (the id of its first task), when it is one. The
    /// first step of a chain declared in code (`#[job(then = ...)]`) is known as one only
    /// when it runs: rescued or cancelled before, its row has none.
    pub chain_id: Option<i64>,
    /// The step's number in its chain, 1 for the first.
    pub chain_step: Option<i64>,
    /// What a successful attempt returned, as JSON text.
    pub result: Option<String>,
    /// The last progress the attempt reported, as JSON text.
    pub progress: Option<String>,
}

/// Which attempt of which task a history row records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptOf {
    /// The task.
    pub task_id: i64,
    /// The job's name.
    pub job: String,
    /// The attempt's number (the attempts the task has used, for a cancellation).
    pub attempt: u32,
    /// Why the task exists.
    pub trigger: Trigger,
    /// When the task was first due.
    pub scheduled_at: DateTime<Utc>,
    /// The chain the task is a step of (the id of its first task).
    pub chain_id: Option<i64>,
    /// The step's number in its chain.
    pub chain_step: Option<i64>,
}

impl From<&TaskRow> for AttemptOf {
    fn from(task: &TaskRow) -> AttemptOf {
        AttemptOf {
            task_id: task.id,
            job: task.job.clone(),
            attempt: task.attempt,
            trigger: task.trigger,
            scheduled_at: task.scheduled_at,
            chain_id: task.chain_id,
            chain_step: task.chain_step,
        }
    }
}

impl NewExecution {
    /// The history row of `attempt`, run (or ended) by `runner_id` from `started_at` to
    /// `finished_at`: the one place history rows are made.
    pub fn new(
        attempt: AttemptOf,
        runner_id: &str,
        status: ExecutionStatus,
        started_at: DateTime<Utc>,
        finished_at: DateTime<Utc>,
    ) -> NewExecution {
        NewExecution {
            task_id: attempt.task_id,
            job: attempt.job,
            attempt: attempt.attempt,
            trigger: attempt.trigger,
            scheduled_at: attempt.scheduled_at,
            started_at,
            finished_at,
            status,
            error: None,
            records_processed: None,
            runner_id: runner_id.to_owned(),
            chain_id: attempt.chain_id,
            chain_step: attempt.chain_step,
            result: None,
            progress: None,
        }
    }

    /// With what the attempt returned, as JSON text.
    pub fn with_result(mut self, result: Option<String>) -> NewExecution {
        self.result = result;
        self
    }

    /// With the last progress the attempt reported, as JSON text.
    pub fn with_progress(mut self, progress: Option<String>) -> NewExecution {
        self.progress = progress;
        self
    }

    /// With the failure's message, made storable (see [`storable`]).
    pub fn with_error(mut self, error: Option<String>) -> NewExecution {
        self.error = error.map(storable);
        self
    }

    /// With the records the job said it processed.
    pub fn with_records(mut self, records: Option<u64>) -> NewExecution {
        self.records_processed = records;
        self
    }

    /// The row that records a cancellation by `runner` at `now`.
    pub(crate) fn cancelled(task: &TaskRow, runner: &str, now: DateTime<Utc>) -> NewExecution {
        NewExecution::new(task.into(), runner, ExecutionStatus::Cancelled, now, now)
    }
}

/// A history row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Execution {
    /// The row's id (rows are numbered in the order they were written).
    pub id: i64,
    /// The job's name.
    pub job: String,
    /// The task.
    pub task_id: i64,
    /// The attempt's number (1 for the first).
    pub attempt: u32,
    /// Why the task exists: `cron`, `enqueue`, `manual`, ...
    pub trigger: Trigger,
    /// When the task was first due.
    pub scheduled_at: DateTime<Utc>,
    /// When the attempt started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    pub finished_at: DateTime<Utc>,
    /// How long it ran, in milliseconds.
    pub duration_ms: i64,
    /// How it ended.
    pub status: ExecutionStatus,
    /// The failure's message.
    pub error: Option<String>,
    /// Records processed, when the job said.
    pub records_processed: Option<i64>,
    /// The runner that ran it.
    pub runner_id: String,
    /// The chain the task is a step of: the id of its first task.
    pub chain_id: Option<i64>,
    /// The step's number in its chain, 1 for the first.
    pub chain_step: Option<i64>,
    /// What a successful attempt returned.
    pub result: Option<serde_json::Value>,
    /// The last progress the attempt reported.
    pub progress: Option<serde_json::Value>,
}

/// Which history rows to read.
#[derive(Debug, Clone, Default)]
pub struct ExecutionFilter {
    /// Only of this job.
    pub job: Option<String>,
    /// Only with this status.
    pub status: Option<ExecutionStatus>,
    /// Only of this task.
    pub task_id: Option<i64>,
    /// Only attempts that started at or after this instant.
    pub since: Option<DateTime<Utc>>,
    /// Only attempts that started before this instant.
    pub until: Option<DateTime<Utc>>,
    /// Only rows with an id below this (the cursor of the previous page).
    pub before_id: Option<i64>,
    /// At most this many, newest first.
    pub limit: u32,
}

impl NewExecution {
    /// How long the attempt ran, in milliseconds (never negative).
    pub(crate) fn duration_ms(&self) -> i64 {
        (self.finished_at - self.started_at)
            .num_milliseconds()
            .max(0)
    }

    /// The records processed, as stored (a signed 64-bit number).
    pub(crate) fn records(&self) -> Option<i64> {
        self.records_processed
            .map(|n| n.min(i64::MAX as u64) as i64)
    }
}
