use job_core::prelude::*;

#[job(cron = "0 0 * * *", timezone = "Europe/Pariss")]
async fn nightly() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
