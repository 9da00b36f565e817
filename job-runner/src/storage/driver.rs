//! The driver interface: every operation a backend provides, grouped by duty.
//!
//! A backend is one type that implements each of these traits (`storage/sqlite/`,
//! `storage/postgres/`), one file per trait; the rest of the runner reaches the database
//! only through them, on a [`Store`](super::Store). A new backend is done when the
//! conformance suite (`tests/storage.rs`) passes on it: the suite calls every method
//! listed here, and fails when one has no test.
//!
//! Times are the caller's (the runner's clock, so that a virtual clock drives a simulation
//! fully), except for leases. A lease (a runner's heartbeat, the time a claim was made, and
//! their expiry in [`Runners::rescue`]) is judged on the store's clock: on a backend whose
//! runners share one host (SQLite), the runners' own; on one shared by many hosts
//! (PostgreSQL), the database server's, so that hosts whose clocks disagree never take over
//! each other's live claims.

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use job_core::Event;

use super::{
    Announcement, Backend, BulkAction, BulkOutcome, ClaimedTask, Completion, EventOutcome,
    EventRow, Execution, ExecutionFilter, FlowState, Holding, JobMinutes, KnownJob, LimitOverride,
    Limits, MinuteBucket, MinuteWindow, NewTask, PausedQueue, Pruned, Pulse, QueueCounts,
    QueueStats, RescuedTask, RetryPolicy, RunnerRow, ScheduleRow, StoreError, TakenTick, TaskCount,
    TaskEndRow, TaskFilter, TaskLinks, TaskRow, TaskState, TickOutcome, TickTask, Transition,
};

/// A backend: the sum of its duties, and the connection itself.
#[async_trait]
pub trait Driver:
    Inserts
    + Claims
    + Completions
    + Controls
    + Bulk
    + Reads
    + Retention
    + Ticks
    + Events
    + Schedules
    + Runners
    + Migrations
    + Flow
    + Running
    + Overview
    + Upkeep
    + Send
    + Sync
    + 'static
{
    /// Which backend this is.
    fn backend(&self) -> Backend;

    /// Whether the database answers.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Closes every pooled connection.
    async fn close(&self);

    /// Announcements from other processes (PostgreSQL's LISTEN/NOTIFY; on SQLite, a watch
    /// of the database file that announces every commit as [`Announcement::Changed`]):
    /// `None` where the backend has none (SQLite in memory, or on a system other than
    /// Linux), and the runner polls.
    async fn listen(&self) -> Result<Option<Box<dyn Listener>>, StoreError>;
}

/// A live subscription to announcements (see [`Driver::listen`]).
#[async_trait]
pub trait Listener: Send {
    /// The next announcement; an error means the subscription is lost (subscribe again).
    async fn next(&mut self) -> Result<Announcement, StoreError>;
}

/// Storing tasks.
#[async_trait]
pub trait Inserts {
    /// Stores tasks in one transaction, all or none; returns each task's id and whether it
    /// already existed (a pending or running task of the same job with the same uniqueness
    /// key). A task that starts a chain (`then`) is its chain's first step, and the chain's
    /// id is its own. Jobs with a task due now are announced.
    async fn insert_tasks(
        &self,
        tasks: &[NewTask],
        now: DateTime<Utc>,
    ) -> Result<Vec<(i64, bool)>, StoreError>;

    /// Stores `task` already claimed by `runner` for its first attempt (for a run in this
    /// process, such as `job-runner exec`).
    async fn insert_running_task(
        &self,
        task: &NewTask,
        runner: &str,
        now: DateTime<Utc>,
    ) -> Result<ClaimedTask, StoreError>;
}

/// Claiming due tasks.
#[async_trait]
pub trait Claims {
    /// Claims up to `limit` due tasks of `job` for `runner`, counting their attempt, in
    /// claiming order (priority, then due time, then id). Nothing is claimed while the job
    /// is paused; an `exclusive` job gets at most one task, and none while another of its
    /// tasks runs. No task is ever claimed by two runners at once.
    async fn claim(
        &self,
        job: &str,
        runner: &str,
        now: DateTime<Utc>,
        limit: u32,
        exclusive: bool,
    ) -> Result<Vec<ClaimedTask>, StoreError>;

