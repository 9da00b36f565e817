//! An idle runner hears of the tasks that another process stores (PostgreSQL: NOTIFY;
//! SQLite: a watch of the database file) instead of waiting for its poll, and a runner with
//! nothing happening is not woken.

use std::time::Duration;

use crate::Test;
use crate::support::{Backend, Site, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    a_task_stored_by_another_process_starts_before_the_poll_could_find_it,
    an_idle_runner_is_woken_only_when_the_database_changes => crate::Runs::Only(Backend::Sqlite),
];

/// What the runner logs (at debug level) each time the database's watch wakes it.
const WOKEN: &str = "the database changed; looking for tasks";

/// A site whose runners poll once a minute and renew their claims every 20 s: within the
/// tests' 20 s, only an announcement can bring a task stored by another process.
fn slow_site(backend: Backend) -> Site {
    let mut site = Site::new(backend);
    site.env("JOBS_POLL_INTERVAL", "60s")
        .env("JOBS_HEARTBEAT", "20s")
        .env("JOBS_LEASE", "60s")
        .env(
            "JOBS_LOG",
            "info,job_runner::listener=debug,sqlx=warn,apalis_core=warn",
        );
    site
}

fn a_task_stored_by_another_process_starts_before_the_poll_could_find_it(backend: Backend) {
    let site = slow_site(backend);
    let runner = site.runner();
    // Let the runner's fetchers make their first claims (finding nothing) and go idle.
    std::thread::sleep(Duration::from_millis(1500));
    // Stored through connections of this process, not the runner's.
    let ids = site.enqueue_many(
        "echo",
        vec![serde_json::json!({ "text": "from the web app" })],
    );
    let ran = wait_until(Duration::from_secs(20), || {
        site.history(&["--job", "echo", "--status", "succeeded"])
            .iter()
            .any(|row| row["task_id"] == ids[0])
    });
    assert!(
        ran,
        "a task stored by another process waited for the runner's poll (every 60 s):\n{}",
        runner.log()
    );
    let (clean, log) = runner.terminate();
    assert!(clean, "the runner did not exit cleanly:\n{log}");
}

fn an_idle_runner_is_woken_only_when_the_database_changes(backend: Backend) {
    let site = slow_site(backend);
    let runner = site.runner();
    let wakes = || runner.log().matches(WOKEN).count();
    // Past start-up (its own first commits wake it), nothing commits: a runner that woke
    // itself (its claims finding nothing writing to the file, say) would wake again and
    // again.
    std::thread::sleep(Duration::from_secs(2));
    let settled = wakes();
    std::thread::sleep(Duration::from_secs(3));
    let idle = wakes() - settled;
    assert!(
        idle <= 1,
        "an idle runner was woken {idle} times in 3 s with nothing committed:\n{}",
        runner.log()
    );
    // Another process commits: the runner is woken, and runs the task.
    let before = wakes();
    let ids = site.enqueue_many("echo", vec![serde_json::json!({ "text": "wake up" })]);
    let ran = wait_until(Duration::from_secs(20), || {
        site.history(&["--job", "echo", "--status", "succeeded"])
            .iter()
            .any(|row| row["task_id"] == ids[0])
    });
    assert!(ran, "the task did not run:\n{}", runner.log());
    assert!(
        wakes() > before,
        "the runner ran the task without being woken by the change:\n{}",
        runner.log()
    );
    let (clean, log) = runner.terminate();
    assert!(clean, "the runner did not exit cleanly:\n{log}");
}
