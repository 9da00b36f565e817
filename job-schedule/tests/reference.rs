//! Agreement, in UTC, with a reference implementation (the `croner` crate) and with a
//! brute-force oracle built from the generator's own idea of each field's values.
//!
//! The corpus comes from the structured generator in `common`: 5 and 6 fields, numbers
//! with and without leading zeros, month and weekday names in any letter case, ranges,
//! lists, `*/n` and `a-b/n` steps, Sunday as 0 and as 7, both day fields restricted (the OR
//! rule), and days 28-31 and February weighted up for leap days and the 31st. Each
//! expression is compared on its next 20 fires after several start instants.
//!
//! Known differences with croner, kept out of the croner comparison:
//! * a day field written `*/n` while the other day field is restricted: our spec (Vixie
//!   cron) counts any day field starting with `*` as unrestricted, so the day fields combine
//!   with AND; croner's default counts it restricted (OR). These are compared with croner's
//!   `dom_and_dow` (AND) mode instead, and with the oracle;
//! * `5/15` (single number with a step) and `*` inside a list, which croner refuses: oracle
//!   only;
//! * a weekday range ending in the name `SUN` (croner reads `-SUN` as `-7`, so `SUN-SUN` is
//!   every day for it): not generated;
//! * expressions that never fire (such as `0 0 30 2 *`): we refuse them with
//!   [`CronError::Never`], which is asserted instead.

mod common;

use std::cell::RefCell;

use chrono::{DateTime, Datelike, TimeDelta, Timelike, Utc};
use croner::parser::{CronParser, Seconds, Year};
use job_schedule::{Cron, CronError, Schedule, Tz};
use proptest::prelude::*;
use proptest::test_runner::{Config, RngSeed, TestCaseResult, TestRunner};

use common::{Expr, Grammar};

/// How many fires are compared after each start instant.
const FIRES: usize = 20;

/// Start instants: a plain one, the last second of a year, the eve of a leap day, the end
/// of a century whose year 2100 is not a leap year, a leap century, a mid-month afternoon.
const STARTS: [&str; 6] = [
    "2026-01-01T00:00:00Z",
    "2027-12-31T23:59:59Z",
    "2028-02-28T23:59:30Z",
    "2099-12-31T23:00:00Z",
    "2000-02-28T12:00:00Z",
    "2031-07-15T13:27:41Z",
];

fn starts() -> Vec<DateTime<Utc>> {
    STARTS.iter().map(|s| s.parse().unwrap()).collect()
}

fn croner_parser(days_and: bool) -> CronParser {
    CronParser::builder()
        .seconds(Seconds::Optional)
        .year(Year::Disallowed)
        .dom_and_dow(days_and)
        .build()
}

fn croner_fires(cron: &croner::Cron, after: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = Vec::with_capacity(FIRES);
    let mut t = after;
    for _ in 0..FIRES {
        t = cron
            .find_next_occurrence(&t, false)
            .unwrap_or_else(|e| panic!("croner `{}` after {t}: {e}", cron.as_str()));
        out.push(t);
    }
    out
}

/// Which reference an expression is compared with.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Reference {
    /// The oracle only.
    Oracle,
    /// The oracle and croner in its default (OR) mode.
    Croner,
    /// The oracle and croner in its AND mode.
    CronerAnd,
}

fn reference_for(expr: &Expr) -> Reference {
    if !expr.croner_syntax() {
        Reference::Oracle
    } else if expr.star_step_day() {
        Reference::CronerAnd
    } else {
        Reference::Croner
    }
}

#[derive(Default, Debug)]
struct Stats {
    cases: usize,
    never: usize,
    croner: usize,
    croner_and: usize,
    oracle_only: usize,
    six_fields: usize,
    names: usize,
    sunday_seven: usize,
    both_days_or: usize,
    leap_day_fires: usize,
    day_31_fires: usize,
    fires: usize,
}

