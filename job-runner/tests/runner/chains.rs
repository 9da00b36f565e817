//! Chains: steps run in order passing each output on, a dead step stops the chain, and a
//! crash between steps neither loses nor repeats one.

use std::time::Duration;

use serde_json::Value;

use crate::Test;
use crate::support::{Backend, Site, task_id, wait_for_file, wait_until};

/// This topic's tests.
pub const TESTS: &[Test] = tests![
    a_chain_runs_its_steps_in_order_passing_each_output_on,
    a_failing_middle_step_stops_the_chain_where_it_failed,
    sigkill_between_steps_neither_loses_nor_repeats_a_step,
];

/// The history rows of a chain, by step.
fn chain_rows(site: &Site, chain: i64) -> Vec<Value> {
    let mut rows: Vec<Value> = site
        .history(&[])
        .into_iter()
        .filter(|r| r["chain_id"] == chain)
        .collect();
    rows.sort_by_key(|r| (r["chain_step"].as_i64(), r["id"].as_i64()));
    rows
}

fn a_chain_runs_its_steps_in_order_passing_each_output_on(backend: Backend) {
    let site = Site::new(backend);
    let runner = site.runner();
    let first = task_id(&site.trigger("step_one", Some("5")));
    assert!(
        wait_until(Duration::from_secs(15), || chain_rows(&site, first).len()
            >= 3),
        "{}",
        runner.log()
    );
    std::thread::sleep(Duration::from_millis(500));
    let rows = chain_rows(&site, first);
    let steps: Vec<(String, i64, String)> = rows
        .iter()
        .map(|r| {
            (
                r["job"].as_str().unwrap_or_default().to_owned(),
                r["chain_step"].as_i64().unwrap_or(0),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        steps,
        [
            ("step_one".into(), 1, "succeeded".into()),
            ("step_two".into(), 2, "succeeded".into()),
            ("step_three".into(), 3, "succeeded".into())
        ]
    );
    assert_eq!(rows[2]["records_processed"], 12, "5 + 1, then doubled");
    assert_eq!(
        (rows[1]["trigger"].as_str(), rows[2]["trigger"].as_str()),
        (Some("chain"), Some("chain"))
    );

    // Started at run time, through the client: add_one, then times_ten, then step_three.
    let chain: i64 = site.with_jobs(async |jobs| {
        use crate::jobs::{AddOne, StepThree, TimesTen};
        AddOne::enqueue(jobs, 1)
            .then::<TimesTen>()
            .then::<StepThree>()
            .await
            .expect("enqueue a chain")
            .as_str()
            .parse()
            .expect("a task id")
    });
    assert!(
        wait_until(Duration::from_secs(15), || chain_rows(&site, chain).len()
            >= 3),
        "{}",
        runner.log()
    );
    let rows = chain_rows(&site, chain);
    let jobs: Vec<&str> = rows.iter().filter_map(|r| r["job"].as_str()).collect();
    assert_eq!(jobs, ["add_one", "times_ten", "step_three"]);
    assert_eq!(rows[2]["records_processed"], 20);
}

fn a_failing_middle_step_stops_the_chain_where_it_failed(backend: Backend) {
    let site = Site::new(backend);
    let runner = site.runner();
    let first = task_id(&site.trigger("step_one", Some("12")));
    assert!(
        wait_until(Duration::from_secs(15), || chain_rows(&site, first).len()
            >= 2),
        "{}",
        runner.log()
    );
    std::thread::sleep(Duration::from_millis(1000));
    let rows = chain_rows(&site, first);
    assert_eq!(
        rows.len(),
        2,
        "the chain went on after a dead step: {rows:#?}"
    );
    assert_eq!(
        (
            rows[1]["job"].as_str(),
            rows[1]["status"].as_str(),
            rows[1]["chain_step"].as_i64()
        ),
        (Some("step_two"), Some("dead"), Some(2))
    );
    assert!(
        rows[1]["error"]
            .as_str()
            .unwrap_or_default()
            .contains("13 is unlucky")
    );
    assert!(site.history(&["--job", "step_three"]).is_empty());
}

fn sigkill_between_steps_neither_loses_nor_repeats_a_step(backend: Backend) {
    let site = Site::new(backend);
    let first_runner = site.runner();
    let first = task_id(&site.trigger("step_one", Some("6")));
    assert!(
        wait_for_file(&site.path("step_two.started.1"), Duration::from_secs(15)),
        "{}",
        first_runner.log()
    );
    first_runner.kill();
    let second_runner = site.runner();
    assert!(
        wait_until(Duration::from_secs(20), || site
            .history(&["--job", "step_three"])
            .len()
            == 1),
        "{}",
        second_runner.log()
    );
    std::thread::sleep(Duration::from_millis(800));
    let rows = chain_rows(&site, first);
    let per_step: Vec<(i64, String)> = rows
        .iter()
        .map(|r| {
            (
                r["chain_step"].as_i64().unwrap_or(0),
                r["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    // Step 2's first attempt was lost with the runner and ran again; every step is one task.
    assert_eq!(
        per_step
            .iter()
            .filter(|(step, s)| *step == 3 && s == "succeeded")
            .count(),
        1,
        "{per_step:?}"
    );
    assert_eq!(
        per_step
            .iter()
            .filter(|(step, s)| *step == 2 && s == "succeeded")
            .count(),
        1,
        "{per_step:?}"
    );
    assert_eq!(
        per_step.iter().filter(|(step, _)| *step == 1).count(),
        1,
        "{per_step:?}"
    );
    let step_tasks: std::collections::BTreeSet<(i64, i64)> = rows
        .iter()
        .map(|r| {
            (
                r["chain_step"].as_i64().unwrap_or(0),
                r["task_id"].as_i64().unwrap_or(0),
            )
        })
        .collect();
    assert_eq!(
        step_tasks.len(),
        3,
        "a step became two tasks: {step_tasks:?}"
    );
    assert_eq!(
        rows.last().map(|r| r["records_processed"].clone()),
        Some(Value::from(14))
    );
}
