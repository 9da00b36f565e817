//! The console in headless Chromium (Debian's `chromium` and `chromium-driver`, driven
//! over WebDriver), walked through as an operator would: log in with the token, find the
//! failing job on the overview, open it, open a dead task and read its error, list that
//! job's dead tasks since a time and retry them all (confirming the count), trigger a job,
//! pause a queue, add a schedule, look at the runners and the events, and log out.
//! Skipped loudly when Chromium is missing, except with `CI=true` (`.ci/run` installs it).
//!
//! With `JOBS_SCREENSHOTS=docs/console` (a folder, relative to the workspace root), it saves
//! a screenshot of each page there (the README shows them); without it, nothing is written
//! outside the test's own folder, so CI never rewrites them.
//!
//! With `JOBS_CONSOLE_PARTIAL=1`, a step whose endpoint the runner does not serve yet (see
//! `CONTRACT_ENDPOINTS`) is skipped with a loud message instead of failing: for a branch
//! that has the pages before the API they draw on. Without it, every step runs.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "runner/http.rs"]
#[allow(dead_code)]
mod http;

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// With the characters that a form or a cookie mangles when not encoded and decoded.
const TOKEN: &str = "dashboard+test/token=0123456789abcdef==";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

struct Process(Child);

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// A WebDriver session.
struct Browser {
    driver: String,
    session: String,
}

