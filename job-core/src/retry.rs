//! How a job retries a failed attempt: after its backoff, after a delay it chooses, or never.

use std::time::Duration;

use crate::JobError;

/// What a job's retry policy (`#[job(retry = path::to::policy)]`) decides for a failed
/// attempt that has attempts left.
///
/// ```
/// use std::time::Duration;
/// use job_core::prelude::*;
/// use job_core::{Failure, Retry};
///
/// /// Rate-limited requests wait a minute; a missing document is never retried; anything
/// /// else follows the job's backoff.
/// fn by_error(failure: &Failure<'_>) -> Retry {
///     let text = failure.error.to_string();
///     if text.contains("429") {
///         Retry::In(Duration::from_secs(60))
///     } else if text.contains("not found") {
///         Retry::Never
///     } else {
///         Retry::Backoff
///     }
/// }
///
/// #[job(retries = 5, retry = by_error)]
/// async fn fetch_invoice() -> JobResult {
///     Err(JobError::msg("upstream answered 429"))
/// }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retry {
    /// As the error asks ([`JobError::retry_in`]), or else after the job's backoff.
    Backoff,
    /// After this delay.
    In(Duration),
    /// Never: the task ends dead at once (it can still be retried by hand).
    Never,
}

/// A failed attempt, as a retry policy sees it.
#[derive(Debug)]
#[non_exhaustive]
pub struct Failure<'a> {
    /// The attempt that failed (1 for the first).
    pub attempt: u32,
    /// How many attempts the task may have in all.
    pub max_attempts: u32,
    /// Why it failed. An attempt lost with its runner (the process died) or stopped by a
    /// timeout has an error that says so.
    pub error: &'a JobError,
}

impl<'a> Failure<'a> {
    /// Attempt `attempt` of `max_attempts` failed with `error`.
    pub fn new(attempt: u32, max_attempts: u32, error: &'a JobError) -> Failure<'a> {
        Failure {
            attempt,
            max_attempts,
            error,
        }
    }
}

/// A job's retry policy: see [`Retry`].
pub type RetryFn = fn(&Failure<'_>) -> Retry;
