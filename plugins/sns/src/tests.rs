use phonehook_plugin_api::testing::{Harness, Reply};
use phonehook_plugin_api::{encoding, Channel, ErrorKind, HttpRequest, Message, Step};

use super::*;

const AKID: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const TOKEN: &str = "FwoGZXIvYXdzEXAMPLEtoken//abc+def=";

fn harness() -> Harness<Sns> {
    Harness::<Sns>::new()
        .secret("AWS_ACCESS_KEY_ID", AKID)
        .secret("AWS_SECRET_ACCESS_KEY", SECRET)
}

fn msg() -> Message {
    Message::new("+14155550100", "Your code is 123456")
}

fn xml(status: u16, body: &str) -> Reply {
    Reply::text(status, body).header("content-type", "text/xml")
}

fn error_xml(kind: &str, code: &str, message: &str) -> String {
    format!(
        r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
  <Error>
    <Type>{kind}</Type>
    <Code>{code}</Code>
    <Message>{message}</Message>
  </Error>
  <RequestId>8c4c8aa7-436b-5b46-91d5-c0a339158557</RequestId>
</ErrorResponse>"#
    )
}

const PUBLISHED: &str = r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">
  <PublishResult>
    <MessageId>94f20ce6-13c5-43a0-9a9e-ca52d816e90b</MessageId>
  </PublishResult>
  <ResponseMetadata>
    <RequestId>f187a3c1-376f-11df-8963-01868b7c937a</RequestId>
  </ResponseMetadata>
</PublishResponse>"#;

fn field(req: &HttpRequest, name: &str) -> Option<String> {
    encoding::form_decode(&req.body)
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}

/// Verifies `req` the way SNS does: rebuilds the canonical request from the
/// headers the `Authorization` header names (`Host` from the URL, as the
/// HTTP client sends it) and compares signatures.
fn verify(req: &HttpRequest, secret: &str) -> sigv4::Authorization {
    let auth = sigv4::Authorization::parse(req.header_value("authorization").unwrap()).unwrap();
    let parts = sigv4::url_parts(req.url.as_str()).unwrap();
    let headers: Vec<(&str, &str)> = auth
        .signed_headers
        .iter()
        .map(|name| {
            let value = if name == "host" {
                parts.host.as_str()
            } else {
                req.header_value(name).unwrap()
            };
            (name.as_str(), value)
        })
        .collect();
    let request = sigv4::Request {
        method: "POST",
        path: &parts.path,
        query: &parts.query,
        headers: &headers,
        payload: &req.body,
    };
    let creds = sigv4::Credentials {
        access_key_id: &auth.access_key_id,
        secret_access_key: secret,
    };
    let amz_date = req.header_value("x-amz-date").unwrap();
    let signed = sigv4::sign(
        &request,
        &creds,
        amz_date,
        &auth.scope.region,
        &auth.scope.service,
    );
    assert_eq!(signed.signature, auth.signature, "signature mismatch");
    auth
}