/// Compares one expression with the oracle and, when it shares croner's grammar, croner.
fn check(expr: &Expr, stats: &RefCell<Stats>) -> TestCaseResult {
    let text = expr.text();
    let sets = expr.sets();
    let reference = reference_for(expr);
    let parsed = Cron::parse(&text);
    {
        let mut stats = stats.borrow_mut();
        stats.cases += 1;
        stats.six_fields += usize::from(expr.second.is_some());
        stats.names += usize::from(expr.fields().iter().any(|f| f.uses_names()));
        stats.sunday_seven += usize::from(expr.dow.uses_seven());
        stats.both_days_or += usize::from(!sets.days_and);
    }
    if sets.never() {
        stats.borrow_mut().never += 1;
        prop_assert!(
            matches!(parsed, Err(CronError::Never { .. })),
            "`{}` never fires but parsed as {:?}",
            text,
            parsed
        );
        return Ok(());
    }
    let cron = parsed.map_err(|e| TestCaseError::fail(format!("`{text}` refused: {e}")))?;
    prop_assert_eq!(cron.follows_real_time(), expr.real_time(), "`{}`", text);
    let theirs = match reference {
        Reference::Oracle => None,
        Reference::Croner | Reference::CronerAnd => {
            let parser = croner_parser(reference == Reference::CronerAnd);
            Some(
                parser
                    .parse(&text)
                    .map_err(|e| TestCaseError::fail(format!("croner refused `{text}`: {e}")))?,
            )
        }
    };
    {
        let mut stats = stats.borrow_mut();
        match reference {
            Reference::Oracle => stats.oracle_only += 1,
            Reference::Croner => stats.croner += 1,
            Reference::CronerAnd => stats.croner_and += 1,
        }
    }
    let schedule = Schedule::from_parts(cron.clone(), Tz::UTC);
    for start in starts() {
        let ours: Vec<DateTime<Utc>> = schedule.upcoming(start).take(FIRES).collect();
        let oracle: Vec<DateTime<Utc>> = sets
            .brute_force(start.naive_utc() + TimeDelta::seconds(1), FIRES)
            .into_iter()
            .map(|t| t.and_utc())
            .collect();
        prop_assert_eq!(
            &ours,
            &oracle,
            "`{}` after {} (left: ours, right: oracle)",
            text,
            start
        );
        if let Some(theirs) = &theirs {
            let theirs = croner_fires(theirs, start);
            prop_assert_eq!(
                &ours,
                &theirs,
                "`{}` after {} (left: ours, right: croner)",
                text,
                start
            );
        }
        // `matches` agrees with the oracle on and around the first fires.
        for &fire in ours.iter().take(5) {
            for delta in [-1, 0, 1] {
                let t = fire.naive_utc() + TimeDelta::seconds(delta);
                prop_assert_eq!(cron.matches(t), sets.matches(t), "`{}` at {}", text, t);
            }
        }
        let mut stats = stats.borrow_mut();
        stats.fires += ours.len();
        stats.leap_day_fires += ours
            .iter()
            .filter(|t| (t.month(), t.day()) == (2, 29))
            .count();
        stats.day_31_fires += ours.iter().filter(|t| t.day() == 31).count();
    }
    Ok(())
}

/// Runs `cases` generated expressions with a fixed seed (so the corpus is the same on
/// every run) and returns the statistics of what was covered.
fn run(strategy: impl Strategy<Value = Expr>, cases: u32, seed: u64) -> Stats {
    let mut runner = TestRunner::new(Config {
        cases,
        rng_seed: RngSeed::Fixed(seed),
        failure_persistence: None,
        // Shrinking re-runs whole cases: bound it so a failure reports in reasonable time.
        max_shrink_time: 60_000,
        max_shrink_iters: 4096,
        ..Config::default()
    });
    let stats = RefCell::new(Stats::default());
    if let Err(e) = runner.run(&strategy, |expr| check(&expr, &stats)) {
        panic!("{e}");
    }
    let stats = stats.into_inner();
    eprintln!("{stats:?}");
    stats
}

fn assert_reference_coverage(stats: &Stats) {
    assert!(stats.croner >= 800, "{stats:?}");
    assert!(stats.croner_and >= 50, "{stats:?}");
    assert!(stats.six_fields >= 300, "{stats:?}");
    assert!(stats.names >= 400, "{stats:?}");
    assert!(stats.sunday_seven >= 80, "{stats:?}");
    assert!(stats.both_days_or >= 150, "{stats:?}");
    assert!(stats.leap_day_fires >= 500, "{stats:?}");
    assert!(stats.day_31_fires >= 1000, "{stats:?}");
}

