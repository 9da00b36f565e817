//! Daylight-saving cases, as a table, beyond the ones in `src/schedule.rs` (which hold the
//! three America/New_York examples of the daylight-saving rule): the start instant right at a change,
//! 6-field jobs, the fall-back rule for several hours, Europe/London, the Southern
//! hemisphere (Sydney, Lord Howe's 30-minute shift, Chatham's +12:45), changes at midnight
//! (Sao Paulo) and the day Samoa skipped (Pacific/Apia, 2011-12-30).

use chrono::{DateTime, Utc};
use job_schedule::Schedule;

/// (expression, zone, fires strictly after this instant, the next fires in local time)
const CASES: &[(&str, &str, &str, &[&str])] = &[
    // --- America/New_York: 2026-03-08 02:00 -> 03:00, 2026-11-01 02:00 -> 01:00.
    // Asked one second (or less) before the clocks spring forward: still fires at 03:00.
    (
        "30 2 * * *",
        "America/New_York",
        "2026-03-08T01:59:59-05:00",
        &["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
    ),
    (
        "30 2 * * *",
        "America/New_York",
        "2026-03-08T01:59:59.5-05:00",
        &["2026-03-08T03:00:00-04:00"],
    ),
    // Asked at the instant itself: that fire is not after it.
    (
        "30 2 * * *",
        "America/New_York",
        "2026-03-08T03:00:00-04:00",
        &["2026-03-09T02:30:00-04:00"],
    ),
    // A 6-field job that fires just before the gap, then for the match inside it.
    (
        "59 59 1,2 * * *",
        "America/New_York",
        "2026-03-08T00:00:00-05:00",
        &[
            "2026-03-08T01:59:59-05:00",
            "2026-03-08T03:00:00-04:00",
            "2026-03-09T01:59:59-04:00",
            "2026-03-09T02:59:59-04:00",
        ],
    ),
    // A match in the gap and one at its end collapse into one fire.
    (
        "0 2,3 * * *",
        "America/New_York",
        "2026-03-07T12:00:00-05:00",
        &[
            "2026-03-08T03:00:00-04:00",
            "2026-03-09T02:00:00-04:00",
            "2026-03-09T03:00:00-04:00",
        ],
    ),
    // Fixed hours in the repeated hour: first pass only, then the hour after it.
    (
        "0 1-2 * * *",
        "America/New_York",
        "2026-10-31T12:00:00-04:00",
        &[
            "2026-11-01T01:00:00-04:00",
            "2026-11-01T02:00:00-05:00",
            "2026-11-02T01:00:00-05:00",
        ],
    ),
    (
        "*/20 1 * * *",
        "America/New_York",
        "2026-11-01T00:30:00-04:00",
        &[
            "2026-11-01T01:00:00-04:00",
            "2026-11-01T01:20:00-04:00",
            "2026-11-01T01:40:00-04:00",
            "2026-11-02T01:00:00-05:00",
        ],
    ),
    // --- Europe/London: 2026-03-29 01:00 -> 02:00, 2026-10-25 02:00 -> 01:00.
    (
        "30 1 * * *",
        "Europe/London",
        "2026-03-28T12:00:00+00:00",
        &["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"],
    ),
    // 01:00 itself is the first skipped minute.
    (
        "0 1 * * *",
        "Europe/London",
        "2026-03-28T12:00:00+00:00",
        &["2026-03-29T02:00:00+01:00", "2026-03-30T01:00:00+01:00"],
    ),
    (
        "*/30 * * * *",
        "Europe/London",
        "2026-03-29T00:45:00+00:00",
        &["2026-03-29T02:00:00+01:00", "2026-03-29T02:30:00+01:00"],
    ),
    (
        "30 1 * * *",
        "Europe/London",
        "2026-10-24T12:00:00+01:00",
        &["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"],
    ),
    // Asked during the second pass, before its 01:30: not again that night.
    (
        "30 1 * * *",
        "Europe/London",
        "2026-10-25T01:10:00+00:00",
        &["2026-10-26T01:30:00+00:00"],
    ),
    (
        "*/30 * * * *",
        "Europe/London",
        "2026-10-25T00:59:00+01:00",
        &[
            "2026-10-25T01:00:00+01:00",
            "2026-10-25T01:30:00+01:00",
            "2026-10-25T01:00:00+00:00",
            "2026-10-25T01:30:00+00:00",
            "2026-10-25T02:00:00+00:00",
        ],
    ),
    // --- Australia/Sydney: 2026-04-05 03:00 -> 02:00, 2026-10-04 02:00 -> 03:00.
    (
        "30 2 * * *",
        "Australia/Sydney",
        "2026-04-04T12:00:00+11:00",
        &["2026-04-05T02:30:00+11:00", "2026-04-06T02:30:00+10:00"],
    ),
    (
        "*/30 * * * *",
        "Australia/Sydney",
        "2026-04-05T01:59:00+11:00",
        &[
            "2026-04-05T02:00:00+11:00",
            "2026-04-05T02:30:00+11:00",
            "2026-04-05T02:00:00+10:00",
            "2026-04-05T02:30:00+10:00",
            "2026-04-05T03:00:00+10:00",
        ],
    ),
    (
        "30 2 * * *",
        "Australia/Sydney",
        "2026-10-03T12:00:00+10:00",
        &["2026-10-04T03:00:00+11:00", "2026-10-05T02:30:00+11:00"],
    ),
    // Weekly on the Sunday the clocks change.
    (
        "0 2 * * SUN",
        "Australia/Sydney",
        "2026-10-01T00:00:00+10:00",
        &["2026-10-04T03:00:00+11:00", "2026-10-11T02:00:00+11:00"],
    ),
    // --- Australia/Lord_Howe, 30 minutes: 2026-04-05 02:00 -> 01:30.
    (
        "45 1 * * *",
        "Australia/Lord_Howe",
        "2026-04-04T12:00:00+11:00",
        &["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"],
    ),
    (
        "*/15 * * * *",
        "Australia/Lord_Howe",
        "2026-04-05T01:20:00+11:00",
        &[
            "2026-04-05T01:30:00+11:00",
            "2026-04-05T01:45:00+11:00",
            "2026-04-05T01:30:00+10:30",
            "2026-04-05T01:45:00+10:30",
            "2026-04-05T02:00:00+10:30",
        ],
    ),
    // --- Pacific/Chatham, +12:45 / +13:45: 2026-04-05 03:45 -> 02:45,
    // 2026-09-27 02:45 -> 03:45.
    (
        "0 3 * * *",
        "Pacific/Chatham",
        "2026-04-04T12:00:00+13:45",
        &["2026-04-05T03:00:00+13:45", "2026-04-06T03:00:00+12:45"],
    ),
    (
        "0 3 * * *",
        "Pacific/Chatham",
        "2026-09-26T12:00:00+12:45",
        &["2026-09-27T03:45:00+13:45", "2026-09-28T03:00:00+13:45"],
    ),
    (
        "*/30 * * * *",
        "Pacific/Chatham",
        "2026-09-27T02:00:00+12:45",
        &["2026-09-27T02:30:00+12:45", "2026-09-27T04:00:00+13:45"],
    ),
    // --- America/Sao_Paulo, changes at midnight: 2018-11-04 00:00 -> 01:00,
    // 2019-02-17 00:00 -> 2019-02-16 23:00.
    (
        "0 0 * * *",
        "America/Sao_Paulo",
        "2018-11-03T12:00:00-03:00",
        &["2018-11-04T01:00:00-02:00", "2018-11-05T00:00:00-02:00"],
    ),
    (
        "30 23 * * *",
        "America/Sao_Paulo",
        "2019-02-16T12:00:00-02:00",
        &["2019-02-16T23:30:00-02:00", "2019-02-17T23:30:00-03:00"],
    ),
    (
        "0 0 * * *",
        "America/Sao_Paulo",
        "2019-02-16T12:00:00-02:00",
        &["2019-02-17T00:00:00-03:00", "2019-02-18T00:00:00-03:00"],
    ),
    (
        "0 * * * *",
        "America/Sao_Paulo",
        "2019-02-16T22:30:00-02:00",
        &[
            "2019-02-16T23:00:00-02:00",
            "2019-02-16T23:00:00-03:00",
            "2019-02-17T00:00:00-03:00",
        ],
    ),
    // --- Pacific/Apia skipped 2011-12-30 (-10:00 -> +14:00): a 24-hour gap.
    (
        "0 12 * * *",
        "Pacific/Apia",
        "2011-12-29T00:00:00-10:00",
        &[
            "2011-12-29T12:00:00-10:00",
            "2011-12-31T00:00:00+14:00",
            "2011-12-31T12:00:00+14:00",
        ],
    ),
    (
        "0 * * * *",
        "Pacific/Apia",
        "2011-12-29T22:30:00-10:00",
        &[
            "2011-12-29T23:00:00-10:00",
            "2011-12-31T00:00:00+14:00",
            "2011-12-31T01:00:00+14:00",
        ],
    ),
    (
        "0 9 30 12 *",
        "Pacific/Apia",
        "2011-06-01T00:00:00-11:00",
        &["2011-12-31T00:00:00+14:00", "2012-12-30T09:00:00+14:00"],
    ),
];

#[test]
fn dst_table() {
    let mut failures = Vec::new();
    for &(expression, zone, after, expected) in CASES {
        let schedule = Schedule::new(expression, zone).unwrap();
        let after: DateTime<Utc> = DateTime::parse_from_rfc3339(after).unwrap().into();
        let fires: Vec<String> = schedule
            .upcoming(after)
            .take(expected.len())
            .map(|t| schedule.local(t).to_rfc3339())
            .collect();
        if fires != expected {
            failures.push(format!(
                "`{expression}` in {zone} after {after}:\n  got      {fires:?}\n  expected {expected:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
