//! Request bodies: capped, timed, and held in one buffer.
//!
//! [`read_whole_body`] answers 413 before reading any of a body whose
//! `Content-Length` is over the cap (axum's `DefaultBodyLimit` only stops a
//! body once the cap has been read, so a caller announcing 100 MB and sending
//! slowly would hold a connection and a buffer until then), then reads the
//! body (up to the cap, within `limits.body_timeout_ms`) into one buffer
//! before the handler runs. One middleware, not two: every message passes
//! here, and each layer costs a boxed future and a clone of the routes
//! behind it.
//!
//! Why the copy: hyper hands over each read from the socket as a `Bytes`
//! that shares its 8 KiB read buffer, and reserves a fresh 8 KiB buffer for
//! the next read. axum's `Bytes` extractor keeps every frame until the body
//! ends, so a caller sending one byte per packet pinned 8 KiB per byte (a
//! 64 KiB body could cost 512 MiB). Copying each frame into one growing buffer
//! and dropping the frame returns hyper's buffer at once: a body costs at most
//! twice its size plus one read buffer.
//!
//! **Architecture Invariant:** every route that reads a body gets it through
//! [`read_whole_body`], behind its access check, so a caller without a token
//! never makes the server buffer anything.

use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use http_body_util::BodyExt;

use super::error::ApiError;
use crate::state::AppState;

/// Middleware: 413 at once when `Content-Length` exceeds
/// `limits.max_body_bytes`; else reads the whole body into one buffer within
/// `limits.body_timeout_ms` (else 408 `body_timeout`), at most
/// `limits.max_body_bytes` of it (else 413), then runs the handler on it.
pub async fn read_whole_body(
    State(state): State<Arc<AppState>>,
    req: Request,
    next: Next,
) -> Response {
    let limits = &state.config.limits;
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|len| len > limits.max_body_bytes as u64) {
        return ApiError::body_too_large(limits.max_body_bytes).into_response();
    }
    let timeout = Duration::from_millis(limits.body_timeout_ms);
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(timeout, collect(body, limits.max_body_bytes)).await;
    match read {
        Ok(Ok(bytes)) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Ok(Err(BodyError::TooLarge)) => {
            ApiError::body_too_large(limits.max_body_bytes).into_response()
        }
        Ok(Err(BodyError::Read(e))) => {
            // Mostly a caller that hung up mid-body; nobody may read this.
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_body",
                format!("cannot read the request body: {e}"),
            )
            .into_response()
        }
        Err(_elapsed) => ApiError::body_timeout(limits.body_timeout_ms).into_response(),
    }
}

enum BodyError {
    TooLarge,
    Read(axum::Error),
}

/// Copies the body's frames into one buffer, dropping each frame (and the
/// read buffer it shares) as soon as it is copied.
async fn collect(mut body: Body, max: usize) -> Result<Bytes, BodyError> {
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(BodyError::Read)?;
        // Trailers carry nothing a route reads.
        if let Ok(data) = frame.into_data() {
            if buf.len().saturating_add(data.len()) > max {
                return Err(BodyError::TooLarge);
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(Bytes::from(buf))
}
