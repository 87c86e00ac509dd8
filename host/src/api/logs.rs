//! `GET /api/v1/logs`: the delivery log, filtered and paged. An admin route.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use axum::Json;

use super::error::ApiError;
use crate::deliverylog::{time, LogError, Page, Query};
use crate::state::AppState;

/// How long a query waits for queued events to reach the database, so an
/// admin sees the message that was sent a moment ago. Past this (a stuck
/// disk) the query answers with what is written.
const FLUSH_WAIT: Duration = Duration::from_secs(2);

/// `GET /api/v1/logs?type=..&plugin=..&user_id=..&client_id=..&recipient=..&id=..&since=..&until=..&limit=..&cursor=..`:
/// newest first; `next_cursor` continues.
pub async fn list(
    State(state): State<Arc<AppState>>,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page>, ApiError> {
    let raw = raw.unwrap_or_default();
    let pairs = url::form_urlencoded::parse(raw.as_bytes());
    let query = Query::from_pairs(pairs, state.rules.default_region, time::now_ms())
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.to_string()))?;
    if tokio::time::timeout(FLUSH_WAIT, state.log.flush())
        .await
        .is_err()
    {
        tracing::warn!("delivery log flush is slow; answering with the events written so far");
    }
    state.log.query(query).await.map(Json).map_err(log_error)
}

fn log_error(error: LogError) -> ApiError {
    match error {
        LogError::Disabled => {
            ApiError::new(StatusCode::NOT_FOUND, "log_disabled", error.to_string())
        }
        LogError::Query(e) => {
            ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.to_string())
        }
        other => {
            tracing::warn!(error = %other, "delivery log query failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "log_unavailable",
                other.to_string(),
            )
        }
    }
}
