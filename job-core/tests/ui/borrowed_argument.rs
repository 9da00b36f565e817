use job_core::prelude::*;

#[job]
async fn send_email(to: &str) -> JobResult {
    let _ = to;
    Ok(Outcome::none())
}

fn main() {}
