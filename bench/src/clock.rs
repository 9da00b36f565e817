//! What the runner's clock costs in production: `job_core::Clock::system()` against the
//! calls it stands for (`Utc::now()`, `tokio::time::timeout`), in the same process.

use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::Utc;
use job_core::Clock;
use serde::Serialize;

use crate::report::median;

/// Nanoseconds per call, through the clock and direct (medians of alternating rounds).
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ClockCost {
    pub now_ns: f64,
    pub utc_now_ns: f64,
    pub timeout_ns: f64,
    pub tokio_timeout_ns: f64,
}

const ROUNDS: usize = 7;

fn per_call(calls: u32, started: Instant) -> f64 {
    started.elapsed().as_nanos() as f64 / f64::from(calls)
}

/// Measures `calls` calls of each, `ROUNDS` times, alternating.
pub async fn measure(calls: u32) -> ClockCost {
    let clock = black_box(Clock::system());
    let limit = Duration::from_secs(1);
    let (mut now, mut utc, mut timeout, mut tokio_timeout) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        let started = Instant::now();
        for _ in 0..calls {
            black_box(clock.now());
        }
        now.push(per_call(calls, started));
        let started = Instant::now();
        for _ in 0..calls {
            black_box(Utc::now());
        }
        utc.push(per_call(calls, started));
        let started = Instant::now();
        for i in 0..calls {
            black_box(clock.timeout(limit, async { black_box(i) }).await);
        }
        timeout.push(per_call(calls, started));
        let started = Instant::now();
        for i in 0..calls {
            black_box(
                tokio::time::timeout(limit, async { black_box(i) })
                    .await
                    .ok(),
            );
        }
        tokio_timeout.push(per_call(calls, started));
    }
    ClockCost {
        now_ns: median(&now),
        utc_now_ns: median(&utc),
        timeout_ns: median(&timeout),
        tokio_timeout_ns: median(&tokio_timeout),
    }
}
