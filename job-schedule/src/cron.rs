//! A parsed cron expression and the wall-clock times it matches.

use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, NaiveDate, NaiveDateTime, NaiveTime, Timelike};

use crate::field::{self, Field, Values};

/// A cron expression: which wall-clock times it selects, without a time zone.
///
/// The grammar is standard crontab: five fields (minute, hour, day-of-month, month,
/// day-of-week) or six with a leading seconds field; `*`, numbers, names (`JAN`, `MON`),
/// ranges (`1-5`), lists (`1,15`) and steps (`*/15`, `0-30/5`, `5/15`); Sunday is 0 or 7;
/// and the macros `@yearly` (`@annually`), `@monthly`, `@weekly`, `@daily` (`@midnight`)
/// and `@hourly`.
///
/// When both day fields are restricted a day matches if **either** matches, as in Vixie
/// cron; a day field written starting with `*` (such as `*/2`) counts as unrestricted, so
/// `0 0 */2 * MON` selects odd days that are Mondays.
///
/// ```
/// use job_schedule::Cron;
///
/// let weekdays: Cron = "0 9 * * 1-5".parse()?;
/// assert_eq!(weekdays.to_string(), "0 9 * * 1-5");
///
/// let error = "0 25 * * *".parse::<Cron>().unwrap_err();
/// assert_eq!(error.to_string(), "invalid hour field `25`: 25 is out of range; expected a number 0-23");
/// # Ok::<(), job_schedule::CronError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cron {
    source: String,
    seconds: Values,
    minutes: Values,
    hours: Values,
    days_of_month: Values,
    months: Values,
    days_of_week: Values,
    day_of_month_star: bool,
    day_of_week_star: bool,
    hour_star: bool,
}

/// Why a cron expression was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CronError {
    /// The expression is empty.
    #[error(
        "the cron expression is empty; write 5 fields (minute hour day-of-month month day-of-week), such as \"0 0 * * *\""
    )]
    Empty,
    /// The expression does not have 5 or 6 fields.
    #[error(
        "cron expression `{expression}` has {found} field{plural}; write 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading seconds field",
        plural = if *found == 1 { "" } else { "s" }
    )]
    FieldCount {
        /// The expression as written.
        expression: String,
        /// How many fields it has.
        found: usize,
    },
    /// An `@` macro that is not known.
    #[error(
        "unknown cron macro `{0}`; use one of @yearly, @annually, @monthly, @weekly, @daily, @midnight or @hourly"
    )]
    UnknownMacro(String),
    /// One field is malformed or out of range.
    #[error("invalid {field} field `{value}`: {reason}")]
    Field {
        /// The field that is wrong.
        field: Field,
        /// The field as written.
        value: String,
        /// What is wrong and what the field accepts.
        reason: String,
    },
    /// The expression is well formed but selects no date at all, such as `0 0 30 2 *`.
    #[error("cron expression `{expression}` never fires: {reason}")]
    Never {
        /// The expression as written.
        expression: String,
        /// Why no date matches.
        reason: String,
    },
}

impl CronError {
    /// The field that is wrong, when the error is about one field.
    pub fn field(&self) -> Option<Field> {
        match self {
            CronError::Field { field, .. } => Some(*field),
            _ => None,
        }
    }
}

/// The last year that a search for a matching time goes to. A valid expression always
/// matches within 28 years (the weekday calendar repeats), so this only ends searches that
/// started close to it.
const LAST_YEAR: i32 = 9999;

