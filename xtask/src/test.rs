//! `cargo xtask test`: what CI runs, on any machine. It makes sure the suite has what it
//! needs (PostgreSQL at `JOBS_TEST_POSTGRES_URL`, Chromium for the dashboard test, PgBouncer
//! for the PgBouncer tests), starting or installing it when it can and otherwise saying what
//! is missing and how to get it (with `CI=true`, that is a failure); then it runs `cargo fmt --check`, clippy, `cargo test
//! --workspace` and the bench's quick run, as a smoke test.
//!
//! xtask links nothing of the runtime: the services are checked with their own programs
//! (`pg_isready`, `psql`), and everything else is cargo.

use std::ffi::OsString;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::cargo::cargo;
use crate::workspace::Workspace;

mod chromium;
mod machine;
mod pgbouncer;
mod postgres;

/// The options of `cargo xtask test`.
#[derive(Debug)]
pub struct Request {
    /// The set-up and the tests only.
    pub quick: bool,
    /// Extra arguments of `cargo test`; with them, only the set-up and the tests run.
    pub test_args: Vec<OsString>,
}

/// Sets up, then runs the checks and the suite from the workspace's root; ends with how long
/// each step took, passed or not.
pub fn run(request: &Request, cwd: &Path) -> anyhow::Result<()> {
    let workspace = Workspace::find(cwd)?;
    let mut steps = Steps::new();
    let result = run_steps(request, &workspace.root, &mut steps);
    eprintln!(
        "xtask test: {} in {} ({})",
        if result.is_ok() { "passed" } else { "FAILED" },
        minutes(steps.started.elapsed()),
        steps.summary()
    );
    result
}

/// The set-up, then fmt and clippy (on a whole run), the tests, and the bench's quick run
/// (on a whole run), stopping at the first failure.
fn run_steps(request: &Request, root: &Path, steps: &mut Steps) -> anyhow::Result<()> {
    steps.run("set-up", || set_up(&postgres::url()))?;
    let whole = !request.quick && request.test_args.is_empty();
    if whole {
        steps.run("fmt", || cargo(root, ["fmt", "--all", "--", "--check"]))?;
        steps.run("clippy", || {
            cargo(
                root,
                [
                    "clippy",
                    "--workspace",
                    "--all-targets",
                    "--",
                    "-D",
                    "warnings",
                ],
            )
        })?;
    }
    steps.run("tests", || cargo(root, test_command(&request.test_args)))?;
    if whole {
        // The bench in quick mode, as a smoke test: it checks that every task ran exactly
        // once and asserts no timing.
        steps.run("bench --quick", || {
            crate::bench::run(
                &crate::bench::Request {
                    backend: "all".into(),
                    jobs: None,
                    quick: true,
                    scale: false,
                },
                root,
            )
        })?;
    }
    Ok(())
}

/// The steps run so far, with how long each took.
struct Steps {
    started: Instant,
    took: Vec<(&'static str, Duration, bool)>,
}

impl Steps {
    fn new() -> Steps {
        Steps {
            started: Instant::now(),
            took: Vec::new(),
        }
    }

    /// Runs `step`, keeping its name, how long it took and whether it passed.
    fn run(
        &mut self,
        name: &'static str,
        step: impl FnOnce() -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        eprintln!("xtask test: {name}...");
        let start = Instant::now();
        let result = step();
        self.took.push((name, start.elapsed(), result.is_ok()));
        result
    }

    /// `set-up 0s, fmt 2s, clippy 5m 38s, tests 9m 47s (failed)`.
    fn summary(&self) -> String {
        self.took
            .iter()
            .map(|(name, took, passed)| {
                let failed = if *passed { "" } else { " (failed)" };
                format!("{name} {}{failed}", minutes(*took))
            })
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// Makes sure PostgreSQL, Chromium and PgBouncer are there. What cannot be provided is listed with how
/// to get it; with `CI=true` that is a failure, otherwise the tests that need it skip
/// themselves, loudly.
fn set_up(postgres_url: &str) -> anyhow::Result<()> {
    let missing: Vec<machine::Missing> = [
        postgres::ensure(postgres_url),
        chromium::ensure(),
        pgbouncer::ensure(),
    ]
    .into_iter()
    .filter_map(Result::err)
    .collect();
    if missing.is_empty() {
        return Ok(());
    }
    for m in &missing {
        eprintln!("xtask test: missing: {m}");
    }
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        bail!(
            "the suite needs what is listed above, and with CI=true no test may be skipped: provide it, or run without CI=true"
        );
    }
    eprintln!("xtask test: going on without it: the tests that need it are skipped");
    Ok(())
}

/// `cargo test --workspace ARGS`, without `--workspace` when ARGS name a package.
fn test_command(args: &[OsString]) -> Vec<OsString> {
    let mut command: Vec<OsString> = vec!["test".into()];
    let names_a_package = args
        .iter()
        .map(|a| a.to_string_lossy())
        .take_while(|a| a != "--")
        .any(|a| a.starts_with("-p") || a == "--package" || a.starts_with("--package="));
    if !names_a_package {
        command.push("--workspace".into());
    }
    command.extend(args.iter().cloned());
    command
}

/// A duration as `9m 47s`, or `12s` under a minute.
fn minutes(duration: Duration) -> String {
    let seconds = duration.as_secs();
    if seconds < 60 {
        format!("{seconds}s")
    } else {
        format!("{}m {:02}s", seconds / 60, seconds % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command(args: &[&str]) -> Vec<String> {
        let args: Vec<OsString> = args.iter().map(OsString::from).collect();
        test_command(&args)
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn extra_arguments_go_to_cargo_test() {
        assert_eq!(command(&[]), ["test", "--workspace"]);
        assert_eq!(command(&["chain"]), ["test", "--workspace", "chain"]);
        // A package named: only that package, not the whole workspace.
        assert_eq!(
            command(&["-p", "job-runner", "--test", "runner"]),
            ["test", "-p", "job-runner", "--test", "runner"]
        );
        assert_eq!(
            command(&["--package=job-core"]),
            ["test", "--package=job-core"]
        );
        // After `--`, arguments belong to the test binaries.
        assert_eq!(command(&["--", "-p"]), ["test", "--workspace", "--", "-p"]);
    }

    #[test]
    fn durations_read_as_minutes_and_seconds() {
        assert_eq!(minutes(Duration::from_secs(12)), "12s");
        assert_eq!(minutes(Duration::from_secs(587)), "9m 47s");
    }
}
