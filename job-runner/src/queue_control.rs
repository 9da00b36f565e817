//! The overview, the queues and the runners as the controls show them: attempts per
//! minute over the last hour or day (read from the per-minute rollup the completions
//! write, never from a scan of the history), each queue's tasks and pause state, and what
//! each runner holds.
//!
//! One implementation serves the CLI (`job-runner queues`, `queues pause|resume`,
//! `runners`) and the admin API (`/api/overview`, `/api/queues`,
//! `/api/queues/{name}/pause|resume`, `/api/runners`, `/api/events`).

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;

use crate::control::{Control, ControlError};
use crate::storage::{EventRow, MinuteCounts, MinuteWindow, PausedQueue, QueueCounts};

/// The stretch an overview covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The last hour, in 60 buckets of one minute.
    Hour,
    /// The last day, in 288 buckets of five minutes.
    Day,
}

impl Window {
    /// The window named `name` (`hour` or `day`).
    pub fn parse(name: &str) -> Result<Window, ControlError> {
        match name {
            "hour" => Ok(Window::Hour),
            "day" => Ok(Window::Day),
            other => Err(ControlError::Invalid(format!(
                "`window` must be `hour` or `day`, not `{other}`"
            ))),
        }
    }

    /// Its name.
    pub fn name(self) -> &'static str {
        match self {
            Window::Hour => "hour",
            Window::Day => "day",
        }
    }

    /// The width of a bucket, in seconds.
    pub fn bucket_seconds(self) -> i64 {
        match self {
            Window::Hour => 60,
            Window::Day => 300,
        }
    }

    /// How many buckets it holds.
    pub fn buckets(self) -> i64 {
        match self {
            Window::Hour => 60,
            Window::Day => 288,
        }
    }

    /// The first bucket's start and the end of the last (which holds `now`).
    fn bounds(self, now: DateTime<Utc>) -> (DateTime<Utc>, DateTime<Utc>) {
        let bucket = self.bucket_seconds() * 1000;
        let ms = now.timestamp_millis();
        let end = ms - ms.rem_euclid(bucket) + bucket;
        let start = end - bucket * self.buckets();
        (
            DateTime::from_timestamp_millis(start).unwrap_or(now),
            DateTime::from_timestamp_millis(end).unwrap_or(now),
        )
    }
}

/// A queue: its unfinished tasks, its pause state and the jobs of the plan in it.
#[derive(Debug, Clone, Serialize)]
pub struct Queue {
    /// The queue.
    pub queue: String,
    /// Whether it is paused: no runner claims its tasks.
    pub paused: bool,
    /// Since when.
    pub paused_at: Option<DateTime<Utc>>,
    /// Pending tasks, due or not.
    pub pending: i64,
    /// Pending tasks due now.
    pub due: i64,
    /// Running tasks.
    pub running: i64,
    /// How long the oldest due task has been due, in seconds (0 when none is).
    pub oldest_due_age_seconds: f64,
    /// The names of the plan's jobs in it.
    pub jobs: Vec<String>,
}

/// One bucket of an overview's series.
#[derive(Debug, Clone, Serialize)]
pub struct SeriesPoint {
    /// The start of the bucket.
    pub at: DateTime<Utc>,
    /// Attempts that succeeded.
    pub succeeded: i64,
    /// Attempts that failed, panicked or timed out, to be retried.
    pub failed: i64,
    /// Attempts after which the task was dead.
    pub dead: i64,
    /// Attempts (and pending tasks) cancelled.
    pub cancelled: i64,
    /// Tasks that started their first attempt.
    pub started: i64,
    /// How long those waited on average between being due and starting, in milliseconds
    /// (none when none started).
    pub avg_wait_ms: Option<f64>,
    /// The longest of those waits, in milliseconds.
    pub max_wait_ms: i64,
}

/// A job's attempts over an overview's window.
#[derive(Debug, Clone, Serialize)]
pub struct JobTotals {
    /// The job.
    pub job: String,
    /// Its queue.
    pub queue: String,
    /// Attempts that succeeded.
    pub succeeded: i64,
    /// Attempts that failed, panicked or timed out, to be retried.
    pub failed: i64,
    /// Attempts after which the task was dead.
    pub dead: i64,
    /// Attempts (and pending tasks) cancelled.
    pub cancelled: i64,
    /// The average wait of first attempts, in milliseconds (none when none started).
    pub avg_wait_ms: Option<f64>,
    /// The longest wait of a first attempt, in milliseconds.
    pub max_wait_ms: i64,
}

