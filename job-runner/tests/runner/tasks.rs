//! Tasks in bulk and in depth, through real runners: a bulk retry from the CLI and from
//! the API touches exactly the tasks its filter matched, a task's page shows its attempts
//! and its tick, and the stream sends a change when a task is stored.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Test;
use crate::support::{Backend, Site, TOKEN, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    a_bulk_retry_of_dead_tasks_since_t_touches_exactly_those,
    a_tasks_page_shows_its_attempts_with_their_errors_and_its_tick,
    the_stream_sends_a_change_when_a_task_is_stored,
];

/// A runner with its admin server on a free port, with `env` set.
fn admin_site(backend: Backend, env: &[(&str, &str)]) -> (Site, crate::support::Runner, String) {
    let mut site = Site::new(backend);
    site.env("JOBS_ADMIN_ADDR", "127.0.0.1:0");
    site.env("JOBS_ADMIN_TOKEN", TOKEN);
    for (name, value) in env {
        site.env(name, value);
    }
    let runner = site.runner();
    let url = runner.admin_url();
    (site, runner, url)
}

fn call(method: &str, url: &str, path: &str, body: &str) -> crate::http::Response {
    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("Content-Type", "application/json"),
        ("Authorization", auth.as_str()),
    ];
    crate::http::request(method, url, path, &headers, body.as_bytes())
}

fn get(url: &str, path: &str) -> Value {
    let response = call("GET", url, path, "");
    assert_eq!(response.status, 200, "GET {path}: {}", response.text());
    response.json()
}

fn state(url: &str, id: i64) -> String {
    get(url, &format!("/api/tasks/{id}"))["state"]
        .as_str()
        .expect("a state")
        .to_owned()
}

/// Waits until every task of `ids` is dead.
fn wait_dead(url: &str, ids: &[i64]) {
    let dead = wait_until(Duration::from_secs(30), || {
        ids.iter().all(|&id| state(url, id) == "dead")
    });
    assert!(
        dead,
        "not all dead: {:?}",
        ids.iter().map(|&id| state(url, id)).collect::<Vec<_>>()
    );
}

fn now_text() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

