//! The error a job returns when an attempt fails.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

/// Why an attempt failed.
///
/// Any error type converts into it with `?`, so a job can mix database, I/O and its own
/// errors. A failed attempt is retried with backoff until the job's retries are used up;
/// [`JobError::permanent`] marks a failure that no retry can fix, and ends the task at once;
/// [`JobError::retry_in`] chooses the delay before the next attempt instead of the backoff.
///
/// Like `anyhow::Error`, `JobError` does not implement [`std::error::Error`] itself, which is
/// what lets every error convert into it.
///
/// ```
/// use job_core::JobError;
///
/// let error = JobError::msg("destination returned 503");
/// assert_eq!(error.to_string(), "destination returned 503");
/// assert!(!error.is_permanent());
///
/// let error = JobError::msg("document 42 does not exist").permanent();
/// assert!(error.is_permanent());
///
/// // The destination said when to come back (an HTTP 429 with Retry-After: 30).
/// let error = JobError::msg("rate limited").retry_in(std::time::Duration::from_secs(30));
/// assert_eq!(error.retry_delay(), Some(std::time::Duration::from_secs(30)));
/// ```
pub struct JobError {
    error: Box<dyn StdError + Send + Sync + 'static>,
    permanent: bool,
    retry_in: Option<Duration>,
}

impl JobError {
    /// An error from a message.
    pub fn msg(message: impl fmt::Display) -> JobError {
        JobError {
            error: message.to_string().into(),
            permanent: false,
            retry_in: None,
        }
    }

    /// Marks the failure as one that retrying cannot fix: the task ends as dead at once,
    /// whatever retries are left (it can still be retried by hand).
    pub fn permanent(mut self) -> JobError {
        self.permanent = true;
        self
    }

    /// Retries after `delay` instead of the job's backoff (a retry still counts an attempt,
    /// and the task is dead when none is left). A job's own retry policy
    /// (`#[job(retry = ...)]`) decides first.
    pub fn retry_in(mut self, delay: Duration) -> JobError {
        self.retry_in = Some(delay);
        self
    }

    /// The delay set with [`retry_in`](JobError::retry_in).
    pub fn retry_delay(&self) -> Option<Duration> {
        self.retry_in
    }

    /// Whether the failure was marked [`permanent`](JobError::permanent).
    pub fn is_permanent(&self) -> bool {
        self.permanent
    }

    /// The underlying error.
    pub fn source_error(&self) -> &(dyn StdError + Send + Sync + 'static) {
        &*self.error
    }
}

impl<E> From<E> for JobError
where
    E: StdError + Send + Sync + 'static,
{
    fn from(error: E) -> JobError {
        JobError {
            error: Box::new(error),
            permanent: false,
            retry_in: None,
        }
    }
}

/// Shows the error followed by its chain of sources: `outer: inner: root`.
impl fmt::Display for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.error)?;
        let mut source = self.error.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

impl fmt::Debug for JobError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JobError")
            .field("message", &self.to_string())
            .field("permanent", &self.permanent)
            .field("retry_in", &self.retry_in)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("copy failed")]
    struct CopyFailed(#[source] std::io::Error);

    #[test]
    fn display_shows_the_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::NotFound, "no such file");
        let error = JobError::from(CopyFailed(io));
        assert_eq!(error.to_string(), "copy failed: no such file");
    }
}
