//! Quiet stretches: the ticks that nothing else falls between, run as one batch.
//!
//! One tick at a time, a simulation spends a dozen statements on each tick (take it, look
//! for due tasks, claim, record the end). Between two other events (a pending task of a
//! job that is not paused falling due, the end of the run) the ticks of the schedules are all there is, so they run in
//! batches: one transaction takes a batch's ticks and claims their tasks, the attempts run
//! one after another, each at its tick's instant, and one more transaction records their
//! ends and history.
//!
//! The history is the one that one tick at a time gives, ids included. A batch ends after
//! an attempt that leaves work behind (a retry, the next step of a chain, a task enqueued
//! through the job's client, a pending task it has waited past) once the rest of that job's
//! tasks of the instant have run (a runner claims them together), or before an instant
//! that an attempt ran past. The later ticks it did not run are given back, the rest of the
//! instant goes back to pending, and the simulation goes on one event at a time from
//! there, finishing the pass over the jobs that the batch left under way. Some instants
//! are left to one tick at a time: an exclusive job's (whether it runs depends on the end
//! of the run before) and one with more of a job's ticks than a runner claims at once.
//! While a runner has crashed (`crash_runner_mid_job`), every tick goes one at a time.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use chrono::{DateTime, Utc};
use job_core::{BoxFuture, EnqueueError, EnqueueRequest, Enqueued, JobClient};

use super::{CLAIM_LIMIT, RUNNER_ID, Simulation};
use crate::client::Jobs;
use crate::plan::JobSettings;
use crate::runner::RunnerError;
use crate::scheduler;
use crate::storage::{ClaimedTask, StoreError, TakenTick, TaskState, TickTask};

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
    /// The ticks of the running batch at instants after the attempt that runs.
    unrun: Mutex<Held>,
}

/// The ticks of a batch from `from` on, held to be given back.
#[derive(Default)]
struct Held {
    ticks: Arc<[TakenTick]>,
    from: usize,
}

impl WatchedClient {
    pub(super) fn new(jobs: Jobs) -> WatchedClient {
        WatchedClient {
            jobs,
            uses: AtomicU64::new(0),
            unrun: Mutex::new(Held::default()),
        }
    }

    /// How many times jobs have used the client.
    fn uses(&self) -> u64 {
        self.uses.load(Ordering::SeqCst)
    }

    /// Holds ticks of a batch that have not run, to give back before a job enqueues.
    fn hold(&self, ticks: &Arc<[TakenTick]>, from: usize) {
        *self.unrun.lock().unwrap_or_else(PoisonError::into_inner) = Held {
            ticks: ticks.clone(),
            from,
        };
    }

