//! Flow control, measured: the drain of the first size without limits, under a global
//! limit, and over keys under a per-key limit, interleaved run by run so that they share
//! the machine's moods; then the fairness case, keys in turn against the order of storage.

use serde_json::json;

use super::{Measure, rates};
use crate::child::System;
use crate::probe::Workload;
use crate::report::{self, Line, Target, median, per_second};
use crate::scenarios::{Drain, Fairness, Flow};
use crate::{step, yes};

/// The concurrency of every flow-control drain: above the global limit, so that it binds.
const CONCURRENCY: u32 = 1_024;
/// The global limit of the limited drain.
const GLOBAL_LIMIT: u32 = 1_000;
/// The keys of the keyed drain, and the limit of each.
const KEYS: u32 = 100;
const PER_KEY_LIMIT: u32 = 10;
/// The fairness case: small keys behind the backlog of one key, and tasks of each.
const SMALL_KEYS: u32 = 10;
const PER_SMALL_KEY: u32 = 20;
/// The share of the unlimited drain that the drain under the global limit must keep.
const LIMITED_SHARE: f64 = 0.9;

impl Measure<'_> {
    /// Drains under flow control against the same drain without it, and the fairness case.
    pub(super) async fn flow_control(&mut self) -> anyhow::Result<()> {
        let (title, first) = (self.title, self.first);
        let concurrency = CONCURRENCY;
        let cases = [
            ("without limits", Flow::default()),
            (
                "under a global limit",
                Flow {
                    workload: Workload::Noop,
                    limit: Some(GLOBAL_LIMIT),
                    keys: 0,
                },
            ),
            (
                "over keys, limited per key",
                Flow {
                    workload: Workload::Keyed,
                    limit: Some(PER_KEY_LIMIT),
                    keys: KEYS,
                },
            ),
        ];
        let mut runs = vec![Vec::new(); cases.len()];
        for run in 0..self.plan.runs {
            for ((what, flow), results) in cases.iter().zip(&mut runs) {
                step(&format!(
                    "{title}: SDK drain of {first} {what} at concurrency {concurrency}, run {}",
                    run + 1
                ));
                let drain = Drain {
                    flow: *flow,
                    ..self.drain(System::Sdk, concurrency, first, 1)
                };
                let result = self.bench.drain(&drain).await?;
                eprintln!("bench:   {}", per_second(result.rate));
                results.push(result);
            }
        }
        let [free, limited, keyed] = [0, 1, 2].map(|i| median(&rates(&runs[i])));
        let share = |rate: f64| rate / free.max(1e-9);
        let met = share(limited) >= LIMITED_SHARE;
        let n = report::thousands(first.into());
        self.out.lines.push(Line {
            scenario: format!(
                "drain {n}, global limit {} (concurrency {concurrency})",
                report::thousands(GLOBAL_LIMIT.into())
            ),
            backend: title.into(),
            sdk: format!(
                "{} ({:.0}% of {} without)",
                per_second(limited),
                100.0 * share(limited),
                per_second(free)
            ),
            apalis: String::new(),
            ratio: String::new(),
            target: format!(">= {:.0}% of without", 100.0 * LIMITED_SHARE),
            met: yes(met),
        });
        self.out.targets.push(Target {
            name: format!("drain under a global limit ({title})"),
            target: format!(
                ">= {:.0}% of the same drain without limits",
                100.0 * LIMITED_SHARE
            ),
            value: format!("{:.0}%", 100.0 * share(limited)),
            met,
        });
        self.out.lines.push(Line {
            scenario: format!("drain {n} over {KEYS} keys, limit {PER_KEY_LIMIT} per key"),
            backend: title.into(),
            sdk: format!(
                "{} ({:.0}% of without)",
                per_second(keyed),
                100.0 * share(keyed)
            ),
            apalis: String::new(),
            ratio: String::new(),
            target: String::new(),
            met: String::new(),
        });
        let fair = self
            .fairness(concurrency, Workload::Keyed, "keys in turn")
            .await?;
        let in_order = self
            .fairness(concurrency, Workload::Noop, "in order")
            .await?;
        let ms =
            |f: &Fairness| format!("{:.1} / {:.1} ms", f.small_wait.p50_ms, f.small_wait.p99_ms);
        self.out.lines.push(Line {
            scenario: format!(
                "fairness: wait p50 / p99 of {SMALL_KEYS} keys x {PER_SMALL_KEY} behind {n} of one"
            ),
            backend: title.into(),
            sdk: format!(
                "{} (in order: {}; whole drain {:.0} ms)",
                ms(&fair),
                ms(&in_order),
                1000.0 * fair.drain.seconds
            ),
            apalis: String::new(),
            ratio: String::new(),
            target: String::new(),
            met: String::new(),
        });
        self.out.json.insert(
            "flow_control".into(),
            json!({
                "jobs": first,
                "concurrency": concurrency,
                "without_limits": {"median": free, "runs": runs[0]},
                "global_limit": {"limit": GLOBAL_LIMIT, "median": limited, "share": share(limited), "runs": runs[1]},
                "per_key_limit": {"keys": KEYS, "limit": PER_KEY_LIMIT, "median": keyed, "share": share(keyed), "runs": runs[2]},
                "fairness": {"backlog": first, "small_keys": SMALL_KEYS, "per_small_key": PER_SMALL_KEY,
                             "keys_in_turn": fair, "in_order": in_order},
            }),
        );
        Ok(())
    }

    /// The fairness case, with the keyed job (`how`: keys in turn) or the no-op job.
    async fn fairness(
        &self,
        concurrency: u32,
        workload: Workload,
        how: &str,
    ) -> anyhow::Result<Fairness> {
        let (title, first) = (self.title, self.first);
        step(&format!(
            "{title}: fairness, {SMALL_KEYS} keys x {PER_SMALL_KEY} behind {first} of one key, {how}"
        ));
        let result = self
            .bench
            .fairness(
                self.backend,
                workload,
                concurrency,
                first,
                SMALL_KEYS,
                PER_SMALL_KEY,
            )
            .await?;
        eprintln!(
            "bench:   small keys' wait p50 {:.1} ms, p99 {:.1} ms",
            result.small_wait.p50_ms, result.small_wait.p99_ms
        );
        Ok(result)
    }
}
