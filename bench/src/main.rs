//! The benchmark behind `cargo xtask bench`: drain, enqueue, latency, scale and memory of
//! the SDK on this machine's SQLite file and PostgreSQL server, against raw apalis 1.0 on
//! its own storage, measured in the same run.
//!
//! `bench run [--backend sqlite|postgres|all] [--jobs N] [--quick] [--out DIR]` prints a
//! table and writes `DIR/results.json` and `DIR/throughput.svg`. It exits non-zero when
//! a task did not run exactly once or a scenario failed; timings never fail it.
//!
//! `bench simulate [--quick] [--out DIR]` times the virtual-clock simulation (see
//! `simulate.rs`) and writes `DIR/simulation.json`.
//!
//! `bench latency --backend sqlite|postgres` measures the enqueue-to-start latency only,
//! in this process and across processes.
//!
//! `bench console --backend sqlite|postgres [--finished N]` measures the console API's
//! latency on a database of `N` finished tasks.
//!
//! `bench history --backend sqlite|postgres [--history N]` measures the drain beside a
//! history of `N` rows against the same drain beside an empty one, and times a retention
//! pass over that history.
//!
//! `bench scale [--backend ...] [--out DIR]` drains backlogs of 20,000 to 1,000,000 tasks on
//! each backend, graphile_worker (the `graphile-peer` program beside this one) on the same
//! PostgreSQL server, and the database's cost per job with its model (`bench run` does the
//! same in its full mode); it writes `DIR/scale.json`.
//!
//! `bench cost [--jobs N] [--processes 1,2,4]` measures the database's cost per job alone.
//!
//! `bench child ...` is a runner process that `run` starts (see `child.rs`).

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

mod baseline;
mod child;
mod clock;
mod db;
mod measure;
mod probe;
mod report;
mod scale;
mod scenarios;
mod sdk;
mod simulate;

use child::System;
use db::{Backend, Place};
use report::{Line, Series, Target, per_second};
use scenarios::{Bench, Drain};

/// The SDK's benchmark.
#[derive(Debug, Parser)]
#[command(name = "bench")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the scenarios, prints the table, writes results.json and throughput.svg.
    Run(RunArgs),
    /// A runner process (started by `run`).
    #[command(hide = true)]
    Child(child::ChildArgs),
    /// One drain, for profiling: prints its figures.
    Drain(DrainArgs),
    /// Bulk enqueues only, for profiling: prints the rate (`--jobs` tasks, 1,000 per call).
    Enqueue(DrainArgs),
    /// Enqueue-to-start latency only, in this process and across processes: prints the
    /// percentiles of each.
    Latency(LatencyArgs),
    /// The console API's latency on a large database: prints each request's percentiles.
    Console(ConsoleArgs),
    /// The drain beside a large history against the drain beside an empty one, and a
    /// retention pass over that history: prints the rates, their ratio and the pass.
    History(HistoryArgs),
    /// Backlogs of 20,000 to 1,000,000 drained on each backend, graphile_worker's drains
    /// beside the SDK's on PostgreSQL, and the database's cost per job: prints the tables,
    /// writes scale.json.
    Scale(ScaleArgs),
    /// The database's cost per job (statements, rows, WAL, CPU) in drains by 1, 2, 4... runner
    /// processes on PostgreSQL, and the model of the rate they give.
    Cost(CostArgs),
    /// The virtual-clock simulation: a year of a daily job, a week of an every-minute job
    /// (run it from a debug build: its target is for one). Writes simulation.json.
    Simulate(simulate::SimulateArgs),
}

