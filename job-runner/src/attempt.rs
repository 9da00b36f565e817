//! One attempt: the job's function under its timeout, with panics caught, and what the
//! outcome means for the task (succeeded, retried after its backoff, or dead), as the
//! completion that records it.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use futures_util::FutureExt;
use job_core::{
    Clock, ContextBuilder, JobClient, JobError, LiveAttempt, Outcome, Progress, State, TaskId,
};

use crate::chain;
use crate::client::Jobs;
use crate::heartbeat::Fence;
use crate::plan::JobSettings;
use crate::storage::{
    AttemptOf, ClaimedTask, Completion, ExecutionStatus, FailedAttempt, NewExecution, RetryPolicy,
    TaskState,
};

/// Most bytes of a job's result (its return value as JSON) kept with its attempt.
pub(crate) const RESULT_MAX_BYTES: usize = 64 * 1024;

/// Most bytes of the progress kept with an attempt (its `meta` values included).
pub(crate) const PROGRESS_MAX_BYTES: usize = 16 * 1024;

/// How many times a task may snooze without counting an attempt.
pub(crate) const SNOOZE_MAX: u32 = 100;

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
    /// The attempt's progress, and the request to cancel it.
    pub(crate) live: Arc<LiveAttempt>,
    /// How long a cancelled attempt may take to stop by itself before it is stopped.
    pub(crate) cancel_grace: Duration,
}

/// How the job's function ended.
enum Ended<T> {
    /// It returned or panicked (`Some`), or ran past its timeout (`None`).
    Ran(Option<T>),
    /// The fence rose: it was stopped.
    Fenced,
    /// Its task was cancelled; `true` when it stopped by itself within the grace.
    Cancelled(bool),
}

/// What an attempt's end means, before the retry decision.
struct Verdict {
    status: ExecutionStatus,
    /// The failure, for a failed attempt.
    error: Option<JobError>,
    records: Option<u64>,
    result: Option<String>,
    /// A snooze: run again after this long, without counting the attempt.
    snooze: Option<Duration>,
}

impl Verdict {
    fn failed(status: ExecutionStatus, error: JobError) -> Verdict {
        Verdict {
            status,
            error: Some(error),
            records: None,
            result: None,
            snooze: None,
        }
    }
}

impl Attempt<'_> {
    /// Runs `task` once: timeout, panic, cancellation and outcome, then the retry decision
    /// (the job's retry policy, the error's delay or the backoff; dead when no attempt is
    /// left or the failure is permanent).
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
            .live(self.live.clone())
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
        tokio::pin!(timed);
        // Dropping the job's future stops it at its next await. In this order: a job that
        // returns because it saw its task cancelled ends cancelled, not succeeded.
        let ended = tokio::select! {
            biased;
            () = self.fence.ended(epoch) => Ended::Fenced,
            () = self.live.cancelled() => {
                // The job sees `ctx.cancelled()` resolve, and may stop by itself.
                tokio::select! {
                    stopped = clock.timeout(self.cancel_grace, &mut timed) => {
                        Ended::Cancelled(stopped.is_some())
                    }
                    () = self.fence.ended(epoch) => Ended::Fenced,
                }
            }
            ended = &mut timed => Ended::Ran(ended),
        };
        let finished_at = clock.now();
        let mut follow_up = None;
        let verdict = match ended {
            Ended::Fenced => Verdict::failed(
                ExecutionStatus::Failed,
                JobError::msg(format!(
                    "stopped: runner {} could not hold its lease on the database, so it stopped the attempt before another runner could take the task over",
                    self.runner_id
                )),
            ),
            Ended::Cancelled(by_itself) => Verdict::failed(
                ExecutionStatus::Cancelled,
                JobError::msg(if by_itself {
                    "cancelled while running; the attempt stopped by itself".to_owned()
                } else {
                    format!(
                        "cancelled while running; the attempt was stopped after a grace of {}",
                        job_schedule::format_duration(self.cancel_grace)
                    )
                }),
            ),
            Ended::Ran(None) => Verdict::failed(
                ExecutionStatus::TimedOut,
                JobError::msg(format!(
                    "timed out after {}",
                    job_schedule::format_duration(settings.timeout.unwrap_or_default())
                )),
            ),
            Ended::Ran(Some(Err(panic))) => Verdict::failed(
                ExecutionStatus::Panicked,
                JobError::msg(format!("panicked: {}", panic_message(&*panic))),
            ),
            Ended::Ran(Some(Ok(Ok(outcome)))) => match self.succeeded(task, &outcome) {
                Err(error) => Verdict::failed(ExecutionStatus::Failed, error),
                Ok(verdict) if verdict.snooze.is_some() => verdict,
                Ok(verdict) => {
                    match chain::next_step(self.jobs, settings, task, outcome.output(), clock.now())
                    {
                        Ok(next) => {
                            follow_up = next;
                            verdict
                        }
                        // The next step cannot be stored: the chain stops here, and says why.
                        Err(problem) => Verdict::failed(
                            ExecutionStatus::Failed,
                            JobError::msg(problem).permanent(),
                        ),
                    }
                }
            },
            Ended::Ran(Some(Ok(Err(error)))) => Verdict::failed(ExecutionStatus::Failed, error),
        };
        let Verdict {
            status,
            error,
            records,
            result,
            snooze,
        } = verdict;
        let failed = error.is_some() && status != ExecutionStatus::Cancelled;
        let retry_at = match (&error, snooze) {
            (_, Some(delay)) => Some(job_schedule::add_saturating(finished_at, delay)),
            (Some(error), None) if failed => self.jobs.plan().retry_at(&FailedAttempt {
                job: settings.name(),
                task_id: task.id,
                attempt: task.attempt,
                max_attempts: task.max_attempts,
                error,
                at: finished_at,
            }),
            _ => None,
        };
        let dead = failed && retry_at.is_none();
        let (next_state, recorded) = if status == ExecutionStatus::Cancelled {
            (TaskState::Cancelled, status)
        } else if snooze.is_some() || (failed && !dead) {
            (TaskState::Pending, status)
        } else if dead {
            (TaskState::Dead, ExecutionStatus::Dead)
        } else {
            (TaskState::Succeeded, status)
        };
        let permanent = error.as_ref().is_some_and(JobError::is_permanent);
        let error = error.map(|error| match (dead, permanent) {
            (true, true) => format!("{error} (permanent failure: not retried)"),
            (true, false) => format!(
                "{error} (attempt {} of {}: no retry left)",
                task.attempt, task.max_attempts
            ),
            _ => error_text(&error),
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
                .with_records(records)
                .with_result(result)
                .with_progress(progress_text(&self.live)),
            snoozed: snooze.is_some(),
            chain,
            follow_up: follow_up.filter(|_| next_state == TaskState::Succeeded),
        }
    }

    /// What a successful return means: a success with its result, or a snooze; an error
    /// when the result is over the cap or the task snoozed too often.
    fn succeeded(&self, task: &ClaimedTask, outcome: &Outcome) -> Result<Verdict, JobError> {
        if let Some(delay) = outcome.snoozed_for() {
            if task.snoozes >= SNOOZE_MAX {
                return Err(JobError::msg(format!(
                    "snoozed {} times: from now on a snooze counts as a failed attempt, so that a task cannot snooze for ever; finish the work, or fail it",
                    task.snoozes
                )));
            }
            return Ok(Verdict {
                status: ExecutionStatus::Snoozed,
                error: None,
                records: None,
                result: None,
                snooze: Some(delay),
            });
        }
        let result = outcome.output().map(ToString::to_string);
        if let Some(text) = &result
            && text.len() > RESULT_MAX_BYTES
        {
            return Err(JobError::msg(format!(
                "the result of job `{}` is {} bytes of JSON, over the cap of {} bytes: keep large results elsewhere (a file, a table) and return a reference to them",
                self.settings.name(),
                text.len(),
                RESULT_MAX_BYTES
            ))
            .permanent());
        }
        Ok(Verdict {
            status: ExecutionStatus::Succeeded,
            error: None,
            records: outcome.records_processed(),
            result,
            snooze: None,
        })
    }
}

