//! The scenarios: drain (with and without flow control), fairness, enqueue, latency,
//! baseline, scale and memory.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context as _, bail, ensure};
use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::baseline::{self, Producer, Target};
use crate::child::{Child, ChildArgs, System};
use crate::db::{Backend, Conn, Db, Place};
use crate::probe::{BenchNoop, Probe, Summary, Workload, memory_kib, unix_ns};
use crate::report::Percentiles;
use crate::sdk::{self, Settings};

/// Tasks per bulk enqueue call.
pub const BULK_BATCH: u32 = 1000;

/// The bench's context.
pub struct Bench {
    /// Where databases go.
    pub place: Place,
    /// This program, to start children.
    pub exe: PathBuf,
    /// Pooled connections of every runner and worker.
    pub pool: u32,
}

/// One drain to run.
#[derive(Debug, Clone)]
pub struct Drain {
    /// SDK or apalis.
    pub system: System,
    /// The backend.
    pub backend: Backend,
    /// Tasks run at once per process.
    pub concurrency: u32,
    /// Tasks to drain.
    pub jobs: u32,
    /// Runner processes.
    pub processes: u32,
    /// The flow control it runs under (SDK only).
    pub flow: Flow,
}

/// The flow control of an SDK drain: which job, its limit, and how its tasks are keyed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Flow {
    /// The no-op job, or the keyed one (whose claims take keys in turn).
    pub workload: Workload,
    /// Attempts at once across every runner (per key for the keyed job), set at run time
    /// as `jobs.toml` would.
    pub limit: Option<u32>,
    /// The keyed job's tasks are spread over this many keys: task `i` has key `i % keys`.
    pub keys: u32,
}

/// What the fairness case measured: the small keys' waits, and the whole drain.
#[derive(Debug, Clone, Serialize)]
pub struct Fairness {
    /// The small keys' waits, from the drain's first start to each task's start.
    pub small_wait: Percentiles,
    /// The drain of the backlog and the small keys together.
    pub drain: DrainResult,
}

/// What a drain measured.
#[derive(Debug, Clone, Serialize)]
pub struct DrainResult {
    /// Tasks per second, from the first start to the last stored completion.
    pub rate: f64,
    /// Seconds from the first start to the last stored completion.
    pub seconds: f64,
    /// Tasks per second of the bulk enqueue that stored them.
    pub enqueue_rate: f64,
    /// Tasks run by each process.
    pub spread: Vec<u64>,
    /// Largest peak resident memory of the processes, in KiB.
    pub peak_rss_kib: u64,
    /// CPU time (user and system) of the runner processes together, in seconds, from their
    /// start to their end.
    pub runner_cpu_seconds: f64,
    /// The bench's own queries that watched for the drain's end, in the database's
    /// statement counts.
    pub polls: u64,
}

/// The SQL that says whether SDK tasks remain pending or running (1) or not (0).
const SDK_BUSY: &str = "SELECT CAST(CASE WHEN EXISTS (SELECT 1 FROM jobs_tasks WHERE state = 'pending') \
     OR EXISTS (SELECT 1 FROM jobs_tasks WHERE state = 'running') THEN 1 ELSE 0 END AS BIGINT)";

impl Bench {
    /// Runs a drain on a fresh database.
    pub async fn drain(&self, drain: &Drain) -> anyhow::Result<DrainResult> {
        let db = Db::fresh(drain.backend, &self.place).await?;
        let result = self.drain_on(&db, drain).await;
        db.remove().await;
        result
    }

    async fn drain_on(&self, db: &Db, drain: &Drain) -> anyhow::Result<DrainResult> {
        match drain.system {
            System::Sdk => {
                let (client, jobs) = sdk::client(&db.url).await?;
                let flow = drain.flow;
                let start = Instant::now();
                sdk::enqueue_bulk_of(&jobs, flow.workload, 0, drain.jobs, BULK_BATCH, |i| {
                    i % flow.keys.max(1)
                })
                .await?;
                let enqueue_rate = rate(drain.jobs, start.elapsed());
                client.store().close().await;
                self.run_sdk_drain(db, drain, 0, enqueue_rate).await
            }
            System::Apalis => self.run_apalis_drain(db, drain).await,
        }
    }

