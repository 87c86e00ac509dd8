//! The TeleSign plugin end to end: a real host, the real plugin library, and a
//! loopback mock of TeleSign's Messaging and Voice APIs that recomputes the
//! HMAC signature of every request and checks its fields as TeleSign
//! documents them.

use phonehook_e2e::contract;
use phonehook_e2e::mocks::telesign::{
    self, Scenario, Telesign, API_KEY as KEY, CUSTOMER_ID as CUSTOMER,
};
use phonehook_e2e::{Host, HostBuilder, MockVendor};
use phonehook_plugin_api::encoding;
use serde_json::{json, Value};

/// Another well-formed key, which the mock does not accept.
const WRONG_KEY: &str = "d3Jvbmcta2V5LWZvci1waG9uZWhvb2stdGVzdHMtdGVsZXNpZ24=";

async fn mock(scenario: Scenario) -> MockVendor {
    MockVendor::start(telesign::router(
        Telesign::new(CUSTOMER, KEY).scenario(scenario),
    ))
    .await
}

/// A host with the telesign plugin active (HMAC auth) and pointed at `mock`.
fn builder(mock: &MockVendor) -> HostBuilder {
    contract::host("telesign", &mock.url())
}

fn payload(channel: &str, language: &str) -> Value {
    json!({"recipient": "+14155552671", "text": "Your code is 123456",
           "context": {"message_type": channel, "language": language, "code": "123456",
                       "action": "second-factor-authentication"}})
}

fn sms() -> Value {
    payload("sms", "en")
}

async fn send(mock: &MockVendor, payload: Value) -> (u16, Value) {
    builder(mock).start().await.send(payload).await
}

fn assert_vendor_error(status: u16, body: &Value, code: &str, http: u16, retryable: bool) {
    let answer = (status, body);
    contract::assert_vendor_error("telesign", &[KEY], answer, code, http, retryable);
}

fn form(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[tokio::test]
async fn sms_is_a_signed_form_post() {
    let mock = mock(Scenario::Accept).await;
    let (status, body) = send(&mock, sms()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["MessageID"], "35C8B5F9A1C44D0E0000000000000001");

    let req = mock.last();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/messaging")
    );
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(req.header("x-ts-auth-method"), Some("HMAC-SHA256"));
    assert!(
        req.header("date").is_some_and(|d| d.ends_with(" GMT")),
        "{:?}",
        req.header("date")
    );
    assert_eq!(req.header("x-ts-nonce").map(str::len), Some(36));
    assert!(req
        .header("authorization")
        .unwrap()
        .starts_with(&format!("TSA {CUSTOMER}:")));
    assert_eq!(
        req.form(),
        form(&[
            ("phone_number", "14155552671"),
            ("message", "Your code is 123456"),
            ("message_type", "OTP"),
            ("account_lifecycle_event", "sign-in"),
        ])
    );
}

#[tokio::test]
async fn every_request_gets_a_fresh_nonce() {
    let mock = mock(Scenario::Accept).await;
    let host = builder(&mock).start().await;
    for _ in 0..2 {
        let (status, body) = host.send(sms()).await;
        assert_eq!(status, 200, "{body}");
    }
    let nonces: Vec<String> = mock
        .requests()
        .iter()
        .map(|r| r.header("x-ts-nonce").unwrap().to_owned())
        .collect();
    assert_ne!(nonces[0], nonces[1]);
}

#[tokio::test]
async fn basic_auth_works_when_chosen() {
    let mock = mock(Scenario::Accept).await;
    let host = builder(&mock)
        .setting("telesign", "auth", "basic")
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 200, "{body}");
    let req = mock.last();
    assert_eq!(
        req.header("authorization"),
        Some(encoding::basic_auth(CUSTOMER, KEY).as_str())
    );
    assert_eq!(req.header("x-ts-nonce"), None);
}