    /// The earliest `run_at` among pending tasks of `job`, due or not.
    async fn next_due(&self, job: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// The earliest `run_at` among all pending tasks.
    async fn next_due_any(&self) -> Result<Option<DateTime<Utc>>, StoreError>;
}

/// Flow control: claims within limits, and the limits set at run time.
#[async_trait]
pub trait Flow {
    /// Claims like [`Claims::claim`], within `limits`: no more attempts at once than the
    /// concurrency limit allows, no more starts within the rate's window than the rate
    /// allows (each counted per key when the job has keys), and, when it has keys, keys in
    /// turn: the first due task of each key, then the second of each, and so on. Claims of
    /// one job are serialized, so the limits hold across runners.
    async fn claim_within(
        &self,
        job: &str,
        runner: &str,
        now: DateTime<Utc>,
        limit: u32,
        limits: &Limits,
    ) -> Result<Vec<ClaimedTask>, StoreError>;

    /// The limits set on jobs at run time.
    async fn limit_overrides(&self) -> Result<Vec<LimitOverride>, StoreError>;

    /// Sets a job's limits at run time (replacing any set before).
    async fn set_limit_override(&self, row: &LimitOverride) -> Result<(), StoreError>;

    /// Clears a job's run-time limits (its own apply again); `false` when none were set.
    async fn clear_limit_override(&self, job: &str) -> Result<bool, StoreError>;

    /// What `job`'s `limits` hold back at `now`, with the `top` keys that have the most due
    /// tasks.
    async fn flow_state(
        &self,
        job: &str,
        now: DateTime<Utc>,
        limits: &Limits,
        top: u32,
    ) -> Result<FlowState, StoreError>;
}

/// Recording the ends of attempts.
#[async_trait]
pub trait Completions {
    /// Writes the end of many attempts and their history rows. A task that `runner` no
    /// longer holds (its claim was recovered by another runner, which recorded the attempt
    /// as lost) is left alone; its id is returned. A chain's next step is stored in the
    /// same transaction as its previous step's success, so a crash never loses or doubles
    /// a step. A finished task is finished when its attempt ended; `now` is when a chain's
    /// next step is stored.
    async fn complete(
        &self,
        runner: &str,
        completions: &[Completion],
        now: DateTime<Utc>,
    ) -> Result<Vec<i64>, StoreError>;
}

/// The controls: cancel, retry, pause and resume.
#[async_trait]
pub trait Controls {
    /// Cancels a task. A pending task will not run: it is cancelled at once, with a
    /// `cancelled` history row with `runner` as its runner. A running task is asked to stop
    /// (its `cancel_requested_at` is set, and on PostgreSQL its runner is told at once);
    /// the runner that holds it stops the attempt and records its end as `cancelled`.
    /// Either is `Applied`, with the task as it is now (`running` for a request).
    async fn cancel(
        &self,
        id: i64,
        runner: &str,
        now: DateTime<Utc>,
    ) -> Result<Transition, StoreError>;

    /// Makes a dead or cancelled task pending again, due now, with `extra_attempts` more
    /// attempts than it has used.
    async fn retry(
        &self,
        id: i64,
        extra_attempts: u32,
        now: DateTime<Utc>,
    ) -> Result<Transition, StoreError>;

    /// Pauses `job`: its ticks are skipped and its tasks held. `false` if it was paused.
    async fn pause(&self, job: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Resumes `job`. `false` if it was not paused.
    async fn resume(&self, job: &str) -> Result<bool, StoreError>;

    /// The paused jobs, by name.
    async fn paused(&self) -> Result<Vec<String>, StoreError>;
}

/// Everything a filter matches, counted or acted on at once.
#[async_trait]
pub trait Bulk {
    /// How many tasks match `filter` now (its cursor bounds them, its limit does not), and
    /// the highest matching id.
    async fn count_tasks(&self, filter: &TaskFilter) -> Result<TaskCount, StoreError>;

    /// Applies `action` to every task that matches `filter` with an id up to `up_to_id`
    /// (a task stored later is never touched), newest first, in batches of `batch` ids:
    /// each batch is its own transaction, so that no lock is held for long, and each task
    /// is changed by a conditional statement as the single-task control changes it (a
    /// task that moved on meanwhile is skipped).
    async fn bulk_tasks(
        &self,
        action: &BulkAction<'_>,
        filter: &TaskFilter,
        up_to_id: i64,
        batch: u32,
        now: DateTime<Utc>,
    ) -> Result<BulkOutcome, StoreError>;
}

/// What runners write and read about the attempts they run, while they run.
#[async_trait]
pub trait Running {
    /// Writes the progress (JSON text) of tasks that `runner` holds, with one statement; a
    /// task it no longer holds is left alone.
    async fn report_progress(
        &self,
        runner: &str,
        progress: &[(i64, String)],
    ) -> Result<(), StoreError>;

