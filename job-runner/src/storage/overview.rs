//! What the operations console's overview reads: the per-minute rollup of attempts, the
//! queues (counts and pause state), and what each runner holds.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Which part of the per-minute rollup to read: the minutes in `[since, until)`, summed per
/// bucket of `bucket_ms` (counted from `since`), optionally of one job or one queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MinuteWindow {
    /// The first minute read (inclusive).
    pub since: DateTime<Utc>,
    /// The end of the window (exclusive).
    pub until: DateTime<Utc>,
    /// The width of a bucket, in milliseconds (a multiple of 60,000).
    pub bucket_ms: i64,
    /// Only this job's attempts.
    pub job: Option<String>,
    /// Only this queue's attempts.
    pub queue: Option<String>,
}

/// Attempts summed over a stretch of minutes (a bucket, or a whole window).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct MinuteCounts {
    /// Attempts that succeeded.
    pub succeeded: i64,
    /// Attempts that failed, panicked or timed out (and will be retried).
    pub failed: i64,
    /// Attempts after which the task was dead.
    pub dead: i64,
    /// Attempts (or pending tasks) cancelled.
    pub cancelled: i64,
    /// Attempts that snoozed.
    pub snoozed: i64,
    /// How long the attempts ran, summed, in milliseconds.
    pub duration_ms: i64,
    /// First attempts started (a task's first start: retries and runs after a snooze are
    /// not counted).
    pub started: i64,
    /// How long those first attempts waited between being due and starting, summed, in
    /// milliseconds.
    pub waited_ms: i64,
    /// The longest of those waits, in milliseconds.
    pub max_waited_ms: i64,
}

/// One bucket of the rollup: the attempts that ended in `[at, at + bucket)`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MinuteBucket {
    /// The start of the bucket.
    pub at: DateTime<Utc>,
    /// Its counts.
    pub counts: MinuteCounts,
}

/// The rollup of one job in one queue over a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JobMinutes {
    /// The job.
    pub job: String,
    /// The queue.
    pub queue: String,
    /// Its counts over the window.
    pub counts: MinuteCounts,
}

/// The unfinished tasks of one queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct QueueCounts {
    /// The queue.
    pub queue: String,
    /// Pending tasks, due or not.
    pub pending: i64,
    /// Pending tasks due now.
    pub due: i64,
    /// Running tasks.
    pub running: i64,
    /// When the oldest due task became due.
    pub oldest_due: Option<DateTime<Utc>>,
}

/// A paused queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PausedQueue {
    /// The queue.
    pub queue: String,
    /// Since when.
    pub paused_at: DateTime<Utc>,
}

/// A running task, with the runner that holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Holding {
    /// The runner's id.
    pub runner: String,
    /// The task.
    pub task_id: i64,
    /// Its job.
    pub job: String,
    /// The attempt running.
    pub attempt: u32,
    /// When the runner claimed it.
    pub locked_at: DateTime<Utc>,
}

/// Counts read by column name (`succeeded`, `failed`, ... `max_waited_ms`).
pub(crate) fn counts(
    row: &impl super::rows::Columns,
    doing: &'static str,
) -> Result<MinuteCounts, super::StoreError> {
    Ok(MinuteCounts {
        succeeded: row.int("succeeded", doing)?,
        failed: row.int("failed", doing)?,
        dead: row.int("dead", doing)?,
        cancelled: row.int("cancelled", doing)?,
        snoozed: row.int("snoozed", doing)?,
        duration_ms: row.int("duration_ms", doing)?,
        started: row.int("started", doing)?,
        waited_ms: row.int("waited_ms", doing)?,
        max_waited_ms: row.int("max_waited_ms", doing)?,
    })
}

/// One row of the per-minute rollup to add: the counts of the attempts of `job` in `queue`
/// that ended in the minute starting at `minute` (unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct MinuteRow {
    /// The start of the minute.
    pub(crate) minute: i64,
    /// The job.
    pub(crate) job: String,
    /// The queue.
    pub(crate) queue: String,
    /// The counts to add.
    #[serde(flatten)]
    pub(crate) counts: MinuteCounts,
}

