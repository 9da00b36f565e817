//! The retry policy: when a task whose attempt failed runs again, for attempts that end with
//! an error (the executor) and attempts lost with their runner (the rescuer) alike.
//!
//! A task is dead when the failure was permanent or its last attempt failed. Otherwise the
//! job's retry policy (`#[job(retry = ...)]`), when it has one, decides: never, after a delay
//! it picks, or as by default; by default the error's own delay
//! ([`JobError::retry_in`](job_core::JobError::retry_in)) applies, or else the job's backoff
//! (exponential, capped, with ±10% jitter).

use chrono::{DateTime, Utc};
use job_core::{Failure, Retry};

use crate::plan::Plan;
use crate::storage::{FailedAttempt, RetryPolicy};

impl RetryPolicy for Plan {
    fn retry_at(&self, failed: &FailedAttempt<'_>) -> Option<DateTime<Utc>> {
        if failed.error.is_permanent() || failed.attempt >= failed.max_attempts {
            return None;
        }
        // A job no longer registered keeps the default backoff: its task waits, in case
        // the job comes back.
        let settings = self.get(failed.job);
        let decision = settings
            .and_then(|settings| settings.descriptor.options().retry)
            .map_or(Retry::Backoff, |policy| {
                policy(&Failure::new(
                    failed.attempt,
                    failed.max_attempts,
                    failed.error,
                ))
            });
        let delay = match decision {
            Retry::Never => return None,
            Retry::In(delay) => delay,
            Retry::Backoff => match failed.error.retry_delay() {
                Some(delay) => delay,
                None => settings
                    .map(|settings| settings.backoff)
                    .unwrap_or_default()
                    .delay(failed.attempt, jitter(failed.task_id, failed.attempt)),
            },
        };
        Some(job_schedule::add_saturating(failed.at, delay))
    }
}

/// A number in `[0, 1)` from the task and attempt: the jitter of a retry delay. Derived, not
/// random, so that a virtual-clock test sees the same delays at every run.
fn jitter(task_id: i64, attempt: u32) -> f64 {
    // splitmix64
    let mut z = (task_id as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .wrapping_add(u64::from(attempt));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_a_unit_fraction_and_varies() {
        let values: Vec<f64> = (1..50).map(|id| jitter(id, 1)).collect();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)));
        assert!(values.windows(2).any(|w| w[0] != w[1]));
        assert_eq!(jitter(7, 3), jitter(7, 3));
    }

    #[test]
    fn failures_wait_their_backoff_and_end_dead_when_permanent_or_out_of_attempts() {
        let plan = Plan::new(
            job_core::Registry::from_descriptors([]).expect("no jobs"),
            &crate::Config::default(),
        )
        .expect("an empty plan");
        let at = Utc::now();
        let (transient, permanent) = (
            job_core::JobError::msg("503"),
            job_core::JobError::msg("gone").permanent(),
        );
        let failed = |attempt, error| FailedAttempt {
            job: "gone",
            task_id: 7,
            attempt,
            max_attempts: 3,
            error,
            at,
        };
        assert_eq!(
            plan.retry_at(&failed(3, &transient)),
            None,
            "no attempt left"
        );
        assert_eq!(plan.retry_at(&failed(1, &permanent)), None, "permanent");
        // The error's own delay replaces the backoff, and still counts an attempt.
        let asked = job_core::JobError::msg("429").retry_in(std::time::Duration::from_secs(30));
        assert_eq!(
            plan.retry_at(&failed(1, &asked)),
            Some(at + chrono::TimeDelta::seconds(30))
        );
        assert_eq!(plan.retry_at(&failed(3, &asked)), None, "no attempt left");
        // The default backoff: 1 s after the first failure, 2 s after the second, ±10%.
        for (attempt, base) in [(1, 1000), (2, 2000)] {
            let wait = (plan
                .retry_at(&failed(attempt, &transient))
                .expect("retried")
                - at)
                .num_milliseconds();
            assert!(
                (base * 9 / 10..=base * 11 / 10).contains(&wait),
                "{wait} ms"
            );
        }
    }
}
