use job_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Report {
    customer_id: u64,
    region: String,
}

#[job(unique(by = ["region"]))]
async fn send_report(_report: Report) -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
