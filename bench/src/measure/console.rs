//! The console's API at size: a database filled as one that has run for a while (a million
//! finished tasks with their history rows, dead tasks with their errors, a hundred thousand
//! pending tasks, a day of per-minute rollups), a runner serving its admin API on it, and
//! the latency of each request the console's pages make, sampled one after another.

use std::time::{Duration, Instant};

use anyhow::Context as _;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::Measure;
use crate::db::{Backend, Conn, Db};
use crate::report::{Line, Percentiles, Target};
use crate::{step, yes};

/// The p99 every console request must stay under.
const P99_TARGET_MS: f64 = 100.0;

/// The token of the bench runner's admin API.
const TOKEN: &str = "bench-console-token-0123456789abcdef";

/// Dead tasks, each with a failed and a dead attempt.
const DEAD: u64 = 10_000;

/// The requests of the console's pages (`{task}`: a dead task's id), with what each shows.
const REQUESTS: &[(&str, &str)] = &[
    ("/api/overview?window=hour", "overview, last hour"),
    ("/api/overview?window=day", "overview, last day"),
    (
        "/api/overview?window=day&job=bench_noop",
        "overview, one job, last day",
    ),
    ("/api/queues", "queues"),
    ("/api/jobs", "jobs"),
    ("/api/runners", "runners"),
    ("/api/tasks?state=dead", "tasks: dead"),
    (
        "/api/tasks?state=succeeded&job=bench_noop",
        "tasks: one job's succeeded",
    ),
    ("/api/tasks?state=pending", "tasks: pending"),
    ("/api/tasks", "tasks: all, newest first"),
    (
        "/api/tasks?state=dead&q=nowhere",
        "tasks: dead, text found nowhere",
    ),
    (
        "/api/tasks/count?state=dead&job=bench_noop",
        "tasks: count for a bulk action",
    ),
    ("/api/tasks/{task}/detail", "task detail"),
    ("/api/executions?job=bench_noop", "history of one job"),
    ("/api/executions?status=dead", "history: dead attempts"),
    ("/metrics", "metrics"),
];

impl Measure<'_> {
    /// The console API's latency with `plan.console_finished` finished tasks.
    pub(super) async fn console_api(&mut self) -> anyhow::Result<()> {
        let (title, backend) = (self.title, self.backend);
        let finished = self.plan.console_finished;
        step(&format!(
            "{title}: console API with {finished} finished tasks and their history"
        ));
        let db = Db::fresh(backend, &self.bench.place).await?;
        let result = console_on(&db, backend, finished, self.plan.console_samples).await;
        db.remove().await;
        let (fill_seconds, measured) = result?;
        let worst = measured
            .iter()
            .map(|(_, _, p)| p.p99_ms)
            .fold(0.0, f64::max);
        let met = worst < P99_TARGET_MS;
        let size = crate::report::thousands(finished);
        for (path, what, p) in &measured {
            eprintln!(
                "bench:   {what:<32} {path:<48} p50 {:>7.1} ms  p99 {:>7.1} ms",
                p.p50_ms, p.p99_ms
            );
        }
        self.out.lines.push(Line {
            scenario: format!("console API p99, {size} history rows (worst request)"),
            backend: title.into(),
            sdk: format!("{worst:.1} ms"),
            apalis: String::new(),
            ratio: String::new(),
            target: format!("< {P99_TARGET_MS:.0} ms"),
            met: yes(met),
        });
        self.out.targets.push(Target {
            name: format!("console API p99 at {size} history rows ({title})"),
            target: format!("every request < {P99_TARGET_MS:.0} ms"),
            value: format!("{worst:.1} ms"),
            met,
        });
        self.out.json.insert(
            "console_api".into(),
            json!({
                "finished": finished,
                "dead": DEAD,
                "pending": finished / 10,
                "fill_seconds": fill_seconds,
                "requests": measured.iter().map(|(path, what, p)| json!({
                    "path": path, "what": what, "percentiles": p,
                })).collect::<Vec<Value>>(),
            }),
        );
        Ok(())
    }
}

