//! The heartbeat: renews this runner's claims by touching its row in `jobs_runners`.

use std::time::Duration;

use job_core::Clock;
use tokio::sync::watch;

use crate::storage::{RunnerRow, Store};

/// Renews the heartbeat every `every` until `stop`; re-registers the runner if another
/// runner declared it dead (its claims were recovered meanwhile, and its late results are
/// not applied to tasks it no longer holds).
pub(crate) async fn run(
    store: Store,
    runner: RunnerRow,
    clock: Clock,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = clock.sleep(every) => {}
            _ = stop.changed() => return,
        }
        match store.heartbeat(&runner.id, clock.now()).await {
            Ok(true) => {}
            Ok(false) => {
                tracing::warn!(
                    runner = runner.id,
                    "this runner was declared dead (no heartbeat within the lease) and its claims were recovered; registering again"
                );
                let mut again = runner.clone();
                again.heartbeat_at = clock.now();
                if let Err(error) = store.register_runner(&again).await {
                    tracing::error!(%error, "cannot register the runner again");
                }
            }
            Err(error) => tracing::warn!(%error, "cannot renew the heartbeat"),
        }
    }
}
