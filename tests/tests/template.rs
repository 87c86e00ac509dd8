//! The template plugin through a real host, against a small mock of its
//! imaginary vendor. A plugin's own end-to-end test looks like this: start the
//! mock, start a host with the plugin built fresh, send a message, check what
//! the host answered and what the mock received.

use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use phonehook_e2e::{Host, HostBuilder, MockVendor};
use serde_json::{json, Value};

const TOKEN: &str = "tok-e2e-123456";
/// The number the mock refuses, as Acme refuses an unknown number.
const REFUSED: &str = "+15005550001";

/// Acme's API, as far as the plugin uses it: `POST /v1/messages` with the
/// Bearer token and a JSON body; `201` with an id, or Acme's error object.
fn acme() -> Router {
    Router::new().route("/v1/messages", post(send))
}

async fn send(headers: HeaderMap, Json(body): Json<Value>) -> Response {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if auth != Some(&format!("Bearer {TOKEN}")) {
        return acme_error(StatusCode::UNAUTHORIZED, "unauthorized", "bad token");
    }
    if body["from"] != "Acme" || !body["text"].is_string() {
        return acme_error(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "from and text are required",
        );
    }
    if body["to"] == REFUSED {
        return acme_error(StatusCode::BAD_REQUEST, "invalid_number", "unknown number");
    }
    (
        StatusCode::CREATED,
        Json(json!({"id": "msg_1", "status": "queued"})),
    )
        .into_response()
}

fn acme_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({"error": {"code": code, "message": message}});
    (status, Json(body)).into_response()
}

fn host(mock: &MockVendor) -> HostBuilder {
    Host::builder()
        .plugin("phonehook-plugin-template")
        .active("template")
        .setting("template", "base_url", mock.url())
        .setting("template", "from", "Acme")
        .secret("template", "TEMPLATE_API_TOKEN", TOKEN)
        .config("vendor.timeout_ms", 2000)
}

fn message(recipient: &str, message_type: &str) -> Value {
    json!({
        "recipient": recipient, "text": "Your code is 123456",
        "context": {"message_type": message_type, "language": "en", "code": "123456",
                    "action": "second-factor-authentication"}
    })
}

#[tokio::test]
async fn a_text_is_delivered_with_acmes_id() {
    let mock = MockVendor::start(acme()).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(message("+14155550100", "sms")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["MessageID"], "msg_1");
    let req = mock.last();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(
        req.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(
        req.json(),
        json!({"to": "+14155550100", "from": "Acme", "text": "Your code is 123456"})
    );
}

#[tokio::test]
async fn a_refusal_is_a_vendor_error_with_acmes_code() {
    let mock = MockVendor::start(acme()).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(message(REFUSED, "sms")).await;
    assert_eq!(status, 502, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], "vendor_error", "{body}");
    assert_eq!(error["vendor_code"], "invalid_number", "{body}");
    assert_eq!(error["vendor_status"], 400, "{body}");
    assert_eq!(error["retryable"], false, "{body}");
    assert_eq!(error["plugin"], "template", "{body}");
}

#[tokio::test]
async fn voice_and_a_missing_token_are_refused_before_any_request() {
    let mock = MockVendor::start(acme()).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(message("+14155550100", "voice")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (422, &json!("unsupported")),
        "{body}"
    );

    let host = Host::builder()
        .plugin("phonehook-plugin-template")
        .active("template")
        .setting("template", "base_url", mock.url())
        .setting("template", "from", "Acme")
        .start()
        .await;
    let (status, body) = host.send(message("+14155550100", "sms")).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (503, &json!("plugin_config")),
        "{body}"
    );
    assert!(body.to_string().contains("TEMPLATE_API_TOKEN"), "{body}");
    assert!(mock.requests().is_empty());
}
