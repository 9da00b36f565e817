use job_core::prelude::*;

#[job(timeout = "5 minutes")]
async fn slow() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
