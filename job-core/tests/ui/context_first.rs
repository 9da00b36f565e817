use job_core::prelude::*;

#[job]
async fn send_email(ctx: JobContext, to: String) -> JobResult {
    let _ = (ctx, to);
    Ok(Outcome::none())
}

fn main() {}
