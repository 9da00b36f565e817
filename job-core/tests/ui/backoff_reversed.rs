use job_core::prelude::*;

#[job(backoff = "10m..1s")]
async fn flaky() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
