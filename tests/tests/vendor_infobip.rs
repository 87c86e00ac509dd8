//! The Infobip plugin end to end: a real host, the real plugin library, and a
//! loopback mock of Infobip's API that checks every request as Infobip
//! documents it.

use phonehook_e2e::contract;
use phonehook_e2e::mocks::infobip::{self, Infobip, Scenario, API_KEY as KEY};
use phonehook_e2e::{Host, HostBuilder, MockVendor};
use serde_json::{json, Value};

async fn mock(scenario: Scenario) -> MockVendor {
    MockVendor::start(infobip::router(Infobip::new(KEY).scenario(scenario))).await
}

/// A host with the infobip plugin active and pointed at `mock`.
fn builder(mock: &MockVendor) -> HostBuilder {
    contract::host("infobip", &mock.url())
}

fn sms(text: &str) -> Value {
    json!({"recipient": "+41793026727", "text": text,
           "context": {"message_type": "sms", "language": "en", "code": "123456",
                       "action": "second-factor-authentication"}})
}

fn code_sms() -> Value {
    sms("Your code is 123456")
}

async fn send(mock: &MockVendor, payload: Value) -> (u16, Value) {
    let host = builder(mock).start().await;
    host.send(payload).await
}

fn assert_vendor_error(status: u16, body: &Value, code: &str, http: u16, retryable: bool) {
    let answer = (status, body);
    contract::assert_vendor_error("infobip", &[KEY], answer, code, http, retryable);
}

#[tokio::test]
async fn sms_goes_through_the_v2_advanced_endpoint_by_default() {
    let mock = mock(Scenario::Accept).await;
    let (status, body) = send(&mock, code_sms()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["MessageID"],
        "2250be2d4219-3af1-78856-aabe-000000000001"
    );

    let req = mock.last();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/sms/2/text/advanced")
    );
    assert_eq!(
        req.header("authorization"),
        Some(format!("App {KEY}").as_str())
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({"messages": [{"from": "InfoSMS", "destinations": [{"to": "41793026727"}], "text": "Your code is 123456"}]})
    );
}

#[tokio::test]
async fn sms_goes_through_v3_messages_when_asked() {
    let mock = mock(Scenario::Accept).await;
    let host = builder(&mock)
        .setting("infobip", "sms_api", "v3")
        .start()
        .await;
    let (status, body) = host.send(code_sms()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["MessageID"],
        "2250be2d4219-3af1-78856-aabe-000000000001"
    );

    let req = mock.last();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/sms/3/messages")
    );
    assert_eq!(
        req.header("authorization"),
        Some(format!("App {KEY}").as_str())
    );
    assert_eq!(
        req.json(),
        json!({"messages": [{"sender": "InfoSMS", "destinations": [{"to": "41793026727"}], "content": {"text": "Your code is 123456"}}]})
    );
}

#[tokio::test]
async fn voice_is_a_text_to_speech_call_in_the_users_language() {
    let mock = mock(Scenario::Accept).await;
    let host = builder(&mock)
        .setting("infobip", "voice_from", "+442032864231")
        .start()
        .await;
    let (status, body) = host
        .send(
            json!({"recipient": "+41793026727", "text": "Votre code est 123456",
                     "context": {"message_type": "voice", "language": "fr-CA", "code": "123456",
                                 "action": "second-factor-authentication"}}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["MessageID"],
        "2250be2d4219-3af1-78856-aabe-000000000001"
    );

    let req = mock.last();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/tts/3/single")
    );
    assert_eq!(
        req.header("authorization"),
        Some(format!("App {KEY}").as_str())
    );
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(
        req.json(),
        json!({"text": "Votre code est 1, 2, 3, 4, 5, 6. Votre code est 1, 2, 3, 4, 5, 6",
               "language": "fr", "from": "442032864231", "to": "41793026727"})
    );
}

#[tokio::test]
async fn a_rejected_message_inside_a_200_is_an_error() {
    let mock = mock(Scenario::Rejected).await;
    let (status, body) = send(&mock, code_sms()).await;
    assert_vendor_error(status, &body, "REJECTED_NETWORK", 200, false);
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Network is forbidden"), "{body}");
}