/// Attempts over the last hour or day, per bucket and per job, and the queues.
#[derive(Debug, Clone, Serialize)]
pub struct Overview {
    /// `hour` or `day`.
    pub window: &'static str,
    /// The width of a bucket, in seconds.
    pub bucket_seconds: i64,
    /// When it was read.
    pub now: DateTime<Utc>,
    /// Every bucket of the window, oldest first (zeros where nothing ended).
    pub series: Vec<SeriesPoint>,
    /// The jobs with any attempt in the window.
    pub jobs: Vec<JobTotals>,
    /// The queues, as [`Control::queues`] lists them.
    pub queues: Vec<Queue>,
}

/// A runner process and the tasks it holds.
#[derive(Debug, Clone, Serialize)]
pub struct RunnerStatus {
    /// Its id.
    pub id: String,
    /// Its host.
    pub host: String,
    /// Its process id.
    pub pid: i64,
    /// The queues it runs (none: all).
    pub queues: Vec<String>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// Its last heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// Whether its heartbeat is within the lease.
    pub alive: bool,
    /// The tasks it runs.
    pub holding: Vec<Held>,
}

/// A task a runner holds.
#[derive(Debug, Clone, Serialize)]
pub struct Held {
    /// The task.
    pub task_id: i64,
    /// Its job.
    pub job: String,
    /// The attempt running.
    pub attempt: u32,
    /// When the runner claimed it.
    pub locked_at: DateTime<Utc>,
}

/// An event as the API lists it.
#[derive(Debug, Clone, Serialize)]
pub struct EventListed {
    /// The source.
    pub source: String,
    /// The event's id within the source.
    pub event_id: String,
    /// The job it started (or would have).
    pub job: String,
    /// What happened.
    pub kind: String,
    /// When it arrived.
    pub received_at: DateTime<Utc>,
    /// The task it started.
    pub task_id: Option<i64>,
    /// Why it started none.
    pub error: Option<String>,
}

impl From<EventRow> for EventListed {
    fn from(e: EventRow) -> EventListed {
        EventListed {
            source: e.source,
            event_id: e.event_id,
            job: e.job,
            kind: e.kind,
            received_at: e.received_at,
            task_id: e.task_id,
            error: e.error,
        }
    }
}

fn avg_wait(counts: &MinuteCounts) -> Option<f64> {
    (counts.started > 0).then(|| counts.waited_ms as f64 / counts.started as f64)
}

impl Control {
    /// Attempts over the last `window` (per bucket, every bucket present, and per job),
    /// optionally of one job or one queue, and the queues.
    pub async fn overview(
        &self,
        window: Window,
        job: Option<&str>,
        queue: Option<&str>,
    ) -> Result<Overview, ControlError> {
        if let Some(job) = job {
            self.settings(job)?;
        }
        let now = self.now();
        let (since, until) = window.bounds(now);
        let read = MinuteWindow {
            since,
            until,
            bucket_ms: window.bucket_seconds() * 1000,
            job: job.map(str::to_owned),
            queue: queue.map(str::to_owned),
        };
        let mut found: BTreeMap<DateTime<Utc>, MinuteCounts> = self
            .store()
            .minutes(&read)
            .await?
            .into_iter()
            .map(|b| (b.at, b.counts))
            .collect();
        let series = (0..window.buckets())
            .map(|i| {
                let at = since + TimeDelta::seconds(i * window.bucket_seconds());
                let counts = found.remove(&at).unwrap_or_default();
                SeriesPoint {
                    at,
                    succeeded: counts.succeeded,
                    failed: counts.failed,
                    dead: counts.dead,
                    cancelled: counts.cancelled,
                    started: counts.started,
                    avg_wait_ms: avg_wait(&counts),
                    max_wait_ms: counts.max_waited_ms,
                }
            })
            .collect();
        let jobs = self
            .store()
            .minute_totals(&read)
            .await?
            .into_iter()
            .map(|t| JobTotals {
                avg_wait_ms: avg_wait(&t.counts),
                max_wait_ms: t.counts.max_waited_ms,
                succeeded: t.counts.succeeded,
                failed: t.counts.failed,
                dead: t.counts.dead,
                cancelled: t.counts.cancelled,
                job: t.job,
                queue: t.queue,
            })
            .collect();
        Ok(Overview {
            window: window.name(),
            bucket_seconds: window.bucket_seconds(),
            now,
            series,
            jobs,
            queues: self.queues().await?,
        })
    }

