//! `job-runner check`: prints what would go wrong after a deploy, and exits with 1 when
//! something would (the findings themselves come from [`crate::check`]).

use job_core::Registry;

use super::error::CliError;
use crate::config::{Config, process_env};
use crate::startup::{Overrides, Schema, Startup};

/// The problems `check` found, as an error that makes the command exit non-zero.
#[derive(Debug, thiserror::Error)]
#[error("check found {0} problem(s)")]
struct CheckFailed(usize);

/// `check`: the findings, as a list or as JSON.
pub(super) async fn check(config: Config, json: bool) -> Result<(), CliError> {
    let startup = Startup::new(
        config,
        Registry::from_linked()?,
        Overrides::Report,
        &process_env,
    )?;
    let store = startup.open(Schema::Require).await?;
    let plan = &startup.plan;
    let report = crate::check::check(&store, plan, &startup.problems).await?;
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
