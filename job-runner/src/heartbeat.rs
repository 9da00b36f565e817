//! The heartbeat: renews this runner's claims by touching its row in `jobs_runners`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use job_core::Clock;
use tokio::sync::watch;

use crate::storage::{RunnerRow, Store};

/// Since when this runner has reached the database without a failure.
///
/// The rescuer only declares other runners dead once this runner has been healthy for a
/// whole lease: after a database outage every runner's heartbeat is stale, and a rescuer
/// that acted at once would take work from runners that are alive and about to renew.
#[derive(Clone)]
pub(crate) struct Health {
    healthy_since: Arc<AtomicI64>,
}

const UNHEALTHY: i64 = i64::MAX;

impl Health {
    pub(crate) fn new(now: DateTime<Utc>) -> Health {
        Health {
            healthy_since: Arc::new(AtomicI64::new(now.timestamp_millis())),
        }
    }

    fn succeeded(&self, now: DateTime<Utc>) {
        let _ = self.healthy_since.compare_exchange(
            UNHEALTHY,
            now.timestamp_millis(),
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
    }

    fn failed(&self) {
        self.healthy_since.store(UNHEALTHY, Ordering::SeqCst);
    }

    /// Whether the runner has been healthy for at least `span` at `now`.
    pub(crate) fn healthy_for(&self, span: Duration, now: DateTime<Utc>) -> bool {
        let since = self.healthy_since.load(Ordering::SeqCst);
        since != UNHEALTHY
            && now.timestamp_millis().saturating_sub(since) >= span.as_millis() as i64
    }
}

/// Renews the heartbeat every `every` until `stop`; re-registers the runner if another
/// runner declared it dead (its claims were recovered meanwhile, and its late results are
/// not applied to tasks it no longer holds).
pub(crate) async fn run(
    store: Store,
    runner: RunnerRow,
    clock: Clock,
    every: Duration,
    health: Health,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        tokio::select! {
            _ = clock.sleep(every) => {}
            _ = stop.changed() => return,
        }
        let now = clock.now();
        match store.heartbeat(&runner.id, now).await {
            Ok(true) => health.succeeded(now),
            Ok(false) => {
                health.succeeded(now);
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
            Err(error) => {
                health.failed();
                tracing::warn!(%error, "cannot renew the heartbeat");
            }
        }
    }
}
