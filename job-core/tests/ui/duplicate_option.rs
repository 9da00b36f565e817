use job_core::prelude::*;

#[job(queue = "emails", retries = 3, queue = "mail")]
async fn send_email() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
