//! `Jobs`: the client that stores tasks, the one enqueue path of the runner.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, TimeDelta, Utc};
use job_core::{
    BoxFuture, Clock, EnqueueError, EnqueueRequest, Enqueued, Job, JobClient, TaskEnd, TaskId,
    WaitError,
};
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::metrics::Metrics;
use crate::plan::Plan;
use crate::storage::{NewTask, Store, StoreError, TaskEndRow, TaskRow, TaskState, Transition};

/// Wakes the local workers of a job when a task of it is stored due now.
#[derive(Clone, Default)]
pub(crate) struct Wakers {
    by_job: Arc<HashMap<String, Arc<Notify>>>,
}

impl Wakers {
    pub(crate) fn new(jobs: impl IntoIterator<Item = String>) -> Wakers {
        Wakers {
            by_job: Arc::new(
                jobs.into_iter()
                    .map(|job| (job, Arc::new(Notify::new())))
                    .collect(),
            ),
        }
    }

    pub(crate) fn get(&self, job: &str) -> Option<Arc<Notify>> {
        self.by_job.get(job).cloned()
    }

    pub(crate) fn wake(&self, job: &str) {
        if let Some(notify) = self.by_job.get(job) {
            notify.notify_one();
        }
    }

    pub(crate) fn wake_all(&self) {
        for notify in self.by_job.values() {
            notify.notify_one();
        }
    }
}

/// Stores tasks for the registered jobs, checking each request against the job: its name,
/// its argument type and its options.
///
/// Generated `enqueue` functions take a `&dyn JobClient`; pass `&jobs`.
#[derive(Clone)]
pub struct Jobs {
    store: Store,
    plan: Arc<Plan>,
    clock: Clock,
    wakers: Wakers,
    metrics: Metrics,
    ends: crate::ends::Ends,
}

impl Jobs {
    /// A client over `store` for the jobs of `plan`.
    pub fn new(store: Store, plan: Arc<Plan>, clock: Clock) -> Jobs {
        Jobs {
            store,
            plan,
            clock,
            wakers: Wakers::default(),
            metrics: Metrics::default(),
            ends: crate::ends::Ends::default(),
        }
    }

    /// A client for an application process beside the runners (a web server that enqueues
    /// jobs, reads their results and cancels them): the jobs linked into the program, with
    /// `config`'s settings (and the `JOBS_*` variables), on the database it names, migrated
    /// if needed. It runs nothing; the runners do.
    ///
    /// ```no_run
    /// # async fn demo() -> Result<(), job_runner::RunnerError> {
    /// use job_runner::{Config, Jobs};
    ///
    /// let config = Config::load(None, &job_runner::config::process_env)?;
    /// let jobs = Jobs::connect(config).await?;
    /// # Ok(()) }
    /// ```
    pub async fn connect(config: crate::Config) -> Result<Jobs, crate::RunnerError> {
        let registry = job_core::Registry::from_linked()?;
        let startup = crate::startup::Startup::new(
            config,
            registry,
            crate::startup::Overrides::Refuse,
            &crate::config::process_env,
        )?;
        let store = startup.open(crate::startup::Schema::Migrate).await?;
        Ok(Jobs::new(store, startup.plan.clone(), Clock::system()))
    }