impl Browser {
    fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let body = if method == "GET" || method == "DELETE" {
            String::new()
        } else {
            body.to_string()
        };
        let path = format!("/session/{}{path}", self.session);
        let response = http::request(
            method,
            &self.driver,
            &path,
            &[("Content-Type", "application/json")],
            body.as_bytes(),
        );
        response.json()["value"].clone()
    }

    fn find_all(&self, css: &str) -> Vec<String> {
        self.call(
            "POST",
            "/elements",
            json!({ "using": "css selector", "value": css }),
        )
        .as_array()
        .map(|items| {
            items
                .iter()
                .filter_map(|e| e[ELEMENT].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
    }

    fn wait_for(&self, css: &str, limit: Duration) -> String {
        let mut found = Vec::new();
        let appeared = wait_until(limit, || {
            found = self.find_all(css);
            !found.is_empty()
        });
        assert!(appeared, "`{css}` did not appear within {limit:?}");
        found.remove(0)
    }

    fn type_into(&self, element: &str, text: &str) {
        self.call(
            "POST",
            &format!("/element/{element}/value"),
            json!({ "text": text }),
        );
    }

    fn text(&self, element: &str) -> String {
        self.call("GET", &format!("/element/{element}/text"), json!({}))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Runs `script` in the page; its return value.
    fn script(&self, script: &str) -> Value {
        self.call(
            "POST",
            "/execute/sync",
            json!({ "script": script, "args": [] }),
        )
    }

    fn screenshot(&self) -> Vec<u8> {
        base64(
            self.call("GET", "/screenshot", json!({}))
                .as_str()
                .unwrap_or_default(),
        )
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = http::request(
            "DELETE",
            &self.driver,
            &format!("/session/{}", self.session),
            &[],
            b"",
        );
    }
}

fn base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => Some(c - b'A'),
        b'a'..=b'z' => Some(c - b'a' + 26),
        b'0'..=b'9' => Some(c - b'0' + 52),
        b'+' => Some(62),
        b'/' => Some(63),
        _ => None,
    };
    let digits: Vec<u8> = text.bytes().filter_map(value).collect();
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    for chunk in digits.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, d)| n | (u32::from(*d) << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}

impl Browser {
    fn open(&self, url: &str) {
        self.call("POST", "/url", json!({ "url": url }));
    }

    /// Presses the keys of `text` (WebDriver key codes for special keys, such as
    /// `\u{E004}` for Tab).
    fn keys(&self, text: &str) {
        let actions: Vec<Value> = text
            .chars()
            .flat_map(|c| {
                [
                    json!({ "type": "keyDown", "value": c.to_string() }),
                    json!({ "type": "keyUp", "value": c.to_string() }),
                ]
            })
            .collect();
        self.call(
            "POST",
            "/actions",
            json!({ "actions": [{ "type": "key", "id": "keyboard", "actions": actions }] }),
        );
    }

    /// Waits for `css` and clicks it, again if a refresh replaced it in between.
    fn press(&self, css: &str, limit: Duration) {
        let mut last = Value::Null;
        let pressed = wait_until(limit, || {
            let Some(element) = self.find_all(css).into_iter().next() else {
                return false;
            };
            last = self.call("POST", &format!("/element/{element}/click"), json!({}));
            last.get("error").is_none()
        });
        assert!(pressed, "could not press `{css}` within {limit:?}: {last}");
    }

    fn url(&self) -> String {
        self.call("GET", "/url", json!({}))
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits for `css`, then for its text to contain `needle`.
    fn wait_for_text(&self, css: &str, needle: &str, limit: Duration) -> String {
        let mut last = String::new();
        let found = wait_until(limit, || {
            last = self
                .find_all(css)
                .first()
                .map(|e| self.text(e))
                .unwrap_or_default();
            last.contains(needle)
        });
        assert!(
            found,
            "`{css}` did not show `{needle}` within {limit:?}; it shows `{last}`"
        );
        last
    }

    /// Saves a screenshot as `NAME.png` in `JOBS_SCREENSHOTS` (relative to the workspace
    /// root) when set; always checks it is a PNG.
    fn shoot(&self, name: &str) {
        // Let the page settle (charts drawn, focus rings gone).
        std::thread::sleep(Duration::from_millis(600));
        let png = self.screenshot();
        assert!(
            png.starts_with(b"\x89PNG"),
            "the screenshot of {name} is not a PNG"
        );
        let dir = match std::env::var("JOBS_SCREENSHOTS") {
            Ok(dir) if !dir.is_empty() => {
                let dir = PathBuf::from(dir);
                if dir.is_absolute() {
                    dir
                } else {
                    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                        .join("..")
                        .join(dir)
                }
            }
            _ => PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("console"),
        };
        std::fs::create_dir_all(&dir).expect("the screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("write the screenshot");
    }
}

/// The endpoints of issue 20's contract that the console draws on, with a request that
/// tells whether this runner serves them (an endpoint that does not exist answers 404
/// without the API's JSON error; a filter it does not know answers 400).
const CONTRACT_ENDPOINTS: [(&str, &str); 8] = [
    ("overview", "/api/overview?window=hour"),
    ("queues", "/api/queues"),
    ("runners", "/api/runners"),
    ("events", "/api/events?limit=1"),
    ("task detail", "/api/tasks/1/detail"),
    ("task filters", "/api/tasks?since=2000-01-01T00:00:00Z&q=x"),
    ("task count", "/api/tasks/count"),
    ("stream", "/api/stream"),
];

/// Which of `CONTRACT_ENDPOINTS` the runner at `base` serves.
fn served_endpoints(base: &str, auth: &str) -> BTreeSet<&'static str> {
    let mut served = BTreeSet::new();
    for (name, path) in CONTRACT_ENDPOINTS {
        // Only the status line: the stream never ends.
        let host = base.trim_start_matches("http://");
        let mut stream = std::net::TcpStream::connect(host).expect("connect to the runner");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("a read timeout");
        write!(
            stream,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: {auth}\r\nConnection: close\r\n\r\n"
        )
        .expect("send");
        let mut head = Vec::new();
        let mut buffer = [0u8; 4096];
        // The head and a short error; never the whole stream.
        while head.len() < 4096 {
            match stream.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buffer[..n]),
            }
            if path == "/api/stream" && head.windows(4).any(|w| w == b"\r\n\r\n") {
                break;
            }
        }
        let head = String::from_utf8_lossy(&head).to_string();
        let status = head.split(' ').nth(1).unwrap_or_default().to_owned();
        // A 404 with the API's JSON error for a thing (no task 1) means the endpoint is
        // there; one without, or saying that no endpoint is at the path, that it is not.
        let missing = (status == "404"
            && (!head.contains("application/json") || head.contains("no endpoint at")))
            || status == "405"
            || (status == "400" && name == "task filters");
        if !missing {
            served.insert(name);
        }
    }
    served
}

