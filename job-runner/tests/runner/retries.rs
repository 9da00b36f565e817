//! Failures, panics and timeouts: recorded, retried with growing delays, then dead and
//! retried by hand; the worker goes on.

use std::time::Duration;

use serde_json::Value;

use crate::Test;
use crate::support::{
    Backend, Site, millis, rows_of_task, statuses, task_id, task_state, wait_until,
};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    failures_retry_with_growing_delays_then_die_and_retry_by_hand,
    panics_and_timeouts_are_recorded_and_retried_and_the_worker_goes_on,
    an_error_the_database_would_refuse_is_recorded_and_holds_up_nothing,
];

fn failures_retry_with_growing_delays_then_die_and_retry_by_hand(backend: Backend) {
    let site = Site::new(backend);
    let runner = site.runner();
    let id = task_id(&site.trigger("always_fails", None));
    let dead = wait_until(Duration::from_secs(30), || task_state(&site, id) == "dead");
    assert!(dead, "the task did not end dead:\n{}", runner.log());
    let rows = rows_of_task(&site, id);
    assert_eq!(
        statuses(&rows),
        ["failed", "failed", "failed", "dead"],
        "{rows:#?}"
    );
    assert_eq!(
        rows.iter()
            .map(|r| r["attempt"].as_i64().unwrap_or(0))
            .collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert!(
        rows[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("destination unreachable")
    );
    assert!(
        rows[3]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("no retry left")
    );
    // Backoff 400ms doubling, ±10%: the gaps between attempts grow and respect the floor.
    let gaps: Vec<i64> = rows
        .windows(2)
        .map(|w| millis(&w[1]["started_at"]) - millis(&w[0]["finished_at"]))
        .collect();
    for (i, gap) in gaps.iter().enumerate() {
        let base = 400 * (1 << i);
        assert!(
            *gap >= base * 9 / 10,
            "retry {} came after {gap}ms, before its backoff of ~{base}ms",
            i + 1
        );
    }
    assert!(
        gaps.windows(2).all(|w| w[0] < w[1]),
        "delays do not grow: {gaps:?}"
    );

    // Retried by hand: it runs again with a fresh set of attempts, numbered on.
    site.ok(&["retry", &id.to_string()]);
    let again = wait_until(Duration::from_secs(10), || {
        rows_of_task(&site, id).len() >= 5
    });
    assert!(again, "the retried task did not run:\n{}", runner.log());
    let rows = rows_of_task(&site, id);
    assert_eq!(rows[4]["attempt"], 5);
    assert_eq!(rows[4]["status"], "failed");
}

fn panics_and_timeouts_are_recorded_and_retried_and_the_worker_goes_on(backend: Backend) {
    let site = Site::new(backend);
    let runner = site.runner();
    let panics = task_id(&site.trigger("panics", None));
    let hangs = task_id(&site.trigger("hangs", None));
    let finished = wait_until(Duration::from_secs(20), || {
        task_state(&site, panics) == "dead" && task_state(&site, hangs) == "dead"
    });
    assert!(finished, "the tasks did not end:\n{}", runner.log());

    let rows = rows_of_task(&site, panics);
    assert_eq!(statuses(&rows), ["panicked", "dead"]);
    let error = rows[0]["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("panicked: index out of bounds"),
        "{error}"
    );
    let rows = rows_of_task(&site, hangs);
    assert_eq!(statuses(&rows), ["timed_out", "dead"]);
    assert_eq!(rows[0]["error"], "timed out after 300ms");
    assert!(rows[0]["duration_ms"].as_i64().unwrap_or(0) < 5000);

    // apalis bugs 1 and 2: a timeout or a panic never leaves a task running.
    let running: Vec<Value> =
        serde_json::from_str(&site.ok(&["tasks", "--state", "running", "--json"]))
            .unwrap_or_default();
    assert!(running.is_empty(), "tasks left running: {running:?}");

    // The workers keep working.
    let echo = task_id(&site.trigger("echo", Some(r#"{"text":"still here"}"#)));
    let ran = wait_until(Duration::from_secs(10), || {
        statuses(&rows_of_task(&site, echo)) == ["succeeded"]
    });
    assert!(
        ran,
        "the worker stopped after a panic or a timeout:\n{}",
        runner.log()
    );
}

/// A job's error holds a NUL character, which PostgreSQL refuses in text: the failed
/// attempts are recorded all the same (the NUL replaced), and the runner's other jobs run.
fn an_error_the_database_would_refuse_is_recorded_and_holds_up_nothing(backend: Backend) {
    let site = Site::new(backend);
    let runner = site.runner();
    let bad = task_id(&site.trigger("fails_with", Some(r#"{"text":"cannot open a\u0000b.pdf"}"#)));
    let done = wait_until(Duration::from_secs(15), || task_state(&site, bad) == "dead");
    assert!(done, "{}", runner.log());
    let rows = rows_of_task(&site, bad);
    assert_eq!(statuses(&rows), ["failed", "dead"], "{rows:#?}");
    assert!(
        rows.iter().all(|r| r["error"]
            .as_str()
            .unwrap_or_default()
            .starts_with("cannot open a\u{FFFD}b.pdf")),
        "{rows:#?}"
    );
    let next = task_id(&site.trigger("echo", Some(r#"{"text":"after"}"#)));
    let ran = wait_until(Duration::from_secs(10), || {
        task_state(&site, next) == "succeeded"
    });
    assert!(
        ran,
        "a job triggered afterwards did not run:\n{}",
        runner.log()
    );
}
