use super::*;
use crate::auth::Signed;
use phonehook_plugin_api::serde_json::json;
use phonehook_plugin_api::testing::{Harness, Reply};
use phonehook_plugin_api::{encoding, ErrorKind, Message};

/// A well-formed (made-up) base64 API key.
const KEY: &str = "dGVzdC1rZXktZm9yLXBob25laG9vay10ZWxlc2lnbi1wbHVnaW4=";
const CUSTOMER: &str = "FFFFFFFF-EEEE-DDDD-1234-AB1234567890";

fn harness() -> Harness<Telesign> {
    Harness::new()
        .secret(CUSTOMER_ID, CUSTOMER)
        .secret(API_KEY, KEY)
}

fn msg() -> Message {
    Message::new("+14155550100", "Your code is 123456").with_code("123456")
}

fn accepted() -> Reply {
    Reply::json(
        200,
        json!({"reference_id": "0123456789ABCDEF0123456789ABCDEF",
               "status": {"code": 290, "description": "Message in progress",
                          "updated_on": "2024-01-01T00:00:00.000000Z"},
               "additional_info": {"message_parts_count": 1}}),
    )
}

#[test]
fn sms_is_a_signed_form_post_to_messaging() {
    let req = harness().prepare(&msg()).unwrap();
    assert_eq!(req.method.as_str(), "POST");
    assert_eq!(
        req.url.as_str(),
        "https://rest-api.telesign.com/v1/messaging"
    );
    assert_eq!(
        req.header_value("content-type"),
        Some("application/x-www-form-urlencoded")
    );
    assert_eq!(
        req.header_value("date"),
        Some("Mon, 01 Jan 2024 00:00:00 GMT")
    );
    assert_eq!(req.header_value("x-ts-auth-method"), Some("HMAC-SHA256"));
    let nonce = req.header_value("x-ts-nonce").unwrap();
    assert_eq!(nonce.len(), 36);
    assert_eq!(
        encoding::form_decode(&req.body),
        vec![
            ("phone_number".to_owned(), "14155550100".to_owned()),
            ("message".to_owned(), "Your code is 123456".to_owned()),
            ("message_type".to_owned(), "OTP".to_owned()),
        ]
    );
    let expected = Signed {
        method: "POST",
        content_type: "application/x-www-form-urlencoded",
        date: "Mon, 01 Jan 2024 00:00:00 GMT",
        nonce,
        body: &req.body_text(),
        resource: "/v1/messaging",
    }
    .signature(&signing_key(KEY).unwrap());
    assert_eq!(
        req.header_value("authorization"),
        Some(format!("TSA {CUSTOMER}:{expected}").as_str())
    );
}

#[test]
fn a_fresh_nonce_changes_the_signature() {
    let a = harness().prepare(&msg()).unwrap();
    let b = harness().random([9; 32]).prepare(&msg()).unwrap();
    assert_ne!(a.header_value("x-ts-nonce"), b.header_value("x-ts-nonce"));
    assert_ne!(
        a.header_value("authorization"),
        b.header_value("authorization")
    );
}

#[test]
fn basic_auth_sends_the_key_without_signing() {
    let req = harness().setting("auth", "basic").prepare(&msg()).unwrap();
    assert_eq!(
        req.header_value("authorization"),
        Some(encoding::basic_auth(CUSTOMER, KEY).as_str())
    );
    assert_eq!(req.header_value("x-ts-nonce"), None);
}

#[test]
fn hosts_follow_the_settings() {
    let url = |h: Harness<Telesign>| h.prepare(&msg()).unwrap().url.into_string();
    assert_eq!(
        url(harness().setting("enterprise", "true")),
        "https://rest-ww.telesign.com/v1/messaging"
    );
    assert_eq!(
        url(harness().setting("enterprise", "false")),
        "https://rest-api.telesign.com/v1/messaging"
    );
    assert_eq!(
        url(harness()
            .setting("enterprise", "true")
            .setting("base_url", "http://127.0.0.1:9/")),
        "http://127.0.0.1:9/v1/messaging"
    );
}

#[test]
fn voice_posts_to_the_voice_api_with_a_voice() {
    let call = msg().with_channel(Channel::Voice).with_language("en-GB");
    let req = harness().prepare(&call).unwrap();
    assert_eq!(req.url.as_str(), "https://rest-api.telesign.com/v1/voice");
    let form = encoding::form_decode(&req.body);
    assert!(
        form.contains(&("voice".to_owned(), "f-en-GB".to_owned())),
        "{form:?}"
    );
    assert!(form.contains(&(
        "message".to_owned(),
        "Your code is 1, 2, 3, 4, 5, 6".to_owned()
    )));
    let in_progress = Reply::json(
        200,
        json!({"reference_id": "B56A497A94BC4D1EA1C9C2C2C0F0A3E6",
               "status": {"code": 103, "description": "Call in progress"}}),
    );
    let d = harness().run(&call, |_| in_progress.clone()).unwrap();
    assert_eq!(d.message_id.as_str(), "B56A497A94BC4D1EA1C9C2C2C0F0A3E6");
    assert_eq!(d.status.as_str(), "Call in progress");
}