/// Runs the steps of the walkthrough, skipping (under `JOBS_CONSOLE_PARTIAL=1`) those whose
/// endpoints the runner does not serve.
struct Walkthrough {
    served: BTreeSet<&'static str>,
    partial: bool,
    skipped: Vec<String>,
}

impl Walkthrough {
    /// Whether to run a step that needs `needs`.
    fn runs(&mut self, step: &str, needs: &[&str]) -> bool {
        let missing: Vec<&str> = needs
            .iter()
            .copied()
            .filter(|n| !self.served.contains(n))
            .collect();
        if missing.is_empty() {
            return true;
        }
        if !self.partial {
            eprintln!(
                "!!!!!!!! The step `{step}` needs {missing:?}, which this runner does not serve: it will fail (JOBS_CONSOLE_PARTIAL=1 skips it)"
            );
            return true;
        }
        eprintln!(
            "!!!!!!!! SKIPPING the step `{step}`: the runner does not serve {missing:?} (JOBS_CONSOLE_PARTIAL=1)"
        );
        self.skipped
            .push(format!("{step} (needs {})", missing.join(", ")));
        false
    }
}

#[test]
fn an_operator_walks_through_the_console() {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "Chromium is missing and CI=true: .ci/run must install `chromium` and `chromium-driver`"
            );
        }
        eprintln!(
            "\n!!!!!!!!\n!!!!!!!! SKIPPING the console test: install Debian's `chromium` and `chromium-driver`.\n!!!!!!!!\n"
        );
        return;
    }
    let dir = tempfile::tempdir().expect("a folder");
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let _runner = Process(
        Command::new(env!("CARGO_BIN_EXE_job-runner"))
            .current_dir(dir.path())
            .env_remove("JOBS_DATABASE_URL")
            .env("JOBS_ADMIN_ADDR", format!("127.0.0.1:{port}"))
            .env("JOBS_ADMIN_TOKEN", TOKEN)
            .stderr(Stdio::null())
            .spawn()
            .expect("start job-runner"),
    );
    assert!(
        wait_until(Duration::from_secs(30), || std::net::TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "the admin server did not start"
    );
    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    let mut walk = Walkthrough {
        served: served_endpoints(&base, &auth),
        partial: std::env::var("JOBS_CONSOLE_PARTIAL").is_ok_and(|v| v == "1"),
        skipped: Vec::new(),
    };

    // Some history to look at: a success, and three transfers of a missing file, which fail
    // for good (dead at their first attempt).
    let before = chrono::Utc::now() - chrono::Duration::minutes(5);
    // More successes than a page of tasks holds.
    for _ in 0..53 {
        let created = http::request(
            "POST",
            &base,
            "/api/jobs/cleanup_expired_challenges/trigger",
            &headers,
            b"",
        );
        assert_eq!(created.status, 201, "{}", created.text());
    }
    for n in 0..3 {
        let body =
            format!(r#"{{"args":{{"source":"missing-{n}.pdf","destination":"out-{n}.pdf"}}}}"#);
        let created = http::request(
            "POST",
            &base,
            "/api/jobs/transfer_document/trigger",
            &headers,
            body.as_bytes(),
        );
        assert_eq!(created.status, 201, "{}", created.text());
    }
    // A document lands in the inbox: an event that starts a two-step chain.
    std::fs::write(
        dir.path().join("transfers/inbox/q3-report.txt"),
        "third quarter",
    )
    .expect("a document in the inbox");
    assert!(
        wait_until(Duration::from_secs(30), || {
            let page = http::request(
                "GET",
                &base,
                "/api/tasks?state=succeeded&job=index_document",
                &headers,
                b"",
            );
            page.json()["items"]
                .as_array()
                .is_some_and(|i| i.len() == 1)
        }),
        "the document's chain did not finish"
    );
    assert!(
        wait_until(Duration::from_secs(20), || {
            let page = http::request(
                "GET",
                &base,
                "/api/tasks?state=dead&job=transfer_document",
                &headers,
                b"",
            );
            page.json()["items"]
                .as_array()
                .is_some_and(|i| i.len() == 3)
        }),
        "the three transfers did not die"
    );

    let driver_port = free_port();
    let driver = format!("http://127.0.0.1:{driver_port}");
    let _chromedriver = Process(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={driver_port}"))
            // Times show in the viewer's zone, UTC on hover.
            .env("TZ", "Europe/Paris")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start chromedriver"),
    );
    assert!(
        wait_until(Duration::from_secs(20), || std::net::TcpStream::connect((
            "127.0.0.1",
            driver_port
        ))
        .is_ok()),
        "chromedriver did not start"
    );
    let profile = tempfile::tempdir().expect("a browser profile");
    let capabilities = json!({ "capabilities": { "alwaysMatch": {
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": CHROMIUM,
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--window-size=1400,1000", "--lang=en-GB",
                format!("--user-data-dir={}", profile.path().display()),
            ]
        }
    }}});
    let created = http::request(
        "POST",
        &driver,
        "/session",
        &[("Content-Type", "application/json")],
        capabilities.to_string().as_bytes(),
    );
    let session = created.json()["value"]["sessionId"]
        .as_str()
        .unwrap_or_else(|| panic!("no session: {}", created.text()))
        .to_owned();
    let browser = Browser { driver, session };
    let wait = Duration::from_secs(15);

    // Without the token, a page of the console sends us to the login page.
    browser.open(&format!("{base}/tasks?state=dead"));
    browser.wait_for("#login-form", Duration::from_secs(10));

    // A wrong token is refused on the page.
    let field = browser.wait_for("#token", Duration::from_secs(10));
    browser.type_into(&field, "not-the-token");
    browser.press("#login", Duration::from_secs(5));
    let error = browser.wait_for("#login-error:not([hidden])", Duration::from_secs(10));
    assert_eq!(browser.text(&error), "Wrong token.");

    browser.open(&format!("{base}/login"));
    let field = browser.wait_for("#token", Duration::from_secs(10));
    browser.type_into(&field, TOKEN);
    browser.press("#login", Duration::from_secs(5));

    // The overview: the failing job stands out in the table (and the chart above it).
    browser.wait_for("#view h1", wait);
    assert_eq!(
        browser.text(&browser.wait_for("#view h1", wait)),
        "Overview"
    );
    browser.wait_for("#dead tr[data-job='transfer_document']", wait);
    let job_link = if walk.runs("overview: find the failing job", &["overview"]) {
        browser.wait_for("#throughput-chart canvas", wait);
        browser.wait_for_text(
            "#job-totals tr.failure[data-job='transfer_document']",
            "failing",
            wait,
        );
        browser.wait_for_text("#throughput-summary", "3 dead", wait);
        // The day's window, and back.
        browser.press("#window-day", wait);
        browser.wait_for_text("#throughput-summary", "Last day", wait);
        browser.press("#window-hour", wait);
        browser.wait_for_text("#throughput-summary", "Last hour", wait);
        "#job-totals tr[data-job='transfer_document'] a[data-job]"
    } else {
        "#dead tr[data-job='transfer_document'] a[data-job]"
    };
    browser.shoot("overview");

    // Its page: settings, and a trigger the server refuses, with its reason by the form.
    browser.press(job_link, wait);
    browser.wait_for("#job-detail[data-job='transfer_document']", wait);
    assert!(
        browser.url().ends_with("/jobs/transfer_document"),
        "{}",
        browser.url()
    );
    browser.wait_for_text("#job-settings-panel", "transfers", wait);
    let args = browser.wait_for("#trigger-args", wait);
    browser.script("document.getElementById('trigger-args').value = '';");
    browser.type_into(&args, r#"{"source": 1}"#);
    browser.press("#trigger-submit", wait);
    let refused = browser.wait_for("#trigger-error:not([hidden])", wait);
    assert!(
        browser.text(&refused).contains("expected path string"),
        "the server's reason: {}",
        browser.text(&refused)
    );
    browser.wait_for("#job-tasks tr[data-state='dead']", wait);
    browser.shoot("job");

    // A dead task: its attempts, each error in full.
    browser.press("#job-tasks tr[data-state='dead'] a[data-task]", wait);
    browser.wait_for("#task[data-task]", wait);
    browser.wait_for_text("#attempt-list li.failure pre.error-text", "missing-", wait);
    browser.wait_for("#task-actions button[data-action='retry']", wait);
    browser.wait_for("#task-facts-panel time", wait);
    let time = browser.script(
        "const t = document.querySelector('#task-facts-panel time'); return [t.textContent, t.title];",
    );
    let shown = time[0].as_str().unwrap_or_default();
    let utc = &time[1];
    let utc = utc.as_str().unwrap_or_default();
    assert!(utc.ends_with(" UTC"), "the UTC time on hover: {utc}");
    assert!(
        !shown.contains(&utc[11..16]),
        "shown in Paris time ({shown}), not UTC ({utc})"
    );
    if walk.runs("task: origin and chain", &["task detail"]) {
        browser.wait_for_text("#origin", "manual", wait);
        browser.wait_for_text("#chain-panel", "Not part of a chain", wait);
    }
    browser.shoot("task");

    // The job's dead tasks since a time, retried all at once after confirming the count.
    browser.script("history.back();");
    browser.press("a[data-dead-tasks='transfer_document']", wait);
    browser.wait_for("#filters", wait);
    assert_eq!(
        browser
            .script("return document.getElementById('filter-state').value;")
            .as_str(),
        Some("dead")
    );
    if walk.runs(
        "tasks: filter since a time, bulk retry",
        &["task filters", "task count"],
    ) {
        // The time as the viewer's zone shows it (the browser runs in Paris), in the field.
        let since = before.format("%Y-%m-%dT%H:%M:%SZ");
        browser.script(&format!(
            "const d = new Date('{since}'); const p = (n) => String(n).padStart(2, '0');
             document.getElementById('filter-since').value = d.getFullYear() + '-' + p(d.getMonth() + 1)
               + '-' + p(d.getDate()) + 'T' + p(d.getHours()) + ':' + p(d.getMinutes()) + ':' + p(d.getSeconds());"
        ));
        browser.press("#filter-apply", wait);
        assert!(
            wait_until(wait, || browser.url().contains(&format!(
                "since={}",
                since.to_string().replace(':', "%3A")
            ))),
            "the filter is in the address: {}",
            browser.url()
        );
        browser.wait_for(
            "#tasks tr[data-state='dead'][data-job='transfer_document']",
            wait,
        );
        browser.press("#bulk-retry", wait);
        browser.wait_for_text(
            "#bulk-question",
            "Retry 3 tasks matching this filter?",
            wait,
        );
        browser.shoot("tasks");
        browser.press("#bulk-confirm-button", wait);
        browser.wait_for_text("#bulk-result", "3 matched, 3 retried", wait);
    } else {
        browser.wait_for(
            "#tasks tr[data-state='dead'][data-job='transfer_document']",
            wait,
        );
        browser.shoot("tasks");
    }

    // Pages of 50, the older ones through the cursor.
    browser.press("header nav a[href='/tasks']", wait);
    browser.wait_for("#filters", wait);
    browser.wait_for(
        "#filter-job option[value='cleanup_expired_challenges']",
        wait,
    );
    browser.script("document.getElementById('filter-job').value = 'cleanup_expired_challenges';");
    browser.press("#filter-apply", wait);
    assert!(wait_until(wait, || browser
        .find_all("#tasks tbody tr[data-job='cleanup_expired_challenges']")
        .len()
        == 50));
    browser.press("#older", wait);
    // The 53 triggered, and any the job's every-5-minutes schedule added meanwhile.
    let total = || {
        http::request(
            "GET",
            &base,
            "/api/tasks?job=cleanup_expired_challenges&limit=1000",
            &headers,
            b"",
        )
        .json()["items"]
            .as_array()
            .map_or(0, Vec::len)
    };
    assert!(
        wait_until(wait, || browser.url().contains("cursor=")
            && browser.find_all("#tasks tbody tr").len() == total() - 50),
        "the older page holds the {} others: {} rows at {}",
        total() - 50,
        browser.find_all("#tasks tbody tr").len(),
        browser.url()
    );
    assert!(browser.find_all("#older").is_empty());
    browser.wait_for(
        "nav.pager a[href='/tasks?job=cleanup_expired_challenges']",
        wait,
    );

    // Trigger a job from its page; the attempt shows up there.
    browser.press("header nav a[href='/jobs']", wait);
    browser.press(
        "#jobs tr[data-job='cleanup_expired_sessions'] a[href$='#trigger-panel']",
        wait,
    );
    browser.wait_for("#job-detail[data-job='cleanup_expired_sessions']", wait);
    // The link lands on the form (the job takes no arguments: on its button).
    assert!(wait_until(wait, || browser
        .script("return document.activeElement.id;")
        .as_str()
        == Some("trigger-submit")));
    browser.press("#trigger-submit", wait);
    browser.wait_for("#trigger-done a[data-task]", wait);
    // (Read through its selector: a refresh draws the rows anew.)
    browser.wait_for_text(
        "#job-executions tr[data-status='succeeded'][data-trigger='manual']",
        "manual",
        Duration::from_secs(20),
    );

    // Pause a queue.
    browser.press("header nav a[href='/queues']", wait);
    if walk.runs("queues: pause one", &["queues"]) {
        browser.press(
            "#queues tr[data-queue='transfers'] button[data-action='pause']",
            wait,
        );
        browser.wait_for("#queues tr.paused[data-queue='transfers']", wait);
        browser.wait_for_text("#queues tr[data-queue='transfers']", "paused", wait);
        // A transfer enqueued now waits in the paused queue, and the page shows it.
        let held = http::request(
            "POST",
            &base,
            "/api/jobs/transfer_document/trigger",
            &headers,
            br#"{"args":{"source":"held.pdf","destination":"held.pdf"}}"#,
        );
        assert_eq!(held.status, 201, "{}", held.text());
        assert!(
            wait_until(wait, || {
                browser
                .script("return document.querySelector(\"#queues tr[data-queue='transfers'] td:nth-child(3)\").textContent;")
                .as_str()
                == Some("1")
            }),
            "the held transfer is pending in the paused queue"
        );
        std::thread::sleep(Duration::from_secs(2));
        let task = held.json()["id"].as_i64().expect("the task's id");
        let state = http::request("GET", &base, &format!("/api/tasks/{task}"), &headers, b"");
        assert_eq!(
            state.json()["state"],
            "pending",
            "a paused queue's task ran"
        );
    }
    browser.shoot("queues");

    // Add a schedule.
    browser.press("header nav a[href='/schedules']", wait);
    let id = browser.wait_for("#schedule-id", wait);
    browser.type_into(&id, "nightly-sessions");
    browser.wait_for(
        "#schedule-job option[value='cleanup_expired_sessions']",
        wait,
    );
    browser.script(
        "const s = document.getElementById('schedule-job'); s.value = 'cleanup_expired_sessions';",
    );
    let cron = browser.wait_for("#schedule-cron", wait);
    browser.type_into(&cron, "0 3 * * *");
    let zone = browser.wait_for("#schedule-timezone", wait);
    browser.type_into(&zone, "Europe/Paris");
    browser.press("#schedule-submit", wait);
    browser.wait_for_text("#schedule-done", "Added nightly-sessions", wait);
    browser.wait_for_text(
        "#schedules tr[data-schedule='nightly-sessions']",
        "0 3 * * *",
        wait,
    );
    // Changed: at 04:00 instead.
    browser.press(
        "button[data-action='edit'][data-schedule='nightly-sessions']",
        wait,
    );
    let cron = browser.wait_for("#schedule-cron", wait);
    browser.script("document.getElementById('schedule-cron').value = '';");
    browser.type_into(&cron, "0 4 * * *");
    browser.press("#schedule-submit", wait);
    browser.wait_for_text(
        "#schedules tr[data-schedule='nightly-sessions']",
        "0 4 * * *",
        wait,
    );
    assert!(
        browser
            .find_all("#schedule-cancel-edit:not([hidden])")
            .is_empty()
    );
    // A bad one is refused with the server's reason beside the form.
    let id = browser.wait_for("#schedule-id", wait);
    browser.type_into(&id, "broken");
    let cron = browser.wait_for("#schedule-cron", wait);
    browser.type_into(&cron, "not a cron");
    browser.press("#schedule-submit", wait);
    browser.wait_for("#schedule-error:not([hidden])", wait);
    browser.shoot("schedules");
    // Paused, resumed, and removed (a second press confirms).
    let row = "#schedules tr[data-schedule='nightly-sessions']";
    browser.press(&format!("{row} button[data-action='pause']"), wait);
    browser.wait_for(
        "#schedules tr.paused[data-schedule='nightly-sessions']",
        wait,
    );
    browser.press(&format!("{row} button[data-action='resume']"), wait);
    browser.wait_for(&format!("{row} button[data-action='pause']"), wait);
    browser.press(&format!("{row} button[data-action='remove']"), wait);
    browser.wait_for_text(
        &format!("{row} button[data-action='remove']"),
        "Really remove",
        wait,
    );
    assert!(
        !browser.find_all(row).is_empty(),
        "removed at the first press"
    );
    browser.press(&format!("{row} button[data-action='remove']"), wait);
    assert!(wait_until(wait, || browser.find_all(row).is_empty()));

    browser.press("header nav a[href='/runners']", wait);
    if walk.runs("runners: this runner, alive", &["runners"]) {
        browser.wait_for_text("#runners tbody tr", "alive", wait);
    }
    browser.shoot("runners");

    browser.press("header nav a[href='/events']", wait);
    if walk.runs("events: the document's event", &["events"]) {
        browser.wait_for_text(
            "#events tbody tr[data-source='uploads']",
            "ingest_document",
            wait,
        );
    }
    browser.shoot("events");
    // The task it started: its origin is the event, and its chain leads to the next step.
    if walk.runs(
        "events: the task an event started, its chain",
        &["events", "task detail"],
    ) {
        browser.press("#events tr[data-source='uploads'] a[data-task]", wait);
        browser.wait_for_text("#origin", "uploads", wait);
        browser.wait_for_text("#chain-steps", "index_document", wait);
        browser.press("#chain-steps a[data-task]", wait);
        browser.wait_for_text("#view h1", "Task", wait);
        browser.wait_for_text("#task-facts-panel", "index_document", wait);
        browser.wait_for_text(
            "#chain-steps strong[aria-current='page']",
            "index_document",
            wait,
        );
    }

    // Live updates over the stream, else polling, said in the header.
    let mode = if walk.runs("live updates over the stream", &["stream"]) {
        "live"
    } else {
        "polling"
    };
    browser.wait_for(&format!("#live[data-mode='{mode}']"), wait);
    if walk.runs(
        "the header's pulse: dead tasks, paused queues",
        &["stream", "queues"],
    ) {
        browser.wait_for("#pulse a[data-count='dead'].bad", wait);
        browser.wait_for("#pulse a[data-paused-queue='transfers']", wait);
    }

    // Every page is a real URL: a reload shows the same page.
    browser.open(&format!("{base}/tasks?state=dead&job=transfer_document"));
    browser.wait_for("#filters", wait);
    assert_eq!(
        browser
            .script("return document.getElementById('filter-job').value;")
            .as_str(),
        Some("transfer_document")
    );

    // The keyboard: the first Tab reaches the skip link, and `/` jumps to the filter box.
    browser.keys("\u{E004}");
    assert_eq!(
        browser
            .script("return document.activeElement.className;")
            .as_str(),
        Some("skip")
    );
    browser.script("document.activeElement.blur();");
    browser.keys("/");
    assert_eq!(
        browser.script("return document.activeElement.id;").as_str(),
        Some("filter-q")
    );

    // The session's cookie is out of reach of the page's scripts.
    let cookies = browser.script("return document.cookie;");
    assert!(
        !cookies
            .as_str()
            .unwrap_or_default()
            .contains("jobs_session"),
        "{cookies}"
    );

    // Logging out leads to the login page, and the console stays closed.
    browser.press("#logout", Duration::from_secs(5));
    browser.wait_for("#login-form", Duration::from_secs(10));
    browser.open(&format!("{base}/"));
    browser.wait_for("#login-form", Duration::from_secs(10));
    assert!(browser.find_all("#view").is_empty());

    if !walk.skipped.is_empty() {
        eprintln!(
            "\n!!!!!!!!\n!!!!!!!! The console walkthrough SKIPPED (JOBS_CONSOLE_PARTIAL=1):\n!!!!!!!!   {}\n!!!!!!!!\n",
            walk.skipped.join("\n!!!!!!!!   ")
        );
    }
}
