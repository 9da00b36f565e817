//! `job-runner migrate`: create or upgrade the job tables.

use super::error::CliError;
use crate::config::Config;
use crate::startup::{Schema, open_store};

/// `migrate`: creates or upgrades the tables of the configured database.
pub(super) async fn migrate(config: Config) -> Result<(), CliError> {
    let store = open_store(&config, Schema::Migrate).await?;
    println!("migrated {}", store.display_url());
    Ok(())
}
