use job_core::prelude::*;

#[job(every = "500ms")]
async fn busy() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
