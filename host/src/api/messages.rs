//! `POST /api/v1/messages` (Auth0's hook payload) and
//! `POST /api/v1/actions/send-phone-message` (the Actions event): validate, hand
//! to the active plugin, answer `{"MessageID": ...}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde_json::json;

use super::attempt::{self, Route};
use super::error::ApiError;
use crate::inbound::{self, Inbound, InputError};
use crate::state::AppState;

/// The hook payload.
pub async fn send_hook(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    send(&state, inbound::parse_hook(&body), Route::Hook).await
}

/// The Actions event.
pub async fn send_action(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    send(&state, inbound::parse_actions_event(&body), Route::Actions).await
}

pub(super) fn read_body(
    state: &AppState,
    body: Result<Bytes, BytesRejection>,
) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::body_too_large(state.config.limits.max_body_bytes)
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                rejection.body_text(),
            )
        }
    })
}

async fn send(
    state: &Arc<AppState>,
    inbound: Result<Inbound, InputError>,
    route: Route,
) -> Result<Response, ApiError> {
    let message = inbound?.validate(&state.rules)?;
    let attempt = match state.registry.active() {
        Some(active) => attempt::run(state, &message, active, route).await,
        None => attempt::no_active_plugin(state, &message, route),
    };
    Ok(attempt.respond(|delivered| Json(json!({ "MessageID": delivered.message_id }))))
}
