//! The API of flow control: each job's limits and what they hold back; limits set at run
//! time (registered with the other protected routes in `api.rs`).

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use job_core::Rate;
use serde::{Deserialize, Serialize};

use super::AppState;
use super::api::json_body;
use super::error::ApiError;
use crate::limit_control::JobLimits;

const LIMITS_EXAMPLE: &str = r#"{"limit": 5, "rate": "100/1m"}"#;

/// The limits to set: both replace the job's own; an absent one means none of that kind.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsBody {
    #[serde(default)]
    limit: Option<u32>,
    #[serde(default)]
    rate: Option<String>,
}

#[derive(Serialize)]
pub(super) struct Cleared {
    job: String,
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
