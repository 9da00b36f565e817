//! Jobs inside the application: a task enqueued in the application's own transaction, a
//! caller waiting for a typed result, progress seen from another process while the job
//! runs, and a running job cancelled from another process.

use std::time::Duration;

use serde_json::Value;

use crate::Runs::Only;
use crate::Test;
use crate::jobs::{Note, Recorded, Stepper, Steps, WordCount};
use crate::support::{Backend, Site, rows_of_task, statuses, task_state, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    a_caller_waits_for_the_typed_result,
    progress_is_seen_from_another_process_while_the_job_runs,
    a_running_job_cancelled_from_another_process_ends_cancelled,
    a_task_enqueued_in_the_applications_transaction_exists_only_if_it_commits,
    sql_enqueues_a_known_job_and_refuses_what_it_cannot_store => Only(Backend::Postgres),
];

fn a_caller_waits_for_the_typed_result(backend: Backend) {
    use job_core::JobClient;
    let site = Site::new(backend);
    site.ok(&["migrate"]);
    let runner = site.runner();
    let (count, again) = site.with_jobs(async |jobs| {
        let count = WordCount::enqueue(jobs, "to be or not to be".into())
            .wait(Duration::from_secs(20))
            .await
            .expect("the result");
        let task = WordCount::enqueue(jobs, "one two".into())
            .await
            .expect("enqueue");
        let mut again = None;
        for _ in 0..200 {
            again = jobs.result::<WordCount>(&task).await.expect("read");
            if again.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (count, again)
    });
    assert_eq!(count, 6, "{}", runner.log());
    assert_eq!(again, Some(2));
    // The history shows the result with the successful attempt.
    let rows = site.history(&["--job", "word_count"]);
    let mut results: Vec<i64> = rows.iter().filter_map(|r| r["result"].as_i64()).collect();
    results.sort_unstable();
    assert_eq!(results, [2, 6]);
    // A task that does not exist, and a wait that gives up, say so.
    site.with_jobs(async |jobs| {
        let error = jobs
            .result::<WordCount>(&job_core::TaskId::new("987654"))
            .await
            .expect_err("no such task");
        assert!(error.to_string().contains("no task 987654"), "{error}");
        let slow = Steps {
            steps: 600,
            cooperative: true,
        };
        let error = Stepper::enqueue(jobs, slow)
            .wait(Duration::from_millis(800))
            .await
            .expect_err("a minute's job does not end in 800 ms");
        let text = error.to_string();
        assert!(
            text.contains("did not end within 800ms") && text.contains("it is still"),
            "{text}"
        );
        // A cancelled task's wait says so.
        let task = Stepper::enqueue(
            jobs,
            Steps {
                steps: 600,
                cooperative: true,
            },
        )
        .await
        .expect("enqueue");
        jobs.cancel(&task).await.expect("cancel");
        let error = jobs
            .wait_end(&task, Duration::from_secs(20))
            .await
            .expect("it ends")
            .into_result::<u64>(&task)
            .expect_err("cancelled");
        assert!(error.to_string().contains("was cancelled"), "{error}");
    });
}

/// The task `id` as `tasks --json` lists it (another process each time).
fn listed(site: &Site, id: i64) -> Value {
    let tasks: Vec<Value> =
        serde_json::from_str(&site.ok(&["tasks", "--json", "--limit", "10000"]))
            .expect("tasks as JSON");
    tasks
        .into_iter()
        .find(|t| t["id"] == id)
        .unwrap_or(Value::Null)
}

fn progress_is_seen_from_another_process_while_the_job_runs(backend: Backend) {
    let site = Site::new(backend);
    site.ok(&["migrate"]);
    let runner = site.runner();
    let steps = Steps {
        steps: 40,
        cooperative: true,
    };
    let id = enqueue_stepper(&site, steps);
    let mut seen_running = None;
    let ended = wait_until(Duration::from_secs(30), || {
        let task = listed(&site, id);
        if task["state"] == "running" && task["progress"]["done"].as_u64().unwrap_or(0) > 0 {
            seen_running.get_or_insert(task.clone());
        }
        task["state"] == "succeeded"
    });
    assert!(ended, "the job did not finish:\n{}", runner.log());
    let seen = seen_running.expect("progress was never seen while the job ran");
    let done = seen["progress"]["done"].as_u64().unwrap_or(0);
    assert!((1..40).contains(&done), "{seen}");
    assert_eq!(seen["progress"]["total"], 40);
    assert_eq!(seen["progress"]["meta"]["step"], format!("step {done}"));
    // The history keeps the last progress with the attempt, and the result.
    let rows = rows_of_task(&site, id);
    assert_eq!(statuses(&rows), ["succeeded"]);
    assert_eq!(rows[0]["progress"]["done"], 40);
    assert_eq!(rows[0]["result"], 40);
}

fn enqueue_stepper(site: &Site, steps: Steps) -> i64 {
    site.with_jobs(async |jobs| {
        Stepper::enqueue(jobs, steps)
            .await
            .expect("enqueue")
            .as_str()
            .parse()
            .expect("a numeric id")
    })
}

fn a_running_job_cancelled_from_another_process_ends_cancelled(backend: Backend) {
    let mut site = Site::new(backend);
    site.ok(&["migrate"]);
    // On PostgreSQL the runner learns of the cancel by NOTIFY, at once; on SQLite at its
    // next poll (100 ms in the tests).
    site.env("JOBS_CANCEL_GRACE", "1s");
    site.env("JOBS_ADMIN_ADDR", "127.0.0.1:0");
    site.env("JOBS_ADMIN_TOKEN", crate::support::TOKEN);
    let runner = site.runner();
    let admin = runner.admin_url();
    // 60 s each, unless cancelled.
    let cooperative = enqueue_stepper(
        &site,
        Steps {
            steps: 600,
            cooperative: true,
        },
    );
    let stubborn = enqueue_stepper(
        &site,
        Steps {
            steps: 600,
            cooperative: false,
        },
    );
    let both_running = wait_until(Duration::from_secs(20), || {
        task_state(&site, cooperative) == "running" && task_state(&site, stubborn) == "running"
    });
    assert!(both_running, "{}", runner.log());
    // One from the command line, the other through the admin API: one control path.
    let out = site.ok(&["cancel", &cooperative.to_string()]);
    assert!(out.contains("asked task"), "{out}");
    let auth = format!("Bearer {}", crate::support::TOKEN);
    let answer = crate::http::request(
        "POST",
        &admin,
        &format!("/api/tasks/{stubborn}/cancel"),
        &[("Authorization", auth.as_str())],
        b"",
    );
    assert_eq!(answer.status, 200, "{}", answer.text());
    let asked = answer.json();
    assert_eq!(asked["state"], "running", "{asked}");
    assert!(asked["cancel_requested_at"].is_string(), "{asked}");
    // Well within the jobs' own 60 s.
    let ended = wait_until(Duration::from_secs(20), || {
        task_state(&site, cooperative) == "cancelled" && task_state(&site, stubborn) == "cancelled"
    });
    assert!(ended, "the cancelled jobs did not end:\n{}", runner.log());
    let error_of = |id| {
        let rows = rows_of_task(&site, id);
        assert_eq!(statuses(&rows), ["cancelled"], "{rows:#?}");
        rows[0]["error"].as_str().unwrap_or_default().to_owned()
    };
    assert!(
        error_of(cooperative).contains("stopped by itself"),
        "{}",
        error_of(cooperative)
    );
    assert!(
        error_of(stubborn).contains("stopped after a grace of 1s"),
        "{}",
        error_of(stubborn)
    );
    // An ended task cannot be cancelled again, and the runner goes on with other work.
    let output = site.cli(&["cancel", &cooperative.to_string()]);
    assert!(!output.status.success());
    let id = enqueue_stepper(
        &site,
        Steps {
            steps: 1,
            cooperative: true,
        },
    );
    assert!(
        wait_until(Duration::from_secs(20), || task_state(&site, id)
            == "succeeded"),
        "{}",
        runner.log()
    );
}

/// Runs `f` with the library's client and a connection of the application's own to the
/// site's database (the same database, as an application beside its runners has).
fn with_app_connection<T>(
    site: &Site,
    backend: Backend,
    f: impl AsyncFnOnce(&job_runner::Jobs, AppConnection) -> T,
) -> T {
    site.with_jobs(async |jobs| {
        use sqlx::Connection;
        let connection = match backend {
            Backend::Sqlite => AppConnection::Sqlite(
                sqlx::SqliteConnection::connect(&site.database_url)
                    .await
                    .expect("connect"),
            ),
            Backend::Postgres => AppConnection::Postgres(
                sqlx::PgConnection::connect(&site.database_url)
                    .await
                    .expect("connect"),
            ),
        };
        f(jobs, connection).await
    })
}

/// The application's connection, on either backend.
enum AppConnection {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl AppConnection {
    /// In one transaction: records transfer `id` in the application's table and enqueues
    /// `recorded` for it (and, with `bulk`, two more at once); commits or rolls back.
    async fn transfer(&mut self, jobs: &job_runner::Jobs, id: i64, bulk: bool, commit: bool) {
        use job_core::JobClient;
        let note = |text: String| Note { text };
        let extra = || {
            (0..2)
                .map(|i| {
                    job_core::EnqueueRequest::new(
                        "recorded",
                        serde_json::json!({"text": format!("{id}.{i}")}),
                    )
                })
                .collect::<Vec<_>>()
        };
        // The same statements on either backend's connection.
        macro_rules! in_transaction {
            ($connection:expr) => {{
                use sqlx::Connection;
                let mut tx = $connection.begin().await.expect("begin");
                sqlx::query("CREATE TABLE IF NOT EXISTS app_transfers (id BIGINT PRIMARY KEY)")
                    .execute(&mut *tx)
                    .await
                    .expect("the application's table");
                sqlx::query("INSERT INTO app_transfers (id) VALUES ($1)")
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .expect("the application's row");
                let within = jobs.within(&mut tx);
                Recorded::enqueue(&within, note(id.to_string()))
                    .await
                    .expect("enqueue");
                if bulk {
                    within.enqueue_many(extra()).await.expect("bulk");
                }
                if commit {
                    tx.commit().await.expect("commit");
                } else {
                    tx.rollback().await.expect("roll back");
                }
            }};
        }
        match self {
            AppConnection::Sqlite(connection) => in_transaction!(connection),
            AppConnection::Postgres(connection) => in_transaction!(connection),
        }
    }
}

/// The `recorded` tasks stored, by their note.
fn recorded_notes(site: &Site) -> Vec<String> {
    let tasks: Vec<Value> = serde_json::from_str(
        &site.ok(&["tasks", "--json", "--job", "recorded", "--limit", "10000"]),
    )
    .expect("tasks as JSON");
    let mut notes: Vec<String> = tasks
        .iter()
        .map(|t| t["args"]["text"].as_str().unwrap_or_default().to_owned())
        .collect();
    notes.sort();
    notes
}

fn a_task_enqueued_in_the_applications_transaction_exists_only_if_it_commits(backend: Backend) {
    let site = Site::new(backend);
    site.ok(&["migrate"]);
    // Rolled back: no task, and no runner is told of one.
    let due = job_runner::storage::Announcement::TaskDue("recorded".into());
    let heard = with_app_connection(&site, backend, async |jobs, mut app| {
        let listener = jobs.store().listen().await.expect("listen");
        app.transfer(jobs, 1, true, false).await;
        announcements(listener, Duration::from_millis(1500)).await
    });
    assert!(
        recorded_notes(&site).is_empty(),
        "{:?}",
        recorded_notes(&site)
    );
    assert!(
        !heard.contains(&due),
        "a rolled-back enqueue was announced: {heard:?}"
    );
    // Committed: the task, its bulk companions and the application's row; the runners are
    // told (on PostgreSQL), and each task runs once.
    let heard = with_app_connection(&site, backend, async |jobs, mut app| {
        let listener = jobs.store().listen().await.expect("listen");
        app.transfer(jobs, 2, true, true).await;
        announcements(listener, Duration::from_millis(1500)).await
    });
    if backend == Backend::Postgres {
        assert!(
            heard.contains(&due),
            "the commit was not announced: {heard:?}"
        );
    }
    assert_eq!(recorded_notes(&site), ["2", "2.0", "2.1"]);
    let runner = site.runner();
    let ran = wait_until(Duration::from_secs(20), || {
        site.history(&["--job", "recorded"]).len() == 3
    });
    assert!(ran, "{}", runner.log());
    std::thread::sleep(Duration::from_millis(500));
    let rows = site.history(&["--job", "recorded"]);
    assert_eq!(
        statuses(&rows),
        ["succeeded"; 3],
        "each ran once: {rows:#?}"
    );
}

/// What `listener` hears for `during` (nothing on a backend without announcements).
async fn announcements(
    listener: Option<Box<dyn job_runner::storage::Listener>>,
    during: Duration,
) -> Vec<job_runner::storage::Announcement> {
    let mut heard = Vec::new();
    if let Some(mut listener) = listener {
        let deadline = tokio::time::Instant::now() + during;
        while let Ok(next) = tokio::time::timeout_at(deadline, listener.next()).await {
            heard.push(next.expect("an announcement"));
        }
    }
    heard
}

fn sql_enqueues_a_known_job_and_refuses_what_it_cannot_store(backend: Backend) {
    let site = Site::new(backend);
    site.ok(&["migrate"]);
    // The runner records its jobs at start: from then on SQL can enqueue them.
    let runner = site.runner();
    let (id, unknown, keyed, count) = site.with_jobs(async |jobs| {
        use sqlx::Connection;
        let mut sql = sqlx::PgConnection::connect(&site.database_url)
            .await
            .expect("connect");
        let mut tx = sql.begin().await.expect("begin");
        let id: i64 = sqlx::query_scalar("SELECT jobs_enqueue('word_count', '\"one two three\"')")
            .fetch_one(&mut *tx)
            .await
            .expect("enqueue from SQL");
        tx.commit().await.expect("commit");
        let mut refused = async |statement: &str| {
            sqlx::query(sqlx::AssertSqlSafe(statement.to_owned()))
                .execute(&mut sql)
                .await
                .expect_err("refused")
                .to_string()
        };
        let unknown = refused("SELECT jobs_enqueue('nope')").await;
        let keyed =
            refused("SELECT jobs_enqueue('one_report', '{\"customer\": \"a\", \"millis\": 1}')")
                .await;
        let task = job_core::TaskId::new(id.to_string());
        let mut count = None;
        for _ in 0..200 {
            count = jobs.result::<WordCount>(&task).await.expect("read");
            if count.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        (id, unknown, keyed, count)
    });
    assert_eq!(count, Some(3), "{}", runner.log());
    assert!(unknown.contains("no job named nope is known"), "{unknown}");
    assert!(keyed.contains("uniqueness or partition keys"), "{keyed}");
    // Stored as the job's own settings say, and recorded as enqueued.
    let task = listed(&site, id);
    assert_eq!(
        (task["queue"].as_str(), task["trigger"].as_str()),
        (Some("default"), Some("enqueue"))
    );
    assert_eq!(task["max_attempts"], 11);
}
