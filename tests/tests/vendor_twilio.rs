//! The Twilio plugin through a real host, against the loopback Twilio mock.

use phonehook_e2e::contract;
use phonehook_e2e::mocks::twilio::{
    self, Scenario, Twilio, ACCOUNT_SID, AUTH_TOKEN, FROM, VERIFY_SID,
};
use phonehook_e2e::{Host, HostBuilder, MockVendor};
use phonehook_plugin_api::encoding;
use serde_json::{json, Value};

const MESSAGES_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Messages.json";
const CALLS_PATH: &str = "/2010-04-01/Accounts/AC0123456789abcdef0123456789abcdef/Calls.json";
const VERIFY_PATH: &str = "/v2/Services/VA0123456789abcdef0123456789abcdef/Verifications";

async fn mock(scenario: Scenario) -> MockVendor {
    let state = Twilio::new();
    state.set(scenario);
    MockVendor::start(twilio::router(state)).await
}

/// A host with the Twilio plugin active against `mock`, fully configured for
/// the messaging API, with short vendor timeouts.
fn host(mock: &MockVendor) -> HostBuilder {
    contract::host("twilio", &mock.url())
}

fn sms() -> Value {
    json!({
        "recipient": "+14155550100",
        "text": "Your code is 123456",
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

fn basic() -> String {
    encoding::basic_auth(ACCOUNT_SID, AUTH_TOKEN)
}

/// Asserts a 502 vendor error and returns its error object.
fn vendor_error(status: u16, body: &Value) -> &Value {
    assert_eq!(status, 502, "{body}");
    let error = &body["error"];
    assert_eq!(error["code"], "vendor_error", "{body}");
    assert_eq!(error["plugin"], "twilio", "{body}");
    error
}

#[tokio::test]
async fn sms_is_sent_through_programmable_messaging() {
    let mock = mock(Scenario::Created).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 200, "{body}");
    let id = body["MessageID"].as_str().unwrap();
    assert!(id.starts_with("SM") && id.len() == 34, "{body}");

    let req = mock.last();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", MESSAGES_PATH)
    );
    assert_eq!(req.header("authorization"), Some(basic().as_str()));
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let fields: Vec<(String, String)> = [
        ("To", "+14155550100"),
        ("From", FROM),
        ("Body", "Your code is 123456"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(req.form(), fields);
}

#[tokio::test]
async fn a_messaging_service_replaces_the_from_number() {
    let mock = mock(Scenario::Created).await;
    let service = "MG0123456789abcdef0123456789abcdef";
    let host = host(&mock)
        .secret("twilio", "TWILIO_MESSAGING_SERVICE_SID", service)
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 200, "{body}");
    let req = mock.last();
    assert_eq!(
        req.form_field("MessagingServiceSid").as_deref(),
        Some(service)
    );
    assert_eq!(req.form_field("From"), None);
}

#[tokio::test]
async fn an_api_key_logs_in_instead_of_the_auth_token() {
    let key = "SK0123456789abcdef0123456789abcdef";
    let state = Twilio::new().with_api_key(key, "api-key-secret");
    let mock = MockVendor::start(twilio::router(state)).await;
    let host = Host::builder()
        .plugin("phonehook-plugin-twilio")
        .active("twilio")
        .setting("twilio", "base_url", mock.url())
        .setting("twilio", "from", FROM)
        .secret("twilio", "TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .secret("twilio", "TWILIO_API_KEY", key)
        .secret("twilio", "TWILIO_API_SECRET", "api-key-secret")
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 200, "{body}");
    let req = mock.last();
    assert_eq!(req.path, MESSAGES_PATH);
    assert_eq!(
        req.header("authorization"),
        Some(encoding::basic_auth(key, "api-key-secret").as_str())
    );
}

#[tokio::test]
async fn voice_places_a_call_that_reads_the_code_twice() {
    let mock = mock(Scenario::Created).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(voice("fr")).await;
    assert_eq!(status, 200, "{body}");
    let id = body["MessageID"].as_str().unwrap();
    assert!(id.starts_with("CA"), "{body}");

    let req = mock.last();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", CALLS_PATH)
    );
    assert_eq!(req.header("authorization"), Some(basic().as_str()));
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(req.form_field("To").as_deref(), Some("+14155550100"));
    assert_eq!(req.form_field("From").as_deref(), Some(FROM));
    let twiml = req.form_field("Twiml").unwrap();
    let say = r#"<Say language="fr-FR">Votre code est 4, 8, 2, 9, 1, 5</Say>"#;
    assert_eq!(
        twiml,
        format!(r#"<Response>{say}<Pause length="1"/>{say}</Response>"#)
    );
    assert_eq!(twiml.matches("4, 8, 2, 9, 1, 5").count(), 2);
}

#[tokio::test]
async fn voice_falls_back_to_us_english_and_escapes_the_text() {
    let mock = mock(Scenario::Created).await;
    let host = host(&mock).start().await;
    let payload = json!({
        "recipient": "+14155550100",
        "text": "Code <7731> & more",
        "context": {"message_type": "voice", "language": "tlh"}
    });
    let (status, body) = host.send(payload).await;
    assert_eq!(status, 200, "{body}");
    let twiml = mock.last().form_field("Twiml").unwrap();
    assert!(
        twiml.contains(r#"<Say language="en-US">Code &lt;7, 7, 3, 1&gt; &amp; more</Say>"#),
        "{twiml}"
    );
}

#[tokio::test]
async fn verify_sends_the_custom_code() {
    let mock = mock(Scenario::Created).await;
    let host = host(&mock)
        .setting("twilio", "api", "verify")
        .secret("twilio", "TWILIO_VERIFY_SID", VERIFY_SID)
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        body["MessageID"].as_str().unwrap().starts_with("VE"),
        "{body}"
    );
    let req = mock.last();
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", VERIFY_PATH)
    );
    assert_eq!(req.header("authorization"), Some(basic().as_str()));
    assert_eq!(
        req.header("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    let fields: Vec<(String, String)> = [
        ("To", "+14155550100"),
        ("Channel", "sms"),
        ("CustomCode", "123456"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(req.form(), fields);

    let (status, body) = host.send(voice("fr")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(mock.last().form_field("Channel").as_deref(), Some("call"));
}

#[tokio::test]
async fn verify_refuses_a_message_without_a_code() {
    let mock = mock(Scenario::Created).await;
    let host = host(&mock)
        .setting("twilio", "api", "verify")
        .secret("twilio", "TWILIO_VERIFY_SID", VERIFY_SID)
        .start()
        .await;
    let (status, body) = host
        .send(
            json!({"recipient": "+14155550100", "text": "Your code is 123456",
                     "context": {"message_type": "sms"}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_message", "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("code"),
        "{body}"
    );
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn an_invalid_number_is_twilios_21211() {
    let mock = mock(Scenario::InvalidNumber).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(sms()).await;
    let error = vendor_error(status, &body);
    assert_eq!(error["vendor_code"], "21211", "{body}");
    assert_eq!(error["vendor_status"], 400, "{body}");
    assert_eq!(error["retryable"], false, "{body}");
    assert_eq!(
        error["message"],
        "The 'To' number [redacted] is not a valid phone number. (more info: https://www.twilio.com/docs/errors/21211)",
        "the number Twilio quotes back is redacted from the answer"
    );
}

#[tokio::test]
async fn an_unsubscribed_recipient_is_twilios_21610() {
    let mock = mock(Scenario::Unsubscribed).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(sms()).await;
    let error = vendor_error(status, &body);
    assert_eq!(error["vendor_code"], "21610", "{body}");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("Attempt to send to unsubscribed recipient"),
        "{body}"
    );
}

#[tokio::test]
async fn bad_credentials_are_twilios_20003() {
    let mock = mock(Scenario::Created).await;
    let host = host(&mock)
        .secret("twilio", "TWILIO_AUTH_TOKEN", "wrong-token-0000")
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    let error = vendor_error(status, &body);
    assert_eq!(error["vendor_code"], "20003", "{body}");
    assert_eq!(error["vendor_status"], 401, "{body}");
    assert_eq!(error["retryable"], false, "{body}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("Authenticate: Your AccountSid or AuthToken was incorrect."),
        "{body}"
    );
    assert!(
        message.contains("https://www.twilio.com/docs/errors/20003"),
        "{body}"
    );
    assert!(!body.to_string().contains("wrong-token-0000"), "{body}");
}

/// Twilio quotes the request path, account SID included, in a 404; the plugin
/// passes the text on and the host strips the secret from it.
#[tokio::test]
async fn an_account_sid_echoed_by_twilio_is_redacted_by_the_host() {
    let mock = mock(Scenario::Created).await;
    let host = host(&mock)
        .setting("twilio", "base_url", format!("{}/moved", mock.url()))
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    let error = vendor_error(status, &body);
    assert_eq!(error["vendor_code"], "20404", "{body}");
    let message = error["message"].as_str().unwrap();
    assert!(
        message.starts_with("The requested resource /moved/2010-04-01/Accounts/[redacted]/"),
        "{body}"
    );
    assert!(!body.to_string().contains(ACCOUNT_SID), "{body}");
}

/// An empty or non-JSON reply is in the vendor contract; a resource without
/// its `sid` is Twilio's own.
#[tokio::test]
async fn a_created_resource_without_a_sid_is_a_protocol_error() {
    let mock = mock(Scenario::NoSid).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "vendor_protocol", "{body}");
}

#[tokio::test]
async fn missing_credentials_are_named_before_any_request() {
    let mock = mock(Scenario::Created).await;
    let host = Host::builder()
        .plugin("phonehook-plugin-twilio")
        .active("twilio")
        .setting("twilio", "base_url", mock.url())
        .secret("twilio", "TWILIO_ACCOUNT_SID", ACCOUNT_SID)
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "plugin_config", "{body}");
    let text = body.to_string();
    assert!(text.contains("TWILIO_AUTH_TOKEN"), "{body}");
    assert!(text.contains("TWILIO_PHONE_NUMBER"), "{body}");
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn a_text_over_1600_characters_is_refused_before_sending() {
    let mock = mock(Scenario::Created).await;
    let host = host(&mock)
        .config("limits.max_text_chars", 5000)
        .start()
        .await;
    let (status, body) = host
        .send(
            json!({"recipient": "+14155550100", "text": "a".repeat(1601),
                     "context": {"message_type": "sms"}}),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_message", "{body}");
    assert!(mock.requests().is_empty());
}
