//! The fault-injection suite: real runner processes under faults, on SQLite (several
//! processes on one file) and on PostgreSQL, then invariants read from the tables.
//!
//! Each iteration runs a mixed workload on a fresh database: a cron job every second,
//! tasks due now and delayed, long tasks, jobs that fail then succeed, jobs that always
//! fail, chains (written in code, and started at run time) and files dropped into a watched
//! folder. Meanwhile, at random points, runners are killed (SIGKILL), stopped (SIGTERM),
//! stalled for a while (SIGSTOP, then SIGCONT) and started again, most often the ones
//! running attempts; on PostgreSQL, runners are also cut off from the database for a while
//! (a relay that stops passing bytes) and started with clocks up to 5 s off, and the server
//! is restarted in every fourth iteration. At least one healthy runner covers every cron
//! tick throughout (see `fleet`). Then the faults stop, one runner on time takes over the
//! ticks alone, the schedule is paused, that runner finishes everything (see `iteration`),
//! and `invariants` checks the tables.
//!
//! `cargo test -p job-runner --test faults [sqlite|postgres]`. Every choice comes from one
//! seed, printed at the start: `FAULTS_SEED=N` replays its choices (the processes' timing
//! differs from run to run). `FAULTS_ITERATIONS=N` runs N iterations per backend (default
//! 8), `FAULTS_FIRST=K` starts at iteration K (to replay one iteration of a long run). The
//! backends run side by side; a PostgreSQL restart disturbs only PostgreSQL's iterations,
//! which run one at a time, and cargo runs test binaries one at a time.
//!
//! At the end the totals are printed as a table.

use std::panic::AssertUnwindSafe;
use std::process::ExitCode;
use std::time::{Duration, Instant};

#[path = "../backends/mod.rs"]
mod backends;
#[allow(dead_code)]
#[path = "../runner/jobs.rs"]
mod jobs;
#[allow(dead_code)]
#[path = "../runner/support.rs"]
mod support;

mod database;
mod flaky;
mod fleet;
mod invariants;
mod iteration;
mod rng;
mod workload;

use fleet::Faults;
use invariants::Checked;
use iteration::{MAX_RUNNERS, Setup};
use rng::Rng;
use support::{Backend, Relay};

/// Iterations per backend by default: the whole run (both backends side by side) takes
/// about two minutes on a 2-core machine.
const DEFAULT_ITERATIONS: u64 = 8;

/// How long the workload and the faults last in each iteration.
const CHAOS: Duration = Duration::from_secs(10);

/// The database server is restarted in every this many iterations (PostgreSQL).
const RESTART_EVERY: u64 = 4;

/// What one backend's iterations did.
#[derive(Default)]
struct Totals {
    iterations: u64,
    failed: Vec<u64>,
    faults: Faults,
    checked: Checked,
    took: Duration,
}

fn main() -> ExitCode {
    if let Ok(args) = std::env::var(support::CHILD) {
        return support::child(&args);
    }
    let seed = number("FAULTS_SEED").unwrap_or_else(fresh_seed);
    let iterations = number("FAULTS_ITERATIONS").unwrap_or(DEFAULT_ITERATIONS);
    let first = number("FAULTS_FIRST").unwrap_or(0);
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let mut backends = vec![Backend::Sqlite];
    if backends::postgres_url().is_some() {
        backends.push(Backend::Postgres);
    }
    backends.retain(|b| filters.is_empty() || filters.iter().any(|f| b.to_string().contains(f)));
    println!(
        "faults: seed {seed} (replay with FAULTS_SEED={seed}), {iterations} iterations per backend from {first}, on {}",
        backends
            .iter()
            .map(|b| b.to_string())
            .collect::<Vec<_>>()
            .join(" and ")
    );
    let start = Instant::now();
    let threads: Vec<_> = backends
        .iter()
        .map(|&backend| std::thread::spawn(move || run_backend(backend, seed, first, iterations)))
        .collect();
    let totals: Vec<(Backend, Totals)> = backends
        .iter()
        .zip(threads)
        .map(|(&backend, thread)| (backend, thread.join().expect("a backend's thread")))
        .collect();
    print_totals(seed, &totals, start.elapsed());
    let failed: Vec<String> = totals
        .iter()
        .flat_map(|(backend, t)| t.failed.iter().map(move |i| format!("{backend} #{i}")))
        .collect();
    if failed.is_empty() {
        println!(
            "test result: ok. {} iterations passed",
            totals.iter().map(|(_, t)| t.iterations).sum::<u64>()
        );
        ExitCode::SUCCESS
    } else {
        println!(
            "test result: FAILED. iterations {} failed (seed {seed}; replay one with FAULTS_SEED={seed} FAULTS_FIRST=K FAULTS_ITERATIONS=1)",
            failed.join(", ")
        );
        ExitCode::FAILURE
    }
}

