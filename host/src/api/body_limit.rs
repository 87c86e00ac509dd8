//! Refuses a body whose declared length is over the cap before reading any
//! of it. axum's `DefaultBodyLimit` only stops a body once the cap has been
//! read, so a caller announcing 100 MB and sending slowly would hold a
//! connection and a buffer until then; chunked bodies without a length are
//! still capped by `DefaultBodyLimit` as they arrive.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::error::ApiError;
use crate::state::AppState;

/// Middleware: 413 at once when `Content-Length` exceeds `limits.max_body_bytes`.
pub async fn refuse_declared_oversize(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let max = state.config.limits.max_body_bytes;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > max as u64) {
        return ApiError::body_too_large(max).into_response();
    }
    next.run(req).await
}
