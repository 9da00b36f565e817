//! The dashboard: a page of its own, compiled into the binary (nothing from a CDN), that
//! shows jobs, recent executions and dead tasks, with trigger, pause, resume and retry
//! buttons. Its login page opens a session (see [`super::login`]) whose cookie admits the
//! page and its calls to the JSON API.

use axum::http::header;
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};

use super::AppState;
use super::auth::require_page_auth;

const INDEX: &str = include_str!("assets/index.html");
const LOGIN: &str = include_str!("assets/login.html");
const APP_JS: &str = include_str!("assets/app.js");
const LOGIN_JS: &str = include_str!("assets/login.js");
const STYLE: &str = include_str!("assets/style.css");

/// Only this server's own files run on its pages.
const POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'";

fn page(html: &'static str) -> Response {
    ([(header::CONTENT_SECURITY_POLICY, POLICY)], Html(html)).into_response()
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

pub(super) fn routes(state: AppState) -> Router<AppState> {
    let protected = Router::new()
        .route("/", get(|| async { page(INDEX) }))
        .route(
            "/assets/app.js",
            get(|| async { asset("text/javascript", APP_JS) }),
        )
        .route_layer(middleware::from_fn_with_state(state, require_page_auth));
    Router::new()
        .route("/login", get(|| async { page(LOGIN) }))
        .route(
            "/assets/login.js",
            get(|| async { asset("text/javascript", LOGIN_JS) }),
        )
        .route(
            "/assets/style.css",
            get(|| async { asset("text/css", STYLE) }),
        )
        .merge(protected)
}