#[test]
fn manifest_lists_sms_only_and_aws_hosts() {
    let m = harness().manifest().unwrap();
    assert_eq!(m.name.as_str(), "sns");
    assert_eq!(m.channels.as_slice(), [Channel::Sms]);
    assert!(m.hosts.iter().any(|h| h.as_str() == "*.amazonaws.com"));
    let required: Vec<&str> = m
        .secrets
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(required, ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
}

#[test]
fn publishes_a_signed_form_to_the_regional_endpoint() {
    let req = harness().prepare(&msg()).unwrap();
    assert_eq!(req.url.as_str(), "https://sns.us-east-1.amazonaws.com/");
    assert_eq!(req.method.as_str(), "POST");
    assert_eq!(
        req.header_value("content-type"),
        Some("application/x-www-form-urlencoded; charset=utf-8")
    );
    assert_eq!(req.header_value("x-amz-date"), Some("20240101T000000Z"));
    assert_eq!(req.header_value("host"), None);
    assert_eq!(req.header_value("x-amz-security-token"), None);
    assert_eq!(
        encoding::form_decode(&req.body),
        [
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
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    let auth = verify(&req, SECRET);
    assert_eq!(auth.access_key_id, AKID);
    assert_eq!(
        auth.scope,
        sigv4::Scope::new("20240101T000000Z", "us-east-1", "sns")
    );
    assert_eq!(auth.signed_headers, ["content-type", "host", "x-amz-date"]);
}

/// The same request signed by botocore 1.43.11 (`SigV4Auth(creds, "sns",
/// "us-east-1")` over an `AWSRequest` with this body and content type, the clock
/// at 2024-01-01T00:00:00Z, with and without a session token): an independent
/// implementation agrees byte for byte.
#[test]
fn signature_matches_botocore() {
    let req = harness().prepare(&msg()).unwrap();
    assert_eq!(
        req.body_text(),
        "Action=Publish&Version=2010-03-31&PhoneNumber=%2B14155550100&Message=Your+code+is+123456\
         &MessageAttributes.entry.1.Name=AWS.SNS.SMS.SMSType\
         &MessageAttributes.entry.1.Value.DataType=String\
         &MessageAttributes.entry.1.Value.StringValue=Transactional"
    );
    assert_eq!(
        req.header_value("authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/sns/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=e4f438d88f6dd8dcb6da267215cdadf9cc59ede1ca0b9b69435b527ae4adceba"
        )
    );
    let req = harness()
        .secret("AWS_SESSION_TOKEN", TOKEN)
        .prepare(&msg())
        .unwrap();
    assert_eq!(
        req.header_value("authorization"),
        Some(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/sns/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, \
             Signature=84e6911f2fde338fa19e1fa40f87a40be8a315dcca94027898343671c4be1068"
        )
    );
}

#[test]
fn session_token_is_sent_and_signed() {
    let req = harness()
        .secret("AWS_SESSION_TOKEN", TOKEN)
        .prepare(&msg())
        .unwrap();
    assert_eq!(req.header_value("x-amz-security-token"), Some(TOKEN));
    let auth = verify(&req, SECRET);
    assert_eq!(
        auth.signed_headers,
        ["content-type", "host", "x-amz-date", "x-amz-security-token"]
    );
}

#[test]
fn region_and_base_url_settings() {
    let req = harness()
        .setting("region", "eu-west-1")
        .prepare(&msg())
        .unwrap();
    assert_eq!(req.url.as_str(), "https://sns.eu-west-1.amazonaws.com/");
    assert_eq!(verify(&req, SECRET).scope.region, "eu-west-1");

    let req = harness()
        .setting("region", "cn-north-1")
        .prepare(&msg())
        .unwrap();
    assert_eq!(req.url.as_str(), "https://sns.cn-north-1.amazonaws.com.cn/");

    let req = harness()
        .setting("base_url", "http://127.0.0.1:4566/")
        .prepare(&msg())
        .unwrap();
    assert_eq!(req.url.as_str(), "http://127.0.0.1:4566/");
    verify(&req, SECRET);
}

#[test]
fn a_wrong_secret_does_not_verify() {
    let req = harness().prepare(&msg()).unwrap();
    let result = std::panic::catch_unwind(|| verify(&req, "another-secret"));
    assert!(result.is_err());
}

#[test]
fn sms_options_come_from_settings() {
    let req = harness()
        .setting("sms_type", "Promotional")
        .setting("sender_id", "MyBrand")
        .setting("origination_number", "+18445550100")
        .prepare(&msg())
        .unwrap();
    assert_eq!(
        field(&req, "MessageAttributes.entry.1.Value.StringValue").as_deref(),
        Some("Promotional")
    );
    assert_eq!(
        field(&req, "MessageAttributes.entry.2.Name").as_deref(),
        Some("AWS.SNS.SMS.SenderID")
    );
    assert_eq!(
        field(&req, "MessageAttributes.entry.2.Value.StringValue").as_deref(),
        Some("MyBrand")
    );
    assert_eq!(
        field(&req, "MessageAttributes.entry.3.Name").as_deref(),
        Some("AWS.MM.SMS.OriginationNumber")
    );
    verify(&req, SECRET);
}

#[test]
fn voice_is_unsupported() {
    let err = harness()
        .prepare(&msg().with_channel(Channel::Voice))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Unsupported);
}

#[test]
fn missing_secrets_and_bad_settings_are_config_errors() {
    let err = Harness::<Sns>::new()
        .secret("AWS_ACCESS_KEY_ID", AKID)
        .prepare(&msg())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.contains("AWS_SECRET_ACCESS_KEY"), "{err}");

    let err = harness()
        .setting("region", "us-east-1.evil.com/")
        .prepare(&msg())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);

    let h = harness()
        .setting("region", "US EAST")
        .setting("sms_type", "urgent")
        .setting("base_url", "ftp://x");
    let problems = h.check();
    assert_eq!(problems.len(), 3, "{problems:?}");
    assert!(problems.iter().any(|p| p.contains("`region`")));
    assert!(problems.iter().any(|p| p.contains("`sms_type`")));
    assert!(problems.iter().any(|p| p.contains("`base_url`")));
    assert!(harness().check().is_empty());
}

