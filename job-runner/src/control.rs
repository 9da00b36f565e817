//! The controls: list jobs, trigger, pause, resume, retry, cancel, read the history.
//!
//! The CLI and the admin API both call these; they act on the database, so every runner
//! obeys them, running or not.

use chrono::{DateTime, Utc};
use job_core::{EnqueueError, EnqueueOptions, EnqueueRequest, JobClient, Trigger};
use job_schedule::Recurrence;
use serde::Serialize;

use crate::client::Jobs;
use crate::plan::{JobSettings, Plan};
use crate::storage::{
    Execution, ExecutionFilter, Store, StoreError, TaskFilter, TaskRow, TaskState, Transition,
};

/// A job as the controls show it.
#[derive(Debug, Clone, Serialize)]
pub struct JobStatus {
    /// Its name.
    pub name: String,
    /// Its queue.
    pub queue: String,
    /// Its cron expression, for a scheduled job.
    pub schedule: Option<String>,
    /// The time zone of the schedule.
    pub timezone: Option<String>,
    /// The next tick, in the schedule's zone.
    pub next_run: Option<DateTime<job_schedule::Tz>>,
    /// The latest attempt.
    pub last_run: Option<Execution>,
    /// Whether it is paused.
    pub paused: bool,
    /// Whether the configuration enables it.
    pub enabled: bool,
    /// The Rust type of its arguments (`()` for none).
    pub args_type: &'static str,
    /// Where it is defined.
    pub location: String,
    /// Its limits as they apply now (its own, or those set at run time), written as
    /// `limit 5, 100/1m per customer_id`; none without limits or keys.
    pub limits: Option<String>,
}

/// The controls over one database.
#[derive(Clone)]
pub struct Control {
    jobs: Jobs,
    actor: String,
    lease: std::time::Duration,
}

impl Control {
    /// Controls acting through `jobs`; `actor` is recorded as the runner of cancellations
    /// (`cli`, `api`...).
    pub fn new(jobs: Jobs, actor: impl Into<String>) -> Control {
        Control {
            jobs,
            actor: actor.into(),
            lease: crate::Config::default().lease,
        }
    }

    /// With the runners' lease (`[runner] lease`): a runner whose heartbeat is older is
    /// shown as not alive. The default lease otherwise.
    pub fn with_lease(mut self, lease: std::time::Duration) -> Control {
        self.lease = lease;
        self
    }

    /// The runners' lease.
    pub(crate) fn lease(&self) -> std::time::Duration {
        self.lease
    }

    /// The client these controls act through.
    pub fn client(&self) -> &Jobs {
        &self.jobs
    }

    /// Who these controls act as (`cli`, `api`): the runner of the history rows they write.
    pub(crate) fn actor(&self) -> &str {
        &self.actor
    }

    pub(crate) fn store(&self) -> &Store {
        self.jobs.store()
    }

    pub(crate) fn plan(&self) -> &Plan {
        self.jobs.plan()
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        self.jobs.clock().now()
    }

    /// The settings of job `name`, or why there are none.
    pub(crate) fn settings(&self, name: &str) -> Result<&JobSettings, ControlError> {
        self.plan()
            .get(name)
            .ok_or_else(|| ControlError::UnknownJob(name.to_owned()))
    }

    fn known(&self, name: &str) -> Result<(), ControlError> {
        match self.plan().get(name) {
            Some(_) => Ok(()),
            None => Err(ControlError::UnknownJob(name.to_owned())),
        }
    }

