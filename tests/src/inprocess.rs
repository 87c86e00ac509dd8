//! The host's router driven in-process, as axum's `examples/testing` does:
//! [`phonehook::api::router`] over an [`AppState`] built without a socket, a
//! plugin or a database, each request sent with `tower::ServiceExt::oneshot`.
//! For what the HTTP surface decides by itself (access groups, input
//! validation, error answers); anything that needs a real socket, a real
//! plugin library or the watcher stays with [`crate::Host`].

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, Request};
use axum::Router;
use http_body_util::BodyExt;
use phonehook::config::Config;
use phonehook::control::Control;
use phonehook::deliverylog::DeliveryLog;
use phonehook::egress::Egress;
use phonehook::plugins::{Registry, Staging};
use phonehook::state::AppState;
use serde_json::Value;
use tower::ServiceExt;

/// The router of a host with no plugin loaded (so none is active) and the
/// delivery log off, configured by `config`.
pub fn router(config: Config) -> Router {
    with_state(config).0
}

/// [`router`] and the state it serves, for tests that check what a request
/// changed (the guard's safe list, say) where the router does not show it.
pub fn with_state(mut config: Config) -> (Router, Arc<AppState>) {
    config.log.enabled = false;
    let rules = config.rules().expect("the test configuration is valid");
    let staging = Staging::new(None).expect("a staging directory");
    let registry = Arc::new(Registry::new(staging, BTreeMap::new()));
    let log = DeliveryLog::open(&config.log).expect("a disabled log opens");
    let control = Control::start(registry, log.clone(), None).expect("nothing to activate");
    let egress = Egress::new(&config.vendor).expect("the vendor client builds");
    let state = AppState::new(
        config,
        Arc::new(control),
        egress,
        rules,
        log,
        // Nothing listens here: no plugin is loaded that would call back.
        "http://127.0.0.1:9".to_owned(),
        None,
    );
    let state = Arc::new(state);
    (phonehook::api::router(state.clone()), state)
}

/// Sends one request through `router`: `body` as JSON when given, `token` as
/// a bearer token. The status and the body as JSON (`Null` when empty or not
/// JSON).
pub async fn call(
    router: &Router,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Vec<u8>>,
) -> (u16, Value) {
    let mut request = Request::builder().method(method).uri(path);
    if let Some(token) = token {
        request = request.header(header::AUTHORIZATION, format!("Bearer {token}"));
    }
    let body = match body {
        Some(bytes) => {
            request = request.header(header::CONTENT_TYPE, "application/json");
            Body::from(bytes)
        }
        None => Body::empty(),
    };
    let request = request.body(body).expect("a well-formed test request");
    let response = router
        .clone()
        .oneshot(request)
        .await
        .expect("the router is infallible");
    let status = response.status().as_u16();
    let bytes = response
        .into_body()
        .collect()
        .await
        .expect("the body is read in memory")
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}
