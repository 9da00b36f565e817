//! Properties of schedules in time zones with daylight saving, and of the parser.
//!
//! Start instants are drawn mostly around the zones' real offset changes (2010-2030), where
//! the daylight-saving rule matters, including the seconds just before and at a change.

mod common;

use std::collections::{BTreeSet, HashSet};
use std::sync::OnceLock;

use chrono::{DateTime, LocalResult, NaiveDateTime, Offset, TimeDelta, TimeZone, Timelike, Utc};
use job_schedule::{Cron, CronError, Schedule, Tz};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed};

use common::{Expr, Grammar, Kind, Sets};

const ZONES: [&str; 13] = [
    "UTC",
    "America/New_York",
    "Europe/London",
    "Australia/Lord_Howe", // moves by 30 minutes
    "Asia/Kolkata",        // +05:30, no DST
    "America/Sao_Paulo",   // DST until 2019, changing at midnight
    "Pacific/Chatham",     // +12:45 / +13:45
    "Australia/Sydney",
    "Europe/Dublin", // "negative" DST in the database
    "America/St_Johns",
    "Pacific/Apia", // skipped 2011-12-30 entirely
    "Asia/Tehran",  // DST until 2022, changing at midnight
    "America/Santiago",
];

fn zone(index: usize) -> Tz {
    ZONES[index].parse().unwrap()
}

fn offset(zone: Tz, instant: NaiveDateTime) -> TimeDelta {
    TimeDelta::seconds(i64::from(
        zone.offset_from_utc_datetime(&instant)
            .fix()
            .local_minus_utc(),
    ))
}

/// The instants (UTC, to the second) at which each zone's offset changed, 2010-2030.
fn transitions(index: usize) -> &'static [NaiveDateTime] {
    static ALL: OnceLock<Vec<Vec<NaiveDateTime>>> = OnceLock::new();
    &ALL.get_or_init(|| {
        (0..ZONES.len())
            .map(|i| {
                let zone = zone(i);
                let end = "2031-01-01T00:00:00".parse::<NaiveDateTime>().unwrap();
                let mut t = "2010-01-01T00:00:00".parse::<NaiveDateTime>().unwrap();
                let mut out = Vec::new();
                while t < end {
                    let next = t + TimeDelta::hours(3);
                    if offset(zone, next) != offset(zone, t) {
                        let (mut same, mut changed) = (t, next);
                        while changed - same > TimeDelta::seconds(1) {
                            let middle = same + (changed - same) / 2;
                            if offset(zone, middle) == offset(zone, t) {
                                same = middle;
                            } else {
                                changed = middle;
                            }
                        }
                        out.push(changed);
                    }
                    t = next;
                }
                out
            })
            .collect()
    })[index]
}

/// Where a start instant is taken.
#[derive(Clone, Debug)]
enum Start {
    /// Some time before (or shortly after) one of the zone's offset changes.
    NearChange { pick: usize, seconds: i64 },
    /// Exactly at a change, plus `nanos` (-1 s, -1 ns, 0, +1 s...).
    AtChange { pick: usize, nanos: i64 },
    /// Anywhere in 2010-2030.
    Anywhere { seconds: i64 },
}

fn start_strategy(before: i64) -> impl Strategy<Value = Start> {
    prop_oneof![
        5 => (any::<usize>(), -before..3600).prop_map(|(pick, seconds)| Start::NearChange { pick, seconds }),
        2 => (
            any::<usize>(),
            prop::sample::select(vec![-1_000_000_000i64, -500_000_000, -1, 0, 1, 1_000_000_000]),
        )
            .prop_map(|(pick, nanos)| Start::AtChange { pick, nanos }),
        1 => (0i64..21 * 365 * 86_400).prop_map(|seconds| Start::Anywhere { seconds }),
    ]
}

fn start_instant(zone_index: usize, start: &Start) -> DateTime<Utc> {
    let changes = transitions(zone_index);
    let base: DateTime<Utc> = "2010-01-01T00:00:00Z".parse().unwrap();
    match *start {
        Start::NearChange { pick, seconds } if !changes.is_empty() => {
            changes[pick % changes.len()].and_utc() + TimeDelta::seconds(seconds)
        }
        Start::AtChange { pick, nanos } if !changes.is_empty() => {
            changes[pick % changes.len()].and_utc() + TimeDelta::nanoseconds(nanos)
        }
        Start::NearChange { pick, .. } | Start::AtChange { pick, .. } => {
            base + TimeDelta::seconds((pick % (21 * 365 * 86_400)) as i64)
        }
        Start::Anywhere { seconds } => base + TimeDelta::seconds(seconds),
    }
}

