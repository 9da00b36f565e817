//! The suite's own connection to an iteration's database: it enqueues the workload through
//! the library's client, pauses the cron schedule before the drain, and reads every table
//! back for the invariants.

use std::collections::BTreeSet;
use std::sync::Arc;

use job_core::{EnqueueRequest, JobClient};
use job_runner::storage::{
    EventRow, Execution, ExecutionFilter, Store, TaskFilter, TaskRow, TaskState,
};
use sqlx::Connection;

use crate::support::Backend;

/// Rows read per page.
const PAGE: u32 = 1000;

/// An open client on one database.
pub struct Database {
    runtime: tokio::runtime::Runtime,
    jobs: job_runner::Jobs,
    url: String,
    backend: Backend,
}

impl Database {
    /// Opens (and migrates) the database at `url`.
    pub fn open(url: &str, backend: Backend) -> Database {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime");
        let jobs = runtime.block_on(async {
            let store = Store::connect(url, &Default::default())
                .await
                .unwrap_or_else(|e| panic!("open {url}: {e}"));
            store.migrate().await.expect("migrate the database");
            let registry = job_core::Registry::from_linked().expect("the test jobs");
            let plan = job_runner::plan::Plan::new(registry, &job_runner::Config::default())
                .expect("a plan");
            job_runner::Jobs::new(store, Arc::new(plan), job_core::Clock::system())
        });
        Database {
            runtime,
            jobs,
            url: url.to_owned(),
            backend,
        }
    }

    fn store(&self) -> &Store {
        self.jobs.store()
    }

    /// Stores tasks, all or none; returns their ids.
    pub fn enqueue(&self, requests: Vec<EnqueueRequest>) -> Result<Vec<i64>, String> {
        let stored = self
            .runtime
            .block_on(self.jobs.enqueue_many(requests))
            .map_err(|e| e.to_string())?;
        Ok(stored
            .into_iter()
            .map(|e| e.id.as_str().parse().expect("a numeric task id"))
            .collect())
    }

    /// Stops the ticks of a schedule (its tasks still run).
    pub fn pause_schedule(&self, id: &str) -> Result<(), String> {
        self.runtime
            .block_on(
                self.store()
                    .set_schedule_enabled(id, false, chrono::Utc::now()),
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    /// The last tick of the unbroken run of ticks a schedule has taken from its first, and
    /// the latest tick taken, in unix milliseconds: every tick up to the first is taken
    /// (`step_ms` apart). A runner that started on a clock ahead takes later ticks before
    /// the others have taken the ticks in between, which are past the edge until they are.
    pub fn tick_edge(&self, schedule: &str, step_ms: i64) -> Option<(i64, i64)> {
        let ticks = self.try_ticks(schedule).ok()?;
        let mut edge = ticks.first()?.0;
        for &(tick, _) in &ticks[1..] {
            if tick != edge + step_ms {
                break;
            }
            edge = tick;
        }
        Some((edge, ticks.last()?.0))
    }

    /// How many tasks are pending or running.
    pub fn unfinished(&self) -> Result<usize, String> {
        let mut count = 0;
        for state in [TaskState::Pending, TaskState::Running] {
            let filter = TaskFilter {
                state: Some(state),
                limit: PAGE,
                ..Default::default()
            };
            count += self
                .runtime
                .block_on(self.store().tasks(&filter))
                .map_err(|e| e.to_string())?
                .len();
        }
        Ok(count)
    }

    /// The process ids of the runners running attempts now (a runner's id is
    /// `host-pid-random`).
    pub fn busy_runners(&self) -> BTreeSet<u32> {
        let filter = TaskFilter {
            state: Some(TaskState::Running),
            limit: PAGE,
            ..Default::default()
        };
        let running = self
            .runtime
            .block_on(self.store().tasks(&filter))
            .unwrap_or_default();
        running
            .iter()
            .filter_map(|t| t.locked_by.as_deref()?.rsplit('-').nth(1)?.parse().ok())
            .collect()
    }

    /// Every task, oldest first.
    pub fn tasks(&self) -> Vec<TaskRow> {
        let mut all = Vec::new();
        let mut before_id = None;
        loop {
            let filter = TaskFilter {
                before_id,
                limit: PAGE,
                ..Default::default()
            };
            let page = self
                .runtime
                .block_on(self.store().tasks(&filter))
                .expect("read the tasks");
            before_id = page.last().map(|t| t.id);
            let done = page.len() < PAGE as usize;
            all.extend(page);
            if done {
                break;
            }
        }
        all.reverse();
        all
    }

    /// Every history row, oldest first.
    pub fn executions(&self) -> Vec<Execution> {
        let mut all = Vec::new();
        let mut before_id = None;
        loop {
            let filter = ExecutionFilter {
                before_id,
                limit: PAGE,
                ..Default::default()
            };
            let page = self
                .runtime
                .block_on(self.store().executions(&filter))
                .expect("read the history");
            before_id = page.last().map(|e| e.id);
            let done = page.len() < PAGE as usize;
            all.extend(page);
            if done {
                break;
            }
        }
        all.reverse();
        all
    }

    /// Every event taken.
    pub fn events(&self) -> Result<Vec<EventRow>, String> {
        self.runtime
            .block_on(self.store().events(u32::MAX))
            .map_err(|e| e.to_string())
    }

    /// Every tick taken of a schedule, in unix milliseconds, with its task; the storage
    /// lists only the latest, so this reads the table.
    pub fn ticks(&self, schedule: &str) -> Vec<(i64, Option<i64>)> {
        self.try_ticks(schedule).expect("read the ticks")
    }

    fn try_ticks(&self, schedule: &str) -> Result<Vec<(i64, Option<i64>)>, sqlx::Error> {
        const SQL: &str =
            "SELECT tick_at, task_id FROM jobs_ticks WHERE schedule_id = $1 ORDER BY tick_at";
        self.runtime.block_on(async {
            match self.backend {
                Backend::Sqlite => {
                    let mut connection = sqlx::SqliteConnection::connect(&self.url).await?;
                    let ticks = sqlx::query_as(SQL)
                        .bind(schedule)
                        .fetch_all(&mut connection)
                        .await;
                    let _ = connection.close().await;
                    ticks
                }
                Backend::Postgres => {
                    let mut connection = sqlx::PgConnection::connect(&self.url).await?;
                    let ticks = sqlx::query_as(SQL)
                        .bind(schedule)
                        .fetch_all(&mut connection)
                        .await;
                    let _ = connection.close().await;
                    ticks
                }
            }
        })
    }

    /// Closes the connections.
    pub fn close(self) {
        self.runtime.block_on(self.jobs.store().close());
    }
}
