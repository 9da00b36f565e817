//! Controls from the command line: pause and resume, cancel, and refusals of bad input that
//! change nothing.

use std::time::Duration;

use serde_json::Value;

use crate::Test;
use crate::support::{Backend, Site, rows_of_task, statuses, task_id, task_state, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    pause_and_resume_act_across_processes,
    a_cancelled_task_never_runs,
    bad_input_is_refused_clearly_and_changes_nothing,
];

fn pause_and_resume_act_across_processes(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_JOB_EVERY_SECOND_ENABLED", "true");
    let runner = site.runner();
    let count = || site.history(&["--job", "every_second"]).len();
    assert!(
        wait_until(Duration::from_secs(10), || count() >= 2),
        "{}",
        runner.log()
    );

    let out = site.ok(&["pause", "every_second"]);
    assert!(out.contains("paused"), "{out}");
    // A tick already taken may still finish; after that, nothing.
    std::thread::sleep(Duration::from_millis(1500));
    let paused_at = count();
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(count(), paused_at, "a paused cron job kept running");
    let listed = site.ok(&["list", "--json"]);
    let jobs: Vec<Value> = serde_json::from_str(&listed).expect("list as JSON");
    let job = jobs
        .iter()
        .find(|j| j["name"] == "every_second")
        .expect("listed");
    assert_eq!(job["paused"], true);

    // A paused job's tasks are held, not lost.
    let held = task_id(&site.trigger("every_second", None));
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(task_state(&site, held), "pending");

    site.ok(&["resume", "every_second"]);
    assert!(
        wait_until(Duration::from_secs(5), || count() > paused_at + 2),
        "resume did not bring the runs back:\n{}",
        runner.log()
    );
    assert!(wait_until(Duration::from_secs(5), || task_state(
        &site, held
    ) == "succeeded"));
}

fn a_cancelled_task_never_runs(backend: Backend) {
    let site = Site::new(backend);
    site.ok(&["migrate"]);
    let id = task_id(&site.trigger("echo", Some(r#"{"text":"never"}"#)));
    let out = site.ok(&["cancel", &id.to_string()]);
    assert!(out.contains("cancelled"), "{out}");
    let runner = site.runner();
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(statuses(&rows_of_task(&site, id)), ["cancelled"]);
    assert_eq!(task_state(&site, id), "cancelled");
    let output = site.cli(&["cancel", &id.to_string()]);
    assert!(
        String::from_utf8_lossy(&output.stderr)
            .contains("only pending or running tasks can be cancelled")
    );
    drop(runner);
}

fn bad_input_is_refused_clearly_and_changes_nothing(backend: Backend) {
    let site = Site::new(backend);
    site.ok(&["migrate"]);
    let done = task_id(&site.trigger("echo", Some(r#"{"text":"x"}"#)));
    let before = site.ok(&["tasks", "--json"]);
    let refused = |args: &[&str], expected: &str| {
        let output = site.cli(args);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "`{}` was accepted",
            args.join(" ")
        );
        assert!(
            stderr.contains(expected),
            "`{}`: expected `{expected}` in:\n{stderr}",
            args.join(" ")
        );
    };
    refused(&["trigger", "nope"], "no job named `nope` is registered");
    refused(
        &["trigger", "echo", "--args", "{bad"],
        "--args is not valid JSON",
    );
    refused(
        &["trigger", "echo", "--args", r#"{"txt":"x"}"#],
        "takes `runner::jobs::Note`",
    );
    refused(
        &["trigger", "echo", "--args", r#"{"txt":"x"}"#],
        "missing field `text`",
    );
    refused(&["trigger", "echo"], "invalid type: null");
    refused(
        &["trigger", "every_second", "--args", r#"{"a":1}"#],
        "takes no arguments",
    );
    refused(&["retry", "999"], "no task has id 999");
    refused(&["cancel", "999"], "no task has id 999");
    refused(&["pause", "nope"], "no job named `nope`");
    refused(
        &["history", "--status", "broken"],
        "unknown status `broken`",
    );
    refused(
        &["history", "--since", "yesterday"],
        "neither an RFC 3339 instant",
    );
    refused(
        &["retry", &done.to_string()],
        "only dead or cancelled tasks can be retried",
    );
    refused(&["schedule", "0 25 * * *"], "invalid hour field `25`");
    refused(
        &["schedule", "0 0 * * *", "--timezone", "Mars/Base"],
        "unknown time zone `Mars/Base`",
    );
    assert_eq!(
        site.ok(&["tasks", "--json"]),
        before,
        "a refused command changed the stored tasks"
    );

    let other = Site::new(backend);
    let output = other.cli(&["list"]);
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("job-runner migrate"));
}
