use job_core::prelude::*;

#[job(cron = "0 * * * *", overlap = "never")]
async fn hourly_report() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
