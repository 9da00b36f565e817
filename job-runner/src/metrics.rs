//! Counters and histograms this runner keeps, rendered in Prometheus text format together
//! with gauges read from the database.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::{Arc, Mutex, PoisonError};

use crate::limit_control::JobLimits;
use crate::storage::{ExecutionStatus, QueueStats};

/// Upper bounds (seconds) of the attempt duration histogram.
const BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 60.0, 300.0, 1800.0,
];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    count: u64,
    sum: f64,
}

#[derive(Default)]
struct Counters {
    executions: BTreeMap<(String, &'static str), u64>,
    durations: BTreeMap<String, Histogram>,
    ticks: BTreeMap<String, u64>,
}

/// This runner's counters; cheap to clone.
#[derive(Clone, Default)]
pub struct Metrics {
    counters: Arc<Mutex<Counters>>,
}

impl Metrics {
    /// Counts a finished attempt.
    pub(crate) fn execution(&self, job: &str, status: ExecutionStatus, seconds: f64) {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        *counters
            .executions
            .entry((job.to_owned(), status.as_str()))
            .or_default() += 1;
        let histogram = counters.durations.entry(job.to_owned()).or_default();
        histogram.count += 1;
        histogram.sum += seconds;
        for (bound, count) in BUCKETS.iter().zip(histogram.counts.iter_mut()) {
            if seconds <= *bound {
                *count += 1;
            }
        }
    }

    /// Counts a cron tick this runner took.
    pub(crate) fn tick(&self, job: &str) {
        let mut counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        *counters.ticks.entry(job.to_owned()).or_default() += 1;
    }

    /// The Prometheus text exposition of the counters and of `queues`, `dead`, `running` and
    /// `limited`.
    pub fn render(
        &self,
        queues: &[QueueStats],
        dead: &[(String, i64)],
        running: &[(String, i64)],
        limited: &[JobLimits],
    ) -> String {
        let counters = self.counters.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out = String::new();
        out.push_str(
            "# HELP jobs_executions_total Attempts finished by this runner, by job and status.\n",
        );
        out.push_str("# TYPE jobs_executions_total counter\n");
        for ((job, status), n) in &counters.executions {
            let _ = writeln!(
                out,
                "jobs_executions_total{{job=\"{}\",status=\"{status}\"}} {n}",
                label(job)
            );
        }
        out.push_str("# HELP jobs_attempt_duration_seconds How long attempts ran, by job.\n");
        out.push_str("# TYPE jobs_attempt_duration_seconds histogram\n");
        for (job, histogram) in &counters.durations {
            let job = label(job);
            for (bound, count) in BUCKETS.iter().zip(histogram.counts) {
                let _ = writeln!(
                    out,
                    "jobs_attempt_duration_seconds_bucket{{job=\"{job}\",le=\"{bound}\"}} {count}"
                );
            }
            let _ = writeln!(
                out,
                "jobs_attempt_duration_seconds_bucket{{job=\"{job}\",le=\"+Inf\"}} {}",
                histogram.count
            );
            let _ = writeln!(
                out,
                "jobs_attempt_duration_seconds_sum{{job=\"{job}\"}} {}",
                histogram.sum
            );
            let _ = writeln!(
                out,
                "jobs_attempt_duration_seconds_count{{job=\"{job}\"}} {}",
                histogram.count
            );
        }
        out.push_str(
            "# HELP jobs_cron_ticks_total Cron ticks this runner turned into tasks, by job.\n",
        );
        out.push_str("# TYPE jobs_cron_ticks_total counter\n");
        for (job, n) in &counters.ticks {
            let _ = writeln!(out, "jobs_cron_ticks_total{{job=\"{}\"}} {n}", label(job));
        }
        out.push_str("# HELP jobs_queue_depth Tasks due now and not yet running, by queue.\n");
        out.push_str("# TYPE jobs_queue_depth gauge\n");
        for queue in queues {
            let _ = writeln!(
                out,
                "jobs_queue_depth{{queue=\"{}\"}} {}",
                label(&queue.queue),
                queue.due
            );
        }
        out.push_str("# HELP jobs_queue_oldest_due_age_seconds How long the oldest due task has waited, by queue.\n");
        out.push_str("# TYPE jobs_queue_oldest_due_age_seconds gauge\n");
        for queue in queues {
            let _ = writeln!(
                out,
                "jobs_queue_oldest_due_age_seconds{{queue=\"{}\"}} {}",
                label(&queue.queue),
                queue.oldest_due_age_seconds
            );
        }
        out.push_str("# HELP jobs_dead_tasks Tasks that used up their attempts, by job.\n");
        out.push_str("# TYPE jobs_dead_tasks gauge\n");
        for (job, n) in dead {
            let _ = writeln!(out, "jobs_dead_tasks{{job=\"{}\"}} {n}", label(job));
        }
        out.push_str("# HELP jobs_in_flight Attempts running now across every runner, by job.\n");
        out.push_str("# TYPE jobs_in_flight gauge\n");
        for (job, n) in running {
            let _ = writeln!(out, "jobs_in_flight{{job=\"{}\"}} {n}", label(job));
        }
        out.push_str(
            "# HELP jobs_limit_running Attempts running now of jobs with limits, by job.\n",
        );
        out.push_str("# TYPE jobs_limit_running gauge\n");
        for job in limited {
            let _ = writeln!(
                out,
                "jobs_limit_running{{job=\"{}\"}} {}",
                label(&job.job),
                job.running
            );
        }
        out.push_str("# HELP jobs_limit_waiting Due tasks of jobs with limits, waiting for room under the limits, by job.\n");
        out.push_str("# TYPE jobs_limit_waiting gauge\n");
        for job in limited {
            let _ = writeln!(
                out,
                "jobs_limit_waiting{{job=\"{}\"}} {}",
                label(&job.job),
                job.waiting
            );
        }
        out
    }
}

/// Escapes a label value.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every metric the Grafana dashboard in docs/ plots is one the runner exposes.
    #[test]
    fn the_grafana_dashboard_plots_only_metrics_the_runner_exposes() {
        let metrics = Metrics::default();
        metrics.execution("a", ExecutionStatus::Succeeded, 0.1);
        metrics.tick("a");
        let exposed: Vec<String> = metrics
            .render(&[], &[], &[], &[])
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .map(str::to_owned)
            .collect();
        let dashboard: serde_json::Value =
            serde_json::from_str(include_str!("../../docs/grafana-dashboard.json"))
                .expect("the dashboard is JSON");
        let mut plotted = 0;
        for panel in dashboard["panels"].as_array().expect("panels") {
            for target in panel["targets"].as_array().expect("targets") {
                let expr = target["expr"].as_str().expect("an expression");
                let names: Vec<&str> = expr
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .filter(|word| word.starts_with("jobs_"))
                    .collect();
                assert!(!names.is_empty(), "{expr} plots no metric of the runner");
                for name in names {
                    let family = ["_bucket", "_sum", "_count"]
                        .iter()
                        .find_map(|suffix| name.strip_suffix(suffix))
                        .unwrap_or(name);
                    assert!(
                        exposed.iter().any(|e| e == family),
                        "the dashboard plots `{name}`, which /metrics does not expose: {exposed:?}"
                    );
                    plotted += 1;
                }
            }
        }
        assert!(plotted >= 9, "{plotted}");
    }
}
