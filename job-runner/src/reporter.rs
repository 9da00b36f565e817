//! The reporter: writes the progress that this runner's running attempts report, for all of
//! them in one statement, at most twice a second; a job that reports on every item costs
//! no statement per report.

use std::time::Duration;

use tokio::sync::watch;

use crate::attempt::progress_json;
use crate::in_flight::InFlight;
use crate::storage::Store;

/// How often the progress of running attempts is written.
pub(crate) const REPORT_EVERY: Duration = Duration::from_millis(500);

/// Writes the progress of running attempts.
pub(crate) struct Reporter {
    pub(crate) store: Store,
    pub(crate) runner_id: String,
    pub(crate) in_flight: InFlight,
    pub(crate) every: Duration,
}

impl Reporter {
    /// Writes until `stop`; the last progress of each attempt is written with its end.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.every) => {}
                _ = stop.changed() => return,
            }
            let changed: Vec<(i64, String)> = self
                .in_flight
                .changed_progress()
                .into_iter()
                .map(|(id, progress)| (id, progress_json(&progress)))
                .collect();
            if let Err(error) = self.store.report_progress(&self.runner_id, &changed).await {
                // The next report carries the attempts that report again; the end of each
                // attempt carries its last progress in any case.
                tracing::warn!(%error, "cannot write the progress of running tasks");
            }
        }
    }
}
