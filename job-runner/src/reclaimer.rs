//! The reclaimer: keeps the tasks table fit for claims by reclaiming the row versions that
//! claims and ends of attempts leave behind (on PostgreSQL, a vacuum once there are enough
//! of them; see `storage::postgres::upkeep`; SQLite needs none).

use std::time::Duration;

use job_core::Clock;
use tokio::sync::watch;

use crate::storage::Store;

/// How often the reclaimer looks: a backlog drained at 25,000 tasks a second leaves 50,000
/// dead versions a second, so a look every second keeps them near the threshold.
pub(crate) const EVERY: Duration = Duration::from_secs(1);

/// What the reclaimer works with.
pub(crate) struct Reclaimer {
    pub(crate) store: Store,
    pub(crate) clock: Clock,
    /// How often to look.
    pub(crate) every: Duration,
}

impl Reclaimer {
    /// Looks every `every` until `stop`; a look that finds enough dead versions reclaims
    /// them before the next.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let mut failing = false;
        loop {
            tokio::select! {
                _ = self.clock.sleep(self.every) => {}
                _ = stop.changed() => return,
            }
            match self.store.reclaim().await {
                Ok(reclaimed) => {
                    failing = false;
                    if let Some(dead) = reclaimed {
                        tracing::debug!(dead, "vacuumed the tasks table");
                    }
                }
                // Said once per spell of failures: the next look tries again, and claims
                // go on meanwhile, only slower.
                Err(error) if !failing => {
                    failing = true;
                    tracing::warn!(%error, "cannot reclaim dead rows of the tasks table");
                }
                Err(_) => {}
            }
        }
    }
}
