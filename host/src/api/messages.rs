//! `POST /api/v1/messages` (Auth0's hook payload) and
//! `POST /api/v1/actions/send-phone-message` (the Actions event): validate, hand
//! to the active plugin, answer `{"MessageID": ...}`.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, PoisonError};

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use axum::Json;
use serde_json::json;

use super::attempt::{Route, EVENT_ID_HEADER, PLUGIN_HEADER};
use super::chain;
use super::error::ApiError;
use super::screen::{self, peer_ip, Peer};
use crate::idempotency::{Begin, Stored};
use crate::inbound::{self, Inbound, InputError};
use crate::state::AppState;
use phonehook_plugin_api::Message;

/// The hook payload.
pub async fn send_hook(
    State(state): State<Arc<AppState>>,
    call: Call,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    send(&state, inbound::parse_hook(&body), call, Route::Hook).await
}

/// The Actions event.
pub async fn send_action(
    State(state): State<Arc<AppState>>,
    call: Call,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = read_body(&state, body)?;
    send(
        &state,
        inbound::parse_actions_event(&body),
        call,
        Route::Actions,
    )
    .await
}

/// What a send call brings besides its body, read from the request's parts
/// in place (axum's `HeaderMap` extractor would copy every header of every
/// message for the one this needs).
pub struct Call {
    /// The caller's address.
    peer: Option<IpAddr>,
    /// Its `Idempotency-Key` header.
    idempotency_key: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Call {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Call, Infallible> {
        // What the `Peer` extractor takes, without its clone of the parts.
        let peer: Peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .copied()
            .map(Extension);
        let idempotency_key = parts
            .headers
            .get(IDEMPOTENCY_KEY)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned);
        Ok(Call {
            peer: peer_ip(&peer),
            idempotency_key,
        })
    }
}

/// The request header that names a call's message for retries.
const IDEMPOTENCY_KEY: &str = "idempotency-key";

/// The response header on an answer repeated for a retried call.
const REPLAY_HEADER: HeaderName = HeaderName::from_static("x-phonehook-replay");

/// The headers of an answer that a repeat gets again.
static KEPT_HEADERS: [HeaderName; 4] = [
    header::CONTENT_TYPE,
    header::RETRY_AFTER,
    EVENT_ID_HEADER,
    PLUGIN_HEADER,
];

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
    call: Call,
    route: Route,
) -> Result<Response, ApiError> {
    let message = inbound?.validate(&state.rules)?;
    if !state.idempotency.is_enabled() {
        return Ok(deliver(state, &message, call.peer, route).await);
    }
    let key = state
        .idempotency
        .key(route.as_str(), call.idempotency_key.as_deref(), &message);
    let Some(cell) = state.idempotency.claim(&key) else {
        return Ok(deliver(state, &message, call.peer, route).await);
    };
    // Whichever call runs the initialiser asks the shared store (when there
    // is one) and sends, or repeats another instance's answer; the other
    // calls on this instance get its answer. The call that sent answers
    // with its own response rather than one rebuilt from the kept copy
    // (nearly every call is such a first one).
    let own = std::sync::Mutex::new(None);
    let stored = cell
        .get_or_init(|| async {
            match state.idempotency.begin(&key).await {
                Begin::Replay(stored) => stored,
                Begin::Send(claim) => {
                    let (stored, response) =
                        keep(deliver(state, &message, call.peer, route).await).await;
                    *own.lock().unwrap_or_else(PoisonError::into_inner) = Some(response);
                    state.idempotency.finish(claim, &stored).await;
                    stored
                }
            }
        })
        .await;
    state.idempotency.settle(&key, &cell);
    Ok(
        match own.into_inner().unwrap_or_else(PoisonError::into_inner) {
            Some(response) => response,
            None => replay(stored, true),
        },
    )
}

/// The guard, then the active plugin and its fallbacks.
async fn deliver(
    state: &Arc<AppState>,
    message: &Message,
    peer: Option<IpAddr>,
    route: Route,
) -> Response {
    let attempt = match screen::screen(state, message, peer, route).await {
        Some(refused) => refused,
        None => chain::send(state, message, route).await,
    };
    attempt.respond(|delivered| {
        Json(Sent {
            message_id: delivered.message_id,
        })
    })
}

/// The answer to a delivered message, as Auth0 expects it: typed, so it is
/// written straight out rather than built as a JSON map first.
#[derive(serde::Serialize)]
struct Sent {
    #[serde(rename = "MessageID")]
    message_id: String,
}

/// An answer as kept for repeats, and the response itself again for the
/// call that sent it.
async fn keep(response: Response) -> (Stored, Response) {
    let (parts, body) = response.into_parts();
    // Our own JSON answers: small, and already complete.
    match axum::body::to_bytes(body, usize::MAX).await {
        Ok(body) => {
            let kept = KEPT_HEADERS
                .iter()
                .filter_map(|name| Some((name, parts.headers.get(name)?)));
            let stored = Stored::new(parts.status.as_u16(), kept, &body);
            (
                stored,
                Response::from_parts(parts, axum::body::Body::from(body)),
            )
        }
        Err(e) => {
            let body = json!({"error": {"code": "internal", "message": format!("the answer could not be read: {e}")}})
                .to_string();
            let json = HeaderValue::from_static("application/json");
            let stored = Stored::new(500, [(&header::CONTENT_TYPE, &json)], body.as_bytes());
            let response = replay(&stored, false);
            (stored, response)
        }
    }
}

/// A kept answer, marked when it repeats an earlier call's.
fn replay(stored: &Stored, repeat: bool) -> Response {
    let mut response = Response::new(axum::body::Body::from(stored.body()));
    *response.status_mut() =
        StatusCode::from_u16(stored.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in stored.headers() {
        response.headers_mut().insert(name, value);
    }
    if repeat {
        response
            .headers_mut()
            .insert(REPLAY_HEADER, HeaderValue::from_static("true"));
    }
    response
}
