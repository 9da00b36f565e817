//! The `job-runner` binary itself, with the example jobs: it starts on its own database,
//! lists them, and runs the document transfer chain.

use std::time::Duration;

use serde_json::Value;

use crate::Runs::Only;
use crate::Test;
use crate::support::{Backend, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    the_binary_runs_the_examples_and_lists_them => Only(Backend::Sqlite),
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