    /// Drains the tasks above id `floor` of an SDK database, with children.
    pub async fn run_sdk_drain(
        &self,
        db: &Db,
        drain: &Drain,
        floor: i64,
        enqueue_rate: f64,
    ) -> anyhow::Result<DrainResult> {
        let (result, _) = self
            .run_sdk_drain_recorded(db, drain, floor, enqueue_rate, false)
            .await?;
        Ok(result)
    }

    /// [`run_sdk_drain`](Bench::run_sdk_drain), with the children's summaries, which hold
    /// every task's start when `record_starts`.
    async fn run_sdk_drain_recorded(
        &self,
        db: &Db,
        drain: &Drain,
        floor: i64,
        enqueue_rate: f64,
        record_starts: bool,
    ) -> anyhow::Result<(DrainResult, Vec<Summary>)> {
        let mut conn = db.connect().await?;
        let args = ChildArgs {
            system: System::Sdk,
            backend: drain.backend,
            url: db.url.clone(),
            concurrency: drain.concurrency,
            pool: self.pool,
            expect: drain.jobs,
            queue: "bench_noop".into(),
            record_starts,
            workload: drain.flow.workload,
            limit: drain.flow.limit,
        };
        let (summaries, end, polls) = self
            .supervise(&args, drain, &mut conn, |row| row[0] == 0, SDK_BUSY)
            .await?;
        // Every task ran exactly once: one attempt each, one history row each, all stored.
        let check = conn
            .row(&format!(
                "SELECT CAST(COUNT(*) AS BIGINT), CAST(COUNT(DISTINCT task_id) AS BIGINT), \
                     CAST(COALESCE(MAX(attempt), 0) AS BIGINT), \
                     CAST(COALESCE(SUM(CASE WHEN status = 'succeeded' THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM jobs_executions WHERE task_id > {floor}"
            ))
            .await?;
        let tasks = conn
            .row(&format!(
                "SELECT CAST(COUNT(*) AS BIGINT), \
                     CAST(COALESCE(SUM(CASE WHEN state = 'succeeded' AND attempt = 1 THEN 1 ELSE 0 END), 0) AS BIGINT) \
                 FROM jobs_tasks WHERE id > {floor}"
            ))
            .await?;
        conn.close().await;
        let n = i64::from(drain.jobs);
        ensure!(
            check == [n, n, 1, n] && tasks == [n, n],
            "not every task ran exactly once: history (rows, tasks, max attempt, succeeded) = {check:?}, tasks (all, succeeded at attempt 1) = {tasks:?}, expected {n} each"
        );
        let result = finish(drain, &summaries, end, enqueue_rate, polls)?;
        Ok((result, summaries))
    }

    /// The fairness case: `backlog` tasks of one key stored first, then `small_keys` keys
    /// of `per_small` tasks each behind them, drained by one runner at `concurrency`. With
    /// the keyed job, claims take keys in turn; with the no-op job, in order.
    pub async fn fairness(
        &self,
        backend: Backend,
        workload: Workload,
        concurrency: u32,
        backlog: u32,
        small_keys: u32,
        per_small: u32,
    ) -> anyhow::Result<Fairness> {
        let db = Db::fresh(backend, &self.place).await?;
        let result = self
            .fairness_on(
                &db,
                backend,
                workload,
                concurrency,
                backlog,
                small_keys,
                per_small,
            )
            .await;
        db.remove().await;
        result
    }

