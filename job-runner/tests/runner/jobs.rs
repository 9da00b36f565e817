//! The jobs the integration tests run.

use std::path::PathBuf;
use std::time::Duration;

use job_core::BoxFuture;
use job_core::prelude::*;
use job_runner::cli::AppSetup;
use serde::{Deserialize, Serialize};

/// The variable that sets a runner's clock ahead (or behind, when negative) by a number of
/// seconds, as on a host whose clock disagrees with the others'.
pub const CLOCK_SKEW: &str = "TEST_CLOCK_SKEW_SECONDS";

/// The test jobs read no shared state; a runner's clock may be skewed (see [`CLOCK_SKEW`]).
pub fn setup(
    app: &mut AppSetup,
) -> BoxFuture<'_, Result<(), Box<dyn std::error::Error + Send + Sync>>> {
    Box::pin(async move {
        if let Ok(seconds) = std::env::var(CLOCK_SKEW) {
            let seconds: i64 = seconds.parse()?;
            app.clock(job_core::Clock::skewed(chrono::TimeDelta::seconds(seconds)));
        }
        Ok(())
    })
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Note {
    pub text: String,
}

/// Succeeds; records the note's length as records processed.
#[job]
pub async fn echo(note: Note) -> JobResult {
    Ok(Outcome::processed(note.text.len()))
}

/// Always fails, like a destination that is down.
#[job(retries = 3, backoff = "400ms..10s")]
async fn always_fails() -> JobResult {
    Err(JobError::msg("destination unreachable"))
}

/// Always panics.
/// Fails with the note's text as its error, whatever it holds.
#[job(retries = 1, backoff = "100ms")]
async fn fails_with(note: Note) -> JobResult {
    Err(JobError::msg(note.text))
}

#[job(retries = 1, backoff = "100ms")]
async fn panics() -> JobResult {
    let empty: Vec<u32> = Vec::new();
    Ok(Outcome::processed(empty[3]))
}

/// Never finishes within its timeout.
#[job(retries = 1, backoff = "100ms", timeout = "300ms")]
async fn hangs() -> JobResult {
    tokio::time::sleep(Duration::from_secs(60)).await;
    Ok(Outcome::none())
}

#[derive(Debug, Serialize, Deserialize)]
pub struct SlowArgs {
    pub millis: u64,
    pub marker: String,
}

/// Sleeps, leaving `<marker>.started.<attempt>` and `<marker>.done` files in the test's
/// folder, so that a test knows when it is mid-job.
#[job(retries = 2, backoff = "100ms")]
async fn slow(args: SlowArgs, ctx: JobContext) -> JobResult {
    let dir = PathBuf::from(std::env::var("TEST_SITE").unwrap_or_default());
    std::fs::write(
        dir.join(format!("{}.started.{}", args.marker, ctx.attempt())),
        "",
    )?;
    tokio::time::sleep(Duration::from_millis(args.millis)).await;
    std::fs::write(dir.join(format!("{}.done", args.marker)), "")?;
    Ok(Outcome::none())
}

/// Leaves `<marker>.started.<attempt>` when it starts and `<marker>.finished.<attempt>` if
/// it runs to its end; an attempt stopped before (its future dropped) leaves
/// `<marker>.stopped.<attempt>` instead. Each file holds the unix milliseconds it was written.
#[job(retries = 2, backoff = "100ms")]
async fn watched(args: SlowArgs, ctx: JobContext) -> JobResult {
    struct Stopped(Option<PathBuf>);
    impl Drop for Stopped {
        fn drop(&mut self) {
            if let Some(path) = self.0.take() {
                let _ = std::fs::write(path, now_millis());
            }
        }
    }
    let dir = PathBuf::from(std::env::var("TEST_SITE").unwrap_or_default());
    let file = |what: &str| dir.join(format!("{}.{what}.{}", args.marker, ctx.attempt()));
    std::fs::write(file("started"), now_millis())?;
    let mut stopped = Stopped(Some(file("stopped")));
    tokio::time::sleep(Duration::from_millis(args.millis)).await;
    stopped.0 = None;
    std::fs::write(file("finished"), now_millis())?;
    Ok(Outcome::none())
}

fn now_millis() -> String {
    chrono::Utc::now().timestamp_millis().to_string()
}

/// Every second.
#[job(cron = "* * * * * *")]
async fn every_second() -> JobResult {
    Ok(Outcome::none())
}

/// Every second, but each run takes 2.5 s and runs never overlap.
#[job(cron = "* * * * * *", overlap = "skip")]
async fn unique_every_second() -> JobResult {
    tokio::time::sleep(Duration::from_millis(2500)).await;
    Ok(Outcome::none())
}