#[derive(Debug, Clone, clap::Args)]
struct DrainArgs {
    /// SDK or apalis.
    #[arg(long, value_enum, default_value = "sdk")]
    system: System,
    /// The backend.
    #[arg(long, value_enum)]
    backend: Backend,
    /// Tasks run at once per process.
    #[arg(long, default_value_t = 256)]
    concurrency: u32,
    /// Tasks to drain.
    #[arg(long, default_value_t = 10_000)]
    jobs: u32,
    /// Runner processes.
    #[arg(long, default_value_t = 1)]
    processes: u32,
    /// Runs.
    #[arg(long, default_value_t = 1)]
    runs: u32,
    /// The SDK's job: `noop`, or `keyed` (claims take keys in turn).
    #[arg(long, value_enum, default_value = "noop")]
    workload: probe::Workload,
    /// The SDK job's limit across every runner (per key for the keyed job).
    #[arg(long)]
    limit: Option<u32>,
    /// The keys the keyed job's tasks are spread over.
    #[arg(long, default_value_t = 100)]
    keys: u32,
    /// The PostgreSQL server.
    #[arg(
        long,
        env = "JOBS_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// Pooled connections.
    #[arg(long, default_value_t = 8)]
    pool: u32,
}

#[derive(Debug, Clone, clap::Args)]
struct ScaleArgs {
    /// Which backends to measure.
    #[arg(long, value_enum, default_value = "all")]
    backend: BackendChoice,
    /// Backlogs of each drain, instead of 20,000, 100,000, 300,000 and 1,000,000 (the peer
    /// drains the first and the last).
    #[arg(long, value_delimiter = ',')]
    backlogs: Option<Vec<u32>>,
    /// Tasks of each cost drain.
    #[arg(long, default_value_t = 100_000)]
    cost_jobs: u32,
    /// Where scale.json goes.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// The PostgreSQL server (the bench makes and drops schemas in this database).
    #[arg(
        long,
        env = "JOBS_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// Pooled connections of every runner.
    #[arg(long, default_value_t = 8)]
    pool: u32,
}

#[derive(Debug, Clone, clap::Args)]
struct CostArgs {
    /// The backend (PostgreSQL only).
    #[arg(long, value_enum, default_value = "postgres")]
    backend: Backend,
    /// Tasks of each drain.
    #[arg(long, default_value_t = 100_000)]
    jobs: u32,
    /// Runner processes of each drain.
    #[arg(long, value_delimiter = ',', default_value = "1,2,4")]
    processes: Vec<u32>,
    /// Tasks run at once per process.
    #[arg(long, default_value_t = 1024)]
    concurrency: u32,
    /// The PostgreSQL server (the bench makes and drops a database of its own there).
    #[arg(
        long,
        env = "JOBS_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// Pooled connections of every runner.
    #[arg(long, default_value_t = 8)]
    pool: u32,
}

#[derive(Debug, Clone, clap::Args)]
struct LatencyArgs {
    /// The backend.
    #[arg(long, value_enum)]
    backend: Backend,
    /// Samples measured (after the warm-up).
    #[arg(long, default_value_t = 200)]
    samples: u32,
    /// Tasks enqueued before the samples, not measured.
    #[arg(long, default_value_t = 20)]
    warmup: u32,
    /// The pause between two enqueues, in milliseconds.
    #[arg(long, default_value_t = 10)]
    spacing_ms: u64,
    /// The PostgreSQL server.
    #[arg(
        long,
        env = "JOBS_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// Pooled connections.
    #[arg(long, default_value_t = 8)]
    pool: u32,
}

#[derive(Debug, Clone, clap::Args)]
struct ConsoleArgs {
    /// The backend.
    #[arg(long, value_enum)]
    backend: Backend,
    /// Finished tasks (each with its history row) in the database.
    #[arg(long, default_value_t = 1_000_000)]
    finished: u64,
    /// Samples of each request.
    #[arg(long, default_value_t = 100)]
    samples: u32,
    /// The PostgreSQL server.
    #[arg(
        long,
        env = "JOBS_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
}

