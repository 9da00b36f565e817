//! The document-transfer service's HTTP API: a request for a transfer is recorded and its
//! job enqueued in one transaction, and its status reports the job's progress and result.
//!
//! | route | what |
//! |---|---|
//! | `POST /transfers` `{"source": "a.pdf", "destination": "2026/a.pdf"}` | records the request and enqueues the chain `transfer_document`, then `index_transfer`, in the same transaction; `201 {"transfer": 1, "task": "17"}` (the first step's task) |
//! | `GET /transfers/{id}` | the request, its task's state, progress, result and last error |
//!
//! The requests live in the runners' database (SQLite here), beside the job tables: a
//! request exists if and only if its task does. The job client comes from the runner crate
//! through [`TransferJobs`], which `job-runner`'s `transfer_api` example implements with
//! `Jobs::within`.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use job_core::{BoxFuture, JobClient, TaskId};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sqlx::{Row, SqliteConnection, SqlitePool};

use crate::ingest::IndexTransfer;
use crate::transfer::{TransferDocument, TransferRequest};

/// What the service needs of the job runner.
pub trait TransferJobs: Send + Sync + 'static {
    /// A client that stores tasks on `connection`, inside its transaction.
    fn within<'t>(&'t self, connection: &'t mut SqliteConnection) -> Box<dyn JobClient + 't>;

    /// Task `task`'s state, progress, result and last error; `None` when it is not stored.
    fn status<'a>(&'a self, task: &'a TaskId) -> BoxFuture<'a, Result<Option<TaskStatus>, String>>;
}

/// A task as the status route reports it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskStatus {
    /// `pending`, `running`, `succeeded`, `dead` or `cancelled`.
    pub state: String,
    /// The last progress the job reported.
    pub progress: Option<Value>,
    /// What the job returned, once it succeeded.
    pub result: Option<Value>,
    /// The last failure's message.
    pub error: Option<String>,
}

#[derive(Clone)]
struct Service {
    pool: SqlitePool,
    jobs: Arc<dyn TransferJobs>,
}

/// The API's routes, on the runners' database `pool`; creates its table if missing.
pub async fn router(pool: SqlitePool, jobs: Arc<dyn TransferJobs>) -> anyhow::Result<axum::Router> {
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS transfer_requests (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            source TEXT NOT NULL,
            destination TEXT NOT NULL,
            task_id TEXT NOT NULL,
            created_at TEXT NOT NULL
        )",
    )
    .execute(&pool)
    .await?;
    Ok(axum::Router::new()
        .route("/transfers", post(create))
        .route("/transfers/{id}", get(status))
        .with_state(Service { pool, jobs }))
}

/// An error answer: `{"error": "..."}` with its status.
struct Failure(StatusCode, String);

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn internal(what: &str, error: impl std::fmt::Display) -> Failure {
    Failure(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{what}: {error}"),
    )
}

async fn create(
    State(service): State<Service>,
    body: Result<Json<TransferRequest>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, Json<Value>), Failure> {
    let Json(request) = body.map_err(|rejection| {
        Failure(
            StatusCode::BAD_REQUEST,
            format!(
                "{rejection}; send {{\"source\": \"a.pdf\", \"destination\": \"2026/a.pdf\"}} with Content-Type: application/json"
            ),
        )
    })?;
    let mut tx = service
        .pool
        .begin()
        .await
        .map_err(|e| internal("cannot begin a transaction", e))?;
    let source = request.source.display().to_string();
    let destination = request.destination.display().to_string();
    // The task first, then the row that points at it: both commit, or neither. Once the
    // copy is verified, the chain's next step records its checksum in the document index.
    let task = {
        let client = service.jobs.within(&mut tx);
        TransferDocument::enqueue(&*client, request)
            .then::<IndexTransfer>()
            .await
            .map_err(|e| internal("cannot enqueue the transfer", e))?
    };
    let id: i64 = sqlx::query(
        "INSERT INTO transfer_requests (source, destination, task_id, created_at) \
         VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(&source)
    .bind(&destination)
    .bind(task.as_str())
    .bind(chrono::Utc::now().to_rfc3339())
    .fetch_one(&mut *tx)
    .await
    .and_then(|row| row.try_get(0))
    .map_err(|e| internal("cannot record the transfer", e))?;
    tx.commit()
        .await
        .map_err(|e| internal("cannot commit the transfer", e))?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "transfer": id, "task": task })),
    ))
}

async fn status(
    State(service): State<Service>,
    Path(id): Path<i64>,
) -> Result<Json<Value>, Failure> {
    let row =
        sqlx::query("SELECT source, destination, task_id FROM transfer_requests WHERE id = $1")
            .bind(id)
            .fetch_optional(&service.pool)
            .await
            .map_err(|e| internal("cannot read the transfer", e))?
            .ok_or_else(|| Failure(StatusCode::NOT_FOUND, format!("no transfer {id}")))?;
    let text = |column: &str| row.try_get::<String, _>(column).unwrap_or_default();
    let task = TaskId::new(text("task_id"));
    let status = service
        .jobs
        .status(&task)
        .await
        .map_err(|e| internal("cannot read the transfer's task", e))?;
    Ok(Json(json!({
        "transfer": id,
        "source": text("source"),
        "destination": text("destination"),
        "task": task,
        "state": status.as_ref().map(|s| s.state.clone()),
        "progress": status.as_ref().and_then(|s| s.progress.clone()),
        "result": status.as_ref().and_then(|s| s.result.clone()),
        "error": status.and_then(|s| s.error),
    })))
}
