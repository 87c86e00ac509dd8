//! `GET /healthz`: the process is up; which plugin serves, if any; with a
//! shared store, whether it is reachable (`degraded` while it is not: the
//! instance serves its last known configuration) and the control generation
//! it serves.

use std::sync::Arc;

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::state::AppState;

/// Liveness and the active plugin.
pub async fn healthz(State(state): State<Arc<AppState>>) -> Json<Value> {
    let active = state.registry.active();
    let degraded = state
        .store
        .as_ref()
        .is_some_and(|pg| pg.health().is_degraded());
    let status = match (&active, degraded) {
        (None, _) => "no_active_plugin",
        (Some(_), true) => "degraded",
        (Some(_), false) => "ok",
    };
    Json(json!({
        "status": status,
        "active_plugin": active.as_ref().map(|a| a.generation.info.name.clone()),
        "generation": active.as_ref().map(|a| a.generation.id),
        "store": if state.store.is_some() { "postgres" } else { "sqlite" },
        "store_status": if degraded { "unreachable" } else { "ok" },
        "config_generation": state.control.generation(),
        "instance": state.fleet.as_ref().map(|f| f.identity().id.clone()),
    }))
}
