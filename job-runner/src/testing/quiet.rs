//! Quiet stretches: the ticks that nothing else falls between, run as one batch.
//!
//! One tick at a time, a simulation spends a dozen statements on each tick (take it, look
//! for due tasks, claim, record the end). Between two other events (a pending task falling
//! due, a crashed runner's lease running out, the end of the run) the ticks of the
//! schedules are all there is, so they run in batches: one transaction takes a batch's
//! ticks and claims their tasks, the attempts run one after another, each at its tick's
//! instant, and one transaction records their ends and history.
//!
//! The history is the one that one tick at a time gives. A batch ends early after an
//! attempt that leaves work behind (a retry, the next step of a chain, a task enqueued
//! through the job's client), or before a tick that an attempt ran past; the ticks it did
//! not run are given back, and the simulation goes on one event at a time from there. An
//! exclusive job's tick also ends a batch, since whether it runs depends on the end of
//! the run before it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};

use chrono::{DateTime, Utc};
use job_core::{BoxFuture, EnqueueError, EnqueueRequest, Enqueued, JobClient};

use super::{RUNNER_ID, Simulation};
use crate::client::Jobs;
use crate::executor::Attempt;
use crate::runner::RunnerError;
use crate::scheduler;
use crate::storage::{ClaimedTask, StoreError, TaskState, TickTask};

/// The most ticks in one batch. A batch that ends early halves the next one, a batch run
/// to the end doubles it, so jobs that keep leaving work behind go back to one tick at a
/// time instead of taking and giving back many ticks for each one run.
pub(super) const MAX_BATCH: usize = 1024;

/// The client that jobs get in a simulation: the simulation's own, counting its use so
/// that a batch knows when a job has enqueued something. Before it stores anything, it
/// gives back the ticks of the batch that have not run yet, so that what the job enqueues
/// comes after the ticks run so far, as it would one tick at a time.
pub(super) struct WatchedClient {
    jobs: Jobs,
    uses: AtomicU64,
    /// The tasks of the running batch's ticks after the attempt that runs.
    unrun: Mutex<Vec<i64>>,
}

impl WatchedClient {
    pub(super) fn new(jobs: Jobs) -> WatchedClient {
        WatchedClient {
            jobs,
            uses: AtomicU64::new(0),
            unrun: Mutex::new(Vec::new()),
        }
    }

    /// How many times jobs have used the client.
    fn uses(&self) -> u64 {
        self.uses.load(Ordering::SeqCst)
    }

    /// Holds the tasks of a batch's ticks that have not run.
    fn hold(&self, tasks: &[i64]) {
        *self.unrun.lock().unwrap_or_else(PoisonError::into_inner) = tasks.to_vec();
    }

    /// Gives back the ticks of the tasks held, if any, and puts the `unclaimed` tasks back
    /// to pending.
    async fn give_back(&self, unclaimed: &[i64]) -> Result<(), StoreError> {
        let unrun = std::mem::take(&mut *self.unrun.lock().unwrap_or_else(PoisonError::into_inner));
        self.jobs.store().release_ticks(&unrun, unclaimed).await
    }

    async fn before_use(&self) -> Result<(), EnqueueError> {
        self.uses.fetch_add(1, Ordering::SeqCst);
        self.give_back(&[])
            .await
            .map_err(|e| EnqueueError::Storage(e.into()))
    }
}

impl JobClient for WatchedClient {
    fn enqueue(&self, request: EnqueueRequest) -> BoxFuture<'_, Result<Enqueued, EnqueueError>> {
        Box::pin(async move {
            self.before_use().await?;
            self.jobs.enqueue(request).await
        })
    }

    fn enqueue_many(
        &self,
        requests: Vec<EnqueueRequest>,
    ) -> BoxFuture<'_, Result<Vec<Enqueued>, EnqueueError>> {
        Box::pin(async move {
            self.before_use().await?;
            self.jobs.enqueue_many(requests).await
        })
    }
}

