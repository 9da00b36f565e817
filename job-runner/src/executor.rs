//! The executor: for each job, a fetcher that claims due tasks in batches as worker slots
//! free up, an apalis worker fed by it, and the attempt itself (timeout, panic, outcome,
//! retry decision).

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use apalis_core::backend::finalize::Ephemeral;
use apalis_core::backend::{Backend, BackendConfig};
use apalis_core::layers::{Identity, Service};
use apalis_core::task::Task;
use apalis_core::task::task_id::RandomId;
use apalis_core::worker::Worker;
use apalis_core::worker::builder::WorkerBuilder;
use apalis_core::worker::context::WorkerContext;
use chrono::{DateTime, TimeDelta, Utc};
use futures_util::FutureExt;
use job_core::{
    BoxFuture, Clock, ContextBuilder, EnqueueOptions, EnqueueRequest, JobClient, JobError, State,
    TaskId, Trigger,
};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tracing::Instrument;

use crate::client::Jobs;
use crate::completer::CompleterHandle;
use crate::plan::JobSettings;
use crate::storage::{
    ChainLink, ClaimedTask, Completion, ExecutionStatus, FollowUp, NewExecution, Store, TaskState,
};

/// A claimed task and the worker slot it holds until its completion is stored.
pub(crate) struct Work {
    task: ClaimedTask,
    _slot: OwnedSemaphorePermit,
    _queue_slot: Option<OwnedSemaphorePermit>,
}

/// The apalis backend of one job's worker: the tasks its fetcher claimed.
///
/// The fetcher claims only as many tasks as there are free slots, so a task handed to the
/// worker starts at once; nothing waits in a buffer holding a claim.
#[derive(Clone)]
pub(crate) struct TaskSource {
    // A worker that apalis restarts is built again from the same receiver.
    receiver: Arc<Mutex<mpsc::Receiver<Work>>>,
}

impl Backend for TaskSource {
    type Task = Task<Work>;
    type Error = Infallible;

    fn poll_ready(
        &mut self,
        _: &mut Context<'_>,
        _: &WorkerContext,
    ) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn poll_next(
        &mut self,
        cx: &mut Context<'_>,
        worker: &WorkerContext,
    ) -> Poll<Option<Result<Task<Work>, Infallible>>> {
        let mut receiver = self.receiver.lock().unwrap_or_else(PoisonError::into_inner);
        match receiver.poll_recv(cx) {
            Poll::Ready(Some(work)) => Poll::Ready(Some(Ok(Task::new(work)))),
            Poll::Ready(None) => {
                // The fetcher stopped (shutdown) and every claimed task was handed over: an
                // apalis worker waits for a stop request, not just the end of its source,
                // before it finishes, so ask for one. It still drains running attempts.
                let _ = worker.stop();
                Poll::Ready(None)
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn poll_close(
        &mut self,
        _: &mut Context<'_>,
        _: &WorkerContext,
    ) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }
}

impl BackendConfig for TaskSource {
    type Args = Work;
    type Id = RandomId;
    type Kind = Ephemeral;
    type Config = ();
    type Layer = Identity;

    fn config(&self) -> &() {
        &()
    }

    fn middleware(&mut self, _: &mut WorkerContext) -> Identity {
        Identity::new()
    }
}

/// The worker's service: runs the attempt of each task it is given. Every outcome is
/// handled here (timeouts and panics included), so apalis only ever sees success.
#[derive(Clone)]
pub(crate) struct Execute(Executor);

impl Service<Task<Work>> for Execute {
    type Response = ();
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<(), Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, task: Task<Work>) -> Self::Future {
        let executor = self.0.clone();
        Box::pin(async move {
            executor.execute(task.args).await;
            Ok(())
        })
    }
}

/// What an executor needs to run attempts of one job.
pub(crate) struct ExecutorParts {
    pub(crate) settings: JobSettings,
    pub(crate) jobs: Jobs,
    pub(crate) store: Store,
    pub(crate) state: Arc<State>,
    pub(crate) clock: Clock,
    pub(crate) client: Arc<dyn JobClient>,
    pub(crate) completer: CompleterHandle,
    pub(crate) runner_id: String,
    pub(crate) wake: Arc<Notify>,
    /// The slots of the job's queue, when the queue's concurrency is limited per runner.
    pub(crate) queue_slots: Option<Arc<Semaphore>>,
    pub(crate) poll_interval: Duration,
    pub(crate) claim_batch: u32,
}

/// Runs attempts of one job.
#[derive(Clone)]
pub(crate) struct Executor {
    inner: Arc<ExecutorParts>,
}

impl Executor {
    pub(crate) fn new(parts: ExecutorParts) -> Executor {
        Executor {
            inner: Arc::new(parts),
        }
    }

