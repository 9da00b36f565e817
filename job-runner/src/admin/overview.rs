//! The API of the overview: attempts per minute, the queues (and their pause), the runners
//! and the latest events (registered with the other protected routes in `api.rs`).

use axum::Json;
use axum::extract::{Path, State};
use serde::Deserialize;

use super::AppState;
use super::api::limit;
use super::error::ApiError;
use super::query::ApiQuery;
use crate::queue_control::{EventListed, Overview, Queue, RunnerStatus, Window};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OverviewQuery {
    window: Option<String>,
    job: Option<String>,
    queue: Option<String>,
}

pub(super) async fn overview(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<OverviewQuery>,
) -> Result<Json<Overview>, ApiError> {
    let window = Window::parse(q.window.as_deref().unwrap_or("hour"))?;
    let job = q.job.as_deref().filter(|j| !j.is_empty());
    let queue = q.queue.as_deref().filter(|j| !j.is_empty());
    Ok(Json(state.control.overview(window, job, queue).await?))
}

pub(super) async fn list_queues(
    State(state): State<AppState>,
) -> Result<Json<Vec<Queue>>, ApiError> {
    Ok(Json(state.control.queues().await?))
}

pub(super) async fn pause_queue(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Queue>, ApiError> {
    Ok(Json(state.control.pause_queue(&name).await?))
}

pub(super) async fn resume_queue(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<Queue>, ApiError> {
    Ok(Json(state.control.resume_queue(&name).await?))
}

pub(super) async fn runners(
    State(state): State<AppState>,
) -> Result<Json<Vec<RunnerStatus>>, ApiError> {
    Ok(Json(state.control.runners().await?))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct EventsQuery {
    limit: Option<u32>,
}

pub(super) async fn events(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Json<Vec<EventListed>>, ApiError> {
    Ok(Json(state.control.events_listed(limit(q.limit)?).await?))
}
