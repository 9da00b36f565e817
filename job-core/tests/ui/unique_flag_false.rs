use job_core::prelude::*;

#[job(every = "1h", unique = false)]
async fn hourly_report() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
