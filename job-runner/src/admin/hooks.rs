//! `POST /hooks/{source}`: S3-style event notifications, authenticated by the source's own
//! secret (not the admin token); see [`crate::sources::webhook`].

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::post;
use axum::{Json, Router};

use super::AppState;
use super::error::ApiError;
use crate::events::Delivery;
use crate::sources::webhook;

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/hooks/{source}", post(receive))
}

async fn receive(
    State(state): State<AppState>,
    Path(source): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Delivery>, ApiError> {
    let body = body.map_err(|rejection| {
        ApiError::new(
            rejection.status(),
            format!(
                "{}; a notification may hold at most {} KiB",
                rejection.body_text(),
                super::BODY_LIMIT / 1024
            ),
        )
    })?;
    let Some(secret) = state.webhooks.get(&source) else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no webhook source named `{source}` is configured"),
        ));
    };
    let signature = headers
        .get("x-jobs-signature")
        .and_then(|v| v.to_str().ok());
    let bearer = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    if !webhook::authentic(secret, signature, bearer, &body) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong signature: send `X-Jobs-Signature: sha256=<hex HMAC-SHA256 of the body with the source's secret>` or `Authorization: Bearer <secret>`",
        ));
    }
    let events = webhook::events(&source, &body).map_err(ApiError::bad_request)?;
    let mut total = Delivery::default();
    for event in &events {
        let delivery = state
            .events
            .dispatch(event)
            .await
            .map_err(|e| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()))?;
        total.enqueued += delivery.enqueued;
        total.duplicates += delivery.duplicates;
        total.refused += delivery.refused;
    }
    Ok(Json(total))
}
