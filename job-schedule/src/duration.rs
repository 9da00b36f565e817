//! Durations written as `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"` or `"1h30m"`.

use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

/// The longest duration [`parse_duration`] accepts: 36,500 days, about 100 years.
///
/// Every duration the SDK reads (a timeout, a backoff, a rate, a lease, a history retention,
/// `--since`) is added to or subtracted from an instant. Within 100 years of today, an
/// instant and any sum of a few such durations stay far inside what the clock's type holds
/// (about 262,000 years either side of year 0), so no arithmetic on them can overflow;
/// and no setting has a use for more (a retention of a century keeps everything).
pub const MAX_DURATION: Duration = Duration::from_secs(36_500 * 86_400);

/// A duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    /// Not a duration at all.
    #[error(
        "invalid duration `{0}`; write a whole number followed by a unit (ms, s, m, h or d), such as \"500ms\", \"30s\", \"5m\", \"1h\" or \"1h30m\""
    )]
    Invalid(String),
    /// Longer than [`MAX_DURATION`].
    #[error(
        "the duration `{0}` is too long: the longest accepted is \"{max}\" (about 100 years)",
        max = format_duration(MAX_DURATION)
    )]
    TooLong(String),
}

/// Reads a duration such as `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"2d"` or `"1h30m"`, of at
/// most [`MAX_DURATION`].
///
/// ```
/// use std::time::Duration;
/// use job_schedule::parse_duration;
///
/// assert_eq!(parse_duration("1h30m")?, Duration::from_secs(5400));
/// assert_eq!(parse_duration("500ms")?, Duration::from_millis(500));
/// assert!(parse_duration("5 minutes").is_err());
/// assert!(parse_duration("100000000d").is_err());
/// # Ok::<(), job_schedule::DurationError>(())
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(text.to_owned());
    let too_long = || DurationError::TooLong(text.to_owned());
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(invalid());
        }
        // Only digits: a number that does not parse is too large for a u64.
        let amount: u64 = rest[..digits].parse().map_err(|_| too_long())?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..letters] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            _ => return Err(invalid()),
        };
        rest = &rest[letters..];
        let part = u32::try_from(amount)
            .ok()
            .and_then(|amount| unit.checked_mul(amount))
            .ok_or_else(too_long)?;
        total = total.checked_add(part).ok_or_else(too_long)?;
        if total > MAX_DURATION {
            return Err(too_long());
        }
    }
    Ok(total)
}

/// `instant + duration`, or the latest instant a `DateTime<Utc>` holds when the sum lies
/// beyond it: never a panic, whatever the duration.
pub fn add_saturating(instant: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(duration)
        .ok()
        .and_then(|delta| instant.checked_add_signed(delta))
        .unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// `instant - duration`, or the earliest instant a `DateTime<Utc>` holds when the
/// difference lies before it: never a panic, whatever the duration.
pub fn sub_saturating(instant: DateTime<Utc>, duration: Duration) -> DateTime<Utc> {
    TimeDelta::from_std(duration)
        .ok()
        .and_then(|delta| instant.checked_sub_signed(delta))
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

/// Writes a duration the way [`parse_duration`] reads it, with the largest units that fit
/// (`5400s` is written `"1h30m"`).
pub fn format_duration(duration: Duration) -> String {
    let mut millis = duration.as_millis();
    if millis == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, name) in [
        (86_400_000, "d"),
        (3_600_000, "h"),
        (60_000, "m"),
        (1000, "s"),
        (1, "ms"),
    ] {
        if millis >= unit {
            out.push_str(&format!("{}{name}", millis / unit));
            millis %= unit;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_compounds() {
        assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
        assert_eq!(parse_duration("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_duration("1h").unwrap(), Duration::from_secs(3600));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        for bad in ["", "5", "m5", "5x", "1.5s", "-1s", "5 m"] {
            assert_eq!(
                parse_duration(bad),
                Err(DurationError::Invalid(bad.into())),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn durations_are_bounded_by_about_a_century() {
        assert_eq!(parse_duration("36500d").unwrap(), MAX_DURATION);
        assert_eq!(format_duration(MAX_DURATION), "36500d");
        for long in [
            "36500d1ms",
            "36501d",
            "100000000d",
            "4294967296s",
            "99999999999999999999999d",
            "36000d36000d",
        ] {
            assert_eq!(
                parse_duration(long),
                Err(DurationError::TooLong(long.into())),
                "{long:?}"
            );
        }
        assert_eq!(
            parse_duration("100000000d").unwrap_err().to_string(),
            "the duration `100000000d` is too long: the longest accepted is \"36500d\" (about 100 years)"
        );
    }

    #[test]
    fn instants_move_by_any_duration_without_panicking() {
        let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let day = Duration::from_secs(86_400);
        assert_eq!(
            add_saturating(now, day).to_rfc3339(),
            "2026-01-02T00:00:00+00:00"
        );
        assert_eq!(
            sub_saturating(now, day).to_rfc3339(),
            "2025-12-31T00:00:00+00:00"
        );
        // 100,000,000 days: within TimeDelta, beyond the instants chrono holds.
        let huge = day * 100_000_000;
        assert_eq!(add_saturating(now, huge), DateTime::<Utc>::MAX_UTC);
        assert_eq!(sub_saturating(now, huge), DateTime::<Utc>::MIN_UTC);
        assert_eq!(add_saturating(now, Duration::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(sub_saturating(now, Duration::MAX), DateTime::<Utc>::MIN_UTC);
        assert!(sub_saturating(now, MAX_DURATION) > DateTime::<Utc>::MIN_UTC);
    }

    #[test]
    fn formatting_round_trips() {
        for text in ["500ms", "30s", "5m", "1h", "1h30m", "2d", "1m0s"] {
            let d = parse_duration(text).unwrap();
            assert_eq!(parse_duration(&format_duration(d)).unwrap(), d);
        }
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
    }
}
