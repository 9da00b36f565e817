use job_core::prelude::*;

#[job(cron = "0 * * * *", catch_up = "all")]
async fn hourly() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
