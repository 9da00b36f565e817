//! Flow control as the controls show and change it: each job's and each queue's limits,
//! where they come from, and what they hold back; limits set at run time, which every
//! runner obeys within its poll interval.
//!
//! One implementation serves the CLI (`job-runner limits ...`) and the admin API
//! (`/api/limits`, `/api/jobs/{name}/limits`, `/api/queues/{name}/limits`).

use job_core::Rate;
use serde::Serialize;

use crate::control::{Control, ControlError};
use crate::limits::effective;
use crate::plan::JobSettings;
use crate::storage::{KeyState, LimitOverride, Limits};

/// The keys shown per job: those with the most due tasks.
const TOP_KEYS: u32 = 10;

/// A job's limits, and what they hold back now.
#[derive(Debug, Clone, Serialize)]
pub struct JobLimits {
    /// The job.
    pub job: String,
    /// Where the limits come from: `code` (its `#[job]`, `jobs.toml`, the environment) or
    /// `run time` (`job-runner limits set`, the admin API).
    pub source: &'static str,
    /// At most this many attempts at once across all runners (per key with `per`).
    pub limit: Option<u32>,
    /// At most this many starts in any window, written `100/1m` (per key with `per`).
    pub rate: Option<String>,
    /// The argument fields that make a task's key: limits apply per key, and claims take
    /// keys in turn.
    pub per: Vec<&'static str>,
    /// Attempts running now.
    pub running: i64,
    /// Attempts started within the rate's window.
    pub started_in_window: i64,
    /// Starts the job-wide rate allows now (none without a job-wide rate).
    pub rate_remaining: Option<i64>,
    /// Due tasks waiting.
    pub waiting: i64,
    /// The keys with the most due tasks.
    pub keys: Vec<KeyState>,
    /// The limit of the job's queue, all its jobs together (see [`QueueLimits`]).
    pub queue_limit: Option<u32>,
}

/// A queue's limit across every runner, all its jobs together, and what runs under it.
#[derive(Debug, Clone, Serialize)]
pub struct QueueLimits {
    /// The queue.
    pub queue: String,
    /// Where the limit comes from: `config` (`[queues.NAME] limit` in `jobs.toml`, or
    /// `JOBS_QUEUE_<NAME>_LIMIT`) or `run time`.
    pub source: &'static str,
    /// At most this many attempts of the queue's jobs at once (none: no limit).
    pub limit: Option<u32>,
    /// The jobs of the queue.
    pub jobs: Vec<String>,
    /// Their attempts running now.
    pub running: i64,
    /// Their due tasks waiting.
    pub waiting: i64,
}

impl Control {
    /// The limits of every job that has some (in code, configuration or set at run time),
    /// or whose tasks have keys.
    pub async fn limits(&self) -> Result<Vec<JobLimits>, ControlError> {
        let set = self.store().limit_overrides().await?;
        let mut out = Vec::new();
        for settings in self.plan().jobs() {
            if settings.limits().any() || set.iter().any(|row| row.job == settings.name()) {
                out.push(self.shown(settings, &set).await?);
            }
        }
        Ok(out)
    }

    /// The limits of job `name`.
    pub async fn job_limits(&self, name: &str) -> Result<JobLimits, ControlError> {
        let settings = self.settings(name)?;
        let set = self.store().limit_overrides().await?;
        self.shown(settings, &set).await
    }

    /// Sets job `name`'s limits at run time, replacing its own: `limit` attempts at once
    /// and `rate` (none: no limit of that kind). Every runner obeys within its poll interval.
    pub async fn set_limits(
        &self,
        name: &str,
        limit: Option<u32>,
        rate: Option<Rate>,
    ) -> Result<JobLimits, ControlError> {
        self.settings(name)?;
        if limit == Some(0) {
            return Err(ControlError::Invalid(
                "a limit of 0 would run nothing: pause the job instead (`job-runner pause`)".into(),
            ));
        }
        let row = LimitOverride {
            job: name.to_owned(),
            concurrency: limit,
            rate_count: rate.map(|r| r.count),
            rate_window_ms: rate.map(|r| i64::try_from(r.per.as_millis()).unwrap_or(i64::MAX)),
            updated_at: self.now(),
        };
        self.store().set_limit_override(&row).await?;
        self.job_limits(name).await
    }

    /// Clears job `name`'s run-time limits: its own apply again. `false` when none were set.
    pub async fn clear_limits(&self, name: &str) -> Result<bool, ControlError> {
        self.settings(name)?;
        Ok(self.store().clear_limit_override(name).await?)
    }

