//! Scale: the drain by the size of the backlog on both backends, graphile_worker (tuned) as
//! the PostgreSQL peer in the same run, and the database's cost per job with the model of
//! several runner processes it gives.
//!
//! `bench scale` runs all three (and `bench run` in its full mode); `bench cost` the third.

use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde::Serialize;
use serde_json::{Value, json};

use crate::child::System;
use crate::db::{Backend, Conn, Db, Place};
use crate::probe::{clock_ticks, cpu_seconds};
use crate::report::{self, Line, Target, per_second};
use crate::scenarios::{self, Bench, Drain, DrainResult, Flow};
use crate::{sdk, step, yes};

/// What the scale step measures.
#[derive(Debug, Clone, Serialize)]
pub struct ScalePlan {
    /// Backlogs drained by one SDK runner, on each backend.
    pub backlogs: Vec<u32>,
    /// Backlogs drained by graphile_worker (PostgreSQL).
    pub peer_backlogs: Vec<u32>,
    /// The peer's concurrencies: its best is kept.
    pub peer_concurrency: Vec<u32>,
    /// The peer's local queue.
    pub peer_local_queue: u32,
    /// Tasks of each cost drain.
    pub cost_jobs: u32,
    /// Runner processes of the cost drains.
    pub cost_processes: Vec<u32>,
    /// Concurrency of each SDK runner.
    pub concurrency: u32,
}

impl ScalePlan {
    /// The full plan.
    pub fn full() -> ScalePlan {
        ScalePlan {
            backlogs: vec![20_000, 100_000, 300_000, 1_000_000],
            peer_backlogs: vec![20_000, 1_000_000],
            peer_concurrency: vec![100, 256],
            peer_local_queue: 500,
            cost_jobs: 100_000,
            cost_processes: vec![1, 2, 4],
            concurrency: 1024,
        }
    }
}

/// The scale step's table lines, targets and figures.
#[derive(Default)]
pub struct ScaleResults {
    /// Lines of the scale table (SDK, graphile_worker, ratio).
    pub lines: Vec<Line>,
    /// Targets, met or not.
    pub targets: Vec<Target>,
    /// For results.json.
    pub json: serde_json::Map<String, Value>,
}

/// Runs the scale step on `backends`.
pub async fn measure(
    bench: &Bench,
    plan: &ScalePlan,
    backends: &[Backend],
) -> anyhow::Result<ScaleResults> {
    let mut out = ScaleResults::default();
    let mut postgres_curve = Vec::new();
    for &backend in backends {
        let curve = backlog_curve(bench, backend, &plan.backlogs, plan.concurrency).await?;
        curve_lines(&mut out, backend, &curve);
        out.json.insert(
            format!("backlog_{}", backend.name()),
            json!(
                curve
                    .iter()
                    .map(|(n, r)| json!({"jobs": n, "concurrency": plan.concurrency, "result": r}))
                    .collect::<Vec<_>>()
            ),
        );
        if backend == Backend::Postgres {
            postgres_curve = curve;
        }
    }
    if backends.contains(&Backend::Postgres) {
        match peer_drains(bench, plan).await {
            Ok(peer) => {
                peer_lines(&mut out, &postgres_curve, &peer);
                out.json.insert("graphile_worker".into(), json!(peer));
            }
            Err(error) => {
                eprintln!("bench: graphile_worker peer not measured: {error:#}");
                out.lines.push(Line {
                    scenario: "graphile_worker peer".into(),
                    backend: Backend::Postgres.title().into(),
                    sdk: String::new(),
                    apalis: format!("not measured: {error:#}"),
                    ratio: String::new(),
                    target: String::new(),
                    met: String::new(),
                });
                out.json.insert(
                    "graphile_worker".into(),
                    json!({"error": format!("{error:#}")}),
                );
            }
        }
        let cost = cost(
            bench,
            plan.cost_jobs,
            &plan.cost_processes,
            plan.concurrency,
        )
        .await?;
        print_cost(&cost);
        out.json.insert("cost".into(), serde_json::to_value(&cost)?);
    }
    Ok(out)
}