#[test]
fn texts_over_the_publish_cap_are_refused() {
    let err = harness()
        .prepare(&Message::new("+14155550100", &"a".repeat(1601)))
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::InvalidMessage);
    assert!(harness()
        .prepare(&Message::new("+14155550100", &"a".repeat(1600)))
        .is_ok());
}

#[test]
fn message_id_comes_from_the_publish_result() {
    let d = harness().run(&msg(), |_| xml(200, PUBLISHED)).unwrap();
    assert_eq!(
        d.message_id.as_str(),
        "94f20ce6-13c5-43a0-9a9e-ca52d816e90b"
    );
}

#[test]
fn modeled_errors_are_vendor_errors() {
    let cases = [
        (
            400,
            "Sender",
            "InvalidParameter",
            "Invalid parameter: PhoneNumber",
            false,
        ),
        (
            400,
            "Sender",
            "ParameterValueInvalid",
            "Invalid parameter: SenderID",
            false,
        ),
        (
            403,
            "Sender",
            "AuthorizationError",
            "User is not authorized to perform: SNS:Publish",
            false,
        ),
        (
            403,
            "Sender",
            "InvalidClientTokenId",
            "The security token included in the request is invalid.",
            false,
        ),
        (400, "Sender", "Throttling", "Rate exceeded", true),
        (400, "Sender", "KMSThrottling", "KMS throttled", true),
        (500, "Receiver", "InternalError", "Internal error", true),
    ];
    for (status, kind, code, text, retryable) in cases {
        let err = harness()
            .run(&msg(), |_| xml(status, &error_xml(kind, code, text)))
            .unwrap_err();
        assert_eq!(
            (
                err.kind,
                err.code.as_str(),
                err.message.as_str(),
                err.retryable
            ),
            (ErrorKind::Vendor, code, text, retryable),
            "{code}"
        );
    }
}

#[test]
fn throttled_429_carries_retry_after() {
    let err = harness()
        .run(&msg(), |_| {
            xml(429, &error_xml("Sender", "Throttled", "Too many requests"))
                .header("Retry-After", "7")
        })
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.retryable, err.retry_after_secs),
        ("Throttled", true, 7)
    );
}

#[test]
fn secrets_quoted_by_aws_are_scrubbed() {
    let text = format!(
        "The Canonical String for this request should have been 'x-amz-security-token:{TOKEN}'"
    );
    let h = harness().secret("AWS_SESSION_TOKEN", TOKEN);
    let err = h
        .run(&msg(), |_| {
            xml(
                403,
                &error_xml(
                    "Sender",
                    "SignatureDoesNotMatch",
                    &encoding::xml_escape(&text),
                ),
            )
        })
        .unwrap_err();
    assert_eq!(err.code.as_str(), "SignatureDoesNotMatch");
    assert!(!err.message.contains(TOKEN), "{err}");
    assert!(err.message.contains("[redacted]"), "{err}");
}

#[test]
fn unreadable_replies_are_protocol_errors() {
    for body in [
        "",
        "   ",
        "<html>oops</html>",
        "not xml at all",
        "<PublishResponse><PublishResult><MessageId></MessageId></PublishResult></PublishResponse>",
    ] {
        let err = harness().run(&msg(), |_| xml(200, body)).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol, "{body:?}: {err}");
    }
    let step = harness().interpret(
        &msg(),
        &harness().prepare(&msg()).unwrap(),
        &Reply {
            status: 200,
            headers: Vec::new(),
            body: vec![0xff, 0xfe],
        },
    );
    assert!(matches!(step, Step::Failed(e) if e.kind == ErrorKind::Protocol));
}

#[test]
fn error_statuses_without_sns_xml_are_vendor_errors_by_status() {
    let err = harness()
        .run(&msg(), |_| {
            Reply::text(503, "<html>Service Unavailable</html>")
        })
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_str(), err.retryable),
        (ErrorKind::Vendor, "503", true)
    );
    let err = harness()
        .run(&msg(), |_| Reply::text(429, "").header("Retry-After", "2"))
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.retryable, err.retry_after_secs),
        ("429", true, 2)
    );
    let err = harness()
        .run(&msg(), |_| Reply::text(400, "{}"))
        .unwrap_err();
    assert_eq!((err.code.as_str(), err.retryable), ("400", false));
}

/// Every reply kept in `fuzz/regressions/` (documented replies, and inputs
/// the fuzzer once broke a plugin with) is still read without a panic.
#[test]
fn kept_fuzz_replies_still_pass() {
    phonehook_plugin_api::testing::fuzz::replay(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/regressions/reply_sns"
        ),
        |_| harness(),
    );
}
