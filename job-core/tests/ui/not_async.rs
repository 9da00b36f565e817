use job_core::prelude::*;

#[job]
fn send_email() -> JobResult {
    Ok(Outcome::none())
}

fn main() {}
