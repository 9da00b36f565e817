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

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use job_core::{CatchUp, Clock, EnqueueOptions, EnqueueRequest, Trigger};
use job_schedule::Recurrence;
use tokio::sync::{Notify, watch};

use crate::client::Jobs;
use crate::plan::Plan;
use crate::schedule_control::recurrence_of;
use crate::storage::{NewTask, ScheduleRow, Store, StoreError, TickOutcome};

/// One schedule to follow.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    /// The schedule's id: the job's name for a schedule written in code.
    pub(crate) id: String,
    pub(crate) job: String,
    pub(crate) schedule: Recurrence,
    pub(crate) catch_up: CatchUp,
    /// The arguments each tick passes.
    pub(crate) args: serde_json::Value,
}

/// The most ticks a catch-up looks through to find the latest one missed.
const CATCH_UP_SCAN: usize = 1_000_000;

/// The rows that describe the schedules written in code, from the jobs' settings (with the
/// configuration's overrides).
pub(crate) fn code_schedules(plan: &Plan, now: DateTime<Utc>) -> Vec<ScheduleRow> {
    plan.jobs()
        .filter_map(|s| {
            let (cron, every_ms, timezone) = match s.schedule.as_ref()? {
                Recurrence::Cron(cron) => (
                    Some(cron.cron().to_string()),
                    None,
                    cron.zone().name().to_owned(),
                ),
                Recurrence::Every(every) => (
                    None,
                    Some(every.period().as_millis() as i64),
                    "UTC".to_owned(),
                ),
            };
            Some(ScheduleRow {
                id: s.name().to_owned(),
                job: s.name().to_owned(),
                cron,
                every_ms,
                timezone,
                args: serde_json::Value::Null,
                enabled: true,
                catch_up: s.catch_up.as_str().to_owned(),
                in_code: true,
                created_at: now,
                updated_at: now,
            })
        })
        .collect()
}

/// Makes the stored schedules defined in code those of `plan`: added, changed, and removed
/// when the code no longer defines them (their history stays), each removal logged.
pub(crate) async fn sync_code(
    store: &Store,
    plan: &Plan,
    now: DateTime<Utc>,
) -> Result<(), StoreError> {
    for id in store
        .sync_code_schedules(&code_schedules(plan, now))
        .await?
    {
        tracing::info!(
            schedule = id,
            "the schedule defined in code for this job is gone from the code: removed from the database (its history stays)"
        );
    }
    Ok(())
}

/// The enabled stored schedules of jobs this plan runs.
pub(crate) async fn load(jobs: &Jobs) -> Result<Vec<Entry>, StoreError> {
    let mut entries = Vec::new();
    for row in jobs.store().schedules().await? {
        if !row.enabled {
            continue;
        }
        let Some(settings) = jobs.plan().get(&row.job) else {
            tracing::warn!(
                schedule = row.id,
                job = row.job,
                "a stored schedule names a job that no registered job has; its ticks are skipped"
            );
            continue;
        };
        if !settings.enabled {
            continue;
        }
        // Arguments that no longer fit the job (its type changed in a deploy) would fail at
        // every tick: skip the schedule, say so once per reload (`job-runner check` lists it).
        if let Err(invalid) = settings.descriptor.check_args(&row.args) {
            tracing::warn!(
                schedule = row.id,
                job = row.job,
                %invalid,
                "a stored schedule's arguments no longer fit its job; its ticks are skipped until it is changed (`job-runner schedules set`) or removed"
            );
            continue;
        }
        match recurrence_of(&row) {
            Ok(schedule) => entries.push(Entry {
                catch_up: CatchUp::from_name(&row.catch_up).unwrap_or_default(),
                id: row.id,
                job: row.job,
                schedule,
                args: row.args,
            }),
            Err(error) => tracing::warn!(
                schedule = row.id,
                error,
                "a stored schedule is invalid; its ticks are skipped"
            ),
        }
    }
    Ok(entries)
}

/// The periodic-job enqueuer: follows the stored schedules and takes their ticks.
pub(crate) struct Scheduler {
    pub(crate) jobs: Jobs,
    pub(crate) clock: Clock,
    /// How often to look for changed schedules (at once when `changed` is notified).
    pub(crate) poll: Duration,
    pub(crate) changed: Arc<Notify>,
    /// Notified when the database may have changed: the fingerprint is read again, and the
    /// schedules reloaded only if it differs.
    pub(crate) touched: Arc<Notify>,
}

