//! Run a job inline in a unit test: no runner, no database.
//!
//! ```
//! use job_core::prelude::*;
//! use job_core::testing::TestContext;
//!
//! struct Threshold(u64);
//!
//! /// Counts how many of the numbers are above the threshold.
//! #[job]
//! async fn count_large(numbers: Vec<u64>, ctx: JobContext) -> JobResult {
//!     let threshold = ctx.data::<Threshold>()?.0;
//!     Ok(Outcome::processed(numbers.iter().filter(|&&n| n > threshold).count()))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let outcome = TestContext::new()
//!     .data(Threshold(10))
//!     .run(CountLarge, vec![1, 20, 30])
//!     .await
//!     .unwrap();
//! assert_eq!(outcome.records_processed(), Some(2));
//!
//! // Shared state that is missing is a failed attempt that names the type.
//! let error = TestContext::new().run(CountLarge, vec![1]).await.unwrap_err();
//! assert!(error.to_string().contains("Threshold"));
//! # }
//! ```

use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};

use crate::{
    BoxFuture, Clock, ContextBuilder, EnqueueError, EnqueueRequest, Enqueued, Job, JobClient,
    JobError, Outcome, State, TaskId, Trigger,
};

/// Runs jobs inline with shared state, as the runner would run one attempt.
///
/// The arguments make the same trip through JSON as in the runner, so a type that does
/// not round-trip shows up in the test.
#[derive(Clone)]
pub struct TestContext {
    state: State,
    attempt: u32,
    max_attempts: u32,
    trigger: Trigger,
    clock: Clock,
    scheduled_at: Option<DateTime<Utc>>,
    client: Option<Arc<dyn JobClient>>,
}

impl Default for TestContext {
    fn default() -> Self {
        TestContext::new()
    }
}

impl TestContext {
    /// A context for a first attempt, triggered by hand, on the system clock, with no state.
    pub fn new() -> TestContext {
        TestContext {
            state: State::new(),
            attempt: 1,
            max_attempts: 1,
            trigger: Trigger::Manual,
            clock: Clock::system(),
            scheduled_at: None,
            client: None,
        }
    }

    /// Registers shared state, as `.data(value)` on the runner builder does.
    pub fn data<T: Send + Sync + 'static>(mut self, value: T) -> Self {
        self.state.insert(value);
        self
    }

    /// Runs as attempt `attempt` of `max_attempts`.
    pub fn attempt(mut self, attempt: u32, max_attempts: u32) -> Self {
        self.attempt = attempt;
        self.max_attempts = max_attempts;
        self
    }

    /// Runs as if triggered by `trigger`.
    pub fn trigger(mut self, trigger: Trigger) -> Self {
        self.trigger = trigger;
        self
    }

    /// Runs with `clock` (a [`Clock::virtual_at`] clock makes `ctx.now()` predictable).
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Sets the instant the task was due.
    pub fn scheduled_at(mut self, at: DateTime<Utc>) -> Self {
        self.scheduled_at = Some(at);
        self
    }

    /// Gives the job a client to enqueue other jobs with, such as a [`RecordingClient`].
    pub fn client(mut self, client: Arc<dyn JobClient>) -> Self {
        self.client = Some(client);
        self
    }

    /// Runs one attempt of `job` with `args`.
    pub async fn run<J: Job>(&self, job: J, args: J::Args) -> Result<Outcome, JobError> {
        let _ = job;
        let descriptor = J::descriptor();
        let args = serde_json::to_value(args).map_err(|e| {
            JobError::msg(format!(
                "the arguments of job `{}` cannot be stored as JSON: {e}",
                descriptor.name()
            ))
        })?;
        let mut builder = ContextBuilder::new(descriptor.name(), TaskId::new("test-task"))
            .attempt(self.attempt, self.max_attempts)
            .trigger(self.trigger)
            .clock(self.clock.clone())
            .state(Arc::new(self.state.clone()));
        if let Some(at) = self.scheduled_at {
            builder = builder.scheduled_at(at);
        }
        if let Some(client) = &self.client {
            builder = builder.client(client.clone());
        }
        descriptor.run(builder.build(), args).await
    }
}

/// A [`JobClient`] that stores nothing and remembers every request, for asserting what a
/// job enqueued.
#[derive(Debug, Default)]
pub struct RecordingClient {
    requests: Mutex<Vec<EnqueueRequest>>,
}

impl RecordingClient {
    /// An empty recorder.
    pub fn new() -> RecordingClient {
        RecordingClient::default()
    }

    /// The requests received so far, in order.
    pub fn requests(&self) -> Vec<EnqueueRequest> {
        self.requests
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl JobClient for RecordingClient {
    fn enqueue(&self, request: EnqueueRequest) -> BoxFuture<'_, Result<Enqueued, EnqueueError>> {
        let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
        requests.push(request);
        let id = TaskId::new(format!("recorded-{}", requests.len()));
        Box::pin(async move {
            Ok(Enqueued {
                id,
                existing: false,
            })
        })
    }
}
