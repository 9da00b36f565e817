use job_core::prelude::*;

#[job(cron = "0 0 30 2 *")]
async fn leap_check() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