/// One SDK runner draining each backlog (enqueued before it starts).
pub async fn backlog_curve(
    bench: &Bench,
    backend: Backend,
    sizes: &[u32],
    concurrency: u32,
) -> anyhow::Result<Vec<(u32, DrainResult)>> {
    let mut curve = Vec::new();
    for &n in sizes {
        step(&format!(
            "{}: SDK drain of a backlog of {} at concurrency {concurrency}",
            backend.title(),
            report::thousands(n.into())
        ));
        let result = bench
            .drain(&Drain {
                system: System::Sdk,
                backend,
                concurrency,
                jobs: n,
                processes: 1,
                flow: Flow::default(),
            })
            .await?;
        eprintln!(
            "bench:   {} (enqueued at {})",
            per_second(result.rate),
            per_second(result.enqueue_rate)
        );
        curve.push((n, result));
    }
    Ok(curve)
}

fn curve_lines(out: &mut ScaleResults, backend: Backend, curve: &[(u32, DrainResult)]) {
    let Some((first_n, first)) = curve.first() else {
        return;
    };
    for (n, r) in curve {
        let share = r.rate / first.rate.max(1e-9);
        let last = Some(n) == curve.last().map(|(n, _)| n) && n != first_n;
        out.lines.push(Line {
            scenario: format!(
                "backlog {} drained by one runner",
                report::thousands((*n).into())
            ),
            backend: backend.title().into(),
            sdk: format!(
                "{} ({:.0}% of {})",
                per_second(r.rate),
                100.0 * share,
                report::thousands((*first_n).into())
            ),
            apalis: String::new(),
            ratio: String::new(),
            target: if last {
                "within 10%".into()
            } else {
                String::new()
            },
            met: if last {
                yes(share >= 0.9)
            } else {
                String::new()
            },
        });
        if last {
            out.targets.push(Target {
                name: format!(
                    "backlog {} within 10% of {} ({})",
                    n,
                    first_n,
                    backend.title()
                ),
                target: ">= 90%".into(),
                value: format!("{:.0}%", 100.0 * share),
                met: share >= 0.9,
            });
        }
    }
}

/// graphile_worker's drain of one backlog at one concurrency.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct PeerRun {
    /// Jobs drained.
    pub jobs: u32,
    /// From the first start to the last stored completion.
    pub seconds: f64,
    /// Jobs per second.
    pub per_second: f64,
    /// Its bulk enqueue (`add_jobs`), jobs per second.
    #[serde(default)]
    pub enqueue_per_second: f64,
    /// Its concurrency.
    #[serde(default)]
    pub concurrency: u32,
    /// Its local queue.
    #[serde(default)]
    pub local_queue: u32,
}

/// graphile_worker's drains: for each backlog, every concurrency; the best is kept.
pub async fn peer_drains(bench: &Bench, plan: &ScalePlan) -> anyhow::Result<Vec<PeerRun>> {
    let exe = bench
        .exe
        .parent()
        .map(|d| d.join("graphile-peer"))
        .filter(|p| p.is_file())
        .context(
            "no graphile-peer beside the bench: build it with `cargo build --release --manifest-path bench/peers/graphile/Cargo.toml` (cargo xtask bench does, unless offline)",
        )?;
    let mut runs = Vec::new();
    for &n in &plan.peer_backlogs {
        for &c in &plan.peer_concurrency {
            step(&format!(
                "PostgreSQL: graphile_worker drain of a backlog of {} at concurrency {c}, local queue {}",
                report::thousands(n.into()),
                plan.peer_local_queue
            ));
            // One setting that fails (graphile_worker's local queue has stalled with jobs
            // left) is said and left out; the best of the others stands.
            match peer_once(&exe, &bench.place.postgres, n, c, plan.peer_local_queue).await {
                Ok(run) => {
                    eprintln!("bench:   {}", per_second(run.per_second));
                    runs.push(run);
                }
                Err(error) => eprintln!("bench:   not measured: {error:#}"),
            }
        }
    }
    ensure!(!runs.is_empty(), "no drain of graphile_worker finished");
    Ok(runs)
}

