//! The admin API: every route needs the token, triggers, pauses, retries and metrics work,
//! bad input gets a clear 4xx, and a public address needs a configured token.

use std::time::Duration;

use serde_json::Value;

use crate::Runs::Only;
use crate::Test;
use crate::support::{Backend, Site, TOKEN, rows_of_task, task_state, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    every_admin_route_refuses_a_missing_or_wrong_token,
    the_admin_api_triggers_pauses_retries_and_counts,
    bad_admin_input_gets_a_clear_4xx_and_changes_nothing,
    a_public_admin_address_needs_a_configured_token,
    the_dashboard_logs_in_to_a_session_cookie_and_out => Only(Backend::Sqlite),
];

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
            if path == "/api/stream" {
                // An event stream stays open: see the stream's own test.
                checked += 1;
                continue;
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
    // Every page of the console, and its scripts, behind the token.
    for page in [
        "/",
        "/jobs",
        "/jobs/echo",
        "/tasks",
        "/tasks/1",
        "/schedules",
        "/events",
        "/queues",
        "/runners",
        "/assets/app.js",
        "/assets/vendor/uPlot.iife.min.js",
    ] {
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
    // The login page and what it loads are public; a file the console lacks is not found.
    for page in ["/login", "/assets/login.js", "/assets/style.css"] {
        assert_eq!(call("GET", &url, page, None, "").status, 200, "{page}");
    }
    let missing = call("GET", &url, "/assets/nothing.js", Some(TOKEN), "");
    assert_eq!(missing.status, 404);
    let shell = call("GET", &url, "/tasks/1", Some(TOKEN), "");
    assert!(shell.text().contains("/assets/app.js"), "{}", shell.text());
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
    // A running attempt shows as in flight, across every runner, while it runs.
    call(
        "POST",
        &url,
        "/api/jobs/slow/trigger",
        Some(TOKEN),
        r#"{"args":{"millis":3000,"marker":"in-flight"}}"#,
    );
    let in_flight = wait_until(Duration::from_secs(10), || {
        call("GET", &url, "/metrics", Some(TOKEN), "")
            .text()
            .lines()
            .any(|l| l == "jobs_in_flight{job=\"slow\"} 1")
    });
    assert!(in_flight, "jobs_in_flight did not show the running attempt");
}

/// The statuses the OpenAPI document lists for `method` on `concrete` (a path with its
/// parameters filled in, and perhaps a query).
fn documented(doc: &serde_json::Value, method: &str, concrete: &str) -> Vec<String> {
    let path = concrete.split('?').next().unwrap_or(concrete);
    let fits = |template: &str| {
        let (a, b): (Vec<&str>, Vec<&str>) =
            (template.split('/').collect(), path.split('/').collect());
        a.len() == b.len()
            && a.iter()
                .zip(&b)
                .all(|(t, p)| t == p || (t.starts_with('{') && t.ends_with('}')))
    };
    doc["paths"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(template, _)| fits(template))
        .filter_map(|(_, item)| item[method.to_lowercase()]["responses"].as_object())
        .flat_map(|responses| responses.keys().cloned())
        .collect()
}

fn bad_admin_input_gets_a_clear_4xx_and_changes_nothing(backend: Backend) {
    let (_site, runner, url) = admin_site(backend);
    let doc = call("GET", &url, "/api/openapi.json", Some(TOKEN), "").json();
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
            "only pending or running tasks can be cancelled",
        ),
        (
            "POST",
            &format!("/api/tasks/{done}/retry"),
            "",
            409,
            "only dead or cancelled tasks can be retried",
        ),
        (
            "GET",
            "/api/executions?job=nope",
            "",
            404,
            "no job named `nope`",
        ),
        ("GET", "/api/executions?limit=0", "", 400, "at least 1"),
        (
            "GET",
            "/api/overview?window=week",
            "",
            400,
            "`window` must be `hour` or `day`",
        ),
        (
            "GET",
            "/api/overview?job=nope",
            "",
            404,
            "no job named `nope`",
        ),
        (
            "POST",
            "/api/queues/nowhere/pause",
            "",
            404,
            "no queue named `nowhere`",
        ),
        ("GET", "/api/events?limit=0", "", 400, "at least 1"),
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
        assert!(
            documented(&doc, method, path).contains(&status.to_string()),
            "{method} {path} answers {status}, which the OpenAPI document does not list"
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
