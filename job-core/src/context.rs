//! What an attempt knows about itself: its task, attempt, trigger, clock and shared state.

use std::fmt;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{Clock, JobClient, LiveAttempt, MissingData, State};

/// The identity of a stored task (one enqueued run of a job, with all its attempts).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(String);

impl TaskId {
    /// Wraps a task id as stored.
    pub fn new(id: impl Into<String>) -> TaskId {
        TaskId(id.into())
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Why a task exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Trigger {
    /// A tick of the job's schedule.
    Cron,
    /// Enqueued by code through a [`JobClient`].
    Enqueue,
    /// Triggered by hand, from the CLI, the admin API or the dashboard.
    Manual,
    /// Started by an event from a source (a watched folder, a webhook).
    Event,
    /// Enqueued by the success of the previous step of a chain.
    Chain,
    /// Run once in its own process by `job-runner exec`.
    Exec,
}

impl Trigger {
    /// The name stored in the history: `cron`, `enqueue`, `manual`, `event`, `chain`, `exec`.
    pub fn as_str(self) -> &'static str {
        match self {
            Trigger::Cron => "cron",
            Trigger::Enqueue => "enqueue",
            Trigger::Manual => "manual",
            Trigger::Event => "event",
            Trigger::Chain => "chain",
            Trigger::Exec => "exec",
        }
    }

    /// The trigger with this stored name.
    pub fn from_name(name: &str) -> Option<Trigger> {
        [
            Trigger::Cron,
            Trigger::Enqueue,
            Trigger::Manual,
            Trigger::Event,
            Trigger::Chain,
            Trigger::Exec,
        ]
        .into_iter()
        .find(|t| t.as_str() == name)
    }
}

impl fmt::Display for Trigger {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a job attempt knows about itself, and its door to shared state.
///
/// Take it as the last parameter of a job function:
///
/// ```
/// use job_core::prelude::*;
///
/// struct Greeting(&'static str);
///
/// #[job]
/// async fn greet(ctx: JobContext) -> JobResult {
///     let greeting = ctx.data::<Greeting>()?;
///     println!("{} from attempt {} of task {}", greeting.0, ctx.attempt(), ctx.task_id());
///     Ok(Outcome::none())
/// }
/// ```
#[derive(Clone)]
pub struct JobContext {
    inner: Arc<Inner>,
}

struct Inner {
    job: &'static str,
    task_id: TaskId,
    attempt: u32,
    max_attempts: u32,
    trigger: Trigger,
    scheduled_at: DateTime<Utc>,
    clock: Clock,
    state: Arc<State>,
    client: Option<Arc<dyn JobClient>>,
    live: Arc<LiveAttempt>,
}

/// Builds a [`JobContext`]; used by the runner and the testing helper.
#[derive(Clone)]
pub struct ContextBuilder {
    job: &'static str,
    task_id: TaskId,
    attempt: u32,
    max_attempts: u32,
    trigger: Trigger,
    scheduled_at: Option<DateTime<Utc>>,
    clock: Clock,
    state: Arc<State>,
    client: Option<Arc<dyn JobClient>>,
    live: Arc<LiveAttempt>,
}

impl ContextBuilder {
    /// A context for the first attempt of `task_id` of `job`, triggered by hand.
    pub fn new(job: &'static str, task_id: TaskId) -> ContextBuilder {
        ContextBuilder {
            job,
            task_id,
            attempt: 1,
            max_attempts: 1,
            trigger: Trigger::Manual,
            scheduled_at: None,
            clock: Clock::system(),
            state: Arc::new(State::new()),
            client: None,
            live: Arc::default(),
        }
    }

    /// The attempt number (1 for the first) and how many attempts the task may have.
    pub fn attempt(mut self, attempt: u32, max_attempts: u32) -> Self {
        self.attempt = attempt;
        self.max_attempts = max_attempts.max(attempt);
        self
    }

    /// Why the task exists.
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }

    /// When the task was due (defaults to the clock's now).
    pub fn scheduled_at(mut self, at: DateTime<Utc>) -> Self {
        self.scheduled_at = Some(at);
        self
    }

    /// The clock the job reads.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The shared state the job reads with [`JobContext::data`].
    pub fn state(mut self, state: Arc<State>) -> Self {
        self.state = state;
        self
    }

    /// The client through which the job may enqueue other jobs.
    pub fn client(mut self, client: Arc<dyn JobClient>) -> Self {
        self.client = Some(client);
        self
    }

    /// The attempt's live side, shared with whoever reads its progress and cancels it.
    pub fn live(mut self, live: Arc<LiveAttempt>) -> Self {
        self.live = live;
        self
    }

