use job_core::prelude::*;

#[job(cron = "0 * * * *", every = "1h")]
async fn hourly() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
