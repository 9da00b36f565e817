//! The limits each job's claims obey: the job's own (`#[job(limit, rate, per)]`, overridden
//! by `jobs.toml` or the environment) and its queue's (`[queues.NAME] limit`), or those set
//! at run time (`job-runner limits set`, the admin API), which replace them in every runner
//! within its poll interval.

use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tokio::sync::watch;

use crate::plan::JobSettings;
use crate::storage::{ClaimedTask, LimitOverride, Limits, QueueLimit, Store, StoreError};

/// The limits set at run time, as this runner last read them (a row per job or queue that
/// has some: a handful).
#[derive(Clone, Default)]
pub(crate) struct LiveLimits {
    overrides: Arc<RwLock<Vec<LimitOverride>>>,
}

impl LiveLimits {
    /// The limits `settings`' job obeys now.
    pub(crate) fn of(&self, settings: &JobSettings) -> Limits {
        let overrides = self
            .overrides
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        effective(settings, &overrides)
    }

    /// Replaces what was read.
    pub(crate) fn replace(&self, rows: Vec<LimitOverride>) {
        *self
            .overrides
            .write()
            .unwrap_or_else(PoisonError::into_inner) = rows;
    }
}

/// The limits of `settings`' job: those set at run time on the job and on its queue, among
/// `set`, replace its own and its queue's.
pub fn effective(settings: &JobSettings, set: &[LimitOverride]) -> Limits {
    let queue_set = set
        .iter()
        .find(|row| row.queue() == Some(settings.queue.as_str()));
    let set = set.iter().find(|row| row.job == settings.name());
    let own = settings.limits();
    let queue = match queue_set {
        None => own.queue.clone(),
        Some(set) => set.concurrency.map(|limit| QueueLimit {
            queue: settings.queue.clone(),
            limit,
        }),
    };
    let Some(set) = set else {
        return Limits { queue, ..own };
    };
    Limits {
        concurrency: set.concurrency,
        rate: set.rate_count.zip(set.rate_window_ms).map(|(count, ms)| {
            (
                count,
                Duration::from_millis(u64::try_from(ms.max(1)).unwrap_or(1)),
            )
        }),
        per_key: settings.per_key,
        queue,
    }
}

/// Claims up to `n` due tasks of `settings`' job for `runner`, within its `limits`: one at a
/// time for a job whose runs never overlap, within the limits for a limited or keyed job,
/// and as many as there are otherwise.
pub(crate) async fn claim(
    store: &Store,
    settings: &JobSettings,
    limits: &Limits,
    runner: &str,
    now: DateTime<Utc>,
    n: u32,
) -> Result<Vec<ClaimedTask>, StoreError> {
    if settings.exclusive || !limits.any() {
        return store
            .claim(settings.name(), runner, now, n, settings.exclusive)
            .await;
    }
    store
        .claim_within(settings.name(), runner, now, n, limits)
        .await
}

/// Reads the limits set at run time every `every`, until `stop`.
pub(crate) struct LimitsWatcher {
    pub(crate) store: Store,
    pub(crate) live: LiveLimits,
    pub(crate) every: Duration,
}

impl LimitsWatcher {
    /// Reads now, then every `every` until `stop`.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            match self.store.limit_overrides().await {
                Ok(rows) => self.live.replace(rows),
                Err(error) => tracing::warn!(%error, "cannot read the limits set at run time"),
            }
            tokio::select! {
                _ = tokio::time::sleep(self.every) => {}
                _ = stop.changed() => return,
            }
        }
    }
}
