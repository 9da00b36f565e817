//! The rescuer: recovers tasks claimed by runners that stopped heartbeating (killed, or cut
//! off from the database), so that another runner runs them again.

use std::sync::Arc;
use std::time::Duration;

use job_core::Clock;
use tokio::sync::watch;

use crate::client::Wakers;
use crate::heartbeat::Health;
use crate::plan::Plan;
use crate::storage::Store;

/// What the rescuer works with.
pub(crate) struct Rescuer {
    pub(crate) store: Store,
    pub(crate) runner_id: String,
    pub(crate) clock: Clock,
    /// A runner silent this long has lost its claims.
    pub(crate) lease: Duration,
    /// How often to look.
    pub(crate) every: Duration,
    pub(crate) wakers: Wakers,
    pub(crate) health: Health,
    /// When a lost attempt's task runs again.
    pub(crate) plan: Arc<Plan>,
}

impl Rescuer {
    /// Looks for lost claims every `every` until `stop`, once this runner has been healthy
    /// for a lease.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            if self.health.healthy_for(self.lease, self.clock.now()) {
                self.rescue_once().await;
            }
            tokio::select! {
                _ = self.clock.sleep(self.every) => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// One pass.
    async fn rescue_once(&self) {
        let (store, wakers) = (&self.store, &self.wakers);
        let now = self.clock.now();
        let policy = &*self.plan;
        match store
            .rescue(now, self.lease, &self.runner_id, None, policy)
            .await
        {
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
}
