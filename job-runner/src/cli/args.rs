//! Arguments that several commands share, and their parsers.

use chrono::{DateTime, Utc};
use clap::Args;

#[derive(Debug, Args)]
pub(super) struct JsonFlag {
    /// Print JSON for scripts.
    #[arg(long)]
    pub(super) json: bool,
}

#[derive(Debug, Args)]
pub(super) struct NameArg {
    /// The job's name.
    pub(super) name: String,
}

#[derive(Debug, Args)]
pub(super) struct TaskArg {
    /// The task's id (see `history` or `tasks`).
    pub(super) task: i64,
}

/// The value of an `--args` option, as JSON.
pub(super) fn json_arg(text: Option<&str>) -> Result<Option<serde_json::Value>, String> {
    text.map(|text| {
        serde_json::from_str(text).map_err(|e| {
            format!("--args is not valid JSON ({e}); quote it for the shell, e.g. --args '{{\"id\": 42}}'")
        })
    })
    .transpose()
}

/// An RFC 3339 instant.
pub(super) fn parse_instant(text: &str) -> Result<DateTime<Utc>, String> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            format!("`{text}` is not an RFC 3339 instant such as 2026-03-08T02:30:00Z ({e})")
        })
}
