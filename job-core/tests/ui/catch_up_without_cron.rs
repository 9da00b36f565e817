use job_core::prelude::*;

#[job(catch_up = "once")]
async fn on_demand() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
