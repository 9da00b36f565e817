//! The commands about jobs: `list`, `trigger`, `pause` and `resume`.

use clap::Args;

use super::args::{NameArg, json_arg};
use super::error::CliError;
use super::table::Table;
use crate::control::Control;

#[derive(Debug, Args)]
pub(super) struct TriggerArgs {
    /// The job's name.
    name: String,
    /// The job's arguments as JSON.
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
    /// Print the stored task as JSON.
    #[arg(long)]
    json: bool,
}

/// `list`: the registered jobs, with their schedule, next and last run.
pub(super) async fn list(control: &Control, json: bool) -> Result<(), CliError> {
    let jobs = control.jobs().await?;
    if json {
        println!("{}", serde_json::to_string_pretty(&jobs)?);
        return Ok(());
    }
    let mut table = Table::new(&[
        "JOB",
        "QUEUE",
        "SCHEDULE",
        "ZONE",
        "NEXT RUN",
        "LAST RUN",
        "LAST STATUS",
        "PAUSED",
        "LIMITS",
    ]);
    for job in jobs {
        table.row(vec![
            if job.enabled {
                job.name
            } else {
                format!("{} (disabled)", job.name)
            },
            job.queue,
            job.schedule.unwrap_or_else(|| "-".into()),
            job.timezone.unwrap_or_else(|| "-".into()),
            job.next_run.map_or_else(|| "-".into(), |t| t.to_rfc3339()),
            job.last_run
                .as_ref()
                .map_or_else(|| "-".into(), |e| e.started_at.to_rfc3339()),
            job.last_run
                .as_ref()
                .map_or_else(|| "-".into(), |e| e.status.to_string()),
            if job.paused {
                "yes".into()
            } else {
                "no".into()
            },
            job.limits.unwrap_or_else(|| "-".into()),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

/// `trigger`: enqueues a job now.
pub(super) async fn trigger(control: &Control, args: TriggerArgs) -> Result<(), CliError> {
    let json = json_arg(args.args.as_deref())?;
    let task = control.trigger(&args.name, json).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&task)?);
    } else {
        println!(
            "enqueued task {} of job `{}` (queue {})",
            task.id, task.job, task.queue
        );
    }
    Ok(())
}

/// `pause`: pauses a job in every runner.
pub(super) async fn pause(control: &Control, arg: NameArg) -> Result<(), CliError> {
    if control.pause(&arg.name).await? {
        println!(
            "paused `{}`: its ticks are skipped and its tasks held until `job-runner resume {}`",
            arg.name, arg.name
        );
    } else {
        println!("`{}` was already paused", arg.name);
    }
    Ok(())
}

/// `resume`: resumes a paused job.
pub(super) async fn resume(control: &Control, arg: NameArg) -> Result<(), CliError> {
    if control.resume(&arg.name).await? {
        println!("resumed `{}`", arg.name);
    } else {
        println!("`{}` was not paused", arg.name);
    }
    Ok(())
}
