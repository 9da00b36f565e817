//! Schedules added at run time: they tick once across runners and follow changes; refusals
//! are clear and store nothing.

use std::time::Duration;

use serde_json::Value;

use crate::Test;
use job_runner::storage::ScheduleRow;

use crate::support::{Backend, Site, ticks_of, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    a_schedule_added_at_run_time_ticks_once_across_runners_and_follows_changes,
    schedule_refusals_are_clear_and_store_nothing,
    a_schedule_removed_from_the_code_stops_at_the_next_start,
    a_stored_schedule_whose_arguments_no_longer_fit_is_skipped_and_reported,
];

/// Stores `row` as it is, without the checks of `schedules add` (as a schedule that an
/// older deploy stored, before the code changed).
fn store_schedule_as_is(site: &Site, row: ScheduleRow) {
    site.with_jobs(async |jobs| jobs.store().insert_schedule(&row).await)
        .expect("store the schedule");
}

fn every_second(id: &str, job: &str, args: Value, in_code: bool) -> ScheduleRow {
    let now = chrono::Utc::now();
    ScheduleRow {
        id: id.into(),
        job: job.into(),
        cron: Some("* * * * * *".into()),
        every_ms: None,
        timezone: "UTC".into(),
        args,
        enabled: true,
        catch_up: "skip".into(),
        in_code,
        created_at: now,
        updated_at: now,
    }
}

fn schedules(site: &Site) -> Vec<Value> {
    serde_json::from_str(&site.ok(&["schedules", "list", "--json"])).expect("schedules as JSON")
}

fn a_schedule_added_at_run_time_ticks_once_across_runners_and_follows_changes(backend: Backend) {
    let site = Site::new(backend);
    let first = site.runner();
    let second = site.runner();
    site.ok(&[
        "schedules",
        "add",
        "notes",
        "--job",
        "echo",
        "--cron",
        "* * * * * *",
        "--args",
        r#"{"text":"abc"}"#,
    ]);
    assert!(
        wait_until(Duration::from_secs(10), || ticks_of(&site, "echo").len()
            >= 4),
        "{}",
        first.log()
    );
    let listed = schedules(&site);
    let notes = listed.iter().find(|s| s["id"] == "notes").expect("listed");
    assert_eq!(notes["in_code"], false);
    assert!(
        notes["next_run"].is_string() && notes["last_run"].is_string(),
        "{notes}"
    );

    site.ok(&["schedules", "set", "notes", "--cron", "*/3 * * * * *"]);
    let changed_at = chrono::Utc::now().timestamp_millis();
    std::thread::sleep(Duration::from_secs(8));
    site.ok(&["schedules", "remove", "notes"]);
    let removed_at = chrono::Utc::now().timestamp_millis();
    std::thread::sleep(Duration::from_secs(3));

    let ticks = ticks_of(&site, "echo");
    for (tick, rows) in &ticks {
        assert_eq!(rows.len(), 1, "tick {tick} ran {} times", rows.len());
        assert_eq!(
            rows[0]["records_processed"], 3,
            "the schedule's arguments reached the job"
        );
    }
    // After the change (give the runners their poll interval to see it): every third second.
    let after: Vec<i64> = ticks
        .keys()
        .copied()
        .filter(|t| *t > changed_at + 1500)
        .collect();
    assert!(after.len() >= 2, "{after:?}");
    assert!(
        after.iter().all(|t| (t / 1000) % 3 == 0),
        "ticks after the change are not on */3: {after:?}"
    );
    assert!(
        ticks.keys().all(|t| *t <= removed_at + 1500),
        "a removed schedule kept ticking"
    );
    assert!(!schedules(&site).iter().any(|s| s["id"] == "notes"));
    assert!(
        !site.history(&["--job", "echo"]).is_empty(),
        "the history of a removed schedule stays"
    );
    drop((first, second));
}

