use job_core::prelude::*;

#[job(retires = 3)]
async fn flaky() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
