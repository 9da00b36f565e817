//! `job-runner limits ...`: each job's limits and what they hold back; limits set at run
//! time.

use clap::{Args, Subcommand};
use job_core::Rate;

use super::args::{JsonFlag, NameArg};
use super::error::CliError;
use super::table::Table;
use crate::control::Control;
use crate::limit_control::JobLimits;

#[derive(Debug, Subcommand)]
pub(super) enum LimitsCommand {
    /// List the jobs with limits (or keys): their limit and rate, where these come from,
    /// what runs, what waits, and the keys with the most waiting tasks.
    List(JsonFlag),
    /// Set a job's limits at run time, replacing its own in every runner within its poll
    /// interval, until cleared.
    #[command(
        after_help = "Examples:\n  job-runner limits set export_report --limit 5\n  job-runner limits set call_partner --rate 100/1m --limit none"
    )]
    Set(LimitsSetArgs),
    /// Clear a job's run-time limits: its own (code, jobs.toml) apply again.
    Clear(NameArg),
}

#[derive(Debug, Args)]
pub(super) struct LimitsSetArgs {
    /// The job's name.
    job: String,
    /// At most this many attempts at once across all runners (per key when the job has
    /// `per`), or `none`. Default: as the job has it now.
    #[arg(long, value_name = "N|none")]
    limit: Option<String>,
    /// At most this many starts in any window, such as `100/1m`, or `none`. Default: as the
    /// job has it now.
    #[arg(long, value_name = "N/DURATION|none")]
    rate: Option<String>,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

/// `limits ...`.
pub(super) async fn limits(control: &Control, command: LimitsCommand) -> Result<(), CliError> {
    match command {
        LimitsCommand::List(flag) => {
            let all = control.limits().await?;
            if flag.json {
                println!("{}", serde_json::to_string_pretty(&all)?);
            } else {
                print_table(&all);
            }
        }
        LimitsCommand::Set(args) => {
            let current = control.job_limits(&args.job).await?;
            let limit = match args.limit.as_deref() {
                None => current.limit,
                Some("none") => None,
                Some(text) => Some(text.parse::<u32>().map_err(|_| {
                    CliError::from(format!(
                        "--limit `{text}` is not a number of attempts: write a number such as 5, or `none`"
                    ))
                })?),
            };
            let rate = match args.rate.as_deref() {
                None => current
                    .rate
                    .as_deref()
                    .map(Rate::parse)
                    .transpose()
                    .map_err(|e| {
                        CliError::from(format!("the job's current rate cannot be read: {e}"))
                    })?,
                Some("none") => None,
                Some(text) => Some(Rate::parse(text).map_err(|e| {
                    CliError::from(format!(
                        "--rate `{text}`: {e}; write it as 100/1m, or `none`"
                    ))
                })?),
            };
            let shown = control.set_limits(&args.job, limit, rate).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else {
                print_table(std::slice::from_ref(&shown));
            }
        }
        LimitsCommand::Clear(arg) => {
            if control.clear_limits(&arg.name).await? {
                println!(
                    "cleared the run-time limits of `{}`: its own apply again",
                    arg.name
                );
            } else {
                println!("`{}` had no run-time limits", arg.name);
            }
        }
    }
    Ok(())
}

fn print_table(all: &[JobLimits]) {
    let mut table = Table::new(&[
        "JOB", "LIMIT", "RATE", "PER", "FROM", "RUNNING", "STARTED", "WAITING", "TOP KEYS",
    ]);
    for job in all {
        let keys: Vec<String> = job
            .keys
            .iter()
            .take(3)
            .map(|k| format!("{} ({} waiting, {} running)", k.key, k.waiting, k.running))
            .collect();
        table.row(vec![
            job.job.clone(),
            job.limit.map_or_else(|| "-".into(), |n| n.to_string()),
            job.rate.clone().unwrap_or_else(|| "-".into()),
            if job.per.is_empty() {
                "-".into()
            } else {
                job.per.join(", ")
            },
            job.source.to_owned(),
            job.running.to_string(),
            job.started_in_window.to_string(),
            job.waiting.to_string(),
            keys.join("; "),
        ]);
    }
    print!("{}", table.render());
}