async fn peer_once(
    exe: &Path,
    url: &str,
    jobs: u32,
    concurrency: u32,
    local_queue: u32,
) -> anyhow::Result<PeerRun> {
    let output = tokio::process::Command::new(exe)
        .args(["--url", url, "--jobs", &jobs.to_string()])
        .args(["--concurrency", &concurrency.to_string()])
        .args(["--local-queue", &local_queue.to_string()])
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("starting {}", exe.display()))?;
    if !output.status.success() {
        bail!("graphile-peer failed ({})", output.status);
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let line = text
        .lines()
        .last()
        .context("graphile-peer printed nothing")?;
    serde_json::from_str(line).with_context(|| format!("graphile-peer printed {line:?}"))
}

fn peer_lines(out: &mut ScaleResults, sdk: &[(u32, DrainResult)], peer: &[PeerRun]) {
    for (n, r) in sdk {
        let Some(best) = peer
            .iter()
            .filter(|p| p.jobs == *n)
            .max_by(|a, b| a.per_second.total_cmp(&b.per_second))
        else {
            continue;
        };
        let ratio = r.rate / best.per_second.max(1e-9);
        out.lines.push(Line {
            scenario: format!("drain {} backlog", report::thousands((*n).into())),
            backend: Backend::Postgres.title().into(),
            sdk: per_second(r.rate),
            apalis: format!(
                "{} (concurrency {}, local queue {})",
                per_second(best.per_second),
                best.concurrency,
                best.local_queue
            ),
            ratio: format!("{ratio:.2}x"),
            target: ">= 2x".into(),
            met: yes(ratio >= 2.0),
        });
        out.targets.push(Target {
            name: format!("drain {n} backlog against graphile_worker (PostgreSQL)"),
            target: ">= 2x".into(),
            value: format!("{ratio:.2}x"),
            met: ratio >= 2.0,
        });
    }
}

/// The database's cost per job in one drain, and what the machine did meanwhile.
#[derive(Debug, Clone, Serialize)]
pub struct Cost {
    /// Runner processes.
    pub processes: u32,
    /// Tasks drained.
    pub jobs: u32,
    /// The drain's rate, jobs per second.
    pub rate: f64,
    /// The drain's seconds (first start to last stored completion).
    pub seconds: f64,
    /// Statements per job (pg_stat_statements, the bench's own end checks taken out), or
    /// `None` when pg_stat_statements is not loaded.
    pub statements_per_job: Option<f64>,
    /// Committed transactions per job (pg_stat_database, the end checks taken out).
    pub transactions_per_job: f64,
    /// Rows inserted, updated and deleted per job (pg_stat_database).
    pub rows_written_per_job: f64,
    /// WAL bytes per job (the server's, every database: others' writes count too).
    pub wal_bytes_per_job: f64,
    /// Server CPU seconds per job: the drain's backends and PostgreSQL's own processes
    /// (WAL writer, checkpointer, autovacuum...).
    pub server_cpu_per_job: f64,
    /// The runner processes' CPU seconds per job.
    pub runner_cpu_per_job: f64,
    /// CPU seconds per second that the rest of the machine used during the drain (other
    /// work on a shared machine).
    pub others_cores: f64,
    /// The machine's cores.
    pub cores: f64,
    /// The model's estimate of this drain's rate: `(cores - others) / (runner + server CPU
    /// per job)`, with the per-job costs of the one-process drain.
    pub model_rate: f64,
    /// The statements that took the most server time, per job: (calls, milliseconds, text).
    pub top_statements: Vec<(f64, f64, String)>,
}

