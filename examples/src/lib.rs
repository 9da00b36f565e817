//! The demo application's background jobs, written as an application using the SDK would
//! write them, each doing real work on the application's own SQLite database or folders.
//!
//! | job | when | what |
//! |---|---|---|
//! | [`expire_keys`](keys::expire_keys) | `0 0 * * *`, daily at midnight UTC | deactivates expired authentication keys |
//! | [`cleanup_expired_sessions`](cleanup::cleanup_expired_sessions) | `0 * * * *`, hourly at :00 | deletes expired sessions |
//! | [`cleanup_expired_refresh_tokens`](cleanup::cleanup_expired_refresh_tokens) | `30 * * * *`, hourly at :30 | deletes expired refresh tokens |
//! | [`cleanup_expired_challenges`](cleanup::cleanup_expired_challenges) | `*/5 * * * *`, every 5 minutes | deletes WebAuthn challenges older than 5 minutes |
//! | [`cleanup_expired_device_codes`](cleanup::cleanup_expired_device_codes) | `45 * * * *`, hourly at :45 | deletes expired device codes |
//! | [`transfer_document`](transfer::transfer_document) | on demand, queue `transfers` | copies a document and verifies the copy, reporting its progress and returning what it copied; 8 retries, backoff 5 s to 10 min, 5 min timeout |
//! | [`index_transfer`](ingest::index_transfer) | after `transfer_document`, in the chain the transfer API starts | records the copy's size and checksum in the document index |
//!
//! [`web`] is the document-transfer service's HTTP API: a request recorded and its job
//! enqueued in one transaction, and its status with the job's progress and result.
//!
//! The jobs read the time from the runner's clock (`ctx.now()`) and their resources from
//! shared state: an [`AuthDb`] and a [`TransferConfig`]. [`register`] opens and prepares
//! both from the environment:
//!
//! | variable | default |
//! |---|---|
//! | `EXAMPLES_DATABASE_URL` | `sqlite://examples.db?mode=rwc` |
//! | `EXAMPLES_TRANSFER_SOURCE` | `transfers/inbox` |
//! | `EXAMPLES_TRANSFER_DESTINATION` | `transfers/outbox` |
//!
//! ```no_run
//! # async fn demo(jobs: &dyn job_core::JobClient) -> anyhow::Result<()> {
//! use examples::transfer::{TransferDocument, TransferRequest};
//!
//! let mut state = job_core::State::new();
//! examples::register(&mut state).await?; // hand `state` to the runner
//!
//! // Elsewhere in the application, when a document arrives:
//! TransferDocument::enqueue(jobs, TransferRequest::new("invoice-42.pdf", "2026/invoice-42.pdf"))
//!     .await?;
//! # Ok(())
//! # }
//! ```
//!
//! In a test, give a job its state and a virtual clock with
//! [`TestContext`](job_core::testing::TestContext):
//!
//! ```
//! # #[tokio::main]
//! # async fn main() -> anyhow::Result<()> {
//! use examples::{AuthDb, cleanup::CleanupExpiredSessions};
//! use job_core::{Clock, testing::TestContext};
//!
//! let db = AuthDb::connect("sqlite::memory:").await?;
//! let outcome = TestContext::new()
//!     .data(db)
//!     .clock(Clock::virtual_at("2026-01-01T00:00:00Z".parse()?))
//!     .run(CleanupExpiredSessions, ())
//!     .await
//!     .map_err(|e| anyhow::anyhow!("{e}"))?; // JobError is not a std::error::Error
//! assert_eq!(outcome.records_processed(), Some(0));
//! # Ok(())
//! # }
//! ```

#![warn(missing_docs)]

use std::path::PathBuf;

use anyhow::Context as _;

pub mod auth;
pub mod cleanup;
pub mod ingest;
pub mod keys;
pub mod transfer;
pub mod web;

pub use crate::auth::{AuthDb, StoreError};
pub use crate::transfer::{TransferConfig, TransferError, TransferRequest};

/// Where the example jobs keep their data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// The SQLite URL of the application database (`EXAMPLES_DATABASE_URL`).
    pub database_url: String,
    /// The folder documents are transferred from (`EXAMPLES_TRANSFER_SOURCE`).
    pub transfer_source: PathBuf,
    /// The folder documents are transferred to (`EXAMPLES_TRANSFER_DESTINATION`).
    pub transfer_destination: PathBuf,
}

impl Settings {
    /// The database used when `EXAMPLES_DATABASE_URL` is not set: `examples.db` in the
    /// working directory, created if missing.
    pub const DEFAULT_DATABASE_URL: &str = "sqlite://examples.db?mode=rwc";
    /// The source folder used when `EXAMPLES_TRANSFER_SOURCE` is not set.
    pub const DEFAULT_TRANSFER_SOURCE: &str = "transfers/inbox";
    /// The destination folder used when `EXAMPLES_TRANSFER_DESTINATION` is not set.
    pub const DEFAULT_TRANSFER_DESTINATION: &str = "transfers/outbox";

    /// The settings from the environment; an unset or empty variable takes its default.
    pub fn from_env() -> anyhow::Result<Settings> {
        let database_url = match std::env::var_os("EXAMPLES_DATABASE_URL") {
            Some(url) if !url.is_empty() => url.into_string().map_err(|url| {
                anyhow::anyhow!("EXAMPLES_DATABASE_URL is not valid UTF-8: {url:?}")
            })?,
            _ => Settings::DEFAULT_DATABASE_URL.to_owned(),
        };
        let folder = |name: &str, default: &str| match std::env::var_os(name) {
            Some(path) if !path.is_empty() => PathBuf::from(path),
            _ => PathBuf::from(default),
        };
        Ok(Settings {
            database_url,
            transfer_source: folder(
                "EXAMPLES_TRANSFER_SOURCE",
                Settings::DEFAULT_TRANSFER_SOURCE,
            ),
            transfer_destination: folder(
                "EXAMPLES_TRANSFER_DESTINATION",
                Settings::DEFAULT_TRANSFER_DESTINATION,
            ),
        })
    }
}

impl Default for Settings {
    /// The settings with every variable unset.
    fn default() -> Settings {
        Settings {
            database_url: Settings::DEFAULT_DATABASE_URL.to_owned(),
            transfer_source: PathBuf::from(Settings::DEFAULT_TRANSFER_SOURCE),
            transfer_destination: PathBuf::from(Settings::DEFAULT_TRANSFER_DESTINATION),
        }
    }
}

/// Opens the example application's database and registers everything the example jobs read.
///
/// Reads [`Settings::from_env`], then does what [`register_with`] does.
pub async fn register(state: &mut job_core::State) -> anyhow::Result<()> {
    register_with(state, &Settings::from_env()?).await
}

/// Opens the database named in `settings`, creates its tables if they are missing, creates
/// the transfer folders if they are missing, and registers an [`AuthDb`] and a
/// [`TransferConfig`] in `state`. Running it again on the same database and folders
/// changes nothing.
pub async fn register_with(state: &mut job_core::State, settings: &Settings) -> anyhow::Result<()> {
    let db = AuthDb::connect(&settings.database_url).await?;
    for folder in [&settings.transfer_source, &settings.transfer_destination] {
        tokio::fs::create_dir_all(folder).await.with_context(|| {
            format!(
                "cannot create the transfer folder `{}`; check EXAMPLES_TRANSFER_SOURCE and EXAMPLES_TRANSFER_DESTINATION",
                folder.display()
            )
        })?;
    }
    state.insert(db);
    state.insert(TransferConfig::new(
        &settings.transfer_source,
        &settings.transfer_destination,
    ));
    Ok(())
}
