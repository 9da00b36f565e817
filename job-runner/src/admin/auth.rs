//! The bearer token and its check.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};

use super::AppState;
use super::error::ApiError;
use crate::secret::{self, RandomError};

/// The secret that admits a request.
#[derive(Clone)]
pub struct Token(std::sync::Arc<str>);

impl Token {
    /// A configured token.
    pub fn new(token: String) -> Token {
        Token(token.into())
    }

    /// 32 random bytes from the operating system, hex-encoded.
    pub fn generate() -> Result<Token, RandomError> {
        Ok(Token(secret::random_hex()?.into()))
    }

    /// The token's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether `candidate` is the token, in time that does not depend on where they differ.
    pub fn matches(&self, candidate: &str) -> bool {
        secret::matches(self.0.as_bytes(), candidate.as_bytes())
    }
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
}

/// The dashboard's cookie.
pub(crate) const COOKIE: &str = "jobs_token";

fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// API routes: the bearer token, or 401.
pub(crate) async fn require_bearer(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match bearer(request.headers()) {
        Some(token) if state.token.matches(token) => next.run(request).await,
        _ => ApiError::unauthorized().into_response(),
    }
}

/// Dashboard pages: the bearer token or the login cookie; otherwise 401 with a link to the
/// login page.
pub(crate) async fn require_page_token(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let headers = request.headers();
    let admitted = bearer(headers)
        .or_else(|| cookie(headers))
        .is_some_and(|token| state.token.matches(token));
    if admitted {
        next.run(request).await
    } else {
        let page = "<!doctype html><meta http-equiv=\"refresh\" content=\"0; url=/login\"><title>Log in</title><a href=\"/login\">Log in</a>";
        (StatusCode::UNAUTHORIZED, Html(page)).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_match_exactly() {
        let token = Token::new("correct horse battery staple".into());
        assert!(token.matches("correct horse battery staple"));
        assert!(!token.matches("correct horse battery stapla"));
        assert!(!token.matches("correct"));
        assert!(!token.matches(""));
        let generated = Token::generate().unwrap();
        assert_eq!(generated.as_str().len(), 64);
        assert_ne!(generated.as_str(), Token::generate().unwrap().as_str());
    }
}
