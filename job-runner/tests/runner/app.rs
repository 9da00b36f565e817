//! Jobs inside the application: a caller waits for a typed result, sees progress from
//! another process while the job runs, and cancels a running job from another process.

use std::time::Duration;

use serde_json::Value;

use crate::Test;
use crate::jobs::{Stepper, Steps, WordCount};
use crate::support::{Backend, Site, rows_of_task, statuses, task_state, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    a_caller_waits_for_the_typed_result,
    progress_is_seen_from_another_process_while_the_job_runs,
    a_running_job_cancelled_from_another_process_ends_cancelled,
];

fn a_caller_waits_for_the_typed_result(backend: Backend) {
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
    let runner = site.runner();
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
    for id in [cooperative, stubborn] {
        let out = site.ok(&["cancel", &id.to_string()]);
        assert!(out.contains("asked task"), "{out}");
    }
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
