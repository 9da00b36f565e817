//! The bench's job and what it records: which tasks ran, how often, and when they started.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, AtomicU64, AtomicUsize, Ordering};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use job_core::prelude::*;
use tokio::sync::{Notify, mpsc};

/// Counts the runs of each task (by its index argument) in one process.
pub struct Probe {
    runs: Vec<AtomicU8>,
    started: AtomicUsize,
    expected: usize,
    first_start_ns: AtomicU64,
    /// Notified once every expected task has started.
    pub all_started: Notify,
    /// Start instants by index, when asked for (latency across processes).
    starts: Option<Mutex<Vec<u64>>>,
    /// Each start, as it happens (latency within one process).
    events: Option<mpsc::UnboundedSender<(u32, Instant)>>,
}

impl Probe {
    /// A probe for tasks numbered `0..expected`.
    pub fn new(expected: usize, record_starts: bool) -> Probe {
        Probe {
            runs: (0..expected).map(|_| AtomicU8::new(0)).collect(),
            started: AtomicUsize::new(0),
            expected,
            first_start_ns: AtomicU64::new(0),
            all_started: Notify::new(),
            starts: record_starts.then(|| Mutex::new(vec![0; expected])),
            events: None,
        }
    }

    /// A probe that sends every start to `events`.
    pub fn with_events(expected: usize, events: mpsc::UnboundedSender<(u32, Instant)>) -> Probe {
        Probe {
            events: Some(events),
            ..Probe::new(expected, false)
        }
    }

    /// Records a start of task `index`.
    pub fn hit(&self, index: u32) {
        let at = Instant::now();
        let now = unix_ns(SystemTime::now());
        let _ = self
            .first_start_ns
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
        if let Some(events) = &self.events {
            let _ = events.send((index, at));
        }
        let i = index as usize;
        if let Some(runs) = self.runs.get(i) {
            runs.fetch_add(1, Ordering::Relaxed);
        }
        if let Some(starts) = &self.starts
            && let Some(slot) = starts.lock().unwrap_or_else(|e| e.into_inner()).get_mut(i)
        {
            *slot = now;
        }
        if self.started.fetch_add(1, Ordering::AcqRel) + 1 == self.expected {
            self.all_started.notify_one();
        }
    }

    /// What this process saw.
    pub fn summary(&self) -> Summary {
        let mut summary = Summary {
            ran: self.started.load(Ordering::Acquire) as u64,
            first_start_ns: self.first_start_ns.load(Ordering::Relaxed),
            ..Summary::default()
        };
        for runs in &self.runs {
            match runs.load(Ordering::Relaxed) {
                0 => summary.not_run += 1,
                1 => {}
                _ => summary.duplicates += 1,
            }
        }
        summary.starts_ns = self
            .starts
            .as_ref()
            .map(|s| s.lock().unwrap_or_else(|e| e.into_inner()).clone());
        summary
    }
}

/// What a process reports when it stops.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Summary {
    /// Attempts started in this process.
    pub ran: u64,
    /// Tasks that started more than once in this process.
    pub duplicates: u64,
    /// Tasks that did not start in this process.
    pub not_run: u64,
    /// The first start, in unix nanoseconds (0: none).
    pub first_start_ns: u64,
    /// Peak resident memory, in KiB.
    pub peak_rss_kib: u64,
    /// Resident memory at the end, in KiB.
    pub rss_kib: u64,
    /// The start of each task, in unix nanoseconds, when recorded.
    pub starts_ns: Option<Vec<u64>>,
    /// CPU time of the process (user and system), in seconds, at its end.
    #[serde(default)]
    pub cpu_seconds: f64,
}

