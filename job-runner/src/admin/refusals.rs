//! What the routes never see: a request for a path no route serves, and a path holding a
//! NUL character (`%00`), which no name or id can hold (PostgreSQL refuses it in any text),
//! each refused with a JSON error that says so. (Queries are checked where they are parsed:
//! `query.rs`.)

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;

/// Refuses a path that holds `%00`: nothing is named with a NUL, so it is not found (404).
pub(super) async fn refuse_nul(request: Request, next: Next) -> Response {
    if request.uri().path().contains("%00") {
        return ApiError::new(
            StatusCode::NOT_FOUND,
            "nothing is named with a NUL character (%00): remove it from the path",
        )
        .into_response();
    }
    next.run(request).await
}

/// The answer for a path no route serves.
pub(super) async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no endpoint at {} {}: the API's endpoints are listed in /api/openapi.json",
            request.method(),
            request.uri().path()
        ),
    )
}
