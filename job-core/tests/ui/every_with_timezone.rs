use job_core::prelude::*;

#[job(every = "15m", timezone = "Europe/Paris")]
async fn quarterly() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