impl Cron {
    /// Parses an expression; see the type's documentation for the grammar.
    pub fn parse(expression: &str) -> Result<Cron, CronError> {
        let trimmed = expression.trim();
        if trimmed.is_empty() {
            return Err(CronError::Empty);
        }
        let expanded = if trimmed.starts_with('@') {
            match trimmed.to_ascii_lowercase().as_str() {
                "@yearly" | "@annually" => "0 0 1 1 *",
                "@monthly" => "0 0 1 * *",
                "@weekly" => "0 0 * * 0",
                "@daily" | "@midnight" => "0 0 * * *",
                "@hourly" => "0 * * * *",
                _ => return Err(CronError::UnknownMacro(trimmed.to_owned())),
            }
        } else {
            trimmed
        };
        let parts: Vec<&str> = expanded.split_whitespace().collect();
        let (seconds, rest) = match parts.len() {
            5 => (None, &parts[..]),
            6 => (Some(parts[0]), &parts[1..]),
            found => {
                return Err(CronError::FieldCount {
                    expression: trimmed.to_owned(),
                    found,
                });
            }
        };
        let parse = |field, text| {
            field::parse(field, text).map_err(|e| CronError::Field {
                field: e.field,
                value: e.value,
                reason: e.reason,
            })
        };
        let seconds = match seconds {
            Some(text) => parse(Field::Second, text)?.values,
            None => Values::single(0),
        };
        let minutes = parse(Field::Minute, rest[0])?;
        let hours = parse(Field::Hour, rest[1])?;
        let days_of_month = parse(Field::DayOfMonth, rest[2])?;
        let months = parse(Field::Month, rest[3])?;
        let days_of_week = parse(Field::DayOfWeek, rest[4])?;
        let cron = Cron {
            source: trimmed.to_owned(),
            seconds,
            minutes: minutes.values,
            hours: hours.values,
            days_of_month: days_of_month.values,
            months: months.values,
            days_of_week: days_of_week.values,
            day_of_month_star: days_of_month.starts_with_star,
            day_of_week_star: days_of_week.starts_with_star,
            hour_star: hours.starts_with_star,
        };
        cron.check_some_day_exists()?;
        Ok(cron)
    }

    /// Refuses expressions whose day-of-month can never fall in one of its months, such as
    /// `0 0 31 4 *` or `0 0 30 2 *`: they would parse and then silently never run.
    fn check_some_day_exists(&self) -> Result<(), CronError> {
        // With both day fields restricted a day matches by either (OR), and every month has
        // every weekday. Otherwise the fields combine with AND, and any (month, day) pair that
        // exists falls on every weekday in some year.
        if !(self.day_of_month_star || self.day_of_week_star) {
            return Ok(());
        }
        let first_day = self.days_of_month.min().unwrap_or(1);
        let possible = (1..=12)
            .filter(|&m| self.months.contains(m))
            .any(|m| first_day <= longest_month_length(m));
        if possible {
            Ok(())
        } else {
            Err(CronError::Never {
                expression: self.source.clone(),
                reason: format!(
                    "no selected month has a day {first_day}; check the day-of-month and month fields"
                ),
            })
        }
    }

    /// The expression as written (macros such as `@daily` are kept as written).
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Whether the hour field starts with `*` (such as `*` or `*/2`).
    ///
    /// Such a job follows real time across daylight-saving changes; a job with a restricted
    /// hour fires once per matching local time. See [`Schedule`](crate::Schedule).
    pub fn follows_real_time(&self) -> bool {
        self.hour_star
    }

    /// Whether the wall-clock time `t` (to the second) is selected.
    pub fn matches(&self, t: NaiveDateTime) -> bool {
        self.months.contains(t.month())
            && self.day_matches(t.date())
            && self.hours.contains(t.hour())
            && self.minutes.contains(t.minute())
            && self.seconds.contains(t.second())
            && t.nanosecond() == 0
    }

    fn day_matches(&self, date: NaiveDate) -> bool {
        let by_month = self.days_of_month.contains(date.day());
        let by_week = self
            .days_of_week
            .contains(date.weekday().num_days_from_sunday());
        if self.day_of_month_star || self.day_of_week_star {
            by_month && by_week
        } else {
            by_month || by_week
        }
    }

