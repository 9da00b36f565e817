use job_core::prelude::*;

#[job(then = "notify")]
async fn cleanup() -> JobResult {
    Ok(Outcome::none())
}

#[job]
async fn notify(count: u64) -> JobResult {
    let _ = count;
    Ok(Outcome::none())
}

fn main() {}
