use job_core::prelude::*;

#[job(retry = 3)]
async fn flaky() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
