//! `GET /healthz`: the process is up; which plugin serves, if any.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

/// Liveness and the active plugin.
pub async fn healthz(State(state): State<Arc<AppState>>) -> Json<Value> {
    let active = state.registry.active();
    Json(json!({
        "status": if active.is_some() { "ok" } else { "no_active_plugin" },
        "active_plugin": active.as_ref().map(|a| a.generation.info.name.clone()),
        "generation": active.as_ref().map(|a| a.generation.id),
    }))
}