    /// Starts the fetcher and returns the source and the factory of the apalis worker.
    pub(crate) fn start(
        &self,
        stop: watch::Receiver<bool>,
    ) -> (tokio::task::JoinHandle<()>, TaskSource) {
        let slots = Arc::new(Semaphore::new(self.inner.settings.concurrency as usize));
        let (sender, receiver) = mpsc::channel(self.inner.settings.concurrency as usize);
        let fetcher = tokio::spawn(self.clone().fetch(slots, sender, stop));
        let source = TaskSource {
            receiver: Arc::new(Mutex::new(receiver)),
        };
        (fetcher, source)
    }

    /// The apalis worker for this job, reading from `source`.
    pub(crate) fn worker(&self, source: TaskSource) -> Worker<Work, TaskSource, Execute, Identity> {
        let name = format!("{}/{}", self.inner.runner_id, self.inner.settings.name());
        WorkerBuilder::new(name)
            .backend(source)
            .build(Execute(self.clone()))
    }

    /// Claims due tasks while slots are free; sleeps until the next task is due, a local
    /// enqueue wakes it, or the poll interval passes (for tasks stored by other processes).
    async fn fetch(
        self,
        slots: Arc<Semaphore>,
        sender: mpsc::Sender<Work>,
        mut stop: watch::Receiver<bool>,
    ) {
        let parts = &*self.inner;
        let job = parts.settings.name();
        let mut failures = 0u32;
        loop {
            if *stop.borrow() {
                return;
            }
            let first = tokio::select! {
                slot = slots.clone().acquire_owned() => match slot {
                    Ok(slot) => slot,
                    Err(_) => return,
                },
                _ = stop.changed() => return,
            };
            let first_queue_slot = match &parts.queue_slots {
                None => None,
                Some(queue) => tokio::select! {
                    slot = queue.clone().acquire_owned() => match slot {
                        Ok(slot) => Some(slot),
                        Err(_) => return,
                    },
                    _ = stop.changed() => return,
                },
            };
            let mut free = vec![(first, first_queue_slot)];
            while free.len() < parts.claim_batch as usize {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    break;
                };
                let queue_slot = match &parts.queue_slots {
                    None => None,
                    Some(queue) => match queue.clone().try_acquire_owned() {
                        Ok(slot) => Some(slot),
                        Err(_) => break,
                    },
                };
                free.push((slot, queue_slot));
            }
            let now = parts.clock.now();
            let claimed = parts
                .store
                .claim(
                    job,
                    &parts.runner_id,
                    now,
                    free.len() as u32,
                    parts.settings.unique,
                )
                .await;
            let wait = match claimed {
                Ok(tasks) if !tasks.is_empty() => {
                    failures = 0;
                    for task in tasks {
                        // Invariant: the store returns at most `free.len()` tasks.
                        let Some((slot, queue_slot)) = free.pop() else {
                            break;
                        };
                        let work = Work {
                            task,
                            _slot: slot,
                            _queue_slot: queue_slot,
                        };
                        if sender.send(work).await.is_err() {
                            return;
                        }
                    }
                    continue;
                }
                Ok(_) => {
                    failures = 0;
                    drop(free);
                    let next_due = parts.store.next_due(job).await.ok().flatten();
                    idle_wait(now, next_due, parts.poll_interval)
                }
                Err(error) => {
                    drop(free);
                    failures = failures.saturating_add(1);
                    let wait = parts.poll_interval * failures.min(10);
                    tracing::warn!(job, %error, retry_in = ?wait, "cannot claim tasks");
                    wait
                }
            };
            tokio::select! {
                _ = parts.clock.sleep(wait) => {}
                _ = parts.wake.notified() => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Runs one attempt and stores its end; the slot is freed once that is stored.
    async fn execute(&self, work: Work) {
        let parts = &*self.inner;
        let task = &work.task;
        let span = tracing::info_span!(
            "attempt",
            job = parts.settings.name(),
            task_id = task.id,
            attempt = task.attempt
        );
        let completion = self.attempt(task).instrument(span).await;
        parts.completer.complete(completion).await;
        drop(work);
    }

    async fn attempt(&self, task: &ClaimedTask) -> Completion {
        let parts = &*self.inner;
        let attempt = Attempt {
            settings: &parts.settings,
            jobs: &parts.jobs,
            state: &parts.state,
            clock: &parts.clock,
            client: &parts.client,
            runner_id: &parts.runner_id,
        };
        attempt.run(task).await
    }
}

/// What one attempt runs with.
pub(crate) struct Attempt<'a> {
    pub(crate) settings: &'a JobSettings,
    /// For the next step of a chain.
    pub(crate) jobs: &'a Jobs,
    pub(crate) state: &'a Arc<State>,
    pub(crate) clock: &'a Clock,
    pub(crate) client: &'a Arc<dyn JobClient>,
    pub(crate) runner_id: &'a str,
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
        let run = AssertUnwindSafe(settings.descriptor.run(ctx, args)).catch_unwind();
        let ended = match settings.timeout {
            Some(limit) => clock.timeout(limit, run).await,
            None => Some(run.await),
        };
        let finished_at = clock.now();
        let mut follow_up = None;
        let (status, error, records, permanent) = match ended {
            None => (
                ExecutionStatus::TimedOut,
                Some(format!(
                    "timed out after {}",
                    job_schedule::format_duration(settings.timeout.unwrap_or_default())
                )),
                None,
                false,
            ),
            Some(Err(panic)) => (
                ExecutionStatus::Panicked,
                Some(format!("panicked: {}", panic_message(&*panic))),
                None,
                false,
            ),
            Some(Ok(Ok(outcome))) => match self.next_step(task, outcome.output()) {
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
            },
            Some(Ok(Err(error))) => {
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
        let dead = failed && (permanent || task.attempt >= task.max_attempts);
        let (next_state, retry_at, recorded) = if !failed {
            (TaskState::Succeeded, None, status)
        } else if dead {
            (TaskState::Dead, None, ExecutionStatus::Dead)
        } else {
            let delay = settings
                .backoff
                .delay(task.attempt, jitter(task.id, task.attempt));
            let retry_at = job_schedule::add_saturating(finished_at, delay);
            (TaskState::Pending, Some(retry_at), status)
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
        let chain = chain_of(task, settings);
        Completion {
            task_id: task.id,
            attempt: task.attempt,
            next_state,
            retry_at,
            execution: NewExecution {
                task_id: task.id,
                job: settings.name().to_owned(),
                attempt: task.attempt,
                trigger: task.trigger,
                scheduled_at: task.scheduled_at,
                started_at,
                finished_at,
                status: recorded,
                error,
                records_processed: records,
                runner_id: self.runner_id.to_owned(),
                chain_id: chain.as_ref().map(|l| l.id),
                chain_step: chain.as_ref().map(|l| i64::from(l.step)),
            },
            chain,
            follow_up: follow_up.filter(|_| next_state == TaskState::Succeeded),
        }
    }

    /// The next step of the chain `task` belongs to, with `output` as its arguments: the
    /// steps left of a chain started at run time, or the job's `#[job(then = ...)]`.
    ///
    /// Chains are the runner's own rather than apalis-workflow 1.0's: a workflow there is
    /// one worker running closures composed in one type, whose next step is pushed through
    /// the backend's sink after the step's acknowledgement, as a second write. Here each step
    /// is a registered job with its own options and history, and the next step's task is
    /// stored in the same transaction as the previous step's success (see
    /// `Store::complete`), so a crash between steps neither loses nor repeats one.
    fn next_step(
        &self,
        task: &ClaimedTask,
        output: Option<&serde_json::Value>,
    ) -> Result<Option<FollowUp>, String> {
        let (next, rest) = match task.chain.as_ref().filter(|l| !l.rest.is_empty()) {
            Some(link) => (link.rest[0].clone(), link.rest[1..].to_vec()),
            None => match self.settings.descriptor.options().then {
                Some(then) => (then.to_owned(), Vec::new()),
                None => return Ok(None),
            },
        };
        let request = EnqueueRequest {
            job: next.clone(),
            args: output.cloned().unwrap_or(serde_json::Value::Null),
            options: EnqueueOptions::default(),
            trigger: Trigger::Chain,
            then: Vec::new(),
        };
        let next_task = self
            .jobs
            .task_for(&request, self.clock.now())
            .map_err(|e| format!("the next step of the chain, `{next}`, cannot start: {e}"))?;
        let link = ChainLink {
            id: task.chain.as_ref().map_or(task.id, |l| l.id),
            step: task.chain.as_ref().map_or(1, |l| l.step) + 1,
            rest,
        };
        Ok(Some(FollowUp {
            task: next_task,
            link,
        }))
    }
}

/// The place of `task` in a chain: its own, or step 1 of a chain its job starts.
fn chain_of(task: &ClaimedTask, settings: &JobSettings) -> Option<ChainLink> {
    match &task.chain {
        Some(link) => Some(link.clone()),
        None if settings.descriptor.options().then.is_some() => Some(ChainLink {
            id: task.id,
            step: 1,
            rest: Vec::new(),
        }),
        None => None,
    }
}

/// How long an idle fetcher waits: until the next pending task is due, at most the poll
/// interval (a task that is due but was not claimed is held by a pause: poll).
fn idle_wait(now: DateTime<Utc>, next_due: Option<DateTime<Utc>>, poll: Duration) -> Duration {
    match next_due {
        Some(due) if due > now => (due - now).to_std().unwrap_or(poll).min(poll),
        _ => poll,
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

/// A number in `[0, 1)` from the task and attempt: the jitter of a retry delay. Derived, not
/// random, so that a virtual-clock test sees the same delays at every run.
fn jitter(task_id: i64, attempt: u32) -> f64 {
    // splitmix64
    let mut z = (task_id as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(u64::from(attempt));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_a_unit_fraction_and_varies() {
        let values: Vec<f64> = (1..50).map(|id| jitter(id, 1)).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        assert!(values.windows(2).any(|w| w[0] != w[1]));
        assert_eq!(jitter(7, 3), jitter(7, 3));
    }

    #[test]
    fn idle_fetchers_wake_for_the_next_due_task_or_poll() {
        let now = Utc::now();
        let poll = Duration::from_secs(1);
        assert_eq!(idle_wait(now, None, poll), poll);
        assert_eq!(
            idle_wait(now, Some(now - TimeDelta::seconds(5)), poll),
            poll
        );
        let soon = idle_wait(now, Some(now + TimeDelta::milliseconds(200)), poll);
        assert_eq!(soon, Duration::from_millis(200));
    }
}
