//! Key expiry: a daily safety net behind the API's own expiry check.

use job_core::prelude::*;

use crate::AuthDb;

/// Deactivates authentication keys whose expiry has passed and that are still active;
/// daily at midnight UTC.
///
/// The API already refuses an expired key; this job keeps the `active` flag true to the
/// facts, so that listings and audits are accurate. It reports how many keys it
/// deactivated.
#[job(cron = "0 0 * * *")]
pub async fn expire_keys(ctx: JobContext) -> JobResult {
    let db = ctx.data::<AuthDb>()?;
    let deactivated = db.deactivate_expired_keys(ctx.now()).await?;
    Ok(Outcome::processed(deactivated))
}
