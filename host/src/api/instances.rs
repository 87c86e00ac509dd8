//! `GET /api/v1/instances`: the instances that share this one's store, with
//! their plugins (name, version, SHA-256), the plugin each serves and the
//! control generation each has applied — version skew and convergence at a
//! glance. With SQLite there is one instance: this one.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use crate::deliverylog::time::format_rfc3339;
use crate::fleet::{self, Identity};
use crate::state::AppState;
use crate::store::instances::Instance;

/// The live instances.
pub async fn list(State(state): State<Arc<AppState>>) -> Result<Json<Value>, ApiError> {
    let Some(fleet) = &state.fleet else {
        let me = Identity::new(
            state.config.instance_name.as_deref(),
            state.config.listen.port(),
        );
        let mut only = fleet::describe(&me, &state.control);
        // One instance: no random suffix is needed to tell it apart.
        only.id = format!("{}:{}", only.name, state.config.listen.port());
        return Ok(Json(json!({
            "store": "sqlite",
            "instance": only.id,
            "instances": [shown(&only, true)],
        })));
    };
    let live = fleet.instances().await.map_err(|e| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_unavailable",
            e.to_string(),
        )
    })?;
    let newest = live.iter().map(|i| i.generation).max().unwrap_or(0);
    let shown: Vec<Value> = live
        .iter()
        .map(|i| shown(i, i.generation == newest))
        .collect();
    Ok(Json(json!({
        "store": "postgres",
        "instance": fleet.identity().id,
        "config_generation": newest,
        "converged": live.iter().all(|i| i.generation == newest),
        "instances": shown,
    })))
}

fn shown(i: &Instance, converged: bool) -> Value {
    json!({
        "id": i.id,
        "name": i.name,
        "started": format_rfc3339(i.started_ms),
        "heartbeat": format_rfc3339(i.heartbeat_ms),
        "config_generation": i.generation,
        "converged": converged,
        "active": i.active,
        "plugins": i.plugins,
    })
}
