//! Housekeeping of the authentication tables: without it, expired sessions, tokens,
//! challenges and device codes would pile up forever.
//!
//! Each job deletes the rows that expired by the runner's clock and reports how many it
//! deleted; a run that finds nothing is a success with 0 records.

use job_core::prelude::*;

use crate::AuthDb;

/// Deletes user sessions past their expiry; hourly at :00.
#[job(cron = "0 * * * *")]
pub async fn cleanup_expired_sessions(ctx: JobContext) -> JobResult {
    let db = ctx.data::<AuthDb>()?;
    Ok(Outcome::processed(
        db.delete_expired_sessions(ctx.now()).await?,
    ))
}

/// Deletes refresh tokens past their expiry; hourly at :30.
#[job(cron = "30 * * * *")]
pub async fn cleanup_expired_refresh_tokens(ctx: JobContext) -> JobResult {
    let db = ctx.data::<AuthDb>()?;
    Ok(Outcome::processed(
        db.delete_expired_refresh_tokens(ctx.now()).await?,
    ))
}

/// Deletes WebAuthn challenges issued more than five minutes ago
/// ([`CHALLENGE_LIFETIME`](crate::auth::CHALLENGE_LIFETIME)); every 5 minutes.
#[job(cron = "*/5 * * * *")]
pub async fn cleanup_expired_challenges(ctx: JobContext) -> JobResult {
    let db = ctx.data::<AuthDb>()?;
    Ok(Outcome::processed(
        db.delete_expired_challenges(ctx.now()).await?,
    ))
}

/// Deletes device authorization codes past their expiry; hourly at :45.
#[job(cron = "45 * * * *")]
pub async fn cleanup_expired_device_codes(ctx: JobContext) -> JobResult {
    let db = ctx.data::<AuthDb>()?;
    Ok(Outcome::processed(
        db.delete_expired_device_codes(ctx.now()).await?,
    ))
}