    /// Every queue of the plan's jobs, and every queue with pending or running tasks or
    /// paused, by name.
    pub async fn queues(&self) -> Result<Vec<Queue>, ControlError> {
        let now = self.now();
        let counts = self.store().queue_counts(now).await?;
        let paused = self.store().paused_queues().await?;
        let mut names: BTreeSet<&str> = self.plan().jobs().map(|s| s.queue.as_str()).collect();
        names.extend(counts.iter().map(|c| c.queue.as_str()));
        names.extend(paused.iter().map(|p| p.queue.as_str()));
        Ok(names
            .into_iter()
            .map(|name| self.queue_of(name, now, &counts, &paused))
            .collect())
    }

    fn queue_of(
        &self,
        name: &str,
        now: DateTime<Utc>,
        counts: &[QueueCounts],
        paused: &[PausedQueue],
    ) -> Queue {
        let count = counts.iter().find(|c| c.queue == name);
        let paused_at = paused.iter().find(|p| p.queue == name).map(|p| p.paused_at);
        Queue {
            queue: name.to_owned(),
            paused: paused_at.is_some(),
            paused_at,
            pending: count.map_or(0, |c| c.pending),
            due: count.map_or(0, |c| c.due),
            running: count.map_or(0, |c| c.running),
            oldest_due_age_seconds: count.and_then(|c| c.oldest_due).map_or(0.0, |oldest| {
                (now - oldest).num_milliseconds().max(0) as f64 / 1000.0
            }),
            jobs: self
                .plan()
                .jobs()
                .filter(|s| s.queue == name)
                .map(|s| s.name().to_owned())
                .collect(),
        }
    }

    /// Queue `name`, or why there is none: no job of the plan uses it, no pending or
    /// running task is in it, and it is not paused.
    pub async fn queue(&self, name: &str) -> Result<Queue, ControlError> {
        self.queues()
            .await?
            .into_iter()
            .find(|q| q.queue == name)
            .ok_or_else(|| ControlError::UnknownQueue(name.to_owned()))
    }

    /// Pauses queue `name` in every runner: no runner claims its tasks (cron ticks still
    /// store theirs) until it is resumed. Returns the queue as it is now.
    pub async fn pause_queue(&self, name: &str) -> Result<Queue, ControlError> {
        self.queue(name).await?;
        self.store().pause_queue(name, self.now()).await?;
        self.queue(name).await
    }

    /// Resumes queue `name`: its tasks are claimed again. Returns the queue as it is now.
    pub async fn resume_queue(&self, name: &str) -> Result<Queue, ControlError> {
        self.queue(name).await?;
        self.store().resume_queue(name).await?;
        for settings in self.plan().jobs().filter(|s| s.queue == name) {
            self.client().wake(settings.name());
        }
        self.queue(name).await
    }

    /// The registered runners, oldest first, with the tasks each holds and whether its
    /// heartbeat is within the lease.
    pub async fn runners(&self) -> Result<Vec<RunnerStatus>, ControlError> {
        let now = self.now();
        let lease = TimeDelta::from_std(self.lease()).unwrap_or(TimeDelta::MAX);
        let runners = self.store().runners().await?;
        let mut held: BTreeMap<String, Vec<Held>> = BTreeMap::new();
        for h in self.store().holdings().await? {
            held.entry(h.runner).or_default().push(Held {
                task_id: h.task_id,
                job: h.job,
                attempt: h.attempt,
                locked_at: h.locked_at,
            });
        }
        Ok(runners
            .into_iter()
            .map(|r| RunnerStatus {
                alive: now - r.heartbeat_at <= lease,
                holding: held.remove(&r.id).unwrap_or_default(),
                queues: r
                    .queues
                    .split(',')
                    .map(str::trim)
                    .filter(|q| !q.is_empty())
                    .map(str::to_owned)
                    .collect(),
                id: r.id,
                host: r.host,
                pid: r.pid,
                started_at: r.started_at,
                heartbeat_at: r.heartbeat_at,
            })
            .collect())
    }

    /// The latest events taken from the sources, newest first, as the API lists them.
    pub async fn events_listed(&self, limit: u32) -> Result<Vec<EventListed>, ControlError> {
        Ok(self
            .events(limit)
            .await?
            .into_iter()
            .map(EventListed::from)
            .collect())
    }
}