#[tokio::test]
async fn legacy_errors_carry_code_text_and_validation_errors() {
    let mock = mock(Scenario::LegacyError).await;
    let (status, body) = send(&mock, code_sms()).await;
    assert_vendor_error(status, &body, "BAD_REQUEST", 400, false);
    assert_eq!(
        body["error"]["message"],
        "Bad request — messages[0].destinations[0].to: invalid destination address"
    );
}

#[tokio::test]
async fn new_errors_carry_code_description_violations_and_action() {
    let mock = mock(Scenario::NewError).await;
    let host = builder(&mock)
        .setting("infobip", "sms_api", "v3")
        .start()
        .await;
    let (status, body) = host.send(code_sms()).await;
    assert_vendor_error(status, &body, "E400", 400, false);
    assert_eq!(
        body["error"]["message"],
        "Request cannot be processed — messages[0].destinations[0].to: Invalid destination address. \
         Check the syntax, violations and adjust the request."
    );
}

#[tokio::test]
async fn bad_credentials_are_unauthorized() {
    let mock = mock(Scenario::Accept).await;
    let host = builder(&mock)
        .secret("infobip", "INFOBIP_API_KEY", "wrong-key")
        .start()
        .await;
    let (status, body) = host.send(code_sms()).await;
    assert_vendor_error(status, &body, "UNAUTHORIZED", 401, false);
    assert_eq!(body["error"]["message"], "Invalid login details");
    assert!(!body.to_string().contains("wrong-key"), "{body}");
}

#[tokio::test]
async fn a_bad_gateway_page_is_retryable_with_its_status() {
    // Infobip's own 500 and a proxy's 503 page are in the vendor contract.
    let mock = mock(Scenario::BadGateway).await;
    let (status, body) = send(&mock, code_sms()).await;
    assert_vendor_error(status, &body, "502", 502, true);
}

#[tokio::test]
async fn missing_key_or_base_url_is_named() {
    let mock = mock(Scenario::Accept).await;
    let host = Host::builder()
        .plugin("phonehook-plugin-infobip")
        .active("infobip")
        .setting("infobip", "base_url", mock.url())
        .start()
        .await;
    let (status, body) = host.send(code_sms()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "plugin_config", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("INFOBIP_API_KEY"),
        "{body}"
    );

    let host = Host::builder()
        .plugin("phonehook-plugin-infobip")
        .active("infobip")
        .secret("infobip", "INFOBIP_API_KEY", KEY)
        .start()
        .await;
    let (status, body) = host.send(code_sms()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "plugin_config", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("INFOBIP_BASE_URL"),
        "{body}"
    );
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn texts_past_ten_sms_parts_are_refused_before_sending() {
    let mock = mock(Scenario::Accept).await;
    let (status, body) = send(
        &mock,
        sms(&format!("Your code is 123456 {}", "a".repeat(1520))),
    )
    .await;
    assert_eq!(body["error"]["code"], "invalid_message", "{status} {body}");
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn the_mock_refuses_what_infobip_refuses() {
    let mock = mock(Scenario::Accept).await;
    let client = reqwest::Client::new();
    let post = |path: &str, body: Value| {
        client
            .post(format!("{}{path}", mock.url()))
            .header("authorization", format!("App {KEY}"))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
    };
    let resp = post(
        "/sms/2/text/advanced",
        json!({"messages": [{"destinations": [{"to": "+41793026727"}], "text": "x", "body": "y"}]}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    let errors = &body["requestError"]["serviceException"]["validationErrors"];
    assert!(
        errors["messages[0].destinations[0].to"].is_array(),
        "{body}"
    );
    assert!(errors["messages[0].body"].is_array(), "{body}");

    let resp = post(
        "/sms/3/messages",
        json!({"messages": [{"destinations": [{"to": "41793026727"}], "text": "x"}]}),
    )
    .await
    .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["errorCode"], "E400", "{body}");
    let properties: Vec<&str> = body["violations"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|v| v["property"].as_str())
        .collect();
    assert!(
        properties.contains(&"messages[0].content") && properties.contains(&"messages[0].text"),
        "{body}"
    );

    let resp = post("/tts/3/single", json!({"text": "x", "to": "41793026727"}))
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    let body: Value = resp.json().await.unwrap();
    assert!(
        body["requestError"]["serviceException"]["validationErrors"]["from"].is_array(),
        "{body}"
    );

    let resp = client
        .post(format!("{}/sms/2/text/advanced", mock.url()))
        .header("authorization", format!("Basic {KEY}"))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 401);
}
