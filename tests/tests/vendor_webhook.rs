//! The webhook plugin through a real host, against two loopback in-house
//! gateways of different shapes, each configured without code: settings are
//! TOML tables exactly as an admin would write them in `phonehook.toml`.

use phonehook_e2e::mocks::webhook::{
    self, Gateway, Scenario, API_KEY, FORM_ID, FORM_PATH, JSON_ID, JSON_PATH,
};
use phonehook_e2e::{Host, HostBuilder, MockVendor};
use serde_json::{json, Value};

async fn mock(scenario: Scenario) -> MockVendor {
    let state = Gateway::new();
    state.set(scenario);
    MockVendor::start(webhook::router(state)).await
}

fn base() -> HostBuilder {
    Host::builder()
        .plugin("phonehook-plugin-webhook")
        .active("webhook")
        .config("vendor.timeout_ms", 400)
        .config("vendor.max_reply_bytes", 65536)
}

fn json_gateway(mock: &MockVendor) -> HostBuilder {
    webhook::json_gateway_settings(base(), &mock.url())
}

fn form_gateway(mock: &MockVendor) -> HostBuilder {
    webhook::form_gateway_settings(base(), &mock.url())
}

fn message(text: &str, message_type: &str) -> Value {
    json!({
        "recipient": "+14155550100",
        "text": text,
        "context": {"message_type": message_type, "language": "en", "code": "123456",
                    "action": "second-factor-authentication"}
    })
}

fn sms() -> Value {
    message("Your code is 123456", "sms")
}

/// Asserts a 502 vendor error and returns its error object.
fn vendor_error(status: u16, body: &Value) -> &Value {
    assert_eq!(status, 502, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], "vendor_error", "{body}");
    assert_eq!(error["plugin"], "webhook", "{body}");
    error
}

/// Asserts an error response of the given status and code.
fn host_error(status: u16, body: &Value, want_status: u16, want_code: &str) {
    assert_eq!(status, want_status, "{body}");
    assert_eq!(body["error"]["code"], want_code, "{body}");
}

#[tokio::test]
async fn json_gateway_delivers_with_the_text_safely_escaped() {
    let mock = mock(Scenario::Accept).await;
    let host = json_gateway(&mock).start().await;
    let text = "Your code is 123456 — \"don't\" share it & {{text}}\nbye";
    let (status, body) = host.send(message(text, "sms")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["MessageID"], JSON_ID);

    let req = mock.last();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", JSON_PATH)
    );
    assert_eq!(req.header("x-api-key"), Some(API_KEY));
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({"to": "+14155550100", "message": text, "meta": {"type": "sms", "lang": "en"}})
    );
}

#[tokio::test]
async fn json_gateway_gets_voice_messages_with_their_type() {
    let mock = mock(Scenario::Accept).await;
    let host = json_gateway(&mock).start().await;
    let (status, body) = host
        .send(message("Your code is 1 2 3 4 5 6", "voice"))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(mock.last().json()["meta"]["type"], "voice");
}

#[tokio::test]
async fn json_gateway_refusal_inside_a_200_is_a_vendor_error() {
    let mock = mock(Scenario::Refuse).await;
    let host = json_gateway(&mock).start().await;
    let (status, body) = host.send(sms()).await;
    let error = vendor_error(status, &body);
    assert_eq!(error["vendor_code"], "E_BLOCKED", "{body}");
    assert_eq!(error["message"], "destination is blocked", "{body}");
    assert_eq!(error["vendor_status"], 200, "{body}");
    assert_eq!(error["retryable"], false, "{body}");
}

#[tokio::test]
async fn json_gateway_wrong_key_is_refused_by_the_gateway() {
    let mock = mock(Scenario::Accept).await;
    let host = json_gateway(&mock)
        .secret("webhook", "GATEWAY_KEY", "not-the-key")
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    let error = vendor_error(status, &body);
    assert_eq!(error["vendor_code"], "unauthorized", "{body}");
    assert_eq!(error["vendor_status"], 401, "{body}");
    assert_eq!(error["retryable"], false, "{body}");
    assert!(!body.to_string().contains("not-the-key"), "{body}");
}

#[tokio::test]
async fn form_gateway_delivers() {
    let mock = mock(Scenario::Accept).await;
    let host = form_gateway(&mock).start().await;
    let text = "Your code is 123456 & keep it +private";
    let (status, body) = host.send(message(text, "sms")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["MessageID"], FORM_ID);

    let req = mock.last();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", FORM_PATH)
    );
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(req.form_field("msisdn").as_deref(), Some("14155550100"));
    assert_eq!(req.form_field("msg").as_deref(), Some(text));
}

#[tokio::test]
async fn form_gateway_refusal_carries_its_result_and_reason() {
    let mock = mock(Scenario::Refuse).await;
    let host = form_gateway(&mock).start().await;
    let (status, body) = host.send(sms()).await;
    let error = vendor_error(status, &body);
    assert_eq!(error["vendor_code"], "7", "{body}");
    assert_eq!(error["message"], "Absent subscriber", "{body}");
    assert_eq!(error["retryable"], false, "{body}");
}

#[tokio::test]
async fn a_bad_template_is_refused_before_anything_is_sent() {
    let mock = mock(Scenario::Accept).await;
    let host = json_gateway(&mock)
        .setting(
            "webhook",
            "body",
            webhook::table(
                r#"to = "{{recipent}}"
message = "{{text}}""#,
            ),
        )
        .setting("webhook", "id_pointer", "data.id")
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    host_error(status, &body, 503, "plugin_config");
    let text = body["error"]["message"].as_str().unwrap_or_default();
    assert!(text.contains("{{recipent}}"), "{body}");
    assert!(text.contains("id_pointer"), "{body}");
    assert!(mock.requests().is_empty(), "nothing may reach the gateway");
}

#[tokio::test]
async fn a_template_secret_that_is_not_set_is_named() {
    let mock = mock(Scenario::Accept).await;
    let host = json_gateway(&mock)
        .setting(
            "webhook",
            "headers",
            webhook::table(r#"Authorization = "Bearer {{secret.GATEWAY_TOKEN}}""#),
        )
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    host_error(status, &body, 503, "plugin_config");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("GATEWAY_TOKEN"),
        "{body}"
    );
    assert!(mock.requests().is_empty(), "nothing may reach the gateway");
}
