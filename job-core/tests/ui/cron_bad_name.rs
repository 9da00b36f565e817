use job_core::prelude::*;

#[job(cron = "0 9 * * MONDAY")]
async fn weekly_report() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