    /// The queues with a limit (in configuration or set at run time), each with what runs
    /// under it.
    pub async fn queue_limits(&self) -> Result<Vec<QueueLimits>, ControlError> {
        let set = self.store().limit_overrides().await?;
        let mut out = Vec::new();
        for queue in self.plan().queues() {
            let shown = self.queue_shown(queue, &set).await?;
            if shown.limit.is_some() || shown.source == "run time" {
                out.push(shown);
            }
        }
        Ok(out)
    }

    /// The limit of queue `name`.
    pub async fn queue_limit(&self, name: &str) -> Result<QueueLimits, ControlError> {
        self.known_queue(name)?;
        let set = self.store().limit_overrides().await?;
        self.queue_shown(name, &set).await
    }

    /// Sets queue `name`'s limit at run time (none: no limit), replacing its configured
    /// one in every runner within its poll interval.
    pub async fn set_queue_limit(
        &self,
        name: &str,
        limit: Option<u32>,
    ) -> Result<QueueLimits, ControlError> {
        self.known_queue(name)?;
        if limit == Some(0) {
            return Err(ControlError::Invalid(
                "a limit of 0 would run nothing: pause the queue's jobs instead (`job-runner pause`)"
                    .into(),
            ));
        }
        let row = LimitOverride {
            job: LimitOverride::queue_key(name),
            concurrency: limit,
            rate_count: None,
            rate_window_ms: None,
            updated_at: self.now(),
        };
        self.store().set_limit_override(&row).await?;
        self.queue_limit(name).await
    }

    /// Clears queue `name`'s run-time limit: its configured one applies again. `false` when
    /// none was set.
    pub async fn clear_queue_limit(&self, name: &str) -> Result<bool, ControlError> {
        self.known_queue(name)?;
        Ok(self
            .store()
            .clear_limit_override(&LimitOverride::queue_key(name))
            .await?)
    }

    /// Refuses a queue that no registered job runs in.
    fn known_queue(&self, name: &str) -> Result<(), ControlError> {
        let queues = self.plan().queues();
        if queues.contains(&name) {
            return Ok(());
        }
        Err(ControlError::Invalid(format!(
            "no registered job runs in queue `{name}` (queues: {}); check its name",
            queues.join(", ")
        )))
    }

    async fn queue_shown(
        &self,
        queue: &str,
        set: &[LimitOverride],
    ) -> Result<QueueLimits, ControlError> {
        let row = set.iter().find(|row| row.queue() == Some(queue));
        let mut shown = QueueLimits {
            queue: queue.to_owned(),
            source: if row.is_some() { "run time" } else { "config" },
            limit: None,
            jobs: Vec::new(),
            running: 0,
            waiting: 0,
        };
        for settings in self.plan().jobs().filter(|j| j.queue == queue) {
            let limits = effective(settings, set);
            shown.limit = limits.queue.as_ref().map(|q| q.limit);
            let state = self
                .store()
                .flow_state(settings.name(), self.now(), &limits, 0)
                .await?;
            shown.jobs.push(settings.name().to_owned());
            shown.running += state.running;
            shown.waiting += state.waiting;
        }
        Ok(shown)
    }

    async fn shown(
        &self,
        settings: &JobSettings,
        set: &[LimitOverride],
    ) -> Result<JobLimits, ControlError> {
        let source = if set.iter().any(|row| row.job == settings.name()) {
            "run time"
        } else {
            "code"
        };
        let limits = effective(settings, set);
        let state = self
            .store()
            .flow_state(settings.name(), self.now(), &limits, TOP_KEYS)
            .await?;
        let rate_remaining = limits
            .rate
            .filter(|_| !limits.per_key)
            .map(|(count, _)| (i64::from(count) - state.started_in_window).max(0));
        Ok(JobLimits {
            job: settings.name().to_owned(),
            source,
            limit: limits.concurrency,
            rate: rate_text(&limits),
            per: settings.descriptor.options().per.to_vec(),
            running: state.running,
            started_in_window: state.started_in_window,
            rate_remaining,
            waiting: state.waiting,
            keys: state.keys,
            queue_limit: limits.queue.as_ref().map(|q| q.limit),
        })
    }
}

/// A rate as written: `100/1m`.
fn rate_text(limits: &Limits) -> Option<String> {
    limits
        .rate
        .map(|(count, per)| Rate { count, per }.to_string())
}
