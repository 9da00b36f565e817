//! What a running attempt shares with its runner: the progress it reports, and the request
//! to stop it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use tokio::sync::Notify;

/// How far a running task has come: `done` of `total` and named values, as reported with
/// [`JobContext::progress`](crate::JobContext::progress) and
/// [`JobContext::set_meta`](crate::JobContext::set_meta).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Units done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done: Option<u64>,
    /// Units in all, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
    /// Named values (the file being copied, the last id processed...).
    #[serde(default, skip_serializing_if = "serde_json::Map::is_empty")]
    pub meta: serde_json::Map<String, serde_json::Value>,
}

/// The live side of one attempt: the runner reads the progress the job reports (and writes
/// it in batches), and asks the job to stop when its task is cancelled.
///
/// ```
/// use job_core::LiveAttempt;
///
/// let live = LiveAttempt::default();
/// live.report(|p| { p.done = Some(3); p.total = Some(10); });
/// assert_eq!(live.take_changed().and_then(|p| p.done), Some(3));
/// assert_eq!(live.take_changed(), None, "nothing new since");
/// assert!(!live.is_cancelled());
/// live.cancel();
/// assert!(live.is_cancelled());
/// ```
#[derive(Debug, Default)]
pub struct LiveAttempt {
    progress: Mutex<Progress>,
    changed: AtomicBool,
    cancelled: AtomicBool,
    cancel: Notify,
}

impl LiveAttempt {
    /// Changes the progress with `change`.
    pub fn report(&self, change: impl FnOnce(&mut Progress)) {
        change(&mut self.progress.lock().unwrap_or_else(PoisonError::into_inner));
        self.changed.store(true, Ordering::Release);
    }

    /// The progress reported so far.
    pub fn progress(&self) -> Progress {
        self.progress
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The progress, when it changed since the last call.
    pub fn take_changed(&self) -> Option<Progress> {
        self.changed
            .swap(false, Ordering::AcqRel)
            .then(|| self.progress())
    }

    /// Asks the job to stop: [`cancelled`](LiveAttempt::cancelled) resolves.
    pub fn cancel(&self) {
        self.cancelled.store(true, Ordering::Release);
        self.cancel.notify_waiters();
    }

    /// Whether the task was cancelled.
    pub fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Acquire)
    }

    /// Resolves once the task is cancelled (at once if it already is).
    pub async fn cancelled(&self) {
        loop {
            let notified = self.cancel.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}
