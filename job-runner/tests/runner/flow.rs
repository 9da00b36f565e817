//! Flow control across runner processes, checked from the history's start and end times:
//! a job's limit, a per-key limit, a rate, and keys taken in turn.

use std::collections::HashSet;
use std::time::Duration;

use chrono::DateTime;
use serde_json::{Value, json};

use crate::Test;
use crate::support::{Backend, Site, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    a_limit_of_5_holds_across_three_runners,
    a_limited_job_claims_again_when_an_attempt_ends_not_at_the_next_poll,
    a_per_key_limit_holds_per_key_while_other_keys_proceed,
    a_rate_holds_across_runners_in_every_window,
    one_keys_backlog_does_not_keep_the_other_keys_waiting,
    a_queue_limit_holds_for_all_its_jobs_across_runners,
    limits_set_at_run_time_apply_to_running_runners_and_show_what_they_hold,
    concurrent_enqueues_of_one_key_from_several_processes_store_one_task,
];

/// The (start, end) of each attempt of `job`, in unix milliseconds, with its arguments.
fn spans(site: &Site, job: &str) -> Vec<(i64, i64, Value)> {
    let mut spans: Vec<(i64, i64, Value)> = site
        .history(&["--job", job])
        .iter()
        .map(|row| {
            let at = |field: &str| {
                DateTime::parse_from_rfc3339(row[field].as_str().expect("a time"))
                    .expect("RFC 3339")
                    .timestamp_millis()
            };
            (at("started_at"), at("finished_at"), row["task_id"].clone())
        })
        .collect();
    spans.sort_by_key(|s| s.0);
    spans
}

/// The most spans running at one instant.
fn most_at_once(spans: &[(i64, i64)]) -> usize {
    let mut edges: Vec<(i64, i32)> = spans.iter().flat_map(|&(s, e)| [(s, 1), (e, -1)]).collect();
    // An end and a start at the same millisecond do not overlap.
    edges.sort();
    let (mut now, mut most) = (0i32, 0i32);
    for (_, step) in edges {
        now += step;
        most = most.max(now);
    }
    most as usize
}

fn finished(site: &Site, job: &str, count: usize, limit: Duration) -> bool {
    wait_until(limit, || site.history(&["--job", job]).len() >= count)
}

fn a_limit_of_5_holds_across_three_runners(backend: Backend) {
    let site = Site::new(backend);
    site.enqueue_many("limited", (0..40).map(|_| json!({"millis": 150})).collect());
    let runners = [site.runner(), site.runner(), site.runner()];
    assert!(
        finished(&site, "limited", 40, Duration::from_secs(60)),
        "{}",
        runners[0].log()
    );
    let spans: Vec<(i64, i64)> = spans(&site, "limited").iter().map(|s| (s.0, s.1)).collect();
    let most = most_at_once(&spans);
    assert!(most <= 5, "{most} attempts ran at once");
    assert!(
        most >= 2,
        "the runners shared the limit: {most} at most at once"
    );
}

/// With a poll interval of a minute, a job held at its limit of 5 still runs its 15 tasks
/// back to back: the end of each attempt lets the runner claim the next at once (waiting
/// for the poll would take three minutes).
fn a_limited_job_claims_again_when_an_attempt_ends_not_at_the_next_poll(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_POLL_INTERVAL", "60s");
    site.enqueue_many("limited", (0..15).map(|_| json!({"millis": 50})).collect());
    let runner = site.runner();
    assert!(
        finished(&site, "limited", 15, Duration::from_secs(30)),
        "{}",
        runner.log()
    );
}

