//! The dashboard in headless Chromium (Debian's `chromium` and `chromium-driver`, driven
//! over WebDriver): log in with the token, see the example jobs, press trigger, see the
//! new execution appear, and log out. Skipped loudly when Chromium is missing, except with `CI=true`
//! (`.ci/run` installs it).

use std::net::TcpListener;
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

    fn click(&self, element: &str) {
        self.call("POST", &format!("/element/{element}/click"), json!({}));
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

#[test]
fn log_in_see_the_jobs_trigger_one_and_see_its_execution() {
    if !std::path::Path::new(CHROMEDRIVER).exists() || !std::path::Path::new(CHROMIUM).exists() {
        if std::env::var("CI").is_ok_and(|v| v == "true") {
            panic!(
                "Chromium is missing and CI=true: .ci/run must install `chromium` and `chromium-driver`"
            );
        }
        eprintln!(
            "\n!!!!!!!!\n!!!!!!!! SKIPPING the dashboard test: install Debian's `chromium` and `chromium-driver`.\n!!!!!!!!\n"
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
    // Some history to look at, a failure among it.
    let auth = format!("Bearer {TOKEN}");
    let headers = [
        ("Authorization", auth.as_str()),
        ("Content-Type", "application/json"),
    ];
    http::request(
        "POST",
        &base,
        "/api/jobs/cleanup_expired_challenges/trigger",
        &headers,
        b"",
    );
    http::request(
        "POST",
        &base,
        "/api/jobs/transfer_document/trigger",
        &headers,
        br#"{"args":{"source":"missing.pdf","destination":"missing.pdf"}}"#,
    );

    let driver_port = free_port();
    let driver = format!("http://127.0.0.1:{driver_port}");
    let _chromedriver = Process(
        Command::new(CHROMEDRIVER)
            .arg(format!("--port={driver_port}"))
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
                "--window-size=1500,1100", format!("--user-data-dir={}", profile.path().display()),
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

    // Without the token, the dashboard sends us to the login page.
    browser.call("POST", "/url", json!({ "url": format!("{base}/") }));
    browser.wait_for("#login-form", Duration::from_secs(10));

    // A wrong token is refused on the page.
    let field = browser.wait_for("#token", Duration::from_secs(10));
    browser.type_into(&field, "not-the-token");
    browser.click(&browser.wait_for("#login", Duration::from_secs(5)));
    let error = browser.wait_for("#login-error:not([hidden])", Duration::from_secs(10));
    assert_eq!(browser.text(&error), "Wrong token.");

    browser.call("POST", "/url", json!({ "url": format!("{base}/login") }));
    let field = browser.wait_for("#token", Duration::from_secs(10));
    browser.type_into(&field, TOKEN);
    browser.click(&browser.wait_for("#login", Duration::from_secs(5)));

    for job in [
        "expire_keys",
        "cleanup_expired_sessions",
        "cleanup_expired_refresh_tokens",
        "cleanup_expired_challenges",
        "cleanup_expired_device_codes",
        "transfer_document",
    ] {
        browser.wait_for(
            &format!("#jobs tbody tr[data-job='{job}']"),
            Duration::from_secs(15),
        );
    }
    browser.wait_for(
        "#executions tbody tr.failure[data-job='transfer_document']",
        Duration::from_secs(15),
    );
    browser.wait_for("#dead tbody tr", Duration::from_secs(15));
    assert!(
        browser
            .find_all("#executions tbody tr[data-job='cleanup_expired_sessions']")
            .is_empty()
    );

    browser.click(&browser.wait_for(
        "button[data-action='trigger'][data-job='cleanup_expired_sessions']",
        Duration::from_secs(5),
    ));
    let row = browser.wait_for(
        "#executions tbody tr[data-job='cleanup_expired_sessions'][data-status='succeeded']",
        Duration::from_secs(15),
    );
    assert!(
        browser.text(&row).contains("manual"),
        "{}",
        browser.text(&row)
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

    let png = browser.screenshot();
    assert!(png.starts_with(b"\x89PNG"), "the screenshot is not a PNG");
    let target = std::env::var("DASHBOARD_SCREENSHOT")
        .unwrap_or_else(|_| format!("{}/dashboard.png", env!("CARGO_TARGET_TMPDIR")));
    std::fs::write(&target, png).expect("write the screenshot");

    // Logging out leads to the login page, and the dashboard stays closed.
    browser.click(&browser.wait_for("#logout", Duration::from_secs(5)));
    browser.wait_for("#login-form", Duration::from_secs(10));
    browser.call("POST", "/url", json!({ "url": format!("{base}/") }));
    browser.wait_for("#login-form", Duration::from_secs(10));
    assert!(browser.find_all("#jobs").is_empty());
}
