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
    page(&state, raw.as_deref().unwrap_or_default())
        .await
        .map(Json)
}

/// One page of the log for a URL query string (the parameters of
/// [`crate::deliverylog::query::PARAMS`]), after waiting briefly for queued
/// events: the one reading path the JSON API and the console share.
pub(crate) async fn page(state: &AppState, raw_query: &str) -> Result<Page, ApiError> {
    let pairs = url::form_urlencoded::parse(raw_query.as_bytes());
    let query = Query::from_pairs(pairs, state.rules.default_region, time::now_ms())
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", e.to_string()))?;
    flush_briefly(state).await;
    state.log.query(query).await.map_err(log_error)
}

/// Waits up to [`FLUSH_WAIT`] for queued events to be written.
pub(crate) async fn flush_briefly(state: &AppState) {
    if tokio::time::timeout(FLUSH_WAIT, state.log.flush())
        .await
        .is_err()
    {
        tracing::warn!("delivery log flush is slow; answering with the events written so far");
    }
}

pub(crate) fn log_error(error: LogError) -> ApiError {
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
