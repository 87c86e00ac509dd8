//! The sandbox inbox routes: what the sandbox plugin "delivers" to, and a
//! listing for people and tests.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::error::ApiError;
use crate::inbox::simulated_failure;
use crate::state::AppState;

#[derive(Deserialize)]
pub struct Incoming {
    to: String,
    text: String,
    #[serde(default)]
    channel: String,
    #[serde(default)]
    language: String,
}

/// `POST /sandbox/messages`.
pub async fn receive(
    State(state): State<Arc<AppState>>,
    body: Result<Json<Incoming>, axum::extract::rejection::JsonRejection>,
) -> Response {
    let Ok(Json(msg)) = body else {
        return ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_json",
            "expected {\"to\", \"text\"}",
        )
        .into_response();
    };
    if let Some(sim) = simulated_failure(&msg.to) {
        let mut resp = (
            StatusCode::from_u16(sim.status).unwrap_or(StatusCode::BAD_REQUEST),
            Json(json!({"error": {"code": sim.code, "message": sim.message}})),
        )
            .into_response();
        if let Some(secs) = sim.retry_after {
            resp.headers_mut().insert(header::RETRY_AFTER, secs.into());
        }
        return resp;
    }
    let id = state
        .inbox
        .push(msg.to, msg.text, msg.channel, msg.language);
    (StatusCode::CREATED, Json(json!({ "id": id }))).into_response()
}

#[derive(Deserialize)]
pub struct Filter {
    to: Option<String>,
}

impl Filter {
    /// The recipient to filter by, in E.164 like the inbox keeps it; `None`
    /// for no filter. A URL query decodes `+` as a space, so `?to=+1...` as
    /// people type it arrives as ` 1...`: a leading space in a phone number
    /// can only have been that `+`.
    fn recipient(&self, state: &AppState) -> Result<Option<String>, ApiError> {
        let Some(raw) = self.to.as_deref() else {
            return Ok(None);
        };
        let written = match raw.strip_prefix(' ') {
            Some(rest) => format!("+{rest}"),
            None => raw.to_owned(),
        };
        crate::e164::normalize(
            &written,
            state.rules.default_region,
            crate::e164::Strictness::Possible,
        )
        .map(Some)
        .map_err(|e| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_recipient",
                format!("filter `to`: {e}; nothing was listed or deleted"),
            )
        })
    }
}

/// `GET /sandbox/messages[?to=+1...]`.
pub async fn list(State(state): State<Arc<AppState>>, Query(q): Query<Filter>) -> Response {
    match q.recipient(&state) {
        Ok(to) => Json(json!({ "messages": state.inbox.list(to.as_deref()) })).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `DELETE /sandbox/messages[?to=+1...]`: everything, or one recipient's
/// messages. A filter that cannot be read deletes nothing.
pub async fn clear(State(state): State<Arc<AppState>>, Query(q): Query<Filter>) -> Response {
    match q.recipient(&state) {
        Ok(to) => Json(json!({ "deleted": state.inbox.remove(to.as_deref()) })).into_response(),
        Err(e) => e.into_response(),
    }
}
