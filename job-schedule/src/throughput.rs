//! Throughput limits written `"100/1m"`: at most a count of starts in any window of a
//! duration.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use crate::{DurationError, format_duration, parse_duration};

/// At most `count` starts in any window of `per`: written `"COUNT/DURATION"`, such as
/// `"100/1m"` or `"5/1s"`, the duration as [`parse_duration`] reads it.
///
/// The `#[job(rate = "...")]` attribute (at compile time) and the runner's configuration
/// (at run time) both read rates with [`Rate::parse`], so that the two never disagree.
///
/// ```
/// use std::time::Duration;
/// use job_schedule::Rate;
///
/// let rate = Rate::parse("100/1m")?;
/// assert_eq!(rate, Rate { count: 100, per: Duration::from_secs(60) });
/// assert_eq!(rate.to_string(), "100/1m");
/// assert!(Rate::parse("0/1m").is_err());
/// # Ok::<(), job_schedule::ThroughputError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Rate {
    /// How many starts a window allows; at least 1.
    pub count: u32,
    /// The length of the window; above zero, at most [`MAX_DURATION`](crate::MAX_DURATION).
    pub per: Duration,
}

/// A rate that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThroughputError {
    /// No slash between the count and the duration.
    #[error(
        "invalid rate `{0}`: write a count, a slash and a duration, such as \"100/1m\" (100 starts a minute) or \"5/1s\""
    )]
    MissingSlash(String),
    /// The part before the slash is not a whole number that fits in 32 bits.
    #[error(
        "invalid rate `{text}`: the count `{count}` is not a whole number from 1 to {max}; write a rate such as \"100/1m\"",
        max = u32::MAX
    )]
    Count {
        /// The rate as written.
        text: String,
        /// The part before the slash.
        count: String,
    },
    /// A count of zero, which would let nothing start.
    #[error(
        "the rate `{0}` lets nothing start: the count before the slash must be at least 1, such as \"100/1m\""
    )]
    ZeroCount(String),
    /// The part after the slash is not a duration (or is longer than the longest one).
    #[error("invalid rate `{text}`: {problem}")]
    Duration {
        /// The rate as written.
        text: String,
        /// What is wrong with the duration.
        problem: DurationError,
    },
    /// A window of zero length, in which no count means anything.
    #[error(
        "the rate `{0}` has a window of 0: the duration after the slash must be above 0, such as \"100/1m\""
    )]
    ZeroWindow(String),
}

impl Rate {
    /// Reads a rate written `"COUNT/DURATION"`, such as `"100/1m"`: a count of at least 1,
    /// a slash, and a duration above zero of at most [`MAX_DURATION`](crate::MAX_DURATION).
    /// Spaces around the count and the duration are ignored.
    pub fn parse(text: &str) -> Result<Rate, ThroughputError> {
        let (count, per) = text
            .split_once('/')
            .ok_or_else(|| ThroughputError::MissingSlash(text.to_owned()))?;
        let count = count.trim();
        let count = if !count.is_empty() && count.bytes().all(|b| b.is_ascii_digit()) {
            count.parse::<u32>().ok()
        } else {
            None
        }
        .ok_or_else(|| ThroughputError::Count {
            text: text.to_owned(),
            count: count.to_owned(),
        })?;
        if count == 0 {
            return Err(ThroughputError::ZeroCount(text.to_owned()));
        }
        let per = parse_duration(per).map_err(|problem| ThroughputError::Duration {
            text: text.to_owned(),
            problem,
        })?;
        if per.is_zero() {
            return Err(ThroughputError::ZeroWindow(text.to_owned()));
        }
        Ok(Rate { count, per })
    }
}

impl FromStr for Rate {
    type Err = ThroughputError;

    fn from_str(text: &str) -> Result<Rate, ThroughputError> {
        Rate::parse(text)
    }
}

impl fmt::Display for Rate {
    /// The rate as [`Rate::parse`] reads it, the duration with the largest units that fit
    /// (`"100/1m"`, `"5/1h30m"`).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.count, format_duration(self.per))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_count_a_slash_and_a_duration() {
        assert_eq!(
            Rate::parse("100/1m"),
            Ok(Rate {
                count: 100,
                per: Duration::from_secs(60)
            })
        );
        assert_eq!(
            Rate::parse(" 5 / 1h30m ").unwrap(),
            Rate {
                count: 5,
                per: Duration::from_secs(5400)
            }
        );
        assert_eq!("4294967295/500ms".parse::<Rate>().unwrap().count, u32::MAX);
    }

    #[test]
    fn displays_as_it_is_written() {
        for text in ["100/1m", "1/1s", "5/1h30m", "20/500ms", "3/36500d"] {
            assert_eq!(Rate::parse(text).unwrap().to_string(), text);
        }
        assert_eq!(Rate::parse("60/60s").unwrap().to_string(), "60/1m");
    }

    #[test]
    fn malformed_rates_say_what_is_wrong() {
        assert_eq!(
            Rate::parse("100"),
            Err(ThroughputError::MissingSlash("100".into()))
        );
        assert_eq!(
            Rate::parse("100/min").unwrap_err().to_string(),
            "invalid rate `100/min`: invalid duration `min`; write a whole number followed by a unit (ms, s, m, h or d), such as \"500ms\", \"30s\", \"5m\", \"1h\" or \"1h30m\""
        );
        for (text, count) in [
            ("/1m", ""),
            ("-1/1m", "-1"),
            ("+5/1m", "+5"),
            ("1.5/1m", "1.5"),
            ("4294967296/1m", "4294967296"),
        ] {
            assert_eq!(
                Rate::parse(text),
                Err(ThroughputError::Count {
                    text: text.into(),
                    count: count.into()
                }),
                "{text:?}"
            );
        }
        assert_eq!(
            Rate::parse("1/1m/2"),
            Err(ThroughputError::Duration {
                text: "1/1m/2".into(),
                problem: DurationError::Invalid("1m/2".into())
            })
        );
    }

    #[test]
    fn zero_counts_and_zero_or_unbounded_windows_are_refused() {
        assert_eq!(
            Rate::parse("0/1m").unwrap_err().to_string(),
            "the rate `0/1m` lets nothing start: the count before the slash must be at least 1, such as \"100/1m\""
        );
        assert_eq!(
            Rate::parse("10/0s"),
            Err(ThroughputError::ZeroWindow("10/0s".into()))
        );
        assert_eq!(
            Rate::parse("10/0ms"),
            Err(ThroughputError::ZeroWindow("10/0ms".into()))
        );
        assert!(matches!(
            Rate::parse("10/36501d"),
            Err(ThroughputError::Duration {
                problem: DurationError::TooLong(_),
                ..
            })
        ));
    }
}
