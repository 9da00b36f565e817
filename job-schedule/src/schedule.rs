//! A cron expression in a time zone: the instants at which it fires, daylight saving included.

use std::fmt;

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;

use crate::{Cron, CronError, ZoneError, parse_zone};

/// A cron expression read in a time zone.
///
/// Daylight saving follows cronie's rule:
///
/// * A job whose hour field starts with `*` ([`Cron::follows_real_time`]) fires at every
///   instant whose local wall-clock time matches: in a repeated hour (clocks fall back) on
///   both passes; times inside a skipped hour (clocks spring forward) do not exist and do not
///   fire.
/// * A job with a restricted hour fires once per matching local time: in a repeated hour
///   only at the first pass; a match inside a skipped hour fires once at the first instant
///   after the gap (several matches in one gap collapse into that one fire).
///
/// ```
/// use chrono::{DateTime, Utc};
/// use job_schedule::Schedule;
///
/// let nightly = Schedule::new("30 2 * * *", "America/New_York")?;
/// let after: DateTime<Utc> = "2026-03-07T12:00:00Z".parse().unwrap();
/// let fires: Vec<String> = nightly.upcoming(after).take(2).map(|t| nightly.local(t).to_rfc3339()).collect();
/// // 02:30 does not exist on the day the clocks spring forward: it fires at 03:00.
/// assert_eq!(fires, ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]);
/// # Ok::<(), job_schedule::ScheduleError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    cron: Cron,
    zone: Tz,
}