    #[allow(clippy::too_many_arguments)] // fairness's own, with the database
    async fn fairness_on(
        &self,
        db: &Db,
        backend: Backend,
        workload: Workload,
        concurrency: u32,
        backlog: u32,
        small_keys: u32,
        per_small: u32,
    ) -> anyhow::Result<Fairness> {
        let total = backlog + small_keys * per_small;
        let (client, jobs) = sdk::client(&db.url).await?;
        let start = Instant::now();
        // Key 0 for the backlog, then keys 1..=small_keys in turn.
        sdk::enqueue_bulk_of(&jobs, workload, 0, total, BULK_BATCH, |i| {
            i.checked_sub(backlog).map_or(0, |j| 1 + j % small_keys)
        })
        .await?;
        let enqueue_rate = rate(total, start.elapsed());
        client.store().close().await;
        let drain = Drain {
            system: System::Sdk,
            backend,
            concurrency,
            jobs: total,
            processes: 1,
            flow: Flow {
                workload,
                limit: None,
                keys: small_keys + 1,
            },
        };
        let (result, summaries) = self
            .run_sdk_drain_recorded(db, &drain, 0, enqueue_rate, true)
            .await?;
        let starts = summaries
            .first()
            .and_then(|s| s.starts_ns.as_ref())
            .context("the runner recorded no starts")?;
        let first = starts.iter().copied().filter(|&t| t > 0).min().unwrap_or(0);
        let waits = starts[backlog as usize..]
            .iter()
            .map(|&t| Duration::from_nanos(t.saturating_sub(first)))
            .collect::<Vec<_>>();
        Ok(Fairness {
            small_wait: Percentiles::of(&waits),
            drain: result,
        })
    }

    async fn run_apalis_drain(&self, db: &Db, drain: &Drain) -> anyhow::Result<DrainResult> {
        let target = self.apalis_target(db, drain.backend, drain.concurrency);
        baseline::setup(&target).await?;
        let mut producer = Producer::open(&target).await?;
        let start = Instant::now();
        producer.push_bulk(0, drain.jobs, BULK_BATCH).await?;
        let enqueue_rate = rate(drain.jobs, start.elapsed());
        producer.close().await;
        let mut conn = Conn::open(drain.backend, &target.url).await?;
        let args = ChildArgs {
            system: System::Apalis,
            backend: drain.backend,
            url: target.url.clone(),
            concurrency: drain.concurrency,
            pool: self.pool,
            expect: drain.jobs,
            queue: target.queue.clone(),
            record_starts: false,
            workload: Workload::Noop,
            limit: None,
        };
        let n = i64::from(drain.jobs);
        let query = baseline::done_query(&target);
        let (summaries, end, polls) = self
            .supervise(&args, drain, &mut conn, |row| row[0] == n, &query)
            .await?;
        let check = conn.row(&query).await?;
        conn.close().await;
        ensure!(
            check[0] == n && check[1] == n,
            "apalis did not finish every task once: (done, all) = {check:?}, expected {n}"
        );
        finish(drain, &summaries, end, enqueue_rate, polls)
    }

    /// The apalis storage of a run on `db`.
    pub fn apalis_target(&self, db: &Db, backend: Backend, concurrency: u32) -> Target {
        let (url, queue) = match backend {
            Backend::Sqlite => (db.url.clone(), "bench_noop".to_owned()),
            // apalis keeps its tables in the shared `apalis` schema: a queue per run.
            Backend::Postgres => (
                self.place.postgres.clone(),
                format!(
                    "bench_{}_{}",
                    std::process::id(),
                    unix_ns(SystemTime::now())
                ),
            ),
        };
        Target {
            backend,
            url,
            queue,
            pool: self.pool,
            concurrency,
        }
    }

    /// Starts the children, waits until `done(row of query)`, stops them.
    async fn supervise(
        &self,
        args: &ChildArgs,
        drain: &Drain,
        conn: &mut Conn,
        done: impl Fn(&[i64]) -> bool,
        query: &str,
    ) -> anyhow::Result<(Vec<crate::probe::Summary>, u64, u64)> {
        let limit = Duration::from_secs(60 + u64::from(drain.jobs) / 50);
        let mut children = (0..drain.processes.max(1))
            .map(|_| Child::spawn(&self.exe, args))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let deadline = Instant::now() + limit;
        // One process: it says when every task has started, then only the last
        // acknowledgements are awaited, polled closely. Several: poll all along.
        let interval = if children.len() == 1 {
            children[0].wait_for("STARTED", limit).await?;
            Duration::from_millis(1)
        } else {
            Duration::from_millis(5)
        };
        let mut polls = 0;
        let end = loop {
            polls += 1;
            let row = conn.row(query).await?;
            if done(&row) {
                break unix_ns(SystemTime::now());
            }
            if Instant::now() > deadline {
                bail!("the drain did not finish within {limit:?} (last check: {row:?})");
            }
            tokio::time::sleep(interval).await;
        };
        let mut summaries = Vec::new();
        for child in children.drain(..) {
            summaries.push(child.finish().await?);
        }
        Ok((summaries, end, polls))
    }

