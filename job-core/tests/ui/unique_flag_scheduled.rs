use job_core::prelude::*;

#[job(cron = "0 * * * *", unique)]
async fn hourly_report() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
