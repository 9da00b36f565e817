//! The driver conformance suite: what every backend must do, run against each one.
//!
//! Every method of the driver's traits (`job_runner::storage::driver`) is called here;
//! `every_driver_method_is_tested` fails when one is not, so a backend that passes this
//! suite implements the whole interface.

use std::collections::HashSet;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use job_core::{Event, Trigger};
use job_runner::storage::{
    Announcement, Backend, Completion, EventOutcome, Execution, ExecutionFilter, ExecutionStatus,
    FailedAttempt, KnownJob, LimitOverride, Limits, Listener, NewExecution, NewTask, QueueLimit,
    RetryPolicy, RunnerRow, ScheduleRow, Store, TakenTick, TaskFilter, TaskState, TickOutcome,
    TickTask, Transition,
};

#[path = "../backends/mod.rs"]
mod backends;
mod bulk;
mod claims;
mod completions;
mod controls;
mod driver;
mod events;
mod flow;
mod history;
mod inserts;
mod migrations;
mod overview;
mod reads;
mod retention;
mod runners;
mod running;
mod schedules;
mod ticks;
mod upkeep;

fn task(job: &str, run_at: DateTime<Utc>) -> NewTask {
    NewTask {
        job: job.into(),
        queue: "default".into(),
        args: r#"{"n":1}"#.into(),
        priority: 0,
        run_at,
        scheduled_at: run_at,
        max_attempts: 3,
        trigger: Trigger::Enqueue,
        unique_key: None,
        unique_for: std::time::Duration::ZERO,
        partition_key: None,
        exclusive: false,
        then: Vec::new(),
        trace_context: None,
    }
}

fn runner(id: &str, at: DateTime<Utc>) -> RunnerRow {
    RunnerRow {
        id: id.into(),
        host: "test".into(),
        pid: 1,
        queues: String::new(),
        started_at: at,
        heartbeat_at: at,
    }
}

fn execution(
    task_id: i64,
    attempt: u32,
    status: ExecutionStatus,
    at: DateTime<Utc>,
) -> NewExecution {
    NewExecution {
        task_id,
        job: "a".into(),
        attempt,
        trigger: Trigger::Enqueue,
        scheduled_at: at,
        started_at: at,
        finished_at: at + TimeDelta::milliseconds(5),
        status,
        error: (status != ExecutionStatus::Succeeded).then(|| "boom".to_owned()),
        records_processed: Some(2),
        runner_id: "r1".into(),
        chain_id: None,
        chain_step: None,
        result: (status == ExecutionStatus::Succeeded).then(|| format!("{{\"task\":{task_id}}}")),
        progress: Some(r#"{"done":2,"total":2}"#.to_owned()),
    }
}

/// The newest history rows, newest first.
async fn history(store: &Store) -> Vec<Execution> {
    store
        .executions(&ExecutionFilter {
            limit: 10,
            ..ExecutionFilter::default()
        })
        .await
        .expect("history")
}

/// A retry policy that runs a task again at once while it has attempts left.
struct AtOnce;

impl RetryPolicy for AtOnce {
    fn retry_at(&self, failed: &FailedAttempt<'_>) -> Option<DateTime<Utc>> {
        (!failed.error.is_permanent() && failed.attempt < failed.max_attempts).then_some(failed.at)
    }
}

async fn each_backend(test: impl AsyncFn(Store, DateTime<Utc>)) {
    for backend in backends::stores().await {
        eprintln!("backend: {}", backend.name);
        // Whole milliseconds, as stored.
        let now = DateTime::from_timestamp_millis(Utc::now().timestamp_millis()).expect("now");
        test(backend.store.clone(), now).await;
        backend.cleanup().await;
    }
}

/// A connection of the test's own to a PostgreSQL store's schema.
async fn postgres(store: &Store) -> sqlx::PgConnection {
    <sqlx::PgConnection as sqlx::Connection>::connect(&store.display_url())
        .await
        .expect("connect")
}
