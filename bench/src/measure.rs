//! What `bench run` measures on one backend, one step after another: drains over a
//! concurrency sweep against raw apalis, the baseline at the SDK's best concurrency, the
//! larger drains and their peak memory, enqueue rates, enqueue-to-start latency, a drain
//! with large tables, flow control (limits, keys, fairness), results and progress and
//! enqueues in the application's transaction, and several runner processes (PostgreSQL).

mod app;
mod console;
mod flow;
pub(crate) mod history;

pub(crate) use console::console_on;

use std::time::Duration;

use serde_json::{Value, json};

use crate::child::System;
use crate::db::Backend;
use crate::report::{self, Line, Percentiles, Series, Target, median, per_second};
use crate::scenarios::{self, Bench, Drain, DrainResult};
use crate::{Plan, step, yes};

/// Everything one backend measured.
#[derive(Default)]
pub struct BackendResults {
    /// The table's lines.
    pub lines: Vec<Line>,
    /// The targets, met or not.
    pub targets: Vec<Target>,
    /// The figures, for results.json.
    pub json: serde_json::Map<String, Value>,
    /// The chart's curves.
    pub series: Vec<Series>,
}

/// Measures `backend`: every step of the plan, in order.
pub async fn measure_backend(
    bench: &Bench,
    plan: &Plan,
    backend: Backend,
) -> anyhow::Result<BackendResults> {
    let mut measure = Measure {
        bench,
        plan,
        backend,
        title: backend.title(),
        first: plan.drain_sizes[0],
        drain_target: match backend {
            Backend::Sqlite => 10_000.0,
            Backend::Postgres => 25_000.0,
        },
        bulk_sdk: Vec::new(),
        bulk_apalis: Vec::new(),
        out: BackendResults::default(),
    };
    // 1 and 4: drains over the concurrency sweep, SDK and raw apalis.
    let sweep = measure.concurrency_sweep().await?;
    let best = sweep.best(plan.sweep[0]);
    measure.baseline_at_best(&sweep, best).await?;
    // 1: the larger drains at the best concurrency (their peak memory too).
    let empty_rate_of_large = measure.larger_drains(&sweep, best).await?;
    // 2: enqueue rates.
    measure.enqueue_rates().await?;
    // 3 and 4: latency.
    measure.latency().await?;
    // 5: large tables.
    measure.large_tables(best, empty_rate_of_large).await?;
    // Flow control: limits and keys against the same drain without them, and fairness.
    measure.flow_control().await?;
    // Jobs inside the application: results and progress, enqueues in a transaction.
    measure.app_integration(best.concurrency).await?;
    // The console's API with a large history.
    measure.console_api().await?;
    // 5: several runner processes (PostgreSQL).
    if backend == Backend::Postgres {
        measure.several_processes(best).await?;
    }
    Ok(measure.out)
}

/// One backend's measurement under way.
struct Measure<'a> {
    bench: &'a Bench,
    plan: &'a Plan,
    backend: Backend,
    title: &'static str,
    /// The first drain size: the sweep's and the baseline's.
    first: u32,
    /// The drain rate the SDK aims at on this backend.
    drain_target: f64,
    /// The rates of the SDK's bulk stores that filled the drains.
    bulk_sdk: Vec<f64>,
    /// The same for raw apalis.
    bulk_apalis: Vec<f64>,
    out: BackendResults,
}

/// The sweep's drains, per concurrency.
struct Sweep {
    /// The SDK's runs at each concurrency.
    sdk: Vec<(u32, Vec<DrainResult>)>,
    /// Raw apalis's run at each concurrency.
    apalis: Vec<(u32, Vec<DrainResult>)>,
}

/// The concurrency at which the SDK drained fastest, and its median rate there.
#[derive(Clone, Copy)]
struct Best {
    concurrency: u32,
    rate: f64,
}

impl Sweep {
    /// The SDK's median rate at each concurrency.
    fn sdk_points(&self) -> Vec<(u32, f64)> {
        self.sdk
            .iter()
            .map(|(c, runs)| (*c, median(&rates(runs))))
            .collect()
    }

    /// Raw apalis's rate at each concurrency.
    fn apalis_points(&self) -> Vec<(u32, f64)> {
        self.apalis
            .iter()
            .map(|(c, runs)| (*c, runs[0].rate))
            .collect()
    }

    /// The SDK's best concurrency (`fallback` at 0 jobs/s when the sweep is empty).
    fn best(&self, fallback: u32) -> Best {
        let (concurrency, rate) = self
            .sdk_points()
            .into_iter()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap_or((fallback, 0.0));
        Best { concurrency, rate }
    }