    /// The counters this client's runner keeps.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub(crate) fn with_wakers(mut self, wakers: Wakers) -> Jobs {
        self.wakers = wakers;
        self
    }

    /// The storage.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The jobs' settings.
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The clock.
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// The typed result of task `task` of job `J`: `Ok(None)` while it is pending or
    /// running; its return value once it succeeded; an error that says so when it is dead or
    /// cancelled, or when no such task is stored. For a job that returns a value
    /// (`JobResult<T>`); the output an [`Outcome`](job_core::Outcome) carries
    /// (`with_output`) is kept too, and read as JSON with
    /// [`task_end`](JobClient::task_end).
    ///
    /// ```no_run
    /// # use job_core::prelude::*;
    /// # #[job]
    /// # async fn word_count(text: String) -> JobResult<usize> { Ok(text.len()) }
    /// # async fn demo(jobs: &job_runner::Jobs) -> Result<(), Box<dyn std::error::Error>> {
    /// let task = WordCount::enqueue(jobs, "to be or not to be".into()).await?;
    /// // ... later, perhaps in another request:
    /// if let Some(count) = jobs.result::<WordCount>(&task).await? {
    ///     println!("{count} words");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn result<J: Job>(&self, task: &TaskId) -> Result<Option<J::Output>, WaitError>
    where
        J::Output: DeserializeOwned,
    {
        match self.task_end(task).await? {
            Some(end) => end.into_result(task).map(Some),
            None => Ok(None),
        }
    }

    /// Task `task` as stored, with its state, progress and last error.
    pub async fn task(&self, task: &TaskId) -> Result<Option<TaskRow>, StoreError> {
        match parse_task_id(task) {
            Some(id) => self.store.task(id).await,
            None => Ok(None),
        }
    }

    /// Cancels task `task`: a pending task will not run; a running one is asked to stop,
    /// on whichever runner holds it (its `ctx.cancelled()` resolves, and the attempt is
    /// stopped after the runner's cancel grace), and ends `cancelled`. Returns the task as
    /// it is now (`running`, with `cancel_requested_at` set, while its runner stops it);
    /// `None` when it had already ended or no such task is stored.
    pub async fn cancel(&self, task: &TaskId) -> Result<Option<TaskRow>, StoreError> {
        let Some(id) = parse_task_id(task) else {
            return Ok(None);
        };
        Ok(
            match self.store.cancel(id, "client", self.clock.now()).await? {
                Transition::Applied(task) => Some(task),
                Transition::Refused(_) | Transition::NotFound => None,
            },
        )
    }

    /// Wakes this process's workers of `job`.
    pub(crate) fn wake(&self, job: &str) {
        self.wakers.wake(job);
    }

    /// Checks a request and turns it into a task row.
    pub fn task_for(
        &self,
        request: &EnqueueRequest,
        now: DateTime<Utc>,
    ) -> Result<NewTask, EnqueueError> {
        let settings = self
            .plan
            .get(&request.job)
            .ok_or_else(|| EnqueueError::UnknownJob(request.job.clone()))?;
        settings.descriptor.check_args(&request.args)?;
        if let Some(unknown) = request.then.iter().find(|job| self.plan.get(job).is_none()) {
            return Err(EnqueueError::UnknownJob(unknown.clone()));
        }
        let options = &request.options;
        let run_at = match (options.run_at, options.delay) {
            (Some(at), _) => at,
            (None, Some(delay)) => TimeDelta::from_std(delay)
                .ok()
                .and_then(|delta| now.checked_add_signed(delta))
                .ok_or_else(|| {
                    EnqueueError::InvalidOptions(format!(
                        "a delay of {} is too long: it ends after the last instant the clock can hold",
                        job_schedule::format_duration(delay)
                    ))
                })?,
            (None, None) => now,
        };
        if let Some(key) = &options.unique_key
            && key.is_empty()
        {
            return Err(EnqueueError::InvalidOptions(
                "the uniqueness key is empty; leave it out or give it a value".into(),
            ));
        }
        // A key given at enqueue replaces the job's own (`#[job(unique(...))]`); either is
        // held for the job's period after a success.
        let descriptor = settings.descriptor;
        let unique_key = match &options.unique_key {
            Some(key) => Some(key.clone()),
            None => descriptor.unique_key(&request.args)?,
        };
        let unique_for = descriptor
            .options()
            .unique
            .as_ref()
            .map_or(std::time::Duration::ZERO, |unique| unique.period);
        Ok(NewTask {
            job: request.job.clone(),
            queue: settings.queue.clone(),
            args: request.args.to_string(),
            priority: options.priority.unwrap_or(settings.priority),
            run_at,
            scheduled_at: run_at,
            max_attempts: settings.max_attempts(),
            trigger: request.trigger,
            unique_key,
            unique_for,
            partition_key: descriptor.partition_key(&request.args)?,
            exclusive: settings.exclusive,
            then: request.then.clone(),
            // The enqueuer's span (a chain's next step: the previous step's attempt).
            trace_context: crate::telemetry::current_context(),
        })
    }

    async fn store_tasks(
        &self,
        requests: Vec<EnqueueRequest>,
    ) -> Result<Vec<Enqueued>, EnqueueError> {
        self.traced_enqueue(requests, async |tasks, now| self.insert(tasks, now).await)
            .await
    }

    /// Stores `tasks` and wakes this process's workers of the due ones.
    async fn insert(
        &self,
        tasks: Vec<NewTask>,
        now: DateTime<Utc>,
    ) -> Result<Vec<Enqueued>, EnqueueError> {
        let ids = self
            .store
            .insert_tasks(&tasks, now)
            .await
            .map_err(|e| EnqueueError::Storage(Box::new(e)))?;
        let mut woken: Vec<&str> = Vec::new();
        for task in &tasks {
            if task.run_at <= now && !woken.contains(&task.job.as_str()) {
                self.wakers.wake(&task.job);
                woken.push(&task.job);
            }
        }
        Ok(enqueued(ids))
    }
}