    /// Gives back the ticks held, if any (holding none from then on), and puts the
    /// `unclaimed` tasks back to pending.
    async fn give_back(&self, unclaimed: &[i64]) -> Result<(), StoreError> {
        let held = std::mem::take(&mut *self.unrun.lock().unwrap_or_else(PoisonError::into_inner));
        let unrun = held.ticks.get(held.from..).unwrap_or_default();
        self.jobs.store().release_ticks(unrun, unclaimed).await
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

/// A tick of a batch: its schedule (index in `Simulation::schedules`), its instant and its
/// job (index in `Simulation::running_order`).
#[derive(Debug, Clone, Copy)]
struct Tick {
    schedule: usize,
    at: DateTime<Utc>,
    job: usize,
}

impl Simulation {
    /// The earliest instant at which a pending task that a pass claims falls due: the
    /// tasks of paused jobs, and of jobs the simulation does not run, wait without ending
    /// batches.
    async fn next_claimable(
        &self,
        jobs: &[JobSettings],
    ) -> Result<Option<DateTime<Utc>>, StoreError> {
        let store = self.jobs.store();
        let paused = store.paused().await?;
        let mut next: Option<DateTime<Utc>> = None;
        for settings in jobs
            .iter()
            .filter(|s| !paused.iter().any(|p| p == s.name()))
        {
            if let Some(due) = store.next_due(settings.name()).await? {
                next = Some(next.map_or(due, |n| n.min(due)));
            }
        }
        Ok(next)
    }

    /// Takes the ticks that fall before the next other event (and not after `target`) as
    /// one batch and runs them; `false` when there are none to take this way.
    pub(super) async fn run_quiet_ticks(
        &mut self,
        target: DateTime<Utc>,
    ) -> Result<bool, RunnerError> {
        if self.crashed || !self.batching {
            return Ok(false);
        }
        let store = self.jobs.store().clone();
        let jobs = self.running_order.clone();
        let pending = self.next_claimable(&jobs).await?;
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

        // The batch: the earliest ticks across the schedules, in running order: by instant,
        // then job by job as a runner claims them. An instant is in a batch whole or not at
        // all.
        let mut cursor: Vec<Option<DateTime<Utc>>> = self.schedules.iter().map(|s| s.1).collect();
        let mut batch: Vec<Tick> = Vec::new();
        while let Some(tick) = cursor
            .iter()
            .zip(&ranks)
            .enumerate()
            .filter_map(|(schedule, (at, job))| {
                Some(Tick {
                    schedule,
                    at: (*at)?,
                    job: (*job)?,
                })
            })
            .min_by_key(|t| (t.at, t.job, t.schedule))
        {
            let full = batch.len() >= self.batch && batch.last().is_some_and(|l| l.at < tick.at);
            if full || tick.at > target || pending.is_some_and(|due| due <= tick.at) {
                break;
            }
            let claimed_together = batch
                .iter()
                .rev()
                .take_while(|t| t.at == tick.at && t.job == tick.job)
                .count();
            if jobs[tick.job].exclusive || claimed_together >= CLAIM_LIMIT as usize {
                // Left to one tick at a time, whole.
                while let Some(last) = batch.last()
                    && last.at == tick.at
                {
                    cursor[last.schedule] = Some(last.at);
                    batch.pop();
                }
                break;
            }
            batch.push(tick);
            cursor[tick.schedule] = self.schedules[tick.schedule].0.schedule.next_after(tick.at);
        }
        if batch.is_empty() {
            return Ok(false);
        }

        // Taken in the order a runner takes them, instant by instant, schedule by schedule,
        // so that the tasks get the ids they would get one tick at a time.
        let mut taking: Vec<usize> = (0..batch.len()).collect();
        taking.sort_by_key(|&k| (batch[k].at, batch[k].schedule));
        let ticks = taking
            .iter()
            .map(|&k| {
                let Tick { schedule, at, .. } = batch[k];
                let entry = &self.schedules[schedule].0;
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
            tasks[k] = task;
        }
        // In running order, each with its tick; the ticks of paused jobs are skipped.
        let runs: Vec<(Tick, ClaimedTask)> = tasks
            .into_iter()
            .enumerate()
            .filter_map(|(k, task)| Some((batch[k], task?)))
            .collect();
        let taken: Arc<[TakenTick]> = runs
            .iter()
            .map(|(tick, task)| TakenTick {
                schedule_id: self.schedules[tick.schedule].0.id.clone(),
                tick_at: tick.at,
                task_id: task.id,
            })
            .collect();

        // Run them. The ticks of later instants are held, to be given back as soon as an
        // attempt leaves work behind (or by the client, before a job enqueues); from then
        // on each end is recorded as it comes, as one tick at a time.
        let mut completions = Vec::with_capacity(runs.len());
        let mut stop = runs.len();
        let mut cut_after: Option<(DateTime<Utc>, usize)> = None;
        for (n, (tick, task)) in runs.iter().enumerate() {
            // (The first tick is after the clock: everything due by then has run.)
            let new_instant = n > 0 && runs[n - 1].0.at < tick.at;
            let ends = match cut_after {
                Some(group) => group != (tick.at, tick.job),
                None => new_instant && self.now() > tick.at,
            };
            if ends {
                stop = n;
                break;
            }
            self.clock.advance_to(tick.at);
            if cut_after.is_none() {
                let later = runs[n..]
                    .iter()
                    .position(|(t, _)| t.at > tick.at)
                    .map_or(runs.len(), |p| n + p);
                self.watched.hold(&taken, later);
            }
            let used = self.watched.uses();
            let completion = self.attempt(&jobs[tick.job]).run(task).await;
            let leaves_work = completion.next_state == TaskState::Pending
                || completion.chain.is_some()
                || completion.follow_up.is_some()
                || self.watched.uses() != used
                || pending.is_some_and(|due| due <= self.now());
            completions.push(completion);
            if leaves_work && cut_after.is_none() {
                cut_after = Some((tick.at, tick.job));
                self.watched.give_back(&[]).await?;
            }
            if cut_after.is_some() {
                let ended = std::mem::take(&mut completions);
                store.complete(RUNNER_ID, &ended, self.now()).await?;
            }
        }
        // The later ticks not run go back before the ends are recorded, so that a chain's
        // next step comes after the ticks run, as one tick at a time; the rest of a cut
        // instant stays taken, its tasks back to pending, for the pass that goes on from
        // the cut job.
        let unrun = &runs[stop..];
        let last_run = stop.checked_sub(1).map(|n| runs[n].0.at);
        let unclaimed: Vec<i64> = unrun
            .iter()
            .filter(|(tick, _)| Some(tick.at) == last_run)
            .map(|(_, task)| task.id)
            .collect();
        self.watched.give_back(&unclaimed).await?;
        store.complete(RUNNER_ID, &completions, self.now()).await?;
        self.pass_after = cut_after.map(|(_, job)| job);
        // Counted as a runner counts them: once taken for good.
        for (_, task) in runs
            .iter()
            .filter(|(t, _)| last_run.is_some_and(|l| t.at <= l))
        {
            self.jobs.metrics().tick(&task.job);
        }

        // The schedules resume at their first tick given back (the skipped ticks of paused
        // jobs before it count as taken: they write nothing).
        if let (Some(last), false) = (last_run, unrun.is_empty()) {
            for tick in batch.iter().rev().filter(|t| t.at > last) {
                self.schedules[tick.schedule].1 = Some(tick.at);
            }
        }
        self.batch = if unrun.is_empty() && cut_after.is_none() {
            (self.batch * 2).min(MAX_BATCH)
        } else {
            (self.batch / 2).max(1)
        };
        Ok(true)
    }
}
