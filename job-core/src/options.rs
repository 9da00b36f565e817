//! A job's options: queue, retries and backoff, timeout, concurrency, priority, schedule,
//! and flow control (overlap, uniqueness, limits, rates, keys).

use std::time::Duration;

use job_schedule::{Rate, Schedule, ScheduleError};

use crate::RetryFn;

/// How long to wait before each retry: exponential from `initial`, doubling per attempt,
/// capped at `max`, with ±10% jitter so that many failing tasks do not retry in lockstep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// The delay before the first retry.
    pub initial: Duration,
    /// The longest delay.
    pub max: Duration,
}

impl Backoff {
    /// The default: from 1 second, capped at 1 hour.
    pub const DEFAULT: Backoff = Backoff {
        initial: Duration::from_secs(1),
        max: Duration::from_secs(3600),
    };

    /// The delay after failed attempt number `attempt` (1 for the first), before jitter.
    ///
    /// ```
    /// use std::time::Duration;
    /// use job_core::Backoff;
    ///
    /// let backoff = Backoff { initial: Duration::from_secs(2), max: Duration::from_secs(10) };
    /// let delays: Vec<u64> = (1..=5).map(|a| backoff.base_delay(a).as_secs()).collect();
    /// assert_eq!(delays, [2, 4, 8, 10, 10]);
    /// ```
    pub fn base_delay(&self, attempt: u32) -> Duration {
        let doublings = attempt.saturating_sub(1).min(63);
        let factor = 1u64 << doublings;
        let millis = (self.initial.as_millis() as u64).saturating_mul(factor);
        Duration::from_millis(millis).min(self.max.max(self.initial))
    }

    /// The delay after failed attempt `attempt`, with jitter: `unit` is a number in `[0, 1)`
    /// (a random draw) that moves the delay within ±10% of [`base_delay`](Backoff::base_delay).
    pub fn delay(&self, attempt: u32, unit: f64) -> Duration {
        let base = self.base_delay(attempt).as_secs_f64();
        let factor = 0.9 + 0.2 * unit.clamp(0.0, 1.0);
        Duration::from_secs_f64(base * factor)
    }
}

impl Default for Backoff {
    fn default() -> Backoff {
        Backoff::DEFAULT
    }
}

/// What a cron job does about ticks that passed while no runner was running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CatchUp {
    /// Forget them: the next run is the next tick (the default).
    #[default]
    Skip,
    /// Run once at start-up for all the ticks missed since the last one taken.
    Once,
}

impl CatchUp {
    /// The policy named `skip` or `once`.
    pub fn from_name(name: &str) -> Option<CatchUp> {
        match name {
            "skip" => Some(CatchUp::Skip),
            "once" => Some(CatchUp::Once),
            _ => None,
        }
    }

    /// `skip` or `once`.
    pub fn as_str(self) -> &'static str {
        match self {
            CatchUp::Skip => "skip",
            CatchUp::Once => "once",
        }
    }
}

/// What a tick of a scheduled job does while the job's previous run is still pending or
/// running.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overlap {
    /// The tick enqueues a run anyway: runs may overlap (the default).
    #[default]
    Allow,
    /// The tick is skipped: the job never runs twice at once from its schedule.
    Skip,
}

impl Overlap {
    /// The policy named `allow` or `skip`.
    pub fn from_name(name: &str) -> Option<Overlap> {
        match name {
            "allow" => Some(Overlap::Allow),
            "skip" => Some(Overlap::Skip),
            _ => None,
        }
    }

    /// `allow` or `skip`.
    pub fn as_str(self) -> &'static str {
        match self {
            Overlap::Allow => "allow",
            Overlap::Skip => "skip",
        }
    }
}

/// Which tasks of a job count as one: those whose key is equal, the key being made of the
/// argument fields in `by` (see [`JobDescriptor::unique_key`](crate::JobDescriptor::unique_key)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Unique {
    /// The argument fields (their Rust names) that make the key, in order; empty: the whole
    /// arguments.
    pub by: &'static [&'static str],
    /// [`Duration::ZERO`]: a task counts while it is pending or running. Otherwise it also
    /// counts once it has succeeded, for this long after.
    pub period: Duration,
}

