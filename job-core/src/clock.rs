//! The one clock that every part of the runner reads and waits on.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// The source of "now" for the scheduler, retries, timeouts, leases and history.
///
/// [`Clock::system`] reads the system clock. [`Clock::virtual_at`] starts at a chosen
/// instant and advances with tokio's clock, so that under tokio's paused time
/// (`tokio::time::pause`, or `#[tokio::test(start_paused = true)]`) a test moves through
/// hours or years of schedules instantly. Job code that waits with [`Clock::sleep`] or
/// `tokio::time::sleep` follows either clock.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() {
/// use std::time::Duration;
/// use job_core::Clock;
///
/// let start = "2026-01-01T00:00:00Z".parse().unwrap();
/// let clock = Clock::virtual_at(start);
/// clock.sleep(Duration::from_secs(3600)).await; // instant under paused time
/// assert_eq!(clock.now().to_rfc3339(), "2026-01-01T01:00:00+00:00");
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Clock {
    anchor: Option<Anchor>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Anchor {
    at: DateTime<Utc>,
    instant: tokio::time::Instant,
}

impl Clock {
    /// The system clock.
    pub const fn system() -> Clock {
        Clock { anchor: None }
    }

    /// A clock that reads `start` now and then advances with tokio's clock.
    pub fn virtual_at(start: DateTime<Utc>) -> Clock {
        Clock {
            anchor: Some(Anchor {
                at: start,
                instant: tokio::time::Instant::now(),
            }),
        }
    }

    /// Whether this is a virtual clock.
    pub fn is_virtual(&self) -> bool {
        self.anchor.is_some()
    }

    /// The current instant.
    pub fn now(&self) -> DateTime<Utc> {
        match self.anchor {
            None => Utc::now(),
            Some(anchor) => {
                let elapsed = tokio::time::Instant::now() - anchor.instant;
                // An elapsed time beyond TimeDelta's range (about 292 billion years) is not
                // reachable: saturate rather than panic.
                anchor.at + TimeDelta::from_std(elapsed).unwrap_or(TimeDelta::MAX)
            }
        }
    }

    /// Waits for `duration`.
    pub async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }

    /// Waits until `instant` (at once when it has passed).
    pub async fn sleep_until(&self, instant: DateTime<Utc>) {
        let wait = (instant - self.now()).to_std().unwrap_or(Duration::ZERO);
        tokio::time::sleep(wait).await;
    }

    /// Runs `future`, giving up after `duration`; `None` when it ran out of time.
    pub async fn timeout<F: Future>(&self, duration: Duration, future: F) -> Option<F::Output> {
        tokio::time::timeout(duration, future).await.ok()
    }
}

impl Default for Clock {
    fn default() -> Clock {
        Clock::system()
    }
}
