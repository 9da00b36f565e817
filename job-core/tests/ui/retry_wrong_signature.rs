use job_core::prelude::*;

fn by_attempt(attempt: u32) -> bool {
    attempt < 3
}

#[job(retry = by_attempt)]
async fn fetch() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