/// A job's options, as written in `#[job(...)]` (and possibly overridden by configuration).
///
/// Not comparable as a whole: a retry policy is a function, and functions have no reliable
/// equality; compare the fields.
#[derive(Debug, Clone)]
pub struct JobOptions {
    /// The cron expression of a scheduled job.
    pub cron: Option<&'static str>,
    /// The period of a rate-scheduled job (`every`), anchored to the Unix epoch.
    pub every: Option<Duration>,
    /// The IANA time zone the cron expression is read in.
    pub timezone: &'static str,
    /// The queue its tasks are stored in.
    pub queue: &'static str,
    /// How many times a failed attempt is retried (so `retries + 1` attempts in all).
    pub retries: u32,
    /// The delays between retries.
    pub backoff: Backoff,
    /// How long one attempt may run before it fails as timed out.
    pub timeout: Option<Duration>,
    /// How many of its tasks one runner runs at once.
    pub concurrency: u32,
    /// Higher runs first among due tasks of the same queue.
    pub priority: i32,
    /// For a scheduled job: what a tick does while the previous run is still pending or
    /// running.
    pub overlap: Overlap,
    /// Tasks whose key is equal count as one: enqueueing another returns the existing task.
    pub unique: Option<Unique>,
    /// At most this many attempts of the job run at once across all runners (per key of
    /// [`per`](JobOptions::per) when it is set).
    pub limit: Option<u32>,
    /// At most `count` attempts of the job start in any window of `per` across all runners
    /// (per key of [`per`](JobOptions::per) when it is set).
    pub rate: Option<Rate>,
    /// The argument fields (their Rust names) that make a task's key
    /// ([`JobDescriptor::partition_key`](crate::JobDescriptor::partition_key)): `limit` and
    /// `rate` apply per key, and claims take keys in turn. Empty: no key.
    pub per: &'static [&'static str],
    /// For a cron job: what to do about ticks missed while no runner ran.
    pub catch_up: CatchUp,
    /// The job that follows this one when it succeeds, taking its output as arguments.
    pub then: Option<&'static str>,
    /// The event source whose events start this job.
    pub on: Option<&'static str>,
    /// The job's retry policy: how each failure is retried (see [`Retry`](crate::Retry)).
    /// `None`: as the error asks, or after the backoff.
    pub retry: Option<RetryFn>,
}

impl JobOptions {
    /// The defaults: queue `default`, 10 retries, backoff from 1 s to 1 h, no timeout,
    /// concurrency 10, priority 0, not scheduled, overlap allowed, no uniqueness, limit, rate
    /// or key.
    pub const DEFAULT: JobOptions = JobOptions {
        cron: None,
        every: None,
        timezone: "UTC",
        queue: "default",
        retries: 10,
        backoff: Backoff::DEFAULT,
        timeout: None,
        concurrency: 10,
        priority: 0,
        overlap: Overlap::Allow,
        unique: None,
        limit: None,
        rate: None,
        per: &[],
        catch_up: CatchUp::Skip,
        then: None,
        on: None,
        retry: None,
    };

    /// The schedule of a cron job, `None` for an on-demand or rate-scheduled job.
    pub fn schedule(&self) -> Option<Result<Schedule, ScheduleError>> {
        self.cron.map(|cron| Schedule::new(cron, self.timezone))
    }

    /// How many attempts a task of this job may have in all.
    pub fn max_attempts(&self) -> u32 {
        self.retries.saturating_add(1)
    }
}

impl Default for JobOptions {
    fn default() -> JobOptions {
        JobOptions::DEFAULT
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_ten_percent_and_delays_grow() {
        let backoff = Backoff {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(60),
        };
        for attempt in 1..6 {
            let low = backoff.delay(attempt, 0.0);
            let high = backoff.delay(attempt, 0.999);
            let base = backoff.base_delay(attempt).as_secs_f64();
            assert!((low.as_secs_f64() - 0.9 * base).abs() < 1e-6);
            assert!(high.as_secs_f64() < 1.1 * base);
            assert!(backoff.delay(attempt + 1, 0.0) > backoff.delay(attempt, 0.999));
        }
    }

    #[test]
    fn a_maximum_below_the_initial_delay_keeps_the_initial_delay() {
        let backoff = Backoff {
            initial: Duration::from_secs(30),
            max: Duration::from_secs(5),
        };
        assert_eq!(backoff.base_delay(4), Duration::from_secs(30));
    }
}
