//! The HTTP surface. [`router`] builds the whole application so tests and the
//! server share it; handlers live one concern per module.
//!
//! **Architecture Invariant:** every route is in exactly one access group —
//! send (identity platform token), admin (admin token), inbox (the host's own
//! per-process token, which only its plugins receive: the sandbox inbox's
//! receiving end), console session (the admin console's pages: a session
//! cookie from logging in with the admin token, see [`crate::console`]) or
//! open (health, the console's login page and static files).

pub(crate) mod admin;
mod attempt;
mod auth;
mod body_limit;
mod chain;
mod error;
pub(crate) mod guard;
mod health;
mod instances;
pub(crate) mod logs;
mod messages;
mod metrics_route;
mod sandbox;
mod screen;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware;
use axum::routing::{get, post, put};
use axum::Router;

use crate::console;
use crate::state::AppState;

pub use attempt::EVENT_ID_HEADER;
pub(crate) use auth::token_matches;
pub use error::ApiError;

/// The application.
pub fn router(state: Arc<AppState>) -> Router {
    // Inside each group's access check: see `body_limit`.
    let whole_body = || middleware::from_fn_with_state(state.clone(), body_limit::read_whole_body);
    let send = Router::new()
        .route("/api/v1/messages", post(messages::send_hook))
        .route(
            "/api/v1/actions/send-phone-message",
            post(messages::send_action),
        )
        // The access check and the body reader in one layer (the send
        // routes carry every message).
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_send_then_read_body,
        ));

    let mut admin = Router::new()
        .route("/api/v1/plugins", get(admin::list))
        .route(
            "/api/v1/active-plugin",
            get(admin::active).put(admin::activate),
        )
        .route("/api/v1/plugins/{name}/test", post(admin::test))
        .route(
            "/api/v1/fallback",
            get(admin::fallback).put(admin::set_fallback),
        )
        .route("/api/v1/logs", get(logs::list))
        .route("/api/v1/instances", get(instances::list))
        .route("/api/v1/guard", get(guard::overview))
        .route(
            "/api/v1/guard/numbers/{number}",
            get(guard::number_status).delete(guard::reset_number),
        )
        .route(
            "/api/v1/guard/safe-list",
            get(guard::safe_list)
                .put(guard::replace_safe_list)
                .delete(guard::clear_safe_list),
        )
        .route(
            "/api/v1/guard/safe-list/{entry}",
            put(guard::add_entry).delete(guard::remove_entry),
        )
        .route("/metrics", get(metrics_route::render));
    if state.config.sandbox.enabled {
        admin = admin.route(
            "/sandbox/messages",
            get(sandbox::list).delete(sandbox::clear),
        );
    }
    let admin = admin
        .route_layer(whole_body())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            auth::require_admin,
        ));

    let mut inbox = Router::new();
    if state.config.sandbox.enabled {
        inbox = inbox
            .route("/sandbox/messages", post(sandbox::receive))
            .route_layer(whole_body())
            .route_layer(middleware::from_fn_with_state(
                state.clone(),
                auth::require_inbox,
            ));
    }

    let open = Router::new()
        .route("/healthz", get(health::healthz))
        .route_layer(whole_body());

    // The console: its own access check (a session) outside the body reader,
    // the CSRF check inside it (it reads the form); the login page and the
    // static files are open. Every console response gets its security headers.
    let console_session = console::session_routes()
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            console::check_csrf,
        ))
        .route_layer(whole_body())
        .route_layer(middleware::from_fn_with_state(
            state.clone(),
            console::require_session,
        ));
    let console = console::open_routes()
        .route_layer(whole_body())
        .merge(console_session)
        .layer(middleware::from_fn(console::headers::secure));

    send.merge(admin)
        .merge(inbox)
        .merge(open)
        .merge(console)
        .fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        // `read_whole_body` enforces the cap; the extractors' own limit must
        // not be lower (axum's default is 2 MB).
        .layer(DefaultBodyLimit::max(state.config.limits.max_body_bytes))
        .with_state(state)
}
