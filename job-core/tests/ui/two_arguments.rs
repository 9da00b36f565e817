use job_core::prelude::*;

#[job]
async fn send_email(to: String, subject: String) -> JobResult {
    let _ = (to, subject);
    Ok(Outcome::none())
}

fn main() {}
