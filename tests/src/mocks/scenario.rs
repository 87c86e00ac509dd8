//! What every mock keeps: the scenario the test picked, switchable while the
//! mock runs, and a counter for vendor-shaped message ids (both shared by the
//! clones axum makes of a router's state and the clone the test keeps); and
//! the answers that are the same whatever the vendor: a proxy's error page,
//! `Retry-After`, a reply that never comes, a reply too large to accept.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// The scenario a running mock answers with.
#[derive(Debug, Default)]
pub struct Switch<S>(Arc<Mutex<S>>);

// Not derived: a derive would ask `S: Clone`, and the clone shares the cell.
impl<S> Clone for Switch<S> {
    fn clone(&self) -> Self {
        Switch(Arc::clone(&self.0))
    }
}

impl<S: Clone> Switch<S> {
    /// A switch set to `scenario`.
    pub fn new(scenario: S) -> Self {
        Switch(Arc::new(Mutex::new(scenario)))
    }

    /// What the next requests get.
    pub fn set(&self, scenario: S) {
        // A handler that panicked mid-request must not wedge the other tests'
        // view of the mock, so a poisoned lock is used as it is.
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = scenario;
    }

    /// The current scenario.
    pub fn get(&self) -> S {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// 1, 2, 3… for message ids.
#[derive(Clone, Debug, Default)]
pub struct Counter(Arc<AtomicU64>);

impl Counter {
    /// The next number, starting at 1.
    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed) + 1
    }
}

/// What a proxy in front of a vendor answers while the vendor is down: `503`
/// with an HTML page, not the vendor's error format.
pub fn proxy_unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        [(header::CONTENT_TYPE, "text/html")],
        "<html><body><h1>503 Service Unavailable</h1></body></html>",
    )
        .into_response()
}

/// `response` with `Retry-After: secs`.
pub fn retry_after(mut response: Response, secs: u32) -> Response {
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(secs));
    response
}

/// Never answers, so the host's vendor timeout fires.
pub async fn hang() -> Response {
    std::future::pending().await
}

/// 256 KiB of filler, to put inside a vendor-shaped body that must be larger
/// than the reply cap the vendor contract configures (64 KiB,
/// `contract::MAX_REPLY_BYTES`). Not larger: a mock built without
/// optimisation serialises it on every request, and on a loaded machine a
/// slow mock would answer after the host's timeout instead of too much.
pub fn oversized_filler() -> String {
    "x".repeat(256 * 1024)
}
