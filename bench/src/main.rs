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
//! `bench child ...` is a runner process that `run` starts (see `child.rs`).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand};
use serde_json::{Value, json};

mod baseline;
mod child;
mod clock;
mod db;
mod probe;
mod report;
mod scenarios;
mod sdk;
mod simulate;

use child::System;
use db::{Backend, Place};
use report::{Line, Percentiles, Series, Target, median, per_second};
use scenarios::{Bench, Drain, DrainResult};

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

/// Everything one backend measured.
#[derive(Default)]
struct BackendResults {
    lines: Vec<Line>,
    targets: Vec<Target>,
    json: serde_json::Map<String, Value>,
    series: Vec<Series>,
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
    let backends: Vec<Backend> = match args.backend {
        BackendChoice::Sqlite => vec![Backend::Sqlite],
        BackendChoice::Postgres => vec![Backend::Postgres],
        BackendChoice::All => vec![Backend::Sqlite, Backend::Postgres],
    };
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
        let results = measure_backend(&bench, &plan, backend).await?;
        lines.extend(results.lines);
        targets.extend(results.targets);
        series.extend(results.series);
        per_backend.insert(backend.name().into(), Value::Object(results.json));
    }
    // Memory: the `job-runner` binary with the example jobs, idle.
    let mut memory = serde_json::Map::new();
    for &backend in &backends {
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
    step("the system clock through job_core::Clock, against direct calls");
    let clock = clock::measure(if args.quick { 100_000 } else { 1_000_000 }).await;
    let table = report::table(&lines);
    println!("\n{table}");
    println!(
        "clock: Clock::system().now() {:.1} ns, Utc::now() {:.1} ns ({:.2}x); Clock::timeout {:.1} ns, tokio::time::timeout {:.1} ns ({:.2}x)",
        clock.now_ns,
        clock.utc_now_ns,
        clock.now_ns / clock.utc_now_ns,
        clock.timeout_ns,
        clock.tokio_timeout_ns,
        clock.timeout_ns / clock.tokio_timeout_ns
    );
    let mut chart_targets = Vec::new();
    if backends.contains(&Backend::Sqlite) {
        chart_targets.push(("SQLite target", 10_000.0, "#1f77b4"));
    }
    if backends.contains(&Backend::Postgres) {
        chart_targets.push(("PostgreSQL target", 25_000.0, "#d62728"));
    }
    let chart = report::svg(
        "Drain throughput against concurrency (no-op jobs, history written)",
        &series,
        &chart_targets,
    );
    std::fs::write(args.out.join("throughput.svg"), chart)?;
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

/// `runs` drains of `d` by the SDK, each printed; the rates of the bulk stores that filled
/// them go to `bulk`.
async fn sdk_drains(
    bench: &Bench,
    title: &str,
    d: &Drain,
    runs: usize,
    bulk: &mut Vec<f64>,
) -> anyhow::Result<Vec<DrainResult>> {
    let mut results = Vec::with_capacity(runs);
    for run in 0..runs {
        step(&format!(
            "{title}: SDK drain of {} at concurrency {}, run {}",
            d.jobs,
            d.concurrency,
            run + 1
        ));
        let result = bench.drain(d).await?;
        eprintln!("bench:   {}", per_second(result.rate));
        bulk.push(result.enqueue_rate);
        results.push(result);
    }
    Ok(results)
}

fn step(what: &str) {
    eprintln!("bench: {what}");
}

fn yes(met: bool) -> String {
    if met { "yes" } else { "NO" }.into()
}

fn rates(results: &[DrainResult]) -> Vec<f64> {
    results.iter().map(|r| r.rate).collect()
}

async fn measure_backend(
    bench: &Bench,
    plan: &Plan,
    backend: Backend,
) -> anyhow::Result<BackendResults> {
    let mut out = BackendResults::default();
    let title = backend.title();
    let first = plan.drain_sizes[0];
    let drain_target = match backend {
        Backend::Sqlite => 10_000.0,
        Backend::Postgres => 25_000.0,
    };
    let drain = |system, concurrency, jobs, processes| Drain {
        system,
        backend,
        concurrency,
        jobs,
        processes,
    };

    // 1 and 4: drains over the concurrency sweep, SDK and raw apalis.
    let mut sweep_json = Vec::new();
    let mut sdk_points = Vec::new();
    let mut apalis_points = Vec::new();
    let mut bulk_sdk = Vec::new();
    let mut bulk_apalis = Vec::new();
    let mut apalis_at: Vec<(u32, Vec<DrainResult>)> = Vec::new();
    let mut sdk_at: Vec<(u32, Vec<DrainResult>)> = Vec::new();
    for &c in &plan.sweep {
        let runs = sdk_drains(
            bench,
            title,
            &drain(System::Sdk, c, first, 1),
            plan.runs,
            &mut bulk_sdk,
        )
        .await?;
        step(&format!(
            "{title}: apalis drain of {first} at concurrency {c}"
        ));
        let apalis = bench.drain(&drain(System::Apalis, c, first, 1)).await?;
        eprintln!("bench:   {}", per_second(apalis.rate));
        bulk_apalis.push(apalis.enqueue_rate);
        sdk_points.push((c, median(&rates(&runs))));
        apalis_points.push((c, apalis.rate));
        sweep_json.push(json!({
            "concurrency": c,
            "sdk": {"median": median(&rates(&runs)), "runs": runs},
            "apalis": {"runs": [apalis.clone()]},
        }));
        sdk_at.push((c, runs));
        apalis_at.push((c, vec![apalis]));
    }
    let (best, best_rate) = sdk_points
        .iter()
        .copied()
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap_or((plan.sweep[0], 0.0));
    // The baseline at the SDK's best concurrency: as many runs as the SDK had.
    let mut apalis_best = apalis_at
        .iter()
        .find(|(c, _)| *c == best)
        .map(|(_, r)| r.clone())
        .unwrap_or_default();
    while apalis_best.len() < plan.runs {
        step(&format!(
            "{title}: apalis drain of {first} at concurrency {best}, run {}",
            apalis_best.len() + 1
        ));
        let result = bench.drain(&drain(System::Apalis, best, first, 1)).await?;
        eprintln!("bench:   {}", per_second(result.rate));
        bulk_apalis.push(result.enqueue_rate);
        apalis_best.push(result);
    }
    let apalis_rate = median(&rates(&apalis_best));
    out.lines.push(Line {
        scenario: format!(
            "drain {} (best concurrency {best})",
            report::thousands(first.into())
        ),
        backend: title.into(),
        sdk: per_second(best_rate),
        apalis: per_second(apalis_rate),
        ratio: format!("{:.1}x", best_rate / apalis_rate.max(1e-9)),
        target: format!(">= {}", per_second(drain_target)),
        met: yes(best_rate >= drain_target),
    });
    out.targets.push(Target {
        name: format!("drain {first} ({title})"),
        target: format!(">= {}", per_second(drain_target)),
        value: per_second(best_rate),
        met: best_rate >= drain_target,
    });
    out.series.push(Series {
        name: format!("SDK, {title}"),
        colour: if backend == Backend::Sqlite {
            "#1f77b4"
        } else {
            "#d62728"
        },
        dashed: false,
        points: sdk_points.clone(),
    });
    out.series.push(Series {
        name: format!("apalis, {title}"),
        colour: if backend == Backend::Sqlite {
            "#1f77b4"
        } else {
            "#d62728"
        },
        dashed: true,
        points: apalis_points.clone(),
    });
    out.json.insert("sweep".into(), json!(sweep_json));
    out.json.insert("best_concurrency".into(), json!(best));
    out.json.insert(
        "baseline_drain".into(),
        json!({"jobs": first, "concurrency": best, "sdk": best_rate, "apalis": apalis_rate, "apalis_runs": apalis_best}),
    );

    // 1: the larger drains at the best concurrency (their peak memory too).
    let mut drains_json = vec![
        json!({"jobs": first, "concurrency": best, "median": best_rate,
        "runs": sdk_at.iter().find(|(c, _)| *c == best).map(|(_, r)| r.clone()).unwrap_or_default()}),
    ];
    let mut empty_rate_of_large = None;
    let mut peak_rss = sdk_at
        .iter()
        .flat_map(|(_, r)| r.iter().map(|x| x.peak_rss_kib))
        .max()
        .unwrap_or(0);
    let mut peak_jobs = first;
    for &n in &plan.drain_sizes[1..] {
        let runs = sdk_drains(
            bench,
            title,
            &drain(System::Sdk, best, n, 1),
            plan.runs,
            &mut bulk_sdk,
        )
        .await?;
        let rate = median(&rates(&runs));
        peak_rss = runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
        peak_jobs = n;
        if n == plan.large_pending {
            empty_rate_of_large = Some(rate);
        }
        out.lines.push(Line {
            scenario: format!("drain {} (concurrency {best})", report::thousands(n.into())),
            backend: title.into(),
            sdk: per_second(rate),
            apalis: String::new(),
            ratio: String::new(),
            target: format!(">= {}", per_second(drain_target)),
            met: yes(rate >= drain_target),
        });
        out.targets.push(Target {
            name: format!("drain {n} ({title})"),
            target: format!(">= {}", per_second(drain_target)),
            value: per_second(rate),
            met: rate >= drain_target,
        });
        drains_json.push(json!({"jobs": n, "concurrency": best, "median": rate, "runs": runs}));
    }
    if empty_rate_of_large.is_none() && first == plan.large_pending {
        empty_rate_of_large = Some(best_rate);
    }
    out.json.insert("drains".into(), json!(drains_json));
    out.lines.push(Line {
        scenario: format!("peak RSS draining {}", report::thousands(peak_jobs.into())),
        backend: title.into(),
        sdk: format!("{:.1} MB", peak_rss as f64 * 1024.0 / 1e6),
        apalis: String::new(),
        ratio: String::new(),
        target: String::new(),
        met: String::new(),
    });
    out.json.insert(
        "peak_rss_draining".into(),
        json!({"jobs": peak_jobs, "peak_rss_kib": peak_rss}),
    );

    // 2: enqueue rates.
    let bulk = median(&bulk_sdk);
    let bulk_base = median(&bulk_apalis);
    out.lines.push(Line {
        scenario: format!("bulk enqueue ({} per call)", scenarios::BULK_BATCH),
        backend: title.into(),
        sdk: per_second(bulk),
        apalis: per_second(bulk_base),
        ratio: format!("{:.1}x", bulk / bulk_base.max(1e-9)),
        target: ">= 50,000 /s".into(),
        met: yes(bulk >= 50_000.0),
    });
    out.targets.push(Target {
        name: format!("bulk enqueue ({title})"),
        target: ">= 50,000 /s".into(),
        value: per_second(bulk),
        met: bulk >= 50_000.0,
    });
    step(&format!("{title}: single enqueues"));
    let single = bench
        .single_enqueue(System::Sdk, backend, plan.single_enqueues)
        .await?;
    let single_base = bench
        .single_enqueue(System::Apalis, backend, plan.single_enqueues)
        .await?;
    out.lines.push(Line {
        scenario: "single enqueue (one call per task)".into(),
        backend: title.into(),
        sdk: per_second(single),
        apalis: per_second(single_base),
        ratio: format!("{:.1}x", single / single_base.max(1e-9)),
        target: String::new(),
        met: String::new(),
    });
    out.json.insert(
        "enqueue".into(),
        json!({"bulk_batch": scenarios::BULK_BATCH, "bulk_sdk": bulk, "bulk_apalis": bulk_base,
               "bulk_sdk_runs": bulk_sdk, "bulk_apalis_runs": bulk_apalis,
               "single_sdk": single, "single_apalis": single_base, "single_count": plan.single_enqueues}),
    );

    // 3 and 4: latency.
    let spacing = Duration::from_millis(plan.latency_spacing_ms);
    step(&format!("{title}: enqueue-to-start latency"));
    let sdk_samples = bench
        .latency(
            System::Sdk,
            backend,
            plan.latency_samples,
            plan.latency_warmup,
            spacing,
        )
        .await?;
    let apalis_samples = bench
        .latency(
            System::Apalis,
            backend,
            plan.latency_samples,
            plan.latency_warmup,
            spacing,
        )
        .await?;
    let totals = |s: &[(Duration, Duration)]| s.iter().map(|x| x.0).collect::<Vec<_>>();
    let calls = |s: &[(Duration, Duration)]| s.iter().map(|x| x.1).collect::<Vec<_>>();
    let sdk_latency = Percentiles::of(&totals(&sdk_samples));
    let apalis_latency = Percentiles::of(&totals(&apalis_samples));
    let sdk_enqueue_call = Percentiles::of(&calls(&sdk_samples));
    let apalis_enqueue_call = Percentiles::of(&calls(&apalis_samples));
    let remote = Percentiles::of(
        &bench
            .remote_latency(backend, plan.latency_samples, plan.latency_warmup, spacing)
            .await?,
    );
    let p50_target = match backend {
        Backend::Sqlite => 5.0,
        Backend::Postgres => 2.0,
    };
    let fmt = |p: &Percentiles| format!("{:.2} / {:.2} / {:.2} ms", p.p50_ms, p.p95_ms, p.p99_ms);
    out.lines.push(Line {
        scenario: "enqueue-to-start p50 / p95 / p99".into(),
        backend: title.into(),
        sdk: fmt(&sdk_latency),
        apalis: fmt(&apalis_latency),
        ratio: format!(
            "{:.2}x p50",
            sdk_latency.p50_ms / apalis_latency.p50_ms.max(1e-9)
        ),
        target: format!("p50 < {p50_target} ms, p99 < 20 ms"),
        met: yes(sdk_latency.p50_ms < p50_target && sdk_latency.p99_ms < 20.0),
    });
    out.lines.push(Line {
        scenario: "  of which the enqueue call".into(),
        backend: title.into(),
        sdk: fmt(&sdk_enqueue_call),
        apalis: fmt(&apalis_enqueue_call),
        ratio: String::new(),
        target: String::new(),
        met: String::new(),
    });
    out.lines.push(Line {
        scenario: "  the same, enqueued by another process".into(),
        backend: title.into(),
        sdk: fmt(&remote),
        apalis: String::new(),
        ratio: String::new(),
        target: String::new(),
        met: String::new(),
    });
    out.targets.push(Target {
        name: format!("enqueue-to-start p50 ({title})"),
        target: format!("< {p50_target} ms"),
        value: format!("{:.2} ms", sdk_latency.p50_ms),
        met: sdk_latency.p50_ms < p50_target,
    });
    out.targets.push(Target {
        name: format!("enqueue-to-start p99 ({title})"),
        target: "< 20 ms".into(),
        value: format!("{:.2} ms", sdk_latency.p99_ms),
        met: sdk_latency.p99_ms < 20.0,
    });
    out.json.insert(
        "latency".into(),
        json!({"sdk": sdk_latency, "apalis": apalis_latency, "sdk_other_process": remote,
               "sdk_enqueue_call": sdk_enqueue_call, "apalis_enqueue_call": apalis_enqueue_call,
               "spacing_ms": plan.latency_spacing_ms, "warmup": plan.latency_warmup}),
    );

    // 5: large tables.
    step(&format!(
        "{title}: drains of {} with {} finished tasks in the tables",
        plan.large_pending, plan.large_finished
    ));
    let (fill_seconds, large) = bench
        .large_tables(
            backend,
            best,
            plan.large_finished,
            plan.large_pending,
            plan.large_rounds,
        )
        .await?;
    let large_rate = median(&rates(&large));
    let empty_rate = match empty_rate_of_large {
        Some(rate) => rate,
        None => {
            let mut runs = Vec::new();
            for _ in 0..plan.runs {
                runs.push(
                    bench
                        .drain(&drain(System::Sdk, best, plan.large_pending, 1))
                        .await?
                        .rate,
                );
            }
            median(&runs)
        }
    };
    let within = large_rate >= 0.9 * empty_rate;
    out.lines.push(Line {
        scenario: format!(
            "drain {} with {} finished rows",
            report::thousands(plan.large_pending.into()),
            report::thousands(plan.large_finished)
        ),
        backend: title.into(),
        sdk: format!(
            "{} ({:.0}% of empty)",
            per_second(large_rate),
            100.0 * large_rate / empty_rate.max(1e-9)
        ),
        apalis: String::new(),
        ratio: String::new(),
        target: ">= 90% of empty".into(),
        met: yes(within),
    });
    out.targets.push(Target {
        name: format!("drain with large tables ({title})"),
        target: ">= 90% of the empty-table rate".into(),
        value: format!("{:.0}%", 100.0 * large_rate / empty_rate.max(1e-9)),
        met: within,
    });
    out.json.insert(
        "large_tables".into(),
        json!({"finished": plan.large_finished, "pending": plan.large_pending, "fill_seconds": fill_seconds,
               "median": large_rate, "empty_median": empty_rate, "runs": large}),
    );

    // 5: several runner processes (PostgreSQL).
    if backend == Backend::Postgres {
        let n = plan.large_pending;
        let mut runs = Vec::new();
        for run in 0..plan.runs {
            step(&format!(
                "{title}: {} runner processes draining {n}, run {}",
                plan.processes,
                run + 1
            ));
            let result = bench
                .drain(&drain(System::Sdk, best, n, plan.processes))
                .await?;
            eprintln!(
                "bench:   {} spread {:?}",
                per_second(result.rate),
                result.spread
            );
            runs.push(result);
        }
        let rate = median(&rates(&runs));
        let spread = runs
            .iter()
            .min_by(|a, b| (a.rate - rate).abs().total_cmp(&(b.rate - rate).abs()))
            .map(|r| r.spread.clone())
            .unwrap_or_default();
        out.lines.push(Line {
            scenario: format!(
                "{} runner processes, drain {} (concurrency {best} each)",
                plan.processes,
                report::thousands(n.into())
            ),
            backend: title.into(),
            sdk: format!("{} (tasks per process {spread:?})", per_second(rate)),
            apalis: String::new(),
            ratio: String::new(),
            target: String::new(),
            met: String::new(),
        });
        out.json.insert(
            "processes".into(),
            json!({"processes": plan.processes, "jobs": n, "concurrency": best, "median": rate, "runs": runs}),
        );
    }
    Ok(out)
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
