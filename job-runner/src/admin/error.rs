//! API errors: a status and a JSON body that says what to fix.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::control::ControlError;

/// A refused or failed request.
#[derive(Debug)]
pub(crate) struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }

    pub(crate) fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "missing or wrong token: send `Authorization: Bearer <token>` (the runner prints the token at start, or set JOBS_ADMIN_TOKEN), or log in to the dashboard at /login",
        )
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = json!({ "error": { "status": self.status.as_u16(), "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl From<crate::schedule_control::ScheduleError> for ApiError {
    fn from(error: crate::schedule_control::ScheduleError) -> ApiError {
        use crate::schedule_control::ScheduleError as E;
        let status = match &error {
            E::UnknownJob(_) | E::UnknownSchedule(_) => StatusCode::NOT_FOUND,
            E::DuplicateId(_) | E::DefinedInCode(_) | E::ChangedMeanwhile(_) => {
                StatusCode::CONFLICT
            }
            E::InvalidId { .. } | E::Invalid(_) | E::InvalidArgs(_) => StatusCode::BAD_REQUEST,
            E::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        ApiError::new(status, error.to_string())
    }
}

impl From<ControlError> for ApiError {
    fn from(error: ControlError) -> ApiError {
        let status = match &error {
            ControlError::UnknownTask(_)
            | ControlError::UnknownJob(_)
            | ControlError::UnknownQueue(_) => StatusCode::NOT_FOUND,
            ControlError::WrongState { .. } => StatusCode::CONFLICT,
            ControlError::InvalidArgs(_) | ControlError::Invalid(_) => StatusCode::BAD_REQUEST,
            ControlError::Enqueue(_) | ControlError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        if status == StatusCode::SERVICE_UNAVAILABLE {
            tracing::error!(%error, "admin request failed");
        }
        ApiError::new(status, error.to_string())
    }
}
