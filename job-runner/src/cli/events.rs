//! `job-runner events`: the latest events taken from the sources.

use clap::Args;

use super::error::CliError;
use super::table::Table;
use crate::control::Control;

#[derive(Debug, Args)]
pub(super) struct EventsArgs {
    /// At most this many rows.
    #[arg(long, default_value_t = 50)]
    limit: u32,
    /// Print JSON for scripts.
    #[arg(long)]
    json: bool,
}

/// `events`: each event with the task it started, or why none.
pub(super) async fn events(control: &Control, args: EventsArgs) -> Result<(), CliError> {
    let events = control.events(args.limit).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&events)?);
        return Ok(());
    }
    let mut table = Table::new(&["RECEIVED", "SOURCE", "EVENT", "JOB", "TASK", "ERROR"]);
    for e in events {
        table.row(vec![
            e.received_at.to_rfc3339(),
            e.source,
            e.event_id,
            e.job,
            e.task_id.map_or_else(|| "-".into(), |t| t.to_string()),
            e.error.unwrap_or_default(),
        ]);
    }
    print!("{}", table.render());
    Ok(())
}
