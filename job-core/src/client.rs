//! Enqueueing jobs: the client trait the runner implements, and the typed builder.

use std::future::IntoFuture;
use std::marker::PhantomData;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::{BoxFuture, InvalidArgs, Job, TaskId, Trigger};

/// When and how to run an enqueued task.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnqueueOptions {
    /// Run no earlier than this instant.
    pub run_at: Option<DateTime<Utc>>,
    /// Run no earlier than this long after the enqueue (ignored when `run_at` is set).
    pub delay: Option<Duration>,
    /// Overrides the job's priority (higher runs first).
    pub priority: Option<i32>,
    /// While a task with this key is pending or running for the same job, enqueueing
    /// another returns the existing one instead of adding a second.
    pub unique_key: Option<String>,
}

/// One task to enqueue: a job by name, its arguments as JSON, and options.
///
/// This is the one enqueue path: the typed `enqueue`, the CLI and admin trigger, cron
/// ticks, events and chains all build one of these.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EnqueueRequest {
    /// The job's name.
    pub job: String,
    /// The arguments, as JSON (`null` for a job that takes none).
    pub args: serde_json::Value,
    /// When and how to run it.
    pub options: EnqueueOptions,
    /// Why it is enqueued.
    pub trigger: Trigger,
    /// The jobs that follow, in order, each taking the previous one's output (a chain
    /// started at run time).
    #[serde(default)]
    pub then: Vec<String>,
}

impl EnqueueRequest {
    /// A request for `job` with `args`, triggered by code.
    pub fn new(job: impl Into<String>, args: serde_json::Value) -> EnqueueRequest {
        EnqueueRequest {
            job: job.into(),
            args,
            options: EnqueueOptions::default(),
            trigger: Trigger::Enqueue,
            then: Vec::new(),
        }
    }
}

/// The result of an enqueue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enqueued {
    /// The task's id.
    pub id: TaskId,
    /// True when a task with the same uniqueness key already existed and was returned
    /// instead of a new one.
    pub existing: bool,
}

/// Why an enqueue was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnqueueError {
    /// No job of that name is registered.
    #[error("no job named `{0}` is registered; `job-runner list` shows the registered jobs")]
    UnknownJob(String),
    /// The arguments do not fit the job's argument type.
    #[error(transparent)]
    InvalidArgs(#[from] InvalidArgs),
    /// The arguments could not be turned into JSON.
    #[error("the arguments of job `{job}` cannot be stored as JSON: {source}")]
    Serialize {
        /// The job.
        job: String,
        /// What serde reported.
        #[source]
        source: serde_json::Error,
    },
    /// The option values make no sense together.
    #[error("invalid enqueue options: {0}")]
    InvalidOptions(String),
    /// The storage failed.
    #[error("could not store the task: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// How a task ended, as the application reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum TaskEnd {
    /// Its last attempt succeeded, returning `result` (`None` for a job that returns no
    /// value).
    Succeeded {
        /// What the job returned, as JSON.
        result: Option<serde_json::Value>,
    },
    /// It failed for good.
    Dead {
        /// The last attempt's error.
        error: String,
    },
    /// It was cancelled.
    Cancelled,
}

impl TaskEnd {
    /// The typed result of task `task` that ended so: the job's return value decoded into
    /// `T`, or why there is none.
    pub fn into_result<T: DeserializeOwned>(self, task: &TaskId) -> Result<T, WaitError> {
        match self {
            TaskEnd::Succeeded { result } => {
                serde_json::from_value(result.unwrap_or(serde_json::Value::Null)).map_err(|e| {
                    WaitError::Decode {
                        task: task.clone(),
                        expected: std::any::type_name::<T>(),
                        reason: e.to_string(),
                    }
                })
            }
            TaskEnd::Dead { error } => Err(WaitError::Dead {
                task: task.clone(),
                error,
            }),
            TaskEnd::Cancelled => Err(WaitError::Cancelled(task.clone())),
        }
    }
}