    /// Enqueue-to-start latencies within one process: an idle runner (or apalis worker),
    /// tasks enqueued one at a time, `spacing` apart; the first `warmup` are dropped. Each
    /// sample is (enqueue to start, enqueue call alone).
    pub async fn latency(
        &self,
        system: System,
        backend: Backend,
        samples: u32,
        warmup: u32,
        spacing: Duration,
    ) -> anyhow::Result<Vec<(Duration, Duration)>> {
        let db = Db::fresh(backend, &self.place).await?;
        let result = self
            .latency_on(&db, system, backend, samples, warmup, spacing)
            .await;
        db.remove().await;
        result
    }

    async fn latency_on(
        &self,
        db: &Db,
        system: System,
        backend: Backend,
        samples: u32,
        warmup: u32,
        spacing: Duration,
    ) -> anyhow::Result<Vec<(Duration, Duration)>> {
        let (events, mut starts) = mpsc::unbounded_channel();
        let probe = Arc::new(Probe::with_events(0, events));
        let (stop, stopped) = oneshot::channel::<()>();
        let stopped = async move {
            let _ = stopped.await;
        };
        let mut producer = None;
        let mut jobs = None;
        let task = match system {
            System::Sdk => {
                let runner = sdk::runner(&db.url, Settings::noop(10, self.pool), probe).await?;
                jobs = Some(runner.jobs().clone());
                tokio::spawn(async move { runner.run_until(stopped).await.map_err(Into::into) })
            }
            System::Apalis => {
                let target = self.apalis_target(db, backend, 10);
                baseline::setup(&target).await?;
                let (task, push) = baseline::start(&target, probe, stopped).await?;
                producer = Some(push);
                task
            }
        };
        tokio::time::sleep(Duration::from_millis(500)).await;
        let mut latencies = Vec::new();
        for i in 0..warmup + samples {
            let begin = Instant::now();
            match (&jobs, &mut producer) {
                (Some(jobs), _) => {
                    BenchNoop::enqueue(jobs, i).await?;
                }
                (None, Some(producer)) => producer.push(i).await?,
                _ => unreachable!(),
            }
            let stored = begin.elapsed();
            let (index, at) = tokio::time::timeout(Duration::from_secs(10), starts.recv())
                .await
                .with_context(|| format!("{system:?} on {backend:?}: task {i} did not start within 10 s of its enqueue"))?
                .context("the runner stopped")?;
            ensure!(index == i, "task {index} started where {i} was expected");
            if i >= warmup {
                latencies.push((at.saturating_duration_since(begin), stored));
            }
            tokio::time::sleep(spacing).await;
        }
        let _ = stop.send(());
        task.await??;
        if let Some(producer) = producer {
            producer.close().await;
        }
        Ok(latencies)
    }

    /// Enqueue-to-start latencies across processes: a runner process, tasks enqueued by
    /// this one (PostgreSQL wakes the runner by NOTIFY; SQLite by a watch of the database
    /// file, on Linux).
    pub async fn remote_latency(
        &self,
        backend: Backend,
        samples: u32,
        warmup: u32,
        spacing: Duration,
    ) -> anyhow::Result<Vec<Duration>> {
        let db = Db::fresh(backend, &self.place).await?;
        let result = self
            .remote_latency_on(&db, backend, samples, warmup, spacing)
            .await;
        db.remove().await;
        result
    }

