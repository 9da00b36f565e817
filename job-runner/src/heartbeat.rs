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
/// its length. Attempts end, and nothing is claimed, while it is up. Every raise opens a new
/// epoch: an attempt ends when the epoch it started in is over, even if the fence is down
/// again by the time it looks (see [`Fence::kick`]).
#[derive(Clone)]
pub(crate) struct Fence {
    /// Whether it is up, and the current epoch.
    state: Arc<watch::Sender<(bool, u64)>>,
}

impl Default for Fence {
    fn default() -> Fence {
        Fence {
            state: Arc::new(watch::Sender::new((false, 0))),
        }
    }
}

impl Fence {
    /// Whether the fence is up now.
    pub(crate) fn is_raised(&self) -> bool {
        self.state.borrow().0
    }

    /// The current epoch: an attempt started now ends when it is over.
    pub(crate) fn epoch(&self) -> u64 {
        self.state.borrow().1
    }

    /// Completes once `epoch` is over (at once if it is).
    pub(crate) async fn ended(&self, epoch: u64) {
        let mut watch = self.state.subscribe();
        // The sender lives as long as `self`: the wait ends only when the epoch does.
        let _ = watch.wait_for(|(_, now)| *now != epoch).await;
    }

    /// Completes once the fence is down (at once if it is).
    pub(crate) async fn lowered(&self) {
        let mut watch = self.state.subscribe();
        let _ = watch.wait_for(|(up, _)| !*up).await;
    }

    /// Raises the fence: the running attempts end, and nothing is claimed.
    fn raise(&self) {
        self.state.send_modify(|(up, epoch)| {
            *up = true;
            *epoch += 1;
        });
    }

    /// Lowers the fence: claiming goes on.
    fn lower(&self) {
        self.state.send_modify(|(up, _)| *up = false);
    }

    /// Ends the running attempts without stopping claims: the runner's claims were taken
    /// over, but it holds its lease again.
    fn kick(&self) {
        self.state.send_modify(|(_, epoch)| *epoch += 1);
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

/// How a renewal went.
enum Renewal {
    /// The lease is renewed.
    Renewed,
    /// The runner had been declared dead (its claims taken over) and is registered again.
    Reinstated,
    /// No renewal.
    Failed,
}

impl Heartbeat {
    /// How long without a successful renewal raises the fence: two renewals short of the
    /// lease, so that the attempts have that long to stop before the lease ends; but never
    /// sooner than two renewals, since a renewal is sent `every` after the last one and
    /// may take up to `every` to answer (with a lease of 3 renewals, the shortest allowed,
    /// the fence rose at every renewal's round trip when it rose after one).
    pub(crate) fn fence_after(every: Duration, lease: Duration) -> Duration {
        lease.saturating_sub(every * 2).max(every * 2)
    }

    /// Renews the lease every `every` until `stop`, and raises the fence when no renewal
    /// has succeeded for [`fence_after`](Heartbeat::fence_after), whatever the renewals
    /// are doing (one may hang).
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let fence_after = Heartbeat::fence_after(self.every, self.lease);
        let (renewed, mut watched) = watch::channel(Instant::now());
        let renewals = async {
            let mut last = Instant::now();
            loop {
                tokio::time::sleep(self.every).await;
                let sent = Instant::now();
                match self.renew().await {
                    Renewal::Failed => continue,
                    Renewal::Reinstated => {
                        tracing::warn!(
                            runner = self.runner.id,
                            "this runner's claims were taken over: stopping the attempts it was running"
                        );
                        self.fence.kick();
                    }
                    // Renewed after more than a lease without one (the process stalled):
                    // its claims may have been taken over meanwhile.
                    Renewal::Renewed if sent.duration_since(last) >= self.lease => {
                        tracing::warn!(
                            runner = self.runner.id,
                            "no renewal for longer than the lease: stopping the attempts this runner was running, which others may have taken over"
                        );
                        self.fence.kick();
                    }
                    Renewal::Renewed => {}
                }
                last = sent;
                renewed.send_replace(sent);
                if self.fence.is_raised() {
                    tracing::warn!(
                        runner = self.runner.id,
                        "the lease is renewed again: claiming tasks again"
                    );
                    self.fence.lower();
                }
            }
        };
        let watchdog = async {
            loop {
                let deadline = *watched.borrow_and_update() + fence_after;
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {
                        if !self.fence.is_raised() {
                            tracing::error!(
                                runner = self.runner.id,
                                without_renewal = %job_schedule::format_duration(fence_after),
                                lease = %job_schedule::format_duration(self.lease),
                                "cannot renew the lease: stopping this runner's running attempts before another runner takes them over, and claiming nothing until the database answers again"
                            );
                            self.fence.raise();
                        }
                        // Until the next renewal.
                        if watched.changed().await.is_err() {
                            return;
                        }
                    }
                    changed = watched.changed() => if changed.is_err() {
                        return;
                    },
                }
            }
        };
        tokio::select! {
            () = renewals => {}
            () = watchdog => {}
            _ = stop.changed() => {}
        }
    }

    /// One renewal, given up after `every`.
    async fn renew(&self) -> Renewal {
        match tokio::time::timeout(self.every, self.renew_once()).await {
            Ok(renewal) => renewal,
            Err(_) => {
                self.health.failed();
                tracing::warn!(
                    waited = %job_schedule::format_duration(self.every),
                    "the database did not answer the heartbeat in time"
                );
                Renewal::Failed
            }
        }
    }

    async fn renew_once(&self) -> Renewal {
        let now = self.clock.now();
        match self.store.heartbeat(&self.runner.id, now).await {
            Ok(true) => {
                self.health.succeeded(now);
                Renewal::Renewed
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
                    Ok(()) => Renewal::Reinstated,
                    Err(error) => {
                        tracing::error!(%error, "cannot register the runner again");
                        Renewal::Failed
                    }
                }
            }
            Err(error) => {
                self.health.failed();
                tracing::warn!(%error, "cannot renew the heartbeat");
                Renewal::Failed
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
        // Never sooner than two renewals: one sent a renewal after the last, answered
        // within a renewal.
        assert_eq!(fence_after(1_000, 3_000), Duration::from_secs(2));
        assert_eq!(fence_after(1_000, 4_000), Duration::from_secs(2));
    }

    #[tokio::test]
    async fn an_attempt_ends_with_its_epoch_even_when_the_fence_is_down_again() {
        let fence = Fence::default();
        assert!(!fence.is_raised());
        let epoch = fence.epoch();
        let attempt = tokio::spawn({
            let fence = fence.clone();
            async move { fence.ended(epoch).await }
        });
        fence.raise();
        fence.lower();
        attempt.await.expect("ended");
        assert!(!fence.is_raised());
        // A kick ends the attempts of its epoch, and leaves claiming alone.
        let epoch = fence.epoch();
        fence.kick();
        fence.ended(epoch).await;
        fence.lowered().await;
    }
}
