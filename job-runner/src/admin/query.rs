//! Query strings: parsed into a handler's filter type, or refused with a 400 that says what
//! is wrong.

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use super::error::ApiError;

/// A query string parsed into `T`. A query that does not fit `T`, or that holds a NUL
/// character (`%00`, which no name or filter can hold, and PostgreSQL refuses in any text),
/// is refused with a 400.
pub(super) struct ApiQuery<T>(pub(super) T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, ApiError> {
        if parts.uri.query().is_some_and(|q| q.contains("%00")) {
            return Err(ApiError::bad_request(
                "the query holds a NUL character (%00), which no name or filter can hold: remove it",
            ));
        }
        Query::<T>::try_from_uri(&parts.uri)
            .map(|Query(query)| ApiQuery(query))
            .map_err(|rejection| {
                ApiError::bad_request(format!("invalid query: {}", rejection.body_text()))
            })
    }
}
