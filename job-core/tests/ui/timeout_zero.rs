use job_core::prelude::*;

#[job(timeout = "0s")]
async fn slow() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