#[derive(Debug, Clone, clap::Args)]
struct HistoryArgs {
    /// The backend.
    #[arg(long, value_enum)]
    backend: Backend,
    /// History rows, spread over the 30 days before today.
    #[arg(long, default_value_t = 10_000_000)]
    history: u64,
    /// Tasks per drain.
    #[arg(long, default_value_t = 20_000)]
    jobs: u32,
    /// Tasks run at once.
    #[arg(long, default_value_t = 1024)]
    concurrency: u32,
    /// Drains beside each history, alternated.
    #[arg(long, default_value_t = 3)]
    runs: u32,
    /// The PostgreSQL server.
    #[arg(
        long,
        env = "JOBS_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// Pooled connections.
    #[arg(long, default_value_t = 8)]
    pool: u32,
}

#[derive(Debug, Clone, clap::Args)]
struct RunArgs {
    /// Which backends to measure.
    #[arg(long, value_enum, default_value = "all")]
    backend: BackendChoice,
    /// Tasks per drain (default: 10,000 and 100,000; 2,000 with --quick).
    #[arg(long)]
    jobs: Option<u32>,
    /// A short run: smaller drains, one run per figure (a smoke test; figures are rough).
    #[arg(long)]
    quick: bool,
    /// Where results.json and throughput.svg go.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
    /// The PostgreSQL server (the bench makes and drops schemas in this database).
    #[arg(
        long,
        env = "JOBS_TEST_POSTGRES_URL",
        default_value = "postgres://postgres@127.0.0.1:5432/test"
    )]
    postgres: String,
    /// Pooled connections of every runner and apalis worker.
    #[arg(long, default_value_t = 8)]
    pool: u32,
    /// The pause between two enqueues of the latency scenario, in milliseconds.
    #[arg(long, default_value_t = 10)]
    latency_spacing_ms: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum BackendChoice {
    Sqlite,
    Postgres,
    All,
}

impl BackendChoice {
    /// The backends chosen, in the order they are measured.
    fn backends(self) -> Vec<Backend> {
        match self {
            BackendChoice::Sqlite => vec![Backend::Sqlite],
            BackendChoice::Postgres => vec![Backend::Postgres],
            BackendChoice::All => vec![Backend::Sqlite, Backend::Postgres],
        }
    }
}

/// How much each scenario does.
#[derive(Debug, Clone, serde::Serialize)]
struct Plan {
    drain_sizes: Vec<u32>,
    sweep: Vec<u32>,
    runs: usize,
    latency_samples: u32,
    latency_warmup: u32,
    latency_spacing_ms: u64,
    single_enqueues: u32,
    large_finished: u64,
    large_pending: u32,
    large_rounds: u32,
    processes: u32,
    console_finished: u64,
    console_samples: u32,
    /// The backlog curve, the graphile_worker peer and the cost model (full runs only).
    scale: Option<scale::ScalePlan>,
}

