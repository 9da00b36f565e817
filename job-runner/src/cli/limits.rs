//! `job-runner limits ...`: each job's and queue's limits and what they hold back; limits
//! set at run time.

use clap::{Args, Subcommand};
use job_core::Rate;

use super::args::JsonFlag;
use super::error::CliError;
use super::table::Table;
use crate::control::Control;
use crate::limit_control::{JobLimits, QueueLimits};

#[derive(Debug, Subcommand)]
pub(super) enum LimitsCommand {
    /// List the jobs with limits (or keys): their limit and rate, where these come from,
    /// what runs, what waits, and the keys with the most waiting tasks; then the queues
    /// with a limit.
    List(JsonFlag),
    /// Set a job's or a queue's limits at run time, replacing its own in every runner
    /// within its poll interval, until cleared.
    #[command(
        after_help = "Examples:\n  job-runner limits set export_report --limit 5\n  job-runner limits set call_partner --rate 100/1m --limit none\n  job-runner limits set --queue exports --limit 10"
    )]
    Set(LimitsSetArgs),
    /// Clear a job's or a queue's run-time limits: its own (code, jobs.toml) apply again.
    #[command(
        after_help = "Examples:\n  job-runner limits clear export_report\n  job-runner limits clear --queue exports"
    )]
    Clear(LimitsTarget),
}

/// A job by its name, or a queue with `--queue`.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub(super) struct LimitsTarget {
    /// The job's name.
    job: Option<String>,
    /// A queue instead of a job: the limit then holds for all its jobs together.
    #[arg(long)]
    queue: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct LimitsSetArgs {
    #[command(flatten)]
    target: LimitsTarget,
    /// At most this many attempts at once across all runners (per key when the job has
    /// `per`), or `none`. Default: as the job has it now.
    #[arg(long, value_name = "N|none")]
    limit: Option<String>,
    /// At most this many starts in any window, such as `100/1m`, or `none`. Default: as the
    /// job has it now. Not for queues.
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
            let queues = control.queue_limits().await?;
            if flag.json {
                let both = serde_json::json!({"jobs": all, "queues": queues});
                println!("{}", serde_json::to_string_pretty(&both)?);
            } else {
                print_table(&all);
                if !queues.is_empty() {
                    println!();
                    print_queues(&queues);
                }
            }
        }
        LimitsCommand::Set(LimitsSetArgs {
            target: LimitsTarget {
                queue: Some(queue), ..
            },
            limit,
            rate,
            json,
        }) => {
            if rate.is_some() {
                return Err(CliError::from(
                    "--rate is for jobs: a queue takes a --limit only (set a rate on each of its jobs)".to_owned(),
                ));
            }
            let current = control.queue_limit(&queue).await?;
            let limit = parse_limit(limit.as_deref(), current.limit)?;
            let shown = control.set_queue_limit(&queue, limit).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else {
                print_queues(std::slice::from_ref(&shown));
            }
        }
        LimitsCommand::Set(args) => {
            let job = args.target.job.unwrap_or_default();
            let current = control.job_limits(&job).await?;
            let limit = parse_limit(args.limit.as_deref(), current.limit)?;
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
            let shown = control.set_limits(&job, limit, rate).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&shown)?);
            } else {
                print_table(std::slice::from_ref(&shown));
            }
        }
        LimitsCommand::Clear(LimitsTarget {
            queue: Some(queue), ..
        }) => {
            if control.clear_queue_limit(&queue).await? {
                println!(
                    "cleared the run-time limit of queue `{queue}`: its configured one applies again"
                );
            } else {
                println!("queue `{queue}` had no run-time limit");
            }
        }
        LimitsCommand::Clear(target) => {
            let job = target.job.unwrap_or_default();
            if control.clear_limits(&job).await? {
                println!("cleared the run-time limits of `{job}`: its own apply again");
            } else {
                println!("`{job}` had no run-time limits");
            }
        }
    }
    Ok(())
}

/// `--limit`: a number, `none`, or absent (`current` stays).
fn parse_limit(text: Option<&str>, current: Option<u32>) -> Result<Option<u32>, CliError> {
    match text {
        None => Ok(current),
        Some("none") => Ok(None),
        Some(text) => text.parse::<u32>().map(Some).map_err(|_| {
            CliError::from(format!(
                "--limit `{text}` is not a number of attempts: write a number such as 5, or `none`"
            ))
        }),
    }
}

fn print_queues(all: &[QueueLimits]) {
    let mut table = Table::new(&["QUEUE", "LIMIT", "FROM", "RUNNING", "WAITING", "JOBS"]);
    for queue in all {
        table.row(vec![
            queue.queue.clone(),
            queue.limit.map_or_else(|| "-".into(), |n| n.to_string()),
            queue.source.to_owned(),
            queue.running.to_string(),
            queue.waiting.to_string(),
            queue.jobs.join(", "),
        ]);
    }
    print!("{}", table.render());
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