/// Fills `db`, serves its admin API from a runner, and samples every request `samples`
/// times: the time the fill took, and each request's percentiles.
pub(crate) async fn console_on(
    db: &Db,
    backend: Backend,
    finished: u64,
    samples: u32,
) -> anyhow::Result<(f64, Vec<(String, &'static str, Percentiles)>)> {
    let (client, _jobs) = crate::sdk::client(&db.url).await?;
    let mut conn = db.connect().await?;
    let start = Instant::now();
    crate::db::fill_finished(&mut conn, backend, finished).await?;
    fill_the_rest(&mut conn, backend, finished / 10).await?;
    let fill_seconds = start.elapsed().as_secs_f64();
    let task = conn
        .row("SELECT CAST(MAX(id) AS BIGINT) FROM jobs_tasks WHERE state = 'dead'")
        .await?[0];
    conn.close().await;
    client.store().close().await;

    let port = free_port()?;
    let mut config = crate::sdk::config(&db.url, crate::sdk::Settings::noop(1, 4))?;
    config.admin_addr = Some(([127, 0, 0, 1], port).into());
    config.admin_token = Some(TOKEN.into());
    let runner = job_runner::Runner::builder(config)
        .registry(crate::probe::registry(&[crate::probe::Workload::Noop])?)
        .data(std::sync::Arc::new(crate::probe::Probe::new(0, false)))
        .build()
        .await?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(runner.run_until(async {
        let _ = stopped.await;
    }));
    let address = format!("127.0.0.1:{port}");
    let mut ready = false;
    for _ in 0..200 {
        if get(&address, "/healthz").await.is_ok_and(|s| s == 200) {
            ready = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    anyhow::ensure!(
        ready,
        "the bench runner's admin API did not answer at {address}"
    );

    let mut measured = Vec::new();
    for (template, what) in REQUESTS {
        let path = template.replace("{task}", &task.to_string());
        let status = get(&address, &path).await?;
        anyhow::ensure!(status == 200, "GET {path} answered {status}");
        for _ in 0..5 {
            get(&address, &path).await?;
        }
        let mut times = Vec::with_capacity(samples as usize);
        for _ in 0..samples {
            let start = Instant::now();
            get(&address, &path).await?;
            times.push(start.elapsed());
        }
        measured.push((path, *what, Percentiles::of(&times)));
    }
    let _ = stop.send(());
    running.await??;
    Ok((fill_seconds, measured))
}

/// Dead tasks with a failed and a dead attempt each, `pending` tasks due tomorrow, and a
/// day of per-minute rollups, beside the finished tasks `fill_finished` stored.
async fn fill_the_rest(conn: &mut Conn, backend: Backend, pending: u64) -> anyhow::Result<()> {
    let now = chrono::Utc::now().timestamp_millis();
    let series = |n: u64| match backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < {n}) \
             SELECT n FROM g"
        ),
        Backend::Postgres => format!("SELECT n FROM generate_series(1, {n}) AS g(n)"),
    };
    conn.execute(&format!(
        "INSERT INTO jobs_tasks (job, queue, args, state, priority, run_at, scheduled_at, attempt, \
             max_attempts, trigger, exclusive, created_at, finished_at, last_error) \
         SELECT 'bench_noop', 'default', CAST(n AS TEXT), 'dead', 0, \
             {now} - n * 1000, {now} - n * 1000, 2, 2, 'enqueue', 0, {now} - n * 1000, \
             {now} - n * 1000 + 500, 'upstream timeout after 30 s (order ' || CAST(n AS TEXT) || ')' \
         FROM ({}) AS s",
        series(DEAD)
    ))
    .await?;
    for (attempt, status) in [(1, "failed"), (2, "dead")] {
        conn.execute(&format!(
            "INSERT INTO jobs_executions (task_id, job, attempt, trigger, scheduled_at, \
                 started_at, finished_at, duration_ms, status, error, records_processed, \
                 runner_id) \
             SELECT id, job, {attempt}, trigger, scheduled_at, finished_at - 100, finished_at, \
                 100, '{status}', last_error, NULL, 'bench-fill' \
             FROM jobs_tasks WHERE state = 'dead'"
        ))
        .await?;
    }
    conn.execute(&format!(
        "INSERT INTO jobs_tasks (job, queue, args, state, priority, run_at, scheduled_at, attempt, \
             max_attempts, trigger, exclusive, created_at) \
         SELECT 'bench_noop', 'default', CAST(n AS TEXT), 'pending', 0, {tomorrow}, {tomorrow}, \
             0, 4, 'enqueue', 0, {now} \
         FROM ({}) AS s",
        series(pending),
        tomorrow = now + 86_400_000,
    ))
    .await?;
    let minute = now - now % 60_000;
    conn.execute(&format!(
        "INSERT INTO jobs_minutes (minute, job, queue, succeeded, failed, dead, duration_ms, \
             started, waited_ms, max_waited_ms) \
         SELECT {minute} - n * 60000, 'bench_noop', 'default', 600, 3, 1, 600, 600, 1200, 40 \
         FROM ({}) AS s",
        series(1440)
    ))
    .await?;
    if backend == Backend::Postgres {
        conn.execute("VACUUM ANALYZE jobs_tasks").await?;
        conn.execute("VACUUM ANALYZE jobs_executions").await?;
        conn.execute("VACUUM ANALYZE jobs_minutes").await?;
    } else {
        conn.execute("ANALYZE").await?;
    }
    Ok(())
}

/// A free port on the loopback interface.
fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// `GET path` with the token, read to the end; its status. A few lines of HTTP/1.1 rather
/// than an HTTP client crate, which nothing else in the bench needs.
async fn get(address: &str, path: &str) -> anyhow::Result<u16> {
    let mut stream = TcpStream::connect(address).await?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nAuthorization: Bearer {TOKEN}\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await?;
    let head = String::from_utf8_lossy(&response[..response.len().min(32)]);
    head.split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .with_context(|| format!("GET {path}: not an HTTP response: {head}"))
}
