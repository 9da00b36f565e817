use job_core::prelude::*;

#[job(retry = "by_error")]
async fn fetch() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