/// The rollup rows of attempts that ended, each with its task's queue and whether it is
/// the task's first start: grouped per minute, job and queue, in that key's order (the
/// order in which every writer locks the rollup's rows).
pub(crate) fn roll_up<'a>(
    ends: impl IntoIterator<Item = (&'a super::NewExecution, &'a str, bool)>,
) -> Vec<MinuteRow> {
    use super::ExecutionStatus as S;
    let mut rows: std::collections::BTreeMap<(i64, &str, &str), MinuteCounts> =
        std::collections::BTreeMap::new();
    for (e, queue, first) in ends {
        let ended = e.finished_at.timestamp_millis();
        let minute = ended - ended.rem_euclid(60_000);
        let c = rows.entry((minute, e.job.as_str(), queue)).or_default();
        match e.status {
            S::Succeeded => c.succeeded += 1,
            S::Failed | S::Panicked | S::TimedOut => c.failed += 1,
            S::Dead => c.dead += 1,
            S::Cancelled => c.cancelled += 1,
            S::Snoozed => c.snoozed += 1,
        }
        c.duration_ms += e.duration_ms();
        if first {
            let waited = (e.started_at - e.scheduled_at).num_milliseconds().max(0);
            c.started += 1;
            c.waited_ms += waited;
            c.max_waited_ms = c.max_waited_ms.max(waited);
        }
    }
    rows.into_iter()
        .map(|((minute, job, queue), counts)| MinuteRow {
            minute,
            job: job.to_owned(),
            queue: queue.to_owned(),
            counts,
        })
        .collect()
}

/// The decoders of the overview's rows, by column name, shared by the backends.
pub(crate) mod decode {
    use super::{Holding, JobMinutes, MinuteBucket, PausedQueue, QueueCounts, counts};
    use crate::storage::StoreError;
    use crate::storage::rows::{Columns, instant};

    /// A bucket: `at`, then the counts.
    pub(crate) fn bucket(
        row: &impl Columns,
        doing: &'static str,
    ) -> Result<MinuteBucket, StoreError> {
        Ok(MinuteBucket {
            at: instant(row.int("at", doing)?),
            counts: counts(row, doing)?,
        })
    }

    /// A job's totals: `job`, `queue`, then the counts.
    pub(crate) fn job_minutes(
        row: &impl Columns,
        doing: &'static str,
    ) -> Result<JobMinutes, StoreError> {
        Ok(JobMinutes {
            job: row.text("job", doing)?,
            queue: row.text("queue", doing)?,
            counts: counts(row, doing)?,
        })
    }

    /// A queue's counts: `queue`, `pending`, `due`, `running`, `oldest_due`.
    pub(crate) fn queue_counts(
        row: &impl Columns,
        doing: &'static str,
    ) -> Result<QueueCounts, StoreError> {
        Ok(QueueCounts {
            queue: row.text("queue", doing)?,
            pending: row.int("pending", doing)?,
            due: row.int("due", doing)?,
            running: row.int("running", doing)?,
            oldest_due: row.opt_int("oldest_due", doing)?.map(instant),
        })
    }

    /// A paused queue: `queue`, `paused_at`.
    pub(crate) fn paused_queue(
        row: &impl Columns,
        doing: &'static str,
    ) -> Result<PausedQueue, StoreError> {
        Ok(PausedQueue {
            queue: row.text("queue", doing)?,
            paused_at: instant(row.int("paused_at", doing)?),
        })
    }

    /// A running task: `locked_by`, `id`, `job`, `attempt`, `locked_at`.
    pub(crate) fn holding(row: &impl Columns, doing: &'static str) -> Result<Holding, StoreError> {
        Ok(Holding {
            runner: row.text("locked_by", doing)?,
            task_id: row.int("id", doing)?,
            job: row.text("job", doing)?,
            attempt: u32::try_from(row.int("attempt", doing)?).unwrap_or(u32::MAX),
            locked_at: instant(row.opt_int("locked_at", doing)?.unwrap_or(0)),
        })
    }
}
