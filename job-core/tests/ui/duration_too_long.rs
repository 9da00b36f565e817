use job_core::prelude::*;

#[job(timeout = "100000000d")]
async fn patient() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
