//! The attempts running in this runner, by task: the progress each reports and the way to
//! cancel it. The executor enters an attempt here while it runs; the reporter writes the
//! progress of all of them in batches, and the canceller stops those whose task is cancelled.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use job_core::{LiveAttempt, Progress};

/// The attempts running in this runner.
#[derive(Clone, Default)]
pub(crate) struct InFlight {
    by_task: Arc<Mutex<HashMap<i64, Arc<LiveAttempt>>>>,
}

/// An attempt's place in [`InFlight`], left when it is dropped.
pub(crate) struct Entry {
    in_flight: InFlight,
    task_id: i64,
    pub(crate) live: Arc<LiveAttempt>,
}

impl Drop for Entry {
    fn drop(&mut self) {
        self.in_flight.lock().remove(&self.task_id);
    }
}

impl InFlight {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Arc<LiveAttempt>>> {
        self.by_task.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Enters an attempt of task `task_id`.
    pub(crate) fn enter(&self, task_id: i64) -> Entry {
        let live = Arc::new(LiveAttempt::default());
        self.lock().insert(task_id, live.clone());
        Entry {
            in_flight: self.clone(),
            task_id,
            live,
        }
    }

    /// Whether no attempt runs here.
    pub(crate) fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    /// Asks the attempt of task `task_id` to stop; `false` when none runs here.
    pub(crate) fn cancel(&self, task_id: i64) -> bool {
        let live = self.lock().get(&task_id).cloned();
        live.map(|live| live.cancel()).is_some()
    }

    /// The progress of every attempt that reported some since the last call.
    pub(crate) fn changed_progress(&self) -> Vec<(i64, Progress)> {
        self.lock()
            .iter()
            .filter_map(|(&id, live)| live.take_changed().map(|p| (id, p)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_leave_when_they_end_and_only_new_progress_is_taken() {
        let in_flight = InFlight::default();
        let entry = in_flight.enter(7);
        assert!(!in_flight.is_empty());
        entry.live.report(|p| p.done = Some(1));
        assert_eq!(in_flight.changed_progress().len(), 1);
        assert!(in_flight.changed_progress().is_empty());
        assert!(in_flight.cancel(7));
        assert!(entry.live.is_cancelled());
        drop(entry);
        assert!(in_flight.is_empty());
        assert!(!in_flight.cancel(7), "no attempt of task 7 runs any more");
    }
}
