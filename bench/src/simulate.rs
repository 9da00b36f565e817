//! `bench simulate`: how long the virtual-clock simulation takes for a year of a daily job
//! and a week of an every-minute job, batched and (in a full run) tick by tick.
//!
//! The target is under 2 s each in a debug build, so `cargo xtask bench` runs this part
//! from the debug build of the bench. It exits non-zero when a simulation's history is not
//! the expected one (365 runs, 10,080 runs); timings never fail it.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, ensure};
use chrono::{DateTime, Utc};
use job_core::JobDescriptor;
use job_core::prelude::*;
use job_runner::storage::ExecutionFilter;
use job_runner::testing::Simulation;
use serde_json::json;

use crate::report::median;

/// The target for each simulation, in a debug build.
const TARGET: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, clap::Args)]
pub struct SimulateArgs {
    /// One run of each, batched only (a smoke test; figures are rough).
    #[arg(long)]
    quick: bool,
    /// Where simulation.json goes.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

#[job(cron = "30 2 * * *", timezone = "America/New_York")]
async fn daily_report() -> JobResult {
    Ok(Outcome::none())
}

#[job(cron = "* * * * *")]
async fn every_minute() -> JobResult {
    Ok(Outcome::none())
}

/// One simulated stretch of one job.
struct Scenario {
    name: &'static str,
    job: fn() -> &'static JobDescriptor,
    start: &'static str,
    end: &'static str,
    runs: usize,
}

const SCENARIOS: [Scenario; 2] = [
    Scenario {
        name: "a year of a daily job",
        job: DailyReport::descriptor,
        start: "2026-01-01T00:00:00Z",
        end: "2027-01-01T00:00:00Z",
        runs: 365,
    },
    Scenario {
        name: "a week of an every-minute job",
        job: EveryMinute::descriptor,
        start: "2026-03-02T00:00:00Z",
        end: "2026-03-09T00:00:00Z",
        runs: 7 * 24 * 60,
    },
];

/// Simulates `scenario` once; checks its history and returns the time it took.
async fn simulate(scenario: &Scenario, tick_by_tick: bool) -> anyhow::Result<Duration> {
    let start: DateTime<Utc> = scenario.start.parse()?;
    let end: DateTime<Utc> = scenario.end.parse()?;
    let started = Instant::now();
    let mut builder = Simulation::builder(start).jobs([(scenario.job)()]);
    if tick_by_tick {
        builder = builder.tick_by_tick();
    }
    let mut sim = builder.start().await?;
    sim.run_until(end).await?;
    let took = started.elapsed();
    let runs = sim
        .history(&ExecutionFilter {
            limit: 1_000_000,
            ..ExecutionFilter::default()
        })
        .await?;
    ensure!(
        runs.len() == scenario.runs,
        "{}: {} runs in the history, expected {}",
        scenario.name,
        runs.len(),
        scenario.runs
    );
    Ok(took)
}

pub async fn main(args: SimulateArgs) -> anyhow::Result<()> {
    let build = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    let repeats = if args.quick { 1 } else { 3 };
    println!("simulation on a virtual clock ({build} build, SQLite, median of {repeats}):");
    let mut results = Vec::new();
    for scenario in &SCENARIOS {
        let mut times = Vec::new();
        for _ in 0..repeats {
            times.push(simulate(scenario, false).await?.as_secs_f64());
        }
        let batched = median(&times);
        let tick_by_tick = if args.quick {
            None
        } else {
            Some(simulate(scenario, true).await?.as_secs_f64())
        };
        let met = build == "debug" && batched < TARGET.as_secs_f64();
        println!(
            "  {:<30} {:>7.2} s{}  target < {} s in a debug build: {}",
            scenario.name,
            batched,
            tick_by_tick.map_or(String::new(), |t| format!(
                "  (tick by tick {t:.2} s: {:.0}x faster)",
                t / batched
            )),
            TARGET.as_secs(),
            if met { "yes" } else { "NO" }
        );
        results.push(json!({
            "scenario": scenario.name,
            "runs": scenario.runs,
            "seconds": batched,
            "all_seconds": times,
            "tick_by_tick_seconds": tick_by_tick,
            "target_seconds": TARGET.as_secs_f64(),
            "met": met,
        }));
    }
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let path = args.out.join("simulation.json");
    let document = json!({
        "date": Utc::now().to_rfc3339(),
        "build": build,
        "mode": if args.quick { "quick" } else { "full" },
        "scenarios": results,
    });
    std::fs::write(&path, serde_json::to_string_pretty(&document)?)?;
    println!(
        "every simulated run is in the history; wrote {}",
        path.display()
    );
    Ok(())
}
