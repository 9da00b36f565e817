use job_core::prelude::*;

#[job(cron = "0 * * * *", limit = 1, per = region)]
async fn hourly_report() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