impl Jobs {
    /// An enqueue in its span (see [`enqueue_span`]): the tasks of `requests` are made
    /// inside it (so they store its trace context), then stored by `store` while it stays
    /// open (it lasts until they are stored, and records the task's id). It is not entered
    /// while they are stored: what the storage spawns meanwhile (a connection) must not
    /// hold it open.
    pub(crate) async fn traced_enqueue(
        &self,
        requests: Vec<EnqueueRequest>,
        store: impl AsyncFnOnce(Vec<NewTask>, DateTime<Utc>) -> Result<Vec<Enqueued>, EnqueueError>,
    ) -> Result<Vec<Enqueued>, EnqueueError> {
        let now = self.clock.now();
        let span = enqueue_span(&requests, &self.plan);
        let tasks = span.in_scope(|| {
            requests
                .iter()
                .map(|r| self.task_for(r, now))
                .collect::<Result<Vec<_>, _>>()
        });
        let stored = match tasks {
            Ok(tasks) => store(tasks, now).await,
            Err(error) => Err(error),
        };
        record_enqueued(&span, &stored);
        stored
    }
}

/// The span of an enqueue: the job and queue (of the first request, with how many there
/// are), then the task's id once stored.
fn enqueue_span(requests: &[EnqueueRequest], plan: &Plan) -> tracing::Span {
    let job = requests.first().map_or("", |r| r.job.as_str());
    let queue = plan.get(job).map_or("", |s| s.queue.as_str());
    tracing::info_span!(
        "enqueue",
        otel.kind = "producer",
        job,
        queue,
        tasks = requests.len(),
        task_id = tracing::field::Empty,
        existing = tracing::field::Empty,
    )
}

/// Records on an enqueue's span what it stored: the task's id (of a single enqueue).
fn record_enqueued(span: &tracing::Span, stored: &Result<Vec<Enqueued>, EnqueueError>) {
    if let Ok([one]) = stored.as_deref() {
        if let Ok(id) = one.id.as_str().parse::<i64>() {
            span.record("task_id", id);
        }
        span.record("existing", one.existing);
    }
}

/// The stored tasks' ids, and whether each already existed, as enqueues report them.
pub(crate) fn enqueued(ids: Vec<(i64, bool)>) -> Vec<Enqueued> {
    ids.into_iter()
        .map(|(id, existing)| Enqueued {
            id: TaskId::new(id.to_string()),
            existing,
        })
        .collect()
}

/// The one task a single enqueue stored.
pub(crate) fn the_one(mut stored: Vec<Enqueued>) -> Result<Enqueued, EnqueueError> {
    stored
        .pop()
        .ok_or_else(|| EnqueueError::Storage("the storage returned no id for the task".into()))
}