impl Simulation {
    /// Runs the ticks that fall before the next other event (and not after `target`) as
    /// one batch; `false` when there are none to run this way.
    pub(super) async fn run_quiet_ticks(
        &mut self,
        target: DateTime<Utc>,
    ) -> Result<bool, RunnerError> {
        if self.crashed || self.batch == 0 {
            return Ok(false);
        }
        let store = self.jobs.store().clone();
        let pending = store.next_due_any().await?;
        let jobs = self.running_order();
        let rank: HashMap<&str, usize> = jobs
            .iter()
            .enumerate()
            .map(|(i, s)| (s.name(), i))
            .collect();
        let ranks: Vec<Option<usize>> = self
            .schedules
            .iter()
            .map(|(entry, _)| rank.get(entry.job.as_str()).copied())
            .collect();

        // The batch: the earliest ticks across the schedules, each with its schedule and
        // its job, in running order: by instant, then job by job as a runner claims them.
        // An instant is in a batch whole or not at all.
        let mut cursor: Vec<Option<DateTime<Utc>>> = self.schedules.iter().map(|s| s.1).collect();
        let mut batch: Vec<(usize, DateTime<Utc>, usize)> = Vec::new();
        while let Some((i, at, job)) = cursor
            .iter()
            .zip(&ranks)
            .enumerate()
            .filter_map(|(i, (at, job))| Some((i, (*at)?, (*job)?)))
            .min_by_key(|&(i, at, job)| (at, job, i))
        {
            let full = batch.len() >= self.batch && batch.last().is_some_and(|l| l.1 < at);
            if full || at > target || pending.is_some_and(|due| due <= at) {
                break;
            }
            if jobs[job].unique {
                // Whether its tick runs depends on the end of the run before: its instant
                // is left to one tick at a time.
                while let Some(&(j, tick, _)) = batch.last()
                    && tick == at
                {
                    cursor[j] = Some(tick);
                    batch.pop();
                }
                break;
            }
            batch.push((i, at, job));
            cursor[i] = self.schedules[i].0.schedule.next_after(at);
        }
        if batch.is_empty() {
            return Ok(false);
        }

        // Taken in the order a runner takes them, instant by instant, schedule by schedule,
        // so that the tasks get the ids they would get one tick at a time.
        let mut taking: Vec<usize> = (0..batch.len()).collect();
        taking.sort_by_key(|&k| (batch[k].1, batch[k].0));
        let ticks = taking
            .iter()
            .map(|&k| {
                let (i, at, _) = batch[k];
                let entry = &self.schedules[i].0;
                Ok(TickTask {
                    schedule_id: entry.id.clone(),
                    tick_at: at,
                    task: scheduler::tick_task(&self.jobs, entry, at, at)?,
                })
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        let Some(claimed) = store.take_ticks(&ticks, RUNNER_ID).await? else {
            return Ok(false);
        };
        for (schedule, next) in self.schedules.iter_mut().zip(cursor) {
            schedule.1 = next;
        }
        let mut tasks: Vec<Option<ClaimedTask>> = vec![None; batch.len()];
        for (&k, task) in taking.iter().zip(claimed) {
            if let Some(task) = &task {
                self.jobs.metrics().tick(&task.job);
            }
            tasks[k] = task;
        }
        // In running order, each with its place in the batch.
        let runs: Vec<(usize, ClaimedTask)> = tasks
            .into_iter()
            .enumerate()
            .filter_map(|(k, task)| Some((k, task?)))
            .collect();
        let ids: Vec<i64> = runs.iter().map(|(_, task)| task.id).collect();

        // Run them. After an attempt that leaves work behind, the rest of its job's tasks
        // of that instant still run (a runner claimed them together), and the batch stops
        // there. Before the ticks of an instant that an attempt has run past, it stops too.
        let mut completions = Vec::with_capacity(runs.len());
        let mut stop = runs.len();
        let mut cut_after: Option<(DateTime<Utc>, usize)> = None;
        for (n, (k, task)) in runs.iter().enumerate() {
            let (_, at, job) = batch[*k];
            // (The first tick is after the clock: everything due by then has run.)
            let new_instant = n > 0 && batch[runs[n - 1].0].1 < at;
            let ends = match cut_after {
                Some(group) => group != (at, job),
                None => new_instant && self.now() > at,
            };
            if ends {
                stop = n;
                break;
            }
            self.clock.advance_to(at);
            let later = runs[n..]
                .iter()
                .position(|(k, _)| batch[*k].1 > at)
                .map_or(runs.len(), |p| n + p);
            self.watched.hold(&ids[later..]);
            let used = self.watched.uses();
            let completion = Attempt {
                settings: &jobs[job],
                jobs: &self.jobs,
                state: &self.state,
                clock: &self.clock,
                client: &self.client,
                runner_id: RUNNER_ID,
            }
            .run(task)
            .await;
            let leaves_work = completion.next_state == TaskState::Pending
                || completion.chain.is_some()
                || completion.follow_up.is_some()
                || self.watched.uses() != used;
            completions.push(completion);
            if leaves_work && cut_after.is_none() {
                cut_after = Some((at, job));
            }
        }

        // The ticks of later instants not run go back first, so that a chain's next step
        // stored with the ends comes after the ticks run, as one tick at a time. The rest
        // of a cut instant stays taken: its tasks go back to pending, for the pass that
        // goes on from the cut job.
        let last_run = stop.checked_sub(1).map(|n| batch[runs[n].0].1);
        let unclaimed: Vec<i64> = runs[stop..]
            .iter()
            .filter(|(k, _)| Some(batch[*k].1) == last_run)
            .map(|(_, task)| task.id)
            .collect();
        self.watched.give_back(&unclaimed).await?;
        store.complete(RUNNER_ID, &completions, self.now()).await?;
        self.pass_after = cut_after.map(|(_, job)| job);

        // The schedules resume at their first tick given back.
        for &(i, at, _) in batch.iter().rev() {
            if last_run.is_none_or(|last| at > last) {
                self.schedules[i].1 = Some(at);
            }
        }
        self.batch = if stop == runs.len() && cut_after.is_none() {
            (self.batch * 2).min(MAX_BATCH)
        } else {
            (self.batch / 2).max(1)
        };
        Ok(true)
    }
}
