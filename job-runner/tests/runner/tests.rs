//! The tests. Each starts real runner processes on a database of its own, on every backend
//! that is reachable.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use Runs::{Alone, Each, Only};

use crate::support::{Backend, Site, millis, wait_for_file, wait_until};

/// Which backends a test runs on.
pub enum Runs {
    /// Every reachable backend.
    Each,
    /// One backend.
    Only(Backend),
    /// One backend, with no other test running (it restarts the server).
    Alone(Backend),
}

/// A test: it runs against the backend it is given.
pub type Test = fn(Backend);

pub const ALL: &[(&str, Test, Runs)] = &[
    (
        "an_enqueued_job_runs_exactly_once",
        an_enqueued_job_runs_exactly_once,
        Each,
    ),
    (
        "failures_retry_with_growing_delays_then_die_and_retry_by_hand",
        failures_retry_with_growing_delays_then_die_and_retry_by_hand,
        Each,
    ),
    (
        "panics_and_timeouts_are_recorded_and_retried_and_the_worker_goes_on",
        panics_and_timeouts_are_recorded_and_retried_and_the_worker_goes_on,
        Each,
    ),
    (
        "two_runners_run_each_cron_tick_exactly_once",
        two_runners_run_each_cron_tick_exactly_once,
        Each,
    ),
    (
        "sigterm_lets_the_running_attempt_finish",
        sigterm_lets_the_running_attempt_finish,
        Each,
    ),
    (
        "sigkill_mid_job_the_next_runner_runs_it_again",
        sigkill_mid_job_the_next_runner_runs_it_again,
        Each,
    ),
    (
        "a_lost_last_attempt_ends_dead_not_retried_forever",
        a_lost_last_attempt_ends_dead_not_retried_forever,
        Each,
    ),
    (
        "pause_and_resume_act_across_processes",
        pause_and_resume_act_across_processes,
        Each,
    ),
    (
        "unique_cron_runs_never_overlap",
        unique_cron_runs_never_overlap,
        Each,
    ),
    (
        "bad_input_is_refused_clearly_and_changes_nothing",
        bad_input_is_refused_clearly_and_changes_nothing,
        Each,
    ),
    (
        "a_cancelled_task_never_runs",
        a_cancelled_task_never_runs,
        Each,
    ),
    (
        "configuration_disables_jobs_without_a_rebuild",
        configuration_disables_jobs_without_a_rebuild,
        Each,
    ),
    (
        "start_up_reports_stored_tasks_of_unknown_jobs",
        start_up_reports_stored_tasks_of_unknown_jobs,
        Each,
    ),
    (
        "the_binary_runs_the_examples_and_lists_them",
        the_binary_runs_the_examples_and_lists_them,
        Only(Backend::Sqlite),
    ),
    (
        "three_runners_share_a_thousand_jobs_each_run_once",
        three_runners_share_a_thousand_jobs_each_run_once,
        Each,
    ),
    (
        "three_runners_one_killed_every_tick_runs_once",
        three_runners_one_killed_every_tick_runs_once,
        Each,
    ),
    (
        "a_runner_cut_off_loses_its_claims_to_another",
        a_runner_cut_off_loses_its_claims_to_another,
        Each,
    ),
    (
        "a_database_restart_does_not_end_the_runners",
        a_database_restart_does_not_end_the_runners,
        Alone(Backend::Postgres),
    ),
    (
        "missed_ticks_are_skipped_or_caught_up_once_by_policy",
        missed_ticks_are_skipped_or_caught_up_once_by_policy,
        Each,
    ),
    (
        "queue_concurrency_limits_all_jobs_of_a_queue_and_runners_can_take_a_subset",
        queue_concurrency_limits_all_jobs_of_a_queue_and_runners_can_take_a_subset,
        Each,
    ),
    (
        "every_admin_route_refuses_a_missing_or_wrong_token",
        every_admin_route_refuses_a_missing_or_wrong_token,
        Each,
    ),
    (
        "the_admin_api_triggers_pauses_retries_and_counts",
        the_admin_api_triggers_pauses_retries_and_counts,
        Each,
    ),
    (
        "bad_admin_input_gets_a_clear_4xx_and_changes_nothing",
        bad_admin_input_gets_a_clear_4xx_and_changes_nothing,
        Each,
    ),
    (
        "the_dashboard_logs_in_to_a_session_cookie_and_out",
        the_dashboard_logs_in_to_a_session_cookie_and_out,
        Only(Backend::Sqlite),
    ),
    (
        "a_public_admin_address_needs_a_configured_token",
        a_public_admin_address_needs_a_configured_token,
        Each,
    ),
    (
        "check_reports_what_would_fail_after_a_deploy",
        check_reports_what_would_fail_after_a_deploy,
        Each,
    ),
    (
        "every_command_reads_the_queue_variables_as_run_does",
        every_command_reads_the_queue_variables_as_run_does,
        Each,
    ),
    (
        "a_schedule_added_at_run_time_ticks_once_across_runners_and_follows_changes",
        a_schedule_added_at_run_time_ticks_once_across_runners_and_follows_changes,
        Each,
    ),
    (
        "schedule_refusals_are_clear_and_store_nothing",
        schedule_refusals_are_clear_and_store_nothing,
        Each,
    ),
    (
        "an_every_two_seconds_job_runs_each_tick_once_across_runners",
        an_every_two_seconds_job_runs_each_tick_once_across_runners,
        Each,
    ),
    (
        "exec_runs_one_job_once_with_its_exit_code_and_history",
        exec_runs_one_job_once_with_its_exit_code_and_history,
        Each,
    ),
    (
        "files_in_a_watched_folder_each_start_their_job_once",
        files_in_a_watched_folder_each_start_their_job_once,
        Each,
    ),
    (
        "a_webhook_notification_sent_twice_runs_its_job_once",
        a_webhook_notification_sent_twice_runs_its_job_once,
        Each,
    ),
    (
        "a_job_bound_to_a_missing_source_stops_the_runner_at_start",
        a_job_bound_to_a_missing_source_stops_the_runner_at_start,
        Each,
    ),
    (
        "a_chain_runs_its_steps_in_order_passing_each_output_on",
        a_chain_runs_its_steps_in_order_passing_each_output_on,
        Each,
    ),
    (
        "a_failing_middle_step_stops_the_chain_where_it_failed",
        a_failing_middle_step_stops_the_chain_where_it_failed,
        Each,
    ),
    (
        "sigkill_between_steps_neither_loses_nor_repeats_a_step",
        sigkill_between_steps_neither_loses_nor_repeats_a_step,
        Each,
    ),
];