/// Waits for the end of task `id` (or a hint to look again) among the announcements;
/// `false` when they stopped.
async fn next_end(receiver: &mut tokio::sync::broadcast::Receiver<i64>, id: i64) -> bool {
    use tokio::sync::broadcast::error::RecvError;
    loop {
        match receiver.recv().await {
            Ok(ended) if ended == id || ended == crate::ends::ANY => return true,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return true,
            Err(RecvError::Closed) => return false,
        }
    }
}

/// How a task ended, as its row says: `None` while it is pending or running.
fn end_of(row: TaskEndRow) -> Option<TaskEnd> {
    match row.state {
        TaskState::Pending | TaskState::Running => None,
        TaskState::Succeeded => Some(TaskEnd::Succeeded {
            result: row.result.map(crate::storage::rows::json),
        }),
        TaskState::Dead => Some(TaskEnd::Dead {
            error: row.last_error.unwrap_or_default(),
        }),
        TaskState::Cancelled => Some(TaskEnd::Cancelled),
    }
}

/// A task id as stored (a number); `None` for text that cannot be one.
fn parse_task_id(task: &TaskId) -> Option<i64> {
    task.as_str().parse().ok()
}

impl JobClient for Jobs {
    /// On PostgreSQL, woken by the task's end (announced by the completion), with a look at
    /// the database every second besides; on SQLite, a look every 5 ms at first, then every
    /// 100 ms at most.
    fn wait_end(
        &self,
        task: &TaskId,
        timeout: std::time::Duration,
    ) -> BoxFuture<'_, Result<TaskEnd, WaitError>> {
        let task = task.clone();
        Box::pin(async move {
            let id = parse_task_id(&task).ok_or_else(|| WaitError::UnknownTask(task.clone()))?;
            let storage = |e: StoreError| WaitError::Storage(Box::new(e));
            // Subscribed before the task is marked and read: no end is missed.
            let mut ended = self.ends.subscribe(&self.store).await;
            if ended.is_some() {
                self.store.await_end(id).await.map_err(storage)?;
            }
            let deadline = tokio::time::Instant::now() + timeout;
            let mut pause = std::time::Duration::from_millis(5);
            loop {
                let row = self
                    .store
                    .task_end(id)
                    .await
                    .map_err(storage)?
                    .ok_or_else(|| WaitError::UnknownTask(task.clone()))?;
                let state = row.state;
                if let Some(end) = end_of(row) {
                    return Ok(end);
                }
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return Err(WaitError::Timeout {
                        task,
                        waited: timeout,
                        state: state.to_string(),
                    });
                }
                let nap = match ended {
                    Some(_) => std::time::Duration::from_secs(1),
                    None => {
                        let nap = pause;
                        pause = (pause * 2).min(std::time::Duration::from_millis(100));
                        nap
                    }
                };
                let sleep = tokio::time::sleep(nap.min(deadline - now));
                match ended.as_mut() {
                    None => sleep.await,
                    Some(receiver) => tokio::select! {
                        () = sleep => {}
                        heard = next_end(receiver, id) => {
                            if !heard {
                                ended = None;
                            }
                        }
                    },
                }
            }
        })
    }

    fn task_end(&self, task: &TaskId) -> BoxFuture<'_, Result<Option<TaskEnd>, WaitError>> {
        let task = task.clone();
        Box::pin(async move {
            let id = parse_task_id(&task).ok_or_else(|| WaitError::UnknownTask(task.clone()))?;
            let row = self
                .store
                .task_end(id)
                .await
                .map_err(|e| WaitError::Storage(Box::new(e)))?
                .ok_or_else(|| WaitError::UnknownTask(task.clone()))?;
            Ok(end_of(row))
        })
    }

    fn enqueue(&self, request: EnqueueRequest) -> BoxFuture<'_, Result<Enqueued, EnqueueError>> {
        Box::pin(async move { the_one(self.store_tasks(vec![request]).await?) })
    }

    fn enqueue_many(
        &self,
        requests: Vec<EnqueueRequest>,
    ) -> BoxFuture<'_, Result<Vec<Enqueued>, EnqueueError>> {
        Box::pin(self.store_tasks(requests))
    }
}
