//! Tasks in bulk and in depth: counts and actions on everything a filter matches, a
//! task's links (its chain, the tick or event that started it), and the pulse of the
//! whole table that the console's live updates watch.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::{TaskFilter, TaskState};

/// How many ids a bulk action changes per statement (and per transaction): a batch never
/// holds its locks for long.
pub const BULK_BATCH: u32 = 500;

/// What a bulk action does to each task it matches.
pub enum BulkAction<'a> {
    /// Dead and cancelled tasks become pending again, due now, as
    /// [`Controls::retry`](super::Controls::retry) does for one: each with the number of
    /// extra attempts this function gives for its job.
    Retry {
        /// The extra attempts of a task of this job.
        extra_attempts: &'a (dyn Fn(&str) -> u32 + Sync),
    },
    /// Pending tasks are cancelled (with a `cancelled` history row whose runner is
    /// `runner`), running ones asked to stop, as [`Controls::cancel`](super::Controls::cancel)
    /// does for one.
    Cancel {
        /// Recorded as the runner of the history rows (`cli`, `api`).
        runner: &'a str,
    },
    /// Finished tasks (succeeded, dead, cancelled) are deleted and the uniqueness keys they
    /// hold released; their history rows stay. A pending or running task is never deleted.
    Delete,
}

impl BulkAction<'_> {
    /// The action's name: `retry`, `cancel` or `delete`.
    pub fn name(&self) -> &'static str {
        match self {
            BulkAction::Retry { .. } => "retry",
            BulkAction::Cancel { .. } => "cancel",
            BulkAction::Delete => "delete",
        }
    }
}

impl fmt::Debug for BulkAction<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BulkAction::Cancel { runner } => write!(f, "Cancel {{ runner: {runner:?} }}"),
            other => f.write_str(other.name()),
        }
    }
}

/// What a bulk action did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct BulkOutcome {
    /// Tasks that matched the filter, up to the snapshot's id.
    pub matched: u64,
    /// Tasks the action changed.
    pub applied: u64,
    /// Tasks it left alone: in a state where the action makes no sense (perhaps changed
    /// meanwhile).
    pub skipped: u64,
}

impl BulkOutcome {
    /// Counts a batch: `matched` tasks, of which `applied` were changed.
    pub(crate) fn add(&mut self, matched: usize, applied: u64) {
        self.matched += matched as u64;
        self.applied += applied;
        self.skipped += (matched as u64).saturating_sub(applied);
    }
}

/// The filter of a bulk action bounded by `up_to_id`: the tasks it matches at most up to
/// that id (and below the filter's own cursor).
pub(crate) fn up_to(filter: &TaskFilter, up_to_id: i64) -> TaskFilter {
    let past = up_to_id.saturating_add(1);
    TaskFilter {
        before_id: Some(filter.before_id.map_or(past, |before| before.min(past))),
        ..filter.clone()
    }
}

/// How many tasks a filter matches now.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct TaskCount {
    /// The number of matching tasks.
    pub count: u64,
    /// The highest matching id: a bulk action bounded by it never touches a task stored
    /// later.
    pub up_to_id: Option<i64>,
}

/// One step of a chain, for a task's page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainStep {
    /// The step's task.
    pub task_id: i64,
    /// The step's number, 1 for the first.
    pub step: i64,
    /// Its job.
    pub job: String,
    /// Its state.
    pub state: TaskState,
}

/// What links a task to the rest: its chain, and the tick or event that stored it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TaskLinks {
    /// Every stored step of the task's chain, first step first (empty for a task that is
    /// no step of a chain).
    pub chain: Vec<ChainStep>,
    /// The cron tick that stored it: the schedule's id and the tick's instant.
    pub tick: Option<(String, DateTime<Utc>)>,
    /// The event that stored it: the source and the event's id.
    pub event: Option<(String, String)>,
}

/// The state of the whole task table in a few numbers, cheap to read every second: the
/// console's live updates send it again when it changes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pulse {
    /// Tasks per state, succeeded ones left out (states with none are absent).
    pub counts: Vec<(TaskState, i64)>,
    /// The id of the latest history row.
    pub latest_execution_id: Option<i64>,
    /// The paused queues, by name.
    pub paused_queues: Vec<String>,
}

/// A value bound to a filter's statement.
pub(crate) enum Bind {
    Text(String),
    Int(i64),
}

