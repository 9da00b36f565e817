//! The runner's integration suite: real runner processes on a real SQLite file.
//!
//! This binary is its own runner (see `support.rs`), so it runs without libtest's harness:
//! `cargo test -p job-runner --test runner [NAME...]` runs the tests whose names contain
//! one of the NAMEs, a few at a time.
//!
//! The tests live in one module per topic; each module lists its tests in its `TESTS`, and
//! [`TOPICS`] lists the modules. A test left out of its list does not compile (it would be
//! dead code), and each is named once, by the [`tests!`] macro.

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// A topic's tests, each named once: `tests![a_test, another => Only(Backend::Sqlite)]`.
/// A test without `=> RUNS` runs on every reachable backend.
macro_rules! tests {
    ($($name:ident $(=> $runs:expr)?),* $(,)?) => {
        &[$(crate::Test {
            name: stringify!($name),
            run: $name,
            runs: tests!(@runs $($runs)?),
        }),*]
    };
    (@runs) => {
        crate::Runs::Each
    };
    (@runs $runs:expr) => {
        $runs
    };
}

#[path = "../backends/mod.rs"]
mod backends;
mod http;
mod jobs;
#[path = "../faults/rng.rs"]
mod rng;
mod support;

mod admin;
mod app;
mod chains;
mod controls;
mod cron;
mod deploy;
mod events;
mod examples;
mod flow;
mod fuzz;
mod overview;
mod pgbouncer;
mod recovery;
mod retries;
mod running;
mod schedules;
mod tasks;
mod traces;
mod wakes;

use support::Backend;

/// Every topic's tests, in the order they start.
const TOPICS: &[&[Test]] = &[
    running::TESTS,
    retries::TESTS,
    cron::TESTS,
    recovery::TESTS,
    controls::TESTS,
    deploy::TESTS,
    examples::TESTS,
    admin::TESTS,
    schedules::TESTS,
    flow::TESTS,
    events::TESTS,
    chains::TESTS,
    app::TESTS,
    wakes::TESTS,
    fuzz::TESTS,
    overview::TESTS,
    tasks::TESTS,
    traces::TESTS,
    pgbouncer::TESTS,
];

/// One test: its name, its body, and the backends it runs on.
pub struct Test {
    /// The function's name, as the filters and the report show it.
    pub name: &'static str,
    /// The test, run against the backend it is given.
    pub run: fn(Backend),
    /// Which backends it runs on.
    pub runs: Runs,
}

/// Which backends a test runs on.
pub enum Runs {
    /// Every reachable backend.
    Each,
    /// One backend.
    Only(Backend),
    /// One backend, with no other test running (it restarts the server).
    Alone(Backend),
}

fn main() -> ExitCode {
    if let Ok(args) = std::env::var(support::CHILD) {
        return support::child(&args);
    }
    // Name filters, as libtest takes them: `NAME` runs the tests whose name holds it,
    // `--skip NAME` leaves them out; other flags are ignored.
    let mut filters: Vec<String> = Vec::new();
    let mut skips: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        if arg == "--skip" {
            skips.extend(args.next());
        } else if !arg.starts_with('-') {
            filters.push(arg);
        }
    }
    let mut backends = vec![Backend::Sqlite];
    if backends::postgres_url().is_some() {
        backends.push(Backend::Postgres);
    }
    let wanted = |name: &str| {
        (filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
            && !skips.iter().any(|s| name.contains(s.as_str()))
    };
    let mut names = BTreeSet::new();
    let mut selected: Vec<(String, &Test, Backend)> = Vec::new();
    let mut alone = Vec::new();
    for test in TOPICS.iter().flat_map(|topic| topic.iter()) {
        assert!(
            names.insert(test.name),
            "two tests are named `{}`: rename one",
            test.name
        );
        for &backend in &backends {
            let full = format!("{backend}::{}", test.name);
            match test.runs {
                Runs::Each if wanted(&full) => selected.push((full, test, backend)),
                Runs::Only(only) if only == backend && wanted(&full) => {
                    selected.push((full, test, backend))
                }
                Runs::Alone(only) if only == backend && wanted(&full) => {
                    alone.push((full, test, backend))
                }
                _ => {}
            }
        }
    }
    println!("running {} runner tests", selected.len() + alone.len());
    let next = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let selected = Arc::new(selected);
    // The tests mostly wait on processes; a few at a time keeps a 2-core machine responsive.
    let parallel = std::env::var("RUNNER_TEST_THREADS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(3);
    let threads: Vec<_> = (0..parallel)
        .map(|_| {
            let (next, failed, selected) = (next.clone(), failed.clone(), selected.clone());
            std::thread::spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((name, test, backend)) = selected.get(i) else {
                        break;
                    };
                    run_one(name, test, *backend, &failed);
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    // Tests that disturb every other test (a database restart) run last, one at a time.
    for (name, test, backend) in &alone {
        run_one(name, test, *backend, &failed);
    }
    let total = selected.len() + alone.len();
    let failed = failed.lock().unwrap_or_else(|e| e.into_inner());
    if failed.is_empty() {
        println!("test result: ok. {total} passed");
        ExitCode::SUCCESS
    } else {
        println!(
            "test result: FAILED. {} failed: {}",
            failed.len(),
            failed.join(", ")
        );
        ExitCode::FAILURE
    }
}

fn run_one(name: &str, test: &Test, backend: Backend, failed: &Mutex<Vec<String>>) {
    let start = Instant::now();
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| (test.run)(backend)));
    let took = start.elapsed().as_secs_f32();
    match result {
        Ok(()) => println!("test {name} ... ok ({took:.1}s)"),
        Err(_) => {
            println!("test {name} ... FAILED ({took:.1}s)");
            failed
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(name.to_owned());
        }
    }
}
