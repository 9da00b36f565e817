//! The JSON API: jobs, executions, tasks, controls, metrics, the OpenAPI document.

use crate::schedule_control::{ScheduleChange, ScheduleSpec, ScheduleStatus};
use crate::storage::ScheduleRow;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router, middleware};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::AppState;
use super::auth::require_api_auth;
use super::error::ApiError;
use super::query::ApiQuery;
use super::{limits, overview};
use crate::control::JobStatus;
use crate::storage::{Execution, ExecutionFilter, ExecutionStatus, TaskRow};

/// Most items a page holds.
const MAX_LIMIT: u32 = 1000;

pub(super) fn routes(state: AppState) -> Router<AppState> {
    let protected = Router::new()
        .route("/api/jobs", get(list_jobs))
        .route("/api/jobs/{name}", get(get_job))
        .route("/api/jobs/{name}/trigger", post(trigger))
        .route("/api/jobs/{name}/pause", post(pause))
        .route("/api/jobs/{name}/resume", post(resume))
        .route("/api/executions", get(executions))
        .route("/api/tasks/{id}", get(get_task))
        .route("/api/tasks/{id}/retry", post(retry))
        .route("/api/tasks/{id}/cancel", post(cancel))
        .route("/api/schedules", get(list_schedules).post(add_schedule))
        .route(
            "/api/schedules/{id}",
            get(get_schedule)
                .patch(change_schedule)
                .delete(remove_schedule),
        )
        .route("/api/schedules/{id}/pause", post(pause_schedule))
        .route("/api/schedules/{id}/resume", post(resume_schedule))
        .route("/api/limits", get(limits::list_limits))
        .route(
            "/api/jobs/{name}/limits",
            get(limits::get_limits)
                .put(limits::set_limits)
                .delete(limits::clear_limits),
        )
        .route("/api/queues/limits", get(limits::list_queue_limits))
        .route(
            "/api/queues/{name}/limits",
            get(limits::get_queue_limit)
                .put(limits::set_queue_limit)
                .delete(limits::clear_queue_limit),
        )
        .route("/api/overview", get(overview::overview))
        .route("/api/queues", get(overview::list_queues))
        .route("/api/queues/{name}/pause", post(overview::pause_queue))
        .route("/api/queues/{name}/resume", post(overview::resume_queue))
        .route("/api/runners", get(overview::runners))
        .route("/api/events", get(overview::events))
        .merge(super::tasks::routes())
        .route("/api/openapi.json", get(openapi))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(state, require_api_auth));
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .merge(protected)
}

async fn healthz() -> &'static str {
    "ok"
}

/// Ready or not, and nothing more: the route is public, and a database error names hosts,
/// users and files. The error goes to the runner's log.
async fn readyz(State(state): State<AppState>) -> Response {
    match state.control.ping().await {
        Ok(()) => "ready".into_response(),
        Err(error) => {
            tracing::warn!(%error, "not ready: the database does not answer");
            (StatusCode::SERVICE_UNAVAILABLE, "not ready").into_response()
        }
    }
}

async fn list_jobs(State(state): State<AppState>) -> Result<Json<Vec<JobStatus>>, ApiError> {
    Ok(Json(state.control.jobs().await?))
}

async fn get_job(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<JobStatus>, ApiError> {
    let jobs = state.control.jobs().await?;
    jobs.into_iter()
        .find(|j| j.name == name)
        .map(Json)
        .ok_or_else(|| crate::control::ControlError::UnknownJob(name).into())
}

/// The body of a trigger: `{"args": ...}`, or nothing for a job that takes no arguments.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TriggerBody {
    #[serde(default)]
    args: Option<serde_json::Value>,
}

async fn trigger(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<TaskRow>), ApiError> {
    let body = body.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            format!(
                "{}; the body of a trigger may hold at most {} KiB",
                rejection.body_text(),
                super::BODY_LIMIT / 1024
            ),
        )
    })?;
    let body: TriggerBody = if body.iter().all(u8::is_ascii_whitespace) {
        TriggerBody::default()
    } else {
        serde_json::from_slice(&body).map_err(|e| {
            ApiError::bad_request(format!(
                "the body is not valid: {e}; send a JSON object such as {{\"args\": {{...}}}}, or no body for a job without arguments"
            ))
        })?
    };
    let task = state.control.trigger(&name, body.args).await?;
    Ok((StatusCode::CREATED, Json(task)))
}

#[derive(Serialize)]
struct Changed {
    job: String,
    paused: bool,
    changed: bool,
}

async fn pause(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Changed>, ApiError> {
    let changed = state.control.pause(&name).await?;
    Ok(Json(Changed {
        job: name,
        paused: true,
        changed,
    }))
}

async fn resume(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Changed>, ApiError> {
    let changed = state.control.resume(&name).await?;
    Ok(Json(Changed {
        job: name,
        paused: false,
        changed,
    }))
}

/// One page of a listing, newest first; pass `next_cursor` as `cursor` for the next page.
#[derive(Serialize)]
pub(super) struct Page<T> {
    items: Vec<T>,
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ExecutionQuery {
    job: Option<String>,
    status: Option<String>,
    task: Option<i64>,
    since: Option<String>,
    until: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

pub(super) fn instant(text: Option<&str>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    text.map(|text| {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "`{name}` must be an RFC 3339 instant such as 2026-11-28T00:00:00Z ({e})"
                ))
            })
    })
    .transpose()
}

