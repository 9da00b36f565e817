//! The admin server: a JSON API behind a bearer token, the dashboard, Prometheus metrics.
//!
//! Every route but `/healthz`, `/readyz`, `/login`, `/logout` and the webhooks (which have
//! secrets of their own) needs the token as `Authorization: Bearer <token>`, or a dashboard
//! session: `POST /login` with the token opens one, kept in this server's memory, and sets
//! its id in an `HttpOnly; SameSite=Strict` cookie (see `auth.rs` for how the session's
//! changes are kept from cross-site forgery).

use std::net::SocketAddr;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::control::Control;

mod api;
mod auth;
mod dashboard;
mod error;
mod hooks;
mod limits;
mod login;
pub mod openapi;
mod overview;
mod query;
mod refusals;
mod sessions;
mod stream;
mod tasks;

pub use auth::Token;

/// Largest request body accepted, in bytes.
pub const BODY_LIMIT: usize = 64 * 1024;

/// The admin server's settings.
#[derive(Debug, Clone)]
pub struct AdminConfig {
    /// Where to listen; `None` runs no admin server.
    pub addr: Option<SocketAddr>,
    /// The token; generated at start when `None` (loopback addresses only).
    pub token: Option<String>,
}

/// Why the admin server cannot start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// A non-loopback address without a configured token.
    #[error(
        "refusing to serve the admin API on {0}, which is reachable from other machines, with a generated token: set JOBS_ADMIN_TOKEN (or `token` under [admin] in jobs.toml), or listen on 127.0.0.1"
    )]
    NoTokenForPublicAddress(SocketAddr),
    /// The token is too short to be safe.
    #[error(
        "the admin token is too short: set JOBS_ADMIN_TOKEN (or `token` under [admin] in jobs.toml) to at least {} characters, such as the output of `openssl rand -hex 32`",
        crate::secret::MIN_LEN
    )]
    WeakToken,
    /// No token could be generated.
    #[error("cannot generate the admin token: {0}")]
    Random(#[from] crate::secret::RandomError),
}

/// The state the handlers share.
#[derive(Clone)]
pub(crate) struct AppState {
    pub(crate) control: Control,
    pub(crate) token: Token,
    /// The dashboard's open sessions.
    pub(crate) sessions: sessions::Sessions,
    /// Where webhook events go.
    pub(crate) events: std::sync::Arc<crate::events::EventRouter>,
    /// The webhook sources and their secrets.
    pub(crate) webhooks: std::sync::Arc<std::collections::BTreeMap<String, String>>,
    /// The watcher of the console's live updates, shared by its streams.
    pub(crate) changes: stream::Changes,
}

/// Checks the settings and picks the token; fails for a public address without a token.
pub fn token_for(config: &AdminConfig) -> Result<Option<(Token, bool)>, AdminError> {
    let Some(addr) = config.addr else {
        return Ok(None);
    };
    match &config.token {
        Some(token) if !crate::secret::long_enough(token) => Err(AdminError::WeakToken),
        Some(token) => Ok(Some((Token::new(token.clone()), false))),
        None if !addr.ip().is_loopback() => Err(AdminError::NoTokenForPublicAddress(addr)),
        None => Ok(Some((Token::generate()?, true))),
    }
}

/// The router of the admin server.
pub(crate) fn router(state: AppState) -> Router {
    Router::new()
        .merge(api::routes(state.clone()))
        .merge(hooks::routes())
        .merge(login::routes())
        .merge(dashboard::routes(state.clone()))
        .fallback(refusals::not_found)
        .layer(axum::middleware::from_fn(refusals::refuse_nul))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(state)
}

/// Serves the admin server on `listener` until `stop`.
pub(crate) async fn serve(listener: TcpListener, state: AppState, mut stop: watch::Receiver<bool>) {
    // The event streams never end by themselves: they end at the stop, so that the graceful
    // shutdown, which waits for open connections, is not held by an open console.
    state.changes.end_at(stop.clone());
    let app = router(state);
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    if let Err(error) = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
    {
        tracing::error!(%error, "the admin server stopped");
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::path::Path;
    use std::sync::Arc;

    use super::{AppState, Token};
    use crate::storage::{ConnectOptions, Store};

    /// The admin server's state over a new SQLite file at `path`, with no jobs, and its
    /// store.
    pub(crate) async fn state_over(path: &Path) -> (AppState, Store) {
        let url = format!("sqlite://{}", path.display());
        let store = Store::connect(&url, &ConnectOptions::default())
            .await
            .expect("an SQLite file");
        let registry = job_core::Registry::from_descriptors([]).expect("no jobs, no clash");
        let plan =
            crate::plan::Plan::new(registry, &crate::Config::default()).expect("a plan of no jobs");
        let jobs = crate::Jobs::new(store.clone(), Arc::new(plan), job_core::Clock::system());
        let state = AppState {
            control: crate::control::Control::new(jobs.clone(), "api"),
            token: Token::new("a-token-for-the-tests".into()),
            sessions: Default::default(),
            events: crate::events::EventRouter::new(jobs),
            webhooks: Arc::default(),
            changes: Default::default(),
        };
        (state, store)
    }
}