fn a_bulk_retry_of_dead_tasks_since_t_touches_exactly_those(backend: Backend) {
    let (site, runner, url) = admin_site(backend, &[]);
    let note = |text: &str| json!({ "text": text });
    let old = site.enqueue_many("fails_with", vec![note("old failure")]);
    wait_dead(&url, &old);
    std::thread::sleep(Duration::from_millis(50));
    let t = now_text();
    std::thread::sleep(Duration::from_millis(50));
    let recent = site.enqueue_many(
        "fails_with",
        vec![note("first"), note("second"), note("third ACME")],
    );
    let other = site.enqueue_many("panics", vec![json!(null)]);
    wait_dead(&url, &[recent.clone(), other.clone()].concat());
    // Held while retried, so that their state can be read before they run again.
    site.ok(&["pause", "fails_with"]);

    // The listing and the count agree on what the filter matches.
    let filter = [
        "--state",
        "dead",
        "--job",
        "fails_with",
        "--since",
        t.as_str(),
    ];
    let listed: Vec<Value> =
        serde_json::from_str(&site.ok(&[&["tasks", "--json"][..], &filter[..]].concat()))
            .expect("tasks as JSON");
    let mut listed: Vec<i64> = listed
        .iter()
        .map(|t| t["id"].as_i64().expect("an id"))
        .collect();
    listed.reverse();
    assert_eq!(listed, recent);
    let grep: Vec<Value> = serde_json::from_str(&site.ok(&["tasks", "--json", "--grep", "acme"]))
        .expect("tasks as JSON");
    assert_eq!(grep.len(), 1);
    assert_eq!(grep[0]["id"].as_i64(), Some(recent[2]));

    // Without --yes and without a terminal: refused, nothing done.
    let refused = site
        .command(&[&["tasks", "retry"][..], &filter[..]].concat())
        .stdin(Stdio::null())
        .output()
        .expect("run the command");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("--yes"), "{stderr}");
    assert!(recent.iter().all(|&id| state(&url, id) == "dead"));

    let out = site.ok(&[&["tasks", "retry"][..], &filter[..], &["--yes"][..]].concat());
    assert!(out.contains("3 tasks match"), "{out}");
    assert!(out.contains("matched 3, applied 3, skipped 0"), "{out}");
    for &id in &recent {
        assert_eq!(state(&url, id), "pending", "task {id}");
    }
    for id in [old[0], other[0]] {
        assert_eq!(state(&url, id), "dead", "task {id} was retried");
    }

    // They run again and die again; the API retries them the same way.
    site.ok(&["resume", "fails_with"]);
    let died_again = wait_until(Duration::from_secs(30), || {
        recent.iter().all(|&id| {
            let task = get(&url, &format!("/api/tasks/{id}"));
            task["state"] == "dead" && task["attempt"] == 4
        })
    });
    assert!(died_again, "the retried tasks did not run again");
    site.ok(&["pause", "fails_with"]);
    let query = format!("state=dead&job=fails_with&since={}", t.replace('+', "%2B"));
    let count = get(&url, &format!("/api/tasks/count?{query}"));
    assert_eq!(count["count"], 3, "{count}");
    assert_eq!(count["up_to_id"].as_i64(), Some(recent[2]));
    let body = json!({
        "filter": { "state": "dead", "job": "fails_with", "since": t },
        "up_to_id": count["up_to_id"],
    });
    let missing = call(
        "POST",
        &url,
        "/api/tasks/bulk/retry",
        &json!({"filter": body["filter"]}).to_string(),
    );
    assert_eq!(missing.status, 400);
    assert!(missing.text().contains("up_to_id"), "{}", missing.text());
    let done = call("POST", &url, "/api/tasks/bulk/retry", &body.to_string());
    assert_eq!(done.status, 200, "{}", done.text());
    assert_eq!(
        done.json(),
        json!({ "matched": 3, "applied": 3, "skipped": 0 })
    );
    for &id in &recent {
        assert_eq!(state(&url, id), "pending", "task {id}");
    }
    for id in [old[0], other[0]] {
        assert_eq!(state(&url, id), "dead", "task {id} was retried");
    }
    // Delete never removes a pending task: the dead ones of the filter go, the rest stay.
    let all = json!({ "filter": { "job": "fails_with" }, "up_to_id": recent[2] });
    let deleted = call("POST", &url, "/api/tasks/bulk/delete", &all.to_string()).json();
    assert_eq!(deleted, json!({ "matched": 4, "applied": 1, "skipped": 3 }));
    assert_eq!(
        call("GET", &url, &format!("/api/tasks/{}", old[0]), "").status,
        404
    );
    drop(runner);
}

fn a_tasks_page_shows_its_attempts_with_their_errors_and_its_tick(backend: Backend) {
    let (site, runner, url) = admin_site(backend, &[("JOBS_JOB_EVERY_SECOND_ENABLED", "true")]);
    let failed = site.enqueue_many("fails_with", vec![json!({ "text": "disk full" })]);
    wait_dead(&url, &failed);
    let detail = get(&url, &format!("/api/tasks/{}/detail", failed[0]));
    assert_eq!(detail["task"]["id"].as_i64(), Some(failed[0]));
    let attempts = detail["attempts"].as_array().expect("attempts");
    assert_eq!(attempts.len(), 2, "{detail}");
    assert_eq!(
        attempts
            .iter()
            .map(|a| a["attempt"].as_i64())
            .collect::<Vec<_>>(),
        [Some(1), Some(2)],
        "oldest first"
    );
    assert_eq!(attempts[0]["error"], "disk full", "{detail}");
    assert_eq!(attempts[1]["status"], "dead", "{detail}");
    assert!(
        attempts[1]["error"]
            .as_str()
            .is_some_and(|e| e.starts_with("disk full")),
        "{detail}"
    );
    assert_eq!(detail["origin"]["trigger"], "enqueue");
    assert_eq!(detail["origin"]["tick_at"], Value::Null);
    assert_eq!(detail["chain"], json!([]));

    let mut ticked = None;
    let found = wait_until(Duration::from_secs(15), || {
        let page = get(&url, "/api/tasks?job=every_second&limit=1");
        ticked = page["items"][0]["id"].as_i64();
        ticked.is_some()
    });
    assert!(found, "no tick stored a task");
    let detail = get(
        &url,
        &format!("/api/tasks/{}/detail", ticked.expect("a task")),
    );
    assert_eq!(detail["origin"]["trigger"], "cron", "{detail}");
    assert!(detail["origin"]["schedule_id"].is_string(), "{detail}");
    assert_eq!(
        crate::support::millis(&detail["origin"]["tick_at"]),
        crate::support::millis(&detail["task"]["scheduled_at"]),
        "the tick is the task's scheduled instant"
    );
    assert_eq!(
        call("GET", &url, "/api/tasks/999999999/detail", "").status,
        404
    );
    assert_eq!(call("GET", &url, "/api/tasks/abc/detail", "").status, 400);
    drop(runner);
}

