//! `POST /api/v1/messages` (Auth0's hook payload) and
//! `POST /api/v1/actions/send-phone-message` (the Actions event): validate, hand
//! to the active plugin, answer `{"MessageID": ...}`.

use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};
use tracing::Instrument;

use super::error::ApiError;
use crate::delivery::{self, DeliveryError};
use crate::inbound::{self, Inbound, InputError};
use crate::mask::mask_number;
use crate::state::AppState;

/// The hook payload.
pub async fn send_hook(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = read_body(body)?;
    send(&state, inbound::parse_hook(&body)).await
}

/// The Actions event.
pub async fn send_action(
    State(state): State<Arc<AppState>>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    let body = read_body(body)?;
    send(&state, inbound::parse_actions_event(&body)).await
}

pub(super) fn read_body(body: Result<Bytes, BytesRejection>) -> Result<Bytes, ApiError> {
    body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "body_too_large", "the request body is over the size limit")
        } else {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_body", rejection.body_text())
        }
    })
}

async fn send(state: &AppState, inbound: Result<Inbound, InputError>) -> Result<Json<Value>, ApiError> {
    let started = Instant::now();
    let message = inbound?.validate(&state.rules)?;
    let Some(active) = state.registry.active() else {
        return Err(ApiError::delivery(DeliveryError::NoActivePlugin, ""));
    };
    let plugin = active.generation.info.name.as_str();
    let span = tracing::info_span!("message",
        plugin = %plugin,
        generation = active.generation.id,
        channel = message.channel.as_str(),
        to = %mask_number(&message.recipient));
    let result = delivery::deliver(&active, &message, &state.egress, &state.host_url)
        .instrument(span.clone())
        .await;
    let _entered = span.enter();
    let elapsed_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(delivered) => {
            tracing::info!(message_id = %delivered.message_id, elapsed_ms, "message accepted by vendor");
            Ok(Json(json!({ "MessageID": delivered.message_id })))
        }
        Err(err) => {
            tracing::warn!(error = %err, elapsed_ms, "message not delivered");
            Err(ApiError::delivery(err, plugin))
        }
    }
}
