use job_core::prelude::*;

#[job]
async fn send<T: serde::Serialize>(message: T) -> JobResult {
    let _ = message;
    Ok(Outcome::none())
}

fn main() {}
