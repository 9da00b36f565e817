use job_core::prelude::*;

#[job(cron = "*/5 * * * *")]
async fn cleanup(older_than_minutes: u32, ctx: JobContext) -> JobResult {
    let _ = (older_than_minutes, ctx);
    Ok(Outcome::none())
}

fn main() {}
