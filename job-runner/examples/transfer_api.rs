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
//! `POST /transfers` records the request and enqueues the chain `transfer_document`, then
//! `index_transfer`, in one transaction; `GET /transfers/{id}` reports the task's state,
//! progress and result. The address is `EXAMPLES_HTTP_ADDR` (default `127.0.0.1:8090`); the
//! database is the runners' (`JOBS_DATABASE_URL`, or `jobs.toml`), which must be SQLite for
//! this example.
//!
//! Traces: with export configured as for the runner (`[telemetry]` in `jobs.toml`, or
//! `OTEL_EXPORTER_OTLP_ENDPOINT`), each request has a span (continuing the caller's trace
//! when it sends a `traceparent` header), its enqueue a child span, and the runners'
//! attempts of both steps of the chain go on in the same trace:
//!
//! ```sh
//! export OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318   # a collector, e.g. Jaeger
//! cargo run -p job-runner & cargo run -p job-runner --example transfer_api
//! ```

use std::sync::Arc;

use anyhow::Context as _;
use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;
use examples::web::{TaskStatus, TransferJobs};
use job_core::{BoxFuture, JobClient, TaskEnd, TaskId};
use job_runner::storage::TaskState;
use job_runner::{Config, Jobs, Telemetry};
use tracing::Instrument;

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

/// Each request in a span of its own, a child of the caller's span when the request
/// carries W3C trace headers: the jobs it enqueues continue that trace.
async fn traced(request: Request, next: Next) -> Response {
    let span = request_span(&request);
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

/// The span of `request`, continuing the trace its headers name.
fn request_span(request: &Request) -> tracing::Span {
    let span = tracing::info_span!(
        "request",
        otel.name = format!("{} {}", request.method(), request.uri().path()),
        otel.kind = "server",
        http.request.method = %request.method(),
        url.path = request.uri().path(),
        http.response.status_code = tracing::field::Empty,
    );
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|value| value.to_str().ok())
    };
    job_runner::telemetry::continue_trace(&span, header("traceparent"), header("tracestate"));
    span
}

/// Resolves at SIGINT or SIGTERM.
async fn stop_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::load(None, &job_runner::config::process_env)?;
    let telemetry = Telemetry::start(&config.telemetry, tokio::runtime::Handle::current())?;
    job_runner::telemetry::init_tracing(telemetry.as_ref());
    anyhow::ensure!(
        config.database_url.starts_with("sqlite:"),
        "this example keeps its requests in the runners' SQLite database, and JOBS_DATABASE_URL names another backend; unset it to use jobs.db"
    );
    let pool = sqlx::SqlitePool::connect(&config.database_url)
        .await
        .with_context(|| format!("cannot open {}", config.database_url))?;
    let jobs = Jobs::connect(config).await?;
    let app = examples::web::router(pool, Arc::new(Runners(jobs)))
        .await?
        .layer(axum::middleware::from_fn(traced));
    let addr = std::env::var("EXAMPLES_HTTP_ADDR").unwrap_or_else(|_| "127.0.0.1:8090".into());
    let listener = tokio::net::TcpListener::bind(&addr)
        .await
        .with_context(|| {
            format!("cannot listen on {addr}; set EXAMPLES_HTTP_ADDR to a free address")
        })?;
    println!("transfer API listening on http://{addr}");
    axum::serve(listener, app)
        .with_graceful_shutdown(stop_signal())
        .await?;
    // The last spans are sent before the process exits.
    if let Some(telemetry) = telemetry {
        telemetry.shutdown().await;
    }
    Ok(())
}