#[tokio::test]
async fn voice_goes_to_the_voice_api_with_a_voice() {
    let mock = mock(Scenario::Accept).await;
    let (status, body) = send(&mock, payload("voice", "fr-FR")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["MessageID"], "35C8B5F9A1C44D0E0000000000000001");
    let req = mock.last();
    assert_eq!(req.path, "/v1/voice");
    assert_eq!(
        req.form(),
        form(&[
            ("phone_number", "14155552671"),
            ("message", "Your code is 1, 2, 3, 4, 5, 6"),
            ("message_type", "OTP"),
            ("voice", "f-fr-FR"),
            ("account_lifecycle_event", "sign-in"),
        ])
    );
}

#[tokio::test]
async fn a_wrong_key_fails_the_signature_check() {
    let mock = mock(Scenario::Accept).await;
    let host = builder(&mock)
        .secret("telesign", "TELESIGN_API_KEY", WRONG_KEY)
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_vendor_error(status, &body, "-30006", 401, false);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid Signature"),
        "{body}"
    );
    assert!(!body.to_string().contains(WRONG_KEY), "{body}");
}

#[tokio::test]
async fn an_unknown_customer_is_not_authorized() {
    let mock = mock(Scenario::Accept).await;
    let host = builder(&mock)
        .secret(
            "telesign",
            "TELESIGN_CUSTOMER_ID",
            "00000000-0000-0000-0000-000000000000",
        )
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_vendor_error(status, &body, "-30000", 401, false);
}

#[tokio::test]
async fn a_wrong_basic_key_is_an_invalid_api_key() {
    let mock = mock(Scenario::Accept).await;
    let host = builder(&mock)
        .setting("telesign", "auth", "basic")
        .secret("telesign", "TELESIGN_API_KEY", WRONG_KEY)
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_vendor_error(status, &body, "-30015", 401, false);
}

#[tokio::test]
async fn a_status_only_error_uses_the_status_code() {
    let mock = mock(Scenario::InvalidNumber).await;
    let (status, body) = send(&mock, sms()).await;
    assert_vendor_error(status, &body, "11000", 400, false);
    assert_eq!(
        body["error"]["message"], "Invalid value for parameter phone_number.",
        "{body}"
    );
}

#[tokio::test]
async fn a_2xx_with_a_final_status_is_refused() {
    let mock = mock(Scenario::Blocked).await;
    let (status, body) = send(&mock, sms()).await;
    assert_vendor_error(status, &body, "230", 200, false);
}

#[tokio::test]
async fn a_missing_key_is_named() {
    let mock = mock(Scenario::Accept).await;
    let host = Host::builder()
        .plugin("phonehook-plugin-telesign")
        .active("telesign")
        .setting("telesign", "base_url", mock.url())
        .secret("telesign", "TELESIGN_CUSTOMER_ID", CUSTOMER)
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "plugin_config", "{body}");
    assert!(body.to_string().contains("TELESIGN_API_KEY"), "{body}");
    assert!(
        mock.requests().is_empty(),
        "nothing is sent without credentials"
    );
}

#[tokio::test]
async fn a_key_that_is_not_base64_is_named_without_its_value() {
    let mock = mock(Scenario::Accept).await;
    let host = builder(&mock)
        .secret("telesign", "TELESIGN_API_KEY", "%%not-base64%%")
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "plugin_config", "{body}");
    assert!(body.to_string().contains("TELESIGN_API_KEY"), "{body}");
    assert!(!body.to_string().contains("%%not-base64%%"), "{body}");
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn a_spoken_text_over_1600_characters_is_refused_before_sending() {
    // The host caps texts at 1600 characters itself; spelling the code out for
    // the voice adds ten more.
    let mock = mock(Scenario::Accept).await;
    let mut long = payload("voice", "en");
    long["text"] = Value::String(format!("{} Your code is 123456", "a".repeat(1575)));
    let (status, body) = send(&mock, long).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_message", "{body}");
    assert!(mock.requests().is_empty());
}
