use job_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct SendEmail {
    to: String,
}

#[job]
async fn send_email(email: SendEmail) -> JobResult {
    let _ = email.to;
    Ok(Outcome::none())
}

fn main() {}
