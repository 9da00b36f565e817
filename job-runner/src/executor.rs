//! The executor: for each job, a fetcher that claims due tasks in batches as worker slots
//! free up, and an apalis worker fed by it that runs each attempt (see `attempt`) and hands
//! its end to the completer.

use std::convert::Infallible;
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
use chrono::{DateTime, Utc};
use job_core::{BoxFuture, Clock, JobClient, State};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, watch};
use tracing::Instrument;

use crate::attempt::Attempt;
use crate::client::Jobs;
use crate::completer::CompleterHandle;
use crate::heartbeat::Fence;
use crate::in_flight::InFlight;
use crate::limits::{self, LiveLimits};
use crate::plan::JobSettings;
use crate::storage::{ClaimedTask, Completion, Store};

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
    /// Raised while this runner cannot renew its lease: no claims, attempts stop.
    pub(crate) fence: Fence,
    /// The limits set at run time, as this runner last read them.
    pub(crate) limits: LiveLimits,
    /// The attempts running in this runner.
    pub(crate) in_flight: InFlight,
    /// How long a cancelled attempt may take to stop by itself.
    pub(crate) cancel_grace: Duration,
}

/// Runs attempts of one job.
#[derive(Clone)]
pub(crate) struct Executor {
    inner: Arc<ExecutorParts>,
    /// Notified when an attempt's end is stored: a fetcher that a limit held back claims
    /// again then, instead of waiting for the poll interval.
    ended: Arc<Notify>,
}

impl Executor {
    pub(crate) fn new(parts: ExecutorParts) -> Executor {
        Executor {
            inner: Arc::new(parts),
            ended: Arc::new(Notify::new()),
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
    /// enqueue or the listener wakes it, or the poll interval passes (for tasks stored by
    /// other processes where no announcement came).
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
            // Nothing is claimed while this runner cannot renew its lease.
            if parts.fence.is_raised() {
                tokio::select! {
                    () = parts.fence.lowered() => {}
                    _ = stop.changed() => return,
                }
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
            // The fence may have risen while the slots freed up.
            if parts.fence.is_raised() {
                drop(free);
                continue;
            }
            let now = parts.clock.now();
            let limits = parts.limits.of(&parts.settings);
            // A job-wide limit that this runner's own attempts fill leaves no room to claim:
            // wait for one of them to end instead of asking the database.
            if let Some(cap) = limits.concurrency.filter(|_| !limits.per_key) {
                let own = (parts.settings.concurrency as usize)
                    .saturating_sub(slots.available_permits() + free.len());
                let room = (cap as usize).saturating_sub(own);
                if room == 0 {
                    drop(free);
                    // At most a poll: limits set at run time may change meanwhile.
                    if !self.idle(parts.poll_interval, true, &mut stop).await {
                        return;
                    }
                    continue;
                }
                free.truncate(room);
            }
            let claimed = limits::claim(
                &parts.store,
                &parts.settings,
                &limits,
                &parts.runner_id,
                now,
                free.len() as u32,
            )
            .await;
            let (wait, on_end) = match claimed {
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
                    // Held back by a limit, perhaps: the end of one of this runner's
                    // attempts makes room (other runners' ends are seen at the poll).
                    (idle_wait(now, next_due, parts.poll_interval), limits.any())
                }
                Err(error) => {
                    drop(free);
                    failures = failures.saturating_add(1);
                    let wait = parts.poll_interval * failures.min(10);
                    tracing::warn!(job, %error, retry_in = ?wait, "cannot claim tasks");
                    (wait, false)
                }
            };
            if !self.idle(wait, on_end, &mut stop).await {
                return;
            }
        }
    }

    /// Waits for `wait`, a local enqueue, or (with `on_end`) the end of one of this runner's
    /// attempts of the job; `false` when the runner stops meanwhile.
    async fn idle(&self, wait: Duration, on_end: bool, stop: &mut watch::Receiver<bool>) -> bool {
        let parts = &*self.inner;
        tokio::select! {
            _ = parts.clock.sleep(wait) => true,
            _ = parts.wake.notified() => true,
            _ = self.ended.notified(), if on_end => true,
            _ = stop.changed() => false,
        }
    }

    /// Runs one attempt and stores its end; the slot is freed once that is stored.
    async fn execute(&self, work: Work) {
        let parts = &*self.inner;
        let task = &work.task;
        let span = crate::attempt::span(task, &parts.settings);
        let completion = self.attempt(task).instrument(span.clone()).await;
        crate::attempt::record_outcome(&span, completion.execution.status);
        drop(span);
        parts.completer.complete(completion).await;
        drop(work);
        self.ended.notify_one();
    }

    async fn attempt(&self, task: &ClaimedTask) -> Completion {
        let parts = &*self.inner;
        // In flight while it runs: its progress is reported, and it can be cancelled.
        let entry = parts.in_flight.enter(task.id);
        let attempt = Attempt {
            settings: &parts.settings,
            jobs: &parts.jobs,
            state: &parts.state,
            clock: &parts.clock,
            client: &parts.client,
            runner_id: &parts.runner_id,
            fence: &parts.fence,
            live: entry.live.clone(),
            cancel_grace: parts.cancel_grace,
        };
        attempt.run(task).await
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

#[cfg(test)]
mod tests {
    use chrono::TimeDelta;

    use super::*;

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