/// The span of an attempt of `task`: its job, task, attempt number, queue and place in a
/// chain, then its outcome ([`record_outcome`]). It continues the trace stored with the
/// task (the enqueuer's; for a chain's step, the previous step's attempt).
pub(crate) fn span(task: &ClaimedTask, settings: &JobSettings) -> tracing::Span {
    let span = tracing::info_span!(
        "attempt",
        job = settings.name(),
        task_id = task.id,
        attempt = task.attempt,
        queue = settings.queue.as_str(),
        chain_step = chain::link_of(task, settings).map(|link| link.step),
        outcome = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    if let Some(context) = &task.trace_context {
        crate::telemetry::continue_stored(&span, context);
    }
    span
}

/// Records how an attempt ended on its span: the history row's status, and an error status
/// for a failure.
pub(crate) fn record_outcome(span: &tracing::Span, status: ExecutionStatus) {
    span.record("outcome", status.as_str());
    if !matches!(
        status,
        ExecutionStatus::Succeeded | ExecutionStatus::Snoozed | ExecutionStatus::Cancelled
    ) {
        span.record("otel.status_code", "ERROR");
    }
}

/// The progress the attempt reported, as stored: `None` when it reported none; a note in
/// its place when it is over the cap.
fn progress_text(live: &LiveAttempt) -> Option<String> {
    let progress = live.progress();
    if progress == Progress::default() {
        return None;
    }
    Some(progress_json(&progress))
}

/// `progress` as stored JSON text, its `meta` replaced by a note when the whole is over the
/// cap.
pub(crate) fn progress_json(progress: &Progress) -> String {
    let text = serde_json::to_string(progress).unwrap_or_default();
    if text.len() <= PROGRESS_MAX_BYTES {
        return text;
    }
    let mut trimmed = progress.clone();
    trimmed.meta.clear();
    trimmed.meta.insert(
        "note".into(),
        format!(
            "the meta values were {} bytes of JSON, over the cap of {PROGRESS_MAX_BYTES}: keep them short",
            text.len()
        )
        .into(),
    );
    serde_json::to_string(&trimmed).unwrap_or_default()
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
        ExecutionStatus::Snoozed => tracing::info!(
            job,
            task_id = task.id,
            retry_at = retry_at.map(|t| t.to_rfc3339()),
            "snoozed"
        ),
        ExecutionStatus::Cancelled => tracing::warn!(job, task_id = task.id, error, "cancelled"),
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
