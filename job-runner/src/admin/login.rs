//! `POST /login` and `POST /logout`: the dashboard's session cookie (see [`super::sessions`]).
//!
//! The login form posts the token as `application/x-www-form-urlencoded` (`token=...`), so
//! a token holding `+`, `/` or `=` arrives as it was typed. The cookie is `HttpOnly` (the
//! page's scripts never see it), `SameSite=Strict` (no other site's page sends it) and
//! `Path=/`, and `Secure` when the request came over TLS.

use std::time::Instant;

use axum::extract::State;
use axum::extract::rejection::FormRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use serde::Deserialize;

use super::AppState;
use super::auth::{SESSION_COOKIE, session_ids};
use super::error::ApiError;
use super::sessions::LIFETIME;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/login", post(login))
        .route("/logout", post(logout))
}

/// The login form's fields.
#[derive(Deserialize)]
struct Credentials {
    token: String,
}

async fn login(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<Credentials>, FormRejection>,
) -> Result<Response, ApiError> {
    let Form(credentials) = form.map_err(|rejection| {
        // A form without its field is bad input like any other (axum says 422).
        let status = match rejection.status() {
            StatusCode::UNPROCESSABLE_ENTITY => StatusCode::BAD_REQUEST,
            status => status,
        };
        ApiError::new(
            status,
            format!(
                "{}; send the form `token=<the admin token>` as application/x-www-form-urlencoded",
                rejection.body_text()
            ),
        )
    })?;
    if !state.token.matches(&credentials.token) {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong token: post the admin token (JOBS_ADMIN_TOKEN, or the one the runner printed at start) as `token`",
        ));
    }
    let id = state.sessions.open(Instant::now()).map_err(|error| {
        tracing::error!(%error, "cannot open a dashboard session");
        ApiError::new(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
    })?;
    let cookie = cookie(&id, LIFETIME.as_secs(), over_tls(&headers));
    Ok(no_content(cookie))
}

/// Ends the session named by the request's cookie, if any, and clears the cookie. Open to
/// anyone: it can only end the session whose id the request holds.
async fn logout(State(state): State<AppState>, headers: HeaderMap) -> Response {
    for id in session_ids(&headers) {
        state.sessions.close(id);
    }
    no_content(cookie("", 0, over_tls(&headers)))
}

fn no_content(cookie: String) -> Response {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match HeaderValue::from_str(&cookie) {
        Ok(value) => {
            headers.insert(header::SET_COOKIE, value);
        }
        // Invariant: the cookie is ASCII (a hex id, a number, fixed words).
        Err(_) => return StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
    response
}

/// The session cookie: `id` for `max_age` seconds (0 clears it).
fn cookie(id: &str, max_age: u64, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    format!("{SESSION_COOKIE}={id}; Max-Age={max_age}; Path=/; HttpOnly; SameSite=Strict{secure}")
}

/// Whether the browser reached us over TLS. The runner serves plain HTTP, so TLS means a
/// proxy in front of it that says so in `X-Forwarded-Proto: https`. The header is trusted
/// even from a client that forges it: all it changes is that the cookie in the answer to
/// that same client is marked `Secure`, which only makes the client's own browser stricter.
fn over_tls(headers: &HeaderMap) -> bool {
    headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cookie_is_http_only_strict_and_secure_behind_tls() {
        assert_eq!(
            cookie("ab12", 43200, false),
            "jobs_session=ab12; Max-Age=43200; Path=/; HttpOnly; SameSite=Strict"
        );
        assert!(cookie("ab12", 43200, true).ends_with("; Secure"));
        let mut headers = HeaderMap::new();
        assert!(!over_tls(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https, http"));
        assert!(over_tls(&headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
        assert!(!over_tls(&headers));
    }
}
