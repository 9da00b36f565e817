//! The cleaner: prunes history rows, finished tasks and ticks past the retention period.
//! Dead tasks stay until they are retried or cancelled by hand.

use std::time::Duration;

use job_core::Clock;
use tokio::sync::watch;

use crate::storage::Store;

/// Rows deleted per statement, so that pruning never holds the database for long.
const BATCH: u32 = 5000;

/// Prunes once a while after start and then every `every`, until `stop`.
pub(crate) async fn run(
    store: Store,
    clock: Clock,
    retention: Duration,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let mut wait = Duration::from_secs(60).min(every);
    loop {
        tokio::select! {
            _ = clock.sleep(wait) => {}
            _ = stop.changed() => return,
        }
        wait = every;
        let before = job_schedule::sub_saturating(clock.now(), retention);
        let (mut executions, mut tasks) = (0, 0);
        loop {
            match store.prune(before, BATCH).await {
                Ok((e, t)) => {
                    executions += e;
                    tasks += t;
                    if e < u64::from(BATCH) && t < u64::from(BATCH) {
                        break;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot prune old history");
                    break;
                }
            }
        }
        if executions + tasks > 0 {
            tracing::info!(executions, tasks, before = %before.to_rfc3339(), "pruned old history");
        }
    }
}
