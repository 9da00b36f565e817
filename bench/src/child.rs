//! Runner processes: the bench starts one (or three) per drain, so that each drain runs in a
//! fresh process whose memory is its own, as a deployed runner would.
//!
//! Protocol on the child's standard streams: it prints `READY` before it starts running,
//! `STARTED` once every expected task has started, and, after its standard input closes
//! (the parent's signal to stop), stops gracefully and prints `RESULT <json summary>`.

use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader, Lines};
use tokio::process::{ChildStdin, ChildStdout};
use tokio::sync::oneshot;

use crate::baseline::{self, Target};
use crate::db::Backend;
use crate::probe::{Probe, Summary, Workload, cpu_seconds, memory_kib};
use crate::sdk::{self, Settings};

/// What a child runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum System {
    /// The SDK's runner.
    Sdk,
    /// A raw apalis worker.
    Apalis,
}

impl System {
    /// The name in tables.
    pub fn title(self) -> &'static str {
        match self {
            System::Sdk => "SDK",
            System::Apalis => "apalis",
        }
    }
}

/// The options of a child.
#[derive(Debug, Clone, clap::Args)]
pub struct ChildArgs {
    /// What to run.
    #[arg(long, value_enum)]
    pub system: System,
    /// The database kind.
    #[arg(long, value_enum)]
    pub backend: Backend,
    /// The database.
    #[arg(long)]
    pub url: String,
    /// Tasks run at once.
    #[arg(long)]
    pub concurrency: u32,
    /// Pooled connections.
    #[arg(long)]
    pub pool: u32,
    /// The tasks are numbered `0..expect`.
    #[arg(long)]
    pub expect: u32,
    /// apalis's queue.
    #[arg(long, default_value = "bench_noop")]
    pub queue: String,
    /// Report the start instant of every task.
    #[arg(long)]
    pub record_starts: bool,
    /// The SDK's job: the no-op job, or the keyed one.
    #[arg(long, value_enum, default_value = "noop")]
    pub workload: Workload,
    /// The SDK job's limit across every runner (per key for the keyed job).
    #[arg(long)]
    pub limit: Option<u32>,
}

/// Runs as a child until standard input closes.
pub async fn main(args: ChildArgs) -> anyhow::Result<()> {
    let probe = Arc::new(Probe::new(args.expect as usize, args.record_starts));
    let (stop_sender, stop) = oneshot::channel::<()>();
    tokio::spawn(async move {
        let mut ignored = Vec::new();
        let _ = tokio::io::stdin().read_to_end(&mut ignored).await;
        let _ = stop_sender.send(());
    });
    let started = probe.clone();
    tokio::spawn(async move {
        started.all_started.notified().await;
        println!("STARTED");
    });
    let stop = async move {
        let _ = stop.await;
    };
    println!("READY");
    match args.system {
        System::Sdk => {
            let settings = Settings {
                concurrency: args.concurrency,
                pool: args.pool,
                workload: args.workload,
                limit: args.limit,
            };
            sdk::run(&args.url, settings, probe.clone(), stop).await?;
        }
        System::Apalis => {
            let target = Target {
                backend: args.backend,
                url: args.url.clone(),
                queue: args.queue.clone(),
                pool: args.pool,
                concurrency: args.concurrency,
            };
            baseline::run(&target, probe.clone(), stop).await?;
        }
    }
    let mut summary = probe.summary();
    (summary.peak_rss_kib, summary.rss_kib) = memory_kib(None);
    summary.cpu_seconds = cpu_seconds(None).unwrap_or(0.0);
    println!("RESULT {}", serde_json::to_string(&summary)?);
    Ok(())
}

/// A running child, seen from the bench.
pub struct Child {
    process: tokio::process::Child,
    stdin: Option<ChildStdin>,
    lines: Lines<BufReader<ChildStdout>>,
}

impl Child {
    /// Starts `exe child ARGS`.
    pub fn spawn(exe: &Path, args: &ChildArgs) -> anyhow::Result<Child> {
        let mut command = tokio::process::Command::new(exe);
        command
            .arg("child")
            .arg("--system")
            .arg(match args.system {
                System::Sdk => "sdk",
                System::Apalis => "apalis",
            })
            .arg("--backend")
            .arg(args.backend.name())
            .arg("--url")
            .arg(&args.url)
            .arg("--concurrency")
            .arg(args.concurrency.to_string())
            .arg("--pool")
            .arg(args.pool.to_string())
            .arg("--expect")
            .arg(args.expect.to_string())
            .arg("--queue")
            .arg(&args.queue)
            .arg("--workload")
            .arg(args.workload.arg())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        if args.record_starts {
            command.arg("--record-starts");
        }
        if let Some(limit) = args.limit {
            command.arg("--limit").arg(limit.to_string());
        }
        let mut process = command
            .spawn()
            .with_context(|| format!("starting {}", exe.display()))?;
        let stdin = process.stdin.take();
        let stdout = process.stdout.take().context("the child's output")?;
        Ok(Child {
            process,
            stdin,
            lines: BufReader::new(stdout).lines(),
        })
    }

    /// Waits for a line equal to `want`.
    pub async fn wait_for(&mut self, want: &str, limit: Duration) -> anyhow::Result<()> {
        tokio::time::timeout(limit, async {
            loop {
                match self.lines.next_line().await? {
                    Some(line) if line == want => return Ok(()),
                    Some(_) => continue,
                    None => bail!("the child exited before it printed {want}"),
                }
            }
        })
        .await
        .with_context(|| format!("the child did not print {want} within {limit:?}"))?
    }

    /// Asks the child to stop and returns its summary.
    pub async fn finish(mut self) -> anyhow::Result<Summary> {
        drop(self.stdin.take());
        let summary = tokio::time::timeout(Duration::from_secs(60), async {
            loop {
                match self.lines.next_line().await? {
                    Some(line) => {
                        if let Some(json) = line.strip_prefix("RESULT ") {
                            return Ok::<_, anyhow::Error>(serde_json::from_str(json)?);
                        }
                    }
                    None => bail!("the child exited without a result"),
                }
            }
        })
        .await
        .context("the child did not stop within 60 s")??;
        let status = self.process.wait().await?;
        if !status.success() {
            bail!("the child failed: {status}");
        }
        Ok(summary)
    }
}
