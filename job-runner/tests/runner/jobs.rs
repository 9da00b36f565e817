//! The jobs the integration tests run.

use std::path::PathBuf;
use std::time::Duration;

use job_core::BoxFuture;
use job_core::prelude::*;
use job_runner::cli::AppSetup;
use serde::{Deserialize, Serialize};

/// Nothing to register: the test jobs read no shared state.
pub fn setup(
    _: &mut AppSetup,
) -> BoxFuture<'_, Result<(), Box<dyn std::error::Error + Send + Sync>>> {
    Box::pin(async { Ok(()) })
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Note {
    pub text: String,
}

/// Succeeds; records the note's length as records processed.
#[job]
async fn echo(note: Note) -> JobResult {
    Ok(Outcome::processed(note.text.len()))
}

/// Always fails, like a destination that is down.
#[job(retries = 3, backoff = "400ms..10s")]
async fn always_fails() -> JobResult {
    Err(JobError::msg("destination unreachable"))
}

/// Always panics.
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

/// Every second.
#[job(cron = "* * * * * *")]
async fn every_second() -> JobResult {
    Ok(Outcome::none())
}

/// Every second, but each run takes 2.5 s and runs never overlap.
#[job(cron = "* * * * * *", unique)]
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
