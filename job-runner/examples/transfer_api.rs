//! The document-transfer service: an HTTP API beside the runners, on their database.
//!
//! ```sh
//! cargo run -p job-runner &                          # the runner, on jobs.db
//! cargo run -p job-runner --example transfer_api     # the API, on 127.0.0.1:8090
//! echo "quarterly figures" > transfers/inbox/q3.txt
//! curl -s -X POST localhost:8090/transfers -H 'content-type: application/json' \
//!      -d '{"source": "q3.txt", "destination": "2026/q3.txt"}'
//! curl -s localhost:8090/transfers/1
//! ```
//!
//! `POST /transfers` records the request and enqueues `transfer_document` in one
//! transaction; `GET /transfers/{id}` reports the task's state, progress and result. The
//! address is `EXAMPLES_HTTP_ADDR` (default `127.0.0.1:8090`); the database is the runners'
//! (`JOBS_DATABASE_URL`, or `jobs.toml`), which must be SQLite for this example.

use std::sync::Arc;

use anyhow::Context as _;
use examples::web::{TaskStatus, TransferJobs};
use job_core::{BoxFuture, JobClient, TaskEnd, TaskId};
use job_runner::storage::TaskState;
use job_runner::{Config, Jobs};

/// The runner's client, as the service needs it.
struct Runners(Jobs);

impl TransferJobs for Runners {
    fn within<'t>(&'t self, connection: &'t mut sqlx::SqliteConnection) -> Box<dyn JobClient + 't> {
        Box::new(self.0.within(connection))
    }

    fn status<'a>(&'a self, task: &'a TaskId) -> BoxFuture<'a, Result<Option<TaskStatus>, String>> {
        Box::pin(async move {
            let Some(row) = self.0.task(task).await.map_err(|e| e.to_string())? else {
                return Ok(None);
            };
            let result = match row.state {
                TaskState::Succeeded => match self.0.task_end(task).await {
                    Ok(Some(TaskEnd::Succeeded { result })) => result,
                    Ok(_) => None,
                    Err(e) => return Err(e.to_string()),
                },
                _ => None,
            };
            Ok(Some(TaskStatus {
                state: row.state.to_string(),
                progress: row.progress,
                result,
                error: row.last_error,
            }))
        })
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load(None, &job_runner::config::process_env)?;
    anyhow::ensure!(
        config.database_url.starts_with("sqlite:"),
        "this example keeps its requests in the runners' SQLite database, and JOBS_DATABASE_URL names another backend; unset it to use jobs.db"
    );
    let pool = sqlx::SqlitePool::connect(&config.database_url)
        .await
        .with_context(|| format!("cannot open {}", config.database_url))?;
    let jobs = Jobs::connect(config).await?;
    let app = examples::web::router(pool, Arc::new(Runners(jobs))).await?;
    let addr = std::env::var("EXAMPLES_HTTP_ADDR").unwrap_or_else(|_| "127.0.0.1:8090".into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| {
            format!("cannot listen on {addr}; set EXAMPLES_HTTP_ADDR to a free address")
        })?;
    println!("transfer API listening on http://{addr}");
    axum::serve(listener, app).await?;
    Ok(())
}
