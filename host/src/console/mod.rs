//! The admin console at `/console`: server-rendered pages (maud) over the
//! same functions the admin JSON API uses, with one stylesheet and one small
//! script served from the binary ([`assets`]).
//!
//! - [`session`]: logins held in memory, bounded, with an idle lifetime;
//!   [`cookie`]: the session cookie; [`csrf`]: the token every
//!   state-changing form carries; [`headers`]: CSP and the other security
//!   headers on every console response.
//! - [`pages`]: login, overview, plugins (activate, test message), delivery
//!   log, abuse guard (one number, reset, safe list); [`chart`]: the
//!   overview's inline SVG.
//!
//! Access: the login page and the static files are open; every other console
//! route needs a live session ([`require_session`]), and every `POST` among
//! them the session's CSRF token ([`check_csrf`]). A session starts only with
//! the admin token, so without one configured the console is off and its
//! login page says how to turn it on.
//!
//! **Invariant:** the console shows what the admin API returns, computed by
//! the same functions (`api::admin::{swap, run_test}`, `api::logs::page`,
//! `api::guard::{summary, status_of, reset, add, remove}`,
//! `Registry::status`, `Control::current`); it never shows a secret's value,
//! a full number (a safe-list entry is the admin's own, shown as the API
//! lists it), a message text or a one-time code, and never the admin token
//! (which travels only in the login form's body).

pub mod assets;
pub mod chart;
pub mod cookie;
pub mod csrf;
pub mod headers;
pub mod pages;
pub mod session;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, Method};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use axum::Router;
use serde::{Deserialize, Serialize};

use crate::state::AppState;
pub use session::{Session, Sessions};

/// The console's configuration (`[console]`).
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ConsoleConfig {
    /// A session ends after this many minutes without a request (8 hours by
    /// default: a working day).
    pub session_idle_minutes: u64,
    /// Sessions held at once; a login beyond it ends the least recently used.
    pub max_sessions: usize,
    /// Mark the cookie `Secure` even when no proxy says the browser came over
    /// HTTPS (set it when a TLS proxy in front does not send
    /// `X-Forwarded-Proto`).
    pub secure_cookie: bool,
}

impl Default for ConsoleConfig {
    fn default() -> Self {
        ConsoleConfig {
            session_idle_minutes: 8 * 60,
            max_sessions: 32,
            secure_cookie: false,
        }
    }
}

impl ConsoleConfig {
    /// The idle lifetime of a session.
    pub fn idle(&self) -> Duration {
        Duration::from_secs(self.session_idle_minutes.saturating_mul(60))
    }

    /// Whether the values can work (a session that ends at once, or no room
    /// for one, would make the console unusable without saying why).
    pub fn validate(&self) -> Result<(), String> {
        if self.session_idle_minutes == 0 || self.max_sessions == 0 {
            return Err(
                "console.session_idle_minutes and console.max_sessions must be positive".into(),
            );
        }
        Ok(())
    }
}

/// The routes anyone may load: the login page and the static files.
pub fn open_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route(
            "/console/login",
            get(pages::login::show).post(pages::login::submit),
        )
        // A typed or bookmarked trailing slash still finds the console.
        .route("/console/", get(|| async { pages::redirect("/console") }))
        .route("/console/static/console.css", get(assets::css))
        .route("/console/static/console.js", get(assets::js))
}

/// The routes that need a session (and, for `POST`, its CSRF token).
pub fn session_routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/console", get(pages::overview::show))
        .route("/console/logout", post(pages::login::logout))
        .route("/console/plugins", get(pages::plugins::list))
        .route(
            "/console/plugins/{name}/activate",
            get(pages::plugins::confirm).post(pages::plugins::activate),
        )
        .route(
            "/console/plugins/{name}/test",
            get(pages::test_message::form).post(pages::test_message::send),
        )
        .route("/console/logs", get(pages::logs::list))
        .route("/console/logs/{id}", get(pages::logs::event))
        .route("/console/guard", get(pages::guard::show))
        .route("/console/guard/{action}", post(pages::guard::edit))
}

/// Whether the session cookie should be `Secure` for this request.
pub fn secure_cookie(state: &AppState, req_headers: &axum::http::HeaderMap) -> bool {
    state.config.console.secure_cookie || cookie::over_https(req_headers)
}

/// Middleware: a request without a live session (or while no admin token is
/// configured) is sent to the login page; one with a session gets it as an
/// extension, and its cookie renewed.
pub async fn require_session(
    State(state): State<Arc<AppState>>,
    mut req: Request,
    next: Next,
) -> Response {
    let session = state
        .config
        .admin_token()
        .and(cookie::session_id(req.headers()))
        .and_then(|id| state.console.touch(id));
    let Some(session) = session else {
        return pages::redirect("/console/login");
    };
    let secure = secure_cookie(&state, req.headers());
    req.extensions_mut().insert(session.clone());
    let mut response = next.run(req).await;
    // Logout sets its own cookie (the one that clears it).
    if !response.headers().contains_key(header::SET_COOKIE) {
        if let Some(value) = cookie::set(session.id.as_str(), state.console.idle(), secure) {
            response.headers_mut().insert(header::SET_COOKIE, value);
        }
    }
    response
}

/// Middleware, inside [`require_session`] and the body reader: a `POST`
/// whose form lacks the session's CSRF token is refused with 403 before any
/// handler sees it, so no handler can forget the check.
pub async fn check_csrf(State(state): State<Arc<AppState>>, req: Request, next: Next) -> Response {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        return next.run(req).await;
    }
    let Some(session) = req.extensions().get::<Session>().cloned() else {
        return pages::forbidden();
    };
    let (parts, body) = req.into_parts();
    // The body is already in memory (`read_whole_body` runs outside).
    let Ok(bytes) = axum::body::to_bytes(body, state.config.limits.max_body_bytes).await else {
        return pages::forbidden();
    };
    if !csrf::form_carries(&bytes, &session.csrf) {
        return pages::forbidden();
    }
    next.run(Request::from_parts(parts, Body::from(bytes)))
        .await
}