fn schedule_refusals_are_clear_and_store_nothing(backend: Backend) {
    let site = Site::new(backend);
    site.ok(&["migrate"]);
    // The runner writes the schedules defined in code at start.
    drop(site.runner());
    site.ok(&[
        "schedules",
        "add",
        "kept",
        "--job",
        "echo",
        "--every",
        "1h",
        "--args",
        r#"{"text":"x"}"#,
    ]);
    let before = schedules(&site);
    assert!(
        before
            .iter()
            .any(|s| s["id"] == "every_second" && s["in_code"] == true),
        "{before:?}"
    );
    for (args, expected) in [
        (
            vec!["schedules", "add", "a", "--job", "nope", "--every", "1h"],
            "no job named `nope`",
        ),
        (
            vec![
                "schedules",
                "add",
                "kept",
                "--job",
                "echo",
                "--every",
                "1h",
                "--args",
                r#"{"text":"y"}"#,
            ],
            "exists already",
        ),
        (
            vec![
                "schedules",
                "add",
                "b",
                "--job",
                "echo",
                "--cron",
                "0 25 * * *",
                "--args",
                r#"{"text":"y"}"#,
            ],
            "invalid hour field `25`",
        ),
        (
            vec![
                "schedules",
                "add",
                "b",
                "--job",
                "echo",
                "--cron",
                "0 1 * * *",
                "--timezone",
                "Mars/Base",
                "--args",
                r#"{"text":"y"}"#,
            ],
            "unknown time zone `Mars/Base`",
        ),
        (
            vec![
                "schedules",
                "add",
                "b",
                "--job",
                "echo",
                "--every",
                "1h",
                "--args",
                r#"{"txt":"y"}"#,
            ],
            "takes `runner::jobs::Note`",
        ),
        (
            vec![
                "schedules",
                "add",
                "b",
                "--job",
                "every_second",
                "--every",
                "1h",
                "--args",
                r#"{"a":1}"#,
            ],
            "scheduled in code, so it takes no arguments",
        ),
        (
            vec![
                "schedules",
                "add",
                "b",
                "--job",
                "echo",
                "--args",
                r#"{"text":"y"}"#,
            ],
            "give a cron expression",
        ),
        (
            vec![
                "schedules",
                "add",
                "b",
                "--job",
                "echo",
                "--every",
                "100ms",
                "--args",
                r#"{"text":"y"}"#,
            ],
            "too short",
        ),
        (
            vec![
                "schedules",
                "add",
                "b c",
                "--job",
                "echo",
                "--every",
                "1h",
                "--args",
                r#"{"text":"y"}"#,
            ],
            "invalid schedule id",
        ),
        (
            vec![
                "schedules",
                "add",
                "b",
                "--job",
                "echo",
                "--cron",
                "* * * * *",
                "--every",
                "1h",
            ],
            "cannot be used with",
        ),
        (
            vec!["schedules", "set", "every_second", "--cron", "0 * * * *"],
            "defined in code",
        ),
        (
            vec!["schedules", "remove", "every_second"],
            "defined in code",
        ),
        (
            vec!["schedules", "remove", "ghost"],
            "no schedule has id `ghost`",
        ),
        (
            vec!["schedules", "set", "kept", "--args", "{oops"],
            "not valid JSON",
        ),
    ] {
        let output = site.cli(&args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} was accepted");
        assert!(
            stderr.contains(expected),
            "{args:?}: expected `{expected}` in:\n{stderr}"
        );
    }
    let strip = |list: Vec<Value>| -> Vec<Value> {
        list.into_iter()
            .map(|mut s| {
                if let Some(o) = s.as_object_mut() {
                    o.remove("next_run");
                }
                s
            })
            .collect()
    };
    assert_eq!(
        strip(schedules(&site)),
        strip(before),
        "a refusal changed the stored schedules"
    );
    // A schedule defined in code can be paused and resumed.
    site.ok(&["schedules", "pause", "every_second"]);
    assert!(
        schedules(&site)
            .iter()
            .any(|s| s["id"] == "every_second" && s["enabled"] == false)
    );
    site.ok(&["schedules", "resume", "every_second"]);
}

/// `#[job(cron = ...)]` deleted from a job: the schedule that an older deploy stored for it
/// is removed at the next start (its history stays), and it fires no more.
fn a_schedule_removed_from_the_code_stops_at_the_next_start(backend: Backend) {
    let site = Site::new(backend);
    site.ok(&["migrate"]);
    // `always_fails` has no schedule in this build; an older one had `* * * * * *`.
    store_schedule_as_is(
        &site,
        every_second("always_fails", "always_fails", Value::Null, true),
    );
    let check = site.cli(&["check"]);
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success(), "{report}");
    assert!(report.contains("the code no longer defines it"), "{report}");
    let runner = site.runner();
    runner.wait_for_log("gone from the code", Duration::from_secs(5));
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        schedules(&site).iter().all(|s| s["id"] != "always_fails"),
        "{:#?}",
        schedules(&site)
    );
    assert!(
        site.history(&["--job", "always_fails"]).is_empty(),
        "the removed schedule fired:\n{}",
        runner.log()
    );
}

/// A stored schedule's arguments no longer fit its job (its type changed in a deploy): its
/// ticks are skipped with one warning, not retried in a loop, and `check` reports it.
fn a_stored_schedule_whose_arguments_no_longer_fit_is_skipped_and_reported(backend: Backend) {
    let site = Site::new(backend);
    site.ok(&["migrate"]);
    store_schedule_as_is(
        &site,
        every_second(
            "notes",
            "echo",
            serde_json::json!({"body": "was text"}),
            false,
        ),
    );
    let check = site.cli(&["check"]);
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(!check.status.success(), "{report}");
    assert!(
        report.contains("schedule `notes` passes arguments that no longer fit"),
        "{report}"
    );
    let runner = site.runner();
    std::thread::sleep(Duration::from_secs(3));
    let log = runner.log();
    // A warning per reload of the schedules (at start; on PostgreSQL also when its listener
    // connects, and at every schedule change announced in the database, other tests' too),
    // not one per pass of a loop that does not sleep (thousands in 3 s).
    let warnings = log.matches("arguments no longer fit").count();
    assert!((1..=30).contains(&warnings), "{warnings} warnings:\n{log}");
    assert!(!log.contains("cannot take a tick"), "{log}");
    assert!(site.history(&["--job", "echo"]).is_empty());
}
