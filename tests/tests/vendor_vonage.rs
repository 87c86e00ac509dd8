//! The Vonage plugin through a real host, against the loopback Vonage mock
//! (SMS API and Voice API on one server; the mock verifies the voice JWT).

use phonehook_e2e::mocks::vonage::{
    self, Scenario, Vonage, API_KEY, API_SECRET, APPLICATION_ID, FROM, PRIVATE_KEY,
};
use phonehook_e2e::{Host, HostBuilder, MockVendor};
use phonehook_plugin_api::encoding;
use serde_json::{json, Value};

async fn mock(scenario: Scenario) -> MockVendor {
    let state = Vonage::new();
    state.set(scenario);
    MockVendor::start(vonage::router(state)).await
}

/// A host with the Vonage plugin active against `mock`, configured for both
/// channels, with short vendor timeouts. `secrets` overrides the defaults.
fn host_with(mock: &MockVendor, secrets: &[(&str, &str)]) -> HostBuilder {
    let mut all = vec![
        ("VONAGE_API_KEY", API_KEY),
        ("VONAGE_API_SECRET", API_SECRET),
        ("VONAGE_APPLICATION_ID", APPLICATION_ID),
        ("VONAGE_PRIVATE_KEY", PRIVATE_KEY),
    ];
    all.retain(|(name, _)| !secrets.iter().any(|(n, _)| n == name));
    all.extend(secrets.iter().copied().filter(|(_, v)| !v.is_empty()));
    let mut builder = Host::builder()
        .plugin("phonehook-plugin-vonage")
        .active("vonage")
        .setting("vonage", "base_url", mock.url())
        .setting("vonage", "from", format!("+{FROM}"))
        .config("vendor.timeout_ms", 400)
        .config("vendor.max_reply_bytes", 65536);
    for (name, value) in all {
        builder = builder.secret("vonage", name, value);
    }
    builder
}

fn host(mock: &MockVendor) -> HostBuilder {
    host_with(mock, &[])
}

fn sms(text: &str) -> Value {
    json!({
        "recipient": "+447700900000",
        "text": text,
        "context": {"message_type": "sms", "language": "en", "code": "123456",
                    "action": "second-factor-authentication"}
    })
}

fn voice(language: &str) -> Value {
    json!({
        "recipient": "+14155550100",
        "text": "Votre code est 482915",
        "context": {"message_type": "voice", "language": language, "code": "482915",
                    "action": "second-factor-authentication"}
    })
}

/// Asserts a 502 vendor error and returns its error object.
fn vendor_error(status: u16, body: &Value) -> &Value {
    assert_eq!(status, 502, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], "vendor_error", "{body}");
    assert_eq!(error["plugin"], "vonage", "{body}");
    error
}

fn base64url_json(part: &str) -> Value {
    let bytes = encoding::base64url_decode(part).expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON")
}

#[tokio::test]
async fn sms_is_sent_through_the_sms_api() {
    let mock = mock(Scenario::Accepted).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(sms("Your code is 123456")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["MessageID"], "0A000000000000001", "{body}");

    let req = mock.last();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/sms/json")
    );
    assert_eq!(
        req.header("authorization"),
        Some(encoding::basic_auth(API_KEY, API_SECRET).as_str())
    );
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(req.form_field("to").as_deref(), Some("447700900000"));
    assert_eq!(req.form_field("from").as_deref(), Some(FROM));
    assert_eq!(
        req.form_field("text").as_deref(),
        Some("Your code is 123456")
    );
    assert_eq!(req.form_field("type"), None);
    assert!(
        !req.text().contains(API_SECRET),
        "the secret travels in the header only"
    );
}

#[tokio::test]
async fn non_gsm_text_is_sent_as_unicode() {
    let mock = mock(Scenario::Accepted).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(sms("Ваш код: 123456")).await;
    assert_eq!(status, 200, "{body}");
    let req = mock.last();
    assert_eq!(req.form_field("type").as_deref(), Some("unicode"));
    assert_eq!(req.form_field("text").as_deref(), Some("Ваш код: 123456"));
}

#[tokio::test]
async fn a_long_text_comes_back_as_several_segments() {
    let mock = mock(Scenario::Accepted).await;
    let host = host(&mock).start().await;
    let long = format!(
        "Your code is 123456. {}",
        "Never share it with anyone. ".repeat(8)
    );
    assert_eq!(encoding::sms_segments(&long), 2);
    let (status, body) = host.send(sms(&long)).await;
    assert_eq!(status, 200, "{body}");
    // The mock numbered the two segments 1 and 2; the first one's id is the message's.
    assert_eq!(body["MessageID"], "0A000000000000001", "{body}");
}

