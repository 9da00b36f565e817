use job_core::prelude::*;

#[job(name = "send email")]
async fn send_email() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