/// Every second; after a stop, runs once for the ticks it missed.
#[job(cron = "* * * * * *", catch_up = "once")]
async fn catches_up() -> JobResult {
    Ok(Outcome::none())
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Nap {
    pub millis: u64,
}

/// A customer's share of work.
#[derive(Debug, Serialize, Deserialize)]
pub struct Share {
    pub customer: String,
    pub millis: u64,
}

/// Never more than 5 at once, across every runner.
#[job(limit = 5, concurrency = 10)]
async fn limited(nap: Nap) -> JobResult {
    tokio::time::sleep(Duration::from_millis(nap.millis)).await;
    Ok(Outcome::none())
}

/// Never more than 2 at once for one customer; customers do not wait for each other.
#[job(limit = 2, per = customer, concurrency = 10)]
async fn per_customer(share: Share) -> JobResult {
    tokio::time::sleep(Duration::from_millis(share.millis)).await;
    Ok(Outcome::none())
}

/// At most 10 starts in any 2 seconds, across every runner.
#[job(rate = "10/2s", concurrency = 10)]
async fn rated(nap: Nap) -> JobResult {
    tokio::time::sleep(Duration::from_millis(nap.millis)).await;
    Ok(Outcome::none())
}

/// One report per customer while one is pending or running.
#[job(unique(by = [customer]))]
async fn one_report(share: Share) -> JobResult {
    tokio::time::sleep(Duration::from_millis(share.millis)).await;
    Ok(Outcome::none())
}

/// Customers in turn: one customer's backlog does not keep the others waiting.
#[job(per = customer, concurrency = 10)]
async fn fair(share: Share) -> JobResult {
    tokio::time::sleep(Duration::from_millis(share.millis)).await;
    Ok(Outcome::none())
}

/// Sleeps, in the `narrow` queue.
#[job(queue = "narrow", concurrency = 10)]
async fn narrow_a(nap: Nap) -> JobResult {
    tokio::time::sleep(Duration::from_millis(nap.millis)).await;
    Ok(Outcome::none())
}

/// Sleeps, in the `narrow` queue too.
#[job(queue = "narrow", concurrency = 10)]
async fn narrow_b(nap: Nap) -> JobResult {
    tokio::time::sleep(Duration::from_millis(nap.millis)).await;
    Ok(Outcome::none())
}

/// Every two seconds, anchored to the epoch.
#[job(every = "2s")]
async fn every_two_seconds() -> JobResult {
    Ok(Outcome::none())
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Landed {
    pub path: String,
    pub name: String,
    pub size: u64,
}

/// Reads a file that landed in the watched folder; fails for good if it is not complete
/// (every test file ends with `END`).
#[job(on = "inbox", retries = 0)]
async fn file_landed(file: Landed) -> JobResult {
    let content = std::fs::read(&file.path)?;
    if content.len() as u64 != file.size || !content.ends_with(b"END\n") {
        return Err(JobError::msg(format!(
            "{} was partly written when its event came",
            file.name
        ))
        .permanent());
    }
    Ok(Outcome::processed(content.len()))
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Uploaded {
    pub bucket_name: String,
    pub object_key: String,
}

/// Handles an object uploaded to an S3-compatible store.
#[job(on = "s3")]
async fn object_uploaded(upload: Uploaded) -> JobResult {
    Ok(Outcome::processed(
        upload.object_key.len() + upload.bucket_name.len(),
    ))
}

/// Step 1 of a chain written in code: adds one.
#[job(then = "step_two")]
async fn step_one(n: u64) -> JobResult<u64> {
    Ok(n + 1)
}

/// Step 2: doubles; fails for good on 13; on 7, takes 1.5 s and leaves marker files.
#[job(then = "step_three", retries = 2, backoff = "100ms")]
async fn step_two(n: u64, ctx: JobContext) -> JobResult<u64> {
    if n == 13 {
        return Err(JobError::msg("13 is unlucky").permanent());
    }
    if n == 7 {
        let dir = PathBuf::from(std::env::var("TEST_SITE").unwrap_or_default());
        std::fs::write(dir.join(format!("step_two.started.{}", ctx.attempt())), "")?;
        tokio::time::sleep(Duration::from_millis(1500)).await;
    }
    Ok(n * 2)
}

/// Step 3: records what it got.
#[job]
pub async fn step_three(n: u64) -> JobResult {
    Ok(Outcome::processed(n))
}

/// For chains started at run time.
#[job]
pub async fn add_one(n: u64) -> JobResult<u64> {
    Ok(n + 1)
}

/// For chains started at run time.
#[job]
pub async fn times_ten(n: u64) -> JobResult<u64> {
    Ok(n * 10)
}

/// Counts the words of a text: a job whose caller waits for its result.
#[job]
pub async fn word_count(text: String) -> JobResult<usize> {
    Ok(text.split_whitespace().count())
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Steps {
    /// How many steps, 100 ms each.
    pub steps: u64,
    /// Whether it stops when its task is cancelled.
    pub cooperative: bool,
}

/// Takes `steps` steps of 100 ms, reporting its progress after each. A cooperative run
/// stops at the step where its task is cancelled and says how far it came; the other
/// carries on regardless.
#[job(retries = 0)]
pub async fn stepper(steps: Steps, ctx: JobContext) -> JobResult<u64> {
    for step in 1..=steps.steps {
        if steps.cooperative {
            tokio::select! {
                () = ctx.cancelled() => return Ok(step - 1),
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        } else {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        ctx.set_meta("step", format!("step {step}"));
        ctx.progress(step, steps.steps);
    }
    Ok(steps.steps)
}

/// Enqueued only in the application's transaction, by one test (the announcements of a
/// PostgreSQL database are shared by every test's schema: a job of its own is heard only
/// when that test enqueues it).
#[job]
pub async fn recorded(note: Note) -> JobResult {
    Ok(Outcome::processed(note.text.len()))
}