impl Plan {
    fn new(args: &RunArgs) -> Plan {
        let mut plan = if args.quick {
            Plan {
                drain_sizes: vec![2_000],
                sweep: vec![32, 256],
                runs: 1,
                latency_samples: 50,
                latency_warmup: 5,
                latency_spacing_ms: 10,
                single_enqueues: 300,
                large_finished: 100_000,
                large_pending: 2_000,
                large_rounds: 1,
                processes: 3,
                console_finished: 20_000,
                console_samples: 30,
                scale: None,
            }
        } else {
            Plan {
                drain_sizes: vec![10_000, 100_000],
                sweep: vec![16, 64, 256, 1024],
                runs: 3,
                latency_samples: 200,
                latency_warmup: 20,
                latency_spacing_ms: 10,
                single_enqueues: 2_000,
                large_finished: 1_000_000,
                large_pending: 100_000,
                large_rounds: 3,
                processes: 3,
                console_finished: 1_000_000,
                console_samples: 100,
                scale: Some(scale::ScalePlan::full()),
            }
        };
        plan.latency_spacing_ms = args.latency_spacing_ms;
        if let Some(n) = args.jobs {
            let n = n.max(10);
            plan.drain_sizes = vec![n];
            plan.large_pending = n;
            plan.large_finished = u64::from(n) * 10;
        }
        plan
    }
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("BENCH_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,sqlx=error")),
        )
        .with_writer(std::io::stderr)
        .try_init();
    // A simulation runs one step after another, as in a `#[tokio::test]`.
    let mut builder = match cli.command {
        Command::Simulate(_) => tokio::runtime::Builder::new_current_thread(),
        _ => tokio::runtime::Builder::new_multi_thread(),
    };
    let runtime = match builder.enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Run(args) => run(args).await,
            Command::Child(args) => child::main(args).await,
            Command::Drain(args) => drain_once(args).await,
            Command::Enqueue(args) => enqueue_once(args).await,
            Command::Latency(args) => latency_once(args).await,
            Command::Console(args) => console_once(args).await,
            Command::History(args) => history_once(args).await,
            Command::Scale(args) => scale_once(args).await,
            Command::Cost(args) => cost_once(args).await,
            Command::Simulate(args) => simulate::main(args).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let plan = Plan::new(&args);
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let work = args.out.join("work");
    std::fs::create_dir_all(&work)?;
    let bench = Bench {
        place: Place {
            work: std::fs::canonicalize(&work)?,
            postgres: args.postgres.clone(),
        },
        exe: std::env::current_exe()?,
        pool: args.pool,
    };
    let backends = args.backend.backends();
    let machine = machine(&args.postgres).await;
    eprintln!(
        "bench: {} mode on {} ({} cores); plan: {}",
        if args.quick { "quick" } else { "full" },
        machine["cpu"].as_str().unwrap_or("?"),
        machine["cores"],
        serde_json::to_string(&plan)?
    );
    let mut lines = Vec::new();
    let mut targets = Vec::new();
    let mut per_backend = serde_json::Map::new();
    let mut series = Vec::new();
    for &backend in &backends {
        let results = measure::measure_backend(&bench, &plan, backend).await?;
        lines.extend(results.lines);
        targets.extend(results.targets);
        series.extend(results.series);
        per_backend.insert(backend.name().into(), Value::Object(results.json));
    }
    let mut scale_lines = Vec::new();
    if let Some(scale_plan) = &plan.scale {
        let results = scale::measure(&bench, scale_plan, &backends).await?;
        scale_lines = results.lines;
        targets.extend(results.targets);
        per_backend.insert("scale".into(), Value::Object(results.json));
    }
    let memory = idle_memory(&bench, &backends, &mut lines, &mut targets).await;
    step("the system clock through job_core::Clock, against direct calls");
    let clock = clock::measure(if args.quick { 100_000 } else { 1_000_000 }).await;
    let table = report::table(&lines);
    println!("\n{table}");
    if !scale_lines.is_empty() {
        println!(
            "{}",
            report::table_against("graphile_worker (tuned)", "SDK/graphile", &scale_lines)
        );
    }
    print_clock(&clock);
    write_chart(&args.out.join("throughput.svg"), &backends, &series)?;
    let results = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "commit": commit(),
        "mode": if args.quick { "quick" } else { "full" },
        "machine": machine,
        "plan": plan,
        "pool_size": args.pool,
        "backends": per_backend,
        "memory": memory,
        "clock_ns_per_call": clock,
        "targets": targets,
        "table": lines,
        "scale_table": scale_lines,
        "seconds": started.elapsed().as_secs_f64(),
        "exactly_once": true,
    });
    let path = args.out.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results)?)?;
    let _ = std::fs::remove_dir_all(&work);
    println!(
        "every task ran exactly once; {} of {} targets met; wrote {} and {} in {:.0} s",
        targets.iter().filter(|t| t.met).count(),
        targets.len(),
        path.display(),
        args.out.join("throughput.svg").display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Memory: the `job-runner` binary with the example jobs, idle, on each backend; its lines
/// and targets go to `lines` and `targets`.
async fn idle_memory(
    bench: &Bench,
    backends: &[Backend],
    lines: &mut Vec<Line>,
    targets: &mut Vec<Target>,
) -> serde_json::Map<String, Value> {
    let mut memory = serde_json::Map::new();
    for &backend in backends {
        step(&format!("idle memory of job-runner on {}", backend.title()));
        match bench.idle_memory(backend).await {
            Ok(Some((rss, peak))) => {
                let met = rss * 1024 < 20_000_000;
                lines.push(Line {
                    scenario: "idle RSS, job-runner with the example jobs".into(),
                    backend: backend.title().into(),
                    sdk: format!("{:.1} MB", rss as f64 * 1024.0 / 1e6),
                    apalis: String::new(),
                    ratio: String::new(),
                    target: "< 20 MB".into(),
                    met: yes(met),
                });
                targets.push(Target {
                    name: format!("idle RSS ({})", backend.title()),
                    target: "< 20 MB".into(),
                    value: format!("{:.1} MB", rss as f64 * 1024.0 / 1e6),
                    met,
                });
                memory.insert(
                    backend.name().into(),
                    json!({"idle_rss_kib": rss, "idle_peak_rss_kib": peak}),
                );
            }
            Ok(None) => eprintln!(
                "bench: no job-runner binary beside the bench (build it with `cargo build --release -p job-runner`): idle memory skipped"
            ),
            Err(error) => eprintln!("bench: idle memory not measured: {error:#}"),
        }
    }
    memory
}

/// Prints the cost of the system clock through `job_core::Clock` against direct calls.
fn print_clock(clock: &clock::ClockCost) {
    println!(
        "clock: Clock::system().now() {:.1} ns, Utc::now() {:.1} ns ({:.2}x); Clock::timeout {:.1} ns, tokio::time::timeout {:.1} ns ({:.2}x)",
        clock.now_ns,
        clock.utc_now_ns,
        clock.now_ns / clock.utc_now_ns,
        clock.timeout_ns,
        clock.tokio_timeout_ns,
        clock.timeout_ns / clock.tokio_timeout_ns
    );
}

/// Writes the chart of drain throughput against concurrency, with the targets of the
/// backends measured, to `path`.
fn write_chart(path: &Path, backends: &[Backend], series: &[Series]) -> anyhow::Result<()> {
    let mut chart_targets = Vec::new();
    if backends.contains(&Backend::Sqlite) {
        chart_targets.push(("SQLite target", 10_000.0, "#1f77b4"));
    }
    if backends.contains(&Backend::Postgres) {
        chart_targets.push(("PostgreSQL target", 25_000.0, "#d62728"));
    }
    let chart = report::svg(
        "Drain throughput against concurrency (no-op jobs, history written)",
        series,
        &chart_targets,
    );
    std::fs::write(path, chart)?;
    Ok(())
}

async fn drain_once(args: DrainArgs) -> anyhow::Result<()> {
    let work = std::env::temp_dir().join(format!("bench-drain-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let bench = Bench {
        place: Place {
            work: work.clone(),
            postgres: args.postgres.clone(),
        },
        exe: std::env::current_exe()?,
        pool: args.pool,
    };
    for _ in 0..args.runs {
        let result = bench
            .drain(&Drain {
                system: args.system,
                backend: args.backend,
                concurrency: args.concurrency,
                jobs: args.jobs,
                processes: args.processes,
                flow: scenarios::Flow {
                    workload: args.workload,
                    limit: args.limit,
                    keys: args.keys,
                },
            })
            .await?;
        println!("{}", serde_json::to_string(&result)?);
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

async fn enqueue_once(args: DrainArgs) -> anyhow::Result<()> {
    let work = std::env::temp_dir().join(format!("bench-enqueue-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let place = Place {
        work: work.clone(),
        postgres: args.postgres.clone(),
    };
    for _ in 0..args.runs {
        let db = db::Db::fresh(args.backend, &place).await?;
        let (client, jobs) = sdk::client(&db.url).await?;
        let start = std::time::Instant::now();
        sdk::enqueue_bulk(&jobs, 0, args.jobs, scenarios::BULK_BATCH).await?;
        let took = start.elapsed();
        println!("{}", per_second(f64::from(args.jobs) / took.as_secs_f64()));
        client.store().close().await;
        db.remove().await;
    }
    let _ = std::fs::remove_dir_all(&work);
    Ok(())
}

async fn scale_once(args: ScaleArgs) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    std::fs::create_dir_all(&args.out)
        .with_context(|| format!("creating {}", args.out.display()))?;
    let work = args.out.join("work-scale");
    std::fs::create_dir_all(&work)?;
    let bench = Bench {
        place: Place {
            work: std::fs::canonicalize(&work)?,
            postgres: args.postgres.clone(),
        },
        exe: std::env::current_exe()?,
        pool: args.pool,
    };
    let mut plan = scale::ScalePlan::full();
    plan.cost_jobs = args.cost_jobs;
    if let Some(backlogs) = args.backlogs {
        plan.peer_backlogs = [backlogs.first(), backlogs.last()]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        plan.peer_backlogs.dedup();
        plan.backlogs = backlogs;
    }
    let results = scale::measure(&bench, &plan, &args.backend.backends()).await;
    let _ = std::fs::remove_dir_all(&work);
    let results = results?;
    println!(
        "\n{}",
        report::table_against("graphile_worker (tuned)", "SDK/graphile", &results.lines)
    );
    let path = args.out.join("scale.json");
    let json = json!({
        "date": chrono::Utc::now().to_rfc3339(),
        "commit": commit(),
        "machine": machine(&args.postgres).await,
        "plan": plan,
        "scale": results.json,
        "targets": results.targets,
        "table": results.lines,
        "seconds": started.elapsed().as_secs_f64(),
    });
    std::fs::write(&path, serde_json::to_string_pretty(&json)?)?;
    println!(
        "{} of {} targets met; wrote {} in {:.0} s",
        results.targets.iter().filter(|t| t.met).count(),
        results.targets.len(),
        path.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

async fn cost_once(args: CostArgs) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.backend == Backend::Postgres,
        "the cost per job is measured on PostgreSQL only: pass --backend postgres"
    );
    let work = std::env::temp_dir().join(format!("bench-cost-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let bench = Bench {
        place: Place {
            work: work.clone(),
            postgres: args.postgres.clone(),
        },
        exe: std::env::current_exe()?,
        pool: args.pool,
    };
    let costs = scale::cost(&bench, args.jobs, &args.processes, args.concurrency).await;
    let _ = std::fs::remove_dir_all(&work);
    scale::print_cost(&costs?);
    Ok(())
}

async fn console_once(args: ConsoleArgs) -> anyhow::Result<()> {
    let work = std::env::temp_dir().join(format!("bench-console-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let place = Place {
        work: work.clone(),
        postgres: args.postgres.clone(),
    };
    let db = db::Db::fresh(args.backend, &place).await?;
    let result = measure::console_on(&db, args.backend, args.finished, args.samples).await;
    db.remove().await;
    let _ = std::fs::remove_dir_all(&work);
    let (fill_seconds, measured) = result?;
    println!("filled in {fill_seconds:.1} s");
    for (path, what, p) in measured {
        println!(
            "{what:<32} {path:<48} p50 {:>7.1} ms  p95 {:>7.1} ms  p99 {:>7.1} ms",
            p.p50_ms, p.p95_ms, p.p99_ms
        );
    }
    Ok(())
}

async fn history_once(args: HistoryArgs) -> anyhow::Result<()> {
    let (place, work) = measure::history::place(&args.postgres)?;
    let bench = Bench {
        place,
        exe: std::env::current_exe()?,
        pool: args.pool,
    };
    let result = measure::history::history(
        &bench,
        args.backend,
        args.history,
        args.jobs,
        args.concurrency,
        args.runs,
    )
    .await;
    let _ = std::fs::remove_dir_all(&work);
    let f = result?;
    let rates = |v: &[f64]| {
        v.iter()
            .map(|r| format!("{r:.0}"))
            .collect::<Vec<_>>()
            .join(" / ")
    };
    println!(
        "history of {} rows, filled in {:.1} s",
        args.history, f.fill_seconds
    );
    println!("drain beside an empty history: {} tasks/s", rates(&f.empty));
    println!("drain beside the full history: {} tasks/s", rates(&f.full));
    println!("median full / median empty: {:.3}", f.ratio());
    println!(
        "retention pass (older than 7 days): {} rows in {:.2} s, {} calls (the first {:.2} s)",
        f.pruned, f.prune_seconds, f.prune_calls, f.first_call_seconds
    );
    Ok(())
}

async fn latency_once(args: LatencyArgs) -> anyhow::Result<()> {
    let work = std::env::temp_dir().join(format!("bench-latency-{}", std::process::id()));
    std::fs::create_dir_all(&work)?;
    let bench = Bench {
        place: Place {
            work: work.clone(),
            postgres: args.postgres.clone(),
        },
        exe: std::env::current_exe()?,
        pool: args.pool,
    };
    let spacing = std::time::Duration::from_millis(args.spacing_ms);
    let result = async {
        let local = bench
            .latency(
                System::Sdk,
                args.backend,
                args.samples,
                args.warmup,
                spacing,
            )
            .await?;
        let local: Vec<_> = local.into_iter().map(|(total, _)| total).collect();
        let remote = bench
            .remote_latency(args.backend, args.samples, args.warmup, spacing)
            .await?;
        let fmt = |p: &report::Percentiles| {
            format!(
                "p50 {:.2} / p95 {:.2} / p99 {:.2} / max {:.2} ms",
                p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms
            )
        };
        println!(
            "in this process:   {}",
            fmt(&report::Percentiles::of(&local))
        );
        println!(
            "across processes:  {}",
            fmt(&report::Percentiles::of(&remote))
        );
        anyhow::Ok(())
    }
    .await;
    let _ = std::fs::remove_dir_all(&work);
    result
}

fn step(what: &str) {
    eprintln!("bench: {what}");
}

fn yes(met: bool) -> String {
    if met { "yes" } else { "NO" }.into()
}

/// The machine, for the record.
async fn machine(postgres: &str) -> Value {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|l| l.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let memory_kib: u64 = std::fs::read_to_string("/proc/meminfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|l| l.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_owned();
    let postgres_version = match db::Conn::open(Backend::Postgres, postgres).await {
        Ok(mut conn) => {
            let v = conn.text("SHOW server_version").await.unwrap_or_default();
            conn.close().await;
            v
        }
        Err(_) => String::new(),
    };
    let sqlite_version = match db::Conn::open(Backend::Sqlite, "sqlite::memory:").await {
        Ok(mut conn) => {
            let v = conn
                .text("SELECT sqlite_version()")
                .await
                .unwrap_or_default();
            conn.close().await;
            v
        }
        Err(_) => String::new(),
    };
    json!({
        "cpu": cpu,
        "cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory_gib": memory_kib as f64 / 1024.0 / 1024.0,
        "kernel": kernel,
        "postgres": postgres_version,
        "sqlite": sqlite_version,
    })
}

/// The commit measured, `+dirty` when the work tree has changes.
fn commit() -> String {
    let run = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    match run(&["rev-parse", "--short", "HEAD"]) {
        Some(hash) => {
            let dirty = run(&["status", "--porcelain", "--untracked-files=no"])
                .is_some_and(|s| !s.is_empty());
            if dirty { format!("{hash}+dirty") } else { hash }
        }
        None => "unknown".into(),
    }
}
