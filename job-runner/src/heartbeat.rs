//! The heartbeat: renews this runner's lease on its claims by touching its row in
//! `jobs_runners`, and raises the fence when it cannot.
//!
//! Ownership of a claim is a lease. Another runner takes a claim over once the lease has
//! passed without a renewal (see `rescuer`). So that an attempt never runs on two runners
//! at once, a runner that cannot renew (cut off from the database, or stalled) stops its own
//! attempts first: when no renewal has succeeded for most of the lease, the heartbeat raises
//! the [`Fence`], every running attempt of this runner ends as failed, and no task is claimed
//! until a renewal succeeds again. The time is measured on this process's monotonic clock
//! from the moment the last successful renewal was sent, which is never later than the
//! instant the store recorded: the fence always rises before the lease ends on the store's
//! clock.
//!
//! The heartbeat runs until the runner's last attempt has ended and its last completion is
//! stored (the runner stops it last): a runner that drains its attempts at shutdown keeps
//! its lease for as long as they run.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use job_core::Clock;
use tokio::sync::watch;
use tokio::time::Instant;

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

/// Raised while this runner may not hold claims: its lease could not be renewed for most of
/// its length. Attempts end, and nothing is claimed, while it is up.
#[derive(Clone)]
pub(crate) struct Fence {
    raised: Arc<watch::Sender<bool>>,
}

impl Default for Fence {
    fn default() -> Fence {
        Fence {
            raised: Arc::new(watch::Sender::new(false)),
        }
    }
}

impl Fence {
    /// Whether the fence is up now.
    pub(crate) fn is_raised(&self) -> bool {
        *self.raised.borrow()
    }

    /// Completes once the fence is up (at once if it is).
    pub(crate) async fn raised(&self) {
        let mut watch = self.raised.subscribe();
        // The sender lives as long as `self`: the wait ends only when the fence rises.
        let _ = watch.wait_for(|up| *up).await;
    }

    /// Completes once the fence is down (at once if it is).
    pub(crate) async fn lowered(&self) {
        let mut watch = self.raised.subscribe();
        let _ = watch.wait_for(|up| !*up).await;
    }

    fn set(&self, up: bool) {
        self.raised.send_replace(up);
    }
}

/// Renews a runner's lease; see the module's documentation.
pub(crate) struct Heartbeat {
    pub(crate) store: Store,
    pub(crate) runner: RunnerRow,
    pub(crate) clock: Clock,
    /// How often to renew.
    pub(crate) every: Duration,
    /// How long a lease lasts without renewal.
    pub(crate) lease: Duration,
    pub(crate) health: Health,
    pub(crate) fence: Fence,
}

impl Heartbeat {
    /// How long without a successful renewal raises the fence: two renewals short of the
    /// lease, so that the attempts have one renewal's time to stop before the lease ends
    /// (a renewal that hangs is given up after `every`).
    pub(crate) fn fence_after(every: Duration, lease: Duration) -> Duration {
        lease.saturating_sub(every * 2).max(every)
    }

    /// Renews the lease every `every` until `stop`; re-registers the runner if another
    /// runner declared it dead (its claims were recovered meanwhile, and its late results
    /// are not applied to tasks it no longer holds).
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let fence_after = Heartbeat::fence_after(self.every, self.lease);
        let mut renewed = Instant::now();
        loop {
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = stop.changed() => return,
            }
            let sent = Instant::now();
            if self.renew().await {
                renewed = sent;
                if self.fence.is_raised() {
                    tracing::warn!(
                        runner = self.runner.id,
                        "the lease is renewed again: claiming tasks again"
                    );
                    self.fence.set(false);
                }
            } else if sent.duration_since(renewed) >= fence_after && !self.fence.is_raised() {
                tracing::error!(
                    runner = self.runner.id,
                    without_renewal = %job_schedule::format_duration(sent.duration_since(renewed)),
                    lease = %job_schedule::format_duration(self.lease),
                    "cannot renew the lease: stopping this runner's running attempts before another runner takes them over, and claiming nothing until the database answers again"
                );
                self.fence.set(true);
            }
        }
    }

    /// One renewal, given up after `every`; `true` when the lease is renewed.
    async fn renew(&self) -> bool {
        match tokio::time::timeout(self.every, self.renew_once()).await {
            Ok(renewed) => renewed,
            Err(_) => {
                self.health.failed();
                tracing::warn!(
                    waited = %job_schedule::format_duration(self.every),
                    "the database did not answer the heartbeat in time"
                );
                false
            }
        }
    }

    async fn renew_once(&self) -> bool {
        let now = self.clock.now();
        match self.store.heartbeat(&self.runner.id, now).await {
            Ok(true) => {
                self.health.succeeded(now);
                true
            }
            Ok(false) => {
                self.health.succeeded(now);
                tracing::warn!(
                    runner = self.runner.id,
                    "this runner was declared dead (no heartbeat within the lease) and its claims were recovered; registering again"
                );
                let mut again = self.runner.clone();
                again.heartbeat_at = self.clock.now();
                match self.store.register_runner(&again).await {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::error!(%error, "cannot register the runner again");
                        false
                    }
                }
            }
            Err(error) => {
                self.health.failed();
                tracing::warn!(%error, "cannot renew the heartbeat");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fence_rises_two_renewals_before_the_lease_ends() {
        let fence_after = |every, lease| {
            Heartbeat::fence_after(Duration::from_millis(every), Duration::from_millis(lease))
        };
        assert_eq!(fence_after(2_000, 10_000), Duration::from_secs(6));
        assert_eq!(fence_after(300, 2_000), Duration::from_millis(1_400));
        // Never sooner than one renewal.
        assert_eq!(fence_after(2_000, 3_000), Duration::from_secs(2));
    }

    #[tokio::test]
    async fn a_fence_wakes_whoever_waits_for_it() {
        let fence = Fence::default();
        assert!(!fence.is_raised());
        let waiter = tokio::spawn({
            let fence = fence.clone();
            async move { fence.raised().await }
        });
        fence.set(true);
        waiter.await.expect("woken");
        assert!(fence.is_raised());
        let waiter = tokio::spawn({
            let fence = fence.clone();
            async move { fence.lowered().await }
        });
        fence.set(false);
        waiter.await.expect("woken");
    }
}