/// Unix nanoseconds of an instant.
pub fn unix_ns(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A job that does nothing but note that it ran (the bench's no-op job).
#[job(name = "bench_noop")]
pub async fn bench_noop(index: u32, ctx: JobContext) -> JobResult {
    if let Ok(probe) = ctx.data::<std::sync::Arc<Probe>>() {
        probe.hit(index);
    }
    Ok(Outcome::none())
}

/// A task of the keyed no-op job: its index, and the key its claims are grouped by.
#[derive(Debug, Clone, Copy, serde::Serialize, serde::Deserialize)]
pub struct Keyed {
    /// The task's number, as the no-op job's argument.
    pub index: u32,
    /// The key (a customer, say): claims take keys in turn, and a limit set at run time
    /// applies to each key.
    pub key: u32,
}

/// The no-op job with keys: what the flow-control scenarios drain.
#[job(name = "bench_keyed", per = key)]
pub async fn bench_keyed(task: Keyed, ctx: JobContext) -> JobResult {
    if let Ok(probe) = ctx.data::<std::sync::Arc<Probe>>() {
        probe.hit(task.index);
    }
    Ok(Outcome::none())
}

/// The no-op job as an application job that reports: its progress and meta, and its index
/// as its result (kept with the attempt). Its drain against `bench_noop`'s is the cost of
/// results and progress.
#[job(name = "bench_reporting")]
pub async fn bench_reporting(index: u32, ctx: JobContext) -> JobResult<u32> {
    ctx.set_meta("index", index);
    ctx.progress(1, 1);
    if let Ok(probe) = ctx.data::<std::sync::Arc<Probe>>() {
        probe.hit(index);
    }
    Ok(index)
}

/// Which of the bench's jobs a runner runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum Workload {
    /// `bench_noop`: no keys, claimed in order.
    #[default]
    Noop,
    /// `bench_keyed`: claims take keys in turn.
    Keyed,
    /// `bench_reporting`: reports progress and returns a result.
    Reporting,
}

impl Workload {
    /// The job's name.
    pub fn job(self) -> &'static str {
        match self {
            Workload::Noop => BenchNoop::name(),
            Workload::Keyed => BenchKeyed::name(),
            Workload::Reporting => BenchReporting::name(),
        }
    }

    /// Its name on a command line.
    pub fn arg(self) -> &'static str {
        match self {
            Workload::Noop => "noop",
            Workload::Keyed => "keyed",
            Workload::Reporting => "reporting",
        }
    }
}

/// The registry of the bench: the jobs of `workloads` alone.
pub fn registry(workloads: &[Workload]) -> anyhow::Result<job_core::Registry> {
    let mut registry = job_core::Registry::from_linked()?;
    registry.retain(|d| workloads.iter().any(|w| w.job() == d.name()));
    anyhow::ensure!(
        registry.len() == workloads.len(),
        "the bench jobs are not all registered: {workloads:?}"
    );
    Ok(registry)
}

/// The CPU time (user and system) of process `pid` (this one for `None`), in seconds, from
/// `/proc/PID/stat`; `None` where it cannot be read (the process is gone, or no `/proc`).
pub fn cpu_seconds(pid: Option<u32>) -> Option<f64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).ok()?;
    // The fields after the command's name (which may hold spaces) in parentheses: utime and
    // stime are the 14th and 15th of the line, the 12th and 13th after the name.
    let rest = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clock_ticks())
}

/// The kernel's clock ticks per second (`sysconf(_SC_CLK_TCK)`, read once through `getconf`;
/// 100, Linux's value everywhere, if that fails).
pub fn clock_ticks() -> f64 {
    static TICKS: std::sync::OnceLock<f64> = std::sync::OnceLock::new();
    *TICKS.get_or_init(|| {
        std::process::Command::new("getconf")
            .arg("CLK_TCK")
            .output()
            .ok()
            .and_then(|o| String::from_utf8(o.stdout).ok())
            .and_then(|s| s.trim().parse().ok())
            .filter(|&t: &f64| t > 0.0)
            .unwrap_or(100.0)
    })
}

/// This process's `(VmHWM, VmRSS)` in KiB (zeros where `/proc` is missing).
pub fn memory_kib(pid: Option<u32>) -> (u64, u64) {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    };
    (field("VmHWM:"), field("VmRSS:"))
}