    async fn remote_latency_on(
        &self,
        db: &Db,
        backend: Backend,
        samples: u32,
        warmup: u32,
        spacing: Duration,
    ) -> anyhow::Result<Vec<Duration>> {
        let (client, jobs) = sdk::client(&db.url).await?;
        let total = warmup + samples;
        let args = ChildArgs {
            system: System::Sdk,
            backend,
            url: db.url.clone(),
            concurrency: 10,
            pool: self.pool,
            expect: total,
            queue: "bench_noop".into(),
            record_starts: true,
            workload: Workload::Noop,
            limit: None,
        };
        let mut child = Child::spawn(&self.exe, &args)?;
        child.wait_for("READY", Duration::from_secs(30)).await?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let mut enqueued = Vec::new();
        for i in 0..total {
            enqueued.push(unix_ns(SystemTime::now()));
            BenchNoop::enqueue(&jobs, i).await?;
            tokio::time::sleep(spacing).await;
        }
        child.wait_for("STARTED", Duration::from_secs(60)).await?;
        let summary = child.finish().await?;
        client.store().close().await;
        let starts = summary.starts_ns.context("the child recorded no starts")?;
        Ok((warmup as usize..total as usize)
            .map(|i| Duration::from_nanos(starts[i].saturating_sub(enqueued[i])))
            .collect())
    }

    /// Single enqueues per second: `count` typed enqueues, one at a time, no runner.
    pub async fn single_enqueue(
        &self,
        system: System,
        backend: Backend,
        count: u32,
    ) -> anyhow::Result<f64> {
        let db = Db::fresh(backend, &self.place).await?;
        let result = self.single_enqueue_on(&db, system, backend, count).await;
        db.remove().await;
        result
    }

    async fn single_enqueue_on(
        &self,
        db: &Db,
        system: System,
        backend: Backend,
        count: u32,
    ) -> anyhow::Result<f64> {
        let took = match system {
            System::Sdk => {
                let (client, jobs) = sdk::client(&db.url).await?;
                sdk::enqueue_single(&jobs, 0, count / 10).await?; // warm-up
                let took = sdk::enqueue_single(&jobs, count / 10, count / 10 + count).await?;
                client.store().close().await;
                took
            }
            System::Apalis => {
                let target = self.apalis_target(db, backend, 10);
                baseline::setup(&target).await?;
                let mut producer = Producer::open(&target).await?;
                producer.push_single(0, count / 10).await?;
                let took = producer.push_single(count / 10, count / 10 + count).await?;
                producer.close().await;
                took
            }
        };
        Ok(rate(count, took))
    }

    /// Drains `pending` tasks `rounds` times on a database that already holds `finished`
    /// finished tasks with their history (the drained tasks join them round after round).
    pub async fn large_tables(
        &self,
        backend: Backend,
        concurrency: u32,
        finished: u64,
        pending: u32,
        rounds: u32,
    ) -> anyhow::Result<(f64, Vec<DrainResult>)> {
        let db = Db::fresh(backend, &self.place).await?;
        let result = self
            .large_tables_on(&db, backend, concurrency, finished, pending, rounds)
            .await;
        db.remove().await;
        result
    }

    async fn large_tables_on(
        &self,
        db: &Db,
        backend: Backend,
        concurrency: u32,
        finished: u64,
        pending: u32,
        rounds: u32,
    ) -> anyhow::Result<(f64, Vec<DrainResult>)> {
        let (client, jobs) = sdk::client(&db.url).await?;
        let mut conn = db.connect().await?;
        let start = Instant::now();
        crate::db::fill_finished(&mut conn, backend, finished).await?;
        let fill_seconds = start.elapsed().as_secs_f64();
        let mut results = Vec::new();
        for _ in 0..rounds {
            let floor = conn
                .row("SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM jobs_tasks")
                .await?[0];
            let start = Instant::now();
            sdk::enqueue_bulk(&jobs, 0, pending, BULK_BATCH).await?;
            let enqueue_rate = rate(pending, start.elapsed());
            let drain = Drain {
                system: System::Sdk,
                backend,
                concurrency,
                jobs: pending,
                processes: 1,
                flow: Flow::default(),
            };
            let result = self.run_sdk_drain(db, &drain, floor, enqueue_rate).await?;
            results.push(result);
        }
        conn.close().await;
        client.store().close().await;
        Ok((fill_seconds, results))
    }