/// Valid expressions (the full grammar) that fire, with hours near the usual DST changes.
fn firing_expr() -> impl Strategy<Value = Expr> {
    common::expr(Grammar::FULL).prop_filter("never fires", |e| !e.sets().never())
}

/// Whether a fixed-time job fires at `instant` because clocks sprang forward there and the
/// skipped wall-clock span holds a match.
fn is_gap_fire(sets: &Sets, zone: Tz, instant: NaiveDateTime) -> bool {
    let before = offset(zone, instant - TimeDelta::seconds(1));
    let after = offset(zone, instant);
    if before >= after {
        return false;
    }
    let (mut wall, end) = (instant + before, instant + after);
    while wall < end {
        if sets.matches(wall) {
            return true;
        }
        wall += TimeDelta::seconds(1);
    }
    false
}

/// The fires in `(from, to]` by brute force over UTC minutes, applying the documented
/// rule directly: a real-time job fires at every instant whose wall time matches; a
/// fixed-time job fires at the first instant of each matching wall time, and at the first
/// instant after a skipped span that holds a match. Offsets change on whole minutes.
fn brute_force_in_zone(
    sets: &Sets,
    real_time: bool,
    zone: Tz,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Vec<DateTime<Utc>> {
    let mut out = BTreeSet::new();
    let first = from.naive_utc();
    let mut minute = first.with_second(0).unwrap().with_nanosecond(0).unwrap();
    let last = to.naive_utc();
    while minute <= last {
        let wall_minute = minute + offset(zone, minute);
        for s in (0..60).filter(|&s| sets.seconds & (1 << s) != 0) {
            let instant = minute + TimeDelta::seconds(s);
            if instant <= first || instant > last {
                continue;
            }
            let wall = wall_minute + TimeDelta::seconds(s);
            if !sets.matches(wall) {
                continue;
            }
            let first_pass = match zone.from_local_datetime(&wall) {
                LocalResult::Ambiguous(earlier, _) => earlier.naive_utc() == instant,
                _ => true,
            };
            if real_time || first_pass {
                out.insert(instant);
            }
        }
        if !real_time && minute > first && is_gap_fire(sets, zone, minute) {
            out.insert(minute);
        }
        minute += TimeDelta::minutes(1);
    }
    out.into_iter().map(|t| t.and_utc()).collect()
}

fn config(cases: u32, seed: u64) -> Config {
    Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        // Shrinking re-runs whole cases: bound it so a failure reports in reasonable time.
        max_shrink_time: 60_000,
        ..Config::default()
    }
}

const FIRES: usize = 24;

proptest! {
    #![proptest_config(config(400, 0x0dd_0001))]

    /// `next_after` is strictly after its input and increasing, `upcoming` is repeated
    /// `next_after`, any instant between two fires leads to the later one, every fire's
    /// wall time matches (or it ends a skipped span holding a match, for fixed-time jobs),
    /// and a fixed-time job never fires twice for one wall time.
    #[test]
    fn fires_are_ordered_and_match(
        expr in firing_expr(),
        zone_index in 0..ZONES.len(),
        start in start_strategy(3 * 86_400),
        between in 0.0f64..1.0,
    ) {
        let text = expr.text();
        let sets = expr.sets();
        let zone = zone(zone_index);
        let schedule = Schedule::new(&text, ZONES[zone_index]).unwrap();
        prop_assert_eq!(schedule.cron().follows_real_time(), expr.real_time());
        let start = start_instant(zone_index, &start);
        let fires: Vec<_> = schedule.upcoming(start).take(FIRES).collect();
        prop_assert_eq!(fires.len(), FIRES, "`{}` in {} after {}", text, ZONES[zone_index], start);

        let mut previous = start;
        let mut walls = HashSet::new();
        for &fire in &fires {
            let context = format!("`{text}` in {} after {start}: fire {}", ZONES[zone_index], schedule.local(fire));
            prop_assert!(fire > previous, "{} not after {}", context, previous);
            prop_assert_eq!(schedule.next_after(previous), Some(fire), "{}", context);
            // Any instant in [previous, fire) leads to `fire`.
            let gap = fire - previous;
            let probes = [
                previous + TimeDelta::nanoseconds((gap.num_nanoseconds().unwrap_or(i64::MAX) as f64 * between) as i64),
                fire - TimeDelta::seconds(1),
                fire - TimeDelta::nanoseconds(1),
            ];
            for probe in probes.into_iter().filter(|&p| p >= previous) {
                prop_assert_eq!(schedule.next_after(probe), Some(fire), "{} (asked after {})", context, probe);
            }
            let wall = schedule.local(fire).naive_local();
            if !sets.matches(wall) {
                prop_assert!(
                    !expr.real_time() && is_gap_fire(&sets, zone, fire.naive_utc()),
                    "{} does not match", context
                );
            }
            if !expr.real_time() {
                prop_assert!(walls.insert(wall), "{} fires twice at wall time {}", context, wall);
            }
            previous = fire;
        }
    }
}

