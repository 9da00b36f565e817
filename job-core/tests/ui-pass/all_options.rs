//! Every option and every accepted function shape compiles.
use job_core::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Email {
    to: String,
}

#[job(
    cron = "0 30 2 * * MON-FRI",
    timezone = "America/New_York",
    queue = "reports",
    retries = 0,
    backoff = "500ms..1m",
    timeout = "1h30m",
    concurrency = 1,
    priority = -5,
    unique,
    catch_up = "once",
    name = "reports.nightly"
)]
async fn nightly_report(ctx: JobContext) -> JobResult {
    let _ = ctx.now();
    Ok(Outcome::processed(3_u8))
}

#[job(every = "15m", unique, catch_up = "skip")]
async fn quarter_hourly() -> JobResult {
    Ok(Outcome::none())
}

#[job(cron = "@hourly", unique = false)]
async fn hourly() -> Result<(), std::io::Error> {
    Ok(())
}

#[job(backoff = "5s", priority = 10)]
async fn send_email(email: Email) -> Result<Outcome, String> {
    Ok(Outcome::processed(email.to.len()))
}

#[job]
async fn send_email_with_context(email: Email, ctx: job_core::JobContext) -> JobResult<()> {
    let _ = (email.to, ctx.attempt());
    Ok(())
}

async fn enqueue_all(jobs: &dyn JobClient) -> Result<(), EnqueueError> {
    SendEmail::enqueue(jobs, Email { to: "a@example.com".into() })
        .priority(1)
        .await?;
    SendEmailWithContext::enqueue(jobs, Email { to: "b@example.com".into() }).await?;
    Hourly::enqueue(jobs).await?;
    NightlyReport::enqueue(jobs).unique_key("manual").await?;
    Ok(())
}

fn main() {
    let _ = enqueue_all;
    let registry = job_core::Registry::from_linked().unwrap();
    let nightly = registry.get("reports.nightly").unwrap();
    assert_eq!(nightly.options().queue, "reports");
    assert_eq!(nightly.options().priority, -5);
    assert!(nightly.options().unique);
    assert_eq!(nightly.options().catch_up, job_core::CatchUp::Once);
    assert_eq!(nightly.options().timeout, Some(std::time::Duration::from_secs(5400)));
    assert_eq!(registry.get("send_email").unwrap().options().backoff.initial.as_secs(), 5);
    assert!(registry.get("send_email").unwrap().takes_args());
    assert!(!registry.get("hourly").unwrap().takes_args());
    assert_eq!(
        registry.get("quarter_hourly").unwrap().options().every,
        Some(std::time::Duration::from_secs(900))
    );
}
