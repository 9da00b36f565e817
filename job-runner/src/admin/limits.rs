//! The API of flow control: each job's and queue's limits and what they hold back; limits
//! set at run time (registered with the other protected routes in `api.rs`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use job_core::Rate;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::api::json_body;
use super::error::ApiError;
use crate::limit_control::{JobLimits, QueueLimits};

const LIMITS_EXAMPLE: &str = r#"{"limit": 5, "rate": "100/1m"}"#;
const QUEUE_LIMIT_EXAMPLE: &str = r#"{"limit": 10}"#;

/// The limits to set: both replace the job's own; an absent one means none of that kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsBody {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    rate: Option<String>,
}

/// A queue's limit to set: it replaces the configured one; absent means no limit.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct QueueLimitBody {
    #[serde(default)]
    limit: Option<u32>,
}

#[derive(Serialize)]
pub(super) struct Cleared {
    job: String,
    cleared: bool,
}

#[derive(Serialize)]
pub(super) struct QueueCleared {
    queue: String,
    cleared: bool,
}

pub(super) async fn list_limits(
    State(state): State<AppState>,
) -> Result<Json<Vec<JobLimits>>, ApiError> {
    Ok(Json(state.control.limits().await?))
}

pub(super) async fn get_limits(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<JobLimits>, ApiError> {
    Ok(Json(state.control.job_limits(&name).await?))
}

pub(super) async fn set_limits(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<JobLimits>, ApiError> {
    let body: LimitsBody = json_body(body, LIMITS_EXAMPLE)?;
    let rate = body
        .rate
        .as_deref()
        .map(Rate::parse)
        .transpose()
        .map_err(|e| ApiError::bad_request(format!("`rate`: {e}; write it as \"100/1m\"")))?;
    Ok(Json(
        state.control.set_limits(&name, body.limit, rate).await?,
    ))
}

pub(super) async fn clear_limits(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Cleared>, ApiError> {
    let cleared = state.control.clear_limits(&name).await?;
    Ok(Json(Cleared { job: name, cleared }))
}

pub(super) async fn list_queue_limits(
    State(state): State<AppState>,
) -> Result<Json<Vec<QueueLimits>>, ApiError> {
    Ok(Json(state.control.queue_limits().await?))
}

pub(super) async fn get_queue_limit(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<QueueLimits>, ApiError> {
    Ok(Json(state.control.queue_limit(&name).await?))
}

pub(super) async fn set_queue_limit(
    State(state): State<AppState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<QueueLimits>, ApiError> {
    let body: QueueLimitBody = json_body(body, QUEUE_LIMIT_EXAMPLE)?;
    Ok(Json(
        state.control.set_queue_limit(&name, body.limit).await?,
    ))
}

pub(super) async fn clear_queue_limit(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<QueueCleared>, ApiError> {
    let cleared = state.control.clear_queue_limit(&name).await?;
    Ok(Json(QueueCleared {
        queue: name,
        cleared,
    }))
}
