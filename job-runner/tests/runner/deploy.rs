//! Before and after a deploy: configuration disables jobs without a rebuild, stored tasks of
//! unknown jobs are reported at start, `check` reports what would fail, and a runner
//! replaced mid-job finishes it once.

use std::time::Duration;

use serde_json::Value;

use crate::Test;
use crate::support::{Backend, Site, rows_of_task, statuses, task_id, task_state, wait_for_file};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    configuration_disables_jobs_without_a_rebuild,
    start_up_reports_stored_tasks_of_unknown_jobs,
    check_reports_what_would_fail_after_a_deploy,
    every_command_reads_the_queue_variables_as_run_does,
    a_rolling_deploy_runs_a_job_longer_than_the_lease_once,
];

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
            unique_for: std::time::Duration::ZERO,
            partition_key: None,
            exclusive: false,
            then: Vec::new(),
            trace_context: None,
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

/// A deploy replaces a runner while it runs a job longer than the lease: the old runner,
/// sent SIGTERM, finishes the attempt within its grace and keeps its lease meanwhile, so the
/// new runner never runs the job a second time.
fn a_rolling_deploy_runs_a_job_longer_than_the_lease_once(backend: Backend) {
    let site = Site::new(backend);
    let old = site.runner();
    // 4 s: twice the tests' lease of 2 s, well within their grace of 10 s.
    let id = task_id(&site.trigger("watched", Some(r#"{"millis":4000,"marker":"deploy"}"#)));
    assert!(
        wait_for_file(&site.path("deploy.started.1"), Duration::from_secs(10)),
        "{}",
        old.log()
    );
    let new = site.runner();
    let (clean, log) = old.terminate();
    assert!(clean, "{log}");
    assert!(site.path("deploy.finished.1").exists(), "{log}");
    let rows = rows_of_task(&site, id);
    assert_eq!(statuses(&rows), ["succeeded"], "{rows:#?}\n{}", new.log());
    assert_eq!(rows[0]["attempt"], 1);
    assert!(
        !site.path("deploy.started.2").exists(),
        "the new runner ran the job a second time:\n{}",
        new.log()
    );
}
