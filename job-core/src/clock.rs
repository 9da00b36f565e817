//! The one clock that every part of the runner reads and waits on.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// The source of "now" for the scheduler, retries, timeouts, leases and history.
///
/// [`Clock::system`] reads the system clock and waits in real time. [`Clock::virtual_at`]
/// starts at a chosen instant and moves only when told to: by
/// [`advance_to`](Clock::advance_to), or by code that waits on it, for which waiting is
/// instant (the wait moves the clock forward). `job_runner::testing::Simulation` drives a
/// runner on such a clock, through a year of schedules in a second.
///
/// Job code takes part by reading the time with `ctx.now()` and waiting with
/// `ctx.clock().sleep(..)`; `Utc::now()` and `tokio::time::sleep` follow the real clock.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// use std::time::Duration;
/// use job_core::Clock;
///
/// let clock = Clock::virtual_at("2026-01-01T00:00:00Z".parse().unwrap());
/// clock.sleep(Duration::from_secs(3600)).await; // instant
/// assert_eq!(clock.now().to_rfc3339(), "2026-01-01T01:00:00+00:00");
/// # }
/// ```
#[derive(Debug, Clone, Default)]
pub struct Clock {
    manual: Option<Arc<Mutex<DateTime<Utc>>>>,
    /// How far a system clock reads ahead of the host's (behind, when negative).
    skew: TimeDelta,
}

impl Clock {
    /// The system clock.
    pub const fn system() -> Clock {
        Clock {
            manual: None,
            skew: TimeDelta::zero(),
        }
    }

    /// The system clock, read `skew` ahead of the host's (behind, when negative): for
    /// testing how runners on hosts whose clocks disagree behave. Waits take real time.
    ///
    /// ```
    /// use chrono::{TimeDelta, Utc};
    /// use job_core::Clock;
    ///
    /// let ahead = Clock::skewed(TimeDelta::seconds(30));
    /// assert!(ahead.now() - Utc::now() > TimeDelta::seconds(29));
    /// assert!(!ahead.is_virtual());
    /// ```
    pub fn skewed(skew: TimeDelta) -> Clock {
        Clock { manual: None, skew }
    }

    /// A virtual clock that reads `start` until it is moved.
    pub fn virtual_at(start: DateTime<Utc>) -> Clock {
        Clock {
            manual: Some(Arc::new(Mutex::new(start))),
            skew: TimeDelta::zero(),
        }
    }

    /// Whether this is a virtual clock.
    pub fn is_virtual(&self) -> bool {
        self.manual.is_some()
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        match &self.manual {
            None => Utc::now()
                .checked_add_signed(self.skew)
                .unwrap_or_else(Utc::now),
            Some(now) => *now.lock().unwrap_or_else(PoisonError::into_inner),
        }
    }

    /// Moves a virtual clock forward to `instant` (never backwards); no effect on the
    /// system clock.
    pub fn advance_to(&self, instant: DateTime<Utc>) {
        if let Some(now) = &self.manual {
            let mut now = now.lock().unwrap_or_else(PoisonError::into_inner);
            if instant > *now {
                *now = instant;
            }
        }
    }

    /// Waits for `duration`: in real time, or by moving a virtual clock forward.
    pub async fn sleep(&self, duration: Duration) {
        match &self.manual {
            None => tokio::time::sleep(duration).await,
            Some(_) => {
                let later = job_schedule::add_saturating(self.now(), duration);
                self.advance_to(later);
                tokio::task::yield_now().await;
            }
        }
    }

    /// Waits until `instant` (at once when it has passed).
    pub async fn sleep_until(&self, instant: DateTime<Utc>) {
        let wait = (instant - self.now()).to_std().unwrap_or(Duration::ZERO);
        self.sleep(wait).await;
    }

    /// Runs `future`, giving up after `duration`; `None` when it ran out of time. On a
    /// virtual clock the future runs to its end and counts as timed out when the clock moved
    /// past the limit meanwhile.
    pub async fn timeout<F: Future>(&self, duration: Duration, future: F) -> Option<F::Output> {
        match &self.manual {
            None => tokio::time::timeout(duration, future).await.ok(),
            Some(_) => {
                let start = self.now();
                let output = future.await;
                let limit = TimeDelta::from_std(duration).unwrap_or(TimeDelta::MAX);
                (self.now() - start <= limit).then_some(output)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_virtual_clock_moves_only_when_told() {
        let start: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let clock = Clock::virtual_at(start);
        let copy = clock.clone();
        assert_eq!(clock.now(), start);
        copy.advance_to(start + TimeDelta::hours(2));
        assert_eq!(
            clock.now(),
            start + TimeDelta::hours(2),
            "clones share the time"
        );
        clock.advance_to(start);
        assert_eq!(clock.now(), start + TimeDelta::hours(2), "never backwards");
        let slow = clock
            .timeout(
                Duration::from_secs(60),
                clock.sleep(Duration::from_secs(120)),
            )
            .await;
        assert!(slow.is_none());
        let quick = clock
            .timeout(
                Duration::from_secs(60),
                clock.sleep(Duration::from_secs(30)),
            )
            .await;
        assert!(quick.is_some());
    }
}
