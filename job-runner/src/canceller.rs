//! The canceller: stops this runner's attempts whose task was cancelled while it ran. It
//! looks for requests at each poll, and on PostgreSQL whenever the listener hears that a
//! task was asked to stop, so that an attempt learns of it at once.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, watch};

use crate::in_flight::InFlight;
use crate::storage::Store;

/// Stops attempts whose task was cancelled.
pub(crate) struct Canceller {
    pub(crate) store: Store,
    pub(crate) runner_id: String,
    pub(crate) in_flight: InFlight,
    pub(crate) every: Duration,
    /// Notified when a request is announced.
    pub(crate) wake: Arc<Notify>,
}

impl Canceller {
    /// Looks for requests until `stop`.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                () = tokio::time::sleep(self.every) => {}
                () = self.wake.notified() => {}
                _ = stop.changed() => return,
            }
            if self.in_flight.is_empty() {
                continue;
            }
            match self.store.cancel_requests(&self.runner_id).await {
                Ok(requests) => {
                    for id in requests {
                        self.in_flight.cancel(id);
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "cannot read requests to cancel running tasks")
                }
            }
        }
    }
}