/// The `change` events of a server-sent stream, read for at most `limit` or until `enough`
/// of them arrived.
struct Events {
    stream: TcpStream,
    raw: Vec<u8>,
}

impl Events {
    fn open(url: &str) -> Events {
        let host = url.trim_start_matches("http://").trim_end_matches('/');
        let mut stream = TcpStream::connect(host).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .expect("a read timeout");
        let head = format!(
            "GET /api/stream HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {TOKEN}\r\nAccept: text/event-stream\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).expect("send the request");
        Events {
            stream,
            raw: Vec::new(),
        }
    }

    /// The data of every `change` event so far (chunk framing aside: each event is written
    /// whole, and its JSON is on one line).
    fn changes(&self) -> Vec<Value> {
        let text = String::from_utf8_lossy(&self.raw);
        text.split("event: change")
            .skip(1)
            .filter_map(|event| {
                let data = event.split("data: ").nth(1)?;
                serde_json::from_str(data.lines().next()?).ok()
            })
            .collect()
    }

    fn wait_for(&mut self, enough: usize, limit: Duration) -> Vec<Value> {
        let deadline = Instant::now() + limit;
        let mut buffer = [0u8; 8192];
        while self.changes().len() < enough && Instant::now() < deadline {
            match self.stream.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => self.raw.extend_from_slice(&buffer[..n]),
                Err(_) => {}
            }
        }
        self.changes()
    }

    fn head(&self) -> String {
        let text = String::from_utf8_lossy(&self.raw).to_ascii_lowercase();
        text.split("\r\n\r\n").next().unwrap_or_default().to_owned()
    }
}

fn the_stream_sends_a_change_when_a_task_is_stored(backend: Backend) {
    let (site, runner, url) = admin_site(backend, &[]);
    site.ok(&["pause", "echo"]);
    let mut events = Events::open(&url);
    let first = events.wait_for(1, Duration::from_secs(10));
    assert!(
        events.head().starts_with("http/1.1 200"),
        "{}",
        events.head()
    );
    assert!(
        events.head().contains("content-type: text/event-stream"),
        "{}",
        events.head()
    );
    assert_eq!(first.len(), 1, "no change at connect");
    assert_eq!(first[0]["counts"]["pending"], 0, "{}", first[0]);
    // Nothing changes: nothing is sent.
    assert_eq!(events.wait_for(2, Duration::from_millis(1500)).len(), 1);
    site.enqueue_many("echo", vec![json!({ "text": "hello" })]);
    let changes = events.wait_for(2, Duration::from_secs(10));
    assert_eq!(changes.len(), 2, "no change after a task was stored");
    assert_eq!(changes[1]["counts"]["pending"], 1, "{}", changes[1]);
    assert_eq!(changes[1]["paused_queues"], json!([]));
    // An open stream does not hold the runner's stop: it ends there.
    let started = Instant::now();
    let (stopped, log) = runner.terminate();
    assert!(stopped, "{log}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "the stop took {:?}",
        started.elapsed()
    );
}
