//! The cleaner: prepares the history's place for the days ahead (PostgreSQL's day
//! partitions), and prunes history rows, finished tasks, ticks and events past the
//! retention period (the latest tick of each schedule stays, for catching up).
//! Dead tasks stay until they are retried or cancelled by hand.

use std::time::Duration;

use job_core::Clock;
use tokio::sync::watch;

use crate::storage::{Pruned, Store};

/// Rows deleted per statement, so that pruning never holds the database for long.
const BATCH: u32 = 5000;

/// Prunes what the retention period has passed.
pub(crate) struct Cleaner {
    pub(crate) store: Store,
    pub(crate) clock: Clock,
    /// How long history, finished tasks, ticks and events are kept.
    pub(crate) retention: Duration,
    /// How often to prune.
    pub(crate) every: Duration,
}

impl Cleaner {
    /// Prepares the days ahead at start; prunes (and prepares again) once a while after
    /// start and then every `every`, until `stop`.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let Cleaner {
            store,
            clock,
            retention,
            every,
        } = self;
        let mut wait = Duration::from_secs(60).min(every);
        prepare(&store, &clock).await;
        loop {
            tokio::select! {
                _ = clock.sleep(wait) => {}
                _ = stop.changed() => return,
            }
            wait = every;
            prepare(&store, &clock).await;
            let before = job_schedule::sub_saturating(clock.now(), retention);
            let mut total = Pruned::default();
            loop {
                match store.prune(before, BATCH).await {
                    Ok(pruned) => {
                        total.executions += pruned.executions;
                        total.tasks += pruned.tasks;
                        total.ticks += pruned.ticks;
                        total.events += pruned.events;
                        if !pruned.filled(BATCH) {
                            break;
                        }
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot prune old history");
                        break;
                    }
                }
            }
            if total != Pruned::default() {
                tracing::info!(
                    executions = total.executions,
                    tasks = total.tasks,
                    ticks = total.ticks,
                    events = total.events,
                    before = %before.to_rfc3339(),
                    "pruned old history"
                );
            }
        }
    }
}

/// Prepares the history's place for the days ahead; a failure is said, and tried again at
/// the next pass (until then rows of those days are stored all the same, in the default
/// partition).
async fn prepare(store: &Store, clock: &Clock) {
    match store.prepare_history(clock.now()).await {
        Ok(0) => {}
        Ok(days) => tracing::info!(days, "prepared the history for the days ahead"),
        Err(error) => tracing::warn!(%error, "cannot prepare the history for the days ahead"),
    }
}