fn task_id(task: &Value) -> i64 {
    task["id"].as_i64().expect("a task id")
}

fn rows_of_task(site: &Site, id: i64) -> Vec<Value> {
    let mut rows = site.history(&["--task", &id.to_string()]);
    rows.sort_by_key(|r| r["id"].as_i64());
    rows
}

fn statuses(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|r| r["status"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn task_state(site: &Site, id: i64) -> String {
    let tasks: Vec<Value> =
        serde_json::from_str(&site.ok(&["tasks", "--json", "--limit", "10000"]))
            .expect("tasks as JSON");
    tasks
        .iter()
        .find(|t| t["id"] == id)
        .map(|t| t["state"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

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

fn sigterm_lets_the_running_attempt_finish(backend: Backend) {
    let site = Site::new(backend);
    let runner = site.runner();
    let id = task_id(&site.trigger("slow", Some(r#"{"millis":1500,"marker":"term"}"#)));
    assert!(
        wait_for_file(&site.path("term.started.1"), Duration::from_secs(10)),
        "{}",
        runner.log()
    );
    let (clean, log) = runner.terminate();
    assert!(clean, "the runner did not exit cleanly:\n{log}");
    assert!(
        site.path("term.done").exists(),
        "the attempt was cut short:\n{log}"
    );
    assert_eq!(statuses(&rows_of_task(&site, id)), ["succeeded"]);
    assert_eq!(task_state(&site, id), "succeeded");
}

fn sigkill_mid_job_the_next_runner_runs_it_again(backend: Backend) {
    let site = Site::new(backend);
    let first = site.runner();
    let id = task_id(&site.trigger("slow", Some(r#"{"millis":2000,"marker":"kill"}"#)));
    assert!(
        wait_for_file(&site.path("kill.started.1"), Duration::from_secs(10)),
        "{}",
        first.log()
    );
    first.kill();
    assert!(!site.path("kill.done").exists());
    let second = site.runner();
    // The lease is 2 s in these tests: the claim is recovered within a few seconds.
    assert!(
        wait_for_file(&site.path("kill.done"), Duration::from_secs(15)),
        "{}",
        second.log()
    );
    assert!(
        site.path("kill.started.2").exists(),
        "the re-run was not attempt 2"
    );
    let ok = wait_until(Duration::from_secs(5), || {
        task_state(&site, id) == "succeeded"
    });
    assert!(ok, "{}", second.log());
    let rows = rows_of_task(&site, id);
    assert_eq!(statuses(&rows), ["failed", "succeeded"], "{rows:#?}");
    assert!(
        rows[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("stopped heartbeating"),
        "{rows:#?}"
    );
    assert_eq!(rows[1]["attempt"], 2);
}

/// apalis bug 5: its recovery of dead workers' tasks ignores `max_attempts`.
fn a_lost_last_attempt_ends_dead_not_retried_forever(backend: Backend) {
    let site = Site::new(backend);
    site.ok(&["migrate"]);
    let first = site.runner();
    // `slow` allows 3 attempts; every one of them is lost to a SIGKILL.
    let id = task_id(&site.trigger("slow", Some(r#"{"millis":60000,"marker":"lost"}"#)));
    let mut runner = first;
    for attempt in 1..=3 {
        let marker = site.path(&format!("lost.started.{attempt}"));
        assert!(
            wait_for_file(&marker, Duration::from_secs(15)),
            "attempt {attempt} did not start:\n{}",
            runner.log()
        );
        runner.kill();
        runner = site.runner();
    }
    let dead = wait_until(Duration::from_secs(15), || task_state(&site, id) == "dead");
    assert!(dead, "the task was not declared dead:\n{}", runner.log());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !site.path("lost.started.4").exists(),
        "a fourth attempt ran"
    );
    let rows = rows_of_task(&site, id);
    assert_eq!(statuses(&rows), ["failed", "failed", "dead"], "{rows:#?}");
}

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
        String::from_utf8_lossy(&output.stderr).contains("only pending tasks can be cancelled")
    );
    drop(runner);
}

fn configuration_disables_jobs_without_a_rebuild(backend: Backend) {
    let mut site = Site::new(backend);
    std::fs::write(site.path("jobs.toml"), "[jobs.echo]\nenabled = false\n")
        .expect("write jobs.toml");
    let runner = site.runner();
    let id = task_id(&site.trigger("echo", Some(r#"{"text":"held"}"#)));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(task_state(&site, id), "pending", "a disabled job ran");
    assert!(runner.log().contains("disabled"));
    drop(runner);

    std::fs::write(site.path("jobs.toml"), "[jobs.ecoh]\nenabled = false\n")
        .expect("write jobs.toml");
    let output = site.cli(&["run"]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("no job named `ecoh` is registered"),
        "{stderr}"
    );

    std::fs::remove_file(site.path("jobs.toml")).expect("remove jobs.toml");
    site.env("JOBS_ENABLED", "false");
    let output = site.cli(&["run"]);
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("starting nothing"));
}

/// Stores a task without any check, as an older version of the application might have.
fn store_raw_task(site: &Site, job: &str, args: &str) {
    crate::support::block_on(async {
        let store = job_runner::storage::Store::connect(&site.database_url, &Default::default())
            .await
            .expect("open the database");
        let now = chrono::Utc::now();
        let task = job_runner::storage::NewTask {
            job: job.into(),
            queue: "default".into(),
            args: args.into(),
            priority: 0,
            run_at: now,
            scheduled_at: now,
            max_attempts: 1,
            trigger: job_core::Trigger::Enqueue,
            unique_key: None,
            exclusive: false,
        };
        store
            .insert_tasks(&[task], now)
            .await
            .expect("store a task");
        store.close().await;
    });
}

fn start_up_reports_stored_tasks_of_unknown_jobs(backend: Backend) {
    let site = Site::new(backend);
    site.ok(&["migrate"]);
    store_raw_task(&site, "renamed_job", "null");
    let runner = site.runner();
    runner.wait_for_log("no registered job has that name", Duration::from_secs(5));
    assert!(runner.log().contains("renamed_job"));
}

fn the_binary_runs_the_examples_and_lists_them(_: Backend) {
    let dir = tempfile::tempdir().expect("a folder");
    let binary = env!("CARGO_BIN_EXE_job-runner");
    let command = |args: &[&str]| {
        let mut command = std::process::Command::new(binary);
        command
            .args(args)
            .current_dir(dir.path())
            .env_remove("JOBS_DATABASE_URL")
            .env("JOBS_ADMIN_ADDR", "off")
            .env("NO_COLOR", "1");
        command
    };
    let mut child = command(&[])
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start job-runner");
    let started = wait_until(Duration::from_secs(20), || {
        dir.path().join("jobs.db").exists()
    });
    assert!(started, "no jobs.db was created");
    let listed = wait_until(Duration::from_secs(20), || {
        command(&["list"])
            .output()
            .map(|o| {
                let out = String::from_utf8_lossy(&o.stdout);
                [
                    "expire_keys",
                    "cleanup_expired_sessions",
                    "cleanup_expired_refresh_tokens",
                    "cleanup_expired_challenges",
                    "cleanup_expired_device_codes",
                    "transfer_document",
                    "ingest_document",
                    "index_document",
                    "*/5 * * * *",
                ]
                .iter()
                .all(|needle| out.contains(needle))
            })
            .unwrap_or(false)
    });

    // The event-driven transfer: a document dropped in the inbox is copied, verified, then
    // indexed by the next step of the chain.
    let inbox = dir.path().join("transfers/inbox");
    assert!(
        wait_until(Duration::from_secs(10), || inbox.exists()),
        "no inbox"
    );
    std::fs::write(inbox.join("report.txt"), "quarterly figures\n").expect("drop a document");
    let copy = dir.path().join("transfers/outbox/report.txt");
    let indexed = wait_until(Duration::from_secs(20), || {
        command(&["history", "--job", "index_document", "--json"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).contains("succeeded"))
            .unwrap_or(false)
    });
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
    let status = child.wait().expect("wait for job-runner");
    assert!(listed, "`job-runner list` does not show the example jobs");
    assert!(
        status.success(),
        "job-runner did not exit cleanly on SIGTERM"
    );
    assert!(indexed, "the dropped document was not indexed");
    assert_eq!(
        std::fs::read_to_string(&copy).expect("the copy"),
        "quarterly figures\n"
    );
    // FNV-1a 64, as the example computes it; read back from the example's own table.
    let expected = format!(
        "{:016x}",
        std::fs::read(&copy)
            .expect("the copy")
            .iter()
            .fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
    );
    let recorded: Option<String> = crate::support::block_on(async {
        use sqlx::Connection;
        let url = format!("sqlite://{}", dir.path().join("examples.db").display());
        let mut db = sqlx::SqliteConnection::connect(&url)
            .await
            .expect("the examples' database");
        sqlx::query_scalar("SELECT checksum FROM document_index WHERE name = 'report.txt'")
            .fetch_optional(&mut db)
            .await
            .expect("the index")
    });
    assert_eq!(
        recorded,
        Some(expected),
        "the index holds the copy's checksum"
    );
    let history: Vec<Value> = serde_json::from_slice(
        &command(&["history", "--json"])
            .output()
            .expect("history")
            .stdout,
    )
    .expect("JSON");
    let chain: Vec<(&str, i64)> = history
        .iter()
        .filter(|r| r["chain_id"].is_i64())
        .filter_map(|r| Some((r["job"].as_str()?, r["chain_step"].as_i64()?)))
        .collect();
    assert!(
        chain.contains(&("ingest_document", 1)) && chain.contains(&("index_document", 2)),
        "{chain:?}"
    );
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

fn a_runner_cut_off_loses_its_claims_to_another(backend: Backend) {
    let site = Site::new(backend);
    let first = site.runner();
    let id = task_id(&site.trigger("slow", Some(r#"{"millis":3000,"marker":"cut"}"#)));
    assert!(
        wait_for_file(&site.path("cut.started.1"), Duration::from_secs(10)),
        "{}",
        first.log()
    );
    // Frozen before the second starts: the second is the only one that can take it over.
    first.freeze();
    let second = site.runner();
    assert!(
        wait_for_file(&site.path("cut.started.2"), Duration::from_secs(15)),
        "the claim was not recovered:\n{}",
        second.log()
    );
    let ok = wait_until(Duration::from_secs(10), || {
        task_state(&site, id) == "succeeded"
    });
    assert!(ok, "{}", second.log());
    // The first runner comes back: its late result changes nothing.
    first.thaw();
    std::thread::sleep(Duration::from_secs(4));
    let rows = rows_of_task(&site, id);
    assert_eq!(statuses(&rows), ["failed", "succeeded"], "{rows:#?}");
    assert_eq!(rows[1]["attempt"], 2);
    assert_eq!(task_state(&site, id), "succeeded");
    first.wait_for_log("its claims were recovered", Duration::from_secs(5));
}

fn a_database_restart_does_not_end_the_runners(backend: Backend) {
    let site = Site::new(backend);
    let runners = [site.runner(), site.runner()];
    let note = |i: usize| serde_json::json!({ "text": format!("{i}") });
    let mut expected = site
        .enqueue_many("echo", (0..100).map(note).collect())
        .len();
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("a PostgreSQL cluster on this machine")
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .next()
        .expect("a PostgreSQL version");
    let restart = std::process::Command::new("pg_ctlcluster")
        .args(["--skip-systemctl-redirect", &version, "main", "restart"])
        .spawn()
        .expect("restart PostgreSQL");
    // Enqueue while the server goes down and comes back: retry what it refuses.
    let mut during = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while during < 50 && std::time::Instant::now() < deadline {
        if site
            .try_enqueue_many("echo", vec![note(1000 + during)])
            .is_ok()
        {
            during += 1;
        } else {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let status = restart
        .wait_with_output()
        .expect("wait for the restart")
        .status;
    assert!(status.success(), "the restart failed");
    expected += during;
    expected += site
        .enqueue_many("echo", (2000..2100).map(note).collect())
        .len();
    let done = wait_until(Duration::from_secs(90), || {
        site.history(&["--job", "echo", "--status", "succeeded"])
            .len()
            >= expected
    });
    assert!(
        done,
        "not every job ran after the restart:\n{}",
        runners[0].log()
    );
    let history = site.history(&["--job", "echo", "--status", "succeeded"]);
    let tasks: std::collections::BTreeSet<i64> = history
        .iter()
        .map(|r| r["task_id"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(tasks.len(), expected);
    assert_eq!(history.len(), expected, "a job ran twice");
    for runner in runners {
        let (clean, log) = runner.terminate();
        assert!(clean, "a runner did not survive the restart:\n{log}");
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

const TOKEN: &str = "admin-token-for-the-tests-0123456789";

/// A runner with its admin server on a free port.
fn admin_site(backend: Backend) -> (Site, crate::support::Runner, String) {
    let mut site = Site::new(backend);
    site.env("JOBS_ADMIN_ADDR", "127.0.0.1:0");
    site.env("JOBS_ADMIN_TOKEN", TOKEN);
    let runner = site.runner();
    let url = runner.admin_url();
    (site, runner, url)
}

fn authorized() -> Vec<(&'static str, String)> {
    vec![("Authorization", format!("Bearer {TOKEN}"))]
}

fn call(
    method: &str,
    url: &str,
    path: &str,
    token: Option<&str>,
    body: &str,
) -> crate::http::Response {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers: Vec<(&str, &str)> = vec![("Content-Type", "application/json")];
    if let Some(auth) = &auth {
        headers.push(("Authorization", auth));
    }
    crate::http::request(method, url, path, &headers, body.as_bytes())
}

fn every_admin_route_refuses_a_missing_or_wrong_token(backend: Backend) {
    let (_site, runner, url) = admin_site(backend);
    let _ = authorized();
    let doc = call("GET", &url, "/api/openapi.json", Some(TOKEN), "").json();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let concrete = path.replace("{name}", "echo").replace("{id}", "1");
        for method in item.as_object().expect("methods").keys() {
            let method = method.to_uppercase();
            if path == "/hooks/{source}" {
                // Its own secret, not the admin token: see the webhook test.
                continue;
            }
            if path == "/login" || path == "/logout" {
                // They open and end sessions: see the dashboard session test.
                continue;
            }
            if path == "/healthz" || path == "/readyz" {
                assert_eq!(
                    call(&method, &url, &concrete, None, "").status,
                    200,
                    "{method} {path}"
                );
                continue;
            }
            for token in [None, Some("wrong"), Some(&TOKEN[..TOKEN.len() - 1])] {
                let response = call(&method, &url, &concrete, token, "");
                assert_eq!(response.status, 401, "{method} {path} with {token:?}");
                let body = response.json();
                assert_eq!(body["error"]["status"], 401);
                assert!(
                    body.get("items").is_none() && body.as_array().is_none(),
                    "a refused request leaked data"
                );
            }
            // The route exists: with the token it is not 404 or 405.
            let status = call(&method, &url, &concrete, Some(TOKEN), "").status;
            assert!(
                status != 405 && (status != 404 || path.contains('{')),
                "{method} {path} answered {status}"
            );
            checked += 1;
        }
    }
    assert!(checked >= 12, "only {checked} routes documented");
    for page in ["/", "/assets/app.js"] {
        assert_eq!(call("GET", &url, page, None, "").status, 401, "{page}");
        assert_eq!(
            call("GET", &url, page, Some(TOKEN), "").status,
            200,
            "{page}"
        );
        // The token itself in a cookie (how the dashboard once logged in) admits nothing.
        let cookie = format!("jobs_token={TOKEN}");
        let response = crate::http::request("GET", &url, page, &[("Cookie", &cookie)], b"");
        assert_eq!(response.status, 401, "{page} with the token as a cookie");
    }
    assert_eq!(call("GET", &url, "/login", None, "").status, 200);
    drop(runner);
}

fn the_admin_api_triggers_pauses_retries_and_counts(backend: Backend) {
    let (site, runner, url) = admin_site(backend);
    let created = call(
        "POST",
        &url,
        "/api/jobs/echo/trigger",
        Some(TOKEN),
        r#"{"args":{"text":"over http"}}"#,
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let task = created.json()["id"].as_i64().expect("a task id");
    let found = wait_until(Duration::from_secs(10), || {
        let page = call(
            "GET",
            &url,
            "/api/executions?job=echo&status=succeeded",
            Some(TOKEN),
            "",
        )
        .json();
        page["items"].as_array().is_some_and(|items| {
            items
                .iter()
                .any(|e| e["task_id"] == task && e["trigger"] == "manual")
        })
    });
    assert!(found, "the execution did not show up:\n{}", runner.log());

    let paused = call("POST", &url, "/api/jobs/echo/pause", Some(TOKEN), "").json();
    assert_eq!(
        (paused["paused"].clone(), paused["changed"].clone()),
        (Value::Bool(true), Value::Bool(true))
    );
    assert_eq!(
        call("GET", &url, "/api/jobs/echo", Some(TOKEN), "").json()["paused"],
        true
    );
    let held = call(
        "POST",
        &url,
        "/api/jobs/echo/trigger",
        Some(TOKEN),
        r#"{"args":{"text":"held"}}"#,
    )
    .json()["id"]
        .as_i64()
        .unwrap_or(0);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(
        call("GET", &url, &format!("/api/tasks/{held}"), Some(TOKEN), "").json()["state"],
        "pending"
    );
    call("POST", &url, "/api/jobs/echo/resume", Some(TOKEN), "");
    assert!(wait_until(Duration::from_secs(5), || task_state(
        &site, held
    ) == "succeeded"));

    let failing = call(
        "POST",
        &url,
        "/api/jobs/always_fails/trigger",
        Some(TOKEN),
        "",
    )
    .json()["id"]
        .as_i64()
        .unwrap_or(0);
    let dead = wait_until(Duration::from_secs(30), || {
        let page = call("GET", &url, "/api/tasks?state=dead", Some(TOKEN), "").json();
        page["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|t| t["id"] == failing))
    });
    assert!(dead, "{}", runner.log());
    let retried = call(
        "POST",
        &url,
        &format!("/api/tasks/{failing}/retry"),
        Some(TOKEN),
        "",
    );
    assert_eq!(retried.status, 200, "{}", retried.text());
    assert!(wait_until(Duration::from_secs(10), || rows_of_task(
        &site, failing
    )
    .len()
        >= 5));

    let echo_count = |text: &str| -> u64 {
        text.lines()
            .find(|l| l.starts_with("jobs_executions_total{job=\"echo\",status=\"succeeded\"}"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    let response = call("GET", &url, "/metrics", Some(TOKEN), "");
    assert!(
        response
            .header("content-type")
            .unwrap_or_default()
            .starts_with("text/plain")
    );
    let metrics = response.text();
    let before = echo_count(&metrics);
    assert!(before >= 2, "{metrics}");
    for name in [
        "jobs_attempt_duration_seconds_bucket",
        "jobs_queue_depth",
        "jobs_dead_tasks",
        "jobs_cron_ticks_total",
    ] {
        assert!(metrics.contains(name), "{name} missing from:\n{metrics}");
    }
    call(
        "POST",
        &url,
        "/api/jobs/echo/trigger",
        Some(TOKEN),
        r#"{"args":{"text":"one more"}}"#,
    );
    let moved = wait_until(Duration::from_secs(10), || {
        echo_count(&call("GET", &url, "/metrics", Some(TOKEN), "").text()) > before
    });
    assert!(moved, "the execution counter did not move");
}

fn bad_admin_input_gets_a_clear_4xx_and_changes_nothing(backend: Backend) {
    let (_site, runner, url) = admin_site(backend);
    let done = call(
        "POST",
        &url,
        "/api/jobs/echo/trigger",
        Some(TOKEN),
        r#"{"args":{"text":"x"}}"#,
    )
    .json()["id"]
        .as_i64()
        .unwrap_or(0);
    assert!(wait_until(Duration::from_secs(10), || {
        call("GET", &url, &format!("/api/tasks/{done}"), Some(TOKEN), "").json()["state"]
            == "succeeded"
    }));
    let snapshot = || call("GET", &url, "/api/tasks?limit=1000", Some(TOKEN), "").text();
    let before = snapshot();
    let big = format!(r#"{{"args":{{"text":"{}"}}}}"#, "x".repeat(100 * 1024));
    for (method, path, body, status, expected) in [
        (
            "POST",
            "/api/jobs/echo/trigger",
            "{bad json",
            400,
            "the body is not valid",
        ),
        (
            "POST",
            "/api/jobs/echo/trigger",
            r#"{"args":{"txt":"x"}}"#,
            400,
            "missing field `text`",
        ),
        (
            "POST",
            "/api/jobs/echo/trigger",
            r#"{"arguments":{}}"#,
            400,
            "unknown field `arguments`",
        ),
        (
            "POST",
            "/api/jobs/every_second/trigger",
            r#"{"args":{"a":1}}"#,
            400,
            "takes no arguments",
        ),
        (
            "POST",
            "/api/jobs/nope/trigger",
            "",
            404,
            "no job named `nope`",
        ),
        (
            "POST",
            "/api/jobs/nope/pause",
            "",
            404,
            "no job named `nope`",
        ),
        ("GET", "/api/tasks/424242", "", 404, "no task has id 424242"),
        ("GET", "/api/tasks/abc", "", 400, "not a task id"),
        (
            "POST",
            &format!("/api/tasks/{done}/cancel"),
            "",
            409,
            "only pending tasks can be cancelled",
        ),
        (
            "POST",
            &format!("/api/tasks/{done}/retry"),
            "",
            409,
            "only dead or cancelled tasks can be retried",
        ),
        ("GET", "/api/executions?limit=0", "", 400, "at least 1"),
        ("GET", "/api/executions?limit=5000", "", 400, "at most 1000"),
        (
            "GET",
            "/api/executions?status=weird",
            "",
            400,
            "unknown status `weird`",
        ),
        (
            "GET",
            "/api/executions?since=yesterday",
            "",
            400,
            "RFC 3339",
        ),
        ("GET", "/api/executions?cursor=xyz", "", 400, "next_cursor"),
        (
            "GET",
            "/api/executions?colour=red",
            "",
            400,
            "unknown field `colour`",
        ),
        (
            "GET",
            "/api/tasks?state=sleeping",
            "",
            400,
            "unknown state `sleeping`",
        ),
        (
            "POST",
            "/api/jobs/echo/trigger",
            big.as_str(),
            413,
            "at most 64 KiB",
        ),
    ] {
        let response = call(method, &url, path, Some(TOKEN), body);
        assert_eq!(
            response.status,
            status,
            "{method} {path}: {}",
            response.text()
        );
        let json = response.json();
        let message = json["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(expected),
            "{method} {path}: expected `{expected}` in `{message}`"
        );
    }
    assert_eq!(
        snapshot(),
        before,
        "a refused request changed the stored tasks"
    );
    assert_eq!(
        call("GET", &url, "/healthz", None, "").status,
        200,
        "the runner stopped answering"
    );
    assert_eq!(call("GET", &url, "/readyz", None, "").status, 200);
    drop(runner);
}

/// `text` as a form value (`application/x-www-form-urlencoded`).
fn form_value(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn the_dashboard_logs_in_to_a_session_cookie_and_out(backend: Backend) {
    // A token with the characters that a cookie or a form would mangle if not decoded.
    let token = "d4sh+board/t0ken=with+/=signs==";
    let mut site = Site::new(backend);
    site.env("JOBS_ADMIN_ADDR", "127.0.0.1:0");
    site.env("JOBS_ADMIN_TOKEN", token);
    let runner = site.runner();
    let url = runner.admin_url();
    let form = [("Content-Type", "application/x-www-form-urlencoded")];
    let login = |token: &str, extra: &[(&str, &str)]| {
        let mut headers = form.to_vec();
        headers.extend_from_slice(extra);
        let body = format!("token={}", form_value(token));
        crate::http::request("POST", &url, "/login", &headers, body.as_bytes())
    };

    let refused = login(&token[..token.len() - 1], &[]);
    assert_eq!(refused.status, 401, "{}", refused.text());
    assert!(refused.header("set-cookie").is_none());

    let response = login(token, &[]);
    assert_eq!(response.status, 204, "{}", response.text());
    let set_cookie = response.header("set-cookie").expect("a session cookie");
    let (pair, attributes) = set_cookie.split_once(';').expect("cookie attributes");
    let id = pair
        .strip_prefix("jobs_session=")
        .expect("the session cookie");
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id}"
    );
    let attributes: Vec<&str> = attributes.split(';').map(str::trim).collect();
    for wanted in ["HttpOnly", "SameSite=Strict", "Path=/", "Max-Age=43200"] {
        assert!(attributes.contains(&wanted), "{set_cookie}");
    }
    assert!(!attributes.contains(&"Secure"), "{set_cookie}");
    let behind_tls = login(token, &[("X-Forwarded-Proto", "https")]);
    let secure = behind_tls.header("set-cookie").expect("a session cookie");
    assert!(secure.split(';').any(|a| a.trim() == "Secure"), "{secure}");

    let cookie = format!("other=1; jobs_session={id}");
    let with_cookie = |method: &str, path: &str, extra: &[(&str, &str)]| {
        let mut headers = vec![("Cookie", cookie.as_str())];
        headers.extend_from_slice(extra);
        crate::http::request(method, &url, path, &headers, b"")
    };
    // The session admits the dashboard and its reads of the API.
    for page in ["/", "/assets/app.js", "/api/jobs", "/api/executions"] {
        assert_eq!(with_cookie("GET", page, &[]).status, 200, "{page}");
    }
    // A change needs the dashboard's header too, so that another page cannot forge it.
    let forged = with_cookie("POST", "/api/jobs/echo/pause", &[]);
    assert_eq!(forged.status, 403, "{}", forged.text());
    assert!(
        forged.text().contains("X-Jobs-Dashboard"),
        "{}",
        forged.text()
    );
    let paused = call("GET", &url, "/api/jobs/echo", Some(token), "").json();
    assert_eq!(paused["paused"], false, "the forged request paused the job");
    let dashboard = [("X-Jobs-Dashboard", "1")];
    let response = with_cookie("POST", "/api/jobs/echo/pause", &dashboard);
    assert_eq!(response.status, 200, "{}", response.text());
    assert_eq!(response.json()["paused"], true);
    // The bearer token works as before, with no header.
    assert_eq!(
        call("POST", &url, "/api/jobs/echo/resume", Some(token), "").status,
        200
    );

    // Logging out ends the session on the server, not only in the browser.
    let response = with_cookie("POST", "/logout", &dashboard);
    assert_eq!(response.status, 204);
    let cleared = response.header("set-cookie").expect("a cleared cookie");
    assert!(cleared.starts_with("jobs_session=;"), "{cleared}");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    for page in ["/", "/api/jobs"] {
        assert_eq!(with_cookie("GET", page, &[]).status, 401, "{page}");
    }
    drop(runner);
}

fn a_public_admin_address_needs_a_configured_token(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_ADMIN_ADDR", "0.0.0.0:0");
    let output = site.cli(&["run"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing to serve the admin API on 0.0.0.0:0"),
        "{stderr}"
    );
    assert!(stderr.contains("JOBS_ADMIN_TOKEN"), "{stderr}");
    site.env("JOBS_ADMIN_TOKEN", TOKEN);
    let runner = site.runner();
    let url = runner.admin_url().replace("0.0.0.0", "127.0.0.1");
    assert_eq!(call("GET", &url, "/api/jobs", Some(TOKEN), "").status, 200);
}

fn check_reports_what_would_fail_after_a_deploy(backend: Backend) {
    let site = Site::new(backend);
    site.ok(&["migrate"]);
    let out = site.ok(&["check"]);
    assert!(out.starts_with("ok:"), "{out}");

    store_raw_task(&site, "renamed_job", "null");
    store_raw_task(&site, "echo", r#"{"txt":"from an older version"}"#);
    std::fs::write(
        site.path("jobs.toml"),
        "[jobs.ghost]\nenabled = false\n\n[jobs.echo]\ncron = \"0 0 * * *\"\n",
    )
    .expect("write jobs.toml");
    let output = site.cli(&["check"]);
    assert!(!output.status.success(), "check passed with problems");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(
        text.contains("job `renamed_job`") && text.contains("no registered job has that name"),
        "{text}"
    );
    assert!(
        text.contains("job `echo` have arguments that no longer fit `runner::jobs::Note`"),
        "{text}"
    );
    assert!(text.contains("missing field `text`"), "{text}");
    assert!(
        text.contains("no job named `ghost` is registered"),
        "{text}"
    );
    assert!(text.contains("cannot run on a schedule"), "{text}");

    let output = site.cli(&["check", "--json"]);
    assert!(!output.status.success());
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");
    assert_eq!(report["ok"], false);
    let kinds: Vec<&str> = report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|p| p["kind"].as_str())
        .collect();
    assert_eq!(
        kinds.iter().filter(|k| **k == "config").count(),
        2,
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"unknown_job") && kinds.contains(&"args_mismatch"),
        "{kinds:?}"
    );
    let mismatch = report["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .find(|p| p["kind"] == "args_mismatch")
        .expect("a mismatch");
    assert_eq!(mismatch["sample_args"]["txt"], "from an older version");
}

/// A queue variable that `run` refuses is refused by `check` before a deploy, and by the
/// other commands, with the same message; a valid one passes.
fn every_command_reads_the_queue_variables_as_run_does(backend: Backend) {
    let mut site = Site::new(backend);
    site.ok(&["migrate"]);
    site.env("JOBS_QUEUE_NARROW_CONCURRENCY", "0");
    let commands: [&[&str]; 5] = [
        &["run"],
        &["check"],
        &["list"],
        &["trigger", "echo", "--args", r#"{"text":"refused"}"#],
        &["exec", "echo", "--args", r#"{"text":"refused"}"#],
    ];
    for command in commands {
        let output = site.cli(command);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "`{}` accepted a queue concurrency of 0",
            command.join(" ")
        );
        assert!(
            stderr.contains("invalid JOBS_QUEUE_NARROW_CONCURRENCY: must be at least 1"),
            "`{}`: {stderr}",
            command.join(" ")
        );
    }

    site.env("JOBS_QUEUE_NARROW_CONCURRENCY", "2");
    let out = site.ok(&["check"]);
    assert!(out.starts_with("ok:"), "{out}");
    assert!(site.history(&[]).is_empty(), "a refused command ran a job");
    assert_eq!(
        site.ok(&["tasks", "--json"]).trim(),
        "[]",
        "a refused command stored a task"
    );
}

fn schedules(site: &Site) -> Vec<Value> {
    serde_json::from_str(&site.ok(&["schedules", "list", "--json"])).expect("schedules as JSON")
}

/// Ticks of `job` by scheduled instant, with how many executions each had.
fn ticks_of(site: &Site, job: &str) -> BTreeMap<i64, Vec<Value>> {
    let mut ticks: BTreeMap<i64, Vec<Value>> = BTreeMap::new();
    for row in site.history(&["--job", job]) {
        if row["trigger"] == "cron" {
            ticks
                .entry(millis(&row["scheduled_at"]))
                .or_default()
                .push(row);
        }
    }
    ticks
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

/// Writes a complete test file at once.
fn drop_file(dir: &std::path::Path, name: &str, body: &str) {
    std::fs::write(dir.join(name), format!("{body}\nEND\n")).expect("write a file");
}

fn landed_names(site: &Site) -> Vec<String> {
    site.history(&["--job", "file_landed", "--status", "succeeded"])
        .iter()
        .map(|r| r["records_processed"].to_string())
        .collect()
}

fn files_in_a_watched_folder_each_start_their_job_once(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_JOB_FILE_LANDED_ENABLED", "true");
    std::fs::write(
        site.path("jobs.toml"),
        "[sources.inbox]\nkind = \"folder\"\npath = \"inbox\"\n",
    )
    .expect("jobs.toml");
    let inbox = site.path("inbox");
    std::fs::create_dir_all(&inbox).expect("the inbox");
    // Dropped while no runner runs.
    for i in 0..5 {
        drop_file(&inbox, &format!("early-{i}.txt"), &"x".repeat(i));
    }
    let runner = site.runner();
    let writers: Vec<_> = (0..5)
        .map(|w| {
            let inbox = inbox.clone();
            std::thread::spawn(move || {
                for i in 0..19 {
                    let name = format!("w{w}-{i:02}.txt");
                    match i % 4 {
                        // Slowly, in pieces, through one open handle.
                        0 => {
                            use std::io::Write;
                            let mut file =
                                std::fs::File::create(inbox.join(&name)).expect("create");
                            for piece in 0..5 {
                                file.write_all(format!("piece {piece}\n").as_bytes())
                                    .expect("write");
                                file.flush().expect("flush");
                                std::thread::sleep(Duration::from_millis(60));
                            }
                            file.write_all(b"END\n").expect("write the end");
                        }
                        // Written elsewhere, then moved in.
                        1 => {
                            let hidden = inbox.join(format!(".{name}.partial"));
                            std::fs::write(&hidden, format!("moved {i}\nEND\n")).expect("write");
                            std::fs::rename(&hidden, inbox.join(&name)).expect("move in");
                        }
                        _ => drop_file(&inbox, &name, &format!("file {w} {i}")),
                    }
                }
            })
        })
        .collect();
    for writer in writers {
        writer.join().expect("a writer");
    }
    let all = wait_until(Duration::from_secs(30), || {
        site.history(&["--job", "file_landed"]).len() >= 100
    });
    assert!(all, "not every file started its job:\n{}", runner.log());
    std::thread::sleep(Duration::from_millis(1000));
    let rows = site.history(&["--job", "file_landed"]);
    if rows.len() != 100 {
        eprintln!("{}", site.ok(&["events", "--limit", "1000"]));
        eprintln!("{rows:#?}");
    }
    assert_eq!(
        rows.len(),
        100,
        "a file started its job twice, or a partial file started one"
    );
    assert!(
        rows.iter()
            .all(|r| r["status"] == "succeeded" && r["trigger"] == "event"),
        "{rows:#?}"
    );
    let events: Vec<Value> =
        serde_json::from_str(&site.ok(&["events", "--json", "--limit", "1000"]))
            .expect("events as JSON");
    let names: std::collections::BTreeSet<String> = events
        .iter()
        .filter_map(|e| e["fields"]["name"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(names.len(), 100, "each file is its own event");
    assert!(
        names.contains("early-0.txt"),
        "a file dropped while no runner ran was not picked up"
    );
    drop(runner);

    // Dropped while stopped, picked up at the next start; the others are not run again.
    drop_file(&inbox, "late.txt", "late");
    let runner = site.runner();
    assert!(
        wait_until(Duration::from_secs(15), || site
            .history(&["--job", "file_landed"])
            .len()
            >= 101),
        "{}",
        runner.log()
    );
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(site.history(&["--job", "file_landed"]).len(), 101);
    let _ = landed_names;
}

fn a_webhook_notification_sent_twice_runs_its_job_once(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_JOB_OBJECT_UPLOADED_ENABLED", "true");
    site.env("JOBS_ADMIN_ADDR", "127.0.0.1:0");
    site.env("JOBS_ADMIN_TOKEN", TOKEN);
    let secret = "webhook-secret-0123456789";
    std::fs::write(
        site.path("jobs.toml"),
        format!("[sources.s3]\nkind = \"webhook\"\nsecret = \"{secret}\"\n"),
    )
    .expect("jobs.toml");
    let runner = site.runner();
    let url = runner.admin_url();
    let body = r#"{"Records":[{"eventName":"ObjectCreated:Put","s3":{"bucket":{"name":"documents"},"object":{"key":"inbox/report+2026.pdf","size":1024,"eTag":"e1","sequencer":"00A1"}}}]}"#;
    let signature = job_runner::sources::webhook::sign(secret, body.as_bytes());
    let post = |headers: &[(&str, &str)], body: &str| {
        crate::http::request("POST", &url, "/hooks/s3", headers, body.as_bytes())
    };

    let first = post(&[("X-Jobs-Signature", &signature)], body);
    assert_eq!(first.status, 200, "{}", first.text());
    assert_eq!(first.json()["enqueued"], 1);
    let second = post(&[("X-Jobs-Signature", &signature)], body);
    assert_eq!(second.json()["duplicates"], 1);
    assert_eq!(second.json()["enqueued"], 0);
    let bearer = format!("Bearer {secret}");
    assert_eq!(
        post(&[("Authorization", &bearer)], body).json()["duplicates"],
        1
    );

    let other = body.replace("00A1", "00A2");
    let forged = job_runner::sources::webhook::sign("not-the-secret", other.as_bytes());
    for headers in [
        vec![("X-Jobs-Signature", forged.as_str())],
        vec![("Authorization", "Bearer nope")],
        vec![],
    ] {
        let refused = post(&headers, &other);
        assert_eq!(refused.status, 401, "{headers:?}");
    }
    assert_eq!(
        post(&[("X-Jobs-Signature", &signature)], "{not json").status,
        401,
        "the signature covers the body"
    );
    let signed_bad = job_runner::sources::webhook::sign(secret, b"{}");
    assert_eq!(post(&[("X-Jobs-Signature", &signed_bad)], "{}").status, 400);

    assert!(
        wait_until(Duration::from_secs(10), || !site
            .history(&["--job", "object_uploaded"])
            .is_empty()),
        "{}",
        runner.log()
    );
    std::thread::sleep(Duration::from_millis(800));
    let rows = site.history(&["--job", "object_uploaded"]);
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["trigger"], "event");
    assert_eq!(
        rows[0]["records_processed"],
        "inbox/report 2026.pdf".len() + "documents".len()
    );
}

fn a_job_bound_to_a_missing_source_stops_the_runner_at_start(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_JOB_FILE_LANDED_ENABLED", "true");
    let output = site.cli(&["run"]);
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("job `file_landed` starts on events of source `inbox`"),
        "{stderr}"
    );
    assert!(stderr.contains("[sources.inbox]"), "{stderr}");
}

/// The history rows of a chain, by step.
fn chain_rows(site: &Site, chain: i64) -> Vec<Value> {
    let mut rows: Vec<Value> = site
        .history(&[])
        .into_iter()
        .filter(|r| r["chain_id"] == chain)
        .collect();
    rows.sort_by_key(|r| (r["chain_step"].as_i64(), r["id"].as_i64()));
    rows
}

fn a_chain_runs_its_steps_in_order_passing_each_output_on(backend: Backend) {
    let site = Site::new(backend);
    let runner = site.runner();
    let first = task_id(&site.trigger("step_one", Some("5")));
    assert!(
        wait_until(Duration::from_secs(15), || chain_rows(&site, first).len()
            >= 3),
        "{}",
        runner.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    let rows = chain_rows(&site, first);
    let steps: Vec<(String, i64, String)> = rows
        .iter()
        .map(|r| {
            (
                r["job"].as_str().unwrap_or_default().to_owned(),
                r["chain_step"].as_i64().unwrap_or(0),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("step_one".into(), 1, "succeeded".into()),
            ("step_two".into(), 2, "succeeded".into()),
            ("step_three".into(), 3, "succeeded".into())
        ]
    );
    assert_eq!(rows[2]["records_processed"], 12, "5 + 1, then doubled");
    assert_eq!(
        (rows[1]["trigger"].as_str(), rows[2]["trigger"].as_str()),
        (Some("chain"), Some("chain"))
    );

    // Started at run time, through the client: add_one, then times_ten, then step_three.
    let chain: i64 = site.with_jobs(async |jobs| {
        use crate::jobs::{AddOne, StepThree, TimesTen};
        AddOne::enqueue(jobs, 1)
            .then::<TimesTen>()
            .then::<StepThree>()
            .await
            .expect("enqueue a chain")
            .as_str()
            .parse()
            .expect("a task id")
    });
    assert!(
        wait_until(Duration::from_secs(15), || chain_rows(&site, chain).len()
            >= 3),
        "{}",
        runner.log()
    );
    let rows = chain_rows(&site, chain);
    let jobs: Vec<&str> = rows.iter().filter_map(|r| r["job"].as_str()).collect();
    assert_eq!(jobs, ["add_one", "times_ten", "step_three"]);
    assert_eq!(rows[2]["records_processed"], 20);
}

fn a_failing_middle_step_stops_the_chain_where_it_failed(backend: Backend) {
    let site = Site::new(backend);
    let runner = site.runner();
    let first = task_id(&site.trigger("step_one", Some("12")));
    assert!(
        wait_until(Duration::from_secs(15), || chain_rows(&site, first).len()
            >= 2),
        "{}",
        runner.log()
    );
    std::thread::sleep(Duration::from_millis(1000));
    let rows = chain_rows(&site, first);
    assert_eq!(
        rows.len(),
        2,
        "the chain went on after a dead step: {rows:#?}"
    );
    assert_eq!(
        (
            rows[1]["job"].as_str(),
            rows[1]["status"].as_str(),
            rows[1]["chain_step"].as_i64()
        ),
        (Some("step_two"), Some("dead"), Some(2))
    );
    assert!(
        rows[1]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("13 is unlucky")
    );
    assert!(site.history(&["--job", "step_three"]).is_empty());
}

fn sigkill_between_steps_neither_loses_nor_repeats_a_step(backend: Backend) {
    let site = Site::new(backend);
    let first_runner = site.runner();
    let first = task_id(&site.trigger("step_one", Some("6")));
    assert!(
        wait_for_file(&site.path("step_two.started.1"), Duration::from_secs(15)),
        "{}",
        first_runner.log()
    );
    first_runner.kill();
    let second_runner = site.runner();
    assert!(
        wait_until(Duration::from_secs(20), || site
            .history(&["--job", "step_three"])
            .len()
            == 1),
        "{}",
        second_runner.log()
    );
    std::thread::sleep(Duration::from_millis(800));
    let rows = chain_rows(&site, first);
    let per_step: Vec<(i64, String)> = rows
        .iter()
        .map(|r| {
            (
                r["chain_step"].as_i64().unwrap_or(0),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    // Step 2's first attempt was lost with the runner and ran again; every step is one task.
    assert_eq!(
        per_step
            .iter()
            .filter(|(step, s)| *step == 3 && s == "succeeded")
            .count(),
        1,
        "{per_step:?}"
    );
    assert_eq!(
        per_step
            .iter()
            .filter(|(step, s)| *step == 2 && s == "succeeded")
            .count(),
        1,
        "{per_step:?}"
    );
    assert_eq!(
        per_step.iter().filter(|(step, _)| *step == 1).count(),
        1,
        "{per_step:?}"
    );
    let step_tasks: std::collections::BTreeSet<(i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["chain_step"].as_i64().unwrap_or(0),
                r["task_id"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        step_tasks.len(),
        3,
        "a step became two tasks: {step_tasks:?}"
    );
    assert_eq!(
        rows.last().map(|r| r["records_processed"].clone()),
        Some(Value::from(14))
    );
}