    /// The first selected wall-clock time at or after `from` (rounded up to a whole second).
    pub fn next_match(&self, from: NaiveDateTime) -> Option<NaiveDateTime> {
        let mut t = from.with_nanosecond(0)?;
        if from.nanosecond() != 0 {
            t = t.checked_add_signed(chrono::TimeDelta::seconds(1))?;
        }
        let midnight = |date: NaiveDate| date.and_time(NaiveTime::MIN);
        loop {
            if t.year() > LAST_YEAR {
                return None;
            }
            let date = t.date();
            if !self.months.contains(date.month()) {
                t = midnight(first_of_next_month(date)?);
                continue;
            }
            if !self.day_matches(date) {
                t = midnight(date.checked_add_days(Days::new(1))?);
                continue;
            }
            let Some(hour) = self.hours.first_at_or_after(t.hour()) else {
                t = midnight(date.checked_add_days(Days::new(1))?);
                continue;
            };
            if hour != t.hour() {
                t = date.and_hms_opt(hour, 0, 0)?;
            }
            let Some(minute) = self.minutes.first_at_or_after(t.minute()) else {
                t = next_hour(t)?;
                continue;
            };
            if minute != t.minute() {
                t = date.and_hms_opt(hour, minute, 0)?;
            }
            let Some(second) = self.seconds.first_at_or_after(t.second()) else {
                t = next_minute(t)?;
                continue;
            };
            return date.and_hms_opt(hour, minute, second);
        }
    }
}

