//! The commands about tasks and their attempts: `tasks` (and `tasks retry|cancel|delete`
//! on everything a filter matches), `history`, `retry` and `cancel`.

use std::io::{IsTerminal, Write};

use chrono::{DateTime, Utc};
use clap::{Args, Subcommand};

use super::args::{TaskArg, parse_instant};
use super::error::CliError;
use super::table::Table;
use crate::control::Control;
use crate::storage::{ExecutionFilter, ExecutionStatus, TaskFilter, TaskState};
use crate::task_control::BulkKind;

/// `tasks`: list, or act on everything a filter matches.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub(super) struct TasksArgs {
    #[command(subcommand)]
    action: Option<TasksAction>,
    #[command(flatten)]
    list: ListArgs,
}

#[derive(Debug, Subcommand)]
enum TasksAction {
    /// Run again every dead or cancelled task the filters match, each with a fresh set of
    /// attempts.
    #[command(after_help = BULK_HELP)]
    Retry(BulkArgs),
    /// Cancel every pending task the filters match, and ask every running one to stop.
    #[command(after_help = BULK_HELP)]
    Cancel(BulkArgs),
    /// Delete every finished task (succeeded, dead, cancelled) the filters match; a pending
    /// or running task is never deleted. Their history stays.
    #[command(after_help = BULK_HELP)]
    Delete(BulkArgs),
}

const BULK_HELP: &str = "\
Prints how many tasks match, asks to confirm (--yes skips the question; without a terminal it is required), then acts in batches of 500 and prints how many tasks it changed and skipped. Tasks stored after the count are never touched.

Example:
  job-runner tasks retry --state dead --job send_email --since 2026-11-28T02:00:00Z --yes";

/// Which tasks: every filter given must match.
#[derive(Debug, Args)]
struct FilterArgs {
    /// Only in this state: pending, running, succeeded, dead, cancelled.
    #[arg(long, value_parser = parse_state)]
    state: Option<TaskState>,
    /// Only in this queue.
    #[arg(long)]
    queue: Option<String>,
    /// Only of this job.
    #[arg(long)]
    job: Option<String>,
    /// Only tasks whose last change is at or after this instant (RFC 3339) or this long ago
    /// (`2h`). The last change is when a finished task (succeeded, dead, cancelled)
    /// finished, and when a pending or running task was stored.
    #[arg(long, value_parser = parse_since)]
    since: Option<DateTime<Utc>>,
    /// Only tasks whose last change (as for --since) is before this instant or this long
    /// ago.
    #[arg(long, value_parser = parse_since)]
    until: Option<DateTime<Utc>>,
    /// Only tasks whose arguments (their JSON text) hold this text, in any case.
    #[arg(long, value_name = "TEXT")]
    grep: Option<String>,
}

impl FilterArgs {
    fn filter(self) -> Result<TaskFilter, CliError> {
        if let (Some(since), Some(until)) = (self.since, self.until)
            && since >= until
        {
            return Err(
                "--since must be before --until: pass an earlier --since or a later --until".into(),
            );
        }
        Ok(TaskFilter {
            state: self.state,
            queue: self.queue,
            job: self.job,
            since: self.since,
            until: self.until,
            text: self.grep.filter(|text| !text.is_empty()),
            ..TaskFilter::default()
        })
    }
}

#[derive(Debug, Args)]
struct ListArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
struct BulkArgs {
    #[command(flatten)]
    filter: FilterArgs,
    /// Act without asking to confirm (required without a terminal).
    #[arg(long, short = 'y')]
    yes: bool,
    /// Print the outcome as JSON for scripts.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, Args)]
pub(super) struct HistoryArgs {
    /// Only this job.
    #[arg(long)]
    job: Option<String>,
    /// Only this status: succeeded, failed, panicked, timed_out, dead, cancelled, snoozed.
    #[arg(long, value_parser = parse_status)]
    status: Option<ExecutionStatus>,
    /// Only attempts that started since this instant (RFC 3339) or this long ago (`24h`).
    #[arg(long, value_parser = parse_since)]
    since: Option<DateTime<Utc>>,
    /// Only this task.
    #[arg(long)]
    task: Option<i64>,
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

fn parse_status(text: &str) -> Result<ExecutionStatus, String> {
    ExecutionStatus::from_name(text).ok_or_else(|| {
        format!(
            "unknown status `{text}`; use one of {}",
            ExecutionStatus::ALL.map(|s| s.as_str()).join(", ")
        )
    })
}

fn parse_state(text: &str) -> Result<TaskState, String> {
    TaskState::from_name(text).ok_or_else(|| {
        format!(
            "unknown state `{text}`; use one of {}",
            TaskState::ALL.map(|s| s.as_str()).join(", ")
        )
    })
}

fn parse_since(text: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(ago) = job_schedule::parse_duration(text) {
        // At most `job_schedule::MAX_DURATION` ago: far from the earliest instant there is.
        return Ok(job_schedule::sub_saturating(Utc::now(), ago));
    }
    parse_instant(text).map_err(|_| {
        format!("`{text}` is neither an RFC 3339 instant (2026-11-28T00:00:00Z) nor a duration ago (24h)")
    })
}

/// `tasks`: stored tasks, newest first; or a bulk action.
pub(super) async fn tasks(control: &Control, args: TasksArgs) -> Result<(), CliError> {
    let (kind, bulk) = match args.action {
        Some(TasksAction::Retry(bulk)) => (BulkKind::Retry, bulk),
        Some(TasksAction::Cancel(bulk)) => (BulkKind::Cancel, bulk),
        Some(TasksAction::Delete(bulk)) => (BulkKind::Delete, bulk),
        None => return list(control, args.list).await,
    };
    bulk_action(control, kind, bulk).await
}

/// `tasks retry|cancel|delete`: counts, asks, acts, says what it did.
async fn bulk_action(control: &Control, kind: BulkKind, args: BulkArgs) -> Result<(), CliError> {
    let filter = args.filter.filter()?;
    let count = control.count_tasks(&filter).await?;
    let Some(up_to_id) = count.up_to_id else {
        println!("no task matches: nothing to {kind}");
        return Ok(());
    };
    println!(
        "{} task{} match (ids up to {up_to_id}); {kind} applies to {} ones, the others are skipped",
        count.count,
        if count.count == 1 { "" } else { "s" },
        kind.applies_to()
    );
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(format!(
                "not confirmed: no terminal to ask on; pass --yes to {kind} these {} tasks",
                count.count
            )
            .into());
        }
        print!("{kind} them? [y/N] ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().read_line(&mut answer)?;
        if !matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
            println!("nothing done");
            return Ok(());
        }
    }
    let outcome = control.bulk(kind, &filter, up_to_id).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
        return Ok(());
    }
    println!(
        "{kind}: matched {}, applied {}, skipped {}",
        outcome.matched, outcome.applied, outcome.skipped
    );
    Ok(())
}

