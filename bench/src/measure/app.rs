//! Jobs inside the application, measured: the drain of a job that reports progress and
//! returns a result against the no-op drain (interleaved run by run), and enqueues inside
//! the application's own transaction, single and bulk, against the client's own.

use std::time::Duration;

use serde_json::json;

use super::{Measure, rates};
use crate::child::System;
use crate::db::Db;
use crate::probe::Workload;
use crate::report::{self, Line, Target, median, per_second};
use crate::scenarios::{BULK_BATCH, Drain, Flow};
use crate::sdk::{self, AppPool};
use crate::{step, yes};

/// The share of the plain drain that the drain with results and progress must keep.
const REPORTING_SHARE: f64 = 0.9;

impl Measure<'_> {
    /// The drain with results and progress, and enqueues in a transaction.
    pub(super) async fn app_integration(&mut self, concurrency: u32) -> anyhow::Result<()> {
        self.reporting_drain(concurrency).await?;
        self.enqueue_within().await
    }

    async fn reporting_drain(&mut self, concurrency: u32) -> anyhow::Result<()> {
        let (title, first) = (self.title, self.first);
        let cases = [
            ("plain", Workload::Noop),
            ("with results and progress", Workload::Reporting),
        ];
        let mut runs = vec![Vec::new(); cases.len()];
        for run in 0..self.plan.runs {
            for ((what, workload), results) in cases.iter().zip(&mut runs) {
                step(&format!(
                    "{title}: SDK drain of {first}, {what}, at concurrency {concurrency}, run {}",
                    run + 1
                ));
                let drain = Drain {
                    flow: Flow {
                        workload: *workload,
                        ..Flow::default()
                    },
                    ..self.drain(System::Sdk, concurrency, first, 1)
                };
                let result = self.bench.drain(&drain).await?;
                eprintln!("bench:   {}", per_second(result.rate));
                results.push(result);
            }
        }
        let [plain, reporting] = [0, 1].map(|i| median(&rates(&runs[i])));
        let share = reporting / plain.max(1e-9);
        let met = share >= REPORTING_SHARE;
        self.out.lines.push(Line {
            scenario: format!(
                "drain {}, results and progress (concurrency {concurrency})",
                report::thousands(first.into())
            ),
            backend: title.into(),
            sdk: format!(
                "{} ({:.0}% of {} plain)",
                per_second(reporting),
                100.0 * share,
                per_second(plain)
            ),
            apalis: String::new(),
            ratio: String::new(),
            target: format!(">= {:.0}% of plain", 100.0 * REPORTING_SHARE),
            met: yes(met),
        });
        self.out.targets.push(Target {
            name: format!("drain with results and progress ({title})"),
            target: format!(">= {:.0}% of the plain drain", 100.0 * REPORTING_SHARE),
            value: format!("{:.0}%", 100.0 * share),
            met,
        });
        self.out.json.insert(
            "results_and_progress".into(),
            json!({"jobs": first, "concurrency": concurrency,
                   "plain": {"median": plain, "runs": runs[0]},
                   "reporting": {"median": reporting, "share": share, "runs": runs[1]}}),
        );
        Ok(())
    }

    async fn enqueue_within(&mut self) -> anyhow::Result<()> {
        let (title, backend) = (self.title, self.backend);
        let single = self.plan.single_enqueues;
        let bulk = self.first;
        step(&format!(
            "{title}: enqueues in the application's transaction against the client's own"
        ));
        let db = Db::fresh(backend, &self.bench.place).await?;
        let measured = async {
            let (client, jobs) = sdk::client(&db.url).await?;
            let pool = AppPool::open(&db.url).await?;
            // Warm-up, then each way in turn.
            sdk::enqueue_single(&jobs, 0, single / 10).await?;
            sdk::enqueue_within(&jobs, &pool, 0, single / 10, 1).await?;
            let own_single = sdk::enqueue_single(&jobs, 0, single).await?;
            let within_single = sdk::enqueue_within(&jobs, &pool, 0, single, 1).await?;
            let own_bulk = timed(sdk::enqueue_bulk(&jobs, 0, bulk, BULK_BATCH)).await?;
            let within_bulk = sdk::enqueue_within(&jobs, &pool, 0, bulk, BULK_BATCH).await?;
            pool.close().await;
            client.store().close().await;
            anyhow::Ok([
                (single, own_single),
                (single, within_single),
                (bulk, own_bulk),
                (bulk, within_bulk),
            ])
        }
        .await;
        db.remove().await;
        let rate = |(n, took): (u32, Duration)| f64::from(n) / took.as_secs_f64().max(1e-9);
        let [own_single, within_single, own_bulk, within_bulk] = measured?.map(rate);
        for (what, own, within) in [
            (
                "single enqueue, one transaction each",
                own_single,
                within_single,
            ),
            (
                &*format!("bulk enqueue, {BULK_BATCH} per transaction"),
                own_bulk,
                within_bulk,
            ),
        ] {
            eprintln!(
                "bench:   {what}: {} in the application's transaction, {} by the client",
                per_second(within),
                per_second(own)
            );
            self.out.lines.push(Line {
                scenario: format!("{what}, in the application's transaction"),
                backend: title.into(),
                sdk: format!(
                    "{} ({:.0}% of the client's own {})",
                    per_second(within),
                    100.0 * within / own.max(1e-9),
                    per_second(own)
                ),
                apalis: String::new(),
                ratio: String::new(),
                target: String::new(),
                met: String::new(),
            });
        }
        self.out.json.insert(
            "enqueue_within".into(),
            json!({"single_count": single, "bulk_count": bulk, "bulk_batch": BULK_BATCH,
                   "single_client": own_single, "single_within": within_single,
                   "bulk_client": own_bulk, "bulk_within": within_bulk}),
        );
        Ok(())
    }
}

/// How long `work` took.
async fn timed(work: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<Duration> {
    let start = std::time::Instant::now();
    work.await?;
    Ok(start.elapsed())
}
