//! `cargo xtask`: developer commands for this workspace.
//!
//! `cargo xtask` is an alias (`.cargo/config.toml`) for `cargo run --package xtask --`, so
//! it works from any directory of the workspace: commands find the workspace root by
//! walking up from the current directory to the `Cargo.toml` that has `[workspace]`.

use std::ffi::OsString;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

mod bench;
mod cargo;
mod new_job;
mod test;
mod vendor_ui;
mod workspace;

/// Developer commands for this workspace.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Create a background job: its module, with a doc comment, the `#[job]` function and a
    /// test, declared in the crate's `src/lib.rs`.
    #[command(after_help = NEW_JOB_EXAMPLES)]
    NewJob(NewJob),
    /// Build the bench in release mode and run its scenarios (drain, enqueue, latency,
    /// raw-apalis baseline, large tables, several runners, memory) on this machine's SQLite
    /// file and PostgreSQL server; prints a table and writes `target/bench/results.json`
    /// and `target/bench/throughput.svg`.
    Bench(Bench),
    /// Run what CI runs: make sure PostgreSQL and Chromium are there (starting or installing
    /// them when it can, or saying what is missing and how to get it), then `cargo fmt
    /// --check`, clippy, `cargo test --workspace` and `cargo xtask bench --quick`.
    #[command(after_help = TEST_EXAMPLES)]
    Test(Test),
    /// Download the pinned uPlot release from the npm registry, check its sha512 against
    /// the pinned and the published integrity (failing on any mismatch), and copy its
    /// minified script, stylesheet and licence into job-runner/src/admin/assets/vendor/,
    /// which the console serves (no CDN: the console works offline).
    VendorUi,
}

/// The options of `test`.
#[derive(Debug, Args)]
struct Test {
    /// The set-up and `cargo test --workspace` only: no fmt, clippy or bench run.
    #[arg(long)]
    quick: bool,
    /// Arguments for `cargo test` (a test name to filter on, `-p CRATE`...); with them, only
    /// the set-up and the tests run.
    #[arg(last = true, value_name = "CARGO_TEST_ARGS")]
    args: Vec<OsString>,
}

const TEST_EXAMPLES: &str = "\
Examples:
  cargo xtask test                      # everything CI runs (.ci/run calls this)
  cargo xtask test --quick              # the set-up and the tests only
  cargo xtask test -- chain             # the tests whose names contain `chain`
  cargo xtask test -- -p job-runner --test runner sigkill

PostgreSQL is the server at JOBS_TEST_POSTGRES_URL (default
postgres://postgres@127.0.0.1:5432/test). With CI=true, anything missing is a failure;
otherwise the tests that need it are skipped, loudly.";

/// The options of `bench`.
#[derive(Debug, Args)]
struct Bench {
    /// Which backends to measure.
    #[arg(long, default_value = "all", value_parser = ["sqlite", "postgres", "all"])]
    backend: String,
    /// Tasks per drain [default: 10,000 and 100,000; 2,000 with --quick].
    #[arg(long, value_name = "N")]
    jobs: Option<u32>,
    /// A short run (under 3 minutes once built): smaller drains, one run per figure.
    #[arg(long)]
    quick: bool,
    /// The scale step alone (backlogs of 20,000 to 1,000,000, graphile_worker beside the
    /// SDK, the database's cost per job): the step that a full run ends with.
    #[arg(long, conflicts_with = "quick")]
    scale: bool,
}

const NEW_JOB_EXAMPLES: &str = "\
Examples:
  # A cron job, daily at 03:00 Paris time:
  cargo xtask new-job purge_stale_uploads --cron '0 3 * * *' --timezone Europe/Paris

  # An on-demand job with arguments, on its own queue:
  cargo xtask new-job send_welcome_email --args WelcomeEmail --queue emails

The job goes in CRATE/src/NAME.rs with a test that runs it through
job_core::testing::TestContext (no runner, no database); `pub mod NAME;` is added to
CRATE/src/lib.rs. Nothing is written when a check fails.";

/// The options of `new-job`.
#[derive(Debug, Args)]
struct NewJob {
    /// The job's name: a snake_case Rust identifier, used for the function, the module and
    /// the job in storage (the job type is its PascalCase, such as `PurgeStaleUploads`).
    name: String,
    /// Run on this cron schedule (5 fields, or 6 with seconds, or @daily...); without it,
    /// the job runs on demand.
    #[arg(long, value_name = "EXPR")]
    cron: Option<String>,
    /// The IANA time zone the cron schedule is read in [default: UTC].
    #[arg(long, value_name = "TZ")]
    timezone: Option<String>,
    /// The queue the job's tasks go to [default: the SDK's `default` queue].
    #[arg(long, value_name = "Q")]
    queue: Option<String>,
    /// Give the on-demand job an arguments struct of this UpperCamelCase name.
    #[arg(long, value_name = "TYPE")]
    args: Option<String>,
    /// The crate to add the job to, as a path from the workspace root.
    #[arg(long = "crate", value_name = "PATH", default_value = "examples")]
    krate: PathBuf,
}

fn main() -> ExitCode {
    let result = match Cli::parse().command {
        Command::NewJob(options) => new_job(options),
        Command::Bench(options) => bench(options),
        Command::Test(options) => test(options),
        Command::VendorUi => vendor_ui(),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn new_job(options: NewJob) -> anyhow::Result<()> {
    let request = new_job::Request {
        name: options.name,
        cron: options.cron,
        timezone: options.timezone,
        queue: options.queue,
        args: options.args,
        krate: options.krate,
    };
    let cwd = std::env::current_dir()
        .map_err(|e| anyhow::anyhow!("cannot read the current directory: {e}"))?;
    let (workspace, job, created) = new_job::run(&request, &cwd)?;
    print!("{}", new_job::report(&workspace, &job, &created));
    Ok(())
}

fn bench(options: Bench) -> anyhow::Result<()> {
    let cwd = std::env::current_dir()
        .map_err(|e| anyhow::anyhow!("cannot read the current directory: {e}"))?;
    bench::run(
        &bench::Request {
            backend: options.backend,
            jobs: options.jobs,
            quick: options.quick,
            scale: options.scale,
        },
        &cwd,
    )
}

fn test(options: Test) -> anyhow::Result<()> {
    let cwd = std::env::current_dir()
        .map_err(|e| anyhow::anyhow!("cannot read the current directory: {e}"))?;
    test::run(
        &test::Request {
            quick: options.quick,
            test_args: options.args,
        },
        &cwd,
    )
}

fn vendor_ui() -> anyhow::Result<()> {
    let cwd = std::env::current_dir()
        .map_err(|e| anyhow::anyhow!("cannot read the current directory: {e}"))?;
    let vendor = vendor_ui::run(&cwd)?;
    println!(
        "uPlot {} (integrity {}) copied into {}",
        vendor_ui::VERSION,
        vendor_ui::INTEGRITY,
        vendor.display()
    );
    Ok(())
}
