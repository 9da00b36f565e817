//! The controls over tasks in bulk and in depth, shared by the CLI and the admin API: count
//! what a filter matches, retry, cancel or delete all of it, read a task's whole story,
//! and watch the task table for changes.
//!
//! A filter's `since` and `until` apply to a task's last change: when it finished for a
//! finished task (succeeded, dead, cancelled), else when it was stored (pending, running).

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::Serialize;

use crate::control::{Control, ControlError};
use crate::storage::{
    BULK_BATCH, BulkAction, BulkOutcome, ChainStep, Execution, ExecutionFilter, TaskCount,
    TaskFilter, TaskRow, TaskState,
};

/// Most attempts a task's page shows (the oldest first; a task has at most its attempts and
/// snoozes, far fewer in practice).
const MAX_ATTEMPTS_SHOWN: u32 = 1000;

/// A bulk action, by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum BulkKind {
    /// Dead and cancelled tasks run again, each with a fresh set of attempts.
    Retry,
    /// Pending tasks are cancelled, running ones asked to stop.
    Cancel,
    /// Finished tasks (succeeded, dead, cancelled) are deleted; never a pending or running
    /// one.
    Delete,
}

impl BulkKind {
    /// The action's name: `retry`, `cancel` or `delete`.
    pub fn as_str(self) -> &'static str {
        match self {
            BulkKind::Retry => "retry",
            BulkKind::Cancel => "cancel",
            BulkKind::Delete => "delete",
        }
    }

    /// The states the action changes, in words.
    pub fn applies_to(self) -> &'static str {
        match self {
            BulkKind::Retry => "dead or cancelled",
            BulkKind::Cancel => "pending or running",
            BulkKind::Delete => "succeeded, dead or cancelled",
        }
    }
}

impl fmt::Display for BulkKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for BulkKind {
    type Err = ControlError;

    fn from_str(text: &str) -> Result<BulkKind, ControlError> {
        match text {
            "retry" => Ok(BulkKind::Retry),
            "cancel" => Ok(BulkKind::Cancel),
            "delete" => Ok(BulkKind::Delete),
            other => Err(ControlError::Invalid(format!(
                "unknown bulk action `{other}`; use retry, cancel or delete"
            ))),
        }
    }
}

/// Where a task came from.
#[derive(Debug, Clone, Serialize)]
pub struct TaskOrigin {
    /// Its trigger: cron, enqueue, manual, event, chain or exec.
    pub trigger: String,
    /// The schedule whose tick stored it.
    pub schedule_id: Option<String>,
    /// The instant of that tick.
    pub tick_at: Option<DateTime<Utc>>,
    /// The event that stored it.
    pub event: Option<EventRef>,
    /// The previous step's task, for a step of a chain after the first.
    pub previous_task_id: Option<i64>,
}

/// An event, by source and id.
#[derive(Debug, Clone, Serialize)]
pub struct EventRef {
    /// The source.
    pub source: String,
    /// The event's id within the source.
    pub event_id: String,
}

/// A task's whole story: the task, its attempts, its chain and its origin.
#[derive(Debug, Clone, Serialize)]
pub struct TaskDetail {
    /// The task.
    pub task: TaskRow,
    /// Its attempts, oldest first.
    pub attempts: Vec<Execution>,
    /// Every step of its chain, first step first (empty when it is no step of a chain).
    pub chain: Vec<ChainStep>,
    /// Where it came from.
    pub origin: TaskOrigin,
}

/// Tasks per state, each state present (zero when none), but succeeded: see
/// [`Reads::pulse`](crate::storage::Reads::pulse).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StateCounts {
    /// Pending tasks.
    pub pending: i64,
    /// Running tasks.
    pub running: i64,
    /// Dead tasks.
    pub dead: i64,
    /// Cancelled tasks.
    pub cancelled: i64,
}

/// What the console's live updates watch: when it changes, the console reads its page
/// again.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Change {
    /// When it was read.
    pub at: DateTime<Utc>,
    /// Tasks per state.
    pub counts: StateCounts,
    /// The id of the latest history row.
    pub latest_execution_id: Option<i64>,
    /// The paused queues.
    pub paused_queues: Vec<String>,
}