/// `query` with `binds` bound in order.
pub(crate) fn bind_all<'q, DB: sqlx::Database>(
    mut query: sqlx::query::Query<'q, DB, DB::Arguments>,
    binds: Vec<Bind>,
) -> sqlx::query::Query<'q, DB, DB::Arguments>
where
    for<'t> String: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    for bind in binds {
        query = match bind {
            Bind::Text(text) => query.bind(text),
            Bind::Int(n) => query.bind(n),
        };
    }
    query
}

/// The conditions of `filter` (its cursor included, not its limit), as SQL that both backends
/// read alike, with the values to bind from `$first` on in order. Only the conditions the
/// filter sets are written, so that each listing is planned for what it asks.
///
/// A listing reads the newest first through the primary key, except for a text search within
/// one state (see [`listing_order`]).
///
/// `state_unindexed` writes the state's condition so that SQLite does not read it through
/// the state index (`+state`): a page of the newest tasks then reads the primary key
/// backwards and stops at the page's end, instead of sorting every task of the state
/// (100,000 pending ones take 90 ms to sort, a page 1 ms to read). Counts leave it off.
/// How a listing of `filter` orders its tasks (newest first), and whether SQLite may read
/// its state through the state index: the primary key read backwards, stopping at the page's
/// end, except for a text search within one state. A search that finds nothing would read
/// the whole table along the primary key (a million finished tasks: 100-200 ms); it reads
/// that state's tasks through the state index instead, and sorts those that match
/// (`+id`: an expression, which neither backend orders by through an index).
pub(crate) fn listing_order(filter: &TaskFilter) -> (&'static str, bool) {
    if filter.text.is_some() && filter.state.is_some() {
        ("+id DESC", false)
    } else {
        ("id DESC", true)
    }
}

pub(crate) fn task_conditions(
    filter: &TaskFilter,
    first: usize,
    state_unindexed: bool,
) -> (String, Vec<Bind>) {
    let mut conditions = vec!["TRUE".to_owned()];
    let mut binds = Vec::new();
    let mut add = |condition: &str, bind: Bind| {
        binds.push(bind);
        conditions.push(condition.replace('?', &format!("${}", first + binds.len() - 1)));
    };
    if let Some(before) = filter.before_id {
        add("id < ?", Bind::Int(before));
    }
    if let Some(state) = filter.state {
        let column = if state_unindexed { "+state" } else { "state" };
        add(
            &format!("{column} = ?"),
            Bind::Text(state.as_str().to_owned()),
        );
    }
    if let Some(queue) = &filter.queue {
        add("queue = ?", Bind::Text(queue.clone()));
    }
    if let Some(job) = &filter.job {
        add("job = ?", Bind::Text(job.clone()));
    }
    // The last change: when it finished for a finished task, else when it was stored. With
    // a state, the column itself (a finished task always has its `finished_at`, a pending or
    // running one never does), so that the finished tasks' index can serve a range.
    let last_change = match filter.state {
        None => "COALESCE(finished_at, created_at)",
        Some(TaskState::Pending | TaskState::Running) => "created_at",
        Some(TaskState::Succeeded | TaskState::Dead | TaskState::Cancelled) => "finished_at",
    };
    if let Some(since) = filter.since {
        add(
            &format!("{last_change} >= ?"),
            Bind::Int(since.timestamp_millis()),
        );
    }
    if let Some(until) = filter.until {
        add(
            &format!("{last_change} < ?"),
            Bind::Int(until.timestamp_millis()),
        );
    }
    if let Some(text) = &filter.text {
        add(
            "lower(args) LIKE ? ESCAPE '\\'",
            Bind::Text(like_pattern(text)),
        );
    }
    (conditions.join(" AND "), binds)
}

/// A LIKE pattern that finds `text` anywhere, lower-cased, its wildcards escaped.
fn like_pattern(text: &str) -> String {
    let mut pattern = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_conditions_set_are_written_numbered_from_first() {
        let (sql, binds) = task_conditions(&TaskFilter::default(), 1, false);
        assert_eq!((sql.as_str(), binds.len()), ("TRUE", 0));
        let filter = TaskFilter {
            job: Some("a".into()),
            text: Some("50%_Off".into()),
            ..TaskFilter::default()
        };
        let (sql, binds) = task_conditions(&filter, 3, false);
        assert_eq!(sql, "TRUE AND job = $3 AND lower(args) LIKE $4 ESCAPE '\\'");
        assert!(matches!(&binds[1], Bind::Text(p) if p == "%50\\%\\_off%"));
    }
}
