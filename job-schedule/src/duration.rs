//! Durations written as `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"` or `"1h30m"`.

use std::time::Duration;

/// A duration that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid duration `{0}`; write a whole number followed by a unit (ms, s, m, h or d), such as \"500ms\", \"30s\", \"5m\", \"1h\" or \"1h30m\""
)]
pub struct DurationError(String);

/// Reads a duration such as `"500ms"`, `"30s"`, `"5m"`, `"1h"`, `"2d"` or `"1h30m"`.
///
/// ```
/// use std::time::Duration;
/// use job_schedule::parse_duration;
///
/// assert_eq!(parse_duration("1h30m")?, Duration::from_secs(5400));
/// assert_eq!(parse_duration("500ms")?, Duration::from_millis(500));
/// assert!(parse_duration("5 minutes").is_err());
/// # Ok::<(), job_schedule::DurationError>(())
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let fail = || DurationError(text.to_owned());
    let mut rest = text.trim();
    if rest.is_empty() {
        return Err(fail());
    }
    let mut total = Duration::ZERO;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(fail());
        }
        let amount: u64 = rest[..digits].parse().map_err(|_| fail())?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = match &rest[..letters] {
            "ms" => Duration::from_millis(1),
            "s" => Duration::from_secs(1),
            "m" => Duration::from_secs(60),
            "h" => Duration::from_secs(3600),
            "d" => Duration::from_secs(86_400),
            _ => return Err(fail()),
        };
        rest = &rest[letters..];
        let part = unit
            .checked_mul(u32::try_from(amount).map_err(|_| fail())?)
            .ok_or_else(fail)?;
        total = total.checked_add(part).ok_or_else(fail)?;
    }
    Ok(total)
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
        for bad in ["", "5", "m5", "5x", "1.5s", "-1s", "5 m", "99999999999s"] {
            assert!(parse_duration(bad).is_err(), "{bad:?} was accepted");
        }
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
