use job_core::prelude::*;

#[job(every = "15m")]
async fn sync_account(account: u64) -> JobResult {
    let _ = account;
    Ok(Outcome::none())
}

fn main() {}