    /// The resident memory of the `job-runner` binary running the example jobs, idle.
    pub async fn idle_memory(&self, backend: Backend) -> anyhow::Result<Option<(u64, u64)>> {
        let db = Db::fresh(backend, &self.place).await?;
        let result = self.idle_memory_on(&db).await;
        db.remove().await;
        result
    }

    async fn idle_memory_on(&self, db: &Db) -> anyhow::Result<Option<(u64, u64)>> {
        let Some(binary) = sibling(&self.exe, "job-runner") else {
            return Ok(None);
        };
        let folder = match db.folder() {
            Some(folder) => folder.to_owned(),
            None => {
                let folder = self.place.work.join(format!("idle-{}", std::process::id()));
                std::fs::create_dir_all(&folder)?;
                folder
            }
        };
        for sub in ["inbox", "outbox"] {
            std::fs::create_dir_all(folder.join(sub))?;
        }
        let port = 20_000 + (std::process::id() % 20_000);
        let mut process = tokio::process::Command::new(&binary)
            .arg("run")
            .current_dir(&folder)
            .env("JOBS_DATABASE_URL", &db.url)
            .env("JOBS_ADMIN_ADDR", format!("127.0.0.1:{port}"))
            .env(
                "EXAMPLES_DATABASE_URL",
                format!("sqlite://{}?mode=rwc", folder.join("examples.db").display()),
            )
            .env("EXAMPLES_TRANSFER_SOURCE", folder.join("inbox"))
            .env("EXAMPLES_TRANSFER_DESTINATION", folder.join("outbox"))
            .env("RUST_LOG", "warn")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", binary.display()))?;
        let pid = process.id().context("the runner's pid")?;
        tokio::time::sleep(Duration::from_secs(3)).await;
        let mut rss = 0;
        let mut peak = 0;
        for _ in 0..10 {
            if let Ok(Some(status)) = process.try_wait() {
                bail!("the job-runner binary exited while idle: {status}");
            }
            let (hwm, now) = memory_kib(Some(pid));
            rss = rss.max(now);
            peak = peak.max(hwm);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let _ = tokio::process::Command::new("kill")
            .arg("-TERM")
            .arg(pid.to_string())
            .status()
            .await;
        let _ = tokio::time::timeout(Duration::from_secs(10), process.wait()).await;
        if db.folder().is_none() {
            let _ = std::fs::remove_dir_all(&folder);
        }
        Ok(Some((rss, peak)))
    }
}

fn finish(
    drain: &Drain,
    summaries: &[Summary],
    end: u64,
    enqueue_rate: f64,
    polls: u64,
) -> anyhow::Result<DrainResult> {
    let ran: u64 = summaries.iter().map(|s| s.ran).sum();
    let duplicates: u64 = summaries.iter().map(|s| s.duplicates).sum();
    let n = u64::from(drain.jobs);
    ensure!(
        ran == n && duplicates == 0,
        "{} started {ran} attempts ({duplicates} tasks twice in one process) for {n} tasks",
        drain.system.title()
    );
    if summaries.len() == 1 {
        ensure!(summaries[0].not_run == 0, "some tasks never started");
    }
    let first = summaries
        .iter()
        .map(|s| s.first_start_ns)
        .filter(|&t| t > 0)
        .min()
        .unwrap_or(end);
    let seconds = end.saturating_sub(first) as f64 / 1e9;
    Ok(DrainResult {
        rate: n as f64 / seconds.max(1e-9),
        seconds,
        enqueue_rate,
        spread: summaries.iter().map(|s| s.ran).collect(),
        peak_rss_kib: summaries.iter().map(|s| s.peak_rss_kib).max().unwrap_or(0),
        runner_cpu_seconds: summaries.iter().map(|s| s.cpu_seconds).sum(),
        polls,
    })
}

fn rate(count: u32, took: Duration) -> f64 {
    f64::from(count) / took.as_secs_f64().max(1e-9)
}

/// A program beside `exe`.
fn sibling(exe: &Path, name: &str) -> Option<PathBuf> {
    let path = exe.parent()?.join(name);
    path.is_file().then_some(path)
}
