//! What a successful attempt reports.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// What a successful attempt reports: how many records it processed (kept in the execution
/// history) and, for a step of a chain, the value passed on as the next job's arguments.
///
/// ```
/// use job_core::Outcome;
///
/// let outcome = Outcome::processed(42_usize);
/// assert_eq!(outcome.records_processed(), Some(42));
/// assert_eq!(Outcome::none().records_processed(), None);
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Outcome {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    records_processed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    output: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    snooze: Option<Duration>,
}

impl Outcome {
    /// Nothing to report.
    pub fn none() -> Outcome {
        Outcome::default()
    }

    /// The attempt processed `count` records (rows deleted, files copied...). Counts beyond
    /// `u64::MAX` are recorded as `u64::MAX`.
    pub fn processed(count: impl TryInto<u64>) -> Outcome {
        Outcome {
            records_processed: Some(count.try_into().unwrap_or(u64::MAX)),
            output: None,
            snooze: None,
        }
    }

    /// Puts the task back to run again after `delay`, without counting an attempt: for a
    /// job that finds it is too early (a file not there yet, a partner's window not open).
    ///
    /// Each snooze is a `snoozed` row in the history. A task may snooze 100 times; past
    /// that, a snooze counts as a failed attempt (retried with backoff, and dead when no
    /// attempt is left), so that a task cannot snooze forever.
    ///
    /// ```
    /// use std::time::Duration;
    /// use job_core::prelude::*;
    ///
    /// #[job]
    /// async fn import_statement(ctx: JobContext) -> JobResult {
    ///     let arrived = false;
    ///     if !arrived {
    ///         return Ok(Outcome::snooze(Duration::from_secs(300)));
    ///     }
    ///     Ok(Outcome::processed(1_u32))
    /// }
    /// ```
    pub fn snooze(delay: Duration) -> Outcome {
        Outcome {
            snooze: Some(delay),
            ..Outcome::default()
        }
    }

    /// The delay of a [`snooze`](Outcome::snooze).
    pub fn snoozed_for(&self) -> Option<Duration> {
        self.snooze
    }

    /// An outcome that carries `output` (what a job returned, as JSON): the task's result,
    /// kept with its successful attempt, and the arguments of the next step of a chain.
    pub fn with_output(mut self, output: serde_json::Value) -> Outcome {
        self.output = Some(output);
        self
    }

    /// The value returned (the task's result), if any.
    pub fn output(&self) -> Option<&serde_json::Value> {
        self.output.as_ref()
    }

    /// How many records the attempt processed, when it said.
    pub fn records_processed(&self) -> Option<u64> {
        self.records_processed
    }
}

/// What a job function may return on success: `()` or an [`Outcome`].
pub trait IntoOutcome {
    /// Converts the success value.
    fn into_outcome(self) -> Outcome;
}

impl IntoOutcome for Outcome {
    fn into_outcome(self) -> Outcome {
        self
    }
}

impl IntoOutcome for () {
    fn into_outcome(self) -> Outcome {
        Outcome::none()
    }
}

/// The usual return type of a job: an [`Outcome`] or a [`JobError`](crate::JobError).
///
/// A job may return any `Result<T, E>` where `T` is `()` or [`Outcome`] and `E` displays;
/// `JobResult` is the short name for the common case.
pub type JobResult<T = Outcome, E = crate::JobError> = Result<T, E>;