    /// The tasks `runner` holds that were asked to stop (see [`Controls::cancel`]).
    async fn cancel_requests(&self, runner: &str) -> Result<Vec<i64>, StoreError>;

    /// Announcements of the ends of awaited tasks ([`Announcement::TaskEnded`]), for a
    /// caller that waits for results: `None` where the backend has none (the caller polls).
    async fn listen_ends(&self) -> Result<Option<Box<dyn Listener>>, StoreError>;

    /// Marks task `id` as awaited: when its attempt ends, its end is announced to
    /// [`listen_ends`](Running::listen_ends). Nothing where the backend has no
    /// announcements.
    async fn await_end(&self, id: i64) -> Result<(), StoreError>;
}

/// Reading tasks and history.
#[async_trait]
pub trait Reads {
    /// One task.
    async fn task(&self, id: i64) -> Result<Option<TaskRow>, StoreError>;

    /// How task `id` ended, for the application: `None` when no such task is stored;
    /// otherwise its state, and for a finished task its last error and the result of its
    /// successful attempt (JSON text).
    async fn task_end(&self, id: i64) -> Result<Option<TaskEndRow>, StoreError>;

    /// Tasks matching `filter`, newest first.
    async fn tasks(&self, filter: &TaskFilter) -> Result<Vec<TaskRow>, StoreError>;

    /// What links task `id` to the rest: every step of its chain, and the tick or the
    /// event that stored it (empty for an unknown task).
    async fn task_links(&self, id: i64) -> Result<TaskLinks, StoreError>;

    /// The tasks per state but succeeded (one grouped count, through the by-state index that
    /// leaves the succeeded ones out: they are most of a table that has run for a while),
    /// the latest history row's id (a success shows there) and the paused queues: what the
    /// console's live updates watch.
    async fn pulse(&self) -> Result<Pulse, StoreError>;

    /// The arguments of up to `limit` pending, running or dead tasks of `job`, oldest first.
    async fn stored_args(
        &self,
        job: &str,
        limit: u32,
    ) -> Result<Vec<(i64, serde_json::Value)>, StoreError>;

    /// The distinct job names that have tasks stored, with how many are pending, running or
    /// dead.
    async fn stored_jobs(&self) -> Result<Vec<(String, i64)>, StoreError>;

    /// Due pending tasks per queue (paused jobs' tasks included: they wait).
    async fn queue_stats(&self, now: DateTime<Utc>) -> Result<Vec<QueueStats>, StoreError>;

    /// The tasks in `state` per job (dead ones, running ones...), by job's name.
    async fn task_counts(&self, state: TaskState) -> Result<Vec<(String, i64)>, StoreError>;

    /// History rows matching `filter`, newest first.
    async fn executions(&self, filter: &ExecutionFilter) -> Result<Vec<Execution>, StoreError>;

    /// The latest history row of each job.
    async fn last_executions(&self) -> Result<Vec<Execution>, StoreError>;
}

/// Retention: what is old enough goes.
#[async_trait]
pub trait Retention {
    /// Makes ready the place of the history rows of the [`HISTORY_DAYS_AHEAD`] days from
    /// the one of `now`, and says how many days it prepared: on PostgreSQL the day
    /// partitions of the history that do not exist yet (the rows of such a day already
    /// stored in the default partition move into its partition); nothing on SQLite. Safe
    /// when several runners call it at once. A history row of any time is stored without
    /// it (in the default partition); it keeps retention whole-partition.
    ///
    /// [`HISTORY_DAYS_AHEAD`]: crate::storage::HISTORY_DAYS_AHEAD
    async fn prepare_history(&self, now: DateTime<Utc>) -> Result<u32, StoreError>;

