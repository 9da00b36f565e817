use job_core::prelude::*;

#[job(unique(by = [customer_id]))]
async fn send_report() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
