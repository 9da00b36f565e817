//! Write a background job as a plain async function.
//!
//! ```
//! use job_core::prelude::*;
//! use serde::{Deserialize, Serialize};
//!
//! /// Deactivates authentication keys whose expiry has passed; daily at midnight UTC.
//! #[job(cron = "0 0 * * *")]
//! async fn expire_keys(ctx: JobContext) -> JobResult {
//!     let _now = ctx.now();
//!     Ok(Outcome::processed(0_u32))
//! }
//!
//! #[derive(Serialize, Deserialize)]
//! struct TransferRequest { source: String, destination: String }
//!
//! /// Copies one document; retried with backoff when the destination fails.
//! #[job(queue = "transfers", retries = 8, backoff = "5s..10m", timeout = "5m")]
//! async fn transfer_document(request: TransferRequest, ctx: JobContext) -> JobResult {
//!     Ok(Outcome::processed(1_u32))
//! }
//!
//! async fn on_upload(jobs: &dyn JobClient) -> Result<(), EnqueueError> {
//!     let request = TransferRequest { source: "in/a.pdf".into(), destination: "out/a.pdf".into() };
//!     TransferDocument::enqueue(jobs, request).await?; // a wrong argument type does not compile
//!     Ok(())
//! }
//! ```
//!
//! `#[job]` registers the job, so the runner (`cargo run -p job-runner`) finds it with no
//! list to maintain, and checks its options at compile time. See [`job`] for the options.

use std::pin::Pin;

mod client;
mod clock;
mod context;
mod error;
mod event;
mod job;
mod key;
mod live;
mod options;
mod outcome;
mod registry;
mod retry;
mod state;
pub mod testing;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use crate::client::{
    Enqueue, EnqueueError, EnqueueOptions, EnqueueRequest, Enqueued, JobClient, TaskEnd, WaitError,
};
pub use crate::clock::Clock;
pub use crate::context::{ContextBuilder, JobContext, TaskId, Trigger};
pub use crate::error::JobError;
pub use crate::event::{Event, EventError, EventSink, EventSource};
pub use crate::job::{InvalidArgs, Job, JobDescriptor, RunFn, SourceLocation};
pub use crate::live::{LiveAttempt, Progress};
pub use crate::options::{Backoff, CatchUp, JobOptions, Overlap, Unique};
pub use crate::outcome::{IntoOutcome, JobResult, Outcome};
pub use crate::registry::{DuplicateJobs, Registry};
pub use crate::retry::{Failure, Retry, RetryFn};
pub use crate::state::{MissingData, State};
pub use job_macros::job;
pub use job_schedule as schedule;
pub use job_schedule::Rate;

/// A boxed future that can move between threads.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What a job module needs: `use job_core::prelude::*;`.
pub mod prelude {
    pub use crate::{EnqueueError, Job, JobClient, JobContext, JobError, JobResult, Outcome, job};
}
