//! The tasks' API: listings and counts by filter, bulk actions on everything a filter
//! matches, a task's whole story, and the live updates of the console.
//!
//! `since` and `until` apply to a task's last change: when it finished for a finished task
//! (succeeded, dead, cancelled), else when it was stored (pending, running). `q` is text
//! found in the arguments' JSON, in any case.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::AppState;
use super::api::{Page, cursor, instant, json_body, limit, page, task_id};
use super::error::ApiError;
use super::query::ApiQuery;
use crate::storage::{BulkOutcome, TaskCount, TaskFilter, TaskRow, TaskState};
use crate::task_control::{BulkKind, TaskDetail};

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/tasks", get(tasks))
        .route("/api/tasks/count", get(count))
        .route("/api/tasks/bulk/{action}", post(bulk))
        .route("/api/tasks/{id}/detail", get(detail))
        .route("/api/stream", get(super::stream::stream))
}

/// A listing's query: the filter, a cursor and a page's size.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TaskQuery {
    state: Option<String>,
    queue: Option<String>,
    job: Option<String>,
    since: Option<String>,
    until: Option<String>,
    q: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// A filter, as a count's query or a bulk action's body holds it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilterQuery {
    state: Option<String>,
    queue: Option<String>,
    job: Option<String>,
    since: Option<String>,
    until: Option<String>,
    q: Option<String>,
}

/// The filter these fields ask for, or a 400 that names the wrong field.
fn filter(fields: FilterQuery) -> Result<TaskFilter, ApiError> {
    let state = fields
        .state
        .as_deref()
        .map(|s| {
            TaskState::from_name(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "unknown state `{s}`; use one of {}",
                    TaskState::ALL.map(|s| s.as_str()).join(", ")
                ))
            })
        })
        .transpose()?;
    let since = instant(fields.since.as_deref(), "since")?;
    let until = instant(fields.until.as_deref(), "until")?;
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        return Err(ApiError::bad_request(
            "`since` must be before `until`: pass an earlier `since` or a later `until`",
        ));
    }
    for (name, text) in [
        ("queue", &fields.queue),
        ("job", &fields.job),
        ("q", &fields.q),
    ] {
        if text.as_deref().is_some_and(|t| t.contains('\0')) {
            return Err(ApiError::bad_request(format!(
                "`{name}` holds a NUL character, which no stored text holds: remove it"
            )));
        }
    }
    let empty_is_none = |text: Option<String>| text.filter(|t| !t.is_empty());
    Ok(TaskFilter {
        state,
        queue: empty_is_none(fields.queue),
        job: empty_is_none(fields.job),
        since,
        until,
        text: empty_is_none(fields.q),
        ..TaskFilter::default()
    })
}

async fn tasks(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<TaskQuery>,
) -> Result<Json<Page<TaskRow>>, ApiError> {
    let limit = limit(q.limit)?;
    let filter = TaskFilter {
        before_id: cursor(q.cursor.as_deref())?,
        limit,
        ..filter(FilterQuery {
            state: q.state,
            queue: q.queue,
            job: q.job,
            since: q.since,
            until: q.until,
            q: q.q,
        })?
    };
    let rows = state.control.tasks(&filter).await?;
    Ok(Json(page(rows, limit, |t| t.id)))
}

async fn count(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<FilterQuery>,
) -> Result<Json<TaskCount>, ApiError> {
    let filter = filter(q)?;
    Ok(Json(state.control.count_tasks(&filter).await?))
}

/// A bulk action's body: the filter, and the highest id it may touch (a count's
/// `up_to_id`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    #[serde(default)]
    filter: FilterQuery,
    up_to_id: Option<i64>,
}

const BULK_EXAMPLE: &str = r#"{"filter": {"state": "dead", "job": "send_email", "since": "2026-11-28T02:00:00Z"}, "up_to_id": 4242}"#;

async fn bulk(
    State(state): State<AppState>,
    Path(action): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<BulkOutcome>, ApiError> {
    let kind: BulkKind = action.parse()?;
    let body: BulkBody = json_body(body, BULK_EXAMPLE)?;
    let Some(up_to_id) = body.up_to_id else {
        return Err(ApiError::bad_request(format!(
            "`up_to_id` is missing: take it from GET /api/tasks/count with the same filter, so that tasks stored later are never touched; send {BULK_EXAMPLE}"
        )));
    };
    let filter = filter(body.filter)?;
    Ok(Json(state.control.bulk(kind, &filter, up_to_id).await?))
}

async fn detail(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<TaskDetail>, ApiError> {
    Ok(Json(state.control.task_detail(task_id(&id)?).await?))
}

#[cfg(test)]
mod tests {
    use axum::body::Bytes;
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::response::IntoResponse;

    use super::*;
    use crate::admin::tests::state_over;

    fn status<T>(result: Result<T, ApiError>) -> StatusCode {
        match result {
            Ok(_) => StatusCode::OK,
            Err(error) => error.into_response().status(),
        }
    }

    fn fields(since: Option<&str>, until: Option<&str>, q: Option<&str>) -> FilterQuery {
        FilterQuery {
            since: since.map(str::to_owned),
            until: until.map(str::to_owned),
            q: q.map(str::to_owned),
            ..FilterQuery::default()
        }
    }

    #[tokio::test]
    async fn bad_filters_and_bodies_get_a_400_that_names_the_field() {
        let dir = tempfile::tempdir().unwrap();
        let (state, store) = state_over(&dir.path().join("jobs.db")).await;
        store.migrate().await.unwrap();
        let count_of = |fields| count(State(state.clone()), ApiQuery(fields));
        assert_eq!(
            status(count_of(fields(Some("yesterday"), None, None)).await),
            StatusCode::BAD_REQUEST
        );
        let later = "2026-11-28T02:00:00Z";
        let earlier = "2026-11-28T01:00:00Z";
        assert_eq!(
            status(count_of(fields(Some(later), Some(earlier), None)).await),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(count_of(fields(None, None, Some("a\0b"))).await),
            StatusCode::BAD_REQUEST
        );
        let Json(empty) = count_of(fields(Some(earlier), Some(later), Some("x")))
            .await
            .unwrap();
        assert_eq!((empty.count, empty.up_to_id), (0, None));

        let bulk_of = |action: &str, body: &str| {
            bulk(
                State(state.clone()),
                Path(action.to_owned()),
                Ok(Bytes::from(body.to_owned())),
            )
        };
        assert_eq!(
            status(bulk_of("retry", r#"{"filter":{}}"#).await),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(bulk_of("explode", r#"{"up_to_id":1}"#).await),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(bulk_of("retry", "not json").await),
            StatusCode::BAD_REQUEST
        );
        assert_eq!(
            status(bulk_of("delete", r#"{"filter":{"state":"gone"},"up_to_id":1}"#).await),
            StatusCode::BAD_REQUEST
        );
        let Json(nothing) = bulk_of("delete", r#"{"up_to_id":1}"#).await.unwrap();
        assert_eq!(
            (nothing.matched, nothing.applied, nothing.skipped),
            (0, 0, 0)
        );
        assert_eq!(
            status(detail(State(state.clone()), Path("7".into())).await),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            status(detail(State(state), Path("seven".into())).await),
            StatusCode::BAD_REQUEST
        );
    }
}