/// Why a task's result cannot be read or waited for.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// The task could not be enqueued.
    #[error(transparent)]
    Enqueue(#[from] EnqueueError),
    /// No task has this id.
    #[error("no task {0} is stored (a wrong id, or the task was deleted)")]
    UnknownTask(TaskId),
    /// The task failed for good.
    #[error("task {task} is dead: {error}")]
    Dead {
        /// The task.
        task: TaskId,
        /// Its last error.
        error: String,
    },
    /// The task was cancelled.
    #[error("task {0} was cancelled")]
    Cancelled(TaskId),
    /// The task did not end in time.
    #[error("task {task} did not end within {}; it is still {state} (wait longer, or read it later with `Jobs::result`)", job_schedule::format_duration(*.waited))]
    Timeout {
        /// The task.
        task: TaskId,
        /// How long the wait was.
        waited: Duration,
        /// Its state when the wait gave up.
        state: String,
    },
    /// The stored result does not decode into the job's return type.
    #[error(
        "the result of task {task} does not decode into `{expected}`: {reason} (was the job's return type changed since it ran?)"
    )]
    Decode {
        /// The task.
        task: TaskId,
        /// The Rust type asked for.
        expected: &'static str,
        /// What serde found wrong.
        reason: String,
    },
    /// This client cannot read tasks back.
    #[error("this client cannot read tasks back; use the runner's `Jobs` client")]
    Unsupported,
    /// The storage failed.
    #[error("could not read the task: {0}")]
    Storage(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// Something that can store tasks: the runner's client, or a test double.
pub trait JobClient: Send + Sync {
    /// Stores one task.
    fn enqueue(&self, request: EnqueueRequest) -> BoxFuture<'_, Result<Enqueued, EnqueueError>>;

    /// Stores many tasks at once; all or none. Backends override this with one round trip.
    fn enqueue_many(
        &self,
        requests: Vec<EnqueueRequest>,
    ) -> BoxFuture<'_, Result<Vec<Enqueued>, EnqueueError>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(requests.len());
            for request in requests {
                out.push(self.enqueue(request).await?);
            }
            Ok(out)
        })
    }

    /// How task `task` ended: `None` while it is pending or running, or when its result
    /// is not kept (the state it is in is then in [`WaitError::Timeout`] of a wait).
    fn task_end(&self, task: &TaskId) -> BoxFuture<'_, Result<Option<TaskEnd>, WaitError>> {
        let _ = task;
        Box::pin(async { Err(WaitError::Unsupported) })
    }

    /// Waits at most `timeout` for task `task` to end. The default asks
    /// [`task_end`](JobClient::task_end) again and again, every 5 ms at first and at most
    /// every 100 ms.
    fn wait_end(
        &self,
        task: &TaskId,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<TaskEnd, WaitError>> {
        let task = task.clone();
        Box::pin(async move {
            let deadline = tokio::time::Instant::now() + timeout;
            let mut pause = Duration::from_millis(5);
            loop {
                if let Some(end) = self.task_end(&task).await? {
                    return Ok(end);
                }
                let now = tokio::time::Instant::now();
                if now >= deadline {
                    return Err(WaitError::Timeout {
                        task,
                        waited: timeout,
                        state: "pending or running".to_owned(),
                    });
                }
                tokio::time::sleep(pause.min(deadline - now)).await;
                pause = (pause * 2).min(Duration::from_millis(100));
            }
        })
    }
}

/// A typed enqueue of job `J`, built by the generated `enqueue` function; `.await` it.
///
/// ```
/// use std::time::Duration;
/// use job_core::prelude::*;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct Report { customer: u64 }
///
/// #[job(queue = "reports")]
/// async fn build_report(report: Report) -> JobResult {
///     Ok(Outcome::processed(1_u32))
/// }
///
/// async fn later(jobs: &dyn JobClient) -> Result<(), EnqueueError> {
///     BuildReport::enqueue(jobs, Report { customer: 7 })
///         .delay(Duration::from_secs(60))
///         .priority(5)
///         .unique_key("report:7")
///         .await?;
///     Ok(())
/// }
/// ```
///
/// Chain jobs with [`then`](Enqueue::then): each step runs when the previous one succeeds,
/// with its output as arguments; a step whose output type differs from the next step's
/// argument type does not compile.
#[must_use = "an enqueue does nothing until it is awaited"]
pub struct Enqueue<'c, J: Job, L: Job = J> {
    client: &'c dyn JobClient,
    args: Result<serde_json::Value, serde_json::Error>,
    options: EnqueueOptions,
    trigger: Trigger,
    then: Vec<String>,
    job: PhantomData<fn() -> (J, L)>,
}