    /// Deletes history rows (and their minutes of the per-minute rollup), finished tasks,
    /// ticks and events older than `before`, at most `batch` of each, and says how many of
    /// each went. Dead tasks stay, and so does the
    /// latest tick of each schedule (a missed run is caught up from it, however long ago).
    /// On PostgreSQL the history partitions whose every row is older than `before` are
    /// dropped whole besides (their rows count in [`Pruned::executions`]). Each batch is a
    /// short transaction of its own: the runners' claims and completions go on between
    /// batches.
    async fn prune(&self, before: DateTime<Utc>, batch: u32) -> Result<Pruned, StoreError>;
}

/// Upkeep of the tasks table, which every attempt rewrites.
#[async_trait]
pub trait Upkeep {
    /// Reclaims the row versions that claims and ends of attempts left behind in the tasks
    /// table, once there are enough of them to slow the next claims down; `Some(n)` with
    /// the number reclaimed, `None` when there was nothing worth a pass (or the backend
    /// needs none).
    async fn reclaim(&self) -> Result<Option<u64>, StoreError>;
}

/// Cron ticks: each tick becomes one task across all runners.
#[async_trait]
pub trait Ticks {
    /// Takes the tick `tick_at` of `schedule_id` and stores `task` for it, all in one
    /// transaction; the tick's key (schedule, instant) is unique, so exactly one runner
    /// stores its task.
    async fn take_tick(
        &self,
        schedule_id: &str,
        tick_at: DateTime<Utc>,
        task: &NewTask,
        now: DateTime<Utc>,
    ) -> Result<TickOutcome, StoreError>;

    /// Takes many ticks in one transaction, each as [`take_tick`](Ticks::take_tick) would
    /// at the tick's own instant (its task's `created_at` is the tick), and claims their
    /// tasks for `runner`'s first attempt. Returns each tick's claimed task, or `None` for
    /// the ticks of paused jobs, which are skipped.
    ///
    /// All or nothing: when one of the ticks was already taken, belongs to an exclusive job
    /// (whose ticks depend on the end of its previous run) or has a task that does not run
    /// at its tick, nothing is stored and the answer is `Ok(None)`: take those ticks one by
    /// one with `take_tick`. Built for a simulation's quiet stretches, where nothing else
    /// runs between the ticks.
    async fn take_ticks(
        &self,
        ticks: &[TickTask],
        runner: &str,
    ) -> Result<Option<Vec<Option<ClaimedTask>>>, StoreError>;

    /// Undoes part of a [`take_ticks`](Ticks::take_ticks) whose tasks have not run: the
    /// `untaken` ticks are given back (their tasks and ticks deleted, so that the ticks can
    /// be taken again; where the backend can, when their tasks were the last ones stored,
    /// the ids are handed out again, as if the ticks had never been taken), and the
    /// `unclaimed` tasks go back to pending, their ticks still taken. Only tasks still
    /// claimed and never run are touched.
    async fn release_ticks(
        &self,
        untaken: &[TakenTick],
        unclaimed: &[i64],
    ) -> Result<(), StoreError>;

    /// The latest tick taken of `schedule_id`, if any.
    async fn last_tick(&self, schedule_id: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// The latest tick taken of each schedule.
    async fn last_ticks(&self) -> Result<Vec<(String, DateTime<Utc>)>, StoreError>;
}

/// Events from sources: each (source, event id, job) starts at most one task.
#[async_trait]
pub trait Events {
    /// Records `event` for `job` and stores `task` for it in the same transaction, unless
    /// the event was taken before; `task` is the error text when the fields do not fit.
    async fn record_event(
        &self,
        event: &Event,
        job: &str,
        task: Result<&NewTask, &str>,
        now: DateTime<Utc>,
    ) -> Result<EventOutcome, StoreError>;

    /// The latest recorded events, newest first.
    async fn events(&self, limit: u32) -> Result<Vec<EventRow>, StoreError>;
}

/// Stored schedules: the one place every tick comes from. Every change is announced, so
/// that listening runners reload their schedules at once.
#[async_trait]
pub trait Schedules {
    /// Every stored schedule, by id.
    async fn schedules(&self) -> Result<Vec<ScheduleRow>, StoreError>;

    /// One schedule.
    async fn schedule(&self, id: &str) -> Result<Option<ScheduleRow>, StoreError>;

    /// A cheap fingerprint of the schedules: it changes whenever one is added, changed,
    /// paused, resumed or removed.
    async fn schedules_fingerprint(&self) -> Result<(i64, i64), StoreError>;

    /// Stores a new schedule; `false` when its id is taken.
    async fn insert_schedule(&self, row: &ScheduleRow) -> Result<bool, StoreError>;

    /// Replaces what a schedule added at run time does (not its id, `in_code`, enabled
    /// state or creation time), if it is still as it was when read: `seen` is the
    /// `updated_at` read then. Refused (with the schedule as found) when it is defined in
    /// code or was changed meanwhile.
    async fn update_schedule(
        &self,
        row: &ScheduleRow,
        seen: DateTime<Utc>,
    ) -> Result<Transition<ScheduleRow>, StoreError>;

