//! `job-runner migrate`: create or upgrade the job tables.

use super::error::CliError;
use crate::config::Config;
use crate::runner::connect_options;
use crate::storage::Store;

pub(super) async fn migrate(config: Config) -> Result<(), CliError> {
    let store = Store::connect(&config.database_url, &connect_options(&config)).await?;
    store.migrate().await?;
    println!("migrated {}", store.display_url());
    Ok(())
}
