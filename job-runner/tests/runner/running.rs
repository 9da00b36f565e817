//! Enqueued tasks run, each exactly once, on one runner or shared by several; a queue's
//! concurrency limit holds across its jobs; `exec` runs one job once in its own process.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::Test;
use crate::support::{Backend, Site, millis, task_id, task_state, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    an_enqueued_job_runs_exactly_once,
    three_runners_share_a_thousand_jobs_each_run_once,
    queue_concurrency_limits_all_jobs_of_a_queue_and_runners_can_take_a_subset,
    exec_runs_one_job_once_with_its_exit_code_and_history,
];

fn an_enqueued_job_runs_exactly_once(backend: Backend) {
    let site = Site::new(backend);
    let runner = site.runner();
    let ids: Vec<i64> = (0..20)
        .map(|i| task_id(&site.trigger("echo", Some(&format!(r#"{{"text":"note {i:02}"}}"#)))))
        .collect();
    let done = wait_until(Duration::from_secs(20), || {
        site.history(&["--job", "echo", "--status", "succeeded"])
            .len()
            >= ids.len()
    });
    assert!(done, "the enqueued jobs did not all run:\n{}", runner.log());
    // Give a duplicate run every chance to show up.
    std::thread::sleep(Duration::from_millis(1000));
    let history = site.history(&["--job", "echo"]);
    for id in &ids {
        let rows: Vec<&Value> = history.iter().filter(|r| r["task_id"] == *id).collect();
        assert_eq!(rows.len(), 1, "task {id} ran {} times", rows.len());
        assert_eq!(rows[0]["status"], "succeeded");
        assert_eq!(rows[0]["trigger"], "manual");
        assert_eq!(rows[0]["attempt"], 1);
        assert_eq!(rows[0]["records_processed"], 7);
        for field in [
            "scheduled_at",
            "started_at",
            "finished_at",
            "duration_ms",
            "runner_id",
            "error",
        ] {
            assert!(rows[0].get(field).is_some(), "history rows have `{field}`");
        }
    }
    let (clean, log) = runner.terminate();
    assert!(clean, "the runner did not exit cleanly:\n{log}");
}

/// Per runner id, how many rows of `rows` it wrote.
fn spread(rows: &[Value]) -> BTreeMap<String, usize> {
    let mut per_runner = BTreeMap::new();
    for row in rows {
        *per_runner
            .entry(row["runner_id"].as_str().unwrap_or_default().to_owned())
            .or_default() += 1;
    }
    per_runner
}

fn three_runners_share_a_thousand_jobs_each_run_once(backend: Backend) {
    let site = Site::new(backend);
    let runners = [site.runner(), site.runner(), site.runner()];
    let ids = site.enqueue_many(
        "echo",
        (0..1000)
            .map(|i| serde_json::json!({ "text": format!("{i}") }))
            .collect(),
    );
    assert_eq!(ids.len(), 1000);
    let done = wait_until(Duration::from_secs(60), || {
        site.history(&["--job", "echo", "--status", "succeeded"])
            .len()
            >= 1000
    });
    assert!(done, "not every job ran:\n{}", runners[0].log());
    std::thread::sleep(Duration::from_millis(500));
    let history = site.history(&["--job", "echo"]);
    let mut per_task: BTreeMap<i64, usize> = BTreeMap::new();
    for row in &history {
        assert_eq!(row["status"], "succeeded");
        *per_task
            .entry(row["task_id"].as_i64().unwrap_or(0))
            .or_default() += 1;
    }
    assert_eq!(per_task.len(), 1000);
    assert!(per_task.values().all(|n| *n == 1), "some jobs ran twice");
    let per_runner = spread(&history);
    assert_eq!(
        per_runner.len(),
        3,
        "the work was not spread over the three runners: {per_runner:?}"
    );
    for runner in runners {
        let (clean, log) = runner.terminate();
        assert!(clean, "{log}");
    }
}

fn queue_concurrency_limits_all_jobs_of_a_queue_and_runners_can_take_a_subset(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_QUEUE_NARROW_CONCURRENCY", "2");
    let runner = site.runner_with(&["--queues", "narrow"]);
    let naps: Vec<Value> = (0..4)
        .map(|_| serde_json::json!({ "millis": 600 }))
        .collect();
    site.enqueue_many("narrow_a", naps.clone());
    site.enqueue_many("narrow_b", naps);
    let echo = task_id(&site.trigger("echo", Some(r#"{"text":"other queue"}"#)));
    let done = wait_until(Duration::from_secs(20), || {
        site.history(&["--status", "succeeded"])
            .iter()
            .filter(|r| r["job"] != "echo")
            .count()
            >= 8
    });
    assert!(done, "{}", runner.log());
    let history = site.history(&["--status", "succeeded"]);
    let mut edges: Vec<(i64, i32)> = Vec::new();
    for row in history.iter().filter(|r| r["job"] != "echo") {
        edges.push((millis(&row["started_at"]), 1));
        edges.push((millis(&row["finished_at"]), -1));
    }
    edges.sort();
    let (mut running, mut most) = (0, 0);
    for (_, delta) in edges {
        running += delta;
        most = most.max(running);
    }
    assert_eq!(
        most, 2,
        "the queue's limit of 2 was not respected (or never reached)"
    );
    assert_eq!(
        task_state(&site, echo),
        "pending",
        "a runner for `narrow` ran a `default` task"
    );
}

fn exec_runs_one_job_once_with_its_exit_code_and_history(backend: Backend) {
    let site = Site::new(backend);
    let output = site.cli(&["exec", "echo", "--args", r#"{"text":"once"}"#]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let rows = site.history(&["--job", "echo"]);
    assert_eq!(rows.len(), 1);
    assert_eq!(
        (rows[0]["trigger"].as_str(), rows[0]["status"].as_str()),
        (Some("exec"), Some("succeeded"))
    );
    assert_eq!(rows[0]["records_processed"], 4);

    let output = site.cli(&["exec", "always_fails"]);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("job `always_fails` failed") && stderr.contains("destination unreachable"),
        "{stderr}"
    );
    let rows = site.history(&["--job", "always_fails"]);
    assert_eq!(rows.len(), 1, "one attempt, one row");
    assert_eq!(
        (rows[0]["trigger"].as_str(), rows[0]["status"].as_str()),
        (Some("exec"), Some("dead"))
    );

    let output = site.cli(&["exec", "echo", "--args", r#"{"txt":"x"}"#]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("missing field `text`"));
    assert_eq!(
        site.history(&["--job", "echo"]).len(),
        1,
        "a refused exec left a row"
    );
    let help = site.ok(&["exec", "--help"]);
    assert!(
        help.contains("kind: CronJob") && help.contains("0 0 * * *"),
        "{help}"
    );
}