proptest! {
    #![proptest_config(config(250, 0x0dd_0002))]

    /// Around offset changes, the fires are exactly those a brute force over every minute
    /// finds by the documented rule: none missing, none extra.
    #[test]
    fn fires_near_changes_are_complete(
        expr in firing_expr(),
        zone_index in 1..ZONES.len(),
        start in start_strategy(30 * 3600),
    ) {
        let text = expr.text();
        let sets = expr.sets();
        let zone = zone(zone_index);
        let schedule = Schedule::new(&text, ZONES[zone_index]).unwrap();
        let start = start_instant(zone_index, &start);
        // A window that holds a few thousand fires at most.
        let window = match sets.fires_per_day() {
            0..=300 => TimeDelta::hours(36),
            301..=3000 => TimeDelta::hours(6),
            _ => TimeDelta::minutes(80),
        };
        let end = start + window;
        let ours: Vec<_> = schedule.upcoming(start).take_while(|&t| t <= end).collect();
        let expected = brute_force_in_zone(&sets, expr.real_time(), zone, start, end);
        let local = |v: &[DateTime<Utc>]| v.iter().map(|&t| schedule.local(t).to_rfc3339()).collect::<Vec<_>>();
        prop_assert_eq!(
            local(&ours), local(&expected),
            "`{}` in {} after {} (left: ours, right: brute force)", text, ZONES[zone_index], start
        );
    }
}

/// Pieces that cron expressions and near-misses are made of.
const PIECES: &[&str] = &[
    "*",
    "*/",
    "/",
    "-",
    ",",
    "0",
    "1",
    "5",
    "7",
    "8",
    "12",
    "13",
    "23",
    "24",
    "29",
    "31",
    "32",
    "59",
    "60",
    "99",
    "4294967295",
    "4294967296",
    "18446744073709551616",
    "MON",
    "sun",
    "Jan",
    "DEC",
    "JANUARY",
    "@daily",
    "@",
    "?",
    "L",
    "W",
    "#",
    "+5",
    "-1",
    "é",
    "٣",
    " ",
    "\t",
];

fn near_miss() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(PIECES), 0..24).prop_map(|pieces| pieces.concat())
}

/// Numbers and near-numbers for a field's items, edge values and overflows among them.
const ATOMS: &[&str] = &[
    "0",
    "1",
    "5",
    "7",
    "12",
    "23",
    "31",
    "59",
    "60",
    "4294967295",
    "4294967296",
    "",
    "*",
    "MON",
    "sun",
    "x",
    "+5",
    "-1",
];

/// Field text made of items such as `a`, `a-b`, `a/b`, `a-b/c` and `*/b` from [`ATOMS`].
fn near_miss_field() -> impl Strategy<Value = String> {
    let atom = || prop::sample::select(ATOMS);
    let item = prop_oneof![
        atom().prop_map(str::to_owned),
        (atom(), atom()).prop_map(|(a, b)| format!("{a}-{b}")),
        (atom(), atom()).prop_map(|(a, b)| format!("{a}/{b}")),
        (atom(), atom(), atom()).prop_map(|(a, b, c)| format!("{a}-{b}/{c}")),
        atom().prop_map(|b| format!("*/{b}")),
    ];
    prop::collection::vec(item, 1..4).prop_map(|items| items.join(","))
}

/// A valid expression with one field replaced by a near miss, so that the parser gets as
/// far as that field.
fn near_miss_expr() -> impl Strategy<Value = String> {
    firing_expr()
        .prop_flat_map(|expr| {
            let count = expr.fields().len();
            (Just(expr), 0..count, near_miss_field())
        })
        .prop_map(|(expr, index, bad)| {
            let mut fields: Vec<String> = expr.fields().iter().map(|f| f.text()).collect();
            fields[index] = bad;
            fields.join(" ")
        })
}

