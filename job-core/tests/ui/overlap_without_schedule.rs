use job_core::prelude::*;

#[job(overlap = "skip")]
async fn send_report() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
