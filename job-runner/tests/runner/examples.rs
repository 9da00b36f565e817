//! The `job-runner` binary itself, with the example jobs: it starts on its own database,
//! lists them, and runs the document transfer chain; and the transfer API example beside
//! it, driven over HTTP as a user would with curl.

use std::time::Duration;

use serde_json::Value;

use crate::Runs::Only;
use crate::Test;
use crate::support::{Backend, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    the_binary_runs_the_examples_and_lists_them => Only(Backend::Sqlite),
    the_transfer_api_records_a_request_and_reports_its_job => Only(Backend::Sqlite),
];

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

fn the_transfer_api_records_a_request_and_reports_its_job(_: Backend) {
    use crate::http::request;
    let dir = tempfile::tempdir().expect("a folder");
    let command = |binary: &std::path::Path| app_command(dir.path(), binary);
    let api_binary = transfer_api_binary();
    let port = free_port();
    let base = format!("http://127.0.0.1:{port}");
    let mut runner = command(std::path::Path::new(env!("CARGO_BIN_EXE_job-runner")))
        .spawn()
        .expect("start job-runner");
    let inbox = dir.path().join("transfers/inbox");
    assert!(
        wait_until(Duration::from_secs(20), || inbox.exists()),
        "the runner did not start"
    );
    let mut api = command(&api_binary)
        .env("EXAMPLES_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .spawn()
        .expect("start the API");
    let listening = wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    // A document already in place (dropped before, so the runner's folder source has
    // nothing to do with it: it is under a subfolder the source does not watch).
    std::fs::create_dir_all(inbox.join("scans")).expect("a subfolder");
    std::fs::write(inbox.join("scans/q3.txt"), "quarterly figures\n").expect("a document");
    let json = [("content-type", "application/json")];
    let created = request(
        "POST",
        &base,
        "/transfers",
        &json,
        br#"{"source": "scans/q3.txt", "destination": "2026/q3.txt"}"#,
    );
    let refused = request("POST", &base, "/transfers", &json, b"{\"source\": 3}");
    let mut last = Value::Null;
    let done = wait_until(Duration::from_secs(30), || {
        last = request("GET", &base, "/transfers/1", &[], b"").json();
        last["state"] == "succeeded"
    });
    let missing = request("GET", &base, "/transfers/99", &[], b"");
    for child in [&mut api, &mut runner] {
        let _ = child.kill();
        let _ = child.wait();
    }
    assert!(listening, "the API did not listen");
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(created.json()["transfer"], 1);
    assert_eq!(refused.status, 400, "{}", refused.text());
    assert!(refused.text().contains("destination"), "{}", refused.text());
    assert!(done, "the transfer did not succeed: {last}");
    assert_eq!(last["result"]["bytes"], 18, "{last}");
    assert_eq!(last["result"]["destination"], "2026/q3.txt");
    assert_eq!(last["progress"]["done"], 1, "{last}");
    assert_eq!(last["progress"]["meta"]["source"], "scans/q3.txt");
    assert_eq!(last["task"], created.json()["task"]);
    assert_eq!(missing.status, 404);
    assert_eq!(
        std::fs::read_to_string(dir.path().join("transfers/outbox/2026/q3.txt")).expect("the copy"),
        "quarterly figures\n"
    );
}

/// `binary` (the `job-runner` binary or an example's) to start in `dir`, on the default
/// SQLite database there, without the admin server, its output discarded.
pub fn app_command(dir: &std::path::Path, binary: &std::path::Path) -> std::process::Command {
    let mut command = std::process::Command::new(binary);
    command
        .current_dir(dir)
        .env_remove("JOBS_DATABASE_URL")
        .env("JOBS_ADMIN_ADDR", "off")
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    command
}

/// The transfer API example's binary, which `cargo test` builds beside the test binaries.
pub fn transfer_api_binary() -> std::path::PathBuf {
    let binary = std::env::current_exe()
        .expect("the test binary")
        .parent()
        .and_then(|deps| deps.parent())
        .expect("the target folder")
        .join("examples/transfer_api");
    assert!(
        binary.exists(),
        "{} was not built: `cargo test` builds it; alone, `cargo build -p job-runner --example transfer_api`",
        binary.display()
    );
    binary
}

/// A port free on 127.0.0.1 now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}
