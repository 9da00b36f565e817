//! The overview: a paused queue holds its tasks in running runners until resumed, the
//! overview counts the attempts of a job that runs, and `runners` shows what each holds.

use std::time::Duration;

use serde_json::Value;

use crate::Test;
use crate::support::{Backend, Site, TOKEN, task_id, task_state, wait_for_file, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    a_paused_queue_holds_its_tasks_in_a_running_runner_until_resumed,
    the_overview_counts_the_attempts_of_a_job_that_runs,
    runners_shows_a_live_runner_and_the_task_it_runs,
];

fn queue<'a>(queues: &'a [Value], name: &str) -> &'a Value {
    queues
        .iter()
        .find(|q| q["queue"] == name)
        .unwrap_or_else(|| panic!("queue `{name}` is not listed: {queues:?}"))
}

fn queues(site: &Site) -> Vec<Value> {
    serde_json::from_str(&site.ok(&["queues", "--json"])).expect("queues as JSON")
}

fn a_paused_queue_holds_its_tasks_in_a_running_runner_until_resumed(backend: Backend) {
    let site = Site::new(backend);
    let runner = site.runner();
    let out = site.ok(&["queues", "pause", "default"]);
    assert!(out.contains("paused queue `default`"), "{out}");
    let again = site.ok(&["queues", "pause", "default"]);
    assert!(again.contains("already paused"), "{again}");
    // A plain claim (`echo`) and a claim within limits (`limited`): neither starts.
    let plain = task_id(&site.trigger("echo", Some(r#"{"text":"held"}"#)));
    let within = task_id(&site.trigger("limited", Some(r#"{"millis":1}"#)));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(task_state(&site, plain), "pending", "{}", runner.log());
    assert_eq!(task_state(&site, within), "pending", "{}", runner.log());
    let listed = queues(&site);
    let default = queue(&listed, "default");
    assert_eq!(default["paused"], true);
    assert!(default["paused_at"].is_string());
    assert_eq!(default["pending"], 2);
    assert_eq!(default["due"], 2);
    assert!(
        default["jobs"]
            .as_array()
            .is_some_and(|jobs| jobs.iter().any(|j| j == "echo")),
        "{default}"
    );
    // The other queues run.
    assert_eq!(queue(&listed, "narrow")["paused"], false);
    let table = site.ok(&["queues"]);
    assert!(
        table.contains("QUEUE") && table.contains("default"),
        "{table}"
    );

    let out = site.ok(&["queues", "resume", "default"]);
    assert!(out.contains("resumed queue `default`"), "{out}");
    assert!(
        wait_until(Duration::from_secs(10), || {
            task_state(&site, plain) == "succeeded" && task_state(&site, within) == "succeeded"
        }),
        "resuming the queue did not let its tasks run:\n{}",
        runner.log()
    );
    let refused = site.cli(&["queues", "pause", "nowhere"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("no queue named `nowhere`"), "{stderr}");
    drop(runner);
}

fn get(url: &str, path: &str) -> crate::http::Response {
    let auth = format!("Bearer {TOKEN}");
    crate::http::request("GET", url, path, &[("Authorization", &auth)], b"")
}

fn sum(series: &[Value], field: &str) -> i64 {
    series.iter().map(|b| b[field].as_i64().unwrap_or(0)).sum()
}

fn the_overview_counts_the_attempts_of_a_job_that_runs(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_ADMIN_ADDR", "127.0.0.1:0");
    site.env("JOBS_ADMIN_TOKEN", TOKEN);
    let runner = site.runner();
    let url = runner.admin_url();
    let ok = task_id(&site.trigger("echo", Some(r#"{"text":"fine"}"#)));
    // One retry: a failed attempt, then a dead one.
    let doomed = task_id(&site.trigger("fails_with", Some(r#"{"text":"broken"}"#)));
    assert!(
        wait_until(Duration::from_secs(15), || task_state(&site, ok)
            == "succeeded"
            && task_state(&site, doomed) == "dead"),
        "{}",
        runner.log()
    );

    let response = get(&url, "/api/overview?window=hour");
    assert_eq!(response.status, 200, "{}", response.text());
    let overview = response.json();
    assert_eq!(overview["window"], "hour");
    assert_eq!(overview["bucket_seconds"], 60);
    let series = overview["series"].as_array().expect("a series");
    assert_eq!(series.len(), 60);
    assert_eq!(sum(series, "succeeded"), 1, "{overview}");
    assert_eq!(sum(series, "failed"), 1, "{overview}");
    assert_eq!(sum(series, "dead"), 1, "{overview}");
    assert_eq!(sum(series, "started"), 2, "{overview}");
    let jobs = overview["jobs"].as_array().expect("jobs");
    let of = |name: &str| {
        jobs.iter()
            .find(|j| j["job"] == name)
            .unwrap_or_else(|| panic!("{name} not in {jobs:?}"))
    };
    assert_eq!(of("echo")["succeeded"], 1);
    assert_eq!(of("fails_with")["dead"], 1);
    assert_eq!(of("fails_with")["failed"], 1);
    assert!(of("echo")["avg_wait_ms"].is_number());
    assert!(overview["queues"].as_array().is_some_and(|q| !q.is_empty()));

    let day = get(&url, "/api/overview?window=day&job=echo").json();
    let series = day["series"].as_array().expect("a series");
    assert_eq!(
        (series.len(), day["bucket_seconds"].as_i64()),
        (288, Some(300))
    );
    assert_eq!(
        (sum(series, "succeeded"), sum(series, "dead")),
        (1, 0),
        "{day}"
    );
    let bad = get(&url, "/api/overview?window=week");
    assert_eq!(bad.status, 400);
    assert!(bad.text().contains("`window` must be `hour` or `day`"));
    assert_eq!(get(&url, "/api/overview?job=nope").status, 404);
    let events = get(&url, "/api/events?limit=5");
    assert_eq!(events.status, 200);
    assert!(events.json().is_array());
    drop(runner);
}

fn runners_shows_a_live_runner_and_the_task_it_runs(backend: Backend) {
    let site = Site::new(backend);
    let runner = site.runner();
    let id = task_id(&site.trigger("slow", Some(r#"{"millis":4000,"marker":"held"}"#)));
    assert!(
        wait_for_file(&site.path("held.started.1"), Duration::from_secs(10)),
        "{}",
        runner.log()
    );
    let listed: Vec<Value> =
        serde_json::from_str(&site.ok(&["runners", "--json"])).expect("runners as JSON");
    assert_eq!(listed.len(), 1, "{listed:?}");
    let shown = &listed[0];
    assert_eq!(shown["alive"], true);
    assert_eq!(shown["pid"].as_i64(), Some(i64::from(runner.child.id())));
    let holding = shown["holding"].as_array().expect("holding");
    assert_eq!(holding.len(), 1, "{shown}");
    assert_eq!(holding[0]["task_id"].as_i64(), Some(id));
    assert_eq!(holding[0]["job"], "slow");
    assert_eq!(holding[0]["attempt"], 1);
    let table = site.ok(&["runners"]);
    assert!(
        table.contains("yes") && table.contains(&id.to_string()),
        "{table}"
    );
    drop(runner);
}
