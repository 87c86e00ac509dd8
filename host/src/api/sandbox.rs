//! The sandbox inbox routes: what the sandbox plugin "delivers" to, and a
//! listing for people and tests.

use std::sync::Arc;

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

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
pub struct ListQuery {
    to: Option<String>,
}

/// `GET /sandbox/messages[?to=+1...]`.
pub async fn list(State(state): State<Arc<AppState>>, Query(q): Query<ListQuery>) -> Json<Value> {
    Json(json!({ "messages": state.inbox.list(q.to.as_deref()) }))
}

/// `DELETE /sandbox/messages`.
pub async fn clear(State(state): State<Arc<AppState>>) -> StatusCode {
    state.inbox.clear();
    StatusCode::NO_CONTENT
}