    /// Pauses (`enabled = false`) or resumes a schedule, defined in code or not; `None`
    /// when no schedule has this id.
    async fn set_schedule_enabled(
        &self,
        id: &str,
        enabled: bool,
        now: DateTime<Utc>,
    ) -> Result<Option<ScheduleRow>, StoreError>;

    /// Removes a schedule added at run time (its history stays). Refused (with the
    /// schedule as found) when it is defined in code.
    async fn delete_schedule(&self, id: &str) -> Result<Transition<ScheduleRow>, StoreError>;

    /// Makes the schedules defined in code (`in_code`) those of `rows`: new ones are added,
    /// changed ones rewritten (their pause state kept), and those no longer in `rows` are
    /// removed (their history stays); returns the ids removed. A schedule added at run time
    /// is left alone, even with the id of one in `rows`.
    async fn sync_code_schedules(&self, rows: &[ScheduleRow]) -> Result<Vec<String>, StoreError>;
}

/// Runner processes, their heartbeats, and the recovery of claims whose runner died.
#[async_trait]
pub trait Runners {
    /// Registers (or re-registers) a runner with a fresh heartbeat.
    async fn register_runner(&self, runner: &RunnerRow) -> Result<(), StoreError>;

    /// Records the jobs a runner runs, replacing what was recorded of each (the newest
    /// runner's settings win); jobs of other runners are kept.
    async fn record_jobs(&self, jobs: &[KnownJob], now: DateTime<Utc>) -> Result<(), StoreError>;

    /// The jobs recorded by the runners of this database, by name.
    async fn known_jobs(&self) -> Result<Vec<KnownJob>, StoreError>;

    /// Renews a runner's heartbeat; `false` when its row is gone (another runner declared it
    /// dead and recovered its claims).
    async fn heartbeat(&self, runner: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Removes a runner that stops cleanly.
    async fn remove_runner(&self, runner: &str) -> Result<(), StoreError>;

    /// The registered runners.
    async fn runners(&self) -> Result<Vec<RunnerRow>, StoreError>;

    /// Recovers the claims of runners whose heartbeat is older than `lease`, claims older
    /// than `lease` whose runner is not registered (it was declared dead and has not come
    /// back), and the claims of `also` (a runner giving up its own claims at shutdown). Each lost attempt counts: `policy` decides when the task runs again, or that
    /// it is dead; a history row records the loss. Stale
    /// runners other than `rescuer` are unregistered.
    async fn rescue(
        &self,
        now: DateTime<Utc>,
        lease: Duration,
        rescuer: &str,
        also: Option<&str>,
        policy: &dyn RetryPolicy,
    ) -> Result<Vec<RescuedTask>, StoreError>;
}

/// The schema.
#[async_trait]
pub trait Migrations {
    /// Creates or upgrades the job tables; safe to run from several runners at once.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// Fails with [`StoreError::NotMigrated`] or [`StoreError::SchemaTooNew`] unless the
    /// schema is exactly what this runner expects; for commands that must not migrate.
    async fn check_schema(&self) -> Result<(), StoreError>;
}

/// What the operations console's overview reads, and the pause of whole queues.
#[async_trait]
pub trait Overview {
    /// The per-minute rollup of attempts (written with each history row) summed per bucket
    /// of `window`, oldest first; buckets without attempts are left out.
    async fn minutes(&self, window: &MinuteWindow) -> Result<Vec<MinuteBucket>, StoreError>;

    /// The rollup summed per job and queue over `window` (its `bucket_ms` unused), by job.
    async fn minute_totals(&self, window: &MinuteWindow) -> Result<Vec<JobMinutes>, StoreError>;

    /// The queues that have pending or running tasks, with their counts at `now`, by name.
    async fn queue_counts(&self, now: DateTime<Utc>) -> Result<Vec<QueueCounts>, StoreError>;

    /// Pauses `queue`: no runner claims its tasks (cron ticks still store theirs) until it
    /// is resumed. `false` if it was paused.
    async fn pause_queue(&self, queue: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Resumes `queue`. `false` if it was not paused.
    async fn resume_queue(&self, queue: &str) -> Result<bool, StoreError>;

    /// The paused queues, by name.
    async fn paused_queues(&self) -> Result<Vec<PausedQueue>, StoreError>;

    /// The running tasks with the runner that holds each, by runner then task.
    async fn holdings(&self) -> Result<Vec<Holding>, StoreError>;
}