// The main corpus, in two halves so that they run in parallel.
#[test]
fn agrees_with_croner_and_the_oracle() {
    assert_reference_coverage(&run(common::expr(Grammar::REFERENCE), 1000, 0x5eed_0001));
}

#[test]
fn agrees_with_croner_and_the_oracle_more() {
    assert_reference_coverage(&run(common::expr(Grammar::REFERENCE), 1000, 0x5eed_0011));
}

/// A day field written `*/n` with the other day field restricted: AND, as in Vixie cron
/// (croner's `dom_and_dow` mode), not croner's default OR.
#[test]
fn star_step_day_fields_combine_with_and() {
    let stats = run(common::star_step_day_expr(), 600, 0x5eed_0002);
    assert!(stats.croner_and >= 550, "{stats:?}");
    // The cases that motivated the rule, against croner's AND mode; its default mode
    // really does read them otherwise (every Monday and every odd day).
    let and = croner_parser(true);
    let start = starts()[0];
    let or_fires = croner_fires(&croner_parser(false).parse("0 0 */2 * MON").unwrap(), start);
    let and_fires = croner_fires(&and.parse("0 0 */2 * MON").unwrap(), start);
    assert_ne!(or_fires, and_fires);
    for text in [
        "0 0 */2 * MON",
        "0 0 10 * */1",
        "0 12 */3 * 1-5",
        "30 6 1-15 * */2",
    ] {
        let ours = Schedule::from_parts(text.parse().unwrap(), Tz::UTC);
        let theirs = and.parse(text).unwrap();
        for start in starts() {
            let fires: Vec<_> = ours.upcoming(start).take(FIRES).collect();
            assert_eq!(fires, croner_fires(&theirs, start), "{text} after {start}");
        }
    }
}

/// The grammar croner does not read (`5/15`, `*` inside a list), against the oracle only.
#[test]
fn full_grammar_agrees_with_the_oracle() {
    let stats = run(common::expr(Grammar::FULL), 900, 0x5eed_0003);
    assert!(stats.oracle_only >= 300, "{stats:?}");
}

/// Expressions that select no date at all are refused, not accepted to never run.
#[test]
fn expressions_that_never_fire_are_refused() {
    let stats = run(common::never_expr(), 300, 0x5eed_0004);
    assert_eq!(stats.never, stats.cases, "{stats:?}");
    // Their neighbours that do fire (on leap days, or by the OR rule) are accepted.
    for text in [
        "0 0 29 2 *",
        "0 0 29 FEB */7",
        "0 0 31 2,3 *",
        "0 0 30 2 MON",
        "0 0 31 4 1-5",
    ] {
        assert!(Cron::parse(text).is_ok(), "{text}");
    }
}

/// Start instants that are not whole seconds: the next fire is the next matching whole
/// second (croner keeps the fraction, so this is against the oracle).
#[test]
fn fractional_start_instants() {
    let runner_strategy = (common::expr(Grammar::REFERENCE), 1u32..1_000_000_000);
    let mut runner = TestRunner::new(Config {
        cases: 300,
        rng_seed: RngSeed::Fixed(0x5eed_0005),
        failure_persistence: None,
        // Shrinking re-runs whole cases: bound it so a failure reports in reasonable time.
        max_shrink_time: 60_000,
        ..Config::default()
    });
    let result = runner.run(&runner_strategy, |(expr, nanos)| {
        let sets = expr.sets();
        prop_assume!(!sets.never());
        let schedule = Schedule::new(&expr.text(), "UTC").unwrap();
        for start in starts() {
            let start = start + TimeDelta::nanoseconds(i64::from(nanos));
            let ours: Vec<_> = schedule.upcoming(start).take(5).collect();
            let oracle: Vec<_> = sets
                .brute_force(
                    start.naive_utc().with_nanosecond(0).unwrap() + TimeDelta::seconds(1),
                    5,
                )
                .into_iter()
                .map(|t| t.and_utc())
                .collect();
            prop_assert_eq!(ours, oracle, "`{}` after {}", expr.text(), start);
        }
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
