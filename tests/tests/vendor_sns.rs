//! The Amazon SNS plugin through a real host, against the loopback SNS mock
//! (which recomputes every SigV4 signature it receives).

use phonehook_e2e::contract;
use phonehook_e2e::mocks::sns::{
    self, Scenario, Sns, ACCESS_KEY_ID, CONTENT_TYPE, SECRET_ACCESS_KEY,
};
use phonehook_e2e::{Host, HostBuilder, MockVendor};
use serde_json::{json, Value};

const TOKEN: &str = "IQoJb3JpZ2luX2VjEXAMPLE//session+token=";

async fn start(state: Sns, scenario: Scenario) -> MockVendor {
    state.set(scenario);
    MockVendor::start(sns::router(state)).await
}

async fn mock(scenario: Scenario) -> MockVendor {
    start(Sns::new(), scenario).await
}

/// A host with the SNS plugin active against `mock`, with the mock's
/// credentials and short vendor timeouts.
fn host(mock: &MockVendor) -> HostBuilder {
    contract::host("sns", &mock.url())
}

fn message(kind: &str) -> Value {
    json!({
        "recipient": "+14155550100",
        "text": "Your code is 123456",
        "context": {"message_type": kind, "language": "en", "code": "123456",
                    "action": "second-factor-authentication"}
    })
}

fn sms() -> Value {
    message("sms")
}

/// Asserts a 502 vendor error from SNS and returns its error object.
fn vendor_error<'a>(
    status: u16,
    body: &'a Value,
    code: &str,
    vendor_status: u16,
    retryable: bool,
) -> &'a Value {
    let answer = (status, body);
    contract::assert_vendor_error(
        "sns",
        &[SECRET_ACCESS_KEY],
        answer,
        code,
        vendor_status,
        retryable,
    )
}

fn pairs(fields: &[(&str, &str)]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn sms_is_published_with_a_valid_signature() {
    let mock = mock(Scenario::Published).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["MessageID"], "94f20ce6-13c5-43a0-9a9e-000000000001",
        "{body}"
    );

    let req = mock.last();
    assert_eq!(
        (req.method.as_str(), req.path.as_str(), req.query.as_str()),
        ("POST", "/", "")
    );
    assert_eq!(req.header("content-type"), Some(CONTENT_TYPE));
    assert_eq!(
        req.form(),
        pairs(&[
            ("Action", "Publish"),
            ("Version", "2010-03-31"),
            ("PhoneNumber", "+14155550100"),
            ("Message", "Your code is 123456"),
            ("MessageAttributes.entry.1.Name", "AWS.SNS.SMS.SMSType"),
            ("MessageAttributes.entry.1.Value.DataType", "String"),
            (
                "MessageAttributes.entry.1.Value.StringValue",
                "Transactional"
            ),
        ])
    );
    let date = req.header("x-amz-date").unwrap();
    assert_eq!(date.len(), 16, "{date}");
    let auth = req.header("authorization").unwrap();
    let prefix = format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY_ID}/{}/us-east-1/sns/aws4_request, \
         SignedHeaders=content-type;host;x-amz-date, Signature=",
        &date[..8]
    );
    assert!(auth.starts_with(&prefix), "{auth}");
    assert_eq!(auth.len(), prefix.len() + 64, "{auth}");
    assert_eq!(req.header("x-amz-security-token"), None);
}

#[tokio::test]
async fn session_token_is_sent_and_signed() {
    let mock = start(Sns::new().with_session_token(TOKEN), Scenario::Published).await;
    let host = host(&mock)
        .secret("sns", "AWS_SESSION_TOKEN", TOKEN)
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 200, "{body}");
    let req = mock.last();
    assert_eq!(req.header("x-amz-security-token"), Some(TOKEN));
    assert!(
        req.header("authorization")
            .unwrap()
            .contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"),
        "{:?}",
        req.header("authorization")
    );
}