/// A drain of `jobs` by each number of runner `processes`, on a database of its own, with
/// the database's cost per job.
pub async fn cost(
    bench: &Bench,
    jobs: u32,
    processes: &[u32],
    concurrency: u32,
) -> anyhow::Result<Vec<Cost>> {
    let base = bench.place.postgres.clone();
    let name = format!("bench_cost_{}", std::process::id());
    let mut admin = Conn::open(Backend::Postgres, &base).await?;
    admin
        .execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .await?;
    admin.execute(&format!("CREATE DATABASE {name}")).await?;
    let url = with_database(&base, &name)?;
    let result = cost_in(bench, &url, &name, jobs, processes, concurrency).await;
    admin
        .execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        .await?;
    admin.close().await;
    let mut costs = result?;
    // The model: the CPU that the drain can have, over the CPU that a job takes (runner and
    // server together, as the one-process drain measured them).
    if let Some(one) = costs.first().cloned() {
        for c in &mut costs {
            c.model_rate = (c.cores - c.others_cores).max(0.0)
                / (one.runner_cpu_per_job + one.server_cpu_per_job).max(1e-12);
        }
    }
    Ok(costs)
}

async fn cost_in(
    bench: &Bench,
    url: &str,
    database: &str,
    jobs: u32,
    processes: &[u32],
    concurrency: u32,
) -> anyhow::Result<Vec<Cost>> {
    let local = Bench {
        place: Place {
            work: bench.place.work.clone(),
            postgres: url.to_owned(),
        },
        exe: bench.exe.clone(),
        pool: bench.pool,
    };
    let mut stats = Conn::open(Backend::Postgres, url).await?;
    let statements = stats
        .text("SHOW shared_preload_libraries")
        .await?
        .contains("pg_stat_statements");
    if statements {
        stats
            .execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .await?;
    } else {
        eprintln!(
            "bench: pg_stat_statements is not loaded: transactions per job (pg_stat_database) stand in for statements"
        );
    }
    stats.close().await;
    let mut costs = Vec::new();
    for &n in processes {
        step(&format!(
            "PostgreSQL: the database's cost per job, {n} runner process(es) draining {}",
            report::thousands(jobs.into())
        ));
        costs.push(
            cost_once(
                &local,
                &bench.place.postgres,
                url,
                database,
                jobs,
                n,
                concurrency,
                statements,
            )
            .await?,
        );
        let c = costs.last().context("a cost was measured")?;
        eprintln!(
            "bench:   {} ; server {:.1} us/job, runner {:.1} us/job, others {:.2} cores",
            per_second(c.rate),
            c.server_cpu_per_job * 1e6,
            c.runner_cpu_per_job * 1e6,
            c.others_cores
        );
    }
    Ok(costs)
}

/// The database-wide counters of `database` and the server's WAL position.
#[derive(Debug, Clone, Default)]
struct Counters {
    xact_commit: i64,
    rows_written: i64,
    wal_lsn: String,
    /// By query id: (calls, total milliseconds, text).
    statements: HashMap<i64, (i64, f64, String)>,
}

async fn counters(database: &str, url: &str, statements: bool) -> anyhow::Result<Counters> {
    // A fresh connection each time: pg_stat_database as of now, not a cached snapshot.
    let mut conn = Conn::open(Backend::Postgres, url).await?;
    let row = conn
        .row(&format!(
            "SELECT xact_commit, tup_inserted + tup_updated + tup_deleted FROM pg_stat_database \
             WHERE datname = '{database}'"
        ))
        .await?;
    let wal_lsn = conn
        .text("SELECT CAST(pg_current_wal_lsn() AS TEXT)")
        .await?;
    let mut by_query = HashMap::new();
    if statements {
        let Conn::Postgres(pg) = &mut conn else {
            bail!("a PostgreSQL connection");
        };
        let rows: Vec<(i64, i64, f64, String)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT queryid, calls, total_exec_time, query FROM pg_stat_statements \
             WHERE dbid = (SELECT oid FROM pg_database WHERE datname = '{database}') \
             AND queryid IS NOT NULL"
        )))
        .fetch_all(&mut *pg)
        .await?;
        for (id, calls, ms, text) in rows {
            by_query.insert(id, (calls, ms, text));
        }
    }
    conn.close().await;
    Ok(Counters {
        xact_commit: row[0],
        rows_written: row[1],
        wal_lsn,
        statements: by_query,
    })
}

