//! The listener: wakes this runner's workers when any process stores a task that is due
//! now, its scheduler when a schedule changes, and its canceller when a running task is
//! asked to stop, through the driver's announcements (PostgreSQL's LISTEN/NOTIFY; on
//! SQLite, every commit to the database file wakes every worker, and the scheduler reads the
//! schedules' fingerprint, while the canceller keeps to its poll; where SQLite has no watch,
//! this service ends at once). Delayed tasks and retries are found by the workers' own
//! timers, and the poll interval covers announcements lost while the connection was down.

use std::time::Duration;

use std::sync::Arc;

use tokio::sync::{Notify, watch};

use crate::client::Wakers;
use crate::storage::{Announcement, Store};

/// Wakes this runner's workers and scheduler on announcements.
pub(crate) struct Listener {
    pub(crate) store: Store,
    pub(crate) wakers: Wakers,
    pub(crate) schedules_changed: Arc<Notify>,
    /// Notified when the database may have changed: the scheduler reads the schedules'
    /// fingerprint again.
    pub(crate) schedules_touched: Arc<Notify>,
    /// Wakes the canceller: a running task was asked to stop (perhaps one of this
    /// runner's; the canceller reads which from the database, as the channel is shared by
    /// every schema of the database).
    pub(crate) cancel_requested: Arc<Notify>,
}

impl Listener {
    /// Listens until `stop`.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let Listener {
            store,
            wakers,
            schedules_changed,
            schedules_touched,
            cancel_requested,
        } = self;
        let retry = Duration::from_secs(1);
        loop {
            let mut listener = tokio::select! {
                listener = store.listen() => match listener {
                    Ok(Some(listener)) => listener,
                    Ok(None) => return,
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen for new tasks; polling meanwhile");
                        tokio::select! {
                            _ = tokio::time::sleep(retry) => continue,
                            _ = stop.changed() => return,
                        }
                    }
                },
                _ = stop.changed() => return,
            };
            // Tasks stored and schedules changed while not listening: let every worker and the
            // scheduler look once.
            wakers.wake_all();
            schedules_changed.notify_one();
            loop {
                tokio::select! {
                    announcement = listener.next() => match announcement {
                        Ok(Announcement::TaskDue(job)) => wakers.wake(&job),
                        Ok(Announcement::SchedulesChanged(_)) => schedules_changed.notify_one(),
                        Ok(Announcement::CancelRequested(_)) => cancel_requested.notify_one(),
                        // Heard by callers waiting for results, on a subscription of their own.
                        Ok(Announcement::TaskEnded(_)) => {}
                        // Not the canceller: a drain changes the file every few
                        // milliseconds, and its poll finds requests soon enough.
                        Ok(Announcement::Changed) => {
                            tracing::debug!("the database changed; looking for tasks");
                            wakers.wake_all();
                            schedules_touched.notify_one();
                        }
                        Ok(Announcement::Missed) => {
                            tracing::warn!("lost the connection that listens for new tasks; reconnecting");
                            wakers.wake_all();
                            schedules_changed.notify_one();
                            cancel_requested.notify_one();
                        }
                        Err(error) => {
                            tracing::warn!(%error, "listening for new tasks failed; reconnecting");
                            break;
                        }
                    },
                    _ = stop.changed() => return,
                }
            }
        }
    }
}