    /// Every registered job with its schedule, next and last run, and pause state.
    pub async fn jobs(&self) -> Result<Vec<JobStatus>, ControlError> {
        let now = self.now();
        let paused = self.store().paused().await?;
        let last = self.store().last_executions().await?;
        let set = self.store().limit_overrides().await?;
        Ok(self
            .plan()
            .jobs()
            .map(|settings| JobStatus {
                name: settings.name().to_owned(),
                queue: settings.queue.clone(),
                schedule: settings.schedule.as_ref().map(|s| match s {
                    Recurrence::Cron(cron) => cron.cron().to_string(),
                    Recurrence::Every(every) => every.to_string(),
                }),
                timezone: settings.schedule.as_ref().and_then(|s| match s {
                    Recurrence::Cron(cron) => Some(cron.zone().name().to_owned()),
                    Recurrence::Every(_) => None,
                }),
                next_run: settings
                    .schedule
                    .as_ref()
                    .and_then(|s| s.next_after(now).map(|t| s.local(t))),
                last_run: last.iter().find(|e| e.job == settings.name()).cloned(),
                paused: paused.iter().any(|p| p == settings.name()),
                enabled: settings.enabled,
                args_type: settings.descriptor.args_type(),
                location: settings.descriptor.location().to_string(),
                limits: limits_text(settings, &crate::limits::effective(settings, &set)),
            })
            .collect())
    }

    /// Enqueues `name` now, by hand, with `args` (JSON; `null` or absent for a job that
    /// takes none). Returns the stored task.
    pub async fn trigger(
        &self,
        name: &str,
        args: Option<serde_json::Value>,
    ) -> Result<TaskRow, ControlError> {
        self.known(name)?;
        let request = EnqueueRequest {
            job: name.to_owned(),
            args: args.unwrap_or(serde_json::Value::Null),
            options: EnqueueOptions::default(),
            trigger: Trigger::Manual,
            then: Vec::new(),
        };
        let enqueued = self
            .jobs
            .enqueue(request)
            .await
            .map_err(|error| match error {
                EnqueueError::UnknownJob(job) => ControlError::UnknownJob(job),
                EnqueueError::InvalidArgs(invalid) => ControlError::InvalidArgs(invalid),
                other => ControlError::Enqueue(other.to_string()),
            })?;
        let id = parse_id(enqueued.id.as_str())?;
        self.task(id).await
    }

    /// Pauses `name` in every runner: its ticks are skipped, its tasks held. `false` if it
    /// was already paused.
    pub async fn pause(&self, name: &str) -> Result<bool, ControlError> {
        self.known(name)?;
        Ok(self.store().pause(name, self.now()).await?)
    }

    /// Resumes `name`. `false` if it was not paused.
    pub async fn resume(&self, name: &str) -> Result<bool, ControlError> {
        self.known(name)?;
        let resumed = self.store().resume(name).await?;
        self.jobs.wake(name);
        Ok(resumed)
    }

    /// Runs a dead (or cancelled) task again, with a fresh set of attempts.
    pub async fn retry(&self, id: i64) -> Result<TaskRow, ControlError> {
        let task = self.task(id).await?;
        let extra = self
            .plan()
            .get(&task.job)
            .map_or(1, |settings| settings.max_attempts());
        let task = self.store().retry(id, extra, self.now()).await?;
        let task = applied(id, task, "retried", "dead or cancelled")?;
        self.jobs.wake(&task.job);
        Ok(task)
    }

    /// Cancels a task: a pending one at once; a running one is asked to stop, and the
    /// returned task is `running` with `cancel_requested_at` set (its runner ends it as
    /// `cancelled` within its cancel grace).
    pub async fn cancel(&self, id: i64) -> Result<TaskRow, ControlError> {
        let task = self.store().cancel(id, &self.actor, self.now()).await?;
        applied(id, task, "cancelled", "pending or running")
    }

    /// One task.
    pub async fn task(&self, id: i64) -> Result<TaskRow, ControlError> {
        self.store()
            .task(id)
            .await?
            .ok_or(ControlError::UnknownTask(id))
    }

    /// Tasks matching `filter`, newest first.
    pub async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRow>, ControlError> {
        Ok(self.store().tasks(filter).await?)
    }

    /// History rows matching `filter`, newest first.
    pub async fn history(&self, filter: &ExecutionFilter) -> Result<Vec<Execution>, ControlError> {
        if let Some(job) = &filter.job
            && self.plan().get(job).is_none()
        {
            // A job that is gone may still have history: allow it, but say so when empty.
            let rows = self.store().executions(filter).await?;
            if rows.is_empty() {
                return Err(ControlError::UnknownJob(job.clone()));
            }
            return Ok(rows);
        }
        Ok(self.store().executions(filter).await?)
    }
}

