use job_core::prelude::*;

#[job(unique)]
async fn send_report() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