#[tokio::test]
async fn region_and_sms_options_come_from_settings() {
    let mock = start(Sns::new().with_region("eu-west-1"), Scenario::Published).await;
    let host = host(&mock)
        .setting("sns", "region", "eu-west-1")
        .setting("sns", "sms_type", "Promotional")
        .setting("sns", "sender_id", "MyBrand")
        .setting("sns", "origination_number", "+18445550100")
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 200, "{body}");
    let req = mock.last();
    assert!(req
        .header("authorization")
        .unwrap()
        .contains("/eu-west-1/sns/aws4_request"));
    let form = req.form();
    assert_eq!(
        &form[4..],
        pairs(&[
            ("MessageAttributes.entry.1.Name", "AWS.SNS.SMS.SMSType"),
            ("MessageAttributes.entry.1.Value.DataType", "String"),
            ("MessageAttributes.entry.1.Value.StringValue", "Promotional"),
            ("MessageAttributes.entry.2.Name", "AWS.SNS.SMS.SenderID"),
            ("MessageAttributes.entry.2.Value.DataType", "String"),
            ("MessageAttributes.entry.2.Value.StringValue", "MyBrand"),
            (
                "MessageAttributes.entry.3.Name",
                "AWS.MM.SMS.OriginationNumber"
            ),
            ("MessageAttributes.entry.3.Value.DataType", "String"),
            (
                "MessageAttributes.entry.3.Value.StringValue",
                "+18445550100"
            ),
        ])
        .as_slice()
    );
}

#[tokio::test]
async fn voice_is_refused_before_any_request() {
    let mock = mock(Scenario::Published).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(message("voice")).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "unsupported", "{body}");
    assert!(mock.requests().is_empty());
}

#[tokio::test]
async fn invalid_parameter_is_a_final_vendor_error() {
    let mock = mock(Scenario::InvalidParameter).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(sms()).await;
    let error = vendor_error(status, &body, "InvalidParameter", 400, false);
    assert_eq!(
        error["message"],
        "Invalid parameter: PhoneNumber Reason: [redacted] is not valid to publish to",
        "the number SNS quotes back is redacted from the answer: {body}"
    );
}

#[tokio::test]
async fn authorization_error_is_a_final_vendor_error() {
    let mock = mock(Scenario::AuthorizationError).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(sms()).await;
    let error = vendor_error(status, &body, "AuthorizationError", 403, false);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .contains("is not authorized to perform: SNS:Publish"),
        "{body}"
    );
}

#[tokio::test]
async fn an_unknown_access_key_is_refused() {
    let mock = mock(Scenario::Published).await;
    let host = host(&mock)
        .secret("sns", "AWS_ACCESS_KEY_ID", "AKIAI44QH8DHBEXAMPLE")
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    let error = vendor_error(status, &body, "InvalidClientTokenId", 403, false);
    assert_eq!(
        error["message"], "The security token included in the request is invalid.",
        "{body}"
    );
}

#[tokio::test]
async fn a_wrong_secret_fails_signature_verification() {
    let mock = mock(Scenario::Published).await;
    let host = host(&mock)
        .secret("sns", "AWS_SECRET_ACCESS_KEY", "not-the-secret-key-0000")
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    let error = vendor_error(status, &body, "SignatureDoesNotMatch", 403, false);
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("The request signature we calculated"),
        "{body}"
    );
    assert!(
        !body.to_string().contains("not-the-secret-key-0000"),
        "{body}"
    );
}

#[tokio::test]
async fn a_missing_session_token_is_refused() {
    let mock = start(Sns::new().with_session_token(TOKEN), Scenario::Published).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(sms()).await;
    vendor_error(status, &body, "InvalidClientTokenId", 403, false);
}

#[tokio::test]
async fn throttling_400_is_retryable() {
    let mock = mock(Scenario::Throttling).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(sms()).await;
    let error = vendor_error(status, &body, "Throttling", 400, true);
    assert_eq!(error["message"], "Rate exceeded", "{body}");
}

/// An empty or non-XML reply is in the vendor contract; a reply without its
/// `MessageId` is SNS's own.
#[tokio::test]
async fn a_reply_without_a_message_id_is_a_protocol_error() {
    let mock = mock(Scenario::NoMessageId).await;
    let host = host(&mock).start().await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 502, "{body}");
    assert_eq!(body["error"]["code"], "vendor_protocol", "{body}");
}

#[tokio::test]
async fn a_missing_secret_is_named_before_any_request() {
    let mock = mock(Scenario::Published).await;
    let host = Host::builder()
        .plugin("phonehook-plugin-sns")
        .active("sns")
        .setting("sns", "base_url", mock.url())
        .secret("sns", "AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
        .start()
        .await;
    let (status, body) = host.send(sms()).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "plugin_config", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("AWS_SECRET_ACCESS_KEY"),
        "{body}"
    );
    assert!(mock.requests().is_empty());
}
