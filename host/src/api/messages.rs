//! `POST /api/v1/messages` (Auth0's hook payload) and
//! `POST /api/v1/actions/send-phone-message` (the Actions event): validate, hand
//! to the active plugin, answer `{"MessageID": ...}`.

use std::net::IpAddr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use serde_json::json;

use super::attempt::Route;
use super::chain;
use super::error::ApiError;
use super::screen::{self, peer_ip, Peer};
use crate::inbound::{self, Inbound, InputError};
use crate::state::AppState;

/// The hook payload.
pub async fn send_hook(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    let peer = peer_ip(&peer);
    send(&state, inbound::parse_hook(&body), peer, Route::Hook).await
}

/// The Actions event.
pub async fn send_action(
    State(state): State<Arc<AppState>>,
    peer: Peer,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    let peer = peer_ip(&peer);
    send(
        &state,
        inbound::parse_actions_event(&body),
        peer,
        Route::Actions,
    )
    .await
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
    peer: Option<IpAddr>,
    route: Route,
) -> Result<Response, ApiError> {
    let message = inbound?.validate(&state.rules)?;
    let attempt = match screen::screen(state, &message, peer, route) {
        Some(refused) => refused,
        None => chain::send(state, &message, route).await,
    };
    Ok(attempt.respond(|delivered| Json(json!({ "MessageID": delivered.message_id }))))
}
