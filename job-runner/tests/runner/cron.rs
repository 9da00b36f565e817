//! Ticks of the schedules written in code: each runs once however many runners share the
//! database (one of them killed too), jobs with `overlap = "skip"` never overlap, missed
//! ticks follow their policy, rates stay on the epoch's grid.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::Test;
use crate::support::{Backend, Site, millis, ticks_of, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    two_runners_run_each_cron_tick_exactly_once,
    unique_cron_runs_never_overlap,
    three_runners_one_killed_every_tick_runs_once,
    missed_ticks_are_skipped_or_caught_up_once_by_policy,
    an_every_two_seconds_job_runs_each_tick_once_across_runners,
];

fn two_runners_run_each_cron_tick_exactly_once(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_JOB_EVERY_SECOND_ENABLED", "true");
    let first = site.runner();
    let second = site.runner();
    std::thread::sleep(Duration::from_secs(20));
    let (clean_first, log_first) = first.terminate();
    let (clean_second, log_second) = second.terminate();
    assert!(clean_first && clean_second, "{log_first}\n{log_second}");

    let history = site.history(&["--job", "every_second"]);
    let mut per_tick: BTreeMap<i64, usize> = BTreeMap::new();
    for row in &history {
        *per_tick.entry(millis(&row["scheduled_at"])).or_default() += 1;
    }
    let doubled: Vec<_> = per_tick.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "ticks run more than once: {doubled:?}");
    let (first_tick, last_tick) = (
        *per_tick.keys().next().expect("some ticks ran"),
        *per_tick.keys().last().expect("some ticks ran"),
    );
    let expected = (last_tick - first_tick) / 1000 + 1;
    assert!(expected >= 17, "only {expected} ticks in 20 seconds");
    assert_eq!(
        per_tick.len() as i64,
        expected,
        "ticks were skipped between the first and the last"
    );
    assert!(
        history
            .iter()
            .all(|r| r["status"] == "succeeded" && r["trigger"] == "cron")
    );
}

fn unique_cron_runs_never_overlap(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_JOB_UNIQUE_EVERY_SECOND_ENABLED", "true");
    let first = site.runner();
    let second = site.runner();
    std::thread::sleep(Duration::from_secs(9));
    drop(first);
    drop(second);
    let history = site.history(&["--job", "unique_every_second", "--status", "succeeded"]);
    let mut runs: Vec<(i64, i64)> = history
        .iter()
        .map(|r| (millis(&r["started_at"]), millis(&r["finished_at"])))
        .collect();
    runs.sort_unstable();
    assert!(runs.len() >= 2, "{runs:?}");
    assert!(
        runs.len() <= 4,
        "2.5 s runs every second cannot all have run: {runs:?}"
    );
    for pair in runs.windows(2) {
        assert!(pair[1].0 >= pair[0].1, "runs overlap: {pair:?}");
    }
}

fn three_runners_one_killed_every_tick_runs_once(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_JOB_EVERY_SECOND_ENABLED", "true");
    let [first, second, third] = [site.runner(), site.runner(), site.runner()];
    std::thread::sleep(Duration::from_secs(5));
    second.kill();
    std::thread::sleep(Duration::from_secs(7));
    let (clean_first, log) = first.terminate();
    assert!(clean_first, "{log}");
    let (clean_third, log) = third.terminate();
    assert!(clean_third, "{log}");

    let history = site.history(&["--job", "every_second"]);
    let mut per_tick: BTreeMap<i64, Vec<&Value>> = BTreeMap::new();
    for row in &history {
        per_tick
            .entry(millis(&row["scheduled_at"]))
            .or_default()
            .push(row);
    }
    let (first_tick, last_tick) = (
        *per_tick.keys().next().expect("some ticks ran"),
        *per_tick.keys().last().expect("some ticks ran"),
    );
    assert_eq!(
        per_tick.len() as i64,
        (last_tick - first_tick) / 1000 + 1,
        "ticks were skipped"
    );
    for (tick, rows) in &per_tick {
        // A tick whose attempt the killed runner was running shows the lost attempt and the
        // re-run; every other tick has exactly one execution.
        let succeeded = rows.iter().filter(|r| r["status"] == "succeeded").count();
        assert_eq!(
            succeeded, 1,
            "tick {tick} succeeded {succeeded} times: {rows:?}"
        );
        let tasks: std::collections::BTreeSet<i64> = rows
            .iter()
            .map(|r| r["task_id"].as_i64().unwrap_or(0))
            .collect();
        assert_eq!(tasks.len(), 1, "tick {tick} became several tasks");
    }
}

fn missed_ticks_are_skipped_or_caught_up_once_by_policy(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_JOB_EVERY_SECOND_ENABLED", "true");
    site.env("JOBS_JOB_CATCHES_UP_ENABLED", "true");
    let runner = site.runner();
    let ran = |job: &str| site.history(&["--job", job]);
    assert!(
        wait_until(Duration::from_secs(10), || ran("catches_up").len() >= 2
            && ran("every_second").len() >= 2),
        "{}",
        runner.log()
    );
    let (clean, log) = runner.terminate();
    assert!(clean, "{log}");
    let last_before = |job: &str| {
        ran(job)
            .iter()
            .map(|r| millis(&r["scheduled_at"]))
            .max()
            .unwrap_or(0)
    };
    let (caught_before, skipped_before) = (last_before("catches_up"), last_before("every_second"));
    std::thread::sleep(Duration::from_secs(4));
    let runner = site.runner();
    let new_ticks = |job: &str, before: i64| -> Vec<i64> {
        let mut ticks: Vec<i64> = ran(job)
            .iter()
            .map(|r| millis(&r["scheduled_at"]))
            .filter(|t| *t > before)
            .collect();
        ticks.sort_unstable();
        ticks
    };
    assert!(
        wait_until(Duration::from_secs(10), || new_ticks(
            "catches_up",
            caught_before
        )
        .len()
            >= 2
            && new_ticks("every_second", skipped_before).len() >= 2),
        "{}",
        runner.log()
    );
    // `skip`: the first tick after the restart is the first one after the runner started.
    // `once`: one more, the latest tick missed before it started, one second earlier; none
    // of the other missed ticks.
    let first_skip = new_ticks("every_second", skipped_before)[0];
    let caught = new_ticks("catches_up", caught_before);
    let before_start: Vec<i64> = caught.iter().copied().filter(|t| *t < first_skip).collect();
    assert_eq!(
        before_start,
        [first_skip - 1000],
        "`once` did not run exactly the latest missed tick\n{}",
        runner.log()
    );
    assert!(
        first_skip - skipped_before > 4000,
        "the skip job ran missed ticks"
    );
    assert!(runner.log().contains("catching up"));
}

fn an_every_two_seconds_job_runs_each_tick_once_across_runners(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_JOB_EVERY_TWO_SECONDS_ENABLED", "true");
    let first = site.runner();
    let second = site.runner();
    std::thread::sleep(Duration::from_secs(11));
    drop((first, second));
    let ticks = ticks_of(&site, "every_two_seconds");
    assert!(ticks.len() >= 4, "{ticks:?}");
    for (tick, rows) in &ticks {
        assert_eq!(rows.len(), 1, "tick {tick} ran {} times", rows.len());
        assert_eq!(
            tick % 2000,
            0,
            "a rate tick is not on the epoch's 2 s grid: {tick}"
        );
    }
    let instants: Vec<i64> = ticks.keys().copied().collect();
    assert!(
        instants.windows(2).all(|w| w[1] - w[0] == 2000),
        "ticks were skipped: {instants:?}"
    );
}
