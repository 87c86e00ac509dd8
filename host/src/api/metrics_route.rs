//! `GET /metrics`: the process's Prometheus text ([`crate::metrics`]). An
//! admin route, served by the same listener as the API.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// `GET /metrics`.
pub async fn render(State(state): State<Arc<AppState>>) -> Response {
    // Read at scrape time, so the gauge is right however the plugin changed
    // (admin API, configuration file, reload).
    match state.registry.active() {
        Some(active) => {
            crate::metrics::active_plugin(&active.generation.info.name, active.generation.id)
        }
        None => crate::metrics::no_active_plugin(),
    }
    let body = crate::metrics::render();
    ([(header::CONTENT_TYPE, crate::metrics::CONTENT_TYPE)], body).into_response()
}
