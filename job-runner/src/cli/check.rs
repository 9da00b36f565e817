//! `job-runner check`: prints what would go wrong after a deploy, and exits with 1 when
//! something would (the findings themselves come from [`crate::check`]).

use job_core::Registry;

use super::error::CliError;
use crate::config::{Config, process_env};
use crate::plan::Plan;
use crate::runner::connect_options;
use crate::storage::Store;

/// The problems `check` found, as an error that makes the command exit non-zero.
#[derive(Debug, thiserror::Error)]
#[error("check found {0} problem(s)")]
struct CheckFailed(usize);

/// `check`: the findings, as a list or as JSON.
pub(super) async fn check(mut config: Config, json: bool) -> Result<(), CliError> {
    let registry = Registry::from_linked()?;
    config.apply_job_env(registry.iter().map(|d| d.name()), &process_env)?;
    config.apply_queue_env(registry.iter().map(|d| d.options().queue), &process_env)?;
    let (plan, config_problems) = Plan::checked(registry, &config);
    let store = Store::connect(&config.database_url, &connect_options(&config)).await?;
    store.check_schema().await?;
    let report = crate::check::check(&store, &plan, &config_problems).await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if report.ok {
        println!(
            "ok: {} jobs, no stored task or override that would fail",
            plan.jobs().count()
        );
    } else {
        for problem in &report.problems {
            println!("- {problem}");
        }
    }
    match report.problems.len() {
        0 => Ok(()),
        n => Err(Box::new(CheckFailed(n))),
    }
}
