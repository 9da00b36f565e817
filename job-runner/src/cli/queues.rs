//! `job-runner queues` (list, pause, resume) and `job-runner runners`.

use clap::{Args, Subcommand};

use super::args::JsonFlag;
use super::error::CliError;
use super::table::Table;
use crate::control::Control;

#[derive(Debug, Args)]
pub(super) struct QueuesArgs {
    #[command(subcommand)]
    command: Option<QueuesCommand>,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Subcommand)]
enum QueuesCommand {
    /// Pause a queue in every runner: no runner claims its tasks (they wait; cron ticks
    /// still store theirs) until it is resumed.
    Pause(QueueArg),
    /// Resume a paused queue: its tasks are claimed again.
    Resume(QueueArg),
}

#[derive(Debug, Args)]
struct QueueArg {
    /// The queue's name (see `job-runner queues`).
    queue: String,
}

/// `queues`, `queues pause Q`, `queues resume Q`.
pub(super) async fn queues(control: &Control, args: QueuesArgs) -> Result<(), CliError> {
    match args.command {
        None => {
            let queues = control.queues().await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&queues)?);
                return Ok(());
            }
            let mut table = Table::new(&[
                "QUEUE",
                "PAUSED",
                "PENDING",
                "DUE",
                "RUNNING",
                "OLDEST DUE",
                "JOBS",
            ]);
            for q in queues {
                table.row(vec![
                    q.queue,
                    q.paused_at
                        .map_or_else(|| "-".to_owned(), |at| format!("since {}", at.to_rfc3339())),
                    q.pending.to_string(),
                    q.due.to_string(),
                    q.running.to_string(),
                    if q.due > 0 {
                        format!("{:.1}s", q.oldest_due_age_seconds)
                    } else {
                        "-".to_owned()
                    },
                    q.jobs.join(", "),
                ]);
            }
            print!("{}", table.render());
        }
        Some(QueuesCommand::Pause(QueueArg { queue })) => {
            let was = control.queue(&queue).await?.paused;
            let now = control.pause_queue(&queue).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&now)?);
            } else if was {
                println!("queue `{queue}` was already paused");
            } else {
                println!(
                    "paused queue `{queue}`: no runner claims its tasks until `job-runner queues resume {queue}`"
                );
            }
        }
        Some(QueuesCommand::Resume(QueueArg { queue })) => {
            let was = control.queue(&queue).await?.paused;
            let now = control.resume_queue(&queue).await?;
            if args.json {
                println!("{}", serde_json::to_string_pretty(&now)?);
            } else if was {
                println!("resumed queue `{queue}`");
            } else {
                println!("queue `{queue}` was not paused");
            }
        }
    }
    Ok(())
}

/// `runners`: each registered runner, whether it is alive, and the tasks it holds.
pub(super) async fn runners(control: &Control, flag: JsonFlag) -> Result<(), CliError> {
    let runners = control.runners().await?;
    if flag.json {
        println!("{}", serde_json::to_string_pretty(&runners)?);
        return Ok(());
    }
    let mut table = Table::new(&[
        "RUNNER",
        "HOST",
        "PID",
        "QUEUES",
        "ALIVE",
        "HEARTBEAT",
        "HOLDING",
    ]);
    for r in runners {
        table.row(vec![
            r.id,
            r.host,
            r.pid.to_string(),
            if r.queues.is_empty() {
                "all".to_owned()
            } else {
                r.queues.join(",")
            },
            if r.alive { "yes" } else { "no" }.to_owned(),
            r.heartbeat_at.to_rfc3339(),
            r.holding
                .iter()
                .map(|h| format!("{} ({} #{})", h.task_id, h.job, h.attempt))
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}
