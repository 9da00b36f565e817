//! Stops and losses: SIGTERM lets the running attempt finish; a runner killed or cut off
//! loses its claims to another, which runs the work again, counting the lost attempt; a
//! database restart ends no runner.

use std::time::Duration;

use crate::Runs::{Alone, Only};
use crate::Test;
use crate::jobs::CLOCK_SKEW;
use crate::support::{
    Backend, Relay, Site, millis_in, restart_postgres, rows_of_task, statuses, task_id, task_state,
    wait_for_file, wait_until,
};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    sigterm_lets_the_running_attempt_finish,
    sigkill_mid_job_the_next_runner_runs_it_again,
    a_lost_last_attempt_ends_dead_not_retried_forever,
    a_runner_cut_off_loses_its_claims_to_another,
    a_runner_cut_off_stops_its_attempt_before_another_takes_it_over => Only(Backend::Postgres),
    runners_whose_clocks_are_30s_apart_rescue_nothing_alive => Only(Backend::Postgres),
    a_database_restart_does_not_end_the_runners => Alone(Backend::Postgres),
];

fn sigterm_lets_the_running_attempt_finish(backend: Backend) {
    let site = Site::new(backend);
    let runner = site.runner();
    let id = task_id(&site.trigger("slow", Some(r#"{"millis":1500,"marker":"term"}"#)));
    assert!(
        wait_for_file(&site.path("term.started.1"), Duration::from_secs(10)),
        "{}",
        runner.log()
    );
    let (clean, log) = runner.terminate();
    assert!(clean, "the runner did not exit cleanly:\n{log}");
    assert!(
        site.path("term.done").exists(),
        "the attempt was cut short:\n{log}"
    );
    assert_eq!(statuses(&rows_of_task(&site, id)), ["succeeded"]);
    assert_eq!(task_state(&site, id), "succeeded");
}

fn sigkill_mid_job_the_next_runner_runs_it_again(backend: Backend) {
    let site = Site::new(backend);
    let first = site.runner();
    let id = task_id(&site.trigger("slow", Some(r#"{"millis":2000,"marker":"kill"}"#)));
    assert!(
        wait_for_file(&site.path("kill.started.1"), Duration::from_secs(10)),
        "{}",
        first.log()
    );
    first.kill();
    assert!(!site.path("kill.done").exists());
    let second = site.runner();
    // The lease is 2 s in these tests: the claim is recovered within a few seconds.
    assert!(
        wait_for_file(&site.path("kill.done"), Duration::from_secs(15)),
        "{}",
        second.log()
    );
    assert!(
        site.path("kill.started.2").exists(),
        "the re-run was not attempt 2"
    );
    let ok = wait_until(Duration::from_secs(5), || {
        task_state(&site, id) == "succeeded"
    });
    assert!(ok, "{}", second.log());
    let rows = rows_of_task(&site, id);
    assert_eq!(statuses(&rows), ["failed", "succeeded"], "{rows:#?}");
    assert!(
        rows[0]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("stopped heartbeating"),
        "{rows:#?}"
    );
    assert_eq!(rows[1]["attempt"], 2);
}

/// apalis bug 5: its recovery of dead workers' tasks ignores `max_attempts`.
fn a_lost_last_attempt_ends_dead_not_retried_forever(backend: Backend) {
    let site = Site::new(backend);
    site.ok(&["migrate"]);
    let first = site.runner();
    // `slow` allows 3 attempts; every one of them is lost to a SIGKILL.
    let id = task_id(&site.trigger("slow", Some(r#"{"millis":60000,"marker":"lost"}"#)));
    let mut runner = first;
    for attempt in 1..=3 {
        let marker = site.path(&format!("lost.started.{attempt}"));
        assert!(
            wait_for_file(&marker, Duration::from_secs(15)),
            "attempt {attempt} did not start:\n{}",
            runner.log()
        );
        runner.kill();
        runner = site.runner();
    }
    let dead = wait_until(Duration::from_secs(15), || task_state(&site, id) == "dead");
    assert!(dead, "the task was not declared dead:\n{}", runner.log());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !site.path("lost.started.4").exists(),
        "a fourth attempt ran"
    );
    let rows = rows_of_task(&site, id);
    assert_eq!(statuses(&rows), ["failed", "failed", "dead"], "{rows:#?}");
}

fn a_runner_cut_off_loses_its_claims_to_another(backend: Backend) {
    let site = Site::new(backend);
    let first = site.runner();
    let id = task_id(&site.trigger("slow", Some(r#"{"millis":3000,"marker":"cut"}"#)));
    assert!(
        wait_for_file(&site.path("cut.started.1"), Duration::from_secs(10)),
        "{}",
        first.log()
    );
    // Frozen before the second starts: the second is the only one that can take it over.
    first.freeze();
    let second = site.runner();
    assert!(
        wait_for_file(&site.path("cut.started.2"), Duration::from_secs(15)),
        "the claim was not recovered:\n{}",
        second.log()
    );
    let ok = wait_until(Duration::from_secs(10), || {
        task_state(&site, id) == "succeeded"
    });
    assert!(ok, "{}", second.log());
    // The first runner comes back: its late result changes nothing.
    first.thaw();
    std::thread::sleep(Duration::from_secs(4));
    let rows = rows_of_task(&site, id);
    assert_eq!(statuses(&rows), ["failed", "succeeded"], "{rows:#?}");
    assert_eq!(rows[1]["attempt"], 2);
    assert_eq!(task_state(&site, id), "succeeded");
    first.wait_for_log("its claims were recovered", Duration::from_secs(5));
}

fn a_database_restart_does_not_end_the_runners(backend: Backend) {
    let site = Site::new(backend);
    let runners = [site.runner(), site.runner()];
    let note = |i: usize| serde_json::json!({ "text": format!("{i}") });
    let mut expected = site
        .enqueue_many("echo", (0..100).map(note).collect())
        .len();
    let restart = restart_postgres();
    // Enqueue while the server goes down and comes back: retry what it refuses.
    let mut during = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while during < 50 && std::time::Instant::now() < deadline {
        if site
            .try_enqueue_many("echo", vec![note(1000 + during)])
            .is_ok()
        {
            during += 1;
        } else {
            std::thread::sleep(Duration::from_millis(200));
        }
    }
    let status = restart
        .wait_with_output()
        .expect("wait for the restart")
        .status;
    assert!(status.success(), "the restart failed");
    expected += during;
    expected += site
        .enqueue_many("echo", (2000..2100).map(note).collect())
        .len();
    let done = wait_until(Duration::from_secs(90), || {
        site.history(&["--job", "echo", "--status", "succeeded"])
            .len()
            >= expected
    });
    assert!(
        done,
        "not every job ran after the restart:\n{}",
        runners[0].log()
    );
    let history = site.history(&["--job", "echo", "--status", "succeeded"]);
    let tasks: std::collections::BTreeSet<i64> = history
        .iter()
        .map(|r| r["task_id"].as_i64().unwrap_or(0))
        .collect();
    assert_eq!(tasks.len(), expected);
    assert_eq!(history.len(), expected, "a job ran twice");
    for runner in runners {
        let (clean, log) = runner.terminate();
        assert!(clean, "a runner did not survive the restart:\n{log}");
    }
}

/// A partition: the runner running a job loses the database (its connections go silent).
/// It stops the attempt itself before its lease ends, so that when another runner takes
/// the task over, the first attempt is no longer running.
fn a_runner_cut_off_stops_its_attempt_before_another_takes_it_over(backend: Backend) {
    let mut site = Site::new(backend);
    let direct = site.database_url.clone();
    let relay = Relay::to(&direct);
    site.env("JOBS_DATABASE_URL", &relay.url(&direct));
    let cut_off = site.runner();
    site.env("JOBS_DATABASE_URL", &direct);
    let id = task_id(&site.trigger("watched", Some(r#"{"millis":8000,"marker":"cut"}"#)));
    assert!(
        wait_for_file(&site.path("cut.started.1"), Duration::from_secs(10)),
        "{}",
        cut_off.log()
    );
    let other = site.runner();
    relay.cut();
    assert!(
        wait_for_file(&site.path("cut.started.2"), Duration::from_secs(20)),
        "the task was not taken over:\n{}\n{}",
        cut_off.log(),
        other.log()
    );
    let stopped = site.path("cut.stopped.1");
    assert!(
        stopped.exists(),
        "the first attempt still runs:\n{}",
        cut_off.log()
    );
    assert!(
        millis_in(&stopped) < millis_in(&site.path("cut.started.2")),
        "the first attempt stopped only after the second started"
    );
    cut_off.wait_for_log("cannot renew the lease", Duration::from_secs(1));
    relay.heal();
    assert!(wait_until(Duration::from_secs(15), || task_state(
        &site, id
    ) == "succeeded"));
    // The cut-off runner comes back: its late end of attempt 1 changes nothing.
    std::thread::sleep(Duration::from_secs(3));
    let rows = rows_of_task(&site, id);
    assert_eq!(statuses(&rows), ["failed", "succeeded"], "{rows:#?}");
    assert!(!site.path("cut.finished.1").exists());
    cut_off.wait_for_log("the lease is renewed again", Duration::from_secs(5));
}

/// Runners on hosts whose clocks are 30 s apart: leases are judged on the database's clock,
/// so neither takes the other's live claims (on SQLite every runner reads one host's clock).
fn runners_whose_clocks_are_30s_apart_rescue_nothing_alive(backend: Backend) {
    let mut site = Site::new(backend);
    site.env(CLOCK_SKEW, "30");
    let ahead = site.runner();
    site.env(CLOCK_SKEW, "-30");
    let behind = site.runner();
    site.env(CLOCK_SKEW, "0");
    let ids: Vec<i64> = (0..4)
        .map(|i| {
            let args = format!(r#"{{"millis":3000,"marker":"skew{i}"}}"#);
            task_id(&site.trigger("watched", Some(&args)))
        })
        .collect();
    let done = wait_until(Duration::from_secs(30), || {
        ids.iter().all(|&id| task_state(&site, id) == "succeeded")
    });
    assert!(done, "{}\n{}", ahead.log(), behind.log());
    for (i, &id) in ids.iter().enumerate() {
        let rows = rows_of_task(&site, id);
        assert_eq!(statuses(&rows), ["succeeded"], "{rows:#?}");
        assert!(!site.path(&format!("skew{i}.started.2")).exists());
    }
    for log in [ahead.log(), behind.log()] {
        assert!(!log.contains("recovered a task"), "{log}");
        assert!(!log.contains("declared dead"), "{log}");
    }
}