/// Why a schedule was refused: its expression or its time zone.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleError {
    /// The cron expression is invalid.
    #[error(transparent)]
    Cron(#[from] CronError),
    /// The time zone is unknown.
    #[error(transparent)]
    Zone(#[from] ZoneError),
}

/// No time zone in the database changes its offset twice within this span, so probing the
/// offset at this step finds every transition.
const PROBE_STEP: TimeDelta = TimeDelta::hours(6);

impl Schedule {
    /// Parses `expression` and looks up `zone` (an IANA name such as `"UTC"`).
    pub fn new(expression: &str, zone: &str) -> Result<Schedule, ScheduleError> {
        Ok(Schedule {
            cron: Cron::parse(expression)?,
            zone: parse_zone(zone)?,
        })
    }

    /// A schedule from an already parsed expression and zone.
    pub fn from_parts(cron: Cron, zone: Tz) -> Schedule {
        Schedule { cron, zone }
    }

    /// The expression.
    pub fn cron(&self) -> &Cron {
        &self.cron
    }

    /// The time zone.
    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// An instant as wall-clock time in this schedule's zone.
    pub fn local(&self, instant: DateTime<Utc>) -> DateTime<Tz> {
        instant.with_timezone(&self.zone)
    }

    /// The first fire instant strictly after `after`, or `None` past the year 9999.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let after = after.naive_utc();
        // Whole seconds: the first candidate is the next whole second after `after`.
        let mut start = after.checked_sub_signed(TimeDelta::nanoseconds(i64::from(
            chrono::Timelike::nanosecond(&after),
        )))?;
        start = start.checked_add_signed(TimeDelta::seconds(1))?;
        // The loop below looks for gaps after `start`; one that ends exactly at `start` (the
        // clocks sprang forward at `start`) is checked here.
        let before = self.offset_at(start.checked_sub_signed(TimeDelta::seconds(1))?);
        if self.fires_after_gap(start, before) {
            return Some(start.and_utc());
        }
        loop {
            let offset = self.offset_at(start);
            let wall = self.cron.next_match(start.checked_add_signed(offset)?)?;
            let candidate = wall.checked_sub_signed(offset)?;
            match self.first_change(start, candidate, offset) {
                None => {
                    if !self.cron.follows_real_time() && self.is_second_pass(wall, candidate) {
                        start = candidate.checked_add_signed(TimeDelta::seconds(1))?;
                        continue;
                    }
                    return Some(candidate.and_utc());
                }
                Some(change) => {
                    // No match in the wall-clock span before the change; look at the gap.
                    if self.fires_after_gap(change, offset) {
                        return Some(change.and_utc());
                    }
                    start = change;
                }
            }
        }
    }

    /// The fire instants strictly after `after`, in order.
    pub fn upcoming(&self, after: DateTime<Utc>) -> impl Iterator<Item = DateTime<Utc>> + '_ {
        std::iter::successors(self.next_after(after), move |&t| self.next_after(t))
    }

    fn offset_at(&self, instant: NaiveDateTime) -> TimeDelta {
        let seconds = self
            .zone
            .offset_from_utc_datetime(&instant)
            .fix()
            .local_minus_utc();
        TimeDelta::seconds(i64::from(seconds))
    }

    /// The first instant in `(from, to]` whose offset differs from `offset`, if any.
    fn first_change(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
        offset: TimeDelta,
    ) -> Option<NaiveDateTime> {
        let mut low = from;
        while low < to {
            let high = (low + PROBE_STEP).min(to);
            if self.offset_at(high) != offset {
                // Offset is `offset` at `low` and differs at `high`: bisect to the second.
                let (mut ok, mut changed) = (low, high);
                while changed - ok > TimeDelta::seconds(1) {
                    let middle = ok + TimeDelta::seconds((changed - ok).num_seconds() / 2);
                    if self.offset_at(middle) == offset {
                        ok = middle;
                    } else {
                        changed = middle;
                    }
                }
                return Some(changed);
            }
            low = high;
        }
        None
    }

    /// Whether a fixed-time job fires at `change` because the clocks sprang forward there
    /// from `old_offset` and the skipped wall-clock span holds a match.
    fn fires_after_gap(&self, change: NaiveDateTime, old_offset: TimeDelta) -> bool {
        let new_offset = self.offset_at(change);
        if self.cron.follows_real_time() || new_offset <= old_offset {
            return false;
        }
        let (Some(gap_start), Some(gap_end)) = (
            change.checked_add_signed(old_offset),
            change.checked_add_signed(new_offset),
        ) else {
            return false;
        };
        self.cron.next_match(gap_start).is_some_and(|t| t < gap_end)
    }

    /// Whether `instant` is the second occurrence of the wall-clock time `wall`.
    fn is_second_pass(&self, wall: NaiveDateTime, instant: NaiveDateTime) -> bool {
        match self.zone.from_local_datetime(&wall) {
            LocalResult::Ambiguous(first, _) => first.naive_utc() != instant,
            _ => false,
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.cron, self.zone.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fires(expr: &str, zone: &str, after: &str, count: usize) -> Vec<String> {
        let schedule = Schedule::new(expr, zone).unwrap();
        let after: DateTime<Utc> = DateTime::parse_from_rfc3339(after).unwrap().into();
        schedule
            .upcoming(after)
            .take(count)
            .map(|t| schedule.local(t).to_rfc3339())
            .collect()
    }

    #[test]
    fn fixed_time_in_the_spring_gap_fires_once_after_it() {
        assert_eq!(
            fires(
                "30 2 * * *",
                "America/New_York",
                "2026-03-07T12:00:00-05:00",
                3
            ),
            [
                "2026-03-08T03:00:00-04:00",
                "2026-03-09T02:30:00-04:00",
                "2026-03-10T02:30:00-04:00"
            ]
        );
        // Several matches inside one gap collapse into one fire.
        assert_eq!(
            fires(
                "*/15 2 * * *",
                "America/New_York",
                "2026-03-08T01:59:00-05:00",
                2
            ),
            ["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"]
        );
    }

    #[test]
    fn fixed_time_in_the_repeated_hour_fires_at_the_first_pass_only() {
        assert_eq!(
            fires(
                "30 1 * * *",
                "America/New_York",
                "2026-10-31T12:00:00-04:00",
                3
            ),
            [
                "2026-11-01T01:30:00-04:00",
                "2026-11-02T01:30:00-05:00",
                "2026-11-03T01:30:00-05:00"
            ]
        );
        // Starting between the two passes does not fire at the second one.
        assert_eq!(
            fires(
                "30 1 * * *",
                "America/New_York",
                "2026-11-01T01:10:00-05:00",
                1
            ),
            ["2026-11-02T01:30:00-05:00"]
        );
    }

    #[test]
    fn real_time_jobs_fire_on_both_passes_and_skip_the_gap() {
        assert_eq!(
            fires(
                "*/30 * * * *",
                "America/New_York",
                "2026-11-01T00:59:00-04:00",
                5
            ),
            [
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T01:30:00-04:00",
                "2026-11-01T01:00:00-05:00",
                "2026-11-01T01:30:00-05:00",
                "2026-11-01T02:00:00-05:00"
            ]
        );
        assert_eq!(
            fires(
                "*/30 * * * *",
                "America/New_York",
                "2026-03-08T01:00:00-05:00",
                3
            ),
            [
                "2026-03-08T01:30:00-05:00",
                "2026-03-08T03:00:00-04:00",
                "2026-03-08T03:30:00-04:00"
            ]
        );
        // A real-time job whose only match is in the gap does not fire that day.
        assert_eq!(
            fires(
                "30 */2 * * *",
                "America/New_York",
                "2026-03-08T01:00:00-05:00",
                1
            ),
            ["2026-03-08T04:30:00-04:00"]
        );
    }

    #[test]
    fn strictly_after() {
        assert_eq!(
            fires("0 0 * * *", "UTC", "2026-01-01T00:00:00Z", 1),
            ["2026-01-02T00:00:00+00:00"]
        );
        assert_eq!(
            fires("0 0 * * *", "UTC", "2025-12-31T23:59:59.999Z", 1),
            ["2026-01-01T00:00:00+00:00"]
        );
    }

    #[test]
    fn far_schedules_cross_several_transitions() {
        // Yearly in a DST zone, asked from mid-summer: several offset changes in between.
        assert_eq!(
            fires("0 0 1 1 *", "Europe/Paris", "2026-07-01T00:00:00Z", 2),
            ["2027-01-01T00:00:00+01:00", "2028-01-01T00:00:00+01:00"]
        );
        assert_eq!(
            fires("0 12 1 7 *", "Europe/Paris", "2026-07-01T12:00:00+02:00", 1),
            ["2027-07-01T12:00:00+02:00"]
        );
    }

    #[test]
    fn half_hour_and_southern_zones() {
        // Lord Howe moves its clocks by 30 minutes: 02:00-02:30 is skipped on 2026-10-04.
        assert_eq!(
            fires(
                "15 2 * * *",
                "Australia/Lord_Howe",
                "2026-10-03T12:00:00+10:30",
                2
            ),
            ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"]
        );
    }
}
