//! The job only this suite runs: one that fails, then succeeds.

use job_core::prelude::*;

/// Fails its first `failures` attempts, then succeeds, like a destination that comes back.
#[job(retries = 3, backoff = "100ms..1s")]
async fn flaky(failures: u32, ctx: JobContext) -> JobResult {
    if ctx.attempt() <= failures {
        return Err(JobError::msg(format!(
            "attempt {} of {failures} planned failures",
            ctx.attempt()
        )));
    }
    Ok(Outcome::processed(ctx.attempt()))
}
