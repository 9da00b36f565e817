//! The rescuer: recovers tasks claimed by runners that stopped heartbeating (killed, or cut
//! off from the database), so that another runner runs them again.

use std::time::Duration;

use job_core::Clock;
use tokio::sync::watch;

use crate::client::Wakers;
use crate::storage::Store;

/// Looks for lost claims every `every` until `stop`.
pub(crate) async fn run(
    store: Store,
    runner_id: String,
    clock: Clock,
    lease: Duration,
    every: Duration,
    wakers: Wakers,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        rescue_once(&store, &runner_id, clock, lease, &wakers).await;
        tokio::select! {
            _ = clock.sleep(every) => {}
            _ = stop.changed() => return,
        }
    }
}

/// One pass; also used at start-up, so that a runner restarted after a crash picks up its
/// predecessor's work at once.
pub(crate) async fn rescue_once(
    store: &Store,
    runner_id: &str,
    clock: Clock,
    lease: Duration,
    wakers: &Wakers,
) {
    match store.rescue(clock.now(), lease, runner_id, None).await {
        Ok(rescued) => {
            for task in &rescued {
                if task.retried {
                    tracing::warn!(
                        job = task.job,
                        task_id = task.task_id,
                        attempt = task.attempt,
                        lost_by = task.lost_by,
                        "recovered a task from a stopped runner; it will run again"
                    );
                    wakers.wake(&task.job);
                } else {
                    tracing::error!(
                        job = task.job,
                        task_id = task.task_id,
                        attempt = task.attempt,
                        lost_by = task.lost_by,
                        "recovered a task from a stopped runner; no attempt left, it is dead"
                    );
                }
            }
        }
        Err(error) => tracing::warn!(%error, "cannot recover claims of stopped runners"),
    }
}
