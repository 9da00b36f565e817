//! The completer: stores the ends of attempts and their history rows in batches.
//!
//! Attempts that end while a batch is being written form the next batch, so under load one
//! transaction carries many acknowledgements, and when idle an attempt's end is written at
//! once. An executor waits until its attempt's end is stored before taking another task:
//! a crash loses at most the attempts in flight, which the rescuer recovers.

use std::time::Duration;

use job_core::Clock;
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::storage::{Completion, Store};

/// Most attempts written in one transaction.
const MAX_BATCH: usize = 1000;

/// Sends attempt ends to the completer.
#[derive(Clone)]
pub(crate) struct CompleterHandle {
    sender: mpsc::Sender<(Completion, oneshot::Sender<()>)>,
}

impl CompleterHandle {
    /// Stores `completion` with the next batch, returning once it is stored (or the
    /// completer has stopped).
    pub(crate) async fn complete(&self, completion: Completion) {
        let (done, stored) = oneshot::channel();
        if self.sender.send((completion, done)).await.is_ok() {
            let _ = stored.await;
        }
    }
}

/// Starts the completer; it stops once every handle is dropped and the last batch is
/// stored.
pub(crate) fn start(
    store: Store,
    runner_id: String,
    clock: Clock,
    metrics: Metrics,
) -> (CompleterHandle, tokio::task::JoinHandle<()>) {
    let (sender, receiver) = mpsc::channel(MAX_BATCH * 4);
    let task = tokio::spawn(run(store, runner_id, clock, metrics, receiver));
    (CompleterHandle { sender }, task)
}

async fn run(
    store: Store,
    runner_id: String,
    clock: Clock,
    metrics: Metrics,
    mut receiver: mpsc::Receiver<(Completion, oneshot::Sender<()>)>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    while receiver.recv_many(&mut batch, MAX_BATCH).await > 0 {
        let (completions, waiters): (Vec<Completion>, Vec<oneshot::Sender<()>>) =
            std::mem::take(&mut batch).into_iter().unzip();
        let mut failures = 0u32;
        loop {
            match store.complete(&runner_id, &completions, clock.now()).await {
                Ok(stale) => {
                    for c in completions.iter().filter(|c| !stale.contains(&c.task_id)) {
                        let e = &c.execution;
                        let seconds = (e.finished_at - e.started_at)
                            .num_microseconds()
                            .unwrap_or(0) as f64
                            / 1e6;
                        metrics.execution(&e.job, e.status, seconds);
                    }
                    for task_id in stale {
                        tracing::warn!(
                            task_id,
                            "an attempt finished after its claim was recovered by another runner (this runner lost the database for longer than the lease); its result is not recorded"
                        );
                    }
                    break;
                }
                Err(error) => {
                    failures = failures.saturating_add(1);
                    let wait = Duration::from_millis(100 * u64::from(failures.min(50)));
                    tracing::error!(%error, attempts = completions.len(), retry_in = ?wait, "cannot store finished attempts");
                    clock.sleep(wait).await;
                }
            }
        }
        for waiter in waiters {
            let _ = waiter.send(());
        }
    }
}