fn a_per_key_limit_holds_per_key_while_other_keys_proceed(backend: Backend) {
    let site = Site::new(backend);
    let shares = ["acme", "globex", "initech"]
        .iter()
        .flat_map(|c| (0..8).map(move |_| json!({"customer": c, "millis": 150})))
        .collect();
    site.enqueue_many("per_customer", shares);
    let runners = [site.runner(), site.runner()];
    assert!(
        finished(&site, "per_customer", 24, Duration::from_secs(60)),
        "{}",
        runners[0].log()
    );
    let tasks: Vec<Value> = serde_json::from_str(&site.ok(&[
        "tasks",
        "--job",
        "per_customer",
        "--json",
        "--limit",
        "100",
    ]))
    .expect("tasks");
    let customer_of = |task_id: &Value| {
        tasks
            .iter()
            .find(|t| &t["id"] == task_id)
            .map(|t| {
                t["args"]["customer"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned()
            })
            .expect("a task")
    };
    let spans = spans(&site, "per_customer");
    for customer in ["acme", "globex", "initech"] {
        let mine: Vec<(i64, i64)> = spans
            .iter()
            .filter(|s| customer_of(&s.2) == customer)
            .map(|s| (s.0, s.1))
            .collect();
        let most = most_at_once(&mine);
        assert!(most <= 2, "{most} attempts for {customer} at once");
    }
    let all: Vec<(i64, i64)> = spans.iter().map(|s| (s.0, s.1)).collect();
    assert!(most_at_once(&all) > 2, "other customers did not proceed");
}

fn a_rate_holds_across_runners_in_every_window(backend: Backend) {
    let site = Site::new(backend);
    site.enqueue_many("rated", (0..30).map(|_| json!({"millis": 10})).collect());
    let runners = [site.runner(), site.runner(), site.runner()];
    assert!(
        finished(&site, "rated", 30, Duration::from_secs(30)),
        "{}",
        runners[0].log()
    );
    let starts: Vec<i64> = spans(&site, "rated").iter().map(|s| s.0).collect();
    for (i, first) in starts.iter().enumerate() {
        let in_window = starts[i..]
            .iter()
            .take_while(|s| **s - first < 2000)
            .count();
        assert!(in_window <= 10, "{in_window} starts within 2 s of {first}");
    }
}

/// 10,000 tasks of one customer, then 100 for each of 10 others: taken in turn, the others'
/// tasks are done within their share of the first ends (first in, first out would do them
/// last).
fn one_keys_backlog_does_not_keep_the_other_keys_waiting(backend: Backend) {
    let site = Site::new(backend);
    site.enqueue_many(
        "fair",
        (0..10_000)
            .map(|_| json!({"customer": "big", "millis": 0}))
            .collect(),
    );
    let small: Vec<Value> = (0..10)
        .flat_map(|c| (0..100).map(move |_| json!({"customer": format!("small{c}"), "millis": 0})))
        .collect();
    let small_ids: HashSet<i64> = site.enqueue_many("fair", small).into_iter().collect();
    let runner = site.runner();
    let none_in = |state: &str| {
        let tasks = site.ok(&[
            "tasks", "--job", "fair", "--state", state, "--limit", "1", "--json",
        ]);
        serde_json::from_str::<Vec<Value>>(&tasks).is_ok_and(|t| t.is_empty())
    };
    assert!(
        wait_until(Duration::from_secs(300), || none_in("pending")
            && none_in("running")),
        "{}",
        runner.log()
    );
    // The history's rows in the order they were written: the completion order.
    let mut rows = site.history(&["--job", "fair", "--limit", "20000"]);
    assert_eq!(rows.len(), 11_000);
    rows.sort_by_key(|r| r["id"].as_i64().unwrap_or_default());
    let last_small = rows
        .iter()
        .rposition(|r| small_ids.contains(&r["task_id"].as_i64().unwrap_or_default()))
        .expect("small tasks ran");
    // 11 customers in turn: the 1,000 small tasks are done within about the first 1,100
    // ends (with a claim batch of slack), where their share is 10 of every 11.
    assert!(
        last_small < 1_300,
        "the last small task ended {last_small}th of 11,000"
    );
}

/// `JOBS_QUEUE_NARROW_LIMIT=3` (as `[queues.narrow] limit = 3`): the queue's two jobs over
/// two runners never run more than 3 attempts together; set to 1 at run time, it holds at
/// 1 without a restart; cleared, the configured limit shows again.
fn a_queue_limit_holds_for_all_its_jobs_across_runners(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_QUEUE_NARROW_LIMIT", "3");
    site.env("JOBS_ADMIN_ADDR", "127.0.0.1:0");
    site.env("JOBS_ADMIN_TOKEN", crate::support::TOKEN);
    let naps = |n: usize| (0..n).map(|_| json!({"millis": 150})).collect::<Vec<_>>();
    site.enqueue_many("narrow_a", naps(12));
    site.enqueue_many("narrow_b", naps(12));
    let runners = [site.runner(), site.runner()];
    let both_finished = |count: usize| {
        finished(&site, "narrow_a", count, Duration::from_secs(60))
            && finished(&site, "narrow_b", count, Duration::from_secs(60))
    };
    assert!(both_finished(12), "{}", runners[0].log());
    let spans_of = |ids: &HashSet<i64>| -> Vec<(i64, i64)> {
        ["narrow_a", "narrow_b"]
            .iter()
            .flat_map(|job| spans(&site, job))
            .filter(|s| ids.is_empty() || ids.contains(&s.2.as_i64().unwrap_or_default()))
            .map(|s| (s.0, s.1))
            .collect()
    };
    let most = most_at_once(&spans_of(&HashSet::new()));
    assert!(
        (2..=3).contains(&most),
        "{most} attempts of the queue at once, with a limit of 3"
    );

    let out = site.ok(&["limits", "set", "--queue", "narrow", "--limit", "1"]);
    assert!(out.contains("run time"), "{out}");
    let api = crate::http::request(
        "GET",
        &runners[0].admin_url(),
        "/api/queues/narrow/limits",
        &[(
            "Authorization",
            &format!("Bearer {}", crate::support::TOKEN),
        )],
        b"",
    );
    assert_eq!(api.status, 200, "{}", api.text());
    assert_eq!(
        (api.json()["limit"].as_i64(), api.json()["source"].as_str()),
        (Some(1), Some("run time"))
    );
    // The runners read run-time limits every poll interval (1 s).
    std::thread::sleep(Duration::from_secs(2));
    let mut later: HashSet<i64> = site.enqueue_many("narrow_a", naps(4)).into_iter().collect();
    later.extend(site.enqueue_many("narrow_b", naps(4)));
    assert!(both_finished(16), "{}", runners[1].log());
    assert_eq!(
        most_at_once(&spans_of(&later)),
        1,
        "the queue's run-time limit of 1 was not obeyed"
    );
    let shown: Value = serde_json::from_str(&site.ok(&["limits", "list", "--json"])).expect("JSON");
    let queue = &shown["queues"][0];
    assert_eq!(
        (
            queue["queue"].as_str(),
            queue["limit"].as_i64(),
            queue["source"].as_str()
        ),
        (Some("narrow"), Some(1), Some("run time")),
        "{shown}"
    );
    let out = site.ok(&["limits", "clear", "--queue", "narrow"]);
    assert!(out.contains("configured one applies again"), "{out}");
    let shown: Value = serde_json::from_str(&site.ok(&["limits", "list", "--json"])).expect("JSON");
    assert_eq!(
        (
            shown["queues"][0]["limit"].as_i64(),
            shown["queues"][0]["source"].as_str()
        ),
        (Some(3), Some("config")),
        "{shown}"
    );
    let refused = site.cli(&["limits", "set", "--queue", "narow", "--limit", "2"]);
    assert!(!refused.status.success());
    let message = String::from_utf8_lossy(&refused.stderr);
    assert!(
        message.contains("no registered job runs in queue `narow`") && message.contains("narrow"),
        "{message}"
    );
}

/// `limits set` changes a job's limit without a restart, `limits list` and the API show
/// what the limits hold back, and `limits clear` gives the job its own limit back.
fn limits_set_at_run_time_apply_to_running_runners_and_show_what_they_hold(backend: Backend) {
    let mut site = Site::new(backend);
    site.env("JOBS_ADMIN_ADDR", "127.0.0.1:0");
    site.env("JOBS_ADMIN_TOKEN", crate::support::TOKEN);
    site.ok(&["migrate"]);
    let out = site.ok(&["limits", "set", "limited", "--limit", "1"]);
    assert!(out.contains("run time"), "{out}");
    site.enqueue_many("limited", (0..6).map(|_| json!({"millis": 300})).collect());
    let runner = site.runner();
    let url = runner.admin_url();
    // While they run one at a time, the waiting ones show.
    let shown: Value = serde_json::from_str(&site.ok(&["limits", "list", "--json"])).expect("JSON");
    let limited = shown["jobs"]
        .as_array()
        .expect("the jobs' limits")
        .iter()
        .find(|l| l["job"] == "limited")
        .expect("the job");
    assert_eq!(
        (limited["limit"].as_i64(), limited["source"].as_str()),
        (Some(1), Some("run time"))
    );
    let api = crate::http::request(
        "GET",
        &url,
        "/api/jobs/limited/limits",
        &[(
            "Authorization",
            &format!("Bearer {}", crate::support::TOKEN),
        )],
        b"",
    );
    assert_eq!(api.status, 200, "{}", api.text());
    let metrics = crate::http::request(
        "GET",
        &url,
        "/metrics",
        &[(
            "Authorization",
            &format!("Bearer {}", crate::support::TOKEN),
        )],
        b"",
    );
    assert!(
        metrics
            .text()
            .contains("jobs_limit_waiting{job=\"limited\"}"),
        "{}",
        metrics.text()
    );
    assert!(
        finished(&site, "limited", 6, Duration::from_secs(30)),
        "{}",
        runner.log()
    );
    let spans: Vec<(i64, i64)> = spans(&site, "limited").iter().map(|s| (s.0, s.1)).collect();
    assert_eq!(
        most_at_once(&spans),
        1,
        "the run-time limit of 1 was not obeyed"
    );
    let out = site.ok(&["limits", "clear", "limited"]);
    assert!(out.contains("its own apply again"), "{out}");
    let shown: Value = serde_json::from_str(&site.ok(&["limits", "list", "--json"])).expect("JSON");
    let limited = shown["jobs"]
        .as_array()
        .expect("the jobs' limits")
        .iter()
        .find(|l| l["job"] == "limited")
        .expect("the job");
    assert_eq!(
        (limited["limit"].as_i64(), limited["source"].as_str()),
        (Some(5), Some("code"))
    );
    let refused = site.cli(&["limits", "set", "limited", "--rate", "ten a minute"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--rate"));
}

/// Six processes trigger the same customer's report at once: one task is stored, and every
/// process is told which.
fn concurrent_enqueues_of_one_key_from_several_processes_store_one_task(backend: Backend) {
    let site = Site::new(backend);
    site.ok(&["migrate"]);
    let args = r#"{"customer":"acme","millis":10}"#;
    let triggers: Vec<std::process::Child> = (0..6)
        .map(|_| {
            let mut command = site.command(&["trigger", "one_report", "--args", args, "--json"]);
            command
                .stdout(std::process::Stdio::piped())
                .spawn()
                .expect("a trigger")
        })
        .collect();
    let ids: std::collections::BTreeSet<i64> = triggers
        .into_iter()
        .map(|child| {
            let output = child.wait_with_output().expect("a trigger's output");
            assert!(
                output.status.success(),
                "{}",
                String::from_utf8_lossy(&output.stderr)
            );
            let task: Value = serde_json::from_slice(&output.stdout).expect("the task as JSON");
            task["id"].as_i64().expect("an id")
        })
        .collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    let tasks: Vec<Value> =
        serde_json::from_str(&site.ok(&["tasks", "--job", "one_report", "--json"])).expect("tasks");
    assert_eq!(tasks.len(), 1);
    // Another customer is another key.
    let other = crate::support::task_id(
        &site.trigger("one_report", Some(r#"{"customer":"globex","millis":10}"#)),
    );
    assert!(!ids.contains(&other));
}
