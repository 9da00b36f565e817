//! Who may call: the bearer token (scripts, curl) or a dashboard session (the dashboard's pages and their calls).

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

/// The dashboard's session cookie (see [`super::sessions`]).
pub(crate) const SESSION_COOKIE: &str = "jobs_session";

/// The header that the dashboard's scripts send with every change they ask for.
pub(crate) const DASHBOARD_HEADER: &str = "x-jobs-dashboard";

/// Every value of the session cookie in the request (another service on the same host may
/// have set a cookie of the same name for another path).
pub(crate) fn session_ids(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().strip_prefix(SESSION_COOKIE)?.strip_prefix('='))
}

/// How a request was admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admitted {
    /// By the bearer token: a script, or a tool such as curl.
    Bearer,
    /// By an open dashboard session.
    Session,
}

fn admitted(state: &AppState, headers: &HeaderMap) -> Option<Admitted> {
    if bearer(headers).is_some_and(|token| state.token.matches(token)) {
        return Some(Admitted::Bearer);
    }
    let now = std::time::Instant::now();
    session_ids(headers)
        .any(|id| state.sessions.admits(id, now))
        .then_some(Admitted::Session)
}

/// API routes: the bearer token or a dashboard session, or 401.
///
/// A change (any method but GET and HEAD) admitted by the session must also carry the
/// header `X-Jobs-Dashboard`, against cross-site request forgery. The cookie's
/// `SameSite=Strict` already keeps other sites' pages from sending it, but "site" means the
/// registrable domain: a page on a sibling subdomain (`evil.example.com` beside
/// `jobs.example.com`) is the same site and its forms would carry the cookie. A page of
/// another origin cannot add a header of its own to a request without the server's
/// permission (a CORS preflight, which this server never grants), and an HTML form cannot
/// add one at all; so the header proves that the request comes from the dashboard's own
/// scripts. Bearer requests need no such header: a browser never adds the token itself.
pub(crate) async fn require_api_auth(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    match admitted(&state, request.headers()) {
        Some(Admitted::Bearer) => next.run(request).await,
        Some(Admitted::Session)
            if request.method().is_safe() || request.headers().contains_key(DASHBOARD_HEADER) =>
        {
            next.run(request).await
        }
        Some(Admitted::Session) => ApiError::new(
            StatusCode::FORBIDDEN,
            "a change asked with the dashboard's session must carry the header `X-Jobs-Dashboard: 1` (the dashboard sends it); scripts send `Authorization: Bearer <token>`",
        )
        .into_response(),
        None => ApiError::unauthorized().into_response(),
    }
}

/// Dashboard pages: the bearer token or a dashboard session; otherwise 401 with a link to
/// the login page.
pub(crate) async fn require_page_auth(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    if admitted(&state, request.headers()).is_some() {
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
