use job_core::prelude::*;

#[job(concurrency = 0)]
async fn busy() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