async fn list(control: &Control, args: ListArgs) -> Result<(), CliError> {
    let filter = TaskFilter {
        limit: args.limit,
        ..args.filter.filter()?
    };
    let rows = control.tasks(&filter).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let mut table = Table::new(&[
        "ID",
        "JOB",
        "QUEUE",
        "STATE",
        "ATTEMPT",
        "RUN AT",
        "PROGRESS",
        "LAST ERROR",
    ]);
    for t in rows {
        let state = match t.cancel_requested_at {
            Some(_) if t.state == TaskState::Running => "running (cancelling)".to_owned(),
            _ => t.state.to_string(),
        };
        table.row(vec![
            t.id.to_string(),
            t.job,
            t.queue,
            state,
            format!("{}/{}", t.attempt, t.max_attempts),
            t.run_at.to_rfc3339(),
            t.progress.as_ref().map(progress_text).unwrap_or_default(),
            t.last_error.unwrap_or_default(),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}

/// Stored progress in a few words: `3/10 file="a.pdf"`.
fn progress_text(progress: &serde_json::Value) -> String {
    let mut parts = Vec::new();
    match (progress.get("done"), progress.get("total")) {
        (Some(done), Some(total)) => parts.push(format!("{done}/{total}")),
        (Some(done), None) => parts.push(done.to_string()),
        _ => {}
    }
    if let Some(meta) = progress.get("meta").and_then(|m| m.as_object()) {
        parts.extend(meta.iter().map(|(k, v)| format!("{k}={v}")));
    }
    shortened(&parts.join(" "), 40)
}

/// `text`, cut to `max` characters with an ellipsis.
fn shortened(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// `history`: one row per attempt, newest first.
pub(super) async fn history(control: &Control, args: HistoryArgs) -> Result<(), CliError> {
    let filter = ExecutionFilter {
        job: args.job,
        status: args.status,
        task_id: args.task,
        since: args.since,
        limit: args.limit,
        ..ExecutionFilter::default()
    };
    let rows = control.history(&filter).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(());
    }
    let mut table = Table::new(&[
        "ID", "JOB", "TASK", "ATTEMPT", "TRIGGER", "STARTED", "DURATION", "STATUS", "RECORDS",
        "RESULT", "ERROR",
    ]);
    for e in rows {
        table.row(vec![
            e.id.to_string(),
            e.job,
            e.task_id.to_string(),
            e.attempt.to_string(),
            e.trigger.to_string(),
            e.started_at.to_rfc3339(),
            format!("{}ms", e.duration_ms),
            e.status.to_string(),
            e.records_processed
                .map_or_else(|| "-".into(), |n| n.to_string()),
            e.result
                .as_ref()
                .map(|r| shortened(&r.to_string(), 40))
                .unwrap_or_default(),
            e.error.unwrap_or_default(),
        ]);
    }
    if table.is_empty() {
        println!("no executions match");
    } else {
        print!("{}", table.render());
    }
    Ok(())
}

/// `retry`: runs a dead or cancelled task again.
pub(super) async fn retry(control: &Control, arg: TaskArg) -> Result<(), CliError> {
    let task = control.retry(arg.task).await?;
    println!(
        "task {} of job `{}` is pending again ({} more attempts allowed)",
        task.id,
        task.job,
        task.max_attempts - task.attempt
    );
    Ok(())
}

/// `cancel`: cancels a pending task, or asks a running one to stop.
pub(super) async fn cancel(control: &Control, arg: TaskArg) -> Result<(), CliError> {
    let task = control.cancel(arg.task).await?;
    if task.state == TaskState::Running {
        println!(
            "asked task {} of job `{}` to stop: its runner ends it as cancelled",
            task.id, task.job
        );
        return Ok(());
    }
    println!("cancelled task {} of job `{}`", task.id, task.job);
    Ok(())
}