impl Scheduler {
    /// Follows the stored schedules from now until `stop`, reloading them when they change.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) {
        let Scheduler {
            jobs,
            clock,
            poll,
            changed,
            touched,
        } = self;
        let start = clock.now();
        let mut entries: Vec<(Entry, Option<DateTime<Utc>>)> = Vec::new();
        let mut fingerprint = None;
        let mut first = true;
        let mut failed = false;
        loop {
            match jobs.store().schedules_fingerprint().await {
                Ok(current) if Some(current) != fingerprint => match load(&jobs).await {
                    Ok(loaded) => {
                        let now = clock.now();
                        if first {
                            for entry in loaded.iter().filter(|e| e.catch_up == CatchUp::Once) {
                                catch_up(&jobs, entry, start).await;
                            }
                            first = false;
                        }
                        entries = follow(&entries, loaded, now.max(start));
                        fingerprint = Some(current);
                    }
                    Err(error) => {
                        tracing::warn!(%error, "cannot load the schedules; will try again")
                    }
                },
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "cannot read the schedules; will try again"),
            }
            let now = clock.now();
            let wake_at = entries
                .iter()
                .filter_map(|(_, next)| *next)
                .min()
                .map_or(now, |t| t.min(job_schedule::add_saturating(now, poll)))
                .max(now);
            let wake_at = if entries.is_empty() {
                job_schedule::add_saturating(now, poll)
            } else {
                wake_at
            };
            // After a failure, the ticks kept are tried again after a poll, not at once.
            let wake_at = if failed {
                wake_at.max(job_schedule::add_saturating(now, poll))
            } else {
                wake_at
            };
            tokio::select! {
                _ = clock.sleep_until(wake_at) => {}
                _ = changed.notified() => fingerprint = None,
                // After a failure, not before the poll (see above).
                _ = touched.notified(), if !failed => {}
                _ = stop.changed() => return,
            }
            let now = clock.now();
            failed = false;
            for (entry, slot) in entries.iter_mut() {
                while let Some(tick) = *slot {
                    if tick > now {
                        break;
                    }
                    match take(&jobs, entry, tick, now).await {
                        Ok(_) => *slot = entry.schedule.next_after(tick),
                        Err(error) => {
                            // Keep the tick: the next pass tries it again.
                            tracing::warn!(schedule = entry.id, tick = %tick.to_rfc3339(), %error, "cannot take a tick; will try again");
                            failed = true;
                            break;
                        }
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

/// The schedules to follow after a reload, each with its next tick: an unchanged schedule
/// keeps its place among the `followed` ones; a new or changed one starts after `from`.
pub(crate) fn follow(
    followed: &[(Entry, Option<DateTime<Utc>>)],
    loaded: Vec<Entry>,
    from: DateTime<Utc>,
) -> Vec<(Entry, Option<DateTime<Utc>>)> {
    loaded
        .into_iter()
        .map(|entry| {
            let next = followed
                .iter()
                .find(|(old, _)| *old == entry)
                .map(|(_, next)| *next)
                .unwrap_or_else(|| entry.schedule.next_after(from));
            (entry, next)
        })
        .collect()
}

/// The task that `entry`'s tick at `tick` runs.
pub(crate) fn tick_task(
    jobs: &Jobs,
    entry: &Entry,
    tick: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<NewTask, StoreError> {
    let request = EnqueueRequest {
        job: entry.job.clone(),
        args: entry.args.clone(),
        options: EnqueueOptions {
            run_at: Some(tick),
            ..EnqueueOptions::default()
        },
        trigger: Trigger::Cron,
        then: Vec::new(),
    };
    jobs.task_for(&request, now)
        .map_err(|e| StoreError::Corrupt {
            doing: "preparing a cron tick",
            detail: e.to_string(),
        })
}

/// Takes `entry`'s tick at `tick` (one runner among all stores its task).
pub(crate) async fn take(
    jobs: &Jobs,
    entry: &Entry,
    tick: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<TickOutcome, StoreError> {
    let task = tick_task(jobs, entry, tick, now)?;
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
            tracing::info!(job = entry.job, tick = %tick.to_rfc3339(), "previous run still going: tick skipped (overlap = \"skip\")")
        }
    }
    Ok(outcome)
}
