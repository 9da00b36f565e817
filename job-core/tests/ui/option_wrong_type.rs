use job_core::prelude::*;

#[job(retries = "5")]
async fn flaky() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