impl<'c, J: Job> Enqueue<'c, J> {
    /// An enqueue of `J` with `args` through `client`.
    pub fn new(client: &'c dyn JobClient, args: J::Args) -> Self {
        Enqueue {
            client,
            args: serde_json::to_value(args),
            options: EnqueueOptions::default(),
            trigger: Trigger::Enqueue,
            then: Vec::new(),
            job: PhantomData,
        }
    }
}

impl<'c, J: Job, L: Job> Enqueue<'c, J, L> {
    /// Runs job `N` after the last step succeeds, with its output as `N`'s arguments.
    pub fn then<N: Job<Args = L::Output>>(self) -> Enqueue<'c, J, N> {
        let mut then = self.then;
        then.push(N::name().to_owned());
        Enqueue {
            client: self.client,
            args: self.args,
            options: self.options,
            trigger: self.trigger,
            then,
            job: PhantomData,
        }
    }

    /// Runs no earlier than `delay` from now.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.options.delay = Some(delay);
        self
    }

    /// Runs no earlier than `at`.
    pub fn run_at(mut self, at: DateTime<Utc>) -> Self {
        self.options.run_at = Some(at);
        self
    }

    /// Overrides the job's priority for this task (higher runs first).
    pub fn priority(mut self, priority: i32) -> Self {
        self.options.priority = Some(priority);
        self
    }

    /// Keeps at most one pending or running task of this job with `key`: a second enqueue
    /// with the same key returns the first task.
    pub fn unique_key(mut self, key: impl Into<String>) -> Self {
        self.options.unique_key = Some(key.into());
        self
    }

    /// Records why the task exists (the default is [`Trigger::Enqueue`]).
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }

    /// The request this enqueue sends.
    pub fn into_request(self) -> Result<EnqueueRequest, EnqueueError> {
        let args = self.args.map_err(|source| EnqueueError::Serialize {
            job: J::name().to_owned(),
            source,
        })?;
        Ok(EnqueueRequest {
            job: J::name().to_owned(),
            args,
            options: self.options,
            trigger: self.trigger,
            then: self.then,
        })
    }
}

impl<'c, J: Job> Enqueue<'c, J>
where
    J::Output: DeserializeOwned,
{
    /// Enqueues, then waits at most `timeout` for the task to end and returns what the job
    /// returned, typed. A task that ends dead or cancelled, or does not end in time, is an
    /// error that says so; the task itself is not touched by a timeout and may still run.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use job_core::prelude::*;
    ///
    /// #[job]
    /// async fn word_count(text: String) -> JobResult<usize> {
    ///     Ok(text.split_whitespace().count())
    /// }
    ///
    /// async fn count(jobs: &dyn JobClient) -> Result<usize, job_core::WaitError> {
    ///     WordCount::enqueue(jobs, "to be or not to be".into())
    ///         .wait(Duration::from_secs(5))
    ///         .await
    /// }
    /// ```
    pub fn wait(self, timeout: Duration) -> BoxFuture<'c, Result<J::Output, WaitError>>
    where
        J::Output: Send,
    {
        let client = self.client;
        Box::pin(async move {
            let request = self.into_request()?;
            let task = client.enqueue(request).await?.id;
            client
                .wait_end(&task, timeout)
                .await?
                .into_result::<J::Output>(&task)
        })
    }
}

impl<'c, J: Job, L: Job> IntoFuture for Enqueue<'c, J, L> {
    type Output = Result<TaskId, EnqueueError>;
    type IntoFuture = BoxFuture<'c, Self::Output>;

    fn into_future(self) -> Self::IntoFuture {
        let client = self.client;
        Box::pin(async move {
            let request = self.into_request()?;
            Ok(client.enqueue(request).await?.id)
        })
    }
}