impl Change {
    /// Whether `other` says the same (the instant aside).
    pub fn same_as(&self, other: &Change) -> bool {
        self.counts == other.counts
            && self.latest_execution_id == other.latest_execution_id
            && self.paused_queues == other.paused_queues
    }
}

impl Control {
    /// How many tasks match `filter` now, and the highest matching id: pass it to
    /// [`bulk`](Control::bulk) so that tasks stored later are never touched.
    pub async fn count_tasks(&self, filter: &TaskFilter) -> Result<TaskCount, ControlError> {
        Ok(self.store().count_tasks(filter).await?)
    }

    /// Applies `kind` to every task that matches `filter` with an id up to `up_to_id`, in
    /// batches of ids (each its own transaction), as the single-task controls do:
    /// `retry` runs dead and cancelled tasks again with a fresh set of attempts (their
    /// job's), `cancel` cancels pending tasks and asks running ones to stop, `delete`
    /// deletes finished tasks (never a pending or running one) and frees their uniqueness
    /// keys, keeping their history. Tasks in other states are counted as skipped.
    pub async fn bulk(
        &self,
        kind: BulkKind,
        filter: &TaskFilter,
        up_to_id: i64,
    ) -> Result<BulkOutcome, ControlError> {
        let plan = self.plan();
        let extra_attempts = |job: &str| plan.get(job).map_or(1, |s| s.max_attempts());
        let actor = self.actor();
        let action = match kind {
            BulkKind::Retry => BulkAction::Retry {
                extra_attempts: &extra_attempts,
            },
            BulkKind::Cancel => BulkAction::Cancel { runner: actor },
            BulkKind::Delete => BulkAction::Delete,
        };
        let outcome = self
            .store()
            .bulk_tasks(&action, filter, up_to_id, BULK_BATCH, self.now())
            .await?;
        if kind == BulkKind::Retry && outcome.applied > 0 {
            // This process's workers look at once (other runners hear the announcement).
            match &filter.job {
                Some(job) => self.client().wake(job),
                None => plan.jobs().for_each(|s| self.client().wake(s.name())),
            }
        }
        Ok(outcome)
    }

    /// Task `id` with its attempts (oldest first), its chain and its origin.
    pub async fn task_detail(&self, id: i64) -> Result<TaskDetail, ControlError> {
        let task = self.task(id).await?;
        let mut attempts = self
            .store()
            .executions(&ExecutionFilter {
                task_id: Some(id),
                limit: MAX_ATTEMPTS_SHOWN,
                ..ExecutionFilter::default()
            })
            .await?;
        attempts.reverse();
        let links = self.store().task_links(id).await?;
        let previous_task_id = links
            .chain
            .iter()
            .position(|step| step.task_id == id)
            .and_then(|at| at.checked_sub(1))
            .map(|before| links.chain[before].task_id);
        let (schedule_id, tick_at) = links.tick.map_or((None, None), |(s, t)| (Some(s), Some(t)));
        let origin = TaskOrigin {
            trigger: task.trigger.to_string(),
            schedule_id,
            tick_at,
            event: links
                .event
                .map(|(source, event_id)| EventRef { source, event_id }),
            previous_task_id,
        };
        Ok(TaskDetail {
            task,
            attempts,
            chain: links.chain,
            origin,
        })
    }

    /// The tasks per state, the latest history row and the paused queues, now.
    pub async fn change(&self) -> Result<Change, ControlError> {
        let pulse = self.store().pulse().await?;
        let mut counts = StateCounts::default();
        for (state, n) in pulse.counts {
            let slot = match state {
                TaskState::Pending => &mut counts.pending,
                TaskState::Running => &mut counts.running,
                TaskState::Dead => &mut counts.dead,
                TaskState::Cancelled => &mut counts.cancelled,
                // Not counted (see `Reads::pulse`): a success shows as the latest attempt.
                TaskState::Succeeded => continue,
            };
            *slot = n;
        }
        Ok(Change {
            at: self.now(),
            counts,
            latest_execution_id: pulse.latest_execution_id,
            paused_queues: pulse.paused_queues,
        })
    }
}
