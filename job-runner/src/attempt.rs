//! One attempt: the job's function under its timeout, with panics caught, and what the
//! outcome means for the task (succeeded, retried after its backoff, or dead), as the
//! completion that records it.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::FutureExt;
use job_core::{Clock, ContextBuilder, JobClient, JobError, State, TaskId};

use crate::chain;
use crate::client::Jobs;
use crate::heartbeat::Fence;
use crate::plan::JobSettings;
use crate::storage::{
    AttemptOf, ClaimedTask, Completion, ExecutionStatus, FailedAttempt, NewExecution, RetryPolicy,
    TaskState,
};

/// What one attempt runs with.
pub(crate) struct Attempt<'a> {
    pub(crate) settings: &'a JobSettings,
    /// For the next step of a chain.
    pub(crate) jobs: &'a Jobs,
    pub(crate) state: &'a Arc<State>,
    pub(crate) clock: &'a Clock,
    pub(crate) client: &'a Arc<dyn JobClient>,
    pub(crate) runner_id: &'a str,
    /// Raised when this runner cannot renew its lease: the attempt stops at once.
    pub(crate) fence: &'a Fence,
}

/// How the job's function ended.
enum Ended<T> {
    /// It returned or panicked (`Some`), or ran past its timeout (`None`).
    Ran(Option<T>),
    /// The fence rose: it was stopped.
    Fenced,
}

impl Attempt<'_> {
    /// Runs `task` once: timeout, panic and outcome, then the retry decision (backoff, or
    /// dead when no attempt is left or the failure is permanent).
    pub(crate) async fn run(&self, task: &ClaimedTask) -> Completion {
        let settings = self.settings;
        let clock = self.clock.clone();
        let ctx = ContextBuilder::new(settings.name(), TaskId::new(task.id.to_string()))
            .attempt(task.attempt, task.max_attempts)
            .trigger(task.trigger)
            .scheduled_at(task.scheduled_at)
            .clock(clock.clone())
            .state(self.state.clone())
            .client(self.client.clone())
            .build();
        let args = serde_json::from_str(&task.args)
            .unwrap_or(serde_json::Value::String(task.args.clone()));
        let started_at = clock.now();
        let epoch = self.fence.epoch();
        let run = AssertUnwindSafe(settings.descriptor.run(ctx, args)).catch_unwind();
        let timed = async {
            match settings.timeout {
                Some(limit) => clock.timeout(limit, run).await,
                None => Some(run.await),
            }
        };
        // Dropping the job's future stops it at its next await.
        let ended = tokio::select! {
            ended = timed => Ended::Ran(ended),
            () = self.fence.ended(epoch) => Ended::Fenced,
        };
        let finished_at = clock.now();
        let mut follow_up = None;
        let (status, error, records, permanent) = match ended {
            Ended::Fenced => (
                ExecutionStatus::Failed,
                Some(format!(
                    "stopped: runner {} could not hold its lease on the database, so it stopped the attempt before another runner could take the task over",
                    self.runner_id
                )),
                None,
                false,
            ),
            Ended::Ran(None) => (
                ExecutionStatus::TimedOut,
                Some(format!(
                    "timed out after {}",
                    job_schedule::format_duration(settings.timeout.unwrap_or_default())
                )),
                None,
                false,
            ),
            Ended::Ran(Some(Err(panic))) => (
                ExecutionStatus::Panicked,
                Some(format!("panicked: {}", panic_message(&*panic))),
                None,
                false,
            ),
            Ended::Ran(Some(Ok(Ok(outcome)))) => {
                match chain::next_step(self.jobs, settings, task, outcome.output(), clock.now()) {
                    Ok(next) => {
                        follow_up = next;
                        (
                            ExecutionStatus::Succeeded,
                            None,
                            outcome.records_processed(),
                            false,
                        )
                    }
                    // The next step cannot be stored: the chain stops here, and says why.
                    Err(problem) => (ExecutionStatus::Failed, Some(problem), None, true),
                }
            }
            Ended::Ran(Some(Ok(Err(error)))) => {
                let permanent = error.is_permanent();
                (
                    ExecutionStatus::Failed,
                    Some(error_text(&error)),
                    None,
                    permanent,
                )
            }
        };
        let failed = status != ExecutionStatus::Succeeded;
        let retry_at = failed
            .then(|| {
                self.jobs.plan().retry_at(&FailedAttempt {
                    job: settings.name(),
                    task_id: task.id,
                    attempt: task.attempt,
                    max_attempts: task.max_attempts,
                    permanent,
                    at: finished_at,
                })
            })
            .flatten();
        let dead = failed && retry_at.is_none();
        let (next_state, recorded) = if !failed {
            (TaskState::Succeeded, status)
        } else if dead {
            (TaskState::Dead, ExecutionStatus::Dead)
        } else {
            (TaskState::Pending, status)
        };
        let error = error.map(|text| match (dead, permanent) {
            (true, true) => format!("{text} (permanent failure: not retried)"),
            (true, false) => format!(
                "{text} (attempt {} of {}: no retry left)",
                task.attempt, task.max_attempts
            ),
            _ => text,
        });
        log_attempt(
            settings.name(),
            task,
            recorded,
            error.as_deref(),
            retry_at,
            finished_at - started_at,
        );
        let chain = chain::link_of(task, settings);
        let of = AttemptOf {
            task_id: task.id,
            job: settings.name().to_owned(),
            attempt: task.attempt,
            trigger: task.trigger,
            scheduled_at: task.scheduled_at,
            chain_id: chain.as_ref().map(|l| l.id),
            chain_step: chain.as_ref().map(|l| i64::from(l.step)),
        };
        Completion {
            task_id: task.id,
            attempt: task.attempt,
            next_state,
            retry_at,
            execution: NewExecution::new(of, self.runner_id, recorded, started_at, finished_at)
                .with_error(error)
                .with_records(records),
            chain,
            follow_up: follow_up.filter(|_| next_state == TaskState::Succeeded),
        }
    }
}

fn log_attempt(
    job: &str,
    task: &ClaimedTask,
    status: ExecutionStatus,
    error: Option<&str>,
    retry_at: Option<DateTime<Utc>>,
    took: TimeDelta,
) {
    let took_ms = took.num_milliseconds();
    match status {
        ExecutionStatus::Succeeded => tracing::info!(job, task_id = task.id, took_ms, "succeeded"),
        ExecutionStatus::Dead => tracing::error!(
            job,
            task_id = task.id,
            took_ms,
            error,
            "failed; the task is dead"
        ),
        _ => tracing::warn!(
            job,
            task_id = task.id,
            took_ms,
            error,
            retry_at = retry_at.map(|t| t.to_rfc3339()),
            "{status}; will retry"
        ),
    }
}

fn error_text(error: &JobError) -> String {
    error.to_string()
}

/// The message of a panic payload.
fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_owned()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "a panic with a non-text payload".to_owned()
    }
}
