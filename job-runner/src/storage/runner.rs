//! Runner processes as the storage knows them.

use chrono::{DateTime, Utc};
use job_core::Trigger;
use serde::Serialize;

use super::rows::{Columns, instant};
use super::{
    AttemptOf, ExecutionStatus, FailedAttempt, NewExecution, RetryPolicy, StoreError, TaskState,
};

/// A job as the runners of a database run it: the settings a task of it is stored with,
/// for enqueues from outside the Rust client (PostgreSQL's `jobs_enqueue`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KnownJob {
    /// The job's name.
    pub job: String,
    /// Its queue.
    pub queue: String,
    /// Its priority.
    pub priority: i32,
    /// Attempts a task of it may have.
    pub max_attempts: u32,
    /// Whether at most one of its tasks runs at once.
    pub exclusive: bool,
    /// Whether its tasks have keys (uniqueness or partition) that only the Rust client
    /// computes.
    pub keyed: bool,
}

/// A registered runner process.
#[derive(Debug, Clone, Serialize)]
pub struct RunnerRow {
    /// Its id: host, process id and a random part.
    pub id: String,
    /// Its host name.
    pub host: String,
    /// Its process id.
    pub pid: i64,
    /// The queues it runs, comma-separated (empty for all).
    pub queues: String,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
}

/// A task whose runner stopped heartbeating, recovered by another.
#[derive(Debug, Clone)]
pub struct RescuedTask {
    /// The task.
    pub task_id: i64,
    /// The job's name.
    pub job: String,
    /// The attempt that was lost.
    pub attempt: u32,
    /// The runner that lost it.
    pub lost_by: String,
    /// Whether the task goes back to pending (`false`: no attempt left, it is dead).
    pub retried: bool,
}

/// The columns [`LostClaim::read`] reads, from the tasks (`t`) joined with their runners
/// (`r`).
pub(crate) const LOST_CLAIM_COLUMNS: &str = "t.id, t.job, t.attempt, t.max_attempts, \
     t.trigger, t.scheduled_at, t.locked_at, t.locked_by, t.chain_id, t.chain_step, \
     t.cancel_requested_at, r.heartbeat_at";

/// A claim whose runner stopped heartbeating (or is giving up its claims), as a backend
/// finds it.
pub(crate) struct LostClaim {
    task_id: i64,
    job: String,
    attempt: u32,
    max_attempts: u32,
    trigger: Trigger,
    scheduled_at: DateTime<Utc>,
    locked_at: Option<DateTime<Utc>>,
    lost_by: String,
    last_seen: Option<DateTime<Utc>>,
    chain_id: Option<i64>,
    chain_step: Option<i64>,
    /// The task was asked to stop while it ran: it ends cancelled, not retried.
    cancel_requested: bool,
}

/// What becomes of a lost claim: the task's next state, and the history row of the lost
/// attempt.
pub(crate) struct Recovery {
    /// The task.
    pub(crate) task_id: i64,
    /// The attempt that was lost.
    pub(crate) attempt: u32,
    /// The runner that held the claim.
    pub(crate) lost_by: String,
    /// When the task runs again (`None`: it is dead or cancelled).
    pub(crate) retry_at: Option<DateTime<Utc>>,
    /// The task's next state: pending (retried), dead or cancelled.
    pub(crate) next_state: TaskState,
    /// Why, as the task's last error.
    pub(crate) reason: String,
    /// The history row of the lost attempt.
    pub(crate) execution: NewExecution,
}

impl LostClaim {
    /// A lost claim, from [`LOST_CLAIM_COLUMNS`].
    pub(crate) fn read(row: &impl Columns) -> Result<LostClaim, StoreError> {
        const DOING: &str = "recovering claims of stopped runners";
        Ok(LostClaim {
            task_id: row.int("id", DOING)?,
            job: row.text("job", DOING)?,
            attempt: row.int("attempt", DOING)? as u32,
            max_attempts: row.int("max_attempts", DOING)? as u32,
            trigger: Trigger::from_name(&row.text("trigger", DOING)?).unwrap_or(Trigger::Enqueue),
            scheduled_at: instant(row.int("scheduled_at", DOING)?),
            locked_at: row.opt_int("locked_at", DOING)?.map(instant),
            lost_by: row.opt_text("locked_by", DOING)?.unwrap_or_default(),
            last_seen: row.opt_int("heartbeat_at", DOING)?.map(instant),
            chain_id: row.opt_int("chain_id", DOING)?,
            chain_step: row.opt_int("chain_step", DOING)?,
            cancel_requested: row.opt_int("cancel_requested_at", DOING)?.is_some(),
        })
    }

    /// What becomes of it at `now`, as `policy` decides; `also` is a runner giving up its
    /// own claims at shutdown. The lost attempt counts.
    pub(crate) fn recovery(
        self,
        now: DateTime<Utc>,
        also: Option<&str>,
        policy: &dyn RetryPolicy,
    ) -> Recovery {
        let (attempt, lost_by) = (self.attempt, &self.lost_by);
        let reason = if also == Some(lost_by.as_str()) {
            format!("interrupted: runner {lost_by} shut down before attempt {attempt} finished")
        } else {
            match self.last_seen {
                Some(seen) => format!(
                    "lost: runner {lost_by} stopped heartbeating (last seen {}); attempt {attempt} did not finish",
                    seen.to_rfc3339()
                ),
                None => format!("lost: runner {lost_by} is gone; attempt {attempt} did not finish"),
            }
        };
        // A task asked to stop is not run again: the cancel is what was wanted.
        let (reason, retry_at) = if self.cancel_requested {
            (format!("cancelled while running; {reason}"), None)
        } else {
            let retry_at = policy.retry_at(&FailedAttempt {
                job: &self.job,
                task_id: self.task_id,
                attempt,
                max_attempts: self.max_attempts,
                error: &job_core::JobError::msg(&reason),
                at: now,
            });
            (reason, retry_at)
        };
        let (status, next_state) = match (retry_at, self.cancel_requested) {
            (Some(_), _) => (ExecutionStatus::Failed, TaskState::Pending),
            (None, true) => (ExecutionStatus::Cancelled, TaskState::Cancelled),
            (None, false) => (ExecutionStatus::Dead, TaskState::Dead),
        };
        let of = AttemptOf {
            task_id: self.task_id,
            job: self.job,
            attempt,
            trigger: self.trigger,
            scheduled_at: self.scheduled_at,
            chain_id: self.chain_id,
            chain_step: self.chain_step,
        };
        let execution = NewExecution::new(
            of,
            &self.lost_by,
            status,
            self.locked_at.unwrap_or(now),
            now,
        )
        .with_error(Some(reason.clone()));
        Recovery {
            task_id: self.task_id,
            attempt,
            lost_by: self.lost_by,
            retry_at,
            next_state,
            reason,
            execution,
        }
    }
}

impl Recovery {
    /// The rescued task, as the rescuer reports it.
    pub(crate) fn rescued(&self) -> RescuedTask {
        RescuedTask {
            task_id: self.task_id,
            job: self.execution.job.clone(),
            attempt: self.attempt,
            lost_by: self.lost_by.clone(),
            retried: self.retry_at.is_some(),
        }
    }
}