impl Control {
    /// The latest events taken from the sources, newest first.
    pub async fn events(&self, limit: u32) -> Result<Vec<crate::storage::EventRow>, ControlError> {
        Ok(self.store().events(limit).await?)
    }

    /// Whether the database answers.
    pub async fn ping(&self) -> Result<(), ControlError> {
        Ok(self.store().ping().await?)
    }

    /// The Prometheus metrics: this runner's counters and the database's gauges.
    pub async fn metrics(&self) -> Result<String, ControlError> {
        let queues = self.store().queue_stats(self.now()).await?;
        let dead = self.store().task_counts(TaskState::Dead).await?;
        let running = self.store().task_counts(TaskState::Running).await?;
        let limited = self.limits().await?;
        Ok(self
            .jobs
            .metrics()
            .render(&queues, &dead, &running, &limited))
    }
}

/// A job's limits in a few words: `limit 5, 100/1m per customer_id`.
fn limits_text(settings: &JobSettings, limits: &crate::storage::Limits) -> Option<String> {
    let mut parts = Vec::new();
    if let Some(limit) = limits.concurrency {
        parts.push(format!("limit {limit}"));
    }
    if let Some((count, per)) = limits.rate {
        parts.push(job_core::Rate { count, per }.to_string());
    }
    let per = settings.descriptor.options().per;
    let own = match (parts.is_empty(), per.is_empty()) {
        (true, true) => None,
        (true, false) => Some(format!("keys in turn by {}", per.join(", "))),
        (false, true) => Some(parts.join(", ")),
        (false, false) => Some(format!("{} per {}", parts.join(", "), per.join(", "))),
    };
    let queue = limits
        .queue
        .as_ref()
        .map(|q| format!("queue {} limit {}", q.queue, q.limit));
    match (own, queue) {
        (Some(own), Some(queue)) => Some(format!("{own}; {queue}")),
        (own, queue) => own.or(queue),
    }
}

fn parse_id(id: &str) -> Result<i64, ControlError> {
    id.parse().map_err(|_| {
        ControlError::Store(StoreError::Corrupt {
            doing: "reading a task id",
            detail: format!("`{id}` is not a number"),
        })
    })
}

/// The task a guarded change left, or why it was refused: `action` is what was asked, as a
/// past participle, and `allowed` the states where it is allowed.
fn applied(
    id: i64,
    transition: Transition,
    action: &'static str,
    allowed: &'static str,
) -> Result<TaskRow, ControlError> {
    match transition {
        Transition::Applied(task) => Ok(task),
        Transition::Refused(task) => Err(ControlError::WrongState {
            id,
            state: task.state,
            action,
            allowed,
        }),
        Transition::NotFound => Err(ControlError::UnknownTask(id)),
    }
}

/// Why a control action was refused.
#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    /// No task has this id.
    #[error("no task has id {0}; `job-runner history` shows task ids")]
    UnknownTask(i64),
    /// The task is in a state where the action makes no sense.
    #[error("task {id} is {state}: only {allowed} tasks can be {action}")]
    WrongState {
        /// The task.
        id: i64,
        /// Its state.
        state: TaskState,
        /// What was asked, as a past participle (`cancelled`).
        action: &'static str,
        /// The states where it is allowed.
        allowed: &'static str,
    },
    /// No job has this name.
    #[error("no job named `{0}` is registered; `job-runner list` shows the registered jobs")]
    UnknownJob(String),
    /// No job uses this queue, no pending or running task is in it, and it is not paused.
    #[error(
        "no queue named `{0}`: no registered job uses it and no pending or running task is in it; `job-runner queues` lists the queues"
    )]
    UnknownQueue(String),
    /// The arguments do not fit the job.
    #[error(transparent)]
    InvalidArgs(#[from] job_core::InvalidArgs),
    /// A value given to a control makes no sense; the message says why and what to do.
    #[error("{0}")]
    Invalid(String),
    /// The task could not be enqueued.
    #[error("{0}")]
    Enqueue(String),
    /// The storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}
