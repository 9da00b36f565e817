//! The runner's integration suite: real runner processes on a real SQLite file.
//!
//! This binary is its own runner (see `support.rs`), so it runs without libtest's harness:
//! `cargo test -p job-runner --test runner [NAME...]` runs the tests whose names contain
//! one of the NAMEs, a few at a time.

mod jobs;
mod support;
mod tests;

use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

fn main() -> ExitCode {
    if let Ok(args) = std::env::var(support::CHILD) {
        return child(&args);
    }
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let selected: Vec<(&str, fn())> = tests::ALL
        .iter()
        .copied()
        .filter(|(name, _)| filters.is_empty() || filters.iter().any(|f| name.contains(f.as_str())))
        .collect();
    println!("running {} runner tests", selected.len());
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
                    let Some(&(name, test)) = selected.get(i) else {
                        break;
                    };
                    let start = Instant::now();
                    let result = std::panic::catch_unwind(AssertUnwindSafe(test));
                    let took = start.elapsed().as_secs_f32();
                    match result {
                        Ok(()) => println!("test {name} ... ok ({took:.1}s)"),
                        Err(_) => {
                            println!("test {name} ... FAILED ({took:.1}s)");
                            failed.lock().unwrap_or_else(|e| e.into_inner()).push(name);
                        }
                    }
                }
            })
        })
        .collect();
    for thread in threads {
        let _ = thread.join();
    }
    let failed = failed.lock().unwrap_or_else(|e| e.into_inner());
    if failed.is_empty() {
        println!("test result: ok. {} passed", selected.len());
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

/// Runs the `job-runner` command line with this binary's test jobs.
fn child(args: &str) -> ExitCode {
    let args: Vec<String> = match serde_json::from_str(args) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("bad {}: {error}", support::CHILD);
            return ExitCode::FAILURE;
        }
    };
    job_runner::cli::main_from(args, jobs::setup)
}