/// Field text that is certainly invalid for `kind`.
fn invalid_field(kind: Kind) -> BoxedStrategy<String> {
    let (low, high) = kind.bounds();
    let mut options = vec![
        (high + 1..high + 100).prop_map(|n| n.to_string()).boxed(),
        (low..high, 1..=(high - low))
            .prop_map(move |(a, d)| format!("{}-{a}", (a + d).min(high)))
            .prop_filter("backwards", |s| {
                let (a, b) = s.split_once('-').unwrap();
                a.parse::<u32>().unwrap() > b.parse::<u32>().unwrap()
            })
            .boxed(),
        Just("*/0".to_owned()).boxed(),
        (low..=high).prop_map(|n| format!("{n},,{n}")).boxed(),
        (low..=high).prop_map(|n| format!("{n},")).boxed(),
        (low..=high).prop_map(|n| format!("{n}-")).boxed(),
        (low..=high).prop_map(|n| format!("{n}/x")).boxed(),
        "[A-Za-z]{4,8}".boxed(),
        Just("?".to_owned()).boxed(),
        Just("L".to_owned()).boxed(),
    ];
    if low > 0 {
        options.push(Just("0".to_owned()).boxed());
    }
    if !matches!(kind, Kind::Month | Kind::Dow) {
        options.push(Just("MON".to_owned()).boxed());
        options.push(Just("jan".to_owned()).boxed());
    }
    proptest::strategy::Union::new(options).boxed()
}

fn kind_at(expr: &Expr, index: usize) -> Kind {
    expr.fields()[index].kind
}

proptest! {
    #![proptest_config(config(1500, 0x0dd_0003))]

    /// The parser never panics, and whatever it accepts can be scheduled without panicking.
    #[test]
    fn parse_never_panics(
        text in prop_oneof![
            1 => any::<String>(),
            1 => near_miss(),
            1 => "[0-9*/,A-Za-z@ -]{0,40}",
            3 => near_miss_expr(),
        ]
    ) {
        if let Ok(cron) = Cron::parse(&text) {
            let start = "2026-01-01T00:00:00".parse::<NaiveDateTime>().unwrap();
            let _ = cron.next_match(start);
            let schedule = Schedule::from_parts(cron, Tz::Europe__London);
            let _ = schedule.next_after(start.and_utc());
        }
    }

    /// An invalid field is reported as that field, with its text, in the message.
    #[test]
    fn field_errors_name_the_field_and_value(
        (expr, index, bad) in firing_expr()
            .prop_flat_map(|expr| {
                let count = expr.fields().len();
                (Just(expr), 0..count)
            })
            .prop_flat_map(|(expr, index)| {
                let kind = kind_at(&expr, index);
                (Just(expr), Just(index), invalid_field(kind))
            })
    ) {
        let mut fields: Vec<String> = expr.fields().iter().map(|f| f.text()).collect();
        fields[index] = bad.clone();
        let text = fields.join(" ");
        let kind = kind_at(&expr, index);
        match Cron::parse(&text) {
            Err(error @ CronError::Field { .. }) => {
                let message = error.to_string();
                let CronError::Field { field, value, .. } = error else { unreachable!() };
                prop_assert_eq!(field.name(), kind.label(), "`{}`: {}", text, message);
                prop_assert_eq!(&value, &bad);
                let expected = format!("invalid {} field `{}`: ", kind.label(), bad);
                prop_assert!(message.starts_with(&expected), "`{}`: {}", text, message);
            }
            other => prop_assert!(false, "`{}` with `{}` as its {} field: {:?}", text, bad, kind.label(), other),
        }
    }
}

/// A step near `u32::MAX` used to overflow while expanding the field (a panic in debug
/// builds, extra values after wrapping around in release builds).
#[test]
fn huge_steps_select_only_their_start() {
    let start = "2026-01-01T00:00:00".parse::<NaiveDateTime>().unwrap();
    for (text, minute) in [
        ("5/4294967295 * * * *", 5),
        ("1-59/4294967295 * * * *", 1),
        ("*/4294967295 * * * *", 0),
    ] {
        let cron = Cron::parse(text).unwrap();
        let fires: Vec<u32> = std::iter::successors(cron.next_match(start), |t| {
            cron.next_match(*t + TimeDelta::seconds(1))
        })
        .take(3)
        .map(|t| t.minute())
        .collect();
        assert_eq!(fires, [minute; 3], "{text}");
    }
    assert!(Cron::parse("*/4294967296 * * * *").is_err());
}
