use job_core::prelude::*;

#[job(timezone = "Europe/Paris")]
async fn send_report() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