/// The CPU seconds of PostgreSQL processes, by pid: the backends of `database` and the
/// server's own processes (not other databases' client backends).
async fn server_pids(admin: &mut Conn, database: &str) -> anyhow::Result<Vec<u32>> {
    let Conn::Postgres(pg) = admin else {
        bail!("a PostgreSQL connection");
    };
    let pids: Vec<(i32,)> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT pid FROM pg_stat_activity WHERE (datname = '{database}' OR backend_type <> 'client backend') \
         AND pid <> pg_backend_pid()"
    )))
    .fetch_all(&mut *pg)
    .await?;
    Ok(pids.into_iter().map(|(p,)| p as u32).collect())
}

/// The busy CPU seconds of the whole machine (every core), from `/proc/stat`.
fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let Some(line) = stat.lines().next() else {
        return 0.0;
    };
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is within user).
    let busy: u64 = v.iter().take(8).sum::<u64>()
        - v.get(3).copied().unwrap_or(0)
        - v.get(4).copied().unwrap_or(0);
    busy as f64 / clock_ticks()
}

/// One cost drain in `database` (at `url`); the CPU sampler's connection goes to `base`, a
/// database of its own, so that its statements are not counted as the drain's.
#[allow(clippy::too_many_arguments)] // the drain's own, with the databases
async fn cost_once(
    bench: &Bench,
    base: &str,
    url: &str,
    database: &str,
    jobs: u32,
    processes: u32,
    concurrency: u32,
    statements: bool,
) -> anyhow::Result<Cost> {
    let db = Db::fresh(Backend::Postgres, &bench.place).await?;
    let (client, handle) = sdk::client(&db.url).await?;
    sdk::enqueue_bulk(&handle, 0, jobs, scenarios::BULK_BATCH).await?;
    client.store().close().await;
    // Let the enqueue's statistics reach the counters before the first reading.
    tokio::time::sleep(Duration::from_millis(1500)).await;

    let before = counters(database, url, statements).await?;
    let mut admin = Conn::open(Backend::Postgres, base).await?;
    let mut first: HashMap<u32, f64> = HashMap::new();
    for pid in server_pids(&mut admin, database).await? {
        if let Some(cpu) = cpu_seconds(Some(pid)) {
            first.insert(pid, cpu);
        }
    }
    let busy_before = machine_busy_seconds();
    let started = Instant::now();

    // Sample the server's processes while the drain runs: a backend's CPU is read until it
    // exits with its connection.
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let database_name = database.to_owned();
    let sampler = tokio::spawn(async move {
        let mut last: HashMap<u32, f64> = HashMap::new();
        loop {
            if let Ok(pids) = server_pids(&mut admin, &database_name).await {
                for pid in pids {
                    if let Some(cpu) = cpu_seconds(Some(pid)) {
                        last.insert(pid, cpu);
                    }
                }
            }
            tokio::select! {
                _ = &mut stopped => break,
                () = tokio::time::sleep(Duration::from_millis(20)) => {}
            }
        }
        admin.close().await;
        last
    });
    let drain = Drain {
        system: System::Sdk,
        backend: Backend::Postgres,
        concurrency,
        jobs,
        processes,
        flow: Flow::default(),
    };
    let result = bench.run_sdk_drain(&db, &drain, 0, 0.0).await;
    let wall = started.elapsed().as_secs_f64();
    let busy = machine_busy_seconds() - busy_before;
    let _ = stop.send(());
    let last = sampler.await.context("the CPU sampler")?;
    // The children's backends flush their statistics as they exit.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let after = counters(database, url, statements).await;
    db.remove().await;
    let result = result?;
    let after = after?;

    let server_cpu: f64 = last
        .iter()
        .map(|(pid, cpu)| cpu - first.get(pid).copied().unwrap_or(0.0))
        .filter(|d| *d > 0.0)
        .sum();
    let n = f64::from(jobs);
    let polls = result.polls as f64;
    let mut top: Vec<(f64, f64, String)> = Vec::new();
    let mut calls = 0.0;
    for (id, (c, ms, text)) in &after.statements {
        let (c0, ms0) = before
            .statements
            .get(id)
            .map_or((0, 0.0), |(c, ms, _)| (*c, *ms));
        let dc = (c - c0) as f64;
        // The bench's own readings of the counters are not the drain's.
        if dc > 0.0 && !text.contains("pg_stat_statements") {
            calls += dc;
            top.push((
                dc / n,
                (ms - ms0) / n,
                text.split_whitespace().collect::<Vec<_>>().join(" "),
            ));
        }
    }
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    top.truncate(6);
    let wal = wal_diff(&before.wal_lsn, &after.wal_lsn);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
    let ours = server_cpu + result.runner_cpu_seconds;
    Ok(Cost {
        processes,
        jobs,
        rate: result.rate,
        seconds: result.seconds,
        statements_per_job: statements.then(|| (calls - polls).max(0.0) / n),
        transactions_per_job: ((after.xact_commit - before.xact_commit) as f64 - polls).max(0.0)
            / n,
        rows_written_per_job: (after.rows_written - before.rows_written) as f64 / n,
        wal_bytes_per_job: wal as f64 / n,
        server_cpu_per_job: server_cpu / n,
        runner_cpu_per_job: result.runner_cpu_seconds / n,
        others_cores: ((busy - ours) / wall).max(0.0),
        cores,
        model_rate: 0.0,
        top_statements: top,
    })
}

