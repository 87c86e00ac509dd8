//! The HTTP surface. [`router`] builds the whole application so tests and the
//! server share it; handlers live one concern per module.

mod error;
mod health;
mod messages;
mod sandbox;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;

use crate::state::AppState;

pub use error::ApiError;

/// The application.
pub fn router(state: Arc<AppState>) -> Router {
    let mut app = Router::new()
        .route("/api/v1/messages", post(messages::send_hook))
        .route("/api/v1/actions/send-phone-message", post(messages::send_action))
        .route("/healthz", get(health::healthz));
    if state.config.sandbox.enabled {
        app = app.route(
            "/sandbox/messages",
            post(sandbox::receive).get(sandbox::list).delete(sandbox::clear),
        );
    }
    app.fallback(error::not_found)
        .method_not_allowed_fallback(error::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.config.limits.max_body_bytes))
        .with_state(state)
}