#[tokio::test]
async fn a_failed_segment_fails_the_message() {
    let mock = mock(Scenario::SmsPartFailed(
        9,
        "Quota Exceeded - rejected".into(),
    ))
    .await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(sms("Your code is 123456")).await;
    let error = vendor_error(status, &body);
    assert_eq!(error["vendor_code"], "9", "{body}");
    assert_eq!(
        error["message"], "1 of 2 message parts failed: Quota Exceeded - rejected",
        "{body}"
    );
    assert_eq!(error["retryable"], false, "{body}");
}

#[tokio::test]
async fn voice_calls_read_the_code_through_an_ncco() {
    let mock = mock(Scenario::Accepted).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(voice("fr")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["MessageID"], "63f61863-4a51-4f6b-86e1-000000000001",
        "{body}"
    );

    let req = mock.last();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/v1/calls")
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({
            "to": [{"type": "phone", "number": "14155550100"}],
            "from": {"type": "phone", "number": FROM},
            "ncco": [{"action": "talk", "text": "Votre code est 4, 8, 2, 9, 1, 5",
                      "language": "fr-FR", "loop": 2}],
        })
    );
    // The mock verified the signature; check the claims the plugin chose.
    let token = req
        .header("authorization")
        .and_then(|a| a.strip_prefix("Bearer "))
        .unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    assert_eq!(
        base64url_json(parts[0]),
        json!({"alg": "RS256", "typ": "JWT"})
    );
    let claims = base64url_json(parts[1]);
    assert_eq!(claims["application_id"], APPLICATION_ID);
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900
    );
    assert_eq!(claims["jti"].as_str().unwrap().len(), 36, "{claims}");
}

#[tokio::test]
async fn bad_credentials_arrive_as_status_4_in_a_200() {
    let mock = mock(Scenario::Accepted).await;
    let host = host_with(&mock, &[("VONAGE_API_SECRET", "wrong-secret")])
        .start()
        .await;
    let (status, body) = host.send(sms("Your code is 123456")).await;
    let error = vendor_error(status, &body);
    assert_eq!(error["vendor_code"], "4", "{body}");
    assert_eq!(error["message"], "Bad Credentials", "{body}");
    assert_eq!(error["vendor_status"], 200, "{body}");
    assert_eq!(error["retryable"], false, "{body}");
    assert!(!body.to_string().contains("wrong-secret"));
}

#[tokio::test]
async fn throttling_in_a_200_is_retryable() {
    let text = "Throughput Rate Exceeded - please wait [ 1000 ] and retry";
    let mock = mock(Scenario::SmsStatus(1, text.into())).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(sms("Your code is 123456")).await;
    let error = vendor_error(status, &body);
    assert_eq!(
        (error["vendor_code"].as_str(), error["message"].as_str()),
        (Some("1"), Some(text)),
        "{body}"
    );
    assert_eq!(error["retryable"], true, "{body}");
}

#[tokio::test]
async fn voice_errors_are_read_from_problem_json() {
    let mock = mock(Scenario::Problem(
        402,
        "low-balance".into(),
        "Low balance".into(),
    ))
    .await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(voice("en-GB")).await;
    let error = vendor_error(status, &body);
    assert_eq!(error["vendor_code"], "low-balance", "{body}");
    assert_eq!(error["vendor_status"], 402, "{body}");
    assert_eq!(
        error["message"], "Low balance: The request failed (mock scenario).",
        "{body}"
    );
    assert_eq!(error["retryable"], false, "{body}");
}

#[tokio::test]
async fn a_jwt_for_another_application_is_refused() {
    let mock = mock(Scenario::Accepted).await;
    let other = "ffffffff-bbbb-4ccc-8ddd-0123456789ab";
    let host = host_with(&mock, &[("VONAGE_APPLICATION_ID", other)])
        .start()
        .await;
    let (status, body) = host.send(voice("en")).await;
    let error = vendor_error(status, &body);
    assert_eq!(error["vendor_code"], "unauthorized", "{body}");
    assert_eq!(error["vendor_status"], 401, "{body}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Invalid credentials supplied: mock: application_id"),
        "{body}"
    );
}

#[tokio::test]
async fn missing_secrets_are_named() {
    let mock = mock(Scenario::Accepted).await;
    let host = host_with(&mock, &[("VONAGE_API_SECRET", "")]).start().await;
    let (status, body) = host.send(sms("Your code is 123456")).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "plugin_config", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("VONAGE_API_SECRET"),
        "{body}"
    );
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn an_sms_only_deployment_needs_no_voice_secrets() {
    let mock = mock(Scenario::Accepted).await;
    let host = host_with(
        &mock,
        &[("VONAGE_APPLICATION_ID", ""), ("VONAGE_PRIVATE_KEY", "")],
    )
    .setting("vonage", "channels", "sms")
    .start()
    .await;
    let (status, body) = host.send(sms("Your code is 123456")).await;
    assert_eq!(status, 200, "{body}");
    let (status, body) = host.send(voice("en")).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "unsupported", "{body}");
}