#[test]
fn secrets_are_required_and_check_names_malformed_ones() {
    let manifest = harness().manifest().unwrap();
    let required: Vec<&str> = manifest
        .secrets
        .iter()
        .filter(|f| f.required)
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(required, [CUSTOMER_ID, API_KEY]);
    assert!(
        Harness::<Telesign>::new().check().is_empty(),
        "the host reports required secrets"
    );
    assert!(harness().check().is_empty());
    let bad = Harness::<Telesign>::new()
        .secret(CUSTOMER_ID, "c")
        .secret(API_KEY, "not base64 at all!")
        .setting("auth", "digest")
        .setting("enterprise", "maybe")
        .check();
    assert_eq!(bad.len(), 2, "{bad:?}");
    assert!(bad[0].contains("`auth`") && bad[1].contains("`enterprise`"));
    let bad_key = Harness::<Telesign>::new()
        .secret(CUSTOMER_ID, "c")
        .secret(API_KEY, "%%%")
        .check();
    assert_eq!(bad_key.len(), 1);
    assert!(bad_key[0].contains(API_KEY) && !bad_key[0].contains("%%%"));
    // Basic auth sends the key as it is, so it need not be base64.
    let basic = Harness::<Telesign>::new()
        .secret(CUSTOMER_ID, "c")
        .secret(API_KEY, "%%%")
        .setting("auth", "basic");
    assert!(basic.check().is_empty());
}

#[test]
fn prepare_refuses_to_send_without_secrets() {
    let err = Harness::<Telesign>::new()
        .secret(API_KEY, KEY)
        .prepare(&msg())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.contains(CUSTOMER_ID));
    let err = Harness::<Telesign>::new()
        .secret(CUSTOMER_ID, "c")
        .secret(API_KEY, "%%%")
        .prepare(&msg())
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Config);
    assert!(err.message.contains(API_KEY) && !err.message.contains("%%%"));
}

#[test]
fn message_in_progress_is_delivered() {
    let d = harness().run(&msg(), |_| accepted()).unwrap();
    assert_eq!(d.message_id.as_str(), "0123456789ABCDEF0123456789ABCDEF");
    assert_eq!(d.status.as_str(), "Message in progress");
}

#[test]
fn bad_credentials_report_the_error_code() {
    let reply = Reply::json(
        401,
        json!({"status": {"code": 501, "description": "Not authorized",
                          "updated_on": "2024-01-01T00:00:00.000000Z"},
               "signature_string": "",
               "errors": [{"code": -30006, "description": "Invalid Signature."}]}),
    );
    let err = harness().run(&msg(), |_| reply.clone()).unwrap_err();
    assert_eq!(err.kind, ErrorKind::Vendor);
    assert_eq!(err.code.as_str(), "-30006");
    assert_eq!(err.message.as_str(), "Not authorized: Invalid Signature.");
    assert!(!err.retryable);
}

#[test]
fn status_only_errors_use_the_status_code() {
    let reply = Reply::json(
        400,
        json!({"reference_id": "0123456789ABCDEF0123456789ABCDEF",
               "status": {"code": 11000, "description": "Invalid value for parameter phone_number."}}),
    );
    let err = harness().run(&msg(), |_| reply.clone()).unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.message.as_str()),
        ("11000", "Invalid value for parameter phone_number.")
    );
}

#[test]
fn errors_list_without_status_is_read() {
    let reply = Reply::json(
        400,
        json!({"errors": [{"code": "12000", "description": "Missing Required Parameter phone_number"}]}),
    );
    let err = harness().run(&msg(), |_| reply.clone()).unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.message.as_str()),
        ("12000", "Missing Required Parameter phone_number")
    );
}

#[test]
fn a_2xx_that_is_not_in_progress_is_a_final_refusal() {
    let reply = Reply::json(
        200,
        json!({"reference_id": "0123456789ABCDEF0123456789ABCDEF",
               "status": {"code": 230, "description": "Message blocked by TeleSign"}}),
    );
    let err = harness().run(&msg(), |_| reply.clone()).unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_str(), err.retryable),
        (ErrorKind::Vendor, "230", false)
    );
}

#[test]
fn throttling_and_outages_are_retryable() {
    let err = harness()
        .run(&msg(), |_| {
            Reply::json(
                429,
                json!({"status": {"code": 10019, "description": "Rate limit exceeded"}}),
            )
            .header("Retry-After", "5")
        })
        .unwrap_err();
    assert_eq!(
        (err.code.as_str(), err.retryable, err.retry_after_secs),
        ("10019", true, 5)
    );
    let err = harness()
        .run(&msg(), |_| {
            Reply::json(
                503,
                json!({"status": {"code": 503, "description": "Service Unavailable"}}),
            )
        })
        .unwrap_err();
    assert!(err.retryable);
    let err = harness()
        .run(&msg(), |_| Reply::text(502, "<html>Bad gateway</html>"))
        .unwrap_err();
    assert_eq!(
        (err.kind, err.code.as_str(), err.retryable),
        (ErrorKind::Vendor, "502", true)
    );
}

#[test]
fn unreadable_replies_are_protocol_errors() {
    for reply in [
        Reply::text(200, ""),
        Reply::text(200, "<html>ok</html>"),
        Reply::json(
            200,
            json!({"status": {"code": 290, "description": "Message in progress"}}),
        ),
        Reply::json(200, json!({"reference_id": "", "status": {"code": 290}})),
    ] {
        let err = harness().run(&msg(), |_| reply.clone()).unwrap_err();
        assert_eq!(err.kind, ErrorKind::Protocol, "{reply:?} gave {err}");
    }
}

/// Every reply kept in `fuzz/regressions/` (documented replies, and inputs
/// the fuzzer once broke a plugin with) is still read without a panic.
#[test]
fn kept_fuzz_replies_still_pass() {
    phonehook_plugin_api::testing::fuzz::replay(
        concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../fuzz/regressions/reply_telesign"
        ),
        |basic| {
            if basic {
                harness().setting("auth", "basic")
            } else {
                harness()
            }
        },
    );
}
