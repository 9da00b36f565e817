//! `graphile-peer --url URL --jobs N --concurrency C --local-queue L`: graphile_worker 0.14
//! (the Rust port) draining a backlog of `N` no-op jobs, tuned for throughput as its own
//! documentation and benchmark advise (a local queue that claims `L` jobs at a time,
//! completions batched every few milliseconds, a short poll interval).
//!
//! It makes its own schema, enqueues the backlog with `add_jobs` (one statement per
//! `--batch` jobs) before the worker starts, then times the drain the way the SDK's bench
//! does: from the first job's start until the last completion is stored (graphile_worker
//! deletes a job when it succeeds, so: until its jobs table is empty). It prints one JSON
//! line `{"jobs", "seconds", "per_second", ...}` and drops its schema.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use graphile_worker::{
    IntoTaskHandlerResult, JobSpec, LocalQueueConfig, TaskHandler, WorkerContext, WorkerOptions,
};
use serde::{Deserialize, Serialize};

/// Jobs started so far.
static STARTED: AtomicU64 = AtomicU64::new(0);
/// The first job's start.
static FIRST: OnceLock<Instant> = OnceLock::new();

/// The no-op job.
#[derive(Clone, Deserialize, Serialize)]
struct Noop {
    i: u32,
}

impl TaskHandler for Noop {
    const IDENTIFIER: &'static str = "bench_noop";

    async fn run(self, _ctx: WorkerContext) -> impl IntoTaskHandlerResult {
        FIRST.get_or_init(Instant::now);
        STARTED.fetch_add(1, Ordering::Relaxed);
        Ok::<(), String>(())
    }
}

struct Args {
    url: String,
    jobs: u32,
    concurrency: usize,
    local_queue: usize,
    batch: usize,
    pool: u32,
    complete_delay_ms: u64,
    schema: String,
}

const USAGE: &str = "usage: graphile-peer --url URL --jobs N --concurrency C --local-queue L \
     [--batch B (jobs per add_jobs call, 1000)] [--pool P (connections, 20: graphile_worker's default)] \
     [--complete-delay-ms D (5)] [--schema NAME]";

fn args() -> anyhow::Result<Args> {
    let mut args = Args {
        url: String::new(),
        jobs: 20_000,
        concurrency: 256,
        local_queue: 500,
        batch: 1000,
        pool: 20,
        complete_delay_ms: 5,
        schema: format!("graphile_peer_{}", std::process::id()),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || {
            it.next()
                .with_context(|| format!("{flag} needs a value\n{USAGE}"))
        };
        match flag.as_str() {
            "--url" => args.url = value()?,
            "--jobs" => args.jobs = value()?.parse()?,
            "--concurrency" => args.concurrency = value()?.parse()?,
            "--local-queue" => args.local_queue = value()?.parse()?,
            "--batch" => args.batch = value()?.parse()?,
            "--pool" => args.pool = value()?.parse()?,
            "--complete-delay-ms" => args.complete_delay_ms = value()?.parse()?,
            "--schema" => args.schema = value()?,
            "--help" | "-h" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    ensure!(!args.url.is_empty(), "--url is required\n{USAGE}");
    ensure!(
        args.schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_'),
        "--schema takes letters, digits and underscores"
    );
    Ok(args)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = args()?;
    let (admin, connection) = tokio_postgres::connect(&args.url, tokio_postgres::NoTls)
        .await
        .with_context(|| format!("connecting to {}", args.url))?;
    tokio::spawn(connection);
    let drop_schema = format!("DROP SCHEMA IF EXISTS {} CASCADE", args.schema);
    admin.batch_execute(&drop_schema).await?;
    let result = drain(&args, &admin).await;
    let dropped = admin.batch_execute(&drop_schema).await;
    let line = result?;
    dropped.context("dropping the peer's schema")?;
    println!("{line}");
    Ok(())
}

async fn drain(args: &Args, admin: &tokio_postgres::Client) -> anyhow::Result<String> {
    let mut options = WorkerOptions::default()
        .schema(args.schema.as_str())
        .concurrency(args.concurrency)
        .poll_interval(Duration::from_millis(5))
        .complete_job_batch_delay(Duration::from_millis(args.complete_delay_ms))
        .listen_os_shutdown_signals(false)
        .define_job::<Noop>()
        .database_url(&args.url)
        .max_pg_conn(args.pool);
    if args.local_queue > 0 {
        options = options.local_queue(LocalQueueConfig::default().with_size(args.local_queue));
    }
    let worker = std::sync::Arc::new(options.init().await?);

    // The backlog, before the worker starts.
    let utils = worker.create_utils();
    let spec = JobSpec::default();
    let enqueue_start = Instant::now();
    let mut i = 0;
    while i < args.jobs {
        let end = (i + args.batch as u32).min(args.jobs);
        let batch: Vec<(Noop, &JobSpec)> = (i..end).map(|i| (Noop { i }, &spec)).collect();
        utils.add_jobs::<Noop>(&batch).await?;
        i = end;
    }
    let enqueue_seconds = enqueue_start.elapsed().as_secs_f64();
    // What autovacuum's analysis would do after such an enqueue on a server that runs it
    // (the project's test server runs without): graphile_worker keeps no statistics of its
    // own, and its claims planned without any crawl (1,100 jobs/s against 29,000 with).
    // The SDK's runners need none: their plans go by index whatever the statistics say.
    admin
        .batch_execute(&format!("ANALYZE {}._private_jobs", args.schema))
        .await
        .context("analysing the peer's jobs table")?;

    let running = worker.clone();
    let task = tokio::spawn(async move { running.run().await });
    // Slower than 4,000 jobs a second is a stall (seen at concurrency 256 on a backlog of
    // 1,000,000: the local queue stopped fetching with half the jobs left).
    let limit = Duration::from_secs(120 + u64::from(args.jobs) / 4000);
    let deadline = Instant::now() + limit;
    let n = u64::from(args.jobs);
    while STARTED.load(Ordering::Relaxed) < n {
        ensure!(
            Instant::now() < deadline,
            "graphile_worker started {} of {n} jobs within {limit:?}",
            STARTED.load(Ordering::Relaxed)
        );
        ensure!(
            !task.is_finished(),
            "the worker stopped before the drain's end"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    // Every job has started; the drain ends when the last completion is stored.
    let empty = format!(
        "SELECT NOT EXISTS (SELECT 1 FROM {}._private_jobs)",
        args.schema
    );
    loop {
        let done: bool = admin.query_one(&empty, &[]).await?.get(0);
        if done {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "graphile_worker's completions were not all stored within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let end = Instant::now();
    let first = *FIRST.get().context("no job started")?;
    worker.request_shutdown();
    task.await??;
    let started = STARTED.load(Ordering::Relaxed);
    ensure!(
        started == n,
        "graphile_worker ran {started} jobs for {n} enqueued"
    );
    let seconds = end.duration_since(first).as_secs_f64();
    Ok(serde_json::json!({
        "jobs": args.jobs,
        "seconds": seconds,
        "per_second": f64::from(args.jobs) / seconds.max(1e-9),
        "enqueue_per_second": f64::from(args.jobs) / enqueue_seconds.max(1e-9),
        "concurrency": args.concurrency,
        "local_queue": args.local_queue,
        "pool": args.pool,
        "complete_batch_delay_ms": args.complete_delay_ms,
        "graphile_worker": "0.14.1",
    })
    .to_string())
}
