//! The completer: stores the ends of attempts and their history rows in batches.
//!
//! Attempts that end while a batch is being written form the next batch, so under load one
//! transaction carries many acknowledgements, and when idle an attempt's end is written at
//! once. An executor waits until its attempt's end is stored before taking another task:
//! a crash loses at most the attempts in flight, which the rescuer recovers.
//!
//! One end that the database refuses never holds up the others: a batch refused for a value
//! is split until the refused end is alone, and that end is then recorded in a form that
//! stores (see [`unstorable`]). Any other failure (the database out of reach, locked, shutting
//! down) makes the ends wait and be tried again: an executor's slot is freed only once its
//! attempt's end is stored.

use std::time::Duration;

use job_core::Clock;
use tokio::sync::{mpsc, oneshot};

use crate::metrics::Metrics;
use crate::storage::text::storable;
use crate::storage::{Completion, ExecutionStatus, Store, StoreError, TaskState};

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
        let (mut completions, waiters): (Vec<Completion>, Vec<oneshot::Sender<()>>) =
            std::mem::take(&mut batch).into_iter().unzip();
        let mut failures = 0u32;
        let sink = StoreSink {
            store: &store,
            runner: &runner_id,
            clock: &clock,
        };
        loop {
            match write_isolating(&sink, completions).await {
                Ok(written) => {
                    report(&metrics, &written);
                    break;
                }
                Err(Unwritten {
                    error,
                    remaining,
                    written,
                }) => {
                    report(&metrics, &written);
                    completions = remaining;
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

fn report(metrics: &Metrics, written: &Written) {
    for c in &written.recorded {
        let e = &c.execution;
        let seconds = (e.finished_at - e.started_at)
            .num_microseconds()
            .unwrap_or(0) as f64
            / 1e6;
        metrics.execution(&e.job, e.status, seconds);
    }
    for task_id in &written.stale {
        tracing::warn!(
            task_id,
            "an attempt finished after its claim was recovered by another runner (this runner lost the database for longer than the lease); its result is not recorded"
        );
    }
}

/// Where batches of ends are written: the store, or a test's stand-in.
pub(crate) trait Sink {
    /// Writes `batch` in one go, all or nothing; returns the ids of the tasks no longer
    /// held.
    async fn write(&self, batch: &[Completion]) -> Result<Vec<i64>, StoreError>;
}

struct StoreSink<'a> {
    store: &'a Store,
    runner: &'a str,
    clock: &'a Clock,
}

impl Sink for StoreSink<'_> {
    async fn write(&self, batch: &[Completion]) -> Result<Vec<i64>, StoreError> {
        self.store
            .complete(self.runner, batch, self.clock.now())
            .await
    }
}

/// What a call of [`write_isolating`] stored.
#[derive(Debug, Default)]
pub(crate) struct Written {
    /// The ends recorded (as given, or in their storable form).
    pub(crate) recorded: Vec<Completion>,
    /// The tasks this runner no longer held: their ends were not recorded.
    pub(crate) stale: Vec<i64>,
}

/// The database failed otherwise than by refusing a value (it is out of reach, locked,
/// shutting down): these ends were not written, to be tried again; `written` were.
#[derive(Debug)]
pub(crate) struct Unwritten {
    pub(crate) error: StoreError,
    pub(crate) remaining: Vec<Completion>,
    pub(crate) written: Written,
}

/// Writes `completions`, so that one the database refuses cannot hold the others: a batch
/// refused for a value is halved until each refused end is alone, and that end is written
/// as [`unstorable`] makes it. Any other failure leaves what is not written to be tried
/// again: an end is never dropped.
pub(crate) async fn write_isolating(
    sink: &impl Sink,
    completions: Vec<Completion>,
) -> Result<Written, Unwritten> {
    let mut written = Written::default();
    let mut pending = vec![completions];
    while let Some(batch) = pending.pop() {
        let error = match sink.write(&batch).await {
            Ok(stale) => {
                written.record(batch, stale);
                continue;
            }
            Err(error) => error,
        };
        let retry_later = |error, batch, pending: Vec<Vec<Completion>>, written| {
            let mut remaining: Vec<Completion> = pending.into_iter().flatten().collect();
            remaining.extend(batch);
            Unwritten {
                error,
                remaining,
                written,
            }
        };
        if !error.is_refused_value() {
            return Err(retry_later(error, batch, pending, written));
        }
        if batch.len() > 1 {
            let mut first = batch;
            let second = first.split_off(first.len() / 2);
            pending.push(second);
            pending.push(first);
            continue;
        }
        let Some(refused) = batch.into_iter().next() else {
            continue;
        };
        tracing::error!(task_id = refused.task_id, %error, "the database refused the end of an attempt; recording it without what it refused");
        let substitute = unstorable(&refused, &error);
        match sink.write(std::slice::from_ref(&substitute)).await {
            Ok(stale) => written.record(vec![substitute], stale),
            Err(again) => return Err(retry_later(again, vec![refused], pending, written)),
        }
    }
    Ok(written)
}

impl Written {
    fn record(&mut self, batch: Vec<Completion>, stale: Vec<i64>) {
        self.recorded
            .extend(batch.into_iter().filter(|c| !stale.contains(&c.task_id)));
        self.stale.extend(stale);
    }
}

/// The end of an attempt that the database refused, in a form that stores: the refusal as
/// its error, no records, result or progress, no next step. A failed attempt keeps its next state; a succeeded
/// one ends dead (it is not run again unseen: its work may be done; `job-runner retry` runs
/// it again).
pub(crate) fn unstorable(refused: &Completion, error: &StoreError) -> Completion {
    let succeeded = refused.next_state == TaskState::Succeeded;
    let mut substitute = refused.clone();
    substitute.follow_up = None;
    substitute.execution.records_processed = None;
    substitute.execution.result = None;
    substitute.execution.progress = None;
    if succeeded {
        substitute.next_state = TaskState::Dead;
        substitute.retry_at = None;
        substitute.execution.status = ExecutionStatus::Dead;
    }
    let what = if succeeded { "succeeded" } else { "failed" };
    substitute.execution.error = Some(storable(format!(
        "the attempt {what}, but the database refused to store its end ({error}); recorded without it"
    )));
    substitute
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;

    use chrono::Utc;
    use job_core::Trigger;

    use super::*;
    use crate::storage::{AttemptOf, NewExecution};

    /// A sink that refuses any batch holding a poisoned end, as a database refuses a value.
    #[derive(Default)]
    struct Picky {
        poisoned: Vec<i64>,
        down: bool,
        writes: RefCell<Vec<Vec<i64>>>,
    }

    impl Sink for Picky {
        async fn write(&self, batch: &[Completion]) -> Result<Vec<i64>, StoreError> {
            let refused = batch.iter().any(|c| {
                self.poisoned.contains(&c.task_id) && c.execution.records_processed.is_some()
            });
            if self.down {
                return Err(StoreError::NotMigrated);
            }
            if refused {
                return Err(StoreError::Corrupt {
                    doing: "recording finished attempts",
                    detail: "invalid byte sequence".into(),
                });
            }
            self.writes
                .borrow_mut()
                .push(batch.iter().map(|c| c.task_id).collect());
            Ok(Vec::new())
        }
    }

    fn end(task_id: i64) -> Completion {
        let now = Utc::now();
        let of = AttemptOf {
            task_id,
            job: "a".into(),
            attempt: 1,
            trigger: Trigger::Enqueue,
            scheduled_at: now,
            chain_id: None,
            chain_step: None,
        };
        Completion {
            task_id,
            attempt: 1,
            next_state: TaskState::Succeeded,
            retry_at: None,
            snoozed: false,
            execution: NewExecution::new(of, "r1", ExecutionStatus::Succeeded, now, now)
                .with_records(Some(1))
                .with_result(Some(format!("{{\"task\":{task_id}}}")))
                .with_progress(Some(r#"{"done":1}"#.into())),
            chain: None,
            follow_up: None,
        }
    }

    #[tokio::test]
    async fn a_refused_end_is_isolated_and_recorded_plainly_while_the_others_are_stored() {
        let sink = Picky {
            poisoned: vec![5],
            ..Picky::default()
        };
        let written = write_isolating(&sink, (1..=8).map(end).collect())
            .await
            .expect("written");
        let mut stored: Vec<i64> = sink.writes.borrow().iter().flatten().copied().collect();
        stored.sort_unstable();
        assert_eq!(stored, (1..=8).collect::<Vec<_>>());
        let poisoned = written
            .recorded
            .iter()
            .find(|c| c.task_id == 5)
            .expect("recorded");
        assert_eq!(poisoned.next_state, TaskState::Dead);
        // What the job returned and reported may be what the database refused.
        assert_eq!(
            (&poisoned.execution.result, &poisoned.execution.progress),
            (&None, &None)
        );
        assert!(
            poisoned
                .execution
                .error
                .as_deref()
                .unwrap_or_default()
                .contains("the database refused to store its end"),
            "{poisoned:?}"
        );
        let clean = written.recorded.iter().filter(|c| c.task_id != 5);
        assert!(clean.clone().all(|c| c.next_state == TaskState::Succeeded));
        assert!(clean.clone().all(|c| c.execution.result.is_some()));
        assert_eq!(clean.count(), 7);
    }

    #[tokio::test]
    async fn an_unreachable_database_leaves_every_end_to_be_written_again() {
        let sink = Picky {
            down: true,
            ..Picky::default()
        };
        let unwritten = write_isolating(&sink, (1..=4).map(end).collect())
            .await
            .expect_err("the database is down");
        assert_eq!(unwritten.remaining.len(), 4);
        assert!(sink.writes.borrow().is_empty());
    }
}