/// `b - a` of two WAL positions written `X/Y` (hexadecimal).
fn wal_diff(a: &str, b: &str) -> i64 {
    let parse = |s: &str| {
        let (hi, lo) = s.split_once('/')?;
        Some((u64::from_str_radix(hi, 16).ok()? << 32) + u64::from_str_radix(lo, 16).ok()?)
    };
    match (parse(a), parse(b)) {
        (Some(a), Some(b)) => b as i64 - a as i64,
        _ => 0,
    }
}

/// `url` with its database replaced by `database`.
fn with_database(url: &str, database: &str) -> anyhow::Result<String> {
    let (head, query) = match url.split_once('?') {
        Some((head, query)) => (head, Some(query)),
        None => (url, None),
    };
    let scheme_end = head.find("://").map_or(0, |i| i + 3);
    let path = head[scheme_end..]
        .find('/')
        .map(|i| scheme_end + i)
        .context("the PostgreSQL URL names no database")?;
    let mut out = format!("{}/{database}", &head[..path]);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

/// Prints the cost table and the model's check.
pub fn print_cost(costs: &[Cost]) {
    println!(
        "\nThe database's cost per job (PostgreSQL, {} tasks per drain, concurrency per runner as above)",
        costs.first().map_or(0, |c| c.jobs)
    );
    println!(
        "{:>9}  {:>10}  {:>12}  {:>10}  {:>9}  {:>14}  {:>14}  {:>12}  {:>11}  {:>10}",
        "processes",
        "jobs/s",
        "statements",
        "xacts",
        "rows",
        "WAL bytes",
        "server CPU us",
        "runner CPU us",
        "others cores",
        "model /s"
    );
    for c in costs {
        println!(
            "{:>9}  {:>10.0}  {:>12}  {:>10.3}  {:>9.2}  {:>14.0}  {:>14.1}  {:>12.1}  {:>11.2}  {:>10.0} ({:+.0}%)",
            c.processes,
            c.rate,
            c.statements_per_job
                .map_or("n/a".into(), |s| format!("{s:.3}")),
            c.transactions_per_job,
            c.rows_written_per_job,
            c.wal_bytes_per_job,
            c.server_cpu_per_job * 1e6,
            c.runner_cpu_per_job * 1e6,
            c.others_cores,
            c.model_rate,
            100.0 * (c.rate / c.model_rate.max(1e-9) - 1.0)
        );
    }
    if let Some(one) = costs.first() {
        println!("statements by server time, per job (one process):");
        for (calls, ms, text) in &one.top_statements {
            let text: String = text.chars().take(110).collect();
            println!("  {calls:>7.3} calls  {:>7.2} us  {text}", ms * 1e3);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_the_database_and_wal_positions_subtract() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgres://u@h/test?sslmode=disable", "x").unwrap(),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(wal_diff("0/10", "1/0"), (1 << 32) - 16);
    }
}
