//! The scheduler (periodic-job enqueuer): turns each tick of each schedule into a task,
//! exactly once across all runners.
//!
//! Every runner computes the ticks of every schedule. At a tick, each runner tries to
//! insert the key (schedule, tick instant in UTC) into `jobs_ticks`; the one whose insert
//! succeeds stores the task in the same transaction, the others do nothing. No leader, no
//! single point of failure. A runner that wakes late still takes the ticks it missed while
//! it ran. Ticks missed while no runner ran are skipped, unless the job's catch-up policy is
//! `once`: then, at start-up, the latest of them runs once (keyed by its own instant, so
//! several runners starting together still run it once).

use chrono::{DateTime, Utc};
use job_core::{CatchUp, Clock, EnqueueOptions, EnqueueRequest, Trigger};
use job_schedule::Schedule;
use tokio::sync::watch;

use crate::client::Jobs;
use crate::storage::{StoreError, TickOutcome};

/// One schedule to follow.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    /// The schedule's id: the job's name for a schedule written in code.
    pub(crate) id: String,
    pub(crate) job: String,
    pub(crate) schedule: Schedule,
    pub(crate) catch_up: CatchUp,
}

/// The most ticks a catch-up looks through to find the latest one missed.
const CATCH_UP_SCAN: usize = 1_000_000;

/// Follows `entries` from now until `stop`.
pub(crate) async fn run(
    jobs: Jobs,
    entries: Vec<Entry>,
    clock: Clock,
    mut stop: watch::Receiver<bool>,
) {
    if entries.is_empty() {
        return;
    }
    let start = clock.now();
    for entry in entries.iter().filter(|e| e.catch_up == CatchUp::Once) {
        catch_up(&jobs, entry, start).await;
    }
    let mut next: Vec<Option<DateTime<Utc>>> = entries
        .iter()
        .map(|e| e.schedule.next_after(start))
        .collect();
    loop {
        let Some(earliest) = next.iter().flatten().min().copied() else {
            return;
        };
        tokio::select! {
            _ = clock.sleep_until(earliest) => {}
            _ = stop.changed() => return,
        }
        let now = clock.now();
        for (entry, slot) in entries.iter().zip(next.iter_mut()) {
            while let Some(tick) = *slot {
                if tick > now {
                    break;
                }
                match take(&jobs, entry, tick, now).await {
                    Ok(_) => *slot = entry.schedule.next_after(tick),
                    Err(error) => {
                        // Keep the tick: the next pass tries it again.
                        tracing::warn!(schedule = entry.id, tick = %tick.to_rfc3339(), %error, "cannot take a cron tick; will try again");
                        break;
                    }
                }
            }
        }
    }
}

/// Runs once for the ticks of `entry` missed between its last tick taken and `now`.
async fn catch_up(jobs: &Jobs, entry: &Entry, now: DateTime<Utc>) {
    let last = match jobs.store().last_tick(&entry.id).await {
        Ok(Some(last)) => last,
        Ok(None) => return,
        Err(error) => {
            tracing::warn!(schedule = entry.id, %error, "cannot read the last tick; not catching up");
            return;
        }
    };
    let missed = entry
        .schedule
        .upcoming(last)
        .take(CATCH_UP_SCAN)
        .take_while(|t| *t <= now)
        .last();
    if let Some(tick) = missed {
        tracing::info!(job = entry.job, tick = %tick.to_rfc3339(), last = %last.to_rfc3339(), "catching up: running once for the ticks missed while no runner ran");
        if let Err(error) = take(jobs, entry, tick, now).await {
            tracing::warn!(job = entry.job, %error, "cannot take the catch-up tick");
        }
    }
}

async fn take(
    jobs: &Jobs,
    entry: &Entry,
    tick: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<TickOutcome, StoreError> {
    let request = EnqueueRequest {
        job: entry.job.clone(),
        args: serde_json::Value::Null,
        options: EnqueueOptions {
            run_at: Some(tick),
            ..EnqueueOptions::default()
        },
        trigger: Trigger::Cron,
    };
    let task = jobs
        .task_for(&request, now)
        .map_err(|e| StoreError::Corrupt {
            doing: "preparing a cron tick",
            detail: e.to_string(),
        })?;
    let outcome = jobs.store().take_tick(&entry.id, tick, &task, now).await?;
    match outcome {
        TickOutcome::Enqueued(task_id) => {
            jobs.metrics().tick(&entry.job);
            tracing::debug!(job = entry.job, task_id, tick = %tick.to_rfc3339(), "took a cron tick");
            jobs.wake(&entry.job);
        }
        TickOutcome::AlreadyTaken => {}
        TickOutcome::Paused => {
            tracing::debug!(job = entry.job, tick = %tick.to_rfc3339(), "job paused: tick skipped")
        }
        TickOutcome::StillRunning => {
            tracing::info!(job = entry.job, tick = %tick.to_rfc3339(), "previous run still going: tick skipped (unique job)")
        }
    }
    Ok(outcome)
}