    /// The context.
    pub fn build(self) -> JobContext {
        let scheduled_at = self.scheduled_at.unwrap_or_else(|| self.clock.now());
        JobContext {
            inner: Arc::new(Inner {
                job: self.job,
                task_id: self.task_id,
                attempt: self.attempt,
                max_attempts: self.max_attempts,
                trigger: self.trigger,
                scheduled_at,
                clock: self.clock,
                state: self.state,
                client: self.client,
                live: self.live,
            }),
        }
    }
}

impl JobContext {
    /// The shared value of type `T` registered on the runner (or the test context).
    ///
    /// The error names the missing type and how to register it; `?` turns it into a
    /// failed attempt.
    pub fn data<T: Send + Sync + 'static>(&self) -> Result<&T, MissingData> {
        self.inner.state.get::<T>().ok_or_else(|| MissingData {
            job: self.inner.job.to_owned(),
            type_name: std::any::type_name::<T>(),
        })
    }

    /// The job's name.
    pub fn job_name(&self) -> &'static str {
        self.inner.job
    }

    /// The task this attempt belongs to.
    pub fn task_id(&self) -> &TaskId {
        &self.inner.task_id
    }

    /// This attempt's number: 1 for the first.
    pub fn attempt(&self) -> u32 {
        self.inner.attempt
    }

    /// How many attempts the task may have in all.
    pub fn max_attempts(&self) -> u32 {
        self.inner.max_attempts
    }

    /// Whether a failure of this attempt ends the task (no retry left).
    pub fn is_last_attempt(&self) -> bool {
        self.inner.attempt >= self.inner.max_attempts
    }

    /// Why the task exists.
    pub fn trigger(&self) -> Trigger {
        self.inner.trigger
    }

    /// When the task was due: the tick instant for a cron job.
    pub fn scheduled_at(&self) -> DateTime<Utc> {
        self.inner.scheduled_at
    }

    /// The runner's clock: use it instead of `Utc::now()` so that tests on a virtual clock
    /// see the time they simulate.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// The current instant, by the runner's clock.
    pub fn now(&self) -> DateTime<Utc> {
        self.inner.clock.now()
    }

    /// The client for enqueueing other jobs from inside this one, when the context has one
    /// (the runner always sets it; the testing helper does when given one).
    pub fn jobs(&self) -> Option<&dyn JobClient> {
        self.inner.client.as_deref()
    }

    /// Reports that `done` of `total` units are done. Cheap: the runner writes the latest
    /// report of each running task in batches (about twice a second), never one statement
    /// per call; `job-runner tasks`, the admin API and the dashboard show it, and the
    /// history keeps the last report with the attempt.
    ///
    /// ```
    /// use job_core::prelude::*;
    ///
    /// #[job]
    /// async fn copy_files(files: Vec<String>, ctx: JobContext) -> JobResult {
    ///     for (i, file) in files.iter().enumerate() {
    ///         ctx.set_meta("file", file);
    ///         // ... copy it ...
    ///         ctx.progress(i as u64 + 1, files.len() as u64);
    ///     }
    ///     Ok(Outcome::processed(files.len()))
    /// }
    /// ```
    pub fn progress(&self, done: u64, total: u64) {
        self.inner.live.report(|p| {
            p.done = Some(done);
            p.total = Some(total);
        });
    }

    /// Sets a named value shown with the task's progress (the file being copied, the last
    /// id processed). A value that cannot be turned into JSON is recorded as its error.
    pub fn set_meta(&self, key: impl Into<String>, value: impl Serialize) {
        let value = serde_json::to_value(value)
            .unwrap_or_else(|e| serde_json::Value::String(format!("not JSON: {e}")));
        self.inner.live.report(|p| {
            p.meta.insert(key.into(), value);
        });
    }

    /// The progress reported so far by this attempt.
    pub fn current_progress(&self) -> crate::Progress {
        self.inner.live.progress()
    }

    /// Resolves when the task is cancelled while it runs (from the CLI, the admin API or
    /// `Jobs::cancel`, on any machine). A job that can stop cleanly waits for it beside its
    /// work; one that does not is stopped at its next `.await` once the runner's grace for
    /// cancelled attempts has passed. Either way the task ends `cancelled`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use job_core::prelude::*;
    ///
    /// #[job]
    /// async fn long_export(ctx: JobContext) -> JobResult {
    ///     for page in 0..1000_u64 {
    ///         tokio::select! {
    ///             () = ctx.cancelled() => return Ok(Outcome::processed(page)), // stop cleanly
    ///             () = tokio::time::sleep(Duration::from_millis(1)) => {}      // one page
    ///         }
    ///     }
    ///     Ok(Outcome::processed(1000_u32))
    /// }
    /// ```
    pub async fn cancelled(&self) {
        self.inner.live.cancelled().await;
    }

    /// Whether the task was cancelled while this attempt runs.
    pub fn is_cancelled(&self) -> bool {
        self.inner.live.is_cancelled()
    }
}

impl fmt::Debug for JobContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobContext")
            .field("job", &self.inner.job)
            .field("task_id", &self.inner.task_id)
            .field("attempt", &self.inner.attempt)
            .field("trigger", &self.inner.trigger)
            .finish_non_exhaustive()
    }
}