/// February counts 29 days: an expression that selects the 29th of February is valid.
fn longest_month_length(month: u32) -> u32 {
    match month {
        2 => 29,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn first_of_next_month(date: NaiveDate) -> Option<NaiveDate> {
    let (year, month) = if date.month() == 12 {
        (date.year() + 1, 1)
    } else {
        (date.year(), date.month() + 1)
    };
    NaiveDate::from_ymd_opt(year, month, 1)
}

fn next_hour(t: NaiveDateTime) -> Option<NaiveDateTime> {
    let start = t.date().and_hms_opt(t.hour(), 0, 0)?;
    start.checked_add_signed(chrono::TimeDelta::hours(1))
}

fn next_minute(t: NaiveDateTime) -> Option<NaiveDateTime> {
    let start = t.date().and_hms_opt(t.hour(), t.minute(), 0)?;
    start.checked_add_signed(chrono::TimeDelta::minutes(1))
}

impl FromStr for Cron {
    type Err = CronError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Cron::parse(s)
    }
}

impl fmt::Display for Cron {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> NaiveDateTime {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
    }

    fn next(expr: &str, from: &str) -> String {
        let cron = Cron::parse(expr).unwrap();
        cron.next_match(at(from))
            .unwrap()
            .format("%Y-%m-%d %H:%M:%S %a")
            .to_string()
    }

    #[test]
    fn field_counts_and_macros() {
        assert!(matches!(
            Cron::parse("* * * *"),
            Err(CronError::FieldCount { found: 4, .. })
        ));
        assert!(matches!(
            Cron::parse("* * * * * * *"),
            Err(CronError::FieldCount { found: 7, .. })
        ));
        assert!(matches!(Cron::parse("  "), Err(CronError::Empty)));
        assert!(matches!(
            Cron::parse("@reboot"),
            Err(CronError::UnknownMacro(_))
        ));
        assert_eq!(
            next("@daily", "2026-01-01 00:00:01"),
            "2026-01-02 00:00:00 Fri"
        );
        assert_eq!(
            next("@hourly", "2026-01-01 00:00:01"),
            "2026-01-01 01:00:00 Thu"
        );
        assert_eq!(
            next("@weekly", "2026-01-01 00:00:00"),
            "2026-01-04 00:00:00 Sun"
        );
        assert_eq!(
            next("@monthly", "2026-01-01 00:00:01"),
            "2026-02-01 00:00:00 Sun"
        );
        assert_eq!(
            next("@yearly", "2026-01-01 00:00:01"),
            "2027-01-01 00:00:00 Fri"
        );
        assert_eq!(
            next("@ANNUALLY", "2026-01-01 00:00:01"),
            "2027-01-01 00:00:00 Fri"
        );
    }

    #[test]
    fn field_errors_name_the_field_and_value() {
        let err = Cron::parse("0 0 * * 8").unwrap_err();
        assert_eq!(err.field(), Some(Field::DayOfWeek));
        assert_eq!(
            err.to_string(),
            "invalid day-of-week field `8`: 8 is out of range; expected a number 0-7 (0 and 7 are Sunday) or a name SUN-SAT"
        );
        let err = Cron::parse("61 0 0 * * *").unwrap_err();
        assert_eq!(err.field(), Some(Field::Second));
    }

    #[test]
    fn expressions_that_never_fire_are_refused() {
        for expr in ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 31 FEB *"] {
            let err = Cron::parse(expr).unwrap_err();
            assert!(matches!(err, CronError::Never { .. }), "{expr}: {err}");
        }
        // With a restricted weekday the OR rule makes them fire on that weekday.
        assert_eq!(
            next("0 0 30 2 MON", "2026-02-01 00:00:00"),
            "2026-02-02 00:00:00 Mon"
        );
    }

    #[test]
    fn leap_years_and_the_31st() {
        assert_eq!(
            next("0 0 29 2 *", "2026-01-01 00:00:00"),
            "2028-02-29 00:00:00 Tue"
        );
        assert_eq!(
            next("0 0 29 2 *", "2096-03-01 00:00:00"),
            "2104-02-29 00:00:00 Fri"
        );
        assert_eq!(
            next("0 0 31 * *", "2026-04-01 00:00:00"),
            "2026-05-31 00:00:00 Sun"
        );
        assert_eq!(
            next("0 12 31 * *", "2026-05-31 12:00:01"),
            "2026-07-31 12:00:00 Fri"
        );
    }

    #[test]
    fn sunday_is_zero_and_seven() {
        assert_eq!(
            next("0 0 * * 0", "2026-01-01 00:00:00"),
            "2026-01-04 00:00:00 Sun"
        );
        assert_eq!(
            next("0 0 * * 7", "2026-01-01 00:00:00"),
            "2026-01-04 00:00:00 Sun"
        );
        assert_eq!(
            next("0 0 * * SUN", "2026-01-01 00:00:00"),
            "2026-01-04 00:00:00 Sun"
        );
        assert_eq!(
            next("0 9 * * 1-5", "2026-01-03 00:00:00"),
            "2026-01-05 09:00:00 Mon"
        );
        assert_eq!(
            next("0 9 * * 1-5", "2026-01-09 09:00:01"),
            "2026-01-12 09:00:00 Mon"
        );
    }

    #[test]
    fn both_day_fields_restricted_means_either() {
        // The 13th, or any Friday.
        assert_eq!(
            next("0 0 13 * FRI", "2026-01-01 00:00:00"),
            "2026-01-02 00:00:00 Fri"
        );
        assert_eq!(
            next("0 0 13 * FRI", "2026-01-10 00:00:00"),
            "2026-01-13 00:00:00 Tue"
        );
        // A day-of-month starting with `*` is unrestricted: odd days that are Mondays.
        assert_eq!(
            next("0 0 */2 * MON", "2026-01-01 00:00:00"),
            "2026-01-05 00:00:00 Mon"
        );
        assert_eq!(
            next("0 0 */2 * MON", "2026-01-06 00:00:00"),
            "2026-01-19 00:00:00 Mon"
        );
        // A day-of-week starting with `*` is unrestricted too: the 10th, on any weekday.
        assert_eq!(
            next("0 0 10 * */1", "2026-01-01 00:00:00"),
            "2026-01-10 00:00:00 Sat"
        );
    }

    #[test]
    fn seconds_field() {
        assert_eq!(
            next("*/20 * * * * *", "2026-01-01 00:00:01"),
            "2026-01-01 00:00:20 Thu"
        );
        assert_eq!(
            next("30 59 23 31 12 *", "2026-01-01 00:00:00"),
            "2026-12-31 23:59:30 Thu"
        );
    }

    #[test]
    fn from_is_inclusive_and_rounds_up() {
        assert_eq!(
            next("0 * * * *", "2026-01-01 05:00:00"),
            "2026-01-01 05:00:00 Thu"
        );
        let cron = Cron::parse("* * * * * *").unwrap();
        let from = at("2026-01-01 05:00:00") + chrono::TimeDelta::milliseconds(1);
        assert_eq!(cron.next_match(from), Some(at("2026-01-01 05:00:01")));
    }

    #[test]
    fn hour_star_is_reported() {
        assert!(Cron::parse("*/30 * * * *").unwrap().follows_real_time());
        assert!(Cron::parse("0 */2 * * *").unwrap().follows_real_time());
        assert!(Cron::parse("@hourly").unwrap().follows_real_time());
        assert!(!Cron::parse("30 2 * * *").unwrap().follows_real_time());
        assert!(!Cron::parse("0 0-23 * * *").unwrap().follows_real_time());
    }
}
