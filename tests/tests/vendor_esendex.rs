//! The Esendex plugin end to end: a real host, the real plugin library, and a
//! loopback mock of Esendex's message dispatcher that checks every request as
//! Esendex documents it.

use phonehook_e2e::contract;
use phonehook_e2e::mocks::esendex::{self, Esendex, Scenario, ACCOUNT, PASSWORD, USERNAME as USER};
use phonehook_e2e::{Host, HostBuilder, MockVendor};
use phonehook_plugin_api::encoding;
use serde_json::{json, Value};

async fn mock(scenario: Scenario) -> MockVendor {
    MockVendor::start(esendex::router(
        Esendex::new(USER, PASSWORD, ACCOUNT).scenario(scenario),
    ))
    .await
}

/// A host with the esendex plugin active and pointed at `mock`.
fn builder(mock: &MockVendor) -> HostBuilder {
    contract::host("esendex", &mock.url())
}

fn payload(channel: &str, language: &str) -> Value {
    json!({"recipient": "+447911123456", "text": "Your code is 123456",
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
    contract::assert_vendor_error("esendex", &[PASSWORD], answer, code, http, retryable);
}

#[tokio::test]
async fn sms_is_dispatched_as_documented() {
    let mock = mock(Scenario::Accept).await;
    let (status, body) = send(&mock, sms()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["MessageID"], "1183c73d-2e62-4f60-b610-000000000001");

    let req = mock.last();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1.0/messagedispatcher")
    );
    assert_eq!(
        req.header("authorization"),
        Some(encoding::basic_auth(USER, PASSWORD).as_str())
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("accept"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({"accountreference": ACCOUNT,
               "messages": [{"to": "447911123456", "body": "Your code is 123456"}]})
    );
}

#[tokio::test]
async fn originator_and_account_come_from_settings() {
    let mock = mock(Scenario::Accept).await;
    let host = Host::builder()
        .plugin("phonehook-plugin-esendex")
        .active("esendex")
        .setting("esendex", "base_url", mock.url())
        .setting("esendex", "from", "Acme")
        .setting("esendex", "ESENDEX_ACCOUNT", ACCOUNT)
        .secret("esendex", "ESENDEX_USERNAME", USER)
        .secret("esendex", "ESENDEX_SECRET", PASSWORD)
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 200, "{body}");
    let sent = mock.last().json();
    assert_eq!(sent["accountreference"], ACCOUNT);
    assert_eq!(sent["messages"][0]["from"], "Acme");
}

#[tokio::test]
async fn voice_is_a_voice_message_in_the_nearest_language() {
    let mock = mock(Scenario::Accept).await;
    let host = builder(&mock)
        .setting("esendex", "voice_retries", 2)
        .start()
        .await;
    let (status, body) = host.send(payload("voice", "fr-CA")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["MessageID"], "1183c73d-2e62-4f60-b610-000000000001");
    assert_eq!(
        mock.last().json()["messages"][0],
        json!({"to": "447911123456", "body": "Your code is 1, 2, 3, 4, 5, 6",
               "type": "Voice", "lang": "fr-FR", "retries": 2})
    );
}

#[tokio::test]
async fn an_xml_answer_is_read_too() {
    let mock = mock(Scenario::AcceptXml).await;
    let (status, body) = send(&mock, sms()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["MessageID"], "1183c73d-2e62-4f60-b610-000000000001");
}

#[tokio::test]
async fn json_errors_carry_esendex_code_and_description() {
    let mock = MockVendor::start(esendex::router(Esendex::new(USER, PASSWORD, "EX0099999"))).await;
    let (status, body) = send(&mock, sms()).await;
    assert_vendor_error(status, &body, "accountreference_invalid", 400, false);
    // The account reference is configured as a secret here, so the host redacts it.
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.starts_with("Invalid Account Reference"), "{body}");
    assert!(!message.contains(ACCOUNT), "{body}");
}

#[tokio::test]
async fn plain_text_errors_are_quoted() {
    let mock = mock(Scenario::PlainTextError).await;
    let (status, body) = send(&mock, sms()).await;
    assert_vendor_error(status, &body, "400", 400, false);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Bad Request: Invalid message"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_credentials_are_refused_without_leaking_them() {
    let mock = mock(Scenario::Accept).await;
    let host = builder(&mock)
        .secret("esendex", "ESENDEX_SECRET", "wrong-password")
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_vendor_error(status, &body, "401", 401, false);
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Invalid user credentials"),
        "{body}"
    );
    assert!(!body.to_string().contains("wrong-password"), "{body}");
}

#[tokio::test]
async fn no_credit_is_not_retryable() {
    let mock = mock(Scenario::NoCredit).await;
    let (status, body) = send(&mock, sms()).await;
    assert_vendor_error(status, &body, "insufficient_credits", 402, false);
}

#[tokio::test]
async fn missing_login_and_account_are_named() {
    let mock = mock(Scenario::Accept).await;
    let host = Host::builder()
        .plugin("phonehook-plugin-esendex")
        .active("esendex")
        .setting("esendex", "base_url", mock.url())
        .secret("esendex", "ESENDEX_USERNAME", USER)
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "plugin_config", "{body}");
    let text = body.to_string();
    assert!(
        text.contains("ESENDEX_SECRET") && text.contains("ESENDEX_ACCOUNT"),
        "{body}"
    );
    assert!(!text.contains("ESENDEX_USERNAME"), "{body}");
    assert!(
        mock.requests().is_empty(),
        "nothing is sent without credentials"
    );
}
