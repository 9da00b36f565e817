//! The console: pages of its own, compiled into the binary (nothing from a CDN: it works
//! offline), over the JSON API. Every page URL (`/`, `/jobs`, `/jobs/{name}`, `/tasks`,
//! `/tasks/{id}`, `/schedules`, `/events`, `/queues`, `/runners`) answers the same HTML
//! shell, whose script reads the path and draws the page; links between pages are real
//! links that the script follows without reloading. Its login page opens a session (see
//! [`super::login`]) whose cookie admits the pages and their calls to the JSON API.
//!
//! These routes are not in the OpenAPI document (they are pages, not the API); its test
//! reads the routes of `api.rs`, `hooks.rs` and `login.rs` only.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Router, middleware};

use super::AppState;
use super::auth::require_page_auth;

const INDEX: &str = include_str!("assets/index.html");
const LOGIN: &str = include_str!("assets/login.html");
const LOGIN_JS: &str = include_str!("assets/login.js");
const STYLE: &str = include_str!("assets/style.css");

const JS: &str = "text/javascript";
const CSS: &str = "text/css";

/// The console's scripts and styles behind the login, by their path under `/assets/`.
const ASSETS: [(&str, &str, &str); 9] = [
    ("app.js", JS, include_str!("assets/app.js")),
    ("ui.js", JS, include_str!("assets/ui.js")),
    ("overview.js", JS, include_str!("assets/overview.js")),
    ("jobs.js", JS, include_str!("assets/jobs.js")),
    ("tasks.js", JS, include_str!("assets/tasks.js")),
    ("schedules.js", JS, include_str!("assets/schedules.js")),
    ("operations.js", JS, include_str!("assets/operations.js")),
    (
        "vendor/uPlot.iife.min.js",
        JS,
        include_str!("assets/vendor/uPlot.iife.min.js"),
    ),
    (
        "vendor/uPlot.min.css",
        CSS,
        include_str!("assets/vendor/uPlot.min.css"),
    ),
];

/// The pages: each answers the shell, which draws the page its path names.
const PAGES: [&str; 9] = [
    "/",
    "/jobs",
    "/jobs/{name}",
    "/tasks",
    "/tasks/{id}",
    "/schedules",
    "/events",
    "/queues",
    "/runners",
];

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

async fn console_asset(Path(file): Path<String>) -> Response {
    match ASSETS.iter().find(|(name, _, _)| *name == file) {
        Some((_, content_type, body)) => asset(content_type, body),
        None => (StatusCode::NOT_FOUND, "no such file").into_response(),
    }
}

pub(super) fn routes(state: AppState) -> Router<AppState> {
    let mut protected = Router::new().route("/assets/{*file}", get(console_asset));
    for path in PAGES {
        protected = protected.route(path, get(|| async { page(INDEX) }));
    }
    let protected = protected.route_layer(middleware::from_fn_with_state(state, require_page_auth));
    Router::new()
        .route("/login", get(|| async { page(LOGIN) }))
        .route("/assets/login.js", get(|| async { asset(JS, LOGIN_JS) }))
        .route("/assets/style.css", get(|| async { asset(CSS, STYLE) }))
        .merge(protected)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every script and stylesheet the shell names is served.
    #[test]
    fn the_shell_names_only_served_assets() {
        for piece in INDEX.split("/assets/").skip(1) {
            let name = piece.split('"').next().expect("a quoted path");
            assert!(
                ASSETS.iter().any(|(served, _, _)| *served == name)
                    || ["style.css"].contains(&name),
                "the shell loads /assets/{name}, which is not served"
            );
        }
        for (name, _, _) in ASSETS {
            assert!(
                INDEX.contains(&format!("/assets/{name}\"")),
                "{name} is served but not loaded"
            );
        }
    }
}