/// Runs `iterations` iterations on `backend`, from iteration `first`.
fn run_backend(backend: Backend, seed: u64, first: u64, iterations: u64) -> Totals {
    let start = Instant::now();
    let relays: Vec<Relay> = match backend {
        Backend::Sqlite => Vec::new(),
        Backend::Postgres => {
            let url = backends::postgres_url().expect("PostgreSQL is reachable");
            (0..2 * MAX_RUNNERS).map(|_| Relay::to(&url)).collect()
        }
    };
    let mut totals = Totals::default();
    for index in first..first + iterations {
        let mut rng = Rng::new(iteration_seed(seed, backend, index));
        let setup = Setup {
            backend,
            chaos: CHAOS,
            relays: &relays,
            restart_database: backend == Backend::Postgres && index % RESTART_EVERY == 1,
        };
        let began = Instant::now();
        let result =
            std::panic::catch_unwind(AssertUnwindSafe(|| iteration::run(&setup, &mut rng)));
        let took = began.elapsed().as_secs_f32();
        totals.iterations += 1;
        let outcome = match result {
            Ok(outcome) => outcome,
            Err(panic) => {
                let message = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                println!(
                    "faults {backend} #{index}: FAILED ({took:.1} s): the iteration panicked: {message}"
                );
                totals.failed.push(index);
                continue;
            }
        };
        totals.faults.add(&outcome.faults);
        totals.checked.add(&outcome.checked);
        let summary = counts(&outcome.faults, &outcome.checked)
            .iter()
            .map(|(name, n)| format!("{n} {name}"))
            .collect::<Vec<_>>()
            .join(", ");
        if outcome.violations.is_empty() {
            println!("faults {backend} #{index}: ok ({took:.1} s): {summary}");
        } else {
            totals.failed.push(index);
            report_failure(backend, seed, index, took, &summary, outcome);
        }
    }
    totals.took = start.elapsed();
    totals
}

/// Prints a failed iteration's violations and keeps what is needed to look into it: the
/// runners' logs and the SQLite file in a folder, or the PostgreSQL schema.
fn report_failure(
    backend: Backend,
    seed: u64,
    index: u64,
    took: f32,
    summary: &str,
    outcome: iteration::Outcome,
) {
    let folder = std::env::temp_dir().join(format!("faults-{seed}-{backend}-{index}"));
    let _ = std::fs::create_dir_all(&folder);
    for (i, (label, log)) in outcome.logs.iter().enumerate() {
        let _ = std::fs::write(
            folder.join(format!("runner-{i}.log")),
            format!("{label}\n{log}"),
        );
    }
    let _ = std::fs::write(folder.join("journal.txt"), outcome.journal.join("\n"));
    if let Ok(entries) = std::fs::read_dir(outcome.site.dir.path()) {
        for entry in entries.flatten().filter(|e| e.path().is_file()) {
            let _ = std::fs::copy(entry.path(), folder.join(entry.file_name()));
        }
    }
    let mut text = format!(
        "faults {backend} #{index}: FAILED ({took:.1} s): {summary}\n  {} violations (seed {seed}; runners' logs and files in {}):\n",
        outcome.violations.len(),
        folder.display()
    );
    for violation in outcome.violations.iter().take(30) {
        text.push_str(&format!("  - {violation}\n"));
    }
    if backend == Backend::Postgres {
        text.push_str(&format!(
            "  the database is kept: {}\n",
            outcome.site.database_url
        ));
        // Its schema is dropped when the site is; keep it for a look.
        std::mem::forget(outcome.site);
    }
    let _ = std::fs::write(folder.join("violations.txt"), &text);
    print!("{text}");
}

/// The totals, as a table that can be quoted.
fn print_totals(seed: u64, totals: &[(Backend, Totals)], took: Duration) {
    println!(
        "\nfaults: totals (seed {seed}, {:.0} s in all)\n",
        took.as_secs_f64()
    );
    let names: Vec<&str> = counts(&Faults::default(), &Checked::default())
        .iter()
        .map(|(name, _)| *name)
        .collect();
    println!(
        "| backend | iterations | failed | {} | time |",
        names.join(" | ")
    );
    println!("|---|---|---|{}---|", "---|".repeat(names.len()));
    for (backend, t) in totals {
        let cells: Vec<String> = counts(&t.faults, &t.checked)
            .iter()
            .map(|(_, n)| n.to_string())
            .collect();
        println!(
            "| {backend} | {} | {} | {} | {:.0} s |",
            t.iterations,
            t.failed.len(),
            cells.join(" | "),
            t.took.as_secs_f64()
        );
    }
    println!();
}

/// What was done and checked, each count with its name.
fn counts(f: &Faults, c: &Checked) -> [(&'static str, u64); 14] {
    [
        ("runners started", f.starts),
        ("SIGKILL", f.kills),
        ("SIGTERM", f.terms),
        ("cut off", f.partitions),
        ("stalled", f.stalls),
        ("skewed clocks", f.skewed),
        ("PostgreSQL restarts", f.database_restarts),
        ("tasks checked", c.tasks),
        ("attempts", c.attempts),
        ("attempts lost to a fault", c.lost),
        ("dead tasks", c.dead),
        ("cron ticks", c.ticks),
        ("events", c.events),
        ("chains", c.chains),
    ]
}

/// A number from the environment.
fn number(name: &str) -> Option<u64> {
    let value = std::env::var(name).ok()?;
    match value.trim().parse() {
        Ok(n) => Some(n),
        Err(_) => panic!("{name} must be a whole number, not `{value}`"),
    }
}

/// A seed that differs from run to run.
fn fresh_seed() -> u64 {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or_default();
    Rng::new(nanos ^ u64::from(std::process::id())).next_u64() % 1_000_000_000
}

/// The seed of one iteration of one backend: an iteration replays alone.
fn iteration_seed(seed: u64, backend: Backend, index: u64) -> u64 {
    let backend = match backend {
        Backend::Sqlite => 1,
        Backend::Postgres => 2,
    };
    Rng::new(seed ^ (backend << 56) ^ index.wrapping_mul(0x9E37_79B9_7F4A_7C15)).next_u64()
}