    /// The sweep in results.json.
    fn json(&self) -> Vec<Value> {
        self.sdk
            .iter()
            .zip(&self.apalis)
            .map(|((c, runs), (_, apalis))| {
                json!({
                    "concurrency": c,
                    "sdk": {"median": median(&rates(runs)), "runs": runs},
                    "apalis": {"runs": apalis},
                })
            })
            .collect()
    }
}

impl Measure<'_> {
    /// A drain on this backend.
    fn drain(&self, system: System, concurrency: u32, jobs: u32, processes: u32) -> Drain {
        Drain {
            system,
            backend: self.backend,
            concurrency,
            jobs,
            processes,
            flow: scenarios::Flow::default(),
        }
    }

    /// The plan's runs of drain `d` by the SDK, each printed; the rates of the bulk stores
    /// that filled them are kept for the enqueue figures.
    async fn sdk_drains(&mut self, d: &Drain) -> anyhow::Result<Vec<DrainResult>> {
        let mut results = Vec::with_capacity(self.plan.runs);
        for run in 0..self.plan.runs {
            step(&format!(
                "{}: SDK drain of {} at concurrency {}, run {}",
                self.title,
                d.jobs,
                d.concurrency,
                run + 1
            ));
            let result = self.bench.drain(d).await?;
            eprintln!("bench:   {}", per_second(result.rate));
            self.bulk_sdk.push(result.enqueue_rate);
            results.push(result);
        }
        Ok(results)
    }

    /// One drain by raw apalis at `concurrency`, printed; its bulk store's rate is kept.
    async fn apalis_drain(&mut self, concurrency: u32) -> anyhow::Result<DrainResult> {
        let result = self
            .bench
            .drain(&self.drain(System::Apalis, concurrency, self.first, 1))
            .await?;
        eprintln!("bench:   {}", per_second(result.rate));
        self.bulk_apalis.push(result.enqueue_rate);
        Ok(result)
    }

    /// Drains of the first size at each concurrency of the sweep: the plan's runs by the
    /// SDK, one by raw apalis.
    async fn concurrency_sweep(&mut self) -> anyhow::Result<Sweep> {
        let (title, first) = (self.title, self.first);
        let mut sweep = Sweep {
            sdk: Vec::new(),
            apalis: Vec::new(),
        };
        for &c in &self.plan.sweep {
            let runs = self
                .sdk_drains(&self.drain(System::Sdk, c, first, 1))
                .await?;
            step(&format!(
                "{title}: apalis drain of {first} at concurrency {c}"
            ));
            let apalis = self.apalis_drain(c).await?;
            sweep.sdk.push((c, runs));
            sweep.apalis.push((c, vec![apalis]));
        }
        Ok(sweep)
    }

    /// Raw apalis at the SDK's best concurrency, with as many runs as the SDK had; the
    /// comparison's line and target, the sweep's curves and figures.
    async fn baseline_at_best(&mut self, sweep: &Sweep, best: Best) -> anyhow::Result<()> {
        let (title, first, drain_target) = (self.title, self.first, self.drain_target);
        let Best {
            concurrency: best,
            rate: best_rate,
        } = best;
        let mut apalis_best = sweep
            .apalis
            .iter()
            .find(|(c, _)| *c == best)
            .map(|(_, r)| r.clone())
            .unwrap_or_default();
        while apalis_best.len() < self.plan.runs {
            step(&format!(
                "{title}: apalis drain of {first} at concurrency {best}, run {}",
                apalis_best.len() + 1
            ));
            let result = self.apalis_drain(best).await?;
            apalis_best.push(result);
        }
        let apalis_rate = median(&rates(&apalis_best));
        self.out.lines.push(Line {
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
        self.out.targets.push(Target {
            name: format!("drain {first} ({title})"),
            target: format!(">= {}", per_second(drain_target)),
            value: per_second(best_rate),
            met: best_rate >= drain_target,
        });
        let colour = if self.backend == Backend::Sqlite {
            "#1f77b4"
        } else {
            "#d62728"
        };
        self.out.series.push(Series {
            name: format!("SDK, {title}"),
            colour,
            dashed: false,
            points: sweep.sdk_points(),
        });
        self.out.series.push(Series {
            name: format!("apalis, {title}"),
            colour,
            dashed: true,
            points: sweep.apalis_points(),
        });
        self.out.json.insert("sweep".into(), json!(sweep.json()));
        self.out.json.insert("best_concurrency".into(), json!(best));
        self.out.json.insert(
            "baseline_drain".into(),
            json!({"jobs": first, "concurrency": best, "sdk": best_rate, "apalis": apalis_rate, "apalis_runs": apalis_best}),
        );
        Ok(())
    }

    /// The plan's larger drains at the best concurrency, and the peak memory of the
    /// largest. Returns the median rate of the drain as large as the large-tables
    /// scenario's, when one was measured.
    async fn larger_drains(&mut self, sweep: &Sweep, best: Best) -> anyhow::Result<Option<f64>> {
        let (title, first, drain_target) = (self.title, self.first, self.drain_target);
        let Best {
            concurrency: best,
            rate: best_rate,
        } = best;
        let mut drains_json = vec![
            json!({"jobs": first, "concurrency": best, "median": best_rate,
            "runs": sweep.sdk.iter().find(|(c, _)| *c == best).map(|(_, r)| r.clone()).unwrap_or_default()}),
        ];
        let mut empty_rate_of_large = None;
        let mut peak_rss = sweep
            .sdk
            .iter()
            .flat_map(|(_, r)| r.iter().map(|x| x.peak_rss_kib))
            .max()
            .unwrap_or(0);
        let mut peak_jobs = first;
        for &n in &self.plan.drain_sizes[1..] {
            let runs = self
                .sdk_drains(&self.drain(System::Sdk, best, n, 1))
                .await?;
            let rate = median(&rates(&runs));
            peak_rss = runs.iter().map(|r| r.peak_rss_kib).max().unwrap_or(0);
            peak_jobs = n;
            if n == self.plan.large_pending {
                empty_rate_of_large = Some(rate);
            }
            self.out.lines.push(Line {
                scenario: format!("drain {} (concurrency {best})", report::thousands(n.into())),
                backend: title.into(),
                sdk: per_second(rate),
                apalis: String::new(),
                ratio: String::new(),
                target: format!(">= {}", per_second(drain_target)),
                met: yes(rate >= drain_target),
            });
            self.out.targets.push(Target {
                name: format!("drain {n} ({title})"),
                target: format!(">= {}", per_second(drain_target)),
                value: per_second(rate),
                met: rate >= drain_target,
            });
            drains_json.push(json!({"jobs": n, "concurrency": best, "median": rate, "runs": runs}));
        }
        if empty_rate_of_large.is_none() && first == self.plan.large_pending {
            empty_rate_of_large = Some(best_rate);
        }
        self.out.json.insert("drains".into(), json!(drains_json));
        self.out.lines.push(Line {
            scenario: format!("peak RSS draining {}", report::thousands(peak_jobs.into())),
            backend: title.into(),
            sdk: format!("{:.1} MB", peak_rss as f64 * 1024.0 / 1e6),
            apalis: String::new(),
            ratio: String::new(),
            target: String::new(),
            met: String::new(),
        });
        self.out.json.insert(
            "peak_rss_draining".into(),
            json!({"jobs": peak_jobs, "peak_rss_kib": peak_rss}),
        );
        Ok(empty_rate_of_large)
    }

    /// Bulk enqueue rates (from the drains' stores so far) and single enqueues, SDK and raw
    /// apalis.
    async fn enqueue_rates(&mut self) -> anyhow::Result<()> {
        let (title, backend, plan) = (self.title, self.backend, self.plan);
        let bulk = median(&self.bulk_sdk);
        let bulk_base = median(&self.bulk_apalis);
        self.out.lines.push(Line {
            scenario: format!("bulk enqueue ({} per call)", scenarios::BULK_BATCH),
            backend: title.into(),
            sdk: per_second(bulk),
            apalis: per_second(bulk_base),
            ratio: format!("{:.1}x", bulk / bulk_base.max(1e-9)),
            target: ">= 50,000 /s".into(),
            met: yes(bulk >= 50_000.0),
        });
        self.out.targets.push(Target {
            name: format!("bulk enqueue ({title})"),
            target: ">= 50,000 /s".into(),
            value: per_second(bulk),
            met: bulk >= 50_000.0,
        });
        step(&format!("{title}: single enqueues"));
        let single = self
            .bench
            .single_enqueue(System::Sdk, backend, plan.single_enqueues)
            .await?;
        let single_base = self
            .bench
            .single_enqueue(System::Apalis, backend, plan.single_enqueues)
            .await?;
        self.out.lines.push(Line {
            scenario: "single enqueue (one call per task)".into(),
            backend: title.into(),
            sdk: per_second(single),
            apalis: per_second(single_base),
            ratio: format!("{:.1}x", single / single_base.max(1e-9)),
            target: String::new(),
            met: String::new(),
        });
        self.out.json.insert(
            "enqueue".into(),
            json!({"bulk_batch": scenarios::BULK_BATCH, "bulk_sdk": bulk, "bulk_apalis": bulk_base,
                   "bulk_sdk_runs": self.bulk_sdk, "bulk_apalis_runs": self.bulk_apalis,
                   "single_sdk": single, "single_apalis": single_base, "single_count": plan.single_enqueues}),
        );
        Ok(())
    }

    /// Enqueue-to-start latency, SDK and raw apalis, with the enqueue call's share, and the
    /// SDK's when another process enqueues.
    async fn latency(&mut self) -> anyhow::Result<()> {
        let (title, backend, plan) = (self.title, self.backend, self.plan);
        let spacing = Duration::from_millis(plan.latency_spacing_ms);
        step(&format!("{title}: enqueue-to-start latency"));
        let sdk_samples = self
            .bench
            .latency(
                System::Sdk,
                backend,
                plan.latency_samples,
                plan.latency_warmup,
                spacing,
            )
            .await?;
        let apalis_samples = self
            .bench
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
            &self
                .bench
                .remote_latency(backend, plan.latency_samples, plan.latency_warmup, spacing)
                .await?,
        );
        let p50_target = match backend {
            Backend::Sqlite => 5.0,
            Backend::Postgres => 2.0,
        };
        let fmt =
            |p: &Percentiles| format!("{:.2} / {:.2} / {:.2} ms", p.p50_ms, p.p95_ms, p.p99_ms);
        self.out.lines.push(Line {
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
        self.out.lines.push(Line {
            scenario: "  of which the enqueue call".into(),
            backend: title.into(),
            sdk: fmt(&sdk_enqueue_call),
            apalis: fmt(&apalis_enqueue_call),
            ratio: String::new(),
            target: String::new(),
            met: String::new(),
        });
        self.out.lines.push(Line {
            scenario: "  the same, enqueued by another process".into(),
            backend: title.into(),
            sdk: fmt(&remote),
            apalis: String::new(),
            ratio: String::new(),
            target: String::new(),
            met: String::new(),
        });
        self.out.targets.push(Target {
            name: format!("enqueue-to-start p50 ({title})"),
            target: format!("< {p50_target} ms"),
            value: format!("{:.2} ms", sdk_latency.p50_ms),
            met: sdk_latency.p50_ms < p50_target,
        });
        self.out.targets.push(Target {
            name: format!("enqueue-to-start p99 ({title})"),
            target: "< 20 ms".into(),
            value: format!("{:.2} ms", sdk_latency.p99_ms),
            met: sdk_latency.p99_ms < 20.0,
        });
        self.out.json.insert(
            "latency".into(),
            json!({"sdk": sdk_latency, "apalis": apalis_latency, "sdk_other_process": remote,
                   "sdk_enqueue_call": sdk_enqueue_call, "apalis_enqueue_call": apalis_enqueue_call,
                   "spacing_ms": plan.latency_spacing_ms, "warmup": plan.latency_warmup}),
        );
        Ok(())
    }

    /// Drains with many finished tasks in the tables, against the same drain on empty
    /// tables (`empty_rate_of_large`, measured here when the larger drains did not).
    async fn large_tables(
        &mut self,
        best: Best,
        empty_rate_of_large: Option<f64>,
    ) -> anyhow::Result<()> {
        let (title, backend, plan) = (self.title, self.backend, self.plan);
        let best = best.concurrency;
        step(&format!(
            "{title}: drains of {} with {} finished tasks in the tables",
            plan.large_pending, plan.large_finished
        ));
        let (fill_seconds, large) = self
            .bench
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
                        self.bench
                            .drain(&self.drain(System::Sdk, best, plan.large_pending, 1))
                            .await?
                            .rate,
                    );
                }
                median(&runs)
            }
        };
        let within = large_rate >= 0.9 * empty_rate;
        self.out.lines.push(Line {
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
        self.out.targets.push(Target {
            name: format!("drain with large tables ({title})"),
            target: ">= 90% of the empty-table rate".into(),
            value: format!("{:.0}%", 100.0 * large_rate / empty_rate.max(1e-9)),
            met: within,
        });
        self.out.json.insert(
            "large_tables".into(),
            json!({"finished": plan.large_finished, "pending": plan.large_pending, "fill_seconds": fill_seconds,
                   "median": large_rate, "empty_median": empty_rate, "runs": large}),
        );
        Ok(())
    }

    /// Several runner processes draining one database, at the best concurrency each.
    async fn several_processes(&mut self, best: Best) -> anyhow::Result<()> {
        let (title, plan) = (self.title, self.plan);
        let best = best.concurrency;
        let n = plan.large_pending;
        let mut runs = Vec::new();
        for run in 0..plan.runs {
            step(&format!(
                "{title}: {} runner processes draining {n}, run {}",
                plan.processes,
                run + 1
            ));
            let result = self
                .bench
                .drain(&self.drain(System::Sdk, best, n, plan.processes))
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
        self.out.lines.push(Line {
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
        self.out.json.insert(
            "processes".into(),
            json!({"processes": plan.processes, "jobs": n, "concurrency": best, "median": rate, "runs": runs}),
        );
        Ok(())
    }
}

/// The rates of drains.
fn rates(results: &[DrainResult]) -> Vec<f64> {
    results.iter().map(|r| r.rate).collect()
}
