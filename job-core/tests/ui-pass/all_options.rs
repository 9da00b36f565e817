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
    overlap = "skip",
    limit = 1,
    rate = "10/1h",
    unique(for = "30m"),
    catch_up = "once",
    retry = policies::never_on_monday,
    name = "reports.nightly"
)]
async fn nightly_report(ctx: JobContext) -> JobResult {
    let _ = ctx.now();
    Ok(Outcome::processed(3_u8))
}

mod policies {
    use job_core::{Failure, Retry};

    pub fn never_on_monday(failure: &Failure<'_>) -> Retry {
        if failure.attempt > 2 { Retry::Never } else { Retry::Backoff }
    }
}

#[job(every = "15m", overlap = "skip", catch_up = "skip")]
async fn quarter_hourly() -> JobResult {
    Ok(Outcome::none())
}

#[job(cron = "@hourly", overlap = "allow")]
async fn hourly() -> Result<(), std::io::Error> {
    Ok(())
}

#[job(backoff = "5s", priority = 10)]
async fn send_email(email: Email) -> Result<Outcome, String> {
    Ok(Outcome::processed(email.to.len()))
}

#[derive(Serialize, Deserialize)]
struct Invoice {
    customer_id: u64,
    r#type: String,
    month: String,
}

#[job(unique(by = [customer_id, r#type], for = "1d"), limit = 2, rate = "100/1m", per = customer_id)]
async fn send_invoice(invoice: Invoice) -> JobResult {
    let _ = (invoice.customer_id, invoice.r#type, invoice.month);
    Ok(Outcome::none())
}

#[job(unique(by = args), per = [month, customer_id])]
async fn archive_invoice(invoice: Invoice) -> JobResult {
    let _ = invoice;
    Ok(Outcome::none())
}

#[job(unique(for = "1h"), limit = 1)]
async fn rebuild_index() -> JobResult {
    Ok(Outcome::none())
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
    assert_eq!(nightly.options().overlap, job_core::Overlap::Skip);
    assert_eq!(
        nightly.options().unique,
        Some(job_core::Unique { by: &[], period: std::time::Duration::from_secs(1800) })
    );
    assert_eq!(nightly.options().limit, Some(1));
    assert_eq!(nightly.options().rate.unwrap().to_string(), "10/1h");
    assert_eq!(registry.get("hourly").unwrap().options().overlap, job_core::Overlap::Allow);
    let invoice = registry.get("send_invoice").unwrap().options();
    assert_eq!(invoice.unique.unwrap().by, ["customer_id", "type"]);
    assert_eq!(invoice.unique.unwrap().period, std::time::Duration::from_secs(86_400));
    assert_eq!(invoice.per, ["customer_id"]);
    assert_eq!(
        invoice.rate,
        Some(job_core::Rate { count: 100, per: std::time::Duration::from_secs(60) })
    );
    let archive = registry.get("archive_invoice").unwrap().options();
    assert_eq!(archive.unique.unwrap().by, [] as [&str; 0]);
    assert_eq!(archive.unique.unwrap().period, std::time::Duration::ZERO);
    assert_eq!(archive.per, ["month", "customer_id"]);
    assert_eq!(archive.limit, None);
    assert_eq!(registry.get("rebuild_index").unwrap().options().limit, Some(1));
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
