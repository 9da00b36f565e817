//! The one definition of a valid schedule, shared by the `#[job]` macro (which checks
//! schedules at compile time) and the runner (which computes fire times), so that the two
//! never disagree.
//!
//! * [`Cron`]: a cron expression (5 or 6 fields, names, ranges, lists, steps, `@daily`...).
//! * [`Schedule`]: a cron expression in an IANA time zone, with cronie's daylight-saving rule.
//! * [`parse_zone`] and [`parse_duration`]: time zone names and durations such as `"30s"`
//!   (at most [`MAX_DURATION`]); [`add_saturating`] and [`sub_saturating`] move an instant
//!   by a duration without overflowing.
//! * [`Rate`]: a throughput limit such as `"100/1m"` (at most 100 starts in any minute).
//! * [`check_name`] and [`job_type_name`]: the names of jobs, queues and schedules.
//!
//! ```
//! use job_schedule::Schedule;
//!
//! let schedule = Schedule::new("0 9 * * MON-FRI", "Europe/Paris")?;
//! let next = schedule.next_after("2026-11-27T09:00:00Z".parse().unwrap()).unwrap();
//! assert_eq!(schedule.local(next).to_rfc3339(), "2026-11-30T09:00:00+01:00");
//! # Ok::<(), job_schedule::ScheduleError>(())
//! ```

mod cron;
mod duration;
mod field;
mod name;
mod rate;
mod schedule;
mod throughput;
mod zone;

pub use crate::cron::{Cron, CronError};
pub use crate::duration::{
    DurationError, MAX_DURATION, add_saturating, format_duration, parse_duration, sub_saturating,
};
pub use crate::field::Field;
pub use crate::name::{NAME_MAX, NameError, check_name, job_type_name};
pub use crate::rate::{Every, RateError, Recurrence};
pub use crate::schedule::{Schedule, ScheduleError};
pub use crate::throughput::{Rate, ThroughputError};
pub use crate::zone::{ZoneError, parse_zone};
pub use chrono_tz::Tz;