pub(super) fn cursor(text: Option<&str>) -> Result<Option<i64>, ApiError> {
    text.map(|text| {
        text.parse::<i64>().map_err(|_| {
            ApiError::bad_request("`cursor` must be the `next_cursor` of a previous page")
        })
    })
    .transpose()
}

pub(super) fn limit(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit.unwrap_or(50) {
        0 => Err(ApiError::bad_request("`limit` must be at least 1")),
        n if n > MAX_LIMIT => Err(ApiError::bad_request(format!(
            "`limit` must be at most {MAX_LIMIT}"
        ))),
        n => Ok(n),
    }
}

pub(super) fn page<T>(items: Vec<T>, limit: u32, id: impl Fn(&T) -> i64) -> Page<T> {
    let next_cursor = (items.len() == limit as usize)
        .then(|| items.last().map(|last| id(last).to_string()))
        .flatten();
    Page { items, next_cursor }
}

async fn executions(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<ExecutionQuery>,
) -> Result<Json<Page<Execution>>, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(|s| {
            ExecutionStatus::from_name(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown status `{s}`; use one of {}",
                    ExecutionStatus::ALL.map(|s| s.as_str()).join(", ")
                ))
            })
        })
        .transpose()?;
    let limit = limit(q.limit)?;
    let filter = ExecutionFilter {
        job: q.job,
        status,
        task_id: q.task,
        since: instant(q.since.as_deref(), "since")?,
        until: instant(q.until.as_deref(), "until")?,
        before_id: cursor(q.cursor.as_deref())?,
        limit,
    };
    let rows = state.control.history(&filter).await?;
    Ok(Json(page(rows, limit, |e| e.id)))
}

pub(super) fn task_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| {
        ApiError::bad_request(format!(
            "`{id}` is not a task id: task ids are whole numbers"
        ))
    })
}

async fn get_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TaskRow>, ApiError> {
    Ok(Json(state.control.task(task_id(&id)?).await?))
}

async fn retry(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TaskRow>, ApiError> {
    Ok(Json(state.control.retry(task_id(&id)?).await?))
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TaskRow>, ApiError> {
    Ok(Json(state.control.cancel(task_id(&id)?).await?))
}

async fn openapi() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        super::openapi::DOCUMENT,
    )
        .into_response()
}

async fn metrics(State(state): State<AppState>) -> Result<Response, ApiError> {
    let text = state.control.metrics().await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], text).into_response())
}

/// A JSON body, or a 400 that says what is wrong with it.
pub(super) fn json_body<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    example: &str,
) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            format!(
                "{}; a body may hold at most {} KiB",
                rejection.body_text(),
                super::BODY_LIMIT / 1024
            ),
        )
    })?;
    serde_json::from_slice(&body).map_err(|e| {
        ApiError::bad_request(format!(
            "the body is not valid: {e}; send a JSON object such as {example}"
        ))
    })
}

/// The body that adds a schedule: its id and what it does.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct NewSchedule {
    id: String,
    job: String,
    #[serde(default)]
    cron: Option<String>,
    #[serde(default)]
    every: Option<String>,
    #[serde(default)]
    timezone: Option<String>,
    #[serde(default)]
    args: serde_json::Value,
    #[serde(default)]
    catch_up: Option<String>,
}

const SCHEDULE_EXAMPLE: &str = r#"{"id": "report-acme", "job": "build_report", "cron": "0 7 * * MON-FRI", "timezone": "Europe/Paris", "args": {"customer": 42}}"#;

async fn list_schedules(
    State(state): State<AppState>,
) -> Result<Json<Vec<ScheduleStatus>>, ApiError> {
    Ok(Json(state.control.client().schedules().list().await?))
}

async fn add_schedule(
    State(state): State<AppState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ScheduleRow>), ApiError> {
    let new: NewSchedule = json_body(body, SCHEDULE_EXAMPLE)?;
    let spec = ScheduleSpec {
        job: new.job,
        cron: new.cron,
        every: new.every,
        timezone: new.timezone,
        args: new.args,
        catch_up: new.catch_up,
    };
    let row = state
        .control
        .client()
        .schedules()
        .add(&new.id, spec)
        .await?;
    Ok((StatusCode::CREATED, Json(row)))
}

async fn get_schedule(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleStatus>, ApiError> {
    Ok(Json(state.control.client().schedules().get(&id).await?))
}

async fn change_schedule(
    State(state): State<AppState>,
    Path(id): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<ScheduleRow>, ApiError> {
    let change: ScheduleChange = json_body(body, r#"{"cron": "0 8 * * *"}"#)?;
    Ok(Json(
        state.control.client().schedules().set(&id, change).await?,
    ))
}

async fn remove_schedule(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.control.client().schedules().remove(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn pause_schedule(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleRow>, ApiError> {
    Ok(Json(state.control.client().schedules().pause(&id).await?))
}

async fn resume_schedule(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleRow>, ApiError> {
    Ok(Json(state.control.client().schedules().resume(&id).await?))
}

#[cfg(test)]
mod tests {
    use axum::extract::State;
    use axum::http::StatusCode;

    use super::readyz;
    use crate::admin::tests::state_over;

    async fn body(response: axum::response::Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .expect("a short body");
        String::from_utf8_lossy(&bytes).into_owned()
    }

    #[tokio::test]
    async fn readiness_says_ready_or_not_and_no_more() {
        let dir = tempfile::tempdir().unwrap();
        let (state, store) = state_over(&dir.path().join("jobs.db")).await;
        let response = readyz(State(state.clone())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(body(response).await, "ready");

        store.close().await;
        let response = readyz(State(state)).await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(body(response).await, "not ready");
    }
}
