//! Rate schedules: every fixed period, anchored to the Unix epoch.

use std::fmt;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::{DurationError, Schedule, format_duration, parse_duration};

/// A schedule that fires every `period`, at the instants that are whole multiples of the
/// period since the Unix epoch (1970-01-01T00:00:00Z).
///
/// Anchoring to a fixed epoch makes every runner compute the same instants, whenever it
/// started: `every 15m` fires at :00, :15, :30 and :45 of every hour (UTC), `every 1h` on
/// the hour, `every 7m` at the multiples of 7 minutes since the epoch.
///
/// ```
/// use job_schedule::Every;
///
/// let every = Every::parse("15m")?;
/// let next = every.next_after("2026-11-28T10:07:00Z".parse().unwrap()).unwrap();
/// assert_eq!(next.to_rfc3339(), "2026-11-28T10:15:00+00:00");
/// # Ok::<(), job_schedule::RateError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Every {
    period_ms: i64,
}

/// A rate that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RateError {
    /// The period is not a duration.
    #[error(transparent)]
    Duration(#[from] DurationError),
    /// The period is shorter than a second.
    #[error("a rate of {0} is too short: the shortest period is 1s")]
    TooShort(String),
}

impl Every {
    /// A rate from a duration such as `"15m"` or `"1h"`; at least one second.
    pub fn parse(text: &str) -> Result<Every, RateError> {
        Every::new(parse_duration(text)?)
    }

    /// A rate of `period`; at least one second.
    pub fn new(period: Duration) -> Result<Every, RateError> {
        if period < Duration::from_secs(1) {
            return Err(RateError::TooShort(format_duration(period)));
        }
        Ok(Every {
            period_ms: i64::try_from(period.as_millis()).unwrap_or(i64::MAX),
        })
    }

    /// The period.
    pub fn period(&self) -> Duration {
        Duration::from_millis(self.period_ms as u64)
    }

    /// The first multiple of the period strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let now = after.timestamp_millis();
        let next = (now.div_euclid(self.period_ms) + 1).checked_mul(self.period_ms)?;
        DateTime::from_timestamp_millis(next)
    }
}

impl fmt::Display for Every {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "every {}", format_duration(self.period()))
    }
}

/// When something recurs: a cron expression in a zone, or a rate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recurrence {
    /// A cron schedule.
    Cron(Schedule),
    /// A rate.
    Every(Every),
}

impl Recurrence {
    /// The first fire instant strictly after `after`.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match self {
            Recurrence::Cron(schedule) => schedule.next_after(after),
            Recurrence::Every(every) => every.next_after(after),
        }
    }

    /// The fire instants strictly after `after`.
    pub fn upcoming(&self, after: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        std::iter::successors(self.next_after(after), move |&t| self.next_after(t))
    }

    /// An instant as wall-clock time in the schedule's zone (UTC for a rate).
    pub fn local(&self, instant: DateTime<Utc>) -> DateTime<chrono_tz::Tz> {
        match self {
            Recurrence::Cron(schedule) => schedule.local(instant),
            Recurrence::Every(_) => instant.with_timezone(&chrono_tz::UTC),
        }
    }
}

impl fmt::Display for Recurrence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Recurrence::Cron(schedule) => schedule.fmt(f),
            Recurrence::Every(every) => every.fmt(f),
        }
    }
}

impl From<Schedule> for Recurrence {
    fn from(schedule: Schedule) -> Recurrence {
        Recurrence::Cron(schedule)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        text.parse().unwrap()
    }

    #[test]
    fn anchored_to_the_epoch() {
        let hourly = Every::parse("1h").unwrap();
        assert_eq!(
            hourly.next_after(at("2026-11-28T10:00:00Z")),
            Some(at("2026-11-28T11:00:00Z"))
        );
        assert_eq!(
            hourly.next_after(at("2026-11-28T10:59:59.999Z")),
            Some(at("2026-11-28T11:00:00Z"))
        );
        let two = Every::parse("2s").unwrap();
        let fires: Vec<_> = Recurrence::Every(two)
            .upcoming(at("2026-11-28T10:00:01Z"))
            .take(3)
            .collect();
        assert_eq!(
            fires,
            [
                at("2026-11-28T10:00:02Z"),
                at("2026-11-28T10:00:04Z"),
                at("2026-11-28T10:00:06Z")
            ]
        );
        assert_eq!(
            Every::parse("7m")
                .unwrap()
                .next_after(at("1970-01-01T00:00:00Z")),
            Some(at("1970-01-01T00:07:00Z"))
        );
    }

    #[test]
    fn too_short_or_malformed_rates_are_refused() {
        assert!(matches!(Every::parse("500ms"), Err(RateError::TooShort(_))));
        assert!(matches!(Every::parse("soon"), Err(RateError::Duration(_))));
        assert_eq!(Every::parse("1h30m").unwrap().to_string(), "every 1h30m");
    }
}
