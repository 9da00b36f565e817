//! The commands about schedules: `schedules add|set|list|remove|pause|resume`, which change
//! the stored schedules without a rebuild, and `schedule EXPR`, which previews a cron
//! expression's next fire times.

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};
use job_schedule::Schedule;

use super::args::{JsonFlag, json_arg, parse_instant};
use super::error::CliError;
use super::table::Table;
use crate::control::Control;
use crate::schedule_control::{ScheduleChange, ScheduleSpec};

#[derive(Debug, Subcommand)]
pub(super) enum SchedulesCommand {
    /// Add a schedule: a job, a cron expression or a rate, and the job's arguments.
    #[command(
        after_help = "Examples:\n  job-runner schedules add report-acme --job build_report --cron '0 7 * * MON-FRI' --timezone Europe/Paris --args '{\"customer\":42}'\n  job-runner schedules add sync-acme --job sync_account --every 15m --args '{\"account\":7}'"
    )]
    Add(ScheduleAddArgs),
    /// Change a schedule (the options given replace the stored ones).
    Set(ScheduleSetArgs),
    /// List the schedules with their next and last run.
    List(JsonFlag),
    /// Remove a schedule: its future ticks stop, its history stays.
    Remove(ScheduleIdArg),
    /// Pause a schedule: its ticks are skipped until it is resumed.
    Pause(ScheduleIdArg),
    /// Resume a paused schedule.
    Resume(ScheduleIdArg),
}

#[derive(Debug, Args)]
pub(super) struct ScheduleIdArg {
    /// The schedule's id.
    id: String,
}

#[derive(Debug, Args)]
pub(super) struct ScheduleAddArgs {
    /// The schedule's id (letters, digits, `_`, `-`, `.`, `:`).
    id: String,
    /// The job it runs.
    #[arg(long)]
    job: String,
    /// A cron expression.
    #[arg(long, conflicts_with = "every")]
    cron: Option<String>,
    /// A rate such as 15m, anchored to the Unix epoch.
    #[arg(long)]
    every: Option<String>,
    /// The IANA zone of the cron expression (default UTC).
    #[arg(long, value_name = "TZ")]
    timezone: Option<String>,
    /// The job's arguments as JSON.
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
    /// skip (default) or once: what to do about ticks missed while no runner ran.
    #[arg(long)]
    catch_up: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct ScheduleSetArgs {
    /// The schedule's id.
    id: String,
    /// Another job.
    #[arg(long)]
    job: Option<String>,
    /// A new cron expression (replaces a rate).
    #[arg(long, conflicts_with = "every")]
    cron: Option<String>,
    /// A new rate (replaces a cron expression).
    #[arg(long)]
    every: Option<String>,
    /// A new zone.
    #[arg(long, value_name = "TZ")]
    timezone: Option<String>,
    /// New arguments as JSON.
    #[arg(long, value_name = "JSON")]
    args: Option<String>,
    /// skip or once.
    #[arg(long)]
    catch_up: Option<String>,
}

#[derive(Debug, Args)]
pub(super) struct ScheduleArgs {
    /// A cron expression: 5 fields (minute hour day-of-month month day-of-week), 6 with
    /// leading seconds, or @hourly, @daily, @weekly, @monthly, @yearly.
    expression: String,
    /// The IANA time zone the expression is read in.
    #[arg(long, default_value = "UTC", value_name = "TZ")]
    timezone: String,
    /// Start strictly after this instant (RFC 3339); default now.
    #[arg(long, value_name = "RFC3339", value_parser = parse_instant)]
    after: Option<DateTime<Utc>>,
    /// How many fire times.
    #[arg(long, default_value_t = 10)]
    count: usize,
    /// Print a JSON array of RFC 3339 timestamps with their offset.
    #[arg(long)]
    json: bool,
}

/// `schedules ...`: changes or lists the stored schedules.
pub(super) async fn schedules(
    control: &Control,
    command: SchedulesCommand,
) -> Result<(), CliError> {
    let schedules = control.client().schedules();
    match command {
        SchedulesCommand::Add(args) => {
            let spec = ScheduleSpec {
                job: args.job,
                cron: args.cron,
                every: args.every,
                timezone: args.timezone,
                args: json_arg(args.args.as_deref())?.unwrap_or(serde_json::Value::Null),
                catch_up: args.catch_up,
            };
            let row = schedules.add(&args.id, spec).await?;
            println!("added schedule `{}` of job `{}`", row.id, row.job);
        }
        SchedulesCommand::Set(args) => {
            let change = ScheduleChange {
                job: args.job,
                cron: args.cron,
                every: args.every,
                timezone: args.timezone,
                args: json_arg(args.args.as_deref())?,
                catch_up: args.catch_up,
            };
            let row = schedules.set(&args.id, change).await?;
            println!("changed schedule `{}`", row.id);
        }
        SchedulesCommand::List(flag) => {
            let list = schedules.list().await?;
            if flag.json {
                println!("{}", serde_json::to_string_pretty(&list)?);
                return Ok(());
            }
            let mut table = Table::new(&[
                "ID", "JOB", "SCHEDULE", "ZONE", "ARGS", "NEXT RUN", "LAST RUN", "STATE", "DEFINED",
            ]);
            for s in list {
                let row = &s.schedule;
                let timing = match (&row.cron, row.every_ms) {
                    (Some(cron), _) => cron.clone(),
                    (None, Some(ms)) => format!(
                        "every {}",
                        job_schedule::format_duration(std::time::Duration::from_millis(ms as u64))
                    ),
                    (None, None) => "-".into(),
                };
                table.row(vec![
                    row.id.clone(),
                    row.job.clone(),
                    timing,
                    row.timezone.clone(),
                    row.args.to_string(),
                    s.next_run.map_or_else(|| "-".into(), |t| t.to_rfc3339()),
                    s.last_run.map_or_else(|| "-".into(), |t| t.to_rfc3339()),
                    if row.enabled {
                        "active".into()
                    } else {
                        "paused".into()
                    },
                    if row.in_code {
                        "in code".into()
                    } else {
                        "at run time".into()
                    },
                ]);
            }
            print!("{}", table.render());
        }
        SchedulesCommand::Remove(arg) => {
            schedules.remove(&arg.id).await?;
            println!("removed schedule `{}`; its history stays", arg.id);
        }
        SchedulesCommand::Pause(arg) => {
            schedules.pause(&arg.id).await?;
            println!("paused schedule `{}`", arg.id);
        }
        SchedulesCommand::Resume(arg) => {
            schedules.resume(&arg.id).await?;
            println!("resumed schedule `{}`", arg.id);
        }
    }
    Ok(())
}

/// `schedule EXPR`: the next fire times of a cron expression, in its zone.
pub(super) fn preview(args: &ScheduleArgs) -> Result<(), CliError> {
    let schedule = Schedule::new(&args.expression, &args.timezone)?;
    let after = args.after.unwrap_or_else(Utc::now);
    let fires: Vec<String> = schedule
        .upcoming(after)
        .take(args.count)
        .map(|t| schedule.local(t).to_rfc3339())
        .collect();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&fires)?);
    } else {
        for (fire, instant) in fires.iter().zip(schedule.upcoming(after)) {
            println!("{fire}  {}", schedule.local(instant).format("%a"));
        }
    }
    Ok(())
}
